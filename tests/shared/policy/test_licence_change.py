"""A licence change request as a plan: docs/rules.md sections "NCE changes", "Proration" and
"Licence changes"; each row names its source."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.models import Money
from shared.models.subscription import SeatBatch, Subscription
from shared.policy.licence_change import (
    ApprovalThresholds,
    Plan,
    approval_needed,
    intake_refusal,
    next_term_quantity,
    plan_auto_renew,
    plan_cancel,
    plan_quantity,
    prorated_amount,
    removal_sentence,
)

MANAGE = "https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription"
CANCEL_POLICY = (
    "https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy"
)
QTY_API = (
    "https://learn.microsoft.com/en-us/partner-center/developer/"
    "change-the-quantity-of-a-subscription"
)
SCHED_API = "https://learn.microsoft.com/en-us/partner-center/developer/create-scheduled-changes"
AUTORENEW_API = (
    "https://learn.microsoft.com/en-us/partner-center/developer/"
    "update-autorenew-for-an-azure-marketplace-subscription"
)
OURS = "cspflow's reading: docs/rules.md#relative-quantity"

BOUGHT = datetime(2026, 11, 3, 14, 2, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
PRICE = Money(amount_minor=3000, currency="USD")  # per seat per month


def sub(**overrides: object) -> Subscription:
    data: dict[str, object] = {
        "id": "sub-1",
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "quantity": 10,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "effectiveStartDate": BOUGHT.isoformat(),
        "commitmentEndDate": "2027-11-02T00:00:00Z",
        "cancellationAllowedUntilDate": (BOUGHT + 168 * H).isoformat(),
        "refundableQuantity": {
            "totalQuantity": 10,
            "details": [{"quantity": 10, "allowedUntilDateTime": (BOUGHT + 168 * H).isoformat()}],
        },
    }
    data.update(overrides)
    return Subscription.model_validate(data)


def months_ago_plus_yesterday() -> Subscription:
    """Bought months ago with 5 seats; 5 more added yesterday (only those are refundable)."""
    added = datetime(2027, 3, 9, 10, tzinfo=UTC)
    return sub(
        effectiveStartDate=BOUGHT.isoformat(),
        cancellationAllowedUntilDate=(BOUGHT + 168 * H).isoformat(),
        refundableQuantity={
            "totalQuantity": 5,
            "details": [{"quantity": 5, "allowedUntilDateTime": (added + 168 * H).isoformat()}],
        },
    )


YESTERDAY_PLUS_ONE = datetime(2027, 3, 10, 10, tzinfo=UTC)


# docs/rules.md#add-seats, #seat-windows, #remove-seats, #relative-quantity
@pytest.mark.parametrize(
    ("subscription", "now", "ask", "step", "now_q", "renewal_q", "source"),
    [
        (sub(), BOUGHT + 1 * D, {"quantity": 12}, "charge_then_patch", 12, None, MANAGE),
        (sub(), BOUGHT + 3 * D, {"quantity": 8}, "patch_then_credit", 8, None, QTY_API),
        (sub(), BOUGHT + 9 * D, {"quantity": 8}, "schedule", None, 8, SCHED_API),
        (sub(), BOUGHT + 9 * D, {"change_by": -1}, "schedule", None, 9, OURS),
        (
            months_ago_plus_yesterday(),
            YESTERDAY_PLUS_ONE,
            {"quantity": 5},
            "patch_then_credit",
            5,
            None,
            QTY_API + " (refundableQuantity.details: only yesterday's seats)",
        ),
        (
            months_ago_plus_yesterday(),
            YESTERDAY_PLUS_ONE,
            {"quantity": 3},
            "patch_credit_and_schedule",
            5,
            3,
            QTY_API + "; " + SCHED_API,
        ),
        (sub(), BOUGHT + 1 * D, {"quantity": 10}, "no_change", None, None, MANAGE),
        (sub(status="suspended"), BOUGHT + 1 * D, {"quantity": 12}, "refuse", None, None, MANAGE),
        (
            sub(autoRenewEnabled=False),
            BOUGHT + 9 * D,
            {"change_by": -1},
            "refuse",
            None,
            None,
            SCHED_API + " (needs auto-renew on)",
        ),
        (
            sub(),
            datetime(2027, 11, 3, 1, tzinfo=UTC),
            {"quantity": 12},
            "hold",
            None,
            None,
            MANAGE + " (renewal processing)",
        ),
    ],
)
def test_a_quantity_change_becomes_its_plan(subscription, now, ask, step, now_q, renewal_q, source):
    plan = plan_quantity(subscription, now, **ask)
    assert (plan.step, plan.quantity_now, plan.quantity_at_renewal) == (step, now_q, renewal_q), (
        source
    )


def test_one_seat_fewer_each_time_takes_one_more_seat_off_the_next_term():
    # OURS: against what is already scheduled, never the same seat twice.
    scheduled = sub(
        quantity=5,
        refundableQuantity={"totalQuantity": 0, "details": []},
        scheduledNextTermInstructions={
            "product": {
                "productId": "CFQ7TTC0LH18",
                "skuId": "0001",
                "availabilityId": "CFQ7TTC0K971",
                "billingCycle": "monthly",
                "termDuration": "P1Y",
            },
            "quantity": 2,
        },
    )
    assert next_term_quantity(scheduled) == 2
    plan = plan_quantity(scheduled, BOUGHT + 9 * D, change_by=-1)
    assert (plan.step, plan.quantity_at_renewal) == ("schedule", 1)
    last = sub(quantity=5, refundableQuantity={"totalQuantity": 0, "details": []})
    last = last.model_copy(
        update={
            "scheduled_next_term_instructions": scheduled.scheduled_next_term_instructions.model_copy(  # type: ignore[union-attr]
                update={"quantity": 1}
            )
        }
    )
    assert plan_quantity(last, BOUGHT + 9 * D, change_by=-1).step == "refuse"


def test_a_scheduled_relative_change_inside_the_lock_is_held_until_the_renewal():
    inside_lock = datetime(2027, 11, 2, 12, tzinfo=UTC)  # the last 24 h of the term
    plan = plan_quantity(sub(quantity=10), inside_lock, quantity=12)
    assert plan.step == "charge_then_patch"  # seats can still be added inside the lock
    held = plan_quantity(sub(), inside_lock, change_by=-1)
    assert (held.step, held.rule) == ("hold", "renewal-lock")


def test_a_quantity_change_names_its_target():
    with pytest.raises(ValueError, match="quantity or change_by"):
        plan_quantity(sub(), BOUGHT)


def test_the_reason_says_which_seats_can_be_removed_until_when():
    # https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources
    assert removal_sentence(sub(), BOUGHT + 1 * D) == (
        "10 seats added on 3 Nov 2026 can be removed until 10 Nov 2026 14:02 UTC"
    )
    assert removal_sentence(sub(), BOUGHT + 9 * D) == (
        "no seats can be removed for a refund now: the last window closed on 10 Nov 2026 "
        "14:02 UTC; the change takes effect when the next term starts on 3 Nov 2027"
    )
    batches = (SeatBatch(quantity=2, added_at=BOUGHT),)
    bare = sub(refundableQuantity=None)
    assert removal_sentence(bare, BOUGHT + D, batches).startswith("2 seats added on 3 Nov 2026")
    one = sub(refundableQuantity=None, quantity=1)
    assert removal_sentence(one, BOUGHT + D) == (
        "1 seat added on 3 Nov 2026 can be removed until 10 Nov 2026 14:02 UTC"
    )


# docs/rules.md#cancel, #cancellation-window
@pytest.mark.parametrize(
    ("now", "step", "rule", "source"),
    [
        (BOUGHT + 2 * D, "cancel_then_refund", "cancellation-window", CANCEL_POLICY),
        (BOUGHT + 10 * D, "refuse", "cancel", CANCEL_POLICY + " (auto-renew off instead)"),
        (datetime(2027, 11, 3, 1, tzinfo=UTC), "hold", "renewal-processing", MANAGE),
    ],
)
def test_a_cancellation_becomes_its_plan(now, step, rule, source):
    plan = plan_cancel(sub(), now)
    assert (plan.step, plan.rule) == (step, rule), source


def test_a_cancellation_of_a_subscription_already_ending_changes_nothing():
    assert plan_cancel(sub(status="deleted"), BOUGHT).step == "no_change"


# docs/rules.md#auto-renew, #renewal-lock
@pytest.mark.parametrize(
    ("subscription", "enabled", "now", "step", "source"),
    [
        (sub(), False, BOUGHT + 30 * D, "set_auto_renew", AUTORENEW_API),
        (sub(), True, BOUGHT + 30 * D, "no_change", AUTORENEW_API),
        (sub(), False, datetime(2027, 11, 2, 12, tzinfo=UTC), "hold", "docs/rules.md#renewal-lock"),
        (sub(status="suspended"), False, BOUGHT, "refuse", AUTORENEW_API),
    ],
)
def test_an_auto_renew_change_becomes_its_plan(subscription, enabled, now, step, source):
    assert plan_auto_renew(subscription, enabled, now).step == step, source


def test_the_charge_is_the_rest_of_the_billing_period_rounded_once():
    # docs/rules.md#seat-increase-charge: day 3 of a 30-day month: 28 of 30 days, 2 seats.
    charge = prorated_amount(PRICE, sub(), BOUGHT + 2 * D, 2)
    assert charge == Money(amount_minor=5600, currency="USD")


@pytest.mark.parametrize(
    ("plan", "kind", "amount", "thresholds", "why"),
    [
        (Plan("cancel_then_refund", "cancel", ""), "cancel", None, ApprovalThresholds(), "every"),
        (
            Plan("cancel_then_refund", "cancel", ""),
            "cancel",
            None,
            ApprovalThresholds(cancellation=False),
            None,
        ),
        (
            Plan("charge_then_patch", "add-seats", "", seats_added=60),
            "quantity",
            None,
            ApprovalThresholds(seats_added=50),
            "60 seats added",
        ),
        (
            Plan("charge_then_patch", "add-seats", "", seats_added=2),
            "quantity",
            Money(amount_minor=600_000, currency="USD"),
            ApprovalThresholds(seats_added=50, amount_minor=500_000),
            "a charge of 6000.00 USD",
        ),
        (
            Plan("charge_then_patch", "add-seats", "", seats_added=2),
            "quantity",
            Money(amount_minor=100, currency="USD"),
            ApprovalThresholds(seats_added=50, amount_minor=500_000),
            None,
        ),
    ],
)
def test_large_changes_and_cancellations_wait_for_approval(plan, kind, amount, thresholds, why):
    # docs/rules.md#change-approval (cspflow's reading)
    found = approval_needed(plan, kind, amount, thresholds)
    assert (found is None) == (why is None)
    if why is not None:
        assert found is not None and why in found


@pytest.mark.parametrize(
    ("subscription", "ask", "field", "rule"),
    [
        (sub(), {"kind": "quantity", "quantity": 0}, "quantity", "remove-seats"),
        (sub(quantity=2), {"kind": "quantity", "change_by": -2}, "change_by", "remove-seats"),
        (
            sub(status="suspended"),
            {"kind": "quantity", "quantity": 3},
            "subscription_id",
            "suspend",
        ),
        (sub(status="expired"), {"kind": "auto_renew"}, "subscription_id", "stale-copy"),
        (
            sub(),
            {"kind": "upgrade", "upgrade_allowed": False},
            "target_catalog_item_id",
            "downgrade",
        ),
        (sub(), {"kind": "cancel", "now": BOUGHT + 10 * D}, "kind", "cancel"),
        # docs/rules.md#seat-limits: the SKU's maximumQuantity (Learn, product-resources)
        (sub(), {"kind": "quantity", "quantity": 301, "max_quantity": 300}, "quantity",
         "seat-limits"),
        (sub(quantity=300), {"kind": "quantity", "change_by": 1, "max_quantity": 300},
         "change_by", "seat-limits"),
    ],
)  # fmt: skip
def test_what_the_rules_refuse_outright_names_the_field_and_the_rule(
    subscription, ask, field, rule
):
    # MANAGE, CANCEL_POLICY: suspended subscriptions take no change; downgrades are not
    # supported mid-term; no cancellation after the window.
    now = ask.pop("now", BOUGHT + D)
    refusal = intake_refusal(subscription, now, **ask)
    assert refusal is not None and (refusal.field, refusal.rule) == (field, rule)


@pytest.mark.parametrize(
    "ask",
    [
        {"kind": "quantity", "quantity": 12},
        {"kind": "quantity", "change_by": -1},
        {"kind": "upgrade", "upgrade_allowed": True},
        {"kind": "upgrade"},
        {"kind": "cancel"},
        {"kind": "quantity", "quantity": 300, "max_quantity": 300},
    ],
)
def test_what_the_rules_may_allow_is_left_to_the_workflow(ask):
    assert intake_refusal(sub(), BOUGHT + D, **ask) is None
