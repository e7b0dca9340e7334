"""Card declines sorted into the three classes the dunning ladder acts on.

- SOFT: the issuer may approve the same card later (funds, limits, outages): retry on the ladder.
- HARD: the same card will not be approved again (lost, stolen, closed, expired, refused):
  stop retrying it; the customer needs a new payment method.
- NEEDS_CUSTOMER_ACTION: the card can work once the customer does something themselves
  (authenticate with 3-D Secure, re-enter a CVC or PIN, call the issuer): send the pay link now;
  retrying without them is pointless.

The table follows the "Next steps" column of Stripe's decline codes
(https://docs.stripe.com/declines/codes), the non-retryable list of Smart Retries
(https://docs.stripe.com/billing/revenue-recovery/smart-retries) and the error codes
(https://docs.stripe.com/error-codes). It agrees with the ladder's table in
shared/policy/dunning.py for every code both list (the class values are the same strings), so
the two can be merged into one. An unknown code is SOFT: a retry on the ladder is safe (the
per-card retry cap bounds it), while a wrong HARD would stop collection for good.
"""

from __future__ import annotations

from enum import StrEnum


class DeclineClass(StrEnum):
    SOFT = "soft"
    HARD = "hard"
    NEEDS_CUSTOMER_ACTION = "needs_customer_action"


_S, _H, _A = DeclineClass.SOFT, DeclineClass.HARD, DeclineClass.NEEDS_CUSTOMER_ACTION

# Stripe `decline_code` -> class (https://docs.stripe.com/declines/codes).
DECLINE_CODES: dict[str, DeclineClass] = {
    "approve_with_id": _S,  # "The payment should be attempted again."
    "authentication_not_handled": _A,
    "authentication_required": _A,  # customer must authenticate (3-D Secure)
    "call_issuer": _A,  # "The customer needs to contact their card issuer"
    "card_not_supported": _H,
    "card_velocity_exceeded": _S,  # balance or credit limit reached; frees up over time
    "currency_not_supported": _H,
    "do_not_honor": _S,  # unknown reason; Stripe's Smart Retries still retry it
    "do_not_try_again": _H,
    "duplicate_transaction": _S,
    "expired_card": _H,  # "The customer should use another card."
    "fraudulent": _H,
    "generic_decline": _S,  # unknown reason; retried by Smart Retries
    "highest_risk_level": _H,  # on Smart Retries' non-retryable list
    "incorrect_address": _A,
    "incorrect_cvc": _A,  # "try again using the correct CVC"
    "incorrect_number": _H,  # the stored number is wrong: a new card is needed
    "incorrect_pin": _A,
    "incorrect_zip": _A,
    "insufficient_funds": _S,  # the classic soft decline
    "invalid_account": _H,
    "invalid_amount": _A,  # "check the limit with the issuer"
    "invalid_cvc": _A,
    "invalid_expiry_month": _A,
    "invalid_expiry_year": _A,
    "invalid_number": _H,
    "invalid_pin": _A,
    "issuer_not_available": _S,  # "The payment should be attempted again."
    "lost_card": _H,
    "merchant_blacklist": _H,
    "mobile_device_authentication_required": _A,
    "new_account_information_available": _H,  # card details changed: new card needed
    "no_action_taken": _S,
    "not_permitted": _A,  # "contact the card issuer"
    "offline_pin_required": _A,
    "online_or_offline_pin_required": _A,
    "pickup_card": _H,
    "pin_try_exceeded": _H,
    "processing_error": _S,  # "The payment should be attempted again."
    "reenter_transaction": _S,
    "restricted_card": _H,
    "revocation_of_all_authorizations": _H,
    "revocation_of_authorization": _H,
    "security_violation": _A,  # "contact the card issuer"
    "service_not_allowed": _A,  # "contact the card issuer"
    "stolen_card": _H,
    "stop_payment_order": _H,
    "testmode_decline": _H,
    "transaction_not_allowed": _A,  # "contact the card issuer"
    "try_again_later": _S,
    "withdrawal_count_limit_exceeded": _S,
}

# Stripe `advice_code` (charge outcome / error object): it can only make a class stricter.
ADVICE_CODES: dict[str, DeclineClass] = {
    "do_not_try_again": _H,
    "confirm_card_data": _A,
    "try_again_later": _S,
}
_SEVERITY = {_S: 0, _A: 1, _H: 2}

# Stripe error `code` when no decline_code says more (https://docs.stripe.com/error-codes).
ERROR_CODES: dict[str, DeclineClass] = {
    "authentication_required": _A,
    "card_decline_rate_limit_exceeded": _S,
    "card_declined": _S,
    "expired_card": _H,
    "incorrect_cvc": _A,
    "incorrect_number": _H,
    "incorrect_zip": _A,
    "invalid_cvc": _A,
    "invalid_expiry_month": _A,
    "invalid_expiry_year": _A,
    "invalid_number": _H,
    "invoice_payment_intent_requires_action": _A,
    "payment_intent_authentication_failure": _A,
    "processing_error": _S,
}


def classify(
    decline_code: str | None, code: str | None = None, advice_code: str | None = None
) -> DeclineClass:
    """The dunning class of a Stripe card error (arguments in the order of the dunning
    policy's `classify_decline`). The decline_code wins over the generic error code, which is
    the fallback for a decline_code the table does not know; an advice_code only makes the
    answer stricter (a lost card stays hard even if the issuer also says "try again later")."""
    if decline_code and decline_code in DECLINE_CODES:
        found = DECLINE_CODES[decline_code]
    elif code and code in ERROR_CODES:
        found = ERROR_CODES[code]
    else:
        found = DeclineClass.SOFT
    advised = ADVICE_CODES.get(advice_code or "", DeclineClass.SOFT)
    return found if _SEVERITY[found] >= _SEVERITY[advised] else advised
