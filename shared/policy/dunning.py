"""The dunning ladder: what to do next about an unpaid invoice, given what happened so far.

The rules and their sources are in docs/rules.md, section "Dunning".

Declines (Stripe's `decline_code`, else the error `code`, then the `advice_code`):

* soft: the same card may pay later; retry on the schedule.
* hard: the card will not pay (Stripe's non-retryable codes and the like); no retry at all
  until the payment method changes (Stripe itself "can't retry invoice payment without a new
  payment method", https://docs.stripe.com/billing/revenue-recovery/smart-retries).
* needs_customer_action: the customer must authenticate, fix card data or call the bank; no
  automatic retry either, the failed-payment notice asks for that action (pay link).

(docs/rules.md#decline-classes, docs/rules.md#decline-precedence,
docs/rules.md#hard-decline-stop.)

The ladder, from the first failed charge (`opened_at`):

* retries at `retry_after` offsets, at most `max_attempts_per_card` charges per card in any
  `attempt_window` (7 in 30 days: half of Visa's 15,
  https://support.stripe.com/questions/payment-blocked-due-to-excessive-retries); a new
  payment method is charged at once (docs/rules.md#retry-schedule, docs/rules.md#per-card-cap,
  docs/rules.md#new-payment-method);
* failed-payment notices with the pay link at `notice_after` offsets, the last one "final"
  (docs/rules.md#payment-failed-notices);
* suspension in Partner Center only once the grace period is over, never before
  (docs/rules.md#grace-then-suspend);
* auto-renew off before the next renewal lock when the invoice is still unpaid: after day 7 of
  a new term the partner owes Microsoft the whole term even if the customer never pays
  (https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy),
  so the ladder gives up the renewal before the lock rather than after, and squeezes its
  retries to end by then when it can (docs/rules.md#auto-renew-before-lock,
  docs/rules.md#retry-squeeze);
* write-off after `write_off_after`; reactivation (and auto-renew restored) as soon as the
  payment lands (docs/rules.md#write-off, docs/rules.md#paid).

`next_step` returns one step and when it is due (docs/rules.md#step-order); the orchestrator
waits for that moment (or an external event: payment, new card), records what it did in the
case, and asks again. Every path ends in `close`: the step set is finite and write-off is
always ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from shared.models.billing import PaymentAttempt
from shared.models.dunning import DunningCase as DunningCase  # the ladder's input

DeclineClass = Literal["soft", "needs_customer_action", "hard"]

_SEVERITY: dict[DeclineClass, int] = {"soft": 0, "needs_customer_action": 1, "hard": 2}

NON_RETRYABLE = (
    "Stripe docs, https://docs.stripe.com/billing/revenue-recovery/smart-retries"
    "#non-retryable-decline-codes"
)
CODES = "Stripe docs, https://docs.stripe.com/declines/codes (next steps column)"
ERROR_CODES = "Stripe docs, https://docs.stripe.com/error-codes"

# decline_code or error code -> (class, source). Codes not listed are soft: Stripe's own Smart
# Retries retries everything but the non-retryable list, and the per-card cap bounds the rest.
DECLINE_TABLE: dict[str, tuple[DeclineClass, str]] = {
    # Stripe will not retry these without a new payment method.
    "incorrect_number": ("hard", NON_RETRYABLE),
    "lost_card": ("hard", NON_RETRYABLE),
    "pickup_card": ("hard", NON_RETRYABLE),
    "stolen_card": ("hard", NON_RETRYABLE),
    "revocation_of_authorization": ("hard", NON_RETRYABLE),
    "revocation_of_all_authorizations": ("hard", NON_RETRYABLE),
    "highest_risk_level": ("hard", NON_RETRYABLE),
    "authentication_required": ("needs_customer_action", NON_RETRYABLE + "; 3DS on-session"),
    # The card or account is finished, or the issuer says never: a new card is needed.
    "invalid_number": ("hard", CODES + ": card number incorrect"),
    "expired_card": ("hard", CODES + ": the customer should use another card"),
    "invalid_account": ("hard", CODES + ": card or account invalid"),
    "new_account_information_available": ("hard", CODES + ": card or account invalid"),
    "card_not_supported": ("hard", CODES + ": card does not support this purchase"),
    "currency_not_supported": ("hard", CODES + ": card does not support the currency"),
    "do_not_try_again": ("hard", CODES + " (deprecated; now advice_code do_not_try_again)"),
    "fraudulent": ("hard", CODES + ": present as generic_decline, do not retry"),
    "merchant_blacklist": ("hard", CODES + ": matches the block list"),
    "restricted_card": ("hard", CODES + ": possibly reported lost or stolen"),
    "stop_payment_order": ("hard", CODES + "; Visa category 1, stop payment order"),
    "pin_try_exceeded": ("hard", CODES + ": the customer should use another card"),
    "testmode_decline": ("hard", CODES + ": a test card was used"),
    # The customer has to do something before the same card can pay.
    "authentication_not_handled": ("needs_customer_action", CODES + ": authenticate"),
    "mobile_device_authentication_required": ("needs_customer_action", CODES + ": authenticate"),
    "payment_intent_authentication_failure": ("needs_customer_action", ERROR_CODES),
    "incorrect_cvc": ("needs_customer_action", CODES + ": retry with the correct CVC"),
    "invalid_cvc": ("needs_customer_action", CODES + ": retry with the correct CVC"),
    "incorrect_zip": ("needs_customer_action", CODES + ": retry with the correct postal code"),
    "incorrect_address": ("needs_customer_action", CODES + ": correct address"),
    "invalid_expiry_month": ("needs_customer_action", CODES + ": correct expiry"),
    "invalid_expiry_year": ("needs_customer_action", CODES + ": correct expiry"),
    "call_issuer": ("needs_customer_action", CODES + ": contact the card issuer"),
    "transaction_not_allowed": ("needs_customer_action", CODES + ": contact the card issuer"),
    "not_permitted": ("needs_customer_action", CODES + ": contact the card issuer"),
    "security_violation": ("needs_customer_action", CODES + ": contact the card issuer"),
    "service_not_allowed": ("needs_customer_action", CODES + ": contact the card issuer"),
    "invalid_amount": ("needs_customer_action", CODES + ": check the limit with the issuer"),
    "incorrect_pin": ("needs_customer_action", CODES + ": retry with the correct PIN"),
    "invalid_pin": ("needs_customer_action", CODES + ": retry with the correct PIN"),
    "offline_pin_required": ("needs_customer_action", CODES + ": retry with a PIN"),
    "online_or_offline_pin_required": ("needs_customer_action", CODES + ": retry with a PIN"),
    "invoice_payment_intent_requires_action": ("needs_customer_action", ERROR_CODES + ": 3DS"),
    # Soft: the same card may well pay later.
    "insufficient_funds": ("soft", CODES + "; not on the non-retryable list"),
    "generic_decline": ("soft", CODES + "; not on the non-retryable list"),
    "do_not_honor": ("soft", CODES + "; not on the non-retryable list"),
    "card_declined": ("soft", ERROR_CODES + ": see decline_code; generic"),
    "processing_error": ("soft", CODES + ": the payment should be attempted again"),
    "issuer_not_available": ("soft", CODES + ": the payment should be attempted again"),
    "reenter_transaction": ("soft", CODES + ": the payment should be attempted again"),
    "approve_with_id": ("soft", CODES + ": the payment should be attempted again"),
    "try_again_later": ("soft", CODES + " (deprecated; now advice_code try_again_later)"),
    "no_action_taken": ("soft", CODES + "; not on the non-retryable list"),
    "card_velocity_exceeded": ("soft", CODES + "; limits reset over time"),
    "withdrawal_count_limit_exceeded": ("soft", CODES + "; limits reset over time"),
    "duplicate_transaction": ("soft", CODES + ": check for a recent identical payment"),
    "card_decline_rate_limit_exceeded": ("soft", ERROR_CODES + ": wait 24 hours"),
}

# Charge.outcome / last_payment_error.advice_code (stripe-python 16.1.0, _charge.py;
# https://docs.stripe.com/declines/card#retrying-issuer-declines).
ADVICE_TABLE: dict[str, DeclineClass] = {
    "do_not_try_again": "hard",
    "confirm_card_data": "needs_customer_action",
    "try_again_later": "soft",
}


def classify_decline(
    decline_code: str | None, code: str | None = None, advice_code: str | None = None
) -> DeclineClass:
    """Soft, hard or needs-customer-action, from Stripe's failure fields.

    `decline_code` wins over the generic error `code`; an `advice_code` can only make the
    answer stricter (a lost card stays hard even if the issuer also says "try again later").
    """
    # An unknown decline_code falls back to the error code (newer issuer codes still come
    # with Stripe's generic `code`), then to soft.
    known = [c for c in (decline_code, code) if c is not None and c in DECLINE_TABLE]
    found: DeclineClass = DECLINE_TABLE[known[0]][0] if known else "soft"
    advised = ADVICE_TABLE.get(advice_code or "", "soft")
    return found if _SEVERITY[found] >= _SEVERITY[advised] else advised


def classify_attempt(attempt: PaymentAttempt) -> DeclineClass:
    return classify_decline(attempt.decline_code, attempt.failure_code, attempt.advice_code)


DAY = timedelta(days=1)


@dataclass(frozen=True)
class DunningRules:
    retry_after: tuple[timedelta, ...] = (1 * DAY, 3 * DAY, 6 * DAY, 10 * DAY, 14 * DAY, 18 * DAY)
    max_attempts_per_card: int = 7
    attempt_window: timedelta = 30 * DAY
    notice_after: tuple[timedelta, ...] = (timedelta(0), 3 * DAY, 7 * DAY, 12 * DAY)
    grace_period: timedelta = 14 * DAY
    renewal_margin: timedelta = timedelta(hours=24)
    write_off_after: timedelta = 60 * DAY
    # A month before the card expires (31 days: the sweep on the 1st reaches a card expiring
    # at the end of a 31-day month), and a reminder in its last days (docs/rules.md#card-expiry).
    card_expiry_notice_before: timedelta = 31 * DAY
    card_expiry_reminder_before: timedelta = 10 * DAY

    def __post_init__(self) -> None:
        if self.max_attempts_per_card < 1:
            raise ValueError("max_attempts_per_card must be at least 1")
        if self.write_off_after < self.grace_period:
            raise ValueError("write-off cannot come before the end of the grace period")


DEFAULT_RULES = DunningRules()


StepAction = Literal[
    "retry_charge",
    "send_payment_failed_notice",
    "turn_off_auto_renew",
    "suspend",
    "write_off",
    "reactivate",
    "restore_auto_renew",
    "close",
]
CustomerAsk = Literal["pay", "update_payment_method", "take_action"]

_ASK: dict[DeclineClass, CustomerAsk] = {
    "soft": "pay",
    "hard": "update_payment_method",
    "needs_customer_action": "take_action",
}
# On a tie the step that can still collect goes first.
_PRIORITY: dict[StepAction, int] = {
    "retry_charge": 0,
    "send_payment_failed_notice": 1,
    "turn_off_auto_renew": 2,
    "suspend": 3,
    "write_off": 4,
}


@dataclass(frozen=True)
class DunningStep:
    action: StepAction
    at: datetime
    reason: str
    ask: CustomerAsk | None = None
    final_notice: bool = False


def next_retry_at(case: DunningCase, rules: DunningRules = DEFAULT_RULES) -> datetime | None:
    """When the next charge may run, or None while a new payment method is needed (or never,
    for an overdue invoice on invoice terms: cspflow does not charge what the customer was
    asked to pay by transfer)."""
    if case.overdue or not case.attempts:
        return None
    attempts = sorted(case.attempts, key=lambda a: a.attempted_at)
    last = attempts[-1]
    changed = case.payment_method_changed_at
    if changed is not None and changed > last.attempted_at:
        when = changed
    elif _declined_for_good(case, attempts):
        return None
    else:
        offsets = retry_offsets(case, rules)
        retries_done = len(attempts) - 1
        if retries_done >= len(offsets):
            return None
        when = max(case.opened_at + offsets[retries_done], last.attempted_at)
    return _within_card_cap(case, attempts, when, rules)


def _declined_for_good(case: DunningCase, attempts: list[PaymentAttempt]) -> bool:
    """Whether the current card said "not without a new card" since it became current.

    Any hard or needs-customer-action decline counts, not only the last one: a later soft
    decline on the same card (the customer trying the pay link, say) does not make a lost
    card retryable. Only a change of payment method clears it.
    """
    since = case.payment_method_changed_at
    return any(
        classify_attempt(a) != "soft"
        for a in attempts
        if a.payment_method_id == case.payment_method_id
        and (since is None or a.attempted_at >= since)
    )


_US = timedelta(microseconds=1)


def retry_offsets(case: DunningCase, rules: DunningRules = DEFAULT_RULES) -> tuple[timedelta, ...]:
    """The retry schedule, squeezed to end by the auto-renew decision when a renewal is near.

    With the renewal lock closer than the last retry, the offsets shrink in proportion so the
    last retry falls on the moment auto-renew would be turned off: the customer gets every
    retry before the partner is committed to another term. Without a renewal at stake (none
    near, or auto-renew already off) the schedule is the configured one.
    """
    offsets = rules.retry_after
    if case.next_renewal_lock_at is None or case.auto_renew_off or case.suspended or not offsets:
        return offsets
    budget = case.next_renewal_lock_at - rules.renewal_margin - case.opened_at
    last = offsets[-1]
    if budget <= timedelta(0) or budget >= last:
        return offsets
    return tuple(
        timedelta(microseconds=(o // _US) * (budget // _US) // (last // _US)) for o in offsets
    )


def _within_card_cap(
    case: DunningCase, attempts: list[PaymentAttempt], when: datetime, rules: DunningRules
) -> datetime:
    on_card = [a.attempted_at for a in attempts if a.payment_method_id == case.payment_method_id]
    while True:
        recent = [t for t in on_card if when - rules.attempt_window < t <= when]
        if len(recent) < rules.max_attempts_per_card:
            return when
        # Wait until the oldest charge in the window has left it.
        when = min(recent) + rules.attempt_window


def next_step(case: DunningCase, now: datetime, rules: DunningRules = DEFAULT_RULES) -> DunningStep:
    """The one thing to do next about the case, and when (never earlier than `now`)."""
    if case.paid_at is not None:
        if case.suspended:
            return DunningStep("reactivate", now, "paid: reactivate the suspended subscriptions")
        if case.auto_renew_off:
            return DunningStep("restore_auto_renew", now, "paid: auto-renew was off for dunning")
        return DunningStep("close", now, "paid")
    if case.written_off:
        return DunningStep("close", now, "written off")

    last = max(case.attempts, key=lambda a: a.attempted_at, default=None)
    ask = _ASK[classify_attempt(last)] if last is not None else "pay"
    candidates: list[DunningStep] = []

    retry_at = next_retry_at(case, rules)
    if retry_at is not None:
        candidates.append(DunningStep("retry_charge", retry_at, "charge the invoice again"))
    if case.notices_sent < len(rules.notice_after):
        final = case.notices_sent == len(rules.notice_after) - 1
        candidates.append(
            DunningStep(
                "send_payment_failed_notice",
                case.opened_at + rules.notice_after[case.notices_sent],
                "failed-payment notice with the pay link",
                ask=ask,
                final_notice=final,
            )
        )
    if case.next_renewal_lock_at is not None and not (case.auto_renew_off or case.suspended):
        candidates.append(
            DunningStep(
                "turn_off_auto_renew",
                case.next_renewal_lock_at - rules.renewal_margin,
                "unpaid before the renewal lock: do not commit the partner to a new term",
            )
        )
    if not case.suspended:
        candidates.append(
            DunningStep("suspend", case.opened_at + rules.grace_period, "grace period is over")
        )
    candidates.append(
        DunningStep("write_off", case.opened_at + rules.write_off_after, "collection gave up")
    )
    step = min(candidates, key=lambda s: (s.at, _PRIORITY[s.action]))
    if step.at < now:
        return DunningStep(step.action, now, step.reason, step.ask, step.final_notice)
    return step


def card_expires_at(exp_month: int, exp_year: int) -> datetime:
    """Cards are valid through the last day of their expiry month."""
    if not 1 <= exp_month <= 12:
        raise ValueError("exp_month must be 1..12")
    year, month = (exp_year + 1, 1) if exp_month == 12 else (exp_year, exp_month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def card_expiry_notice_due(
    exp_month: int,
    exp_year: int,
    now: datetime,
    last_notice_at: datetime | None,
    rules: DunningRules = DEFAULT_RULES,
) -> bool:
    """Whether to send the "card expiring soon" notice now (once per card expiry,
    docs/rules.md#card-expiry)."""
    expires = card_expires_at(exp_month, exp_year)
    opens = expires - rules.card_expiry_notice_before
    if not opens <= now < expires:
        return False
    return last_notice_at is None or last_notice_at < opens


def card_expiry_reminder_due(
    exp_month: int, exp_year: int, now: datetime, rules: DunningRules = DEFAULT_RULES
) -> bool:
    """Whether the card is in the last `card_expiry_reminder_before` before it expires: the
    reminder of the "card expiring soon" notice, sent once per card and expiry while the
    card is still the default (docs/rules.md#card-expiry)."""
    expires = card_expires_at(exp_month, exp_year)
    return expires - rules.card_expiry_reminder_before <= now < expires
