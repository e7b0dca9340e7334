"""Stripe's test payment methods and the sandbox's own, and how each one behaves.

Stripe's tokens (https://docs.stripe.com/testing#declined-payments): the decline cards cannot
be attached to a customer (attaching runs a check that fails with the same decline);
`pm_card_chargeCustomerFail` attaches and then every charge fails; `pm_card_radarBlock`
(4100000000000019, https://docs.stripe.com/testing#fraud-prevention) is "always blocked" by
Radar: the charge's `outcome.type` is `blocked`, not `issuer_declined`
(https://docs.stripe.com/declines/how-declines-work#blocked-payments). The testing page gives
no advice code for any of them, and Stripe gives `advice_code` only when the issuer sent one
(https://docs.stripe.com/declines/card#retrying-issuer-declines), so theirs is null.

The sandbox adds cards whose behaviour Stripe cannot script: fail after N successes (with an
advice code if asked), decline the first K charges and then pay (recovery by retry), expire
in a chosen month; and declines scripted per customer or
payment method (payments.py, `POST /_sandbox/declines`) with any decline code, advice code
and outcome type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .errors import StripeError, invalid

# https://docs.stripe.com/api/charges/object#charge_object-outcome-type (`authorized` and
# `manual_review` are not declines).
OUTCOME_TYPES = ("issuer_declined", "blocked", "invalid")
# https://docs.stripe.com/api/charges/object#charge_object-outcome-advice_code
ADVICE_CODES = ("confirm_card_data", "do_not_try_again", "try_again_later")


@dataclass(frozen=True)
class Decline:
    code: str  # the error's `code`
    decline_code: str | None  # Stripe's testing table gives none ("n/a") for some cards
    message: str
    # The issuer's advice, when it gave one: try_again_later, do_not_try_again or
    # confirm_card_data (https://docs.stripe.com/declines/card#retrying-issuer-declines).
    advice_code: str | None = None
    # Who refused it: the issuer, Stripe's Radar, or Stripe before the network (invalid).
    outcome_type: str = "issuer_declined"
    outcome_reason: str | None = None  # default: the decline code (or error code)
    risk_level: str = "normal"
    network_decline_code: str | None = None
    network_advice_code: str | None = None

    @property
    def network_status(self) -> str:
        return (
            "declined_by_network"
            if self.outcome_type == "issuer_declined"
            else "not_sent_to_network"
        )

    @property
    def seller_message(self) -> str:
        if self.outcome_type == "blocked":
            return "Stripe blocked this payment as too risky."
        if self.outcome_type == "invalid":
            return "This payment was not sent to the card network: the request was invalid."
        if self.decline_code in (None, "generic_decline"):
            return "The bank did not return any further details with this decline."
        return f"The bank returned the decline code `{self.decline_code}`."


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
LOST = Decline("card_declined", "lost_card", "Your card was declined.")
STOLEN = Decline("card_declined", "stolen_card", "Your card was declined.")
EXPIRED = Decline("expired_card", None, "Your card has expired.")
INCORRECT_CVC = Decline("incorrect_cvc", None, "Your card's security code is incorrect.")
PROCESSING = Decline(
    "processing_error",
    None,
    "An error occurred while processing your card. Try again in a little bit.",
)
VELOCITY = Decline(
    "card_declined",
    "card_velocity_exceeded",
    "Your card was declined for making repeated attempts too frequently or exceeding its amount "
    "limit.",
)
AUTHENTICATION = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
# Radar's default block rule: risk level `highest`, reason `highest_risk_level`
# (https://docs.stripe.com/api/charges/object#charge_object-outcome-reason).
RADAR_BLOCK = Decline(
    "card_declined",
    "fraudulent",
    "Your card was declined.",
    outcome_type="blocked",
    outcome_reason="highest_risk_level",
    risk_level="highest",
)

# What a `pm_card_sandbox_fail_after_N_<reason>` card may fail with: its decline_code, or its
# error code for the declines Stripe reports without one.
SCRIPTABLE = {
    d.decline_code or d.code: d
    for d in (GENERIC, INSUFFICIENT, LOST, STOLEN, EXPIRED, INCORRECT_CVC, PROCESSING, VELOCITY)
}


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    funding: str = "credit"
    attach_decline: Decline | None = None  # fails when attached to a customer
    charge_decline: Decline | None = None  # every charge fails
    fail_after: int | None = None  # charges succeed this many times, then fail
    fail_with: Decline = GENERIC
    decline_first: int | None = None  # the first K charges decline with fail_with, then pass
    requires_authentication: bool = False  # off-session charges need 3-D Secure
    disputed: bool = False  # the charge succeeds, then the cardholder disputes it


def _card(brand: str, last4: str, **behaviour: Any) -> TestCard:
    """A test card valid for years (Stripe: "use a valid future date")."""
    return replace(TestCard(brand, last4, exp_month=12, exp_year=2034), **behaviour)


# https://docs.stripe.com/testing#declined-payments lists the PaymentMethods as
# pm_card_visa_chargeDeclined...; the shorter pm_card_chargeDeclined... names also work.
_DECLINE_CARDS = {
    "chargeDeclined": ("0002", GENERIC),
    "chargeDeclinedInsufficientFunds": ("9995", INSUFFICIENT),
    "chargeDeclinedLostCard": ("9987", LOST),
    "chargeDeclinedStolenCard": ("9979", STOLEN),
    "chargeDeclinedExpiredCard": ("0069", EXPIRED),
    "chargeDeclinedIncorrectCvc": ("0127", INCORRECT_CVC),
    "chargeDeclinedProcessingError": ("0119", PROCESSING),
    "chargeDeclinedVelocityLimitExceeded": ("6975", VELOCITY),
}
STRIPE_TOKENS: dict[str, TestCard] = {
    "pm_card_visa": _card("visa", "4242"),
    "pm_card_visa_debit": _card("visa", "5556", funding="debit"),
    "pm_card_mastercard": _card("mastercard", "4444"),
    "pm_card_amex": _card("amex", "8431"),
    **{
        f"pm_card{prefix}_{name}": _card("visa", last4, attach_decline=d, charge_decline=d)
        for name, (last4, d) in _DECLINE_CARDS.items()
        for prefix in ("", "_visa")
    },
    "pm_card_chargeCustomerFail": _card("visa", "0341", charge_decline=GENERIC),
    "pm_card_authenticationRequired": _card("visa", "3184", requires_authentication=True),
    "pm_card_createDispute": _card("visa", "0259", disputed=True),
    # https://docs.stripe.com/testing#fraud-prevention (and radar/testing's name for it)
    "pm_card_radarBlock": _card("visa", "0019", charge_decline=RADAR_BLOCK),
    "pm_card_chargeDeclinedFraudulent": _card("visa", "0019", charge_decline=RADAR_BLOCK),
}

_FAIL_AFTER = re.compile(
    r"^pm_card_sandbox_fail_after_(\d{1,4})(?:_(?!advice_)([a-z_]+?))?(?:_advice_([a-z_]+))?$"
)
_EXPIRES = re.compile(r"^pm_card_sandbox_expires_(\d{4})_(\d{2})$")
_DECLINE_FIRST = re.compile(
    r"^pm_card_sandbox_decline_first_(\d{1,4})(?:_(?!advice_)([a-z_]+?))?(?:_advice_([a-z_]+))?$"
)


def is_token(payment_method: str) -> bool:
    return payment_method in STRIPE_TOKENS or payment_method.startswith("pm_card_sandbox_")


def resolve(token: str, param: str) -> TestCard:
    """The card a test token stands for, or a 400 naming the param as Stripe would."""
    card = STRIPE_TOKENS.get(token)
    if card is not None:
        return card
    if m := _FAIL_AFTER.match(token) or _DECLINE_FIRST.match(token):
        reason = m.group(2) or "generic_decline"
        decline = SCRIPTABLE.get(reason)
        if decline is None:
            raise invalid(
                f"Unknown decline {reason!r} in {token}; use one of {sorted(SCRIPTABLE)}",
                param=param,
            )
        if (advice := m.group(3)) is not None:
            if advice not in ADVICE_CODES:
                raise invalid(
                    f"Unknown advice code {advice!r} in {token}; use one of {list(ADVICE_CODES)}",
                    param=param,
                )
            decline = replace(decline, advice_code=advice)
        if m.re is _DECLINE_FIRST:
            return replace(_card("visa", "4242"), decline_first=int(m.group(1)), fail_with=decline)
        return replace(_card("visa", "4242"), fail_after=int(m.group(1)), fail_with=decline)
    if m := _EXPIRES.match(token):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise invalid(f"Invalid expiry month in {token}", param=param)
        return TestCard("visa", "4242", month, year)
    raise StripeError(
        404,
        "invalid_request_error",
        f"No such PaymentMethod: '{token}'",
        code="resource_missing",
        param=param,
    )


def expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (now.year, now.month) > (exp_year, exp_month)


def charge_outcome(
    card: TestCard,
    successes_so_far: int,
    *,
    off_session: bool,
    now: datetime,
    exp: tuple[int, int],
    failures_so_far: int = 0,
) -> Decline | None:
    """None when the charge goes through, else the decline Stripe would answer with."""
    if expired(exp[0], exp[1], now):
        return EXPIRED
    if card.charge_decline is not None:
        return card.charge_decline
    if card.decline_first is not None and failures_so_far < card.decline_first:
        return card.fail_with
    if card.fail_after is not None and successes_so_far >= card.fail_after:
        return card.fail_with
    if card.requires_authentication and off_session:
        return AUTHENTICATION
    return None
