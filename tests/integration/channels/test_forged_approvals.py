"""Only the gatekeeper can make a contact happen: approvals written straight to a dispatch topic with a valid
shape, but unsigned, signed with another key, altered after signing, or signed for another topic, reach no
provider; each is dead-lettered ``bad_signature``, and the signed approval behind them is sent."""

from __future__ import annotations

from pydantic import SecretStr

from schemas import events as ev
from schemas.topics import DEADLETTER, DISPATCH, OUTCOMES
from schemas.vocab import Channel
from services.core import codec, signing
from services.core.settings import CommonSettings
from tests.channels_support import START, Providers, approval, phone
from tests.integration.channels.conftest import Workers
from tests.support import SIGNER, Tail, produce, signed

SMS = DISPATCH[Channel.SMS]


def encoded(request_id: str, to: str) -> codec.Encoded:
    return codec.encode(approval("d-forge", request_id, to), source="/collections/gatekeeper", time=START)


async def test_forged_approvals_reach_no_provider_and_are_dead_lettered(
    settings: CommonSettings, providers: Providers, workers: Workers
) -> None:
    app, _ = await workers.start(Channel.SMS)
    unsigned = encoded("r-unsigned", phone(71))
    stranger = signing.ApprovalSigner(SecretStr(signing.generate()[0]))
    other_key = encoded("r-other-key", phone(72))
    tampered = encoded("r-tampered", phone(73))
    elsewhere = encoded("r-elsewhere", phone(74))
    good = encoded("r-signed", phone(75))
    _, key, value, headers = signed(settings, SMS, tampered)
    records = [
        (SMS, unsigned.key, unsigned.value, unsigned.headers),
        (
            SMS,
            other_key.key,
            other_key.value,
            [
                *other_key.headers,
                *stranger.sign(settings.topic(SMS), other_key.key, other_key.headers, other_key.value),
            ],
        ),
        # Signed, then the destination changed: the signature no longer matches the bytes.
        (SMS, key, value.replace(phone(73).encode(), phone(79).encode()), headers),
        # Signed for the email dispatch topic, written to the SMS one.
        (
            SMS,
            elsewhere.key,
            elsewhere.value,
            [
                *elsewhere.headers,
                *SIGNER.sign(
                    settings.topic(DISPATCH[Channel.EMAIL]), elsewhere.key, elsewhere.headers, elsewhere.value
                ),
            ],
        ),
        signed(settings, SMS, good),
    ]
    await produce(settings, records)
    async with Tail(settings, DEADLETTER, OUTCOMES) as tail:
        await tail.wait_for(
            lambda: (
                len(tail.of(ev.DeadLetter)) >= 4
                and any(o.request_id == "r-signed" for o in tail.of(ev.ContactOutcome))
            )
        )
        await tail.settle()
        letters = tail.of(ev.DeadLetter)
        assert sorted(letter.reason for letter in letters) == ["bad_signature"] * 4
        assert {letter.consumer for letter in letters} == {"channels-sms"}
        assert {o.request_id for o in tail.of(ev.ContactOutcome)} == {"r-signed"}
    assert [m["request_id"] for m in await providers.messages()] == ["r-signed"]
    # Never claimed: a forged approval leaves no trace in the send ledger.
    assert app.worker.ledger is not None
    assert all(app.worker.ledger.get(p, "r-unsigned") is None for p in range(4))
    assert (
        app.registry.get_sample_value(
            "collections_deadletters_total", {"service": "channels-sms", "reason": "bad_signature"}
        )
        == 4
    )
