"""NCE rules as the sandbox enforces them, through cspflow's real client. Each row names the
Microsoft Learn page it follows:
- [manage] Manage customer subscriptions: https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription
- [lifecycle] Subscription lifecycle states: https://learn.microsoft.com/partner-center/subscription-lifecycle
- [quantity] Change the quantity of a subscription: https://learn.microsoft.com/en-us/partner-center/developer/change-the-quantity-of-a-subscription
- [cancel] Cancel a subscription: https://learn.microsoft.com/en-us/partner-center/developer/cancel-an-azure-marketplace-subscription
- [cancellation] New commerce cancellation policy: https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy
- [schedule] Schedule changes: https://learn.microsoft.com/en-us/partner-center/developer/create-scheduled-changes
- [update] Update a subscription by ID: https://learn.microsoft.com/en-us/partner-center/developer/update-a-subscription-by-id
- [errors] Partner Center REST error codes: https://learn.microsoft.com/en-us/partner-center/developer/error-codes
"""

import time
import uuid
from datetime import timedelta

import pytest

from shared.models import ScheduledNextTermInstructions, ScheduledProduct
from shared.partner_center.errors import (
    CANNOT_DECREASE,
    INVALID_INPUT,
    NOT_READY_RENEWING,
    PENDING_OPERATION,
    QUANTITY_SUSPENDED,
    BusinessError,
)
from shared.partner_center.models import TransitionRequest
from tests.sandbox.partner_center.harness import BASIC, STANDARD, START


def rid() -> str:
    return str(uuid.uuid4())


@pytest.mark.parametrize(
    ("after", "accepted"),
    [
        (timedelta(days=6), True),  # [manage, quantity]: within 7 days of purchase
        (timedelta(days=6, hours=23, minutes=59), True),  # [cancellation]: 168 hours
        (timedelta(days=7, minutes=1), False),  # [manage]: window closed -> 800090
        (timedelta(days=8), False),  # [quantity]: error 800090
    ],
)
def test_a_seat_decrease_is_accepted_only_inside_the_7_day_window(pc, after, accepted):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=10)
    pc.advance(after)
    if accepted:
        assert pc.client.set_quantity(customer_id, sid, 7, request_id=rid()).quantity == 7
    else:
        with pytest.raises(BusinessError) as err:
            pc.client.set_quantity(customer_id, sid, 7, request_id=rid())
        assert err.value.code == CANNOT_DECREASE


@pytest.mark.parametrize(
    ("after", "accepted"),
    [
        (timedelta(days=6), True),  # [cancel]: cancellable within 7 days of purchase
        (timedelta(days=8), False),  # [cancel]: "the API will throw an error"
    ],
)
def test_a_cancellation_is_accepted_only_inside_the_7_day_window(pc, after, accepted):
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.advance(after)
    if accepted:
        assert pc.client.cancel(customer_id, sid, request_id=rid()).status == "deleted"
    else:
        with pytest.raises(BusinessError):
            pc.client.cancel(customer_id, sid, request_id=rid())
        assert pc.client.get_subscription(customer_id, sid).status == "active"


@pytest.mark.parametrize(
    ("remove", "accepted"),
    [
        (5, True),  # [manage]: seats added midterm have their own 7-day window
        (6, False),  # the original 10 seats left their window on day 7
    ],
)
def test_seats_added_midterm_can_be_removed_in_their_own_window(pc, remove, accepted):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=10)
    pc.advance(timedelta(days=10))
    pc.client.set_quantity(customer_id, sid, 15, request_id=rid())
    sub = pc.client.get_subscription(customer_id, sid)
    assert sub.refundable_quantity is not None and sub.refundable_quantity.total_quantity == 5
    pc.advance(timedelta(days=2))
    if accepted:
        assert (
            pc.client.set_quantity(customer_id, sid, 15 - remove, request_id=rid()).quantity == 10
        )
    else:
        with pytest.raises(BusinessError) as err:
            pc.client.set_quantity(customer_id, sid, 15 - remove, request_id=rid())
        assert err.value.code == CANNOT_DECREASE


def test_a_suspended_subscription_keeps_billing_and_refuses_quantity_changes(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=4)
    suspended = pc.client.suspend(customer_id, sid, request_id=rid())
    assert not suspended.auto_renew_enabled  # [manage]: suspension turns auto-renew off
    with pytest.raises(BusinessError) as err:
        pc.client.set_quantity(customer_id, sid, 5, request_id=rid())
    assert err.value.code == QUANTITY_SUSPENDED  # [errors] 2001
    pc.advance(timedelta(days=62))
    charges = [c["chargeType"] for c in pc.state()["ledger"] if c["subscriptionId"] == sid]
    assert charges == [
        "new",
        "cycleCharge",
        "cycleCharge",
    ]  # [lifecycle]: NCE bills while suspended


def test_suspension_drops_scheduled_changes(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.client.schedule_next_term(customer_id, sid, _next_term(BASIC, 5), request_id=rid())
    suspended = pc.client.suspend(customer_id, sid, request_id=rid())
    assert suspended.scheduled_next_term_instructions is None  # [lifecycle]


def test_scheduled_changes_need_auto_renew(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.client.set_auto_renew(customer_id, sid, False, request_id=rid())
    raw = pc.client._raw_subscription(customer_id, sid)
    raw["scheduledNextTermInstructions"] = _next_term(BASIC, 5).model_dump(
        mode="json", by_alias=True
    )
    resp = pc.raw(
        "PATCH",
        f"/v1/customers/{customer_id}/subscriptions/{sid}",
        pc.app_token(),
        json=raw,
        headers={"MS-RequestId": rid()},
    )
    assert resp.status_code == 400  # [schedule]: requires autoRenewEnabled true
    assert resp.json()["code"] == int(INVALID_INPUT)


def test_a_minimal_patch_body_silently_turns_auto_renew_off(pc):
    """[update]'s gotcha, reproduced so a client that sends partial bodies is caught."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    resp = pc.raw(
        "PATCH",
        f"/v1/customers/{customer_id}/subscriptions/{sid}",
        pc.app_token(),
        json={"quantity": 11},
        headers={"MS-RequestId": rid()},
    )
    assert resp.status_code == 200
    assert resp.json()["quantity"] == 11 and resp.json()["autoRenewEnabled"] is False


@pytest.mark.parametrize(
    ("before_end", "lock_hours", "accepted"),
    [
        (timedelta(hours=25), 24, True),  # outside the distributor-reported 24 h lock
        (timedelta(hours=23), 24, False),  # inside it -> 409 900278
        (timedelta(hours=23), 0, True),  # the lock is an option; off, the change goes in
    ],
)
def test_the_pre_renewal_lock_freezes_renewal_settings(make_pc, before_end, lock_hours, accepted):
    pc = make_pc(pre_renewal_lock=timedelta(hours=lock_hours))
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1M")
    term_over = pc.client.get_subscription(customer_id, sid).term_end
    pc.advance_to(term_over - before_end)
    if accepted:
        pc.client.set_auto_renew(customer_id, sid, False, request_id=rid())
    else:
        with pytest.raises(BusinessError) as err:
            pc.client.set_auto_renew(customer_id, sid, False, request_id=rid())
        assert (err.value.status, err.value.code) == (409, PENDING_OPERATION)
        # Seats can still be added inside the lock.
        assert pc.client.set_quantity(customer_id, sid, 12, request_id=rid()).quantity == 12


def test_renewal_processing_answers_409_then_opens_a_new_window(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1M", quantity=10)
    sub = pc.client.get_subscription(customer_id, sid)
    # [manage, schedule]: processed from 00:00 UTC the day after the inclusive end date.
    renewal = sub.term_end
    assert renewal.isoformat() == "2026-04-02T00:00:00+00:00"
    pc.advance_to(renewal + timedelta(minutes=10))
    raw = pc.client._raw_subscription(customer_id, sid)
    resp = pc.raw(
        "PATCH",
        f"/v1/customers/{customer_id}/subscriptions/{sid}",
        pc.app_token(),
        json={**raw, "quantity": 9},
        headers={"MS-RequestId": rid()},
    )
    assert resp.status_code == 409 and str(resp.json()["code"]) == NOT_READY_RENEWING
    pc.advance(timedelta(hours=2))
    renewed = pc.client.get_subscription(customer_id, sid)
    assert renewed.effective_start_date == renewal
    assert renewed.commitment_end_date.isoformat() == "2026-05-01"
    # The new 7-day window runs from when the renewal completed [manage].
    assert renewed.cancellation_allowed_until_date == renewal + timedelta(hours=1, days=7)
    assert pc.client.set_quantity(customer_id, sid, 6, request_id=rid()).quantity == 6


def test_renewal_applies_the_scheduled_next_term_instructions(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1Y", quantity=10)
    # [schedule, manage]: a seat reduction and a SKU upgrade scheduled for renewal.
    pc.client.schedule_next_term(customer_id, sid, _next_term(STANDARD, 8, "P1M"), request_id=rid())
    pc.advance_to(START.replace(year=2027, month=3, day=2, hour=2))
    renewed = pc.client.get_subscription(customer_id, sid)
    assert (renewed.offer_id, renewed.quantity, renewed.term_duration) == (STANDARD, 8, "P1M")
    assert renewed.scheduled_next_term_instructions is None
    assert renewed.commitment_end_date.isoformat() == "2027-04-01"
    renew = [c for c in pc.state()["ledger"] if c["chargeType"] == "renew"]
    assert [(c["subscriptionId"], c["quantity"], c["productId"]) for c in renew] == [
        (sid, 8, "CFQ7TTC0LDPB")
    ]


def test_a_renewal_happens_when_the_clock_passes_term_end_without_any_request(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1M")
    pc.clock.set(START.replace(month=4, day=2, hour=3))  # no process_now, no API call
    for _ in range(200):
        if any(c["chargeType"] == "renew" for c in pc.state()["ledger"]):
            break
        time.sleep(0.02)  # the background loop ticks on its own
    renew = [c for c in pc.state()["ledger"] if c["chargeType"] == "renew"]
    assert [c["subscriptionId"] for c in renew] == [sid]


@pytest.mark.parametrize(
    ("suspend", "status_at_end"),
    [
        # https://learn.microsoft.com/partner-center/subscription-lifecycle: "30-day expired
        # state follows the end of an Active subscription's term" with autorenew off, and "If
        # the subscription is still suspended by the term's end, the subscription moves to
        # the expired state."
        (False, "expired"),
        (True, "expired"),
    ],
)
def test_what_happens_at_term_end_without_renewal(pc, suspend, status_at_end):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1M")
    if suspend:
        pc.client.suspend(customer_id, sid, request_id=rid())
    else:
        pc.client.set_auto_renew(customer_id, sid, False, request_id=rid())
    pc.advance_to(START.replace(month=4, day=2, hour=1))
    assert pc.client.get_subscription(customer_id, sid).status == status_at_end


@pytest.mark.parametrize("suspend", [False, True])
def test_an_expired_subscription_is_disabled_after_30_days_and_deleted_after_90_more(pc, suspend):
    # https://learn.microsoft.com/partner-center/subscription-lifecycle: expired for 30 days,
    # then disabled for 90, then deleted; a subscription still suspended at term end takes
    # the same road.
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1M")
    if suspend:
        pc.client.suspend(customer_id, sid, request_id=rid())
    else:
        pc.client.set_auto_renew(customer_id, sid, False, request_id=rid())
    end = START.replace(month=4, day=2, hour=0)
    pc.advance_to(end + timedelta(days=30) - timedelta(minutes=1))
    assert pc.client.get_subscription(customer_id, sid).status == "expired"
    pc.advance(timedelta(minutes=2))
    assert pc.client.get_subscription(customer_id, sid).status == "disabled"
    pc.advance_to(end + timedelta(days=120) - timedelta(minutes=1))
    assert pc.client.get_subscription(customer_id, sid).status == "disabled"
    pc.advance(timedelta(minutes=2))
    assert pc.client.get_subscription(customer_id, sid).status == "deleted"


def test_a_partial_upgrade_inherits_the_parents_window_so_it_cannot_reopen_it(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=6, offer=BASIC)
    pc.advance(timedelta(days=8))
    moved = pc.client.transition(
        customer_id,
        sid,
        TransitionRequest(to_catalog_item_id=STANDARD, quantity=2),
        request_id=rid(),
    )
    with pytest.raises(BusinessError):  # [cancellation]: no fresh window for the new subscription
        pc.client.cancel(customer_id, str(moved.to_subscription_id), request_id=rid())


def _next_term(offer: str, quantity: int, term: str = "P1Y") -> ScheduledNextTermInstructions:
    product_id, sku_id, availability_id = offer.split(":")
    return ScheduledNextTermInstructions(
        product=ScheduledProduct(
            product_id=product_id,
            sku_id=sku_id,
            availability_id=availability_id,
            billing_cycle="monthly",
            term_duration=term,  # type: ignore[arg-type]
        ),
        quantity=quantity,
    )


@pytest.mark.parametrize(
    ("days_after_end", "state"),
    [
        (timedelta(days=1), "expired"),  # the 30 expired days
        (timedelta(days=40), "disabled"),  # the 90 disabled days
    ],
)
def test_an_expired_or_disabled_subscription_refuses_every_change(pc, days_after_end, state):
    """https://learn.microsoft.com/partner-center/subscription-lifecycle: expired and disabled
    subscriptions "can't be reactivated"; only the partner's active (or suspended)
    subscriptions take changes. Partner Center's error shape, 400 with 800002; nothing is
    billed."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1M", quantity=4)
    pc.client.set_auto_renew(customer_id, sid, False, request_id=rid())
    pc.advance_to(START.replace(month=4, day=2) + days_after_end)
    assert pc.client.get_subscription(customer_id, sid).status == state
    ledger = pc.state()["ledger"]
    for change in (
        lambda: pc.client.set_quantity(customer_id, sid, 6, request_id=rid()),
        lambda: pc.client.reactivate(customer_id, sid, auto_renew=True, request_id=rid()),
        lambda: pc.client.set_auto_renew(customer_id, sid, True, request_id=rid()),
        lambda: pc.client.suspend(customer_id, sid, request_id=rid()),
    ):
        with pytest.raises(BusinessError) as err:
            change()
        assert (err.value.status, err.value.code) == (400, INVALID_INPUT)
        assert state in err.value.description
    assert pc.state()["ledger"] == ledger
    # Sending the resource back unchanged is not a change: it answers as it is.
    assert pc.client.set_auto_renew(customer_id, sid, False, request_id=rid()).status == state


def test_a_suspended_subscription_takes_reactivation_but_not_auto_renew_alone(pc):
    """https://learn.microsoft.com/partner-center/subscription-lifecycle: while suspended,
    partners can reactivate (or cancel inside the window); suspension turned auto-renew off
    and it comes back with the reactivation."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.client.suspend(customer_id, sid, request_id=rid())
    with pytest.raises(BusinessError) as err:
        pc.client.set_auto_renew(customer_id, sid, True, request_id=rid())
    assert (err.value.status, err.value.code) == (400, INVALID_INPUT)
    reactivated = pc.client.reactivate(customer_id, sid, auto_renew=True, request_id=rid())
    assert (reactivated.status, reactivated.auto_renew_enabled) == ("active", True)


def test_turning_auto_renew_off_deletes_the_scheduled_changes(pc):
    """Scheduled changes are deleted when auto-renew is turned off (Manage customer
    subscriptions, https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription):
    the full-resource PATCH that still carries them is not refused."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.client.schedule_next_term(customer_id, sid, _next_term(BASIC, 5), request_id=rid())
    off = pc.client.set_auto_renew(customer_id, sid, False, request_id=rid())
    assert (off.auto_renew_enabled, off.scheduled_next_term_instructions) == (False, None)
