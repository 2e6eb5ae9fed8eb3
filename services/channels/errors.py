"""What can go wrong with a send, as the worker needs to know it. Adapters translate vendor errors into these
at the boundary (``raise X from exc``), so the worker never sees an HTTP status or an SMTP reply code::

    SendError
    ├── TransientSendError     nothing was created; retry after ``retry_after`` (429, SMTP 4xx, refused)
    ├── PermanentSendError     nothing was created and retrying will not help (21211, 21610, SMTP 5xx)
    ├── UncertainSendError     the provider may have created it (5xx or timeout on create): reconcile first
    └── AuthenticationError    the credentials are wrong: stop the worker, loudly
        └── InsecureTransportError  the credentials and messages would cross in clear or to an unverified
                                    relay: stop the worker, loudly, as for refused credentials
"""

from __future__ import annotations

from schemas.vocab import FailureKind


class SendError(Exception):
    """A send failed; ``code`` is the provider's error code when it gave one (``21211``, ``550``)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientSendError(SendError):
    """Certainly nothing was created; the same send may succeed later."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Certainly nothing was created, and the same send will fail again; ``failure`` says what that means
    for the next contact, in the platform's words."""

    def __init__(self, message: str, *, failure: FailureKind, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.failure = failure


class UncertainSendError(SendError):
    """The request may have reached the provider and created the message or call."""


class AuthenticationError(SendError):
    """The provider refused our credentials: no send can succeed until an operator fixes them."""


class InsecureTransportError(AuthenticationError):
    """The relay offers no TLS, or a certificate that does not verify: nothing was sent, and nothing will be
    until an operator fixes the relay or the TLS settings. An authentication error, so that the worker stops
    rather than trying every message against it."""
