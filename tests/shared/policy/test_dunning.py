from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models.billing import PaymentAttempt
from shared.models.money import Money
from shared.policy.dunning import (
    DECLINE_TABLE,
    DunningCase,
    DunningRules,
    card_expires_at,
    card_expiry_notice_due,
    card_expiry_reminder_due,
    classify_decline,
    next_retry_at,
    next_step,
    retry_offsets,
)

# Sources: the Stripe and Microsoft Learn pages behind docs/rules.md, section "Dunning" (each
# table below names the rule it checks; each row its page).
NON_RETRYABLE = (
    "https://docs.stripe.com/billing/revenue-recovery/smart-retries#non-retryable-decline-codes"
)
CODES = "https://docs.stripe.com/declines/codes"
ERROR_CODES = "https://docs.stripe.com/error-codes"
ADVICE = (
    "https://docs.stripe.com/declines/card#retrying-issuer-declines; "
    "stripe-python 16.1.0 advice_code"
)
VISA_CAP = (
    "https://support.stripe.com/questions/payment-blocked-due-to-excessive-retries: "
    "Visa caps 15 in 30 days; docs/rules.md#per-card-cap"
)
CANCEL_POLICY = (
    "https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy"
    ": partner owes the term after 7 days"
)
CHARGEBEE_REMINDER = (
    "Chargebee's card expiry reminder emails, https://www.chargebee.com/docs/payments/2.0/kb/"
    "billing/does-chargebee-automatically-update-an-expired-card"
)
LIFECYCLE = (
    "https://learn.microsoft.com/partner-center/subscription-lifecycle: "
    "reactivate a suspended subscription"
)
PRECEDENCE = "docs/rules.md#decline-precedence"

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)
EUR_45 = Money(amount_minor=4500, currency="EUR")


# docs/rules.md#decline-classes, docs/rules.md#decline-precedence
@pytest.mark.parametrize(
    ("decline_code", "code", "advice_code", "expected", "source"),
    [
        ("insufficient_funds", "card_declined", None, "soft", CODES),
        ("generic_decline", "card_declined", None, "soft", CODES),
        ("do_not_honor", "card_declined", None, "soft", CODES),
        ("processing_error", None, None, "soft", CODES + ": attempt again"),
        ("try_again_later", None, None, "soft", CODES),
        ("lost_card", "card_declined", None, "hard", NON_RETRYABLE),
        ("stolen_card", "card_declined", None, "hard", NON_RETRYABLE),
        ("pickup_card", "card_declined", None, "hard", NON_RETRYABLE),
        ("incorrect_number", "card_declined", None, "hard", NON_RETRYABLE),
        ("revocation_of_authorization", "card_declined", None, "hard", NON_RETRYABLE),
        ("revocation_of_all_authorizations", "card_declined", None, "hard", NON_RETRYABLE),
        ("highest_risk_level", "card_declined", None, "hard", NON_RETRYABLE),
        ("expired_card", "expired_card", None, "hard", CODES + ": use another card"),
        ("fraudulent", "card_declined", None, "hard", CODES),
        ("authentication_required", "card_declined", None, "needs_customer_action", NON_RETRYABLE),
        ("call_issuer", "card_declined", None, "needs_customer_action", CODES),
        ("incorrect_cvc", "incorrect_cvc", None, "needs_customer_action", CODES),
        (None, "expired_card", None, "hard", ERROR_CODES + ": code without decline_code"),
        (None, "card_declined", None, "soft", ERROR_CODES),
        (
            None,
            "payment_intent_authentication_failure",
            None,
            "needs_customer_action",
            ERROR_CODES,
        ),
        (
            "some_future_code",
            "card_declined",
            None,
            "soft",
            "Smart Retries retries all but the listed codes; " + PRECEDENCE,
        ),
        (None, None, None, "soft", "no information: the per-card cap bounds it; " + PRECEDENCE),
        ("some_future_code", "expired_card", None, "hard", "unknown: the code says; " + PRECEDENCE),
        ("incorrect_pin", "card_declined", None, "needs_customer_action", CODES),
        ("pin_try_exceeded", "card_declined", None, "hard", CODES + ": use another card"),
        (
            None,
            "invoice_payment_intent_requires_action",
            None,
            "needs_customer_action",
            ERROR_CODES + ": the invoice's PaymentIntent needs 3DS",
        ),
        ("insufficient_funds", None, "do_not_try_again", "hard", ADVICE),
        ("generic_decline", None, "confirm_card_data", "needs_customer_action", ADVICE),
        (
            "lost_card",
            None,
            "try_again_later",
            "hard",
            ADVICE + ": advice never loosens a hard decline",
        ),
        ("insufficient_funds", None, "try_again_later", "soft", ADVICE),
        ("insufficient_funds", None, "unheard_of", "soft", ADVICE),
    ],
)
def test_decline_classification(decline_code, code, advice_code, expected, source):
    assert classify_decline(decline_code, code, advice_code) == expected, source


def test_every_table_row_cites_stripe():
    # docs/rules.md#decline-classes: the table names the Stripe page behind every class.
    assert all("Stripe" in source for _, source in DECLINE_TABLE.values())


# --- the ladder -----------------------------------------------------------------------


def attempt(at: datetime, decline: str | None = "insufficient_funds", pm: str = "pm_1", **kw):
    return PaymentAttempt(
        invoice_id="inv-1",
        attempted_at=at,
        amount=EUR_45,
        payment_method_id=pm,
        outcome="failed",
        failure_code="card_declined",
        decline_code=decline,
        **kw,
    )


def case(*attempts: PaymentAttempt, **overrides) -> DunningCase:
    data = {
        "invoice_id": "inv-1",
        "opened_at": T0,
        "attempts": attempts or (attempt(T0),),
        "payment_method_id": "pm_1",
    }
    return DunningCase.model_validate(data | overrides)


def test_first_step_is_the_failed_payment_notice_with_the_pay_link():
    step = next_step(case(), T0)
    assert (step.action, step.at, step.ask, step.final_notice) == (
        "send_payment_failed_notice",
        T0,
        "pay",
        False,
    )


# docs/rules.md#step-order and the rules each row names
@pytest.mark.parametrize(
    ("the_case", "action", "at", "source"),
    [
        (
            case(notices_sent=1),
            "retry_charge",
            T0 + 1 * D,
            "soft decline: retry on schedule; " + CODES,
        ),
        (
            case(attempt(T0, "lost_card"), notices_sent=1),
            "send_payment_failed_notice",
            T0 + 3 * D,
            "hard: no retry; " + NON_RETRYABLE,
        ),
        (
            case(
                attempt(T0, "lost_card"),
                notices_sent=1,
                payment_method_id="pm_2",
                payment_method_changed_at=T0 + 2 * D,
            ),
            "retry_charge",
            T0 + 2 * D,
            "a new payment method is charged at once; docs/rules.md#new-payment-method",
        ),
        (
            case(attempt(T0, "authentication_required"), notices_sent=1),
            "send_payment_failed_notice",
            T0 + 3 * D,
            "customer must authenticate; " + NON_RETRYABLE,
        ),
        (
            case(
                notices_sent=4,
                suspended=False,
                attempts=tuple(attempt(T0 + i * D) for i in range(7)),
            ),
            "suspend",
            T0 + 14 * D,
            "suspension only after grace; docs/rules.md#grace-then-suspend",
        ),
        (
            case(notices_sent=1, next_renewal_lock_at=T0 + 2 * D),
            "retry_charge",
            T0 + 80 * timedelta(minutes=1),
            "squeezed before the lock: 1 of 18 days of a 1-day budget; docs/rules.md#retry-squeeze",
        ),
        (
            case(
                notices_sent=2,
                attempts=(attempt(T0), attempt(T0 + D, "lost_card")),
                next_renewal_lock_at=T0 + 2 * D + H,
            ),
            "turn_off_auto_renew",
            T0 + D + H,
            "auto-renew off a margin before the renewal lock; " + CANCEL_POLICY,
        ),
        (
            case(paid_at=T0 + 5 * D, suspended=True),
            "reactivate",
            T0 + 6 * D,
            "reactivate on payment; " + LIFECYCLE,
        ),
        (
            case(paid_at=T0 + 5 * D, auto_renew_off=True),
            "restore_auto_renew",
            T0 + 6 * D,
            "dunning turned it off; restore on payment; docs/rules.md#paid",
        ),
        (case(paid_at=T0 + 5 * D), "close", T0 + 6 * D, "paid; docs/rules.md#paid"),
        (case(written_off=True), "close", T0 + 6 * D, "written off; docs/rules.md#paid"),
        (
            case(
                notices_sent=4,
                suspended=True,
                attempts=tuple(attempt(T0 + i * D) for i in range(7)),
            ),
            "write_off",
            T0 + 60 * D,
            "write-off ends the ladder; docs/rules.md#write-off",
        ),
    ],
)
def test_ladder_next_step(the_case, action, at, source):
    step = next_step(the_case, T0 + 6 * D if the_case.paid_at or the_case.written_off else T0)
    assert (step.action, step.at) == (action, at), source


def test_an_overdue_step_is_due_now():
    # docs/rules.md#step-order
    step = next_step(case(notices_sent=1), T0 + 10 * D)
    assert (step.action, step.at) == ("retry_charge", T0 + 10 * D)


def test_auto_renew_off_is_immediate_when_the_lock_is_already_close():
    # docs/rules.md#auto-renew-before-lock
    step = next_step(case(notices_sent=4, next_renewal_lock_at=T0 + 2 * H), T0 + H)
    assert (step.action, step.at) == ("turn_off_auto_renew", T0 + H)


def test_suspended_subscription_needs_no_separate_auto_renew_off():
    # Suspension turns auto-renew off in Partner Center (Microsoft Learn, subscription-lifecycle;
    # docs/rules.md#auto-renew-before-lock).
    the_case = case(
        notices_sent=4,
        suspended=True,
        next_renewal_lock_at=T0 + 20 * D,
        attempts=tuple(attempt(T0 + i * D) for i in range(7)),
    )
    assert next_step(the_case, T0 + 15 * D).action == "write_off"


def test_last_notice_is_final_and_asks_for_the_right_thing():
    # docs/rules.md#payment-failed-notices
    hard = case(attempt(T0, "expired_card"), notices_sent=3)
    step = next_step(hard, T0)
    assert step.final_notice and step.ask == "update_payment_method"
    needs = next_step(case(attempt(T0, "call_issuer"), notices_sent=3), T0)
    assert needs.ask == "take_action"


def test_retry_schedule_runs_out_and_waits_for_a_new_card():
    # docs/rules.md#retry-schedule
    attempts = tuple(attempt(T0 + i * D) for i in range(7))
    assert next_retry_at(case(*attempts)) is None


def test_no_more_than_seven_charges_per_card_in_any_30_days():
    # VISA_CAP: half the network cap. Seven charges in ten days, then a new card, then the
    # old card again: the eighth charge on pm_1 waits until the first leaves the window.
    attempts = tuple(attempt(T0 + i * D) for i in range(7))
    rules = DunningRules(retry_after=tuple(timedelta(days=d) for d in range(1, 20)))
    back_on_pm_1 = case(*attempts, payment_method_changed_at=T0 + 8 * D)
    assert next_retry_at(back_on_pm_1, rules) == T0 + 30 * D, VISA_CAP
    on_a_new_card = case(*attempts, payment_method_id="pm_2", payment_method_changed_at=T0 + 8 * D)
    assert next_retry_at(on_a_new_card, rules) == T0 + 8 * D


# docs/rules.md#retry-squeeze
@pytest.mark.parametrize(
    ("lock_in", "overrides", "expected_days", "source"),
    [
        (None, {}, [1, 3, 6, 10, 14, 18], "the configured schedule; docs/rules.md#retry-schedule"),
        (40 * D, {}, [1, 3, 6, 10, 14, 18], "the lock is after the last retry"),
        (10 * D, {}, [0.5, 1.5, 3, 5, 7, 9], "squeezed to end by lock - 24 h; " + CANCEL_POLICY),
        (10 * D, {"auto_renew_off": True}, [1, 3, 6, 10, 14, 18], "no renewal at stake any more"),
        (10 * D, {"suspended": True}, [1, 3, 6, 10, 14, 18], "suspension turned auto-renew off"),
        (H, {}, [1, 3, 6, 10, 14, 18], "too late to squeeze: auto-renew goes off at once"),
    ],
)
def test_retries_finish_before_the_renewal_lock_when_they_can(
    lock_in, overrides, expected_days, source
):
    the_case = case(next_renewal_lock_at=None if lock_in is None else T0 + lock_in, **overrides)
    assert [o / D for o in retry_offsets(the_case)] == expected_days, source


def test_no_retry_schedule_means_no_retries():
    rules = DunningRules(retry_after=())
    the_case = case(next_renewal_lock_at=T0 + 10 * D)
    assert retry_offsets(the_case, rules) == ()
    assert next_retry_at(the_case, rules) is None


def test_a_soft_decline_after_a_hard_one_on_the_same_card_is_not_retried():
    # docs/rules.md#hard-decline-stop
    # The customer tried the pay link with the lost card: the issuer's later "insufficient
    # funds" does not make the card retryable; only a new payment method does.
    lost_then_soft = case(attempt(T0, "lost_card"), attempt(T0 + D, "insufficient_funds"))
    assert next_retry_at(lost_then_soft) is None, NON_RETRYABLE
    new_card = case(
        attempt(T0, "lost_card"),
        attempt(T0 + 2 * D, "insufficient_funds", pm="pm_2"),
        payment_method_id="pm_2",
        payment_method_changed_at=T0 + 2 * D,
    )
    assert next_retry_at(new_card) == T0 + 3 * D, "the new card is on the schedule"


def test_a_retry_never_precedes_the_last_charge():
    # docs/rules.md#retry-schedule
    late = case(attempt(T0), attempt(T0 + 4 * D))
    assert next_retry_at(late) == T0 + 4 * D


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attempts": ()}, "starts with that attempt"),
        ({"attempts": (attempt(T0).model_copy(update={"invoice_id": "inv-2"}),)}, "case's invoice"),
    ],
)
def test_case_is_validated(overrides, message):
    with pytest.raises(ValueError, match=message):
        case(**overrides)


def test_succeeded_attempt_belongs_in_paid_at():
    ok = PaymentAttempt(
        invoice_id="inv-1",
        attempted_at=T0,
        amount=EUR_45,
        payment_method_id="pm_1",
        outcome="succeeded",
    )
    with pytest.raises(ValueError, match="paid_at"):
        case(ok)


def test_case_round_trips_through_a_durable_boundary():
    the_case = case(
        attempt(T0, "lost_card", advice_code="do_not_try_again"), next_renewal_lock_at=T0 + 9 * D
    )
    assert DunningCase.model_validate(the_case.model_dump(mode="json")) == the_case


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts_per_card": 0}, "at least 1"),
        ({"write_off_after": timedelta(days=3)}, "before the end of the grace period"),
    ],
)
def test_rules_are_sane(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DunningRules(**kwargs)


# --- card expiring soon (docs/rules.md#card-expiry) ------------------------------------


@pytest.mark.parametrize(
    ("month", "year", "expires"),
    [(5, 2026, datetime(2026, 6, 1, tzinfo=UTC)), (12, 2026, datetime(2027, 1, 1, tzinfo=UTC))],
)
def test_card_is_valid_through_its_expiry_month(month, year, expires):
    assert card_expires_at(month, year) == expires


def test_expiry_month_must_exist():
    with pytest.raises(ValueError, match=r"1\.\.12"):
        card_expires_at(13, 2026)


# docs/rules.md#card-expiry
@pytest.mark.parametrize(
    ("now", "last_notice_at", "due", "source"),
    [
        (datetime(2026, 4, 30, 23, tzinfo=UTC), None, False, "more than 31 days ahead"),
        (
            datetime(2026, 5, 1, 6, tzinfo=UTC),
            None,
            True,
            "the sweep of the 1st reaches a card expiring at the end of a 31-day month",
        ),
        (
            datetime(2026, 5, 2, tzinfo=UTC),
            None,
            True,
            "Stripe mails one month before expiry, "
            "https://docs.stripe.com/billing/revenue-recovery/customer-emails",
        ),
        (
            datetime(2026, 5, 20, tzinfo=UTC),
            datetime(2026, 5, 3, tzinfo=UTC),
            False,
            "once per expiry",
        ),
        (
            datetime(2026, 5, 20, tzinfo=UTC),
            datetime(2025, 5, 3, tzinfo=UTC),
            True,
            "an old notice was for another card",
        ),
        (
            datetime(2026, 6, 1, tzinfo=UTC),
            None,
            False,
            "expired: the failed-payment ladder takes over",
        ),
    ],
)
def test_card_expiring_soon_notice(now, last_notice_at, due, source):
    assert card_expiry_notice_due(5, 2026, now, last_notice_at) is due, source


# docs/rules.md#card-expiry: the reminder, in the last 10 days before the card expires
@pytest.mark.parametrize(
    ("month", "year", "now", "due", "source"),
    [
        (5, 2026, datetime(2026, 5, 21, 23, tzinfo=UTC), False, "more than 10 days ahead"),
        (
            5,
            2026,
            datetime(2026, 5, 22, 6, tzinfo=UTC),
            True,
            "the sweep of the 22nd, 9 days 18 hours before a 31-day month ends; reminders as "
            + CHARGEBEE_REMINDER,
        ),
        (
            2,
            2027,
            datetime(2027, 2, 22, 6, tzinfo=UTC),
            True,
            "the sweep of the 22nd in February, 6 days 18 hours ahead",
        ),
        (5, 2026, datetime(2026, 6, 1, tzinfo=UTC), False, "expired: the ladder takes over"),
    ],
)
def test_card_expiring_reminder(month, year, now, due, source):
    assert card_expiry_reminder_due(month, year, now) is due, source


# --- properties: the ladder terminates and never suspends before grace -------------------
# (docs/rules.md#write-off, docs/rules.md#grace-then-suspend, docs/rules.md#hard-decline-stop,
# docs/rules.md#per-card-cap)

DECLINES = [*sorted(DECLINE_TABLE), None]


def assert_card_may_be_charged(the_case: DunningCase, now: datetime, rules: DunningRules):
    """A retry never follows a hard decline on this card, nor exceeds the per-card cap."""
    since = the_case.payment_method_changed_at
    on_card = [a for a in the_case.attempts if a.payment_method_id == the_case.payment_method_id]
    assert all(
        classify_decline(a.decline_code, a.failure_code, a.advice_code) == "soft"
        for a in on_card
        if since is None or a.attempted_at >= since
    ), NON_RETRYABLE
    recent = [a for a in on_card if now - rules.attempt_window < a.attempted_at <= now]
    assert len(recent) < rules.max_attempts_per_card, VISA_CAP


events = st.lists(
    st.tuples(
        st.sampled_from(["fail", "new_card", "pay", "customer_tries", "nothing"]),
        st.sampled_from(DECLINES),
        st.sampled_from([None, "do_not_try_again", "try_again_later", "confirm_card_data"]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    first_decline=st.sampled_from(DECLINES),
    lock_in_days=st.one_of(st.none(), st.integers(-3, 90)),
    grace_days=st.integers(0, 30),
    script=events,
)
def test_ladder_terminates_never_suspends_before_grace_and_respects_the_card(
    first_decline, lock_in_days, grace_days, script
):
    rules = DunningRules(grace_period=timedelta(days=grace_days))
    the_case = case(
        attempt(T0, first_decline),
        next_renewal_lock_at=None if lock_in_days is None else T0 + timedelta(days=lock_in_days),
    )
    now = T0
    cards = 1
    script_iter = iter(script)
    for _ in range(200):
        step = next_step(the_case, now, rules)
        assert step.at >= now
        now = step.at
        if step.action == "close":
            break
        event, decline, advice = next(script_iter, ("fail", "insufficient_funds", None))
        update: dict[str, object] = {}
        if step.action == "retry_charge":
            assert_card_may_be_charged(the_case, now, rules)
            if event == "pay":
                update["paid_at"] = now
            else:
                failed = attempt(now, decline, pm=the_case.payment_method_id, advice_code=advice)
                update["attempts"] = (*the_case.attempts, failed)
        elif step.action == "send_payment_failed_notice":
            update["notices_sent"] = the_case.notices_sent + 1
        elif step.action == "turn_off_auto_renew":
            update["auto_renew_off"] = True
        elif step.action == "suspend":
            assert now >= T0 + rules.grace_period
            update["suspended"] = True
        elif step.action == "write_off":
            assert the_case.suspended
            update["written_off"] = True
        elif step.action == "reactivate":
            update["suspended"] = False
        else:
            assert step.action == "restore_auto_renew"
            update["auto_renew_off"] = False
        if event == "customer_tries" and the_case.paid_at is None and "attempts" not in update:
            # The customer pays through the pay link with the card on file, and it fails too.
            mine = attempt(now, decline, pm=the_case.payment_method_id, advice_code=advice)
            update["attempts"] = (*the_case.attempts, mine)
        if event == "new_card" and the_case.paid_at is None and step.action != "retry_charge":
            cards += 1
            update |= {"payment_method_id": f"pm_{cards}", "payment_method_changed_at": now}
        the_case = the_case.model_copy(update=update)
    else:
        pytest.fail("the dunning ladder did not terminate")
    assert the_case.paid_at is not None or the_case.written_off
    if the_case.paid_at is not None:
        assert not the_case.suspended and not the_case.auto_renew_off


OVERDUE = "https://docs.stripe.com/api/events/types#event_types-invoice.overdue"


def test_an_overdue_invoice_on_invoice_terms_is_never_charged_only_told_then_suspended():
    # An invoice the customer was asked to pay by transfer (send_invoice) passed its due
    # date: no decline to read, no card to charge; notices, then grace and suspension.
    case = DunningCase(invoice_id="inv-1", opened_at=T0, payment_method_id="none", overdue=True)
    assert next_retry_at(case) is None, OVERDUE
    first = next_step(case, T0)
    assert (first.action, first.at, first.ask) == ("send_payment_failed_notice", T0, "pay")
    told = case.model_copy(update={"notices_sent": 4})
    assert next_step(told, T0 + D).action == "suspend"
    assert next_step(told, T0 + D).at == T0 + DunningRules().grace_period
