"""NCE trials: bought like any offer, free, one month, and converted to their paid offer at
term end or earlier through a transition, through cspflow's real client. Trial catalog ids
are the sandbox's own (catalog.py)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from sandbox.partner_center.catalog import PREMIUM
from shared.partner_center.errors import BusinessError
from shared.partner_center.models import CartLine, TransitionRequest

PREMIUM_TRIAL = "CFQ7TTC0LCHC:0TRL:SBXTRIAL0001"


def rid() -> str:
    return str(uuid.uuid4())


def _trial_cart(pc, customer_id: str, quantity: int = 5, renews_to: str | None = None):
    line = {
        "catalogItemId": PREMIUM_TRIAL,
        "quantity": quantity,
        "termDuration": "P1M",
        "billingCycle": "monthly",
        **({"renewsTo": {"termDuration": renews_to}} if renews_to else {}),
    }
    return pc.raw(
        "POST",
        f"/v1/customers/{customer_id}/carts",
        pc.app_token(),
        json={"lineItems": [line]},
        headers={"MS-RequestId": rid()},
    )


def _buy_trial(pc, customer_id: str, quantity: int = 5, renews_to: str | None = None) -> str:
    cart = _trial_cart(pc, customer_id, quantity, renews_to)
    assert cart.status_code == 201, cart.text
    result = pc.client.checkout(customer_id, cart.json()["id"], request_id=rid())
    sid: str | None = result.orders[0].line_items[0].subscription_id
    assert sid is not None
    return sid


def test_the_catalog_lists_a_trial_sku_of_one_month(pc):
    skus = pc.raw("GET", "/v1/products/CFQ7TTC0LCHC/skus?country=US", pc.app_token()).json()
    trial = next(s for s in skus["items"] if s["isTrial"])
    assert trial["maximumQuantity"] == 25
    (availability,) = pc.client.list_availabilities("CFQ7TTC0LCHC", trial["id"], "US")
    assert availability.catalog_item_id == PREMIUM_TRIAL
    assert [(t.duration, t.billing_cycles) for t in availability.terms] == [("P1M", ("monthly",))]


def test_a_trial_is_free_and_carries_the_paid_offer_it_becomes(pc):
    """A trial subscription says isTrial and always carries scheduledNextTermInstructions
    (https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources);
    its cart line's renewsTo gives the paid term
    (https://learn.microsoft.com/en-us/partner-center/developer/cart-resources)."""
    customer_id = pc.customer()
    sid = _buy_trial(pc, customer_id, renews_to="P1Y")
    sub = pc.client.get_subscription(customer_id, sid)
    assert (sub.is_trial, sub.offer_id, sub.term_duration, sub.auto_renew_enabled) == (
        True,
        PREMIUM_TRIAL,
        "P1M",
        True,
    )
    scheduled = sub.scheduled_next_term_instructions
    assert scheduled is not None and scheduled.product.catalog_item_id == PREMIUM
    assert (scheduled.product.term_duration, scheduled.quantity) == ("P1Y", 5)
    assert pc.state()["ledger"] == []  # Microsoft charges nothing for a trial


def test_a_trial_converts_to_its_paid_offer_at_term_end(pc):
    """Trials convert to the paid offer by default at trial end (Manage customer
    subscriptions, https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription)."""
    customer_id = pc.customer()
    sid = _buy_trial(pc, customer_id, quantity=5)
    trial = pc.client.get_subscription(customer_id, sid)
    pc.advance_to(trial.term_end + timedelta(hours=2))
    paid = pc.client.get_subscription(customer_id, sid)
    assert (paid.is_trial, paid.offer_id, paid.quantity, paid.term_duration) == (
        False,
        PREMIUM,
        5,
        "P1M",
    )
    assert paid.effective_start_date == trial.term_end
    charges = [(c["chargeType"], c["quantity"], c["productId"]) for c in pc.state()["ledger"]]
    assert charges == [("convert", 5, "CFQ7TTC0LCHC")]


def test_a_trial_with_auto_renew_off_expires_at_term_end(pc):
    customer_id = pc.customer()
    sid = _buy_trial(pc, customer_id)
    pc.client.set_auto_renew(customer_id, sid, False, request_id=rid())
    pc.advance_to(pc.client.get_subscription(customer_id, sid).term_end + timedelta(hours=2))
    assert pc.client.get_subscription(customer_id, sid).status == "expired"
    assert pc.state()["ledger"] == []


def test_a_trial_converts_early_through_a_transition(pc):
    """The transition API converts an NCE trial to a paid subscription
    (https://learn.microsoft.com/en-us/partner-center/developer/transition-a-new-commerce-subscription):
    the trial's eligibility is its paid offer; the subscription keeps its id and starts a
    paid term on the day, with as many seats as asked for."""
    customer_id = pc.customer()
    sid = _buy_trial(pc, customer_id, quantity=5)
    pc.advance(timedelta(days=10))
    (eligible,) = pc.client.transition_eligibilities(customer_id, sid)
    assert eligible.catalog_item_id == PREMIUM and eligible.eligible
    transition = pc.client.transition(
        customer_id,
        sid,
        TransitionRequest(to_catalog_item_id=PREMIUM, quantity=30),
        request_id=rid(),
    )
    assert transition.to_subscription_id == sid
    paid = pc.client.get_subscription(customer_id, sid)
    assert (paid.is_trial, paid.offer_id, paid.quantity) == (False, PREMIUM, 30)
    assert paid.effective_start_date == pc.clock.now()
    assert paid.scheduled_next_term_instructions is None
    (charge,) = pc.state()["ledger"]
    assert (charge["chargeType"], charge["quantity"]) == ("convert", 30)
    assert Decimal(charge["effectiveUnitPrice"]) == Decimal("26.4000")  # P1M: 22.00 + 20%


def test_a_trial_is_limited_to_25_licences_and_one_month(pc):
    customer_id = pc.customer()
    too_many = _trial_cart(pc, customer_id, quantity=26)
    assert (too_many.status_code, too_many.json()["code"]) == (400, 2002)
    with pytest.raises(BusinessError) as err:
        pc.client.create_cart(
            customer_id,
            [
                CartLine(
                    catalog_item_id=PREMIUM_TRIAL,
                    quantity=1,
                    term_duration="P1Y",
                    billing_cycle="monthly",
                )
            ],
            request_id=rid(),
        )
    assert "termDuration" in err.value.description
