from datetime import UTC, datetime, timedelta

import pytest

from shared.models.catalog import Offer
from shared.models.subscription import SeatBatch, Subscription
from shared.policy.nce import (
    NceRules,
    cancellation_window_end,
    decide_auto_renew,
    decide_cancel,
    decide_quantity,
    decide_resume,
    decide_scheduled_quantity,
    decide_sku_change,
    decide_suspend,
    refundable_seats,
    renewal_phase,
)

# Sources: the Microsoft Learn pages behind docs/rules.md, section "NCE changes" (each table
# below names the rule it checks; each row its page).
MANAGE = "https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription"
CANCEL_POLICY = (
    "https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy"
)
LIFECYCLE = "https://learn.microsoft.com/partner-center/subscription-lifecycle"
QTY_API = (
    "https://learn.microsoft.com/en-us/partner-center/developer/"
    "change-the-quantity-of-a-subscription"
)
SCHED_API = "https://learn.microsoft.com/en-us/partner-center/developer/create-scheduled-changes"
TRANSITION_API = (
    "https://learn.microsoft.com/en-us/partner-center/developer/"
    "transition-a-new-commerce-subscription"
)
AUTORENEW_API = (
    "https://learn.microsoft.com/en-us/partner-center/developer/"
    "update-autorenew-for-an-azure-marketplace-subscription"
)
ERROR_CODES = "https://learn.microsoft.com/en-us/partner-center/developer/error-codes"
DATES_WIN = "Partner Center's own dates win; docs/rules.md#partner-center-dates-win"
LOCK = (
    "docs/rules.md#renewal-lock: a distributor's reading, not on Microsoft Learn; "
    "cspflow is conservative"
)

PURCHASED = datetime(2026, 1, 14, 16, 57, 14, tzinfo=UTC)
TERM_END = datetime(2027, 1, 14, tzinfo=UTC)  # commitmentEndDate 2027-01-13, inclusive
H = timedelta(hours=1)
D = timedelta(days=1)


def sub(**overrides) -> Subscription:
    data = {
        "id": "a4c1340d-6911-4758-bba3-0c4c6007d161",
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "quantity": 15,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "effectiveStartDate": PURCHASED.isoformat(),
        "commitmentEndDate": "2027-01-13T00:00:00Z",
    }
    data.update(overrides)
    return Subscription.model_validate(data)


def refundable(*batches: tuple[int, datetime]) -> dict[str, object]:
    return {
        "totalQuantity": sum(q for q, _ in batches),
        "details": [{"quantity": q, "allowedUntilDateTime": t.isoformat()} for q, t in batches],
    }


# --- the window --------------------------------------------------------------------------


# docs/rules.md#cancellation-window, docs/rules.md#partner-center-dates-win
@pytest.mark.parametrize(
    ("subscription", "expected", "source"),
    [
        (sub(), PURCHASED + 168 * H, "fallback: purchase + 168 h; " + CANCEL_POLICY),
        (
            sub(cancellationAllowedUntilDate="2026-01-21T12:00:00Z"),
            datetime(2026, 1, 21, 12, tzinfo=UTC),
            "cancellationAllowedUntilDate; " + DATES_WIN,
        ),
        (
            sub(effectiveStartDate="2025-01-14T16:57:14Z"),
            datetime(2026, 1, 14, tzinfo=UTC) + 168 * H,
            "a renewal opens a new 7-day window; " + MANAGE,
        ),
    ],
)
def test_cancellation_window_end(subscription, expected, source):
    assert cancellation_window_end(subscription) == expected, source


# docs/rules.md#seat-windows, docs/rules.md#partner-center-dates-win
@pytest.mark.parametrize(
    ("subscription", "batches", "now", "seats", "source"),
    [
        (sub(), (), PURCHASED + 167 * H, 15, "whole purchase inside 168 h; " + CANCEL_POLICY),
        (sub(), (), PURCHASED + 168 * H, 0, "window closed at 168 h; " + CANCEL_POLICY),
        (
            sub(),
            (
                SeatBatch(quantity=10, added_at=PURCHASED),
                SeatBatch(quantity=5, added_at=PURCHASED + 30 * D),
            ),
            PURCHASED + 32 * D,
            5,
            "each added seat batch has its own window; " + MANAGE,
        ),
        (
            sub(refundableQuantity=refundable((10, PURCHASED + 7 * D), (3, PURCHASED + 40 * D))),
            (SeatBatch(quantity=15, added_at=PURCHASED + 30 * D),),
            PURCHASED + 35 * D,
            3,
            "refundableQuantity.details win; " + QTY_API,
        ),
        (
            sub(refundableQuantity={"totalQuantity": 4, "details": []}),
            (),
            PURCHASED + 2 * D,
            4,
            "refundableQuantity without details: total inside the window; " + QTY_API,
        ),
        (
            sub(refundableQuantity={"totalQuantity": 4, "details": []}),
            (),
            PURCHASED + 8 * D,
            0,
            "refundableQuantity without details: nothing after the window; " + QTY_API,
        ),
        (
            sub(quantity=2, refundableQuantity=refundable((10, PURCHASED + 7 * D))),
            (),
            PURCHASED,
            2,
            "never more than the subscription has; " + DATES_WIN,
        ),
    ],
)
def test_refundable_seats(subscription, batches, now, seats, source):
    assert refundable_seats(subscription, now, batches) == seats, source


# docs/rules.md#renewal-lock, docs/rules.md#renewal-processing, docs/rules.md#stale-copy
@pytest.mark.parametrize(
    ("now", "phase", "source"),
    [
        (TERM_END - 25 * H, "open", LOCK),
        (TERM_END - 24 * H, "locked", LOCK),
        (TERM_END - timedelta(seconds=1), "locked", LOCK),
        (TERM_END, "renewing", "renewal starts 00:00 UTC after the end date; " + MANAGE),
        (TERM_END + 23 * H, "renewing", "processing can take up to 24 h; " + MANAGE),
        (TERM_END + 24 * H, "ended", "past processing: stale copy; docs/rules.md#stale-copy"),
    ],
)
def test_renewal_phase(now, phase, source):
    assert renewal_phase(sub(), now) == phase, source


def test_rules_are_configurable():
    rules = NceRules(cancellation_window=timedelta(hours=72), renewal_lock=timedelta(hours=48))
    assert cancellation_window_end(sub(), rules) == PURCHASED + 72 * H
    assert renewal_phase(sub(), TERM_END - 47 * H, rules) == "locked"


# --- quantity ----------------------------------------------------------------------------

DAY_3 = PURCHASED + 3 * D
DAY_8 = PURCHASED + 8 * D
MID_TERM = datetime(2026, 6, 1, tzinfo=UTC)
IN_LOCK = TERM_END - 2 * H
RENEWING = TERM_END + 2 * H


# docs/rules.md#add-seats, docs/rules.md#remove-seats
@pytest.mark.parametrize(
    ("subscription", "new_quantity", "now", "action", "now_qty", "renewal_qty", "source"),
    [
        (sub(), 20, MID_TERM, "apply_now", 20, None, "increase any time, prorated; " + MANAGE),
        (sub(), 20, IN_LOCK, "apply_now", 20, None, "increase any time, prorated; " + MANAGE),
        (sub(), 10, DAY_3, "apply_now", 10, None, "decrease inside 168 h; " + CANCEL_POLICY),
        (sub(), 10, DAY_8, "schedule_for_renewal", None, 10, "after the window; " + SCHED_API),
        (sub(), 10, MID_TERM, "schedule_for_renewal", None, 10, "after the window; " + SCHED_API),
        (
            sub(refundableQuantity=refundable((3, MID_TERM + D))),
            10,
            MID_TERM,
            "apply_now_and_schedule",
            12,
            10,
            "refundable seats now, the rest at renewal; " + QTY_API,
        ),
        (
            sub(refundableQuantity=refundable((5, MID_TERM + D))),
            10,
            MID_TERM,
            "apply_now",
            10,
            None,
            "a mid-term batch is removable inside its own window; " + MANAGE,
        ),
        (sub(), 10, IN_LOCK, "wait", None, None, "renewal lock: after renewal; " + LOCK),
        (sub(), 20, RENEWING, "wait", None, None, "409 while renewal queued; " + MANAGE),
        (
            sub(autoRenewEnabled=False),
            10,
            MID_TERM,
            "refuse",
            None,
            None,
            "scheduling needs auto-renew; " + SCHED_API,
        ),
        (
            sub(status="suspended"),
            20,
            MID_TERM,
            "refuse",
            None,
            None,
            "no quantity change while suspended (error 2001); " + ERROR_CODES,
        ),
        (sub(), 15, MID_TERM, "no_change", None, None, "same quantity; docs/rules.md#remove-seats"),
        (sub(), 0, DAY_3, "refuse", None, None, "zero is a cancel; docs/rules.md#remove-seats"),
    ],
)
def test_quantity_change(subscription, new_quantity, now, action, now_qty, renewal_qty, source):
    decision = decide_quantity(subscription, new_quantity, now)
    assert decision.action == action, source
    assert decision.quantity_now == now_qty
    assert decision.quantity_at_renewal == renewal_qty
    assert decision.prorated == (now_qty is not None)


def test_decrease_on_day_8_is_refused_for_now_and_scheduled():
    decision = decide_quantity(sub(), 10, DAY_8)
    assert decision.action == "schedule_for_renewal"
    assert "168 h" in decision.reason


def test_a_stale_copy_of_an_ended_term_is_not_acted_on():
    decision = decide_quantity(sub(), 20, TERM_END + 30 * H)
    assert decision.action == "refuse" and "read the subscription" in decision.reason


def test_waiting_out_the_lock_retries_after_renewal_processing():
    assert decide_quantity(sub(), 10, IN_LOCK).retry_at == TERM_END + 24 * H
    assert decide_quantity(sub(), 20, RENEWING).retry_at == TERM_END + 24 * H


def test_a_far_future_term_end_does_not_reopen_the_window():
    # Items that do not renew carry commitmentEndDate 9999-12-10 (docs/rules.md#no-term-end).
    never_renews = sub(commitmentEndDate="9999-12-10T00:00:00Z", autoRenewEnabled=False)
    assert decide_quantity(never_renews, 10, MID_TERM).action == "refuse"
    assert decide_cancel(never_renews, MID_TERM).action == "no_change"


def test_recorded_seat_batches_are_the_fallback_window():
    # docs/rules.md#partner-center-dates-win: without refundableQuantity, cspflow's batches.
    batches = (SeatBatch(quantity=15, added_at=PURCHASED), SeatBatch(quantity=5, added_at=MID_TERM))
    decision = decide_quantity(sub(quantity=20), 15, MID_TERM + 2 * D, batches)
    assert decision.action == "apply_now"


# --- cancel ------------------------------------------------------------------------------


# docs/rules.md#cancel
@pytest.mark.parametrize(
    ("subscription", "now", "action", "source"),
    [
        (sub(), DAY_3, "apply_now", "cancel inside 7 days, prorated refund; " + CANCEL_POLICY),
        (
            sub(status="suspended"),
            DAY_3,
            "apply_now",
            "suspended can cancel in window; " + LIFECYCLE,
        ),
        (
            sub(),
            DAY_8,
            "schedule_for_renewal",
            "after the window: auto-renew off; " + CANCEL_POLICY,
        ),
        (
            sub(autoRenewEnabled=False),
            DAY_8,
            "no_change",
            "already ends at term end; docs/rules.md#cancel",
        ),
        (sub(), IN_LOCK, "wait", "too late for this renewal; " + LOCK),
        (sub(), RENEWING, "wait", "renewal processing; " + MANAGE),
        (sub(status="deleted"), DAY_3, "no_change", "already cancelled; docs/rules.md#cancel"),
        (sub(status="expired"), DAY_3, "refuse", "expired cannot be cancelled; " + LIFECYCLE),
        (
            sub(cancellationAllowedUntilDate=(DAY_8 + H).isoformat()),
            DAY_8,
            "apply_now",
            "cancellationAllowedUntilDate; " + DATES_WIN,
        ),
    ],
)
def test_cancel(subscription, now, action, source):
    assert decide_cancel(subscription, now).action == action, source


# --- SKU change ----------------------------------------------------------------------------


def offer(
    rank: int, family: str = "m365-business", term: str = "P1Y", item: str | None = None
) -> Offer:
    return Offer.model_validate(
        {
            "catalog_item_id": item or f"CFQ7TTC0LH1{rank}:0001:CFQ7TTC0K971",
            "country": "US",
            "name": f"rank {rank}",
            "term_duration": term,
            "billing_cycle": "monthly",
            "unit_cost": {"amount_minor": 600 * rank, "currency": "USD"},
            "unit_price": {"amount_minor": 700 * rank, "currency": "USD"},
            "family": family,
            "rank": rank,
        }
    )


# docs/rules.md#upgrade, docs/rules.md#downgrade
@pytest.mark.parametrize(
    ("subscription", "current", "target", "now", "action", "source"),
    [
        (sub(), offer(1), offer(2), MID_TERM, "apply_now", "upgrades any time; " + MANAGE),
        (
            sub(),
            offer(1),
            offer(2, term="P3Y"),
            MID_TERM,
            "apply_now",
            "longer term is fine; " + MANAGE,
        ),
        (
            sub(),
            offer(1),
            offer(2, term="P1M"),
            MID_TERM,
            "refuse",
            "target term >= source; " + TRANSITION_API,
        ),
        (
            sub(),
            offer(2),
            offer(1),
            MID_TERM,
            "schedule_for_renewal",
            "downgrades only at renewal; " + MANAGE,
        ),
        (sub(), offer(2), offer(1), IN_LOCK, "wait", "lock: schedule for the term after; " + LOCK),
        (
            sub(autoRenewEnabled=False),
            offer(2),
            offer(1),
            MID_TERM,
            "refuse",
            "scheduling needs auto-renew; " + SCHED_API,
        ),
        (sub(), offer(1), offer(2), RENEWING, "wait", "renewal processing; " + MANAGE),
        (
            sub(status="suspended"),
            offer(1),
            offer(2),
            MID_TERM,
            "refuse",
            "upgrades only from active; " + MANAGE,
        ),
        (
            sub(),
            offer(1),
            offer(2, family="dynamics"),
            MID_TERM,
            "refuse",
            "no cross-family transition; docs/rules.md#upgrade",
        ),
        (
            sub(),
            offer(1),
            offer(1, item="CFQ7TTC0LH99:0001:CFQ7TTC0K971"),
            MID_TERM,
            "refuse",
            "same rank is not an upgrade; docs/rules.md#upgrade",
        ),
        (sub(), offer(1), offer(1), MID_TERM, "no_change", "same offer; docs/rules.md#upgrade"),
    ],
)
def test_sku_change(subscription, current, target, now, action, source):
    assert decide_sku_change(subscription, current, target, now).action == action, source


# --- suspend / resume / auto-renew -------------------------------------------------------


# docs/rules.md#suspend
@pytest.mark.parametrize(
    ("subscription", "now", "action", "source"),
    [
        (sub(), MID_TERM, "apply_now", "suspend blocks access, billing continues; " + LIFECYCLE),
        (sub(status="suspended"), MID_TERM, "no_change", "already suspended; " + LIFECYCLE),
        (sub(status="deleted"), MID_TERM, "refuse", "deleted cannot be suspended; " + LIFECYCLE),
        (sub(), RENEWING, "wait", "suspend is read-only while renewal queued; " + MANAGE),
    ],
)
def test_suspend(subscription, now, action, source):
    assert decide_suspend(subscription, now).action == action, source


# docs/rules.md#reactivate
@pytest.mark.parametrize(
    ("subscription", "now", "action", "source"),
    [
        (
            sub(status="suspended"),
            MID_TERM,
            "apply_now",
            "reactivate any time before term end; " + LIFECYCLE,
        ),
        (
            sub(status="suspended"),
            TERM_END,
            "refuse",
            "suspended at term end is disabled; " + LIFECYCLE,
        ),
        (sub(), MID_TERM, "no_change", "already active; docs/rules.md#reactivate"),
        (
            sub(status="disabled"),
            MID_TERM,
            "refuse",
            "disabled cannot be reactivated; " + LIFECYCLE,
        ),
    ],
)
def test_resume(subscription, now, action, source):
    assert decide_resume(subscription, now).action == action, source


def test_resume_reminds_that_suspension_turned_auto_renew_off():
    assert "autoRenewEnabled" in decide_resume(sub(status="suspended"), MID_TERM).reason


# docs/rules.md#auto-renew
@pytest.mark.parametrize(
    ("subscription", "enabled", "now", "action", "source"),
    [
        (
            sub(),
            False,
            MID_TERM,
            "apply_now",
            "auto-renew can be turned off; " + AUTORENEW_API,
        ),
        (sub(autoRenewEnabled=False), True, MID_TERM, "apply_now", "and on; " + AUTORENEW_API),
        (sub(), True, MID_TERM, "no_change", "already on; docs/rules.md#auto-renew"),
        (sub(), False, IN_LOCK, "refuse", "renewal settings locked in the last 24 h; " + LOCK),
        (sub(), False, RENEWING, "wait", "auto-renew is read-only while renewal queued; " + MANAGE),
        (
            sub(status="suspended", autoRenewEnabled=False),
            True,
            MID_TERM,
            "refuse",
            "reactivate first; " + LIFECYCLE,
        ),
    ],
)
def test_auto_renew(subscription, enabled, now, action, source):
    assert decide_auto_renew(subscription, enabled, now).action == action, source


# --- a mid-term change deletes what was scheduled for renewal ------------------------------

SCHEDULED_CHANGES = (
    SCHED_API + ": a mid-term (immediate) change deletes all scheduled changes; "
    "docs/rules.md#scheduled-changes-dropped"
)
WITH_SCHEDULE = {
    "scheduledNextTermInstructions": {
        "product": {
            "productId": "CFQ7TTC0LH18",
            "skuId": "0001",
            "availabilityId": "CFQ7TTC0K971",
            "billingCycle": "Monthly",
            "termDuration": "P1Y",
        },
        "quantity": 12,
    }
}


# docs/rules.md#scheduled-changes-dropped
@pytest.mark.parametrize(
    ("decide", "drops", "source"),
    [
        (lambda s: decide_quantity(s, 20, MID_TERM), True, "seat increase; " + SCHEDULED_CHANGES),
        (lambda s: decide_quantity(s, 10, DAY_3), True, "refund inside the window"),
        (
            lambda s: decide_quantity(
                sub(**WITH_SCHEDULE, refundableQuantity=refundable((3, MID_TERM + D))),
                10,
                MID_TERM,
            ),
            True,
            "refundable seats removed now",
        ),
        (lambda s: decide_sku_change(s, offer(1), offer(2), MID_TERM), True, "mid-term upgrade"),
        (lambda s: decide_suspend(s, MID_TERM), True, "suspension; " + LIFECYCLE),
        (lambda s: decide_auto_renew(s, False, MID_TERM), True, "auto-renew off; " + MANAGE),
        (lambda s: decide_quantity(s, 10, MID_TERM), False, "scheduling is not a mid-term change"),
        (
            lambda s: decide_sku_change(s, offer(2), offer(1), MID_TERM),
            False,
            "downgrade at renewal",
        ),
    ],
)
def test_a_mid_term_change_warns_that_scheduled_changes_are_dropped(decide, drops, source):
    assert decide(sub(**WITH_SCHEDULE)).drops_scheduled_changes is drops, source


def test_nothing_is_dropped_when_nothing_is_scheduled():
    assert not decide_quantity(sub(), 20, MID_TERM).drops_scheduled_changes
    assert not decide_auto_renew(
        sub(autoRenewEnabled=False), True, MID_TERM
    ).drops_scheduled_changes


# --- a quantity for the next term ------------------------------------------------------------


# docs/rules.md#remove-seats (scheduledNextTermInstructions), docs/rules.md#renewal-lock
@pytest.mark.parametrize(
    ("subscription", "quantity", "now", "action", "rule", "source"),
    [
        (sub(), 10, MID_TERM, "schedule_for_renewal", "remove-seats", "scheduled; " + SCHED_API),
        (sub(), 20, DAY_3, "schedule_for_renewal", "remove-seats", "any quantity; " + SCHED_API),
        (sub(), 0, MID_TERM, "refuse", "remove-seats", "a term of no seats is auto-renew off"),
        (
            sub(status="suspended"),
            10,
            MID_TERM,
            "refuse",
            "remove-seats",
            "only active subscriptions; " + SCHED_API,
        ),
        (
            sub(autoRenewEnabled=False),
            10,
            MID_TERM,
            "refuse",
            "remove-seats",
            "only with auto-renew on; " + SCHED_API,
        ),
        (sub(), 10, IN_LOCK, "wait", "renewal-lock", "too late for this renewal; " + LOCK),
        (sub(), 10, RENEWING, "wait", "renewal-processing", "renewal queued; " + MANAGE),
    ],
)
def test_scheduled_quantity(subscription, quantity, now, action, rule, source):
    decision = decide_scheduled_quantity(subscription, quantity, now)
    assert (decision.action, decision.rule) == (action, rule), source
    assert decision.quantity_at_renewal == (quantity if action == "schedule_for_renewal" else None)
    assert not decision.drops_scheduled_changes  # docs/rules.md#scheduled-changes-dropped


def test_every_decision_names_a_rule_of_docs_rules_md():
    """Each Decision carries the anchor of the rule that made it (the API shows it)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "rules.md").read_text()
    headings = set(re.findall(r"^### ([a-z0-9-]+)$", text, re.MULTILINE))
    subs = [
        sub(),
        sub(autoRenewEnabled=False),
        sub(status="suspended"),
        sub(status="deleted"),
        sub(status="expired"),
        sub(**WITH_SCHEDULE),
        sub(refundableQuantity=refundable((3, MID_TERM + D))),
    ]
    rules = set()
    for s in subs:
        for now in (DAY_3, DAY_8, MID_TERM, IN_LOCK, RENEWING, TERM_END + 30 * H):
            decisions = [
                *(decide_quantity(s, q, now) for q in (0, 1, 10, 15, 20)),
                *(decide_scheduled_quantity(s, q, now) for q in (0, 10)),
                decide_cancel(s, now),
                decide_suspend(s, now),
                decide_resume(s, now),
                decide_auto_renew(s, True, now),
                decide_auto_renew(s, False, now),
                *(
                    decide_sku_change(s, offer(a), offer(b, term=t), now)
                    for a in (1, 2)
                    for b in (1, 2)
                    for t in ("P1M", "P1Y")
                ),
                decide_sku_change(s, offer(1), offer(2, family="dynamics"), now),
            ]
            rules |= {d.rule for d in decisions}
    assert rules <= headings, rules - headings
    assert len(rules) == 13  # every anchor the NCE rules use
