"""The channel worker's loop: consume approvals from the channel's dispatch topic, send each at most once,
publish its outcome, commit.

Per batch: decode; per request (up to ``max_in_flight`` at once) look it up in the send ledger, then
claim → provider call → ledger result → outcome; then wait for every outcome, and commit the offsets. A
claim is acknowledged before the provider is called, a ledger result before its outcome is published, and
an offset only after all of them: at every crash point the ledger says either "finished" (publish its
outcome again: the same id, applied once downstream) or "claimed" (look the send up with the provider
before anything else). Never both a finished request's outcome and a second one from a new owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from pydantic import BaseModel

from schemas import events as ev
from schemas import ids
from schemas.topics import CONSENT, DISPATCH, OUTCOMES, SENDER_LEDGER
from schemas.vocab import DeadLetterReason, FailureKind, OutcomeStatus
from services.channels.drivers import CannotReconcile, Driver, Rendered
from services.channels.errors import (
    AuthenticationError,
    PermanentSendError,
    SendError,
    TransientSendError,
    UncertainSendError,
)
from services.channels.ledger import LedgerEntry, LedgerState, lease_until
from services.channels.ledger_store import SendLedger
from services.channels.metrics import ChannelMetrics
from services.channels.outcomes import SendResult, outcome, provider_opt_out
from services.channels.pacing import Backoff, RateLimiter
from services.channels.settings import ChannelsSettings
from services.core.clock import Clock
from services.core.masking import mask_address
from services.core.runtime.loop import Inbound, Runtime
from services.core.settings import ConfigError
from services.core.signing import ApprovalVerifier, SignatureError
from services.messaging.templates import RenderError

log = logging.getLogger(__name__)

# How often finished ledger entries past their retention are dropped from memory and the topic.
PRUNE_INTERVAL_SECONDS = 3600.0
# Sends a sweep asks about at once (each still waits for one of the worker's in-flight slots).
SWEEP_CHUNK = 200


class _Abandoned(Exception):
    """The worker is stopping: this request is left for the next owner (its offset is not committed)."""


@dataclass(frozen=True, slots=True)
class Job:
    approval: ev.ContactApproved
    partition: int
    offset: int


class ChannelWorker:
    """One channel's worker: a stage of the runtime around the send ledger. The runtime's ``stop`` (SIGTERM)
    drains the sends in flight."""

    def __init__(
        self,
        driver: Driver,
        channel_settings: ChannelsSettings,
        clock: Clock,
        metrics: ChannelMetrics,
        backoff: Backoff | None = None,
    ) -> None:
        self.driver = driver
        self.channel = driver.channel
        self.config = channel_settings
        self.clock = clock
        self.metrics = metrics
        # At zero from the start: increase() only sees a refusal as a step up from a value already scraped.
        self.metrics.auth_failures.labels(self.channel.value)
        self.service = f"channels-{self.channel.value}"
        self.input_topics: tuple[str, ...] = (DISPATCH[self.channel],)
        # A batch may legitimately hold the loop for a request's whole budget (retries, lookups): only a
        # loop stuck well beyond that is unhealthy.
        self.stuck_after = channel_settings.request_budget_seconds + 120
        self.backoff = backoff or Backoff(
            channel_settings.backoff_initial_seconds, channel_settings.backoff_max_seconds
        )
        self.limiter = RateLimiter(channel_settings.rate_per_second, channel_settings.rate_burst)
        self._slots = asyncio.Semaphore(channel_settings.max_in_flight)
        self._lookups: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._next_prune = time.monotonic() + PRUNE_INTERVAL_SECONDS
        # A batch is committed only when all of it is done, and must be within the consumer's poll interval:
        # never take more than about a minute of sending at the configured rate.
        self.max_records = max(1, min(channel_settings.max_batch, int(channel_settings.rate_per_second * 60)))
        self.verifier = ApprovalVerifier(channel_settings.approval_keys)
        self._runtime: Runtime | None = None
        self.ledger: SendLedger | None = None
        self.lost_after = timedelta(seconds=channel_settings.lost_callback_after_seconds)
        self.give_up_after = timedelta(seconds=channel_settings.lost_callback_give_up_seconds)
        self._next_sweep: datetime | None = None

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None, "the worker is not open"
        return self._runtime

    @property
    def stopping(self) -> bool:
        return self.runtime.stopping

    # ---- the stage's hooks ------------------------------------------------------------------------

    async def open(self, runtime: Runtime) -> None:
        self._runtime = runtime
        reader = runtime.reader("ledger")
        await reader.start()
        self.ledger = SendLedger(
            runtime.publisher,
            reader,
            runtime.settings.topic(SENDER_LEDGER),
            self.channel,
            timedelta(days=self.config.ledger_retention_days),
        )
        dispatch = await reader.partitions(runtime.settings.topic(DISPATCH[self.channel]))
        ledger = await reader.partitions(runtime.settings.topic(SENDER_LEDGER))
        if len(ledger) < len(dispatch):
            raise ConfigError(
                f"{SENDER_LEDGER} has {len(ledger)} partitions, fewer than the {len(dispatch)} "
                "of the dispatch topic"
            )

    async def close(self) -> None:
        try:
            if self.ledger is not None:
                await self.ledger.close()
        finally:
            await self.driver.aclose()

    async def assigned(self, partitions: set[int]) -> None:
        assert self.ledger is not None
        await self.ledger.restore(sorted(partitions), self.clock.now())

    async def revoked(self, partitions: set[int]) -> None:
        assert self.ledger is not None
        self.ledger.drop(partitions)

    def next_due(self) -> datetime | None:
        # The lost-callback sweep is no stop of its own for a stepped clock's driver: it runs at the first
        # tick at or after its time (before that tick is acknowledged), so it never multiplies the steps.
        return None

    def scheduled(self) -> int:
        return 0

    # ---- one batch --------------------------------------------------------------------------------

    async def handle(self, batch: list[Inbound], now: datetime) -> Mapping[TopicPartition, int]:
        assert self.ledger is not None
        if time.monotonic() >= self._next_prune:
            await self.ledger.prune(self.clock.now())
            self._next_prune = time.monotonic() + PRUNE_INTERVAL_SECONDS
        if self._next_sweep is None or self.clock.now() >= self._next_sweep:
            await self._sweep()
        jobs: dict[str, list[Job]] = defaultdict(list)
        for inbound in batch:
            approval = inbound.envelope.event
            assert isinstance(approval, ev.ContactApproved)  # the runtime checked it is declared here
            record = inbound.record
            try:
                # Before the ledger sees it: only an approval the gatekeeper signed for this topic and key.
                self.verifier.verify(record.topic, record.key, record.headers, record.value)
            except SignatureError as exc:
                log.error("request %s: approval refused: %s", approval.request_id, exc)
                self.runtime.dead_letter(record, DeadLetterReason.BAD_SIGNATURE, str(exc), now)
                continue
            jobs[approval.request_id].append(Job(approval, inbound.partition, inbound.offset))
        if not jobs:
            return {}
        # Redeliveries of one request in one batch run one after the other: the second sees the ledger.
        results = await asyncio.gather(
            *(self._serve_in_order(same) for same in jobs.values()), return_exceptions=True
        )
        self._lookups.clear()
        fatal = next((r for r in results if isinstance(r, BaseException)), None)
        if fatal is not None:
            # Nothing of this batch is committed: the next owner finds the ledger and goes on.
            await self.runtime.publisher.flush()
            raise fatal
        held: dict[TopicPartition, int] = {}
        topic = self.runtime.settings.topic(DISPATCH[self.channel])
        for unfinished in results:
            for job in unfinished if isinstance(unfinished, list) else ():
                tp = TopicPartition(topic, job.partition)
                held[tp] = min(held.get(tp, job.offset), job.offset)
        return held

    async def _serve_in_order(self, jobs: list[Job]) -> list[Job]:
        """Serve the records of one request id; return those left unfinished because the worker stops."""
        for index, job in enumerate(jobs):
            try:
                async with self._slots:
                    self.metrics.in_flight.labels(self.channel.value).inc()
                    try:
                        await self._serve(job)
                    finally:
                        self.metrics.in_flight.labels(self.channel.value).dec()
            except _Abandoned:
                return jobs[index:]
            except AuthenticationError:
                # Every other send would be refused too: abandon them, and stop.
                self.metrics.auth_failures.labels(self.channel.value).inc()
                log.critical("%s: the provider refused our credentials; stopping", self.service)
                self.runtime.stop()
                raise
        return []

    # ---- one request ------------------------------------------------------------------------------

    async def _serve(self, job: Job) -> None:
        assert self.ledger is not None
        approval = job.approval
        entry = self.ledger.get(job.partition, approval.request_id)
        if entry is not None and entry.settled:
            # Finished, but a crash may have come before its outcome was out: publish it again (same id).
            recorded = entry.result()
            if recorded is not None:
                event = self._outcome(job, recorded, entry.outcome_id or None)
                await self._publish(event, event.outcome_id, OUTCOMES, event.occurred_at)
            self.runtime.metrics.duplicates.labels(self.service).inc()
            return
        if self.stopping:
            raise _Abandoned
        now = self.clock.now()
        try:
            prepared = self.driver.prepare(approval, now)
        except RenderError as exc:
            log.error("request %s cannot be rendered: %s", approval.request_id, exc)
            await self._finish(
                job, SendResult(OutcomeStatus.FAILED, True, error_code="template", detail=str(exc))
            )
            return
        attempt = 0
        deadline = time.monotonic() + self.config.request_budget_seconds
        if entry is not None:
            # Claimed by an earlier owner that did not record the result: the provider may have it. Its
            # create may even still be in flight, until the claim's lease ends.
            attempt = entry.attempt
            wait = entry.lease_until - time.time()
            if await self._reconcile(job, prepared, entry, wait=wait, deadline=deadline + max(0.0, wait)):
                return
        await self._attempts(job, prepared, attempt, deadline)

    async def _attempts(self, job: Job, prepared: Rendered, attempt: int, deadline: float) -> None:
        approval = job.approval
        while True:
            if self.clock.now() >= approval.valid_until:
                # Outside the window it was approved for: never sent late (escalation may ask again).
                await self._finish(job, SendResult(OutcomeStatus.EXPIRED, True, detail="valid_until passed"))
                return
            await self._pause(self.limiter.delay(prepared.sender, time.monotonic()), rate_limit=True)
            if self.clock.now() >= approval.valid_until:
                continue
            if self.stopping:
                raise _Abandoned
            attempt += 1
            entry = await self._claim(job, prepared, attempt)
            started = time.perf_counter()
            try:
                result = await self.driver.send(prepared)
            except TransientSendError as exc:
                self._observe("send", started)
                if attempt >= self.config.max_attempts or time.monotonic() >= deadline:
                    await self._give_up(job, exc, attempt)
                    return
                self.metrics.retries.labels(self.channel.value, "transient").inc()
                await self._pause(self.backoff.delay(attempt, exc.retry_after))
                continue
            except PermanentSendError as exc:
                self._observe("send", started)
                await self._permanent(job, exc)
                return
            except UncertainSendError as exc:
                self._observe("send", started)
                log.warning(
                    "request %s: uncertain create (%s); looking it up before anything else",
                    approval.request_id,
                    exc,
                )
                wait = self.config.reconcile_delay_seconds
                if await self._reconcile(job, prepared, entry, wait=wait, deadline=deadline):
                    return
                if attempt >= self.config.max_attempts or time.monotonic() >= deadline:
                    await self._give_up(job, exc, attempt)
                    return
                self.metrics.retries.labels(self.channel.value, "uncertain").inc()
                await self._pause(self.backoff.delay(attempt))
                continue
            self._observe("send", started)
            await self._confirm(job, prepared, result, attempt)
            return

    async def _claim(self, job: Job, prepared: Rendered, attempt: int) -> LedgerEntry:
        assert self.ledger is not None
        entry = LedgerEntry(
            request_id=job.approval.request_id,
            channel=self.channel,
            **_about(job.approval),
            state=LedgerState.CLAIMED,
            attempt=attempt,
            destination=prepared.destination,
            digest=prepared.digest,
            claimed_at=self.clock.now(),
            lease_until=lease_until(self.config.claim_lease_seconds),
            valid_until=job.approval.valid_until,
        )
        # Acknowledged by the broker before the provider is called: the claim survives a crash mid-send.
        await (await self.ledger.write(job.partition, entry))
        return entry

    async def _reconcile(
        self, job: Job, prepared: Rendered, entry: LedgerEntry, *, wait: float, deadline: float
    ) -> bool:
        """Look an unconfirmed send up with the provider, after ``wait`` seconds (it may still be landing).
        True when the request is finished (found, or unknowable); False when the provider certainly has
        nothing, so a new attempt may follow."""
        await self._pause(wait)
        # One lookup per destination at a time: two claims must not both take the same message.
        async with self._lookups[prepared.destination]:
            return await self._look_up(job, prepared, entry, deadline)

    async def _look_up(self, job: Job, prepared: Rendered, entry: LedgerEntry, deadline: float) -> bool:
        assert self.ledger is not None
        taken = self.ledger.provider_refs(job.partition, prepared.destination)
        for attempt in range(1, self.config.reconcile_attempts + 1):
            if attempt > 1 and time.monotonic() >= deadline:
                break
            started = time.perf_counter()
            try:
                found = await self.driver.find(prepared, entry.claimed_at, taken)
            except CannotReconcile as exc:
                return await self._unknown(job, prepared, str(exc))
            except AuthenticationError:
                raise
            except SendError as exc:
                self._observe("lookup", started)
                log.warning("request %s: lookup failed (%s)", job.approval.request_id, exc)
                self.metrics.retries.labels(self.channel.value, "lookup").inc()
                await self._pause(self.backoff.delay(attempt))
                continue
            self._observe("lookup", started)
            if found is None:
                self.metrics.reconciliations.labels(self.channel.value, "not_found").inc()
                return False
            self.metrics.reconciliations.labels(self.channel.value, "found").inc()
            await self._confirm(job, prepared, found, entry.attempt)
            return True
        return await self._unknown(job, prepared, "the provider could not be asked whether it has the send")

    async def _unknown(self, job: Job, prepared: Rendered, why: str) -> bool:
        # Never resent: a duplicate collection message is worse than one whose fate is unknown.
        self.metrics.reconciliations.labels(self.channel.value, "unknown").inc()
        log.error(
            "request %s: send may or may not have happened, not resent: %s", job.approval.request_id, why
        )
        await self._finish(job, SendResult(OutcomeStatus.UNKNOWN, True, detail=why), LedgerState.UNKNOWN)
        return True

    async def _confirm(self, job: Job, prepared: Rendered, result: SendResult, attempt: int) -> None:
        entry = LedgerEntry(
            request_id=job.approval.request_id,
            channel=self.channel,
            **_about(job.approval),
            state=LedgerState.SENT,
            attempt=attempt,
            destination=prepared.destination,
            digest=prepared.digest,
            claimed_at=self.clock.now(),
            valid_until=job.approval.valid_until,
            **_recorded(result),
        )
        await self._record(job, entry, result)
        currency = result.cost_currency or self.config.price_currency
        self.metrics.cost.labels(self.channel.value, currency).inc(float(result.cost))
        log.info(
            "request %s sent to %s as %s (attempt %d)",
            job.approval.request_id,
            mask_address(prepared.destination),
            result.provider_ref,
            attempt,
        )

    async def _permanent(self, job: Job, exc: PermanentSendError) -> None:
        if exc.failure is FailureKind.OPTED_OUT:
            now = self.clock.now()
            consent = provider_opt_out(job.approval, now)
            await self._publish(consent, ids.provider_opt_out_id(job.approval.request_id), CONSENT, now)
            result = SendResult(
                OutcomeStatus.OPTED_OUT,
                True,
                error_code=exc.code,
                failure=exc.failure,
                detail="recipient opted out",
            )
        else:
            result = SendResult(
                OutcomeStatus.FAILED, True, error_code=exc.code, failure=exc.failure, detail=str(exc)
            )
        await self._finish(job, result)

    async def _give_up(self, job: Job, exc: SendError, attempts: int) -> None:
        detail = f"gave up after {attempts} attempts: {exc}"
        failed = SendResult(
            OutcomeStatus.FAILED, True, error_code=exc.code, failure=FailureKind.TRANSIENT, detail=detail
        )
        await self._finish(job, failed)

    async def _finish(self, job: Job, result: SendResult, state: LedgerState = LedgerState.DONE) -> None:
        """Record and publish the final outcome of a request that was not (or may not have been) sent."""
        entry = LedgerEntry(
            request_id=job.approval.request_id,
            channel=self.channel,
            **_about(job.approval),
            state=state,
            destination=job.approval.destination,
            claimed_at=self.clock.now(),
            valid_until=job.approval.valid_until,
            **_recorded(result),
        )
        await self._record(job, entry, result)

    async def _record(self, job: Job, entry: LedgerEntry, result: SendResult) -> None:
        """The ledger result first, acknowledged; then the outcome, acknowledged before the offsets are
        committed. A crash in between leaves a finished entry whose outcome the next owner publishes again."""
        assert self.ledger is not None
        await (await self.ledger.write(job.partition, entry))
        event = self._outcome(job, result)
        await self.runtime.publisher.send_event(event, event.outcome_id, event.occurred_at, OUTCOMES)
        self.metrics.sends.labels(self.channel.value, result.status.value).inc()

    def _outcome(self, job: Job, result: SendResult, outcome_id: str | None = None) -> ev.ContactOutcome:
        return outcome(
            job.approval,
            result,
            provider=self.driver.provider,
            currency=self.config.price_currency,
            now=self.clock.now(),
            outcome_id=outcome_id,
        )

    async def _publish(self, event: BaseModel, event_id: str, topic: str, now: datetime) -> None:
        """Publish and wait for the broker's acknowledgement."""
        await (await self.runtime.publisher.send_event(event, event_id, now, topic))

    # ---- lost callbacks ---------------------------------------------------------------------------

    async def _sweep(self) -> None:
        """Settle the sends whose final status callback has not come within ``lost_after`` by asking the
        provider. The worker does not see callbacks, so it asks about every SMS and call still without a
        final status of its own once the bound has passed; the answer carries the callback's own outcome id,
        so where the callback did come, consumers apply the same fact once. A send the provider has no
        record of, or still cannot finish ``give_up_after`` after it was sent, ends ``unknown``."""
        assert self.ledger is not None
        now = self.clock.now()
        due = self.ledger.awaiting_final(now - self.lost_after)
        for start in range(0, len(due), SWEEP_CHUNK):
            chunk = due[start : start + SWEEP_CHUNK]
            settled = await asyncio.gather(
                *(self._settle(partition, entry, now) for partition, entry in chunk), return_exceptions=True
            )
            # Every lookup of the chunk has ended before the first failure (refused credentials, the broker)
            # goes up: nothing is left publishing behind a stopping worker.
            if (fatal := next((r for r in settled if isinstance(r, BaseException)), None)) is not None:
                raise fatal
        # Next: when the oldest send not yet due becomes due, and at least every quarter bound for the sends
        # still under way (and for sends confirmed after this sweep, each due a whole bound after it).
        upcoming = self.ledger.first_awaiting(now - self.lost_after)
        self._next_sweep = now + min(self.lost_after / 4, timedelta(minutes=15))
        if upcoming is not None:
            self._next_sweep = min(self._next_sweep, upcoming + self.lost_after)

    async def _settle(self, partition: int, entry: LedgerEntry, now: datetime) -> None:
        async with self._slots:
            started = time.perf_counter()
            try:
                result = await self.driver.settle(entry.provider_ref)
            except CannotReconcile as exc:
                result = SendResult(
                    OutcomeStatus.UNKNOWN, True, provider_ref=entry.provider_ref, detail=str(exc)
                )
            except AuthenticationError:
                self.metrics.auth_failures.labels(self.channel.value).inc()
                log.critical("%s: the provider refused our credentials; stopping", self.service)
                self.runtime.stop()
                raise
            except SendError as exc:
                log.warning("request %s: final status lookup failed (%s)", entry.request_id, exc)
                result = None
            self._observe("status", started)
        if result is None:
            if now < entry.claimed_at + self.give_up_after:
                return  # still under way (or the lookup failed): asked again at the next sweep
            result = SendResult(
                OutcomeStatus.UNKNOWN,
                True,
                provider_ref=entry.provider_ref,
                detail=f"no final status from the provider {self.give_up_after} after the send",
            )
        if result.status is OutcomeStatus.UNKNOWN:
            outcome_id = ids.outcome_id(entry.request_id, OutcomeStatus.UNKNOWN, ids.Observer.WORKER)
            log.error("request %s: final status unknown: %s", entry.request_id, result.detail)
        else:
            outcome_id = ids.final_status_id(entry.request_id, result.status)
        event = outcome(
            entry,
            result,
            provider=self.driver.provider,
            currency=self.config.price_currency,
            now=now,
            outcome_id=outcome_id,
        )
        # The outcome first: a crash before the ledger says final makes the next sweep publish it again,
        # with the same id.
        await self._publish(event, event.outcome_id, OUTCOMES, now)
        assert self.ledger is not None
        settled = entry.model_copy(
            update={**_recorded(result), "provider_ref": entry.provider_ref, "outcome_id": outcome_id}
        )
        await (await self.ledger.write(partition, settled))
        self.metrics.lost_callbacks.labels(self.channel.value, result.status.value).inc()

    # ---- plumbing ---------------------------------------------------------------------------------

    async def _pause(self, seconds: float, *, rate_limit: bool = False) -> None:
        """Wait (wall time: pacing, not domain time); a stop cuts the wait short and abandons the request."""
        if seconds <= 0:
            return
        if rate_limit:
            self.metrics.rate_limited_seconds.labels(self.channel.value).inc(seconds)
        try:
            await asyncio.wait_for(self.runtime.stopped(), seconds)
        except TimeoutError:
            return
        raise _Abandoned

    def _observe(self, operation: str, started: float) -> None:
        self.metrics.provider_seconds.labels(self.channel.value, operation).observe(
            time.perf_counter() - started
        )


def _about(approval: ev.ContactApproved) -> dict[str, str]:
    """Whose request a ledger entry is, for an outcome published without the approval at hand."""
    return {
        "debtor_id": approval.debtor_id,
        "account_id": approval.account_id,
        "strategy": approval.strategy,
        "arm": approval.arm,
    }


def _recorded(result: SendResult) -> dict[str, Any]:
    """What a finished ledger entry keeps of the request's outcome, to publish it again after a crash."""
    return {
        "outcome": result.status,
        "final": result.final,
        "provider_ref": result.provider_ref,
        "error_code": result.error_code,
        "failure": result.failure,
        "detail": result.detail[:500],
        "segments": result.segments,
        "cost": result.cost,
        "cost_currency": result.cost_currency,
    }
