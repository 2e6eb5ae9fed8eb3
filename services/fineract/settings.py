"""Fineract adapter settings (environment variables ``FINERACT_ADAPTER_*``), read once at start-up.

Fineract knows no consents, time zones, languages or jurisdictions, so the profile defaults of the one
tenant the adapter serves live here; with none set, a profile carries only what Fineract sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.events import Language
from schemas.values import TimeZoneName
from schemas.vocab import Channel

Jurisdiction = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]


class FineractSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINERACT_ADAPTER_", frozen=True, extra="ignore")

    topic: str = "external-events"  # Fineract's default (fineract.events.external.producer.kafka.topic.name)
    # Fineract's tenant identifier (MessageV1.tenantId); records of other tenants are counted and skipped.
    tenant: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-]{1,64}$")] = "default"
    # Debtor id "<tenant>:<client id>" and account id "<tenant>:<loan id>" instead of the bare ids, for a
    # platform that serves several tenants (or Fineract beside another core banking system).
    prefix_ids_with_tenant: bool = False
    jurisdictions: Annotated[list[Jurisdiction], NoDecode] = []
    timezone: TimeZoneName | None = None
    language: Language | None = None
    # Fineract stores mobile numbers as typed; those without a country code are read in this region.
    phone_region: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    # Consents recorded on the contact points of every profile, only where the bank has them on file.
    phone_consents: Annotated[list[Channel], NoDecode] = []
    email_consents: Annotated[list[Channel], NoDecode] = []
    # How long an event about a loan the adapter has not learned yet is held before it is dead-lettered.
    hold_seconds: Annotated[int, Field(gt=0)] = 3600

    @field_validator("jurisdictions", "phone_consents", "email_consents", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        # "sms,sms" means sms: a contact point refuses a channel listed twice.
        return list(dict.fromkeys(value)) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _consents_fit_their_contact_point(self) -> FineractSettings:
        if Channel.EMAIL in self.phone_consents:
            raise ValueError("phone_consents can hold sms and voice only")
        if set(self.email_consents) - {Channel.EMAIL}:
            raise ValueError("email_consents can hold email only")
        return self

    def debtor_id(self, client_id: int) -> str:
        return self._id(client_id)

    def account_id(self, loan_id: int) -> str:
        return self._id(loan_id)

    def _id(self, number: int) -> str:
        return f"{self.tenant}:{number}" if self.prefix_ids_with_tenant else str(number)
