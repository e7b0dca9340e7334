"""Partner Center's error answer: `{code, description, data, source}`
(https://learn.microsoft.com/en-us/partner-center/developer/error-codes)."""

from __future__ import annotations

# Codes from Microsoft's error-code list (https://learn.microsoft.com/en-us/partner-center/developer/error-codes) and the pages that
# name them (800090: change-the-quantity-of-a-subscription; 600061: the MCA attestation).
INVALID_INPUT = 800002
SUSPENDED_QUANTITY = 2001
QUANTITY_RANGE = 2002
DELETED_SUBSCRIPTION = 2011
ETAG_STALE = 2055
MCA_MISSING = 13605
NO_RELATIONSHIP = 20002
SUBSCRIPTION_NOT_FOUND = 20003
AVAILABILITY_NOT_FOUND = 400019
ORDER_PROCESSING = 800060
NOT_READY = 800082
CANNOT_DECREASE = 800090
PENDING_OPERATION = 900278
AGREEMENT_EXISTS = 600061


class PcError(Exception):
    def __init__(self, status: int, code: int, description: str) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "description": self.description,
            "data": [],
            "source": "PartnerFD",
        }


def invalid(field: str, why: str) -> PcError:
    """800002 invalid input, naming the field."""
    return PcError(400, INVALID_INPUT, f"{field}: {why}")


def not_found(what: str, code: int = INVALID_INPUT) -> PcError:
    # Microsoft documents codes only for some lookups (20002 customer, 20003 subscription);
    # other unknown ids answer 404 with the generic invalid-input code.
    return PcError(404, code, f"The {what} was not found.")
