from datetime import UTC, datetime, timedelta

import pytest

from shared.models.subscription import Subscription
from shared.policy.nce import NceRules
from shared.policy.renewal import (
    RenewalContext,
    RenewalRules,
    answer_window,
    confirm_renewal,
    decision_deadline,
    due_reminder,
    next_term,
    outcome_without_answer,
    reminder_schedule,
    renewal_lock_at,
    renewal_writes,
    something_to_decide,
    take_answer,
)

MONTHLY = "docs/rules.md#monthly-reminders: reminders are actionable, not noise"
CADENCE = (
    "docs/rules.md#reminder-cadence: channel cadence 60/35/7 days (Appxite, "
    "https://support.appxite.com/hc/en-us/articles/360011873019--Subscription-Auto-Renewal); "
    "cspflow default 60/30/7"
)
LOCK = (
    "docs/rules.md#renewal-lock: 24 h before term end, a distributor's reading; "
    "cspflow is conservative"
)
NO_WEBHOOK = (
    "https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhook-events: "
    "no renewal event; docs/rules.md#no-renewal-webhook"
)
SCHEDULE = "docs/rules.md#reminder-schedule"
NO_ANSWER = "docs/rules.md#no-answer"

D = timedelta(days=1)
H = timedelta(hours=1)
ANNUAL_END = datetime(2027, 1, 14, tzinfo=UTC)
MONTHLY_END = datetime(2026, 7, 1, tzinfo=UTC)
SCHEDULED = {
    "product": {
        "productId": "CFQ7TTC0LH18",
        "skuId": "0001",
        "availabilityId": "CFQ7TTC0K971",
        "billingCycle": "monthly",
        "termDuration": "P1M",
    },
    "quantity": 3,
}


def sub(term: str = "P1Y", **overrides) -> Subscription:
    end = "2027-01-13T00:00:00Z" if term != "P1M" else "2026-06-30T00:00:00Z"
    start = "2026-01-14T16:57:14Z" if term != "P1M" else "2026-01-31T10:00:00Z"
    data = {
        "id": "s1",
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "quantity": 5,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": term,
        "effectiveStartDate": start,
        "commitmentEndDate": end,
    }
    data.update(overrides)
    return Subscription.model_validate(data)


def test_deadline_is_the_apply_margin_before_the_lock():
    # docs/rules.md#decision-deadline
    assert renewal_lock_at(sub()) == ANNUAL_END - 24 * H
    assert decision_deadline(sub()) == ANNUAL_END - 48 * H


def test_deadline_follows_configured_lock_and_margin():
    rules = RenewalRules(
        apply_margin=timedelta(hours=72), nce=NceRules(renewal_lock=timedelta(hours=48))
    )
    assert decision_deadline(sub(), rules) == ANNUAL_END - 120 * H


# docs/rules.md#reminder-cadence, docs/rules.md#monthly-reminders,
# docs/rules.md#reminder-schedule
@pytest.mark.parametrize(
    ("subscription", "offsets", "source"),
    [
        (sub("P1Y"), (60, 30, 7), CADENCE),
        (sub("P3Y"), (60, 30, 7), CADENCE),
        (
            sub("P1Y", autoRenewEnabled=False),
            (60, 30, 7),
            "reminders whether or not auto-renew is on; docs/rules.md#reminder-cadence",
        ),
        (sub("P1M"), (), MONTHLY + ": a monthly roll-over with nothing to decide"),
        (
            sub("P1M", autoRenewEnabled=False),
            (7,),
            MONTHLY + ": a monthly term that ends is a decision",
        ),
        (
            sub("P1M", scheduledNextTermInstructions=SCHEDULED),
            (7,),
            MONTHLY + ": a scheduled change",
        ),
        (
            sub("P1Y", status="suspended"),
            (),
            "suspended subscriptions are the dunning ladder's business; " + SCHEDULE,
        ),
    ],
)
def test_reminder_offsets_before_the_deadline(subscription, offsets, source):
    schedule = reminder_schedule(subscription, RenewalContext())
    assert tuple(r.before_deadline.days for r in schedule) == offsets, source
    assert all(r.at == r.deadline - r.before_deadline for r in schedule)


# docs/rules.md#monthly-reminders
@pytest.mark.parametrize(
    ("ctx", "reminded", "source"),
    [
        (RenewalContext(), False, MONTHLY),
        (RenewalContext(change_requested=True), True, MONTHLY + ": a requested change"),
        (RenewalContext(spare_seats=2), True, MONTHLY + ": spare seats"),
        (RenewalContext(customer_in_dunning=True), True, MONTHLY + ": the customer in dunning"),
        (RenewalContext(customer_asked=True), True, MONTHLY + ": the customer asked"),
    ],
)
def test_monthly_roll_over_is_reminded_only_when_something_is_to_decide(ctx, reminded, source):
    assert something_to_decide(sub("P1M"), ctx) is reminded, source
    assert bool(reminder_schedule(sub("P1M"), ctx)) is reminded, source


def test_offsets_are_configurable_and_never_before_the_term_start():
    # docs/rules.md#reminder-schedule
    rules = RenewalRules(long_term_offsets=(400 * D, 90 * D), monthly_offsets=(3 * D, 40 * D))
    assert [
        r.before_deadline.days for r in reminder_schedule(sub("P1Y"), RenewalContext(), rules)
    ] == [90]
    monthly = reminder_schedule(sub("P1M"), RenewalContext(customer_asked=True), rules)
    assert [r.before_deadline.days for r in monthly] == [3]


# docs/rules.md#reminder-cadence: the partner's offsets, or the customer's own for its annual
# and three-year terms; a monthly roll-over keeps the partner's monthly cadence.
@pytest.mark.parametrize(
    ("term", "customer_days", "ctx_extra", "expected", "source"),
    [
        ("P1Y", None, {}, [60, 30, 7], "the partner's default: " + CADENCE),
        ("P1Y", (90, 14), {}, [90, 14], "the customer's own offsets: " + CADENCE),
        ("P3Y", (45,), {}, [45], "a three-year term, the customer's: " + CADENCE),
        ("P1Y", (400, 20), {}, [20], "never before the term start: " + SCHEDULE),
        ("P1M", (90, 14), {"customer_asked": True}, [7], "monthly keeps the partner's: " + MONTHLY),
        ("P1M", (90, 14), {}, [], "a monthly roll-over still gets none: " + MONTHLY),
    ],
)
def test_reminder_offsets_per_customer(term, customer_days, ctx_extra, expected, source):
    offsets = None if customer_days is None else tuple(d * D for d in customer_days)
    ctx = RenewalContext(reminder_offsets=offsets, **ctx_extra)
    schedule = reminder_schedule(sub(term), ctx)
    assert sorted((r.before_deadline.days for r in schedule), reverse=True) == expected, source


DEADLINE = ANNUAL_END - 48 * H


# docs/rules.md#reminder-cadence, docs/rules.md#reminder-schedule
@pytest.mark.parametrize(
    ("now", "last_sent_at", "expected_days", "source"),
    [
        (DEADLINE - 61 * D, None, None, "nothing before the first offset; " + NO_WEBHOOK),
        (DEADLINE - 60 * D, None, 60, CADENCE),
        (DEADLINE - 45 * D, DEADLINE - 60 * D, None, "already sent; " + SCHEDULE),
        (DEADLINE - 30 * D, DEADLINE - 60 * D, 30, CADENCE),
        (DEADLINE - 10 * D, None, 30, "a late sweep sends only the latest; " + SCHEDULE),
        (DEADLINE - 1 * D, DEADLINE - 30 * D, 7, CADENCE),
        (DEADLINE, None, None, "none once the deadline has passed; " + SCHEDULE),
    ],
)
def test_due_reminder(now, last_sent_at, expected_days, source):
    reminder = due_reminder(sub(), RenewalContext(), now, last_sent_at)
    assert (reminder.before_deadline.days if reminder else None) == expected_days, source


# docs/rules.md#answer-window
@pytest.mark.parametrize(
    ("now", "window", "source"),
    [
        (DEADLINE - H, "open", "before the deadline; docs/rules.md#decision-deadline"),
        (DEADLINE, "late", "after the deadline, before the lock: applied, past the SLA"),
        (ANNUAL_END - 24 * H, "too_late", LOCK),
    ],
)
def test_answer_window(now, window, source):
    assert answer_window(sub(), now) == window, source


# docs/rules.md#no-answer
@pytest.mark.parametrize(
    ("subscription", "ctx", "action", "source"),
    [
        (sub(), RenewalContext(), "renew", "no answer keeps auto-renew; " + NO_ANSWER),
        (
            sub(scheduledNextTermInstructions=SCHEDULED),
            RenewalContext(),
            "renew_with_changes",
            "scheduled changes apply at renewal; "
            "https://learn.microsoft.com/en-us/partner-center/developer/create-scheduled-changes",
        ),
        (
            sub(),
            RenewalContext(customer_in_dunning=True),
            "turn_off_auto_renew",
            "dunning: partner owes the term after day 7; https://learn.microsoft.com/en-us/"
            "partner-center/customers/new-commerce-cancellation-policy",
        ),
        (
            sub(autoRenewEnabled=False),
            RenewalContext(customer_in_dunning=True),
            "expire",
            "auto-renew already off; " + NO_ANSWER,
        ),
    ],
)
def test_outcome_without_an_answer(subscription, ctx, action, source):
    assert outcome_without_answer(subscription, ctx).action == action, source


# docs/rules.md#next-term
@pytest.mark.parametrize(
    ("subscription", "expected", "source"),
    [
        (
            sub(),
            (True, "CFQ7TTC0LH18:0001:CFQ7TTC0K971:P1Y:monthly", 5, False),
            "no instructions: the current plan renews",
        ),
        (
            sub(term="P1Y", scheduledNextTermInstructions=SCHEDULED),
            (True, "CFQ7TTC0LH18:0001:CFQ7TTC0K971:P1M:monthly", 3, True),
            "scheduledNextTermInstructions: https://learn.microsoft.com/en-us/partner-center/"
            "developer/create-scheduled-changes",
        ),
        (
            sub(autoRenewEnabled=False),
            (False, "CFQ7TTC0LH18:0001:CFQ7TTC0K971:P1Y:monthly", 5, False),
            "auto-renew off: no next term",
        ),
        (
            sub(status="suspended"),
            (False, "CFQ7TTC0LH18:0001:CFQ7TTC0K971:P1Y:monthly", 5, False),
            "suspended: no next term",
        ),
    ],
)
def test_next_term(subscription, expected, source):
    term = next_term(subscription)
    assert (term.renews, term.offer_key, term.quantity, term.scheduled) == expected, source


# Answers after the deadline -------------------------------------------------------------------
ANSWER_DEADLINE = "docs/rules.md#decision-deadline"
WINDOW = (
    "docs/rules.md#cancellation-window: cancel within 7 days of the renewal "
    "(https://learn.microsoft.com/en-us/partner-center/customers/"
    "new-commerce-license-based-cancellations)"
)


@pytest.mark.parametrize(
    ("subscription", "choice", "now", "accepted", "next_action", "source"),
    [
        (sub(), "turn_off_auto_renew", ANNUAL_END - 3 * D, True, None, ANSWER_DEADLINE),
        (sub(), "turn_off_auto_renew", ANNUAL_END - 36 * H, True, None, ANSWER_DEADLINE),
        (sub(), "turn_off_auto_renew", ANNUAL_END - 12 * H, False, "cancel inside", WINDOW),
        (sub(autoRenewEnabled=False), "turn_off_auto_renew", ANNUAL_END - 12 * H, True, None, LOCK),
        (sub(), "renew_with_changes", ANNUAL_END - 12 * H, False, "add seats", LOCK),
        (
            sub(autoRenewEnabled=False),
            "renew_with_changes",
            ANNUAL_END - 12 * H,
            False,
            "add seats",
            LOCK,
        ),
        (sub(), "renew", ANNUAL_END - 12 * H, True, None, LOCK),
        (sub(autoRenewEnabled=False), "renew", ANNUAL_END - 12 * H, False, "buy", LOCK),
    ],
)
def test_an_answer_is_taken_until_the_lock_then_refused_with_the_next_possible_action(
    subscription, choice, now, accepted, next_action, source
):
    answer = take_answer(subscription, choice, now)
    assert answer.accepted is accepted, source
    if next_action is None:
        assert answer.next_action is None
    else:
        assert answer.next_action is not None and answer.next_action.startswith(next_action)


@pytest.mark.parametrize(
    ("subscription", "choice", "next_step", "source"),
    [
        (sub(), "turn_off_auto_renew", "cancel_in_window", WINDOW),
        (sub(), "renew_with_changes", "remove_seats_in_window", WINDOW),
        (sub(autoRenewEnabled=False), "renew_with_changes", "buy_again", LOCK),
        (sub(autoRenewEnabled=False), "renew", "buy_again", LOCK),
        (sub(), "renew", None, LOCK),  # taken: nothing to do
    ],
)
def test_a_refused_answer_names_its_next_step_as_the_customer_is_told_it(
    subscription, choice, next_step, source
):
    assert take_answer(subscription, choice, ANNUAL_END - 12 * H).next_step == next_step, source


def test_a_cancellation_refused_at_the_lock_names_the_end_of_the_new_terms_window():
    answer = take_answer(sub(), "turn_off_auto_renew", ANNUAL_END - 1 * H)
    # renewal processing (24 h) and then 168 h: docs/rules.md#renewal-processing
    assert answer.next_action_until == ANNUAL_END + 24 * H + 168 * H


# Confirmation after the term end ---------------------------------------------------------------
PROCESSING = "docs/rules.md#renewal-processing: up to 24 h after the term end"


def renewed(**overrides) -> Subscription:
    data = {"commitmentEndDate": "2028-01-13T00:00:00Z", **overrides}
    return sub(**data)


@pytest.mark.parametrize(
    ("decision", "read", "now", "settled", "outcome", "against"),
    [
        ("renew", renewed(), ANNUAL_END + 2 * H, True, "renewed", False),
        (None, renewed(), ANNUAL_END + 2 * H, True, "renewed", False),
        ("renew_with_changes", renewed(quantity=3), ANNUAL_END + 2 * H, True, "changed", False),
        ("renew", renewed(quantity=3), ANNUAL_END + 2 * H, True, "changed", False),
        ("turn_off_auto_renew", renewed(), ANNUAL_END + 2 * H, True, "renewed", True),
        ("expire", renewed(), ANNUAL_END + 2 * H, True, "renewed", True),
        (
            "turn_off_auto_renew",
            sub(status="expired"),
            ANNUAL_END + 2 * H,
            True,
            "cancelled",
            False,
        ),
        ("expire", sub(status="expired"), ANNUAL_END + 2 * H, True, "lapsed", False),
        ("renew", sub(status="expired"), ANNUAL_END + 2 * H, True, "lapsed", True),
        ("renew", sub(), ANNUAL_END + 2 * H, False, None, False),
        (
            "turn_off_auto_renew",
            sub(autoRenewEnabled=False),
            ANNUAL_END + 2 * H,
            False,
            None,
            False,
        ),
        (
            "turn_off_auto_renew",
            sub(autoRenewEnabled=False),
            ANNUAL_END + 25 * H,
            True,
            "cancelled",
            False,
        ),
    ],
)
def test_the_outcome_is_read_from_partner_centers_copy_after_the_term_end(
    decision, read, now, settled, outcome, against
):
    before = next_term(sub())
    seen = confirm_renewal(ANNUAL_END, before, decision, read, now)
    assert (seen.settled, seen.outcome, seen.against_decision) == (settled, outcome, against), (
        PROCESSING
    )


# What applying a decision writes ----------------------------------------------------------------
def scheduled(quantity: int = 3) -> dict[str, object]:
    return {**SCHEDULED, "quantity": quantity}


CHANGED = next_term(sub(scheduledNextTermInstructions=scheduled(3)))


@pytest.mark.parametrize(
    ("subscription", "decision", "wanted", "now", "expected", "source"),
    [
        (
            sub(),
            "turn_off_auto_renew",
            next_term(sub()),
            ANNUAL_END - 3 * D,
            (True, False, None),
            "docs/rules.md#cancel",
        ),
        (
            sub(autoRenewEnabled=False),
            "expire",
            next_term(sub()),
            ANNUAL_END - 3 * D,
            (True, None, None),
            "docs/rules.md#cancel",
        ),
        (
            sub(),
            "renew_with_changes",
            CHANGED,
            ANNUAL_END - 3 * D,
            (True, None, CHANGED),
            "docs/rules.md#scheduled-changes-dropped",
        ),
        (
            sub(scheduledNextTermInstructions=scheduled(3)),
            "renew_with_changes",
            CHANGED,
            ANNUAL_END - 3 * D,
            (True, None, None),
            "docs/rules.md#scheduled-changes-dropped",
        ),
        (
            sub(scheduledNextTermInstructions=scheduled(4)),
            "renew_with_changes",
            CHANGED,
            ANNUAL_END - 3 * D,
            (True, None, CHANGED),
            "docs/rules.md#scheduled-changes-dropped",
        ),
        (
            sub(autoRenewEnabled=False),
            "renew",
            next_term(sub()),
            ANNUAL_END - 3 * D,
            (True, True, None),
            "docs/rules.md#auto-renew",
        ),
        (
            sub(),
            "renew",
            next_term(sub()),
            ANNUAL_END - 3 * D,
            (True, None, None),
            "docs/rules.md#auto-renew",
        ),
        (
            sub(),
            "turn_off_auto_renew",
            next_term(sub()),
            ANNUAL_END - 12 * H,
            (False, None, None),
            LOCK,
        ),
    ],
)
def test_applying_a_decision_writes_only_what_partner_center_does_not_hold_yet(
    subscription, decision, wanted, now, expected, source
):
    writes = renewal_writes(subscription, decision, wanted, now)
    assert (writes.possible, writes.auto_renew, writes.schedule) == expected, source
