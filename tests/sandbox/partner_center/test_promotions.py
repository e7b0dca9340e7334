"""New commerce promotions: listed, bought on a cart line with promotionId, held for the
term, and scheduled for the next term. Promotion ids are the sandbox's own (catalog.py)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from shared.models import ScheduledNextTermInstructions, ScheduledProduct
from shared.partner_center.errors import BusinessError
from shared.partner_center.models import TransitionRequest
from tests.sandbox.partner_center.harness import BASIC, STANDARD, START

BASIC_ANNUAL_10 = "SBXPROMO0001:0001:SBXPROMO0001"
STANDARD_MONTHLY_15 = "SBXPROMO0002:0001:SBXPROMO0002"
ENDED = "SBXPROMO0003:0001:SBXPROMO0003"


def rid() -> str:
    return str(uuid.uuid4())


def _cart(pc, customer_id, offer, term, cycle, quantity=4, promotion_id=None):
    line = {
        "catalogItemId": offer,
        "quantity": quantity,
        "termDuration": term,
        "billingCycle": cycle,
        **({"promotionId": promotion_id} if promotion_id else {}),
    }
    return pc.raw(
        "POST",
        f"/v1/customers/{customer_id}/carts",
        pc.app_token(),
        json={"lineItems": [line]},
        headers={"MS-RequestId": rid()},
    )


def test_the_running_promotions_are_listed_and_any_one_is_read_by_id(pc):
    """https://learn.microsoft.com/en-us/partner-center/developer/get-promotions lists the
    promotions running now; https://learn.microsoft.com/en-us/partner-center/developer/get-promotion-by-id
    reads one whatever its dates (for reconciliation)."""
    token = pc.app_token()
    listed = pc.raw("GET", "/v1/productpromotions?country=US&segment=commercial", token).json()
    assert {p["id"] for p in listed["items"]} == {BASIC_ANNUAL_10, STANDARD_MONTHLY_15}
    ended = pc.raw("GET", f"/v1/productpromotions/{ENDED}?country=US", token).json()
    policy = ended["requiredProducts"][0]["pricingPolicies"][0]
    assert (policy["policyType"], policy["value"]) == ("PercentDiscount", "0.05")


def test_a_cart_line_with_a_promotion_is_priced_and_billed_with_it(pc):
    """A cart line's promotionId applies the promotion's discount to the price the cart
    quotes and the subscription is billed for; the subscription and its recon lines name
    it (https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources,
    https://learn.microsoft.com/en-us/partner-center/billing/modern-invoice-reconciliation-file)."""
    customer_id = pc.customer()
    cart = _cart(pc, customer_id, BASIC, "P1Y", "annual", promotion_id=BASIC_ANNUAL_10)
    assert cart.status_code == 201, cart.text
    (line,) = cart.json()["lineItems"]
    assert line["promotionId"] == BASIC_ANNUAL_10
    assert (line["pricing"]["listPrice"], line["pricing"]["price"]) == (72.0, 64.8)
    assert line["pricing"]["extendedPrice"] == pytest.approx(259.2)
    (order,) = pc.client.checkout(customer_id, cart.json()["id"], request_id=rid()).orders
    sid = str(order.line_items[0].subscription_id)
    assert pc.client._raw_subscription(customer_id, sid)["promotionId"] == BASIC_ANNUAL_10
    (charge,) = pc.state()["ledger"]
    assert (charge["unitPrice"], charge["effectiveUnitPrice"], charge["subtotal"]) == (
        "72.00",
        "64.8000",
        "259.20",
    )
    assert charge["promotionId"] == BASIC_ANNUAL_10


@pytest.mark.parametrize(
    ("offer", "term", "cycle", "promotion_id", "why"),
    [
        (BASIC, "P1Y", "annual", "NOPE:0001:NOPE", "is not a promotion"),
        (BASIC, "P1Y", "annual", ENDED, "is not running"),
        (BASIC, "P1Y", "monthly", BASIC_ANNUAL_10, "does not apply"),
        (STANDARD, "P1Y", "annual", BASIC_ANNUAL_10, "does not apply"),
    ],
)
def test_a_promotion_that_does_not_fit_the_line_is_refused(
    pc, offer, term, cycle, promotion_id, why
):
    customer_id = pc.customer()
    resp = _cart(pc, customer_id, offer, term, cycle, promotion_id=promotion_id)
    assert resp.status_code == 400 and resp.json()["code"] == 800002
    assert "promotionId" in resp.json()["description"] and why in resp.json()["description"]


def _next_term(offer, cycle, promotion_id):
    product_id, sku_id, availability_id = offer.split(":")
    return ScheduledNextTermInstructions(
        product=ScheduledProduct(
            product_id=product_id,
            sku_id=sku_id,
            availability_id=availability_id,
            billing_cycle=cycle,
            term_duration="P1Y",
            promotion_id=promotion_id,
        ),
        quantity=3,
    )


def test_a_promotion_scheduled_for_the_next_term_prices_the_renewal(pc):
    """scheduledNextTermInstructions.product.promotionId: "The promotion identifier to be
    applied for the next scheduled term"
    (https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources).
    A promotion bought with a term holds for that term only."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id, offer=STANDARD, quantity=3, term="P1Y", cycle="monthly")
    with pytest.raises(BusinessError) as err:
        pc.client.schedule_next_term(
            customer_id, sid, _next_term(STANDARD, "annual", STANDARD_MONTHLY_15), request_id=rid()
        )
    assert "promotionId" in err.value.description
    scheduled = pc.client.schedule_next_term(
        customer_id, sid, _next_term(STANDARD, "monthly", STANDARD_MONTHLY_15), request_id=rid()
    )
    assert scheduled.scheduled_next_term_instructions is not None
    pc.advance_to(START.replace(year=2027, day=2, hour=2))
    assert pc.client._raw_subscription(customer_id, sid)["promotionId"] == STANDARD_MONTHLY_15
    renew = [c for c in pc.state()["ledger"] if c["chargeType"] == "renew"]
    assert [(c["unitPrice"], c["effectiveUnitPrice"]) for c in renew] == [("12.50", "10.6250")]


def test_an_upgrade_in_place_drops_the_promotion_of_the_old_product(pc):
    customer_id = pc.customer()
    cart = _cart(pc, customer_id, BASIC, "P1Y", "annual", promotion_id=BASIC_ANNUAL_10)
    (order,) = pc.client.checkout(customer_id, cart.json()["id"], request_id=rid()).orders
    sid = str(order.line_items[0].subscription_id)
    pc.advance(timedelta(days=1))
    pc.client.transition(
        customer_id,
        sid,
        TransitionRequest(to_catalog_item_id=STANDARD, quantity=4),
        request_id=rid(),
    )
    assert pc.client._raw_subscription(customer_id, sid)["promotionId"] is None
    convert = [c for c in pc.state()["ledger"] if c["chargeType"] == "convert"]
    assert convert[0]["promotionId"] == "" and convert[0]["unitPrice"] == "150.00"
    assert Decimal(convert[0]["effectiveUnitPrice"]) < Decimal("150.00")  # prorated, no discount
