"""The catalogue and price-list routes as functions (triggers/catalog.py) on a real book in
Azurite: a price under cost is flagged when the list allows it and withheld when it does not
(the cost rose after the list was checked), and a price list round-trips through PUT and GET.
tests/e2e/test_read_api.py runs them over HTTP against the catalogue Partner Center gives."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest

from devhost.azurite import Azurite
from shared.book import Book
from shared.config import Settings
from shared.models import Offer, PriceList
from tests.app_functions import user_function
from tests.devhost.azurite_fixture import azurite_service

__all__ = ["azurite_service"]

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"


@pytest.fixture
def book(azurite: Azurite, configure: Callable[..., Settings]) -> Book:
    settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"k{uuid.uuid4().hex[:16]}",
    )
    return Book(settings)


def offer(cost: int, cycle: str = "monthly") -> Offer:
    return Offer.model_validate(
        {
            "catalog_item_id": BASIC,
            "country": "US",
            "name": "Microsoft 365 Business Basic",
            "term_duration": "P1Y",
            "billing_cycle": cycle,
            "unit_cost": {"amount_minor": cost, "currency": "USD"},
            "family": "m365-business",
            "rank": 1,
        }
    )


def catalog() -> dict[str, Any]:
    request = func.HttpRequest(
        "GET", "http://127.0.0.1/api/catalog", body=b"", params={"country": "US", "currency": "USD"}
    )
    response = user_function("get_catalog")(request)
    assert response.status_code == 200, response.get_body()
    body: dict[str, Any] = json.loads(response.get_body())
    return body


def fixed_list(allow: bool) -> PriceList:
    return PriceList.model_validate(
        {
            "id": "standard",
            "currency": "USD",
            "default": {"kind": "fixed", "price": {"amount_minor": 700, "currency": "USD"}},
            "allow_below_cost": allow,
        }
    )


# docs/rules.md#below-cost
@pytest.mark.parametrize(
    ("allow", "sell", "below", "unpriced"),
    [(True, 700, True, False), (False, None, True, True)],
)
def test_a_price_under_cost_is_flagged_if_allowed_and_withheld_if_not(
    book: Book, allow, sell, below, unpriced
):
    book.offers.save(offer(600))
    book.offers.save(offer(7200, "annual"))  # a fixed 700 a year is far under cost
    book.price_lists.save(fixed_list(allow))
    items = {i["offer_id"]: i for i in catalog()["items"]}
    annual = items[f"{BASIC}:P1Y:annual"]
    price = None if annual["sell_price"] is None else annual["sell_price"]["amount_minor"]
    assert (price, annual["below_cost"], annual["unpriced_reason"] is not None) == (
        sell,
        below,
        unpriced,
    )
    monthly = items[f"{BASIC}:P1Y:monthly"]
    assert (monthly["sell_price"]["amount_minor"], monthly["below_cost"]) == (700, False)


def test_each_offer_says_how_many_seats_one_subscription_may_hold(book: Book):
    # docs/rules.md#seat-limits: the SKU's minimumQuantity and maximumQuantity, for the
    # storefront's quantity field.
    book.offers.save(offer(600).model_copy(update={"max_quantity": 300}))
    book.offers.save(offer(7200, "annual"))  # the catalogue did not say
    book.price_lists.save(fixed_list(True))
    items = {i["offer_id"]: i for i in catalog()["items"]}
    monthly, annual = items[f"{BASIC}:P1Y:monthly"], items[f"{BASIC}:P1Y:annual"]
    assert (monthly["min_quantity"], monthly["max_quantity"]) == (1, 300)
    assert (annual["min_quantity"], annual["max_quantity"]) == (1, None)


def put(list_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = func.HttpRequest(
        "PUT",
        f"http://127.0.0.1/api/price-lists/{list_id}",
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        route_params={"price_list_id": list_id},
    )
    response = user_function("put_price_list")(request)
    return response.status_code, json.loads(response.get_body())


def test_a_price_list_round_trips_and_a_currency_left_out_is_removed(book: Book):
    both = {
        "currencies": {
            "USD": {
                "name": "Standard",
                "default": {"kind": "markup", "rate": "0.2"},
                "families": {"m365-business": {"kind": "markup", "rate": "0.15"}},
                "customers": {},
                "rounding": "half_even",
            },
            "EUR": {"default": {"kind": "fixed", "amount_minor": 900}, "allow_below_cost": True},
        }
    }
    status, document = put("standard", both)
    assert status == 200, document
    assert list(document["currencies"]) == ["EUR", "USD"]
    assert document["currencies"]["EUR"]["default"] == {"kind": "fixed", "amount_minor": 900}
    assert book.price_lists.get("standard", "EUR").default.price.amount_minor == 900  # type: ignore[union-attr]
    assert book.price_lists.get("standard", "USD").rounding == "half_even"

    status, document = put("standard", {"currencies": {"USD": both["currencies"]["USD"]}})
    assert (status, list(document["currencies"])) == (200, ["USD"])
    assert [p.record.currency for p in book.price_lists.in_every_currency("standard")] == ["USD"]
    request = func.HttpRequest(
        "GET",
        "http://127.0.0.1/api/price-lists/standard",
        body=b"",
        route_params={"price_list_id": "standard"},
    )
    got = json.loads(user_function("get_price_list")(request).get_body())
    assert got == document
