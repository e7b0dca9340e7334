"""Carts, checkout and orders as Partner Center answers them, through cspflow's real client
(MSAL + requests over HTTPS). Each test names the Microsoft Learn page it follows."""

import uuid
from datetime import timedelta
from decimal import Decimal

from shared.partner_center.models import CartLine
from tests.sandbox.partner_center.harness import BASIC, E3, STANDARD


def rid() -> str:
    return str(uuid.uuid4())


def test_a_second_checkout_of_an_ordered_cart_answers_what_the_first_returned(pc):
    """https://learn.microsoft.com/en-us/partner-center/developer/checkout-a-cart: "This API
    is idempotent ... If a cart was successfully checked out previously and a subsequent
    checkout call is made to that same cart, the API response will reiterate the information
    returned after initial checkout." A new MS-RequestId each time: the cart's idempotency,
    not the replay of a request id."""
    customer_id = pc.customer()
    cart = pc.client.create_cart(
        customer_id,
        [CartLine(catalog_item_id=BASIC, quantity=3, term_duration="P1M", billing_cycle="monthly")],
        request_id=rid(),
    )
    first = pc.client.checkout(customer_id, cart.id, request_id=rid())
    again = pc.client.checkout(customer_id, cart.id, request_id=rid())
    assert again == first
    assert pc.state()["stats"]["replays"] == 0
    assert [o.id for o in pc.client.list_orders(customer_id)] == [first.orders[0].id]
    assert len(pc.client.list_subscriptions(customer_id)) == 1
    assert [c["chargeType"] for c in pc.state()["ledger"]] == ["new"]


def test_a_cart_with_monthly_and_annual_lines_checks_out_as_one_order_per_billing_cycle(pc):
    """An order has one billingCycle
    (https://learn.microsoft.com/en-us/partner-center/developer/order-resources), so the
    server splits a cart into order groups (CartLineItem.orderGroup,
    https://learn.microsoft.com/en-us/partner-center/developer/cart-resources) and checkout
    returns one order per group
    (https://learn.microsoft.com/en-us/partner-center/developer/checkout-a-cart)."""
    customer_id = pc.customer()
    lines = [
        CartLine(catalog_item_id=BASIC, quantity=2, term_duration="P1Y", billing_cycle="monthly"),
        CartLine(catalog_item_id=STANDARD, quantity=3, term_duration="P1Y", billing_cycle="annual"),
        CartLine(catalog_item_id=E3, quantity=4, term_duration="P1M", billing_cycle="monthly"),
    ]
    cart = pc.client.create_cart(customer_id, lines, request_id=rid())
    raw_cart = pc.raw("GET", f"/v1/customers/{customer_id}/carts/{cart.id}", pc.app_token())
    assert [line["orderGroup"] for line in raw_cart.json()["lineItems"]] == ["0", "1", "0"]
    result = pc.client.checkout(customer_id, cart.id, request_id=rid())
    assert len(result.orders) == 2
    by_cycle = {}
    for order in result.orders:
        raw = pc.raw("GET", f"/v1/customers/{customer_id}/orders/{order.id}", pc.app_token())
        by_cycle[raw.json()["billingCycle"]] = order
    monthly, annual = by_cycle["monthly"], by_cycle["annual"]
    assert [(line.offer_id, line.quantity) for line in monthly.line_items] == [(BASIC, 2), (E3, 4)]
    assert [(line.offer_id, line.quantity) for line in annual.line_items] == [(STANDARD, 3)]
    assert monthly.total_price == Decimal("6.00") * 2 + Decimal("27.60") * 4
    assert annual.total_price == Decimal("150.00") * 3
    for order in result.orders:
        subs = pc.client.list_subscriptions(customer_id, order_id=order.id)
        assert {s.id for s in subs} == {line.subscription_id for line in order.line_items}
        assert {s.billing_cycle for s in subs} == {"annual" if order is annual else "monthly"}


def test_with_a_provisioning_delay_the_subscriptions_stay_pending_without_ids_until_provisioned(
    make_pc,
):
    """https://learn.microsoft.com/en-us/partner-center/developer/checkout-a-cart: provisioning
    is asynchronous; an order line carries its subscriptionId once the subscription is
    provisioned, and until then it is read later from the order
    (https://learn.microsoft.com/en-us/partner-center/developer/get-order-provisioning-status).
    A subscription's status can be "pending"
    (https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources)."""
    pc = make_pc(provisioning_delay=timedelta(minutes=10))
    customer_id = pc.customer()
    cart = pc.client.create_cart(
        customer_id,
        [CartLine(catalog_item_id=BASIC, quantity=5, term_duration="P1Y", billing_cycle="monthly")],
        request_id=rid(),
    )
    (order,) = pc.client.checkout(customer_id, cart.id, request_id=rid()).orders
    assert order.status == "pending"
    assert [line.subscription_id for line in order.line_items] == [None]
    (status,) = pc.client.order_provisioning_status(customer_id, order.id)
    assert (status.status, status.subscription_id) == ("pending", None)
    (pending,) = pc.client.list_subscriptions(customer_id, order_id=order.id)
    assert pending.status == "pending"
    raw = pc.client._raw_subscription(customer_id, pending.id)
    refused = pc.raw(
        "PATCH",
        f"/v1/customers/{customer_id}/subscriptions/{pending.id}",
        pc.app_token(),
        json={**raw, "quantity": 6},
        headers={"MS-RequestId": rid()},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, 800082)
    assert pc.state()["ledger"] == []  # nothing is billed before provisioning

    pc.advance(timedelta(minutes=10))
    provisioned = pc.client.get_order(customer_id, order.id)
    assert provisioned.status == "completed"
    assert [line.subscription_id for line in provisioned.line_items] == [pending.id]
    (status,) = pc.client.order_provisioning_status(customer_id, order.id)
    assert (status.status, status.subscription_id) == ("fulfilled", pending.id)
    assert pc.client.get_subscription(customer_id, pending.id).status == "active"
    assert [(c["chargeType"], c["quantity"]) for c in pc.state()["ledger"]] == [("new", 5)]
