"""Fineract's Kafka records at the edge: the runtime's decoder for the Fineract topic.

Fineract's records carry no CloudEvents headers. The decoder reads the key (an 8-byte long) and the
``MessageV1`` envelope once, and hands the stage a ``FineractRecord``: the envelope read, its payload still
encoded (the translation reads it), and the record's bytes and position, which a held record keeps. The
envelope's ``idempotencyKey`` is the ``ce_id`` the runtime dedupes by, ``createdAt`` its time. A record
that cannot be read this far is a dead letter with the decoding error's reason.

Records are keyed by the aggregate they are about, so the state they apply to is the aggregate's:
``loan:<id>`` for loan records and COB bulks, ``client:<id>`` for client records (which need no state),
``other:<id>`` for the rest (ignored).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.core import codec
from services.core.runtime.transport import Record

from . import avro
from .avro import FineractDecodeError
from .model import Message
from .translate import decode_message

Aggregate = Literal["loan", "client", "other"]
_LOAN_SCHEMAS = f"{avro.LOAN_ACCOUNT.rsplit('.', 1)[0]}."  # org.apache.fineract.avro.loan.v1.


class FineractRecord(BaseModel):
    """One record of the Fineract topic, its envelope read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str  # physical
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    aggregate_id: int | None  # what the key says: the loan's or client's id; None for Fineract's -1
    message: Message

    @property
    def aggregate(self) -> Aggregate:
        schema = self.message.dataschema
        if schema == avro.CLIENT:
            return "client"
        if schema == avro.BULK or schema.startswith(_LOAN_SCHEMAS):
            return "loan"
        return "other"

    @property
    def state_key(self) -> str:
        return f"{self.aggregate}:{-1 if self.aggregate_id is None else self.aggregate_id}"


def decode_record(record: Record) -> codec.Envelope[BaseModel]:
    """The runtime's decoder for the Fineract topic; raises ``codec.DecodeError`` with the reason."""
    try:
        if record.value is None:
            raise FineractDecodeError("truncated", "record has no value")
        aggregate_id = avro.record_key(record.key)
        message = decode_message(record.value)
    except FineractDecodeError as exc:
        raise codec.DecodeError(exc.reason, exc.message) from exc
    event = FineractRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        aggregate_id=aggregate_id,
        message=message,
    )
    return codec.Envelope(
        id=message.idempotency_key,
        source=f"/fineract/{message.tenant_id}",
        type=message.type,
        time=message.created_at,
        subject=event.state_key,
        event=event,
    )


def state_key(envelope: codec.Envelope[BaseModel]) -> str:
    """The stage's key: the state a record applies to."""
    record = envelope.event
    assert isinstance(record, FineractRecord)  # the only decoder of the adapter's one input topic
    return record.state_key
