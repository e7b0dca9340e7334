"""Bad input to every route of the read API, the catalogue and the price lists, on a live
devhost serving function_app.py (function keys enforced) with the book on Azurite: each
malformed request is a 4xx problem naming the field, never a 500 (docs/api.md).

The book is seeded directly (a customer billed in USD and one in EUR, the US catalogue in
USD, a GB one in GBP without a price list, the standard list in USD), so a refusal that
depends on what the book holds (an unknown market, a currency not sold, a customer named by a
price list) meets a real book. tests/e2e/test_read_api.py drives the same routes with good
input through the whole stack."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from shared.book import Book
from shared.config import Settings
from shared.models import Customer, Markup, Offer, PriceList, SubscriptionRecord
from tests.devhost.azurite_fixture import azurite_service
from tests.devhost.host_process import ROOT, HostProcess, running_host

__all__ = ["azurite_service"]

pytestmark = pytest.mark.slow

KEY = "function-key-for-read-api-tests"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
BASIC_ANNUAL = f"{BASIC}:P1Y:annual"
DEAD = "http://127.0.0.1:9"


def customer(customer_id: str, currency: str) -> Customer:
    return Customer.model_validate(
        {
            "id": customer_id,
            "partner_id": "p-1",
            "company_name": f"Company {customer_id}",
            "domain": f"{customer_id}.onmicrosoft.com",
            "contacts": [{"name": "Ada Admin", "email": "ada@example.com"}],
            "billing_currency": currency,
            "country": "US",
        }
    )


def offer(country: str, currency: str, cost: int = 7200) -> Offer:
    return Offer.model_validate(
        {
            "catalog_item_id": BASIC,
            "country": country,
            "name": "Microsoft 365 Business Basic",
            "term_duration": "P1Y",
            "billing_cycle": "annual",
            "unit_cost": {"amount_minor": cost, "currency": currency},
            "family": "m365-business",
            "rank": 1,
        }
    )


@pytest.fixture(scope="module")
def live(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    prefix = f"r{uuid.uuid4().hex[:16]}"
    settings = Settings.model_validate(
        {"AzureWebJobsStorage": azurite.connection_string, "table_prefix": prefix}
    )
    book = Book(settings)
    book.customers.ensure(customer("c-usd", "USD"))
    book.customers.ensure(customer("c-eur", "EUR"))
    book.subscriptions.add(
        SubscriptionRecord.model_validate(
            {
                "customer_id": "c-usd",
                "subscription": {
                    "id": "sub-1",
                    "offerId": BASIC,
                    "quantity": 5,
                    "status": "active",
                    "autoRenewEnabled": True,
                    "billingCycle": "annual",
                    "termDuration": "P1Y",
                    "effectiveStartDate": "2026-01-14T16:57:14Z",
                    "commitmentEndDate": "2027-01-13",
                },
            }
        )
    )
    book.offers.save(offer("US", "USD"))
    book.offers.save(offer("GB", "GBP", 5700))
    book.price_lists.save(
        PriceList(id="standard", currency="USD", default=Markup(rate="0.20"))  # type: ignore[arg-type]
    )
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_TABLE_PREFIX": prefix,
        "TASKHUB_NAME": "readapitests",
        "DEVHOST_FUNCTION_KEY": KEY,
        "CSPFLOW_STRIPE_API_BASE": DEAD,
        "CSPFLOW_PARTNER_CENTER_BASE_URL": DEAD,
    }
    state = tmp_path_factory.mktemp("devhost-state")
    with running_host(ROOT, "--enable-auth", "--state-dir", str(state), env=env) as host:
        yield host


def call(live: HostProcess, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"x-functions-key": KEY, **kwargs.pop("headers", {})}
    return requests.request(method, live.url + path, headers=headers, timeout=30, **kwargs)


def cursor_of(live: HostProcess, path: str) -> str:
    page = call(live, "GET", path).json()
    assert page["next"], page
    return str(page["next"])


def price_list(currency: str = "USD", **version: Any) -> dict[str, Any]:
    return {"currencies": {currency: {"default": {"kind": "markup", "rate": "0.2"}} | version}}


GOOD_RULE = {"kind": "markup", "rate": "0.2"}

# (method, path, keyword arguments, status, code, field the problem names)
MALFORMED: list[tuple[str, str, dict[str, Any], int, str, str]] = [
    # GET /api/customers
    ("GET", "/api/customers?limit=0", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/api/customers?limit=201", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/api/customers?limit=ten", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/api/customers?next=bm90LWEtY3Vyc29y", {}, 400, "invalid_cursor", "next"),
    ("GET", "/api/customers?name=", {}, 400, "invalid_parameter", "name"),
    ("GET", "/api/customers?name=" + "x" * 201, {}, 400, "invalid_parameter", "name"),
    ("GET", "/api/customers?domain=a%2Fb", {}, 400, "invalid_parameter", "domain"),
    # GET /api/customers/{customer_id}
    ("GET", "/api/customers/nobody", {}, 404, "not_found", "customer_id"),
    ("GET", "/api/customers/bad%20id", {}, 404, "not_found", "customer_id"),
    ("GET", "/api/customers/" + "c" * 65, {}, 404, "not_found", "customer_id"),
    ("GET", "/api/customers/%F0%9F%98%80", {}, 404, "not_found", "customer_id"),
    # GET /api/customers/{customer_id}/subscriptions
    ("GET", "/api/customers/nobody/subscriptions", {}, 404, "not_found", "customer_id"),
    ("GET", "/api/customers/c-usd/subscriptions?limit=-1", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/api/customers/c-usd/subscriptions?next=x.y", {}, 400, "invalid_cursor", "next"),
    # GET /api/customers/{customer_id}/subscriptions/{subscription_id}
    ("GET", "/api/customers/c-usd/subscriptions/nope", {}, 404, "not_found", "subscription_id"),
    ("GET", "/api/customers/nobody/subscriptions/sub-1", {}, 404, "not_found", "customer_id"),
    ("GET", "/api/customers/c-eur/subscriptions/sub-1", {}, 404, "not_found", "subscription_id"),
    (
        "GET",
        "/api/customers/c-usd/subscriptions/" + "s" * 65,
        {},
        404,
        "not_found",
        "subscription_id",
    ),
    # GET /api/customers/{customer_id}/timeline
    ("GET", "/api/customers/nobody/timeline", {}, 404, "not_found", "customer_id"),
    (
        "GET",
        "/api/customers/c-usd/timeline?since=2026-01-01T00:00:00",
        {},
        400,
        "invalid_parameter",
        "since",
    ),
    ("GET", "/api/customers/c-usd/timeline?since=yesterday", {}, 400, "invalid_parameter", "since"),
    ("GET", "/api/customers/c-usd/timeline?limit=1000", {}, 400, "invalid_parameter", "limit"),
    # GET /api/catalog
    ("GET", "/api/catalog", {}, 400, "invalid_parameter", "country"),
    ("GET", "/api/catalog?country=US", {}, 400, "invalid_parameter", "currency"),
    ("GET", "/api/catalog?country=USA&currency=USD", {}, 400, "invalid_parameter", "country"),
    ("GET", "/api/catalog?country=us&currency=USD", {}, 400, "invalid_parameter", "country"),
    ("GET", "/api/catalog?country=US&currency=usd", {}, 400, "invalid_parameter", "currency"),
    ("GET", "/api/catalog?country=US&currency=XYZ", {}, 400, "invalid_parameter", "currency"),
    ("GET", "/api/catalog?country=ZZ&currency=USD", {}, 422, "unknown_market", "country"),
    ("GET", "/api/catalog?country=US&currency=EUR", {}, 422, "currency_not_sold", "currency"),
    ("GET", "/api/catalog?country=GB&currency=USD", {}, 422, "currency_not_sold", "currency"),
    ("GET", "/api/catalog?country=GB&currency=GBP", {}, 422, "no_price_list", "currency"),
    (
        "GET",
        "/api/catalog?country=US&currency=USD&customer_id=nobody",
        {},
        422,
        "unknown_customer",
        "customer_id",
    ),
    (
        "GET",
        "/api/catalog?country=US&currency=USD&customer_id=c-eur",
        {},
        422,
        "currency_mismatch",
        "currency",
    ),
    (
        "GET",
        "/api/catalog?country=US&currency=USD&limit=501",
        {},
        400,
        "invalid_parameter",
        "limit",
    ),
    # GET /api/price-lists/{price_list_id}
    ("GET", "/api/price-lists/nope", {}, 404, "not_found", "price_list_id"),
    ("GET", "/api/price-lists/bad%20id", {}, 404, "not_found", "price_list_id"),
    # PUT /api/price-lists/{price_list_id}
    ("PUT", "/api/price-lists/p1", {"data": b""}, 415, "unsupported_media_type", ""),
    (
        "PUT",
        "/api/price-lists/p1",
        {"data": b"", "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
        "(body)",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"data": b'{"currencies": {}', "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
        "(body)",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": {"currencies": {}}},
        422,
        "validation_failed",
        "currencies",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": {"currencies": []}},
        422,
        "validation_failed",
        "currencies",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(default={"kind": "markup", "rate": 0.2})},
        422,
        "validation_failed",
        "currencies.USD.default.markup.rate",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(default={"kind": "markup", "rate": "-2"})},
        422,
        "validation_failed",
        "currencies.USD.default.markup.rate",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(default={"rate": "0.2"})},
        422,
        "validation_failed",
        "currencies.USD.default",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(default={"kind": "fixed", "amount_minor": -1})},
        422,
        "validation_failed",
        "currencies.USD.default.fixed.amount_minor",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(currency="EUD")},
        422,
        "validation_failed",
        "currencies.EUD.[key]",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(bogus=1)},
        422,
        "validation_failed",
        "currencies.USD.bogus",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(rounding="banker")},
        422,
        "validation_failed",
        "currencies.USD.rounding",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(offers={"not-an-offer": GOOD_RULE})},
        422,
        "validation_failed",
        "currencies.USD.offers.not-an-offer.[key]",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(customers={"nobody": {"default": GOOD_RULE}})},
        422,
        "unknown_customer",
        "currencies.USD.customers.nobody",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(default={"kind": "markup", "rate": "-0.5"})},
        422,
        "below_cost",
        "currencies.USD.default",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {"json": price_list(offers={BASIC_ANNUAL: {"kind": "fixed", "amount_minor": 100}})},
        422,
        "below_cost",
        f"currencies.USD.offers.{BASIC_ANNUAL}",
    ),
    (
        "PUT",
        "/api/price-lists/p1",
        {
            "json": price_list(
                customers={
                    "c-usd": {"offers": {BASIC_ANNUAL: {"kind": "fixed", "amount_minor": 1}}}
                }
            )
        },
        422,
        "below_cost",
        f"currencies.USD.customers.c-usd.offers.{BASIC_ANNUAL}",
    ),
    ("PUT", "/api/price-lists/bad%20id", {"json": price_list()}, 404, "not_found", "price_list_id"),
    # POST /api/ops/catalog-syncs
    (
        "POST",
        "/api/ops/catalog-syncs",
        {"json": {"countries": []}},
        422,
        "validation_failed",
        "countries",
    ),
    (
        "POST",
        "/api/ops/catalog-syncs",
        {"json": {"countries": ["USA"]}},
        422,
        "validation_failed",
        "countries[0]",
    ),
    ("POST", "/api/ops/catalog-syncs", {"json": {}}, 422, "validation_failed", "countries"),
    (
        "POST",
        "/api/ops/catalog-syncs",
        {"json": {"countries": ["US", "US"]}},
        422,
        "validation_failed",
        "countries",
    ),
    # methods a path does not serve
    ("DELETE", "/api/price-lists/standard", {}, 405, "method_not_allowed", ""),
    ("POST", "/api/customers", {"json": {}}, 405, "method_not_allowed", ""),
    ("PUT", "/api/catalog", {"json": {}}, 405, "method_not_allowed", ""),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "field"),
    MALFORMED,
    ids=[f"{m} {p[:60]} -> {s} {f}" for m, p, _, s, _, f in MALFORMED],
)
def test_a_malformed_request_is_a_4xx_naming_the_field(
    live: HostProcess,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    answer = call(live, method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == code, problem
    if field:
        assert field in {e["field"] for e in problem.get("errors", [])}, problem


def test_a_cursor_sent_with_other_filters_is_refused_naming_next(live: HostProcess) -> None:
    first = cursor_of(live, "/api/customers?name=company&limit=1")
    answer = call(live, "GET", f"/api/customers?name=comp&next={first}")
    assert (answer.status_code, answer.json()["errors"][0]["field"]) == (400, "next")
    same = call(live, "GET", f"/api/customers?name=company&next={first}")
    assert same.status_code == 200 and [c["customer_id"] for c in same.json()["items"]] == ["c-usd"]


def test_every_read_route_needs_a_function_key(live: HostProcess) -> None:
    for path in (
        "/api/customers",
        "/api/customers/c-usd",
        "/api/customers/c-usd/subscriptions",
        "/api/customers/c-usd/subscriptions/sub-1",
        "/api/customers/c-usd/timeline",
        "/api/catalog?country=US&currency=USD",
        "/api/price-lists/standard",
    ):
        assert requests.get(live.url + path, timeout=10).status_code == 401, path


def test_a_refused_price_list_leaves_the_book_as_it_was(live: HostProcess) -> None:
    before = call(live, "GET", "/api/price-lists/standard").json()
    refused = call(
        live,
        "PUT",
        "/api/price-lists/standard",
        json=price_list(default={"kind": "markup", "rate": "-0.5"}),
    )
    assert refused.status_code == 422
    assert call(live, "GET", "/api/price-lists/standard").json() == before
    assert before["currencies"]["USD"]["default"] == {"kind": "markup", "rate": "0.20"}


def test_storage_that_is_down_is_a_503_with_retry_after(
    tmp_path: Path,
) -> None:
    env = {
        "AzureWebJobsStorage": (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            f"TableEndpoint={DEAD}/devstoreaccount1;QueueEndpoint={DEAD}/devstoreaccount1;"
            f"BlobEndpoint={DEAD}/devstoreaccount1;"
        ),
        "TASKHUB_NAME": "readapidead",
        "DEVHOST_FUNCTION_KEY": KEY,
    }
    with running_host(ROOT, "--enable-auth", "--state-dir", str(tmp_path), env=env) as host:
        answer = call(host, "GET", "/api/customers/c-usd")
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "storage_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
