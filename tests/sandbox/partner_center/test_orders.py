"""Carts, checkout and orders as Partner Center answers them, through cspflow's real client
(MSAL + requests over HTTPS). Each test names the Microsoft Learn page it follows."""

import uuid

from shared.partner_center.models import CartLine
from tests.sandbox.partner_center.harness import BASIC


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
