"""Errors the payments adapter raises. Declines are not errors: they come back as outcomes."""

from __future__ import annotations

from shared.errors import CspflowError, PermanentError, TransientError


class PaymentsError(CspflowError):
    """Base of the adapter's errors."""


class PaymentsUnavailable(PaymentsError, TransientError):
    """Stripe could not be reached or failed (network, 5xx, 429): transient, retry the step."""


class PaymentRejected(PaymentsError, PermanentError):
    """Stripe refused the request (400, 401, 404, idempotency conflict): retrying won't help."""

    def __init__(
        self, message: str, *, status: int | None, code: str | None, param: str | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or (str(status) if status is not None else "rejected")
        self.param = param
        self.field = param


class WebhookRejected(PaymentsError, PermanentError):
    """A webhook that is forged, stale, signed with an unknown secret, or malformed."""


class MalformedEvent(WebhookRejected):
    """A genuinely signed delivery whose body is not an event of the expected shape (the
    receiver answers 400, not 401: the sender is Stripe, the content is wrong)."""
