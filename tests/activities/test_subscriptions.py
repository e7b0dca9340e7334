"""The subscription activities against a real Partner Center sandbox (HTTPS, MSAL, NCE
rules), invoked as the Functions host invokes them: each write once per step key, whatever
the retries; Partner Center's refusals returned as failures naming Microsoft's code."""

import uuid
from datetime import timedelta
from typing import Any

import pytest

from activities.subscriptions import (
    RENEWAL_PROCESSING,
    cancel_subscription,
    reactivate_subscription,
    read_subscription,
    read_transition,
    read_transition_eligibilities,
    schedule_next_term,
    set_auto_renew,
    set_quantity,
    suspend_subscription,
    transition_subscription,
)
from tests.sandbox.partner_center.harness import BASIC, E3, E5, STANDARD, Harness


def key(step: str = "step") -> str:
    return f"licence-change-{uuid.uuid4().hex[:8]}/{step}"


def value(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    result: dict[str, Any] = envelope["value"]
    return result


def refused(envelope: dict[str, Any]) -> dict[str, Any]:
    assert not envelope["ok"], envelope
    failure: dict[str, Any] = envelope["failure"]
    assert failure["kind"] == "permanent"
    return failure


def charges(pc: Harness, subscription_id: str, charge_type: str) -> list[dict[str, Any]]:
    return [
        c
        for c in pc.state()["ledger"]
        if c["subscriptionId"] == subscription_id and c["chargeType"] == charge_type
    ]


@pytest.fixture
def bought(app_env, pc: Harness) -> tuple[str, str]:
    customer_id = pc.customer()
    return customer_id, pc.buy(customer_id, quantity=5, offer=BASIC)


def test_a_fresh_read_carries_partner_centers_windows(bought, pc):
    customer_id, sid = bought
    read = value(read_subscription.run({"customer_id": customer_id, "subscription_id": sid}))
    subscription = read["subscription"]
    assert subscription["quantity"] == 5
    assert subscription["refundableQuantity"]["totalQuantity"] == 5
    assert subscription["cancellationAllowedUntilDate"] is not None


def test_seats_added_by_one_step_are_added_once_however_often_the_step_runs(bought, pc):
    customer_id, sid = bought
    change = {"step_key": key("patch"), "customer_id": customer_id, "subscription_id": sid}
    for _ in range(3):  # a retry, a replay, a restarted host: the same MS-RequestId
        after = value(set_quantity.run({**change, "quantity": 8}))
    assert after["subscription"]["quantity"] == 8
    assert pc.client.get_subscription(customer_id, sid).quantity == 8
    assert [c["quantity"] for c in charges(pc, sid, "addQuantity")] == [3]


def test_seats_removed_outside_their_window_are_refused_with_microsofts_code(bought, pc):
    # https://learn.microsoft.com/en-us/partner-center/developer/change-the-quantity-of-a-subscription
    customer_id, sid = bought
    pc.advance(timedelta(days=8))
    failure = refused(
        set_quantity.run(
            {"step_key": key(), "customer_id": customer_id, "subscription_id": sid, "quantity": 4}
        )
    )
    assert failure["code"] == "800090"
    assert pc.client.get_subscription(customer_id, sid).quantity == 5


def test_seats_removed_inside_their_window_are_removed(bought, pc):
    customer_id, sid = bought
    pc.advance(timedelta(days=2))
    after = value(
        set_quantity.run(
            {"step_key": key(), "customer_id": customer_id, "subscription_id": sid, "quantity": 3}
        )
    )
    assert after["subscription"]["quantity"] == 3
    assert [c["quantity"] for c in charges(pc, sid, "removeQuantity")] == [2]


def test_auto_renew_is_turned_off_and_on(bought, pc):
    customer_id, sid = bought
    ref = {"customer_id": customer_id, "subscription_id": sid}
    off = value(set_auto_renew.run({**ref, "step_key": key("off"), "enabled": False}))
    assert off["subscription"]["autoRenewEnabled"] is False
    on = value(set_auto_renew.run({**ref, "step_key": key("on"), "enabled": True}))
    assert on["subscription"]["autoRenewEnabled"] is True


def test_fewer_seats_are_scheduled_for_the_next_term_and_cleared(bought, pc):
    # https://learn.microsoft.com/en-us/partner-center/developer/create-scheduled-changes
    customer_id, sid = bought
    ref = {"customer_id": customer_id, "subscription_id": sid}
    product_id, sku_id, availability_id = BASIC.split(":")
    instructions = {
        "product": {
            "productId": product_id,
            "skuId": sku_id,
            "availabilityId": availability_id,
            "billingCycle": "monthly",
            "termDuration": "P1Y",
        },
        "quantity": 2,
    }
    scheduled = value(
        schedule_next_term.run({**ref, "step_key": key("s"), "instructions": instructions})
    )
    assert scheduled["subscription"]["scheduledNextTermInstructions"]["quantity"] == 2
    assert scheduled["subscription"]["quantity"] == 5
    cleared = value(schedule_next_term.run({**ref, "step_key": key("c"), "instructions": None}))
    assert cleared["subscription"]["scheduledNextTermInstructions"] is None


def test_a_suspended_subscription_is_reactivated_with_auto_renew_sent_again(bought, pc):
    customer_id, sid = bought
    ref = {"customer_id": customer_id, "subscription_id": sid}
    suspended = value(suspend_subscription.run({**ref, "step_key": key("suspend")}))
    assert suspended["subscription"]["status"] == "suspended"
    failure = refused(set_quantity.run({**ref, "step_key": key("q"), "quantity": 6}))
    assert failure["code"] == "2001"
    active = value(
        reactivate_subscription.run({**ref, "step_key": key("reactivate"), "auto_renew": True})
    )
    assert active["subscription"]["status"] == "active"
    assert active["subscription"]["autoRenewEnabled"] is True


@pytest.mark.parametrize(
    ("days", "cancelled"),
    [
        # https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy
        (2, True),
        (8, False),
    ],
)
def test_a_cancellation_is_accepted_only_inside_the_window(bought, pc, days, cancelled):
    customer_id, sid = bought
    pc.advance(timedelta(days=days))
    envelope = cancel_subscription.run(
        {"step_key": key("cancel"), "customer_id": customer_id, "subscription_id": sid}
    )
    if cancelled:
        assert value(envelope)["subscription"]["status"] == "deleted"
    else:
        refused(envelope)
        assert pc.client.get_subscription(customer_id, sid).status == "active"


def test_a_partial_upgrade_moves_seats_once_into_a_new_subscription(app_env, pc):
    # https://learn.microsoft.com/en-us/partner-center/developer/transition-a-new-commerce-subscription
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=5, offer=E3)
    ref = {"customer_id": customer_id, "subscription_id": sid}
    targets = value(read_transition_eligibilities.run(ref))["targets"]
    assert E5 in [t["catalogItemId"] for t in targets]
    change = {**ref, "step_key": key("transition"), "to_catalog_item_id": E5, "quantity": 2}
    first = value(transition_subscription.run(change))["transition"]
    again = value(transition_subscription.run(change))["transition"]
    assert first["toSubscriptionId"] == again["toSubscriptionId"] != sid
    assert pc.client.get_subscription(customer_id, sid).quantity == 3
    # The transition's record, once completed, carries the new subscription, read fresh.
    result = value(read_transition.run({**ref, "operation_id": first["operationId"]}))
    assert result["completed"] is True and result["transition"]["status"] == "Completed"
    new = result["to_subscription"]
    assert (new["id"], new["offerId"], new["quantity"]) == (first["toSubscriptionId"], E5, 2)
    unknown = value(read_transition.run({**ref, "operation_id": "no-such-operation"}))
    assert unknown == {"transition": None, "completed": False, "to_subscription": None}


def test_an_upgrade_to_an_offer_it_cannot_move_to_is_refused(app_env, pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=2, offer=STANDARD)
    failure = refused(
        transition_subscription.run(
            {
                "step_key": key(),
                "customer_id": customer_id,
                "subscription_id": sid,
                "to_catalog_item_id": BASIC,
                "quantity": 2,
            }
        )
    )
    assert failure["code"] == "800002"


def test_a_change_during_renewal_processing_is_handed_back_to_be_held(app_env, pc):
    # https://learn.microsoft.com/en-us/partner-center/developer/error-codes (800082)
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=5, offer=BASIC, term="P1M")
    term_end = pc.client.get_subscription(customer_id, sid).term_end
    pc.advance_to(term_end + timedelta(minutes=10))
    failure = refused(
        set_quantity.run(
            {"step_key": key(), "customer_id": customer_id, "subscription_id": sid, "quantity": 4}
        )
    )
    assert failure["code"] == RENEWAL_PROCESSING
