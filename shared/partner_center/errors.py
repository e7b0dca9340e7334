"""What can go wrong talking to Partner Center, split by what the caller should do.

- `RetryableError`: technical and transient (5xx, timeouts, connection errors, throttling
  or processing that outlasted the client's short in-activity patience). Activities let it
  propagate so the Durable retry policy tries again, with the same `MS-RequestId`, after a
  durable timer rather than a sleeping worker. `retry_after_s`, when set, is the wait
  Partner Center asked for; its subclasses say why:
  - `ThrottledError`: 429s outlasted the client's wait budget for one call;
  - `RenewalProcessingError`: 409 800082, the renewal is being processed (up to 24 h after
    the term's last day, docs/rules.md#renewal-processing); raised at once, never slept on
    inside an activity;
  - `ExportPendingError`: a reconciliation export outlasted the budget; it names the
    export's operation URL so the next attempt resumes it.
Retryable errors are `shared.errors.TransientError`s, business and auth errors
`PermanentError`s: the one vocabulary every adapter shares.
- `BusinessError`: Partner Center refused the request (4xx) with its error code; retrying
  the same request cannot succeed. Workflows branch on `code`.
- `AuthError`: the token could not be obtained or was rejected.
"""

from __future__ import annotations

from shared.errors import CspflowError, PermanentError, TransientError


class PartnerCenterError(CspflowError):
    """Base class of every error the Partner Center client raises."""


class RetryableError(PartnerCenterError, TransientError):
    def __init__(
        self, message: str, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
        if status is not None:
            self.code = str(status)


class ThrottledError(RetryableError):
    pass


class RenewalProcessingError(RetryableError):
    pass


class ExportPendingError(RetryableError):
    """A reconciliation export still running when the activity's wait budget ran out.
    Passing `operation_url` back (`billed_reconciliation(..., operation_url=...)`) resumes
    polling that export instead of starting a new one."""

    def __init__(self, message: str, operation_url: str, retry_after_s: float | None) -> None:
        super().__init__(message, None, retry_after_s)
        self.operation_url = operation_url


class AuthError(PartnerCenterError, PermanentError):
    code = "auth"


class BusinessError(PartnerCenterError, PermanentError):
    """A 4xx answer. `code` is Microsoft's error code as a string (e.g. "800090")."""

    def __init__(self, status: int, code: str, description: str, request_id: str) -> None:
        super().__init__(f"Partner Center {status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.request_id = request_id


class NotFoundError(BusinessError):
    pass


class DomainUnavailableError(PartnerCenterError, PermanentError):
    code = "domain_unavailable"

    def __init__(self, domain: str) -> None:
        super().__init__(f"the domain {domain} is already taken")
        self.domain = domain


# Microsoft's codes that callers branch on: Microsoft Learn,
# https://learn.microsoft.com/en-us/partner-center/developer/error-codes (600061 is on the
# confirm-customer-consent-customer-agreement page).
QUANTITY_SUSPENDED = "2001"
QUANTITY_OUT_OF_RANGE = "2002"
SUBSCRIPTION_DELETED = "2011"
ETAG_STALE = "2055"
MCA_MISSING = "13605"
SUBSCRIPTION_NOT_FOUND = "20003"
AVAILABILITY_NOT_FOUND = "400019"
AGREEMENT_EXISTS = "600061"
INVALID_INPUT = "800002"
CART_OR_ORDER_PROCESSING = ("800060", "800064")
NOT_READY_RENEWING = "800082"
CANNOT_DECREASE = "800090"
PENDING_OPERATION = "900278"
