"""The Twilio sandbox's behaviour: the ledger of messages and calls, their simulated lifecycles, and the
signed webhooks (status callbacks, TwiML fetches, Gather actions, inbound SMS) they produce."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
from collections import Counter
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from services.core.clock import Clock
from services.messaging.sms import count_segments
from services.sandbox.settings import Behaviour, SandboxSettings
from services.sandbox.twilio_faults import FaultPlan
from services.sandbox.twilio_records import (
    API_VERSION,
    FINAL_CALL_STATES,
    CallbackRecord,
    CallRecord,
    MessageRecord,
    in_window,
    mask_number,
    matches,
    request_id_of,
    rfc2822,
)
from services.sandbox.twiml import TwimlError, Verb, parse_twiml, reply_bodies

log = logging.getLogger(__name__)

MAX_TWIML_DOCUMENTS = 10
_UNDELIVERED: dict[Behaviour, tuple[int, str]] = {
    Behaviour.UNDELIVERED_30003: (30003, "Unreachable destination handset"),
    Behaviour.UNDELIVERED_30005: (30005, "Unknown destination handset"),
    Behaviour.UNDELIVERED_30006: (30006, "Landline or unreachable carrier"),
    Behaviour.UNDELIVERED_30007: (30007, "Message filtered"),
}


@dataclass(slots=True)
class _Delivery:
    status: int | None
    error: str | None
    body: str

    @property
    def retriable(self) -> bool:
        """Worth sending again: no answer at all (refused, reset, timed out), a 5xx or a 429. A host the
        allowlist refuses, a redirect or another 4xx would fail the same way again."""
        if self.status is None:
            return self.error != _NOT_ALLOWED
        return self.status >= 500 or self.status == 429


_NOT_ALLOWED = "callback host not allowed"


def retry_delays(settings: SandboxSettings) -> list[float]:
    """Seconds to wait before each retry of a failed status callback: doubling from the first, capped."""
    first, cap = settings.callback_retry_ms / 1000, settings.callback_retry_max_ms / 1000
    return [min(cap, first * 2**n) for n in range(settings.callback_retries)]


class TwilioSandbox:
    """State and behaviour of one sandbox instance: the ledger, the faults and the callback machinery."""

    def __init__(self, settings: SandboxSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.messages: dict[str, MessageRecord] = {}
        self.calls: dict[str, CallRecord] = {}
        self.pending_callbacks = 0
        self.in_flight = 0
        self.faults = FaultPlan(settings)
        self._sid_counts: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        # Twilio signs webhooks with the primary token, whichever token the API request used.
        self._validator = RequestValidator(settings.auth_tokens[0].get_secret_value())

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.callback_timeout_ms / 1000)
        )

    async def shutdown(self) -> None:
        """Release held responses and stop every sequence; webhooks still in a handler may finish."""
        self._closing.set()
        await self._cancel_tasks()

    async def cleanup(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def reset(self) -> None:
        await self._cancel_tasks()
        self.messages.clear()
        self.calls.clear()
        self._sid_counts.clear()
        self.faults.reset()

    def idle(self) -> dict[str, int]:
        return {
            "pending_callbacks": self.pending_callbacks,
            "in_flight_requests": self.in_flight,
            "active_sequences": len(self._tasks),
        }

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sandbox sequence failed", exc_info=task.exception())

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def hang(self) -> None:
        """Hold a response longer than a client waits, without counting as work in flight."""
        self.in_flight -= 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.settings.timeout_response_ms / 1000)
        finally:
            self.in_flight += 1

    # -- messages --------------------------------------------------------------------------------

    def new_sid(self, prefix: str, *key: str) -> str:
        """A sid drawn from the seed and what the resource is (``key``), with a count of earlier ones alike:
        the same requests give the same sids in every run of a seed, whatever order they came in, and a
        resend of the same request still gets a sid of its own."""
        name = "\x1f".join((str(self.settings.seed), prefix, *key))
        self._sid_counts[name] += 1
        digest = hashlib.sha256(f"{name}\x1f{self._sid_counts[name]}".encode()).hexdigest()
        return prefix + digest[:32]

    def rng_of(self, status_callback: str | None, sid: str) -> random.Random:
        """A resource's own generator for its callback mischief and call durations, apart from the faults:
        keyed by the client's request id (else the sid), so its draws do not depend on which of the
        resources created at the same time happened to run first."""
        return random.Random(f"{self.settings.seed + 1}:{request_id_of(status_callback) or sid}")

    def create_message(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str | None,
        status_callback_method: str,
        fault: Behaviour,
    ) -> MessageRecord:
        now = self.clock.now()
        message = MessageRecord(
            sid=self.new_sid("SM", to, from_, *_identity(status_callback, body)),
            account_sid=self.settings.account_sid,
            to=to,
            from_=from_,
            body=body,
            direction="outbound-api",
            status="queued",
            num_segments=count_segments(body),
            date_created=now,
            date_updated=now,
            status_callback=status_callback,
            status_callback_method=status_callback_method,
            fault=fault,
        )
        self.messages[message.sid] = message
        log.info(
            "message created sid=%s to=%s segments=%d fault=%s",
            message.sid,
            mask_number(to),
            message.num_segments,
            fault.value,
        )
        self.spawn(self._run_message(message))
        return message

    async def _run_message(self, message: MessageRecord) -> None:
        steps = ["queued", "sent", "undelivered" if message.fault in _UNDELIVERED else "delivered"]
        rng = self.rng_of(message.status_callback, message.sid)
        with _Outbox(
            self, rng, message.callbacks, message.status_callback, message.status_callback_method
        ) as outbox:
            outbox.reserve(len(steps))
            await self._message_steps(message, steps, outbox)

    async def _message_steps(self, message: MessageRecord, steps: list[str], outbox: _Outbox) -> None:
        undelivered = _UNDELIVERED.get(message.fault)
        final = steps[-1]
        for index, status in enumerate(steps):
            await self._pause()
            now = self.clock.now()
            message.status = status
            message.date_updated = now
            if status == "sent":
                message.date_sent = now
            if status == final:
                message.price = message.num_segments * self.settings.sms_price_per_segment
                if undelivered:
                    message.error_code, message.error_message = undelivered
            params = [
                ("AccountSid", message.account_sid),
                ("ApiVersion", API_VERSION),
                ("From", message.from_),
                ("MessageSid", message.sid),
                ("MessageStatus", status),
                ("SmsSid", message.sid),
                ("SmsStatus", status),
                ("To", message.to),
            ]
            if status == final and undelivered:
                params.append(("ErrorCode", str(undelivered[0])))
            await outbox.send(status, params, last=index == len(steps) - 1)
        await outbox.flush()

    def list_messages(self, query: Mapping[str, str]) -> list[MessageRecord]:
        found = [m for m in reversed(self.messages.values()) if matches(m.to, m.from_, None, query)]
        return [m for m in found if in_window(m.sent_instant(), query, "DateSent")]

    # -- calls -----------------------------------------------------------------------------------

    def create_call(self, form: MultiDict[str], fault: Behaviour) -> CallRecord:
        now = self.clock.now()
        events = frozenset(
            event
            for value in form.getall("StatusCallbackEvent", [])
            for event in value.replace(",", " ").split()
        )
        call = CallRecord(
            sid=self.new_sid(
                "CA",
                form["To"],
                form["From"],
                *_identity(form.get("StatusCallback"), form.get("Url") or form.get("Twiml") or ""),
            ),
            account_sid=self.settings.account_sid,
            to=form["To"],
            from_=form["From"],
            status="queued",
            date_created=now,
            date_updated=now,
            url=form.get("Url"),
            method=form.get("Method", "POST").upper(),
            twiml=form.get("Twiml"),
            status_callback=form.get("StatusCallback"),
            status_callback_method=form.get("StatusCallbackMethod", "POST").upper(),
            # Without StatusCallbackEvent Twilio reports only the final state.
            events=events or frozenset({"completed"}),
            machine_detection=form.get("MachineDetection"),
            async_amd=form.get("AsyncAmd", "false").lower() == "true",
            async_amd_callback=form.get("AsyncAmdStatusCallback"),
            async_amd_callback_method=form.get("AsyncAmdStatusCallbackMethod", "POST").upper(),
            fault=fault,
        )
        self.calls[call.sid] = call
        log.info("call created sid=%s to=%s fault=%s", call.sid, mask_number(call.to), fault.value)
        self.spawn(self._run_call(call))
        return call

    async def _run_call(self, call: CallRecord) -> None:
        plan = {
            Behaviour.CALL_FAILED: ["failed"],
            Behaviour.BUSY: ["initiated", "busy"],
            Behaviour.NO_ANSWER: ["initiated", "ringing", "no-answer"],
        }.get(call.fault, ["initiated", "ringing", "in-progress", "completed"])
        rng = self.rng_of(call.status_callback, call.sid)
        with _Outbox(self, rng, call.callbacks, call.status_callback, call.status_callback_method) as outbox:
            outbox.reserve(sum(1 for status in plan if call.wants(status)))
            await self._call_steps(call, plan, outbox, rng)

    async def _call_steps(
        self, call: CallRecord, plan: list[str], outbox: _Outbox, rng: random.Random
    ) -> None:
        talk_seconds = 0
        for status in plan:
            await self._pause()
            now = self.clock.now()
            call.status = status
            call.date_updated = now
            if status == "initiated":
                call.start_time = now
            if status == "in-progress":
                call.answered_by = self._answered_by(call)
                # Durations are simulated: on a stepped clock no simulated time passes during a call.
                talk_seconds = (
                    rng.randint(15, 40) if call.fault is Behaviour.VOICEMAIL else rng.randint(20, 90)
                )
            if status in FINAL_CALL_STATES:
                call.end_time = now
                call.duration = talk_seconds
                if talk_seconds:
                    minutes = -(-talk_seconds // 60)
                    call.price = minutes * self.settings.call_price_per_minute
            if call.wants(status):
                await outbox.send(
                    status, self._call_status_params(call, status), last=status in FINAL_CALL_STATES
                )
            if status == "in-progress":
                if call.async_amd and call.async_amd_callback and call.answered_by:
                    await self._async_amd_callback(call, rng)
                await self._run_twiml(call)
        await outbox.flush()

    def _answered_by(self, call: CallRecord) -> str | None:
        if call.machine_detection is None:
            return None
        if call.fault is not Behaviour.VOICEMAIL:
            return "human"
        return "machine_end_beep" if call.machine_detection == "DetectMessageEnd" else "machine_start"

    def _voice_params(self, call: CallRecord) -> list[tuple[str, str]]:
        params = [
            ("AccountSid", call.account_sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", call.sid),
            ("CallStatus", call.status),
            ("Called", call.to),
            ("Caller", call.from_),
            ("Direction", "outbound-api"),
            ("From", call.from_),
            ("To", call.to),
        ]
        # With asynchronous detection the answer arrives on its own callback, not on the call's requests.
        if call.answered_by and not call.async_amd:
            params.append(("AnsweredBy", call.answered_by))
        return params

    def _call_status_params(self, call: CallRecord, status: str) -> list[tuple[str, str]]:
        params = self._voice_params(call)
        params += [
            ("CallbackSource", "call-progress-events"),
            ("SequenceNumber", str(call.sequence)),
            ("Timestamp", rfc2822(self.clock.now()) or ""),
        ]
        call.sequence += 1
        if status in FINAL_CALL_STATES:
            params += [
                ("CallDuration", str(call.duration or 0)),
                ("Duration", str(-(-(call.duration or 0) // 60))),
            ]
        return params

    async def _async_amd_callback(self, call: CallRecord, rng: random.Random) -> None:
        assert call.async_amd_callback is not None
        assert call.answered_by is not None
        params = [
            ("AccountSid", call.account_sid),
            ("AnsweredBy", call.answered_by),
            ("CallSid", call.sid),
            ("MachineDetectionDuration", str(rng.randint(1500, 4500))),
        ]
        await self.request_logged(
            call.callbacks,
            "amd",
            call.answered_by,
            call.async_amd_callback,
            call.async_amd_callback_method,
            params,
            retry=True,
        )

    async def _run_twiml(self, call: CallRecord) -> None:
        """Fetch and follow the call's TwiML: prompts, a Gather waiting for keypad input, Redirect, Dial."""
        url, method = call.url, call.method
        document = call.twiml
        extra: list[tuple[str, str]] = []
        for _ in range(MAX_TWIML_DOCUMENTS):
            if document is None:
                if url is None:
                    return
                delivery = await self.request_logged(
                    call.callbacks, "twiml", call.status, url, method, self._voice_params(call) + extra
                )
                call.documents.append({"url": url, "http_status": delivery.status, "twiml": delivery.body})
                if extra:
                    _resolve_action(call, url, delivery.status)
                if delivery.status != 200:
                    return
                document = delivery.body
            else:
                call.documents.append({"url": None, "http_status": None, "twiml": document})
            try:
                verbs = parse_twiml(document)
            except TwimlError as exc:
                log.warning("call sid=%s returned unusable TwiML: %s", call.sid, exc)
                return
            step = await self._follow(call, verbs, url)
            if step is None:
                return
            url, method, extra = step
            document = None

    async def _follow(
        self, call: CallRecord, verbs: Iterable[Verb], base: str | None
    ) -> tuple[str, str, list[tuple[str, str]]] | None:
        for verb in verbs:
            call.spoken.extend(verb.said())
            method = verb.attrs.get("method", "POST").upper()
            if verb.name == "Gather":
                digits = await self._await_digits(call)
                if digits or verb.attrs.get("actionOnEmptyResult") == "true":
                    action = urljoin(base or "", verb.attrs.get("action", "")) or base
                    if action is None:
                        _resolve_action(call, None, None)
                        return None
                    return action, method, [("Digits", digits), ("FinishedOnKey", "")]
            elif verb.name == "Dial":
                numbers = [child.text for child in verb.children if child.name == "Number"]
                call.dialed.extend(numbers or [verb.text])
            elif verb.name == "Redirect":
                return urljoin(base or "", verb.text), method, []
            elif verb.name in ("Hangup", "Reject"):
                return None
        return None

    async def _await_digits(self, call: CallRecord) -> str:
        # A machine never presses keys; a human is given gather_wait_ms (wall time) to do so.
        if call.fault is Behaviour.VOICEMAIL:
            return ""
        call.digit_waiter = asyncio.get_running_loop().create_future()
        try:
            digits = await asyncio.wait_for(call.digit_waiter, self.settings.gather_wait_ms / 1000)
        except TimeoutError:
            return ""
        finally:
            call.digit_waiter = None
        if digits:  # "" is the silence endpoint: a timeout that came early
            call.digits.append(digits)
        return digits

    def list_calls(self, query: Mapping[str, str]) -> list[CallRecord]:
        found = [c for c in reversed(self.calls.values()) if matches(c.to, c.from_, c.status, query)]
        return [c for c in found if in_window(c.start_instant(), query, "StartTime")]

    # -- inbound ---------------------------------------------------------------------------------

    async def inject_inbound(self, *, from_: str, to: str, body: str, url: str) -> dict[str, Any]:
        now = self.clock.now()
        message = MessageRecord(
            sid=self.new_sid("SM", "inbound", from_, to, body, now.isoformat()),
            account_sid=self.settings.account_sid,
            to=to,
            from_=from_,
            body=body,
            direction="inbound",
            status="received",
            num_segments=count_segments(body),
            date_created=now,
            date_updated=now,
            date_sent=now,
        )
        self.messages[message.sid] = message
        log.info("inbound SMS sid=%s from=%s", message.sid, mask_number(from_))
        params = [
            ("AccountSid", message.account_sid),
            ("ApiVersion", API_VERSION),
            ("Body", body),
            ("From", from_),
            ("MessageSid", message.sid),
            ("NumMedia", "0"),
            ("NumSegments", str(message.num_segments)),
            ("SmsMessageSid", message.sid),
            ("SmsSid", message.sid),
            ("SmsStatus", "received"),
            ("To", to),
        ]
        delivery = await self.request_logged(message.callbacks, "inbound", "received", url, "POST", params)
        replies: list[str] = []
        error = delivery.error
        if delivery.status == 200 and delivery.body.strip():
            try:
                texts = reply_bodies(delivery.body)
            except TwimlError:
                texts, error = [], "12100 Document parse failure"
            for text in texts:
                reply = MessageRecord(
                    sid=self.new_sid("SM", "reply", message.sid, text),
                    account_sid=message.account_sid,
                    to=from_,
                    from_=to,
                    body=text,
                    direction="outbound-reply",
                    status="sent",
                    num_segments=count_segments(text),
                    date_created=now,
                    date_updated=now,
                    date_sent=now,
                )
                self.messages[reply.sid] = reply
                replies.append(reply.sid)
        return {
            "message_sid": message.sid,
            "webhook_status": delivery.status,
            "webhook_error": error,
            "reply_sids": replies,
        }

    # -- outgoing webhooks -----------------------------------------------------------------------

    async def _pause(self) -> None:
        await asyncio.sleep(self.settings.callback_delay_ms / 1000)

    async def request_logged(
        self,
        log_to: list[CallbackRecord],
        kind: str,
        status: str | None,
        url: str,
        method: str,
        params: list[tuple[str, str]],
        *,
        token: str | None = None,
        duplicate: bool = False,
        retry: bool = False,
    ) -> _Delivery:
        """Send one signed webhook and record it; counted in ``pending_callbacks`` while it is in flight.

        With ``retry`` (status callbacks), a failure worth retrying is sent again with the same idempotency
        token after each of ``retry_delays``: a webhooks service that is down for a moment loses nothing,
        and a stepped-clock driver sees the callback as pending work until it is delivered or given up."""
        self.pending_callbacks += 1
        token = token or secrets.token_hex(16)
        try:
            delivery = await self._deliver(url, method, params, token)
        finally:
            self.pending_callbacks -= 1
        record = CallbackRecord(kind, status, url, delivery.status, delivery.error, duplicate, 1)
        if retry and delivery.retriable and retry_delays(self.settings) and not self._closing.is_set():
            # Twilio moves a message or a call on whatever became of its callbacks: the retries go on aside,
            # still pending work, while the resource's next statuses come at their time.
            self.pending_callbacks += 1
            self.spawn(self._retry(log_to, record, method, params, token))
            return delivery
        log_to.append(record)
        return delivery

    async def _retry(
        self,
        log_to: list[CallbackRecord],
        record: CallbackRecord,
        method: str,
        params: list[tuple[str, str]],
        token: str,
    ) -> None:
        """Send a failed status callback again, with the same idempotency token, after each of
        ``retry_delays`` until it is delivered, cannot be, or the sandbox stops."""
        delivery, attempts = _Delivery(record.http_status, record.error, ""), 1
        try:
            for delay in retry_delays(self.settings):
                if not delivery.retriable or self._closing.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                attempts += 1
                delivery = await self._deliver(record.url, method, params, token)
        finally:
            self.pending_callbacks -= 1
        if delivery.retriable:
            log.warning("%s callback given up after %d attempts: %s", record.kind, attempts, delivery.error)
        log_to.append(replace(record, http_status=delivery.status, error=delivery.error, attempts=attempts))

    async def _deliver(self, url: str, method: str, params: list[tuple[str, str]], token: str) -> _Delivery:
        if urlsplit(url).hostname not in self.settings.allowed_callback_hosts:
            log.warning("callback host not allowed, not sent: %s", urlsplit(url).hostname)
            return _Delivery(None, _NOT_ALLOWED, "")
        assert self._session is not None, "start() the sandbox before it sends webhooks"
        headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": token}
        # Never followed: a redirect would carry the signed request to a host the allowlist never saw.
        if method == "GET":
            target = f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"
            headers["X-Twilio-Signature"] = self._validator.compute_signature(target, {})
            request = self._session.get(target, headers=headers, allow_redirects=False)
        else:
            headers["X-Twilio-Signature"] = self._validator.compute_signature(url, MultiDict(params))
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = self._session.post(
                url, data=urlencode(params).encode(), headers=headers, allow_redirects=False
            )
        try:
            async with request as response:
                if 300 <= response.status < 400:
                    log.warning("webhook answered a redirect (%d), not followed", response.status)
                    return _Delivery(response.status, "redirect not followed", "")
                return _Delivery(response.status, None, await response.text())
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("webhook failed: %s", type(exc).__name__)
            return _Delivery(None, type(exc).__name__, "")


def _identity(status_callback: str | None, content: str) -> tuple[str, ...]:
    """What a created message or call is, for its sid: the client's request id when its callback URL names
    one (a body or URL may carry tokens signed with keys of the run), else the content and the URL."""
    request_id = request_id_of(status_callback)
    return ("request", request_id) if request_id else (content, status_callback or "")


def _resolve_action(call: CallRecord, url: str | None, status: int | None) -> None:
    """Tell a waiting ``/digits`` request where its keypad input went and how the action answered."""
    if call.action_result is not None and not call.action_result.done():
        call.action_result.set_result({"action_url": url, "http_status": status})


class _Outbox:
    """One resource's status callbacks, sent in order except for the occasional swapped or repeated one."""

    def __init__(
        self,
        sandbox: TwilioSandbox,
        rng: random.Random,
        log_to: list[CallbackRecord],
        url: str | None,
        method: str,
    ) -> None:
        self._sandbox = sandbox
        self._rng = rng
        self._log_to = log_to
        self._url = url
        self._method = method
        self._held: tuple[str, list[tuple[str, str]], str] | None = None
        self._reserved = 0

    def __enter__(self) -> _Outbox:
        return self

    def __exit__(self, *_: object) -> None:
        # A sequence cancelled by a reset or shutdown gives back what it will no longer send.
        self._sandbox.pending_callbacks -= self._reserved
        self._reserved = 0

    def reserve(self, count: int) -> None:
        # Counted up front so that a stepped-clock driver sees the whole sequence as pending.
        if self._url is not None:
            self._reserved += count
            self._sandbox.pending_callbacks += count

    async def send(self, status: str, params: list[tuple[str, str]], *, last: bool) -> None:
        if self._url is None:
            return
        sandbox = self._sandbox
        token = secrets.token_hex(16)
        if self._held is None and not last and self._rng.random() < sandbox.settings.reorder_callback_ratio:
            self._held = (status, params, token)
            return
        await self._send(status, params, token)
        await self.flush()

    async def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            await self._send(*held)

    async def _send(self, status: str, params: list[tuple[str, str]], token: str) -> None:
        assert self._url is not None
        sandbox = self._sandbox
        self._reserved -= 1
        sandbox.pending_callbacks -= 1
        await sandbox.request_logged(
            self._log_to, "status", status, self._url, self._method, params, token=token, retry=True
        )
        if self._rng.random() < sandbox.settings.duplicate_callback_ratio:
            # A retried webhook carries the same idempotency token, as Twilio's do.
            await sandbox.request_logged(
                self._log_to,
                "status",
                status,
                self._url,
                self._method,
                params,
                token=token,
                duplicate=True,
                retry=True,
            )
