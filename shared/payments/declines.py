"""Card declines sorted into the three classes the dunning ladder acts on.

- SOFT: the issuer may approve the same card later (funds, limits, outages): retry on the ladder.
- HARD: the same card will not be approved again (lost, stolen, closed, expired, refused):
  stop retrying it; the customer needs a new payment method.
- NEEDS_CUSTOMER_ACTION: the card can work once the customer does something themselves
  (authenticate with 3-D Secure, re-enter a CVC or PIN, call the issuer): send the pay link now;
  retrying without them is pointless.

The table follows the "Next steps" column of Stripe's decline codes
(https://docs.stripe.com/declines/codes) and the error codes
(https://docs.stripe.com/error-codes). It is kept here, next to the Stripe adapter, so the
dunning policy can reconcile with it in one place. An unknown code is SOFT: a retry on the
ladder is safe, while a wrong HARD would stop collection for good.
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
    "incorrect_cvc": _A,  # "try again using the correct CVC"
    "incorrect_number": _H,  # the stored number is wrong: a new card is needed
    "incorrect_pin": _A,
    "incorrect_zip": _A,
    "insufficient_funds": _S,  # the classic soft decline
    "invalid_account": _H,
    "invalid_amount": _H,
    "invalid_cvc": _A,
    "invalid_expiry_month": _A,
    "invalid_expiry_year": _A,
    "invalid_number": _H,
    "invalid_pin": _A,
    "issuer_not_available": _S,  # "The payment should be attempted again."
    "lost_card": _H,
    "merchant_blacklist": _H,
    "new_account_information_available": _H,  # card details changed: new card needed
    "no_action_taken": _S,
    "not_permitted": _H,
    "offline_pin_required": _A,
    "online_or_offline_pin_required": _A,
    "pickup_card": _H,
    "pin_try_exceeded": _H,
    "processing_error": _S,  # "The payment should be attempted again."
    "reenter_transaction": _S,
    "restricted_card": _H,
    "revocation_of_all_authorizations": _H,
    "revocation_of_authorization": _H,
    "security_violation": _H,
    "service_not_allowed": _H,
    "stolen_card": _H,
    "stop_payment_order": _H,
    "testmode_decline": _H,
    "transaction_not_allowed": _H,
    "try_again_later": _S,
    "withdrawal_count_limit_exceeded": _S,
}

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


def classify(code: str | None, decline_code: str | None) -> DeclineClass:
    """The dunning class of a Stripe card error; the decline_code wins over the code."""
    if decline_code and decline_code in DECLINE_CODES:
        return DECLINE_CODES[decline_code]
    if code and code in ERROR_CODES:
        return ERROR_CODES[code]
    return DeclineClass.SOFT
