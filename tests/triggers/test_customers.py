"""The customer and subscription routes as functions (the worker's callables, triggers/
customers.py) on a real book in Azurite: what a subscription's price block says in every case
the book can be in. tests/e2e/test_read_api.py runs the routes over HTTP in virtual time;
tests/triggers/test_read_api_requests.py holds them to bad input."""

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
from shared.models import (
    Customer,
    CustomerPricing,
    FixedPrice,
    Markup,
    Money,
    Offer,
    PriceList,
    SubscriptionRecord,
)
from tests.app_functions import user_function
from tests.devhost.azurite_fixture import azurite_service
from tests.shared.book.records import dunning_case

__all__ = ["azurite_service"]

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"


@pytest.fixture
def book(azurite: Azurite, configure: Callable[..., Settings]) -> Book:
    settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"c{uuid.uuid4().hex[:16]}",
    )
    return Book(settings)


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


def customer(**overrides: Any) -> Customer:
    data = {
        "id": "c-1",
        "partner_id": "p-1",
        "company_name": "Northwind",
        "domain": "northwind.onmicrosoft.com",
        "contacts": [{"name": "Ada Admin", "email": "ada@example.com"}],
        "billing_currency": "USD",
        "country": "US",
    }
    return Customer.model_validate(data | overrides)


def offer(item: str = BASIC, cost: int = 600, cycle: str = "monthly") -> Offer:
    return Offer.model_validate(
        {
            "catalog_item_id": item,
            "country": "US",
            "name": "an offer",
            "term_duration": "P1Y",
            "billing_cycle": cycle,
            "unit_cost": usd(cost).model_dump(),
            "family": "m365-business",
            "rank": 1 if item == BASIC else 2,
        }
    )


def subscription(**overrides: Any) -> SubscriptionRecord:
    data = {
        "id": "sub-1",
        "offerId": BASIC,
        "quantity": 5,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "effectiveStartDate": "2026-01-14T16:57:14Z",
        "commitmentEndDate": "2099-01-13",
    }
    return SubscriptionRecord.model_validate(
        {
            "customer_id": "c-1",
            "subscription": data | overrides,
            "unit_price": usd(650).model_dump(),
        }
    )


def get(name: str, url: str, **route: str) -> tuple[int, Any]:
    request = func.HttpRequest("GET", url, body=b"", route_params=route)
    response = user_function(name)(request)
    return response.status_code, json.loads(response.get_body())


def price(**route: str) -> dict[str, Any]:
    status, body = get(
        "get_subscription",
        "http://127.0.0.1/api/customers/c-1/subscriptions/sub-1",
        customer_id="c-1",
        subscription_id="sub-1",
        **route,
    )
    assert status == 200, body
    result: dict[str, Any] = body["price"]
    return result


def standard(**fields: Any) -> PriceList:
    return PriceList.model_validate(
        {"id": "standard", "currency": "USD", "default": {"kind": "markup", "rate": "0.20"}}
        | fields
    )


# docs/rules.md#price-list-changes, docs/rules.md#next-term, docs/rules.md#below-cost
@pytest.mark.parametrize(
    ("the_customer", "record", "offers", "lists", "expected", "reason"),
    [
        (customer(), subscription(), [offer()], [standard()], (720, "default"), None),
        (
            customer(),
            subscription(),
            [offer()],
            [standard(customers={"c-1": CustomerPricing(default=Markup(rate="0.10"))})],  # type: ignore[arg-type]
            (660, "customer_default"),
            None,
        ),
        (
            customer(),
            subscription(
                scheduledNextTermInstructions={
                    "product": {
                        "productId": "CFQ7TTC0LDPB",
                        "skuId": "0001",
                        "availabilityId": "CFQ7TTC0KDDK",
                        "billingCycle": "Annual",
                        "termDuration": "P1Y",
                    },
                    "quantity": 3,
                }
            ),
            [offer(), offer(STANDARD, 15000, "annual")],
            [standard(offers={f"{STANDARD}:P1Y:annual": FixedPrice(price=usd(17000))})],
            (17000, "offer"),
            None,
        ),
        (
            customer(),
            subscription(autoRenewEnabled=False),
            [offer()],
            [standard()],
            None,
            "does not renew",
        ),
        (customer(country=None), subscription(), [offer()], [standard()], None, "market"),
        (customer(), subscription(), [], [standard()], None, "not in the catalogue"),
        (customer(price_list_id="vip"), subscription(), [offer()], [standard()], None, "vip"),
        (
            customer(),
            subscription(),
            [offer()],
            [standard(default=Markup(rate="-0.5"))],  # type: ignore[arg-type]
            None,
            "below cost",
        ),
    ],
)
def test_a_subscriptions_price_is_this_terms_and_the_next_terms_from_the_list_in_force(
    book: Book, the_customer, record, offers, lists, expected, reason
):
    book.customers.ensure(the_customer)
    book.subscriptions.add(record)
    for o in offers:
        book.offers.save(o)
    for price_list in lists:
        book.price_lists.save(price_list)

    answer = price()

    assert answer["this_term"] == usd(650).model_dump(mode="json")  # never rewritten
    next_term = answer["next_term"]
    found = None if next_term is None else (next_term["amount_minor"], answer["price_level"])
    assert found == expected
    if reason is None:
        assert answer["unpriced_reason"] is None
    else:
        assert reason in answer["unpriced_reason"]
    assert answer["rule"] == "docs/rules.md#price-list-changes"


def test_a_customer_in_dunning_says_so_and_its_renewal_would_turn_auto_renew_off(book: Book):
    book.customers.ensure(customer())
    book.subscriptions.add(subscription())
    book.dunning.open(dunning_case(customer_id="c-1"))
    status, detail = get("get_customer", "http://127.0.0.1/api/customers/c-1", customer_id="c-1")
    assert (status, detail["in_dunning"]) == (200, True)
    status, answer = get(
        "get_subscription",
        "http://127.0.0.1/api/customers/c-1/subscriptions/sub-1",
        customer_id="c-1",
        subscription_id="sub-1",
    )
    assert answer["renewal"]["without_answer"] == "turn_off_auto_renew"  # docs/rules.md#no-answer


def test_an_odd_subscription_id_is_a_404_naming_it(book: Book):
    book.customers.ensure(customer())
    for odd in ("\udcff", "x" * 65, "tab\there"):
        status, problem = get(
            "get_subscription",
            "http://127.0.0.1/api/customers/c-1/subscriptions/x",
            customer_id="c-1",
            subscription_id=odd,
        )
        assert (status, problem["errors"][0]["field"]) == (404, "subscription_id")
