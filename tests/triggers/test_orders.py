"""The order routes' bodies (triggers/orders.py) on a real book in Azurite, with an injected
domain check and an in-memory Durable client: a malformed order and every business refusal a
4xx naming the field before anything starts; prices from the book's price list, a coterminous
line prorated to the minor unit; the onboarding started once; the order read back with its
steps, SLA clock and reason. The routes run over HTTP in tests/e2e/test_onboarding.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from devhost.azurite import Azurite
from shared.book import Book
from shared.config import Settings
from shared.models import Customer, Money, Offer, PriceList
from shared.models.onboarding import OrderProgress, PlaceOrder
from tests.devhost.azurite_fixture import azurite_service
from tests.shared.book.records import subscription_record
from triggers.api import ApiProblem
from triggers.api.parsing import parse_json, validate_body
from triggers.orders import (
    card_saved_page,
    card_setup_return_url,
    order_view,
    price_order,
    start_onboarding,
)

__all__ = ["azurite_service"]

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"
TENANT = "4a7e2f5c-93d1-4c1b-8a55-1f0d3c9e2b71"


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


def offer(
    item: str, term: str, cycle: str, cost: int, name: str = "Business Basic", **seats: int
) -> Offer:
    return Offer.model_validate(
        {
            "max_quantity": 300,
            **seats,
            "catalog_item_id": item,
            "country": "US",
            "name": name,
            "term_duration": term,
            "billing_cycle": cycle,
            "unit_cost": usd(cost).model_dump(),
            "family": "m365-business",
            "rank": 1,
        }
    )


@pytest.fixture
def book(azurite: Azurite, configure: Callable[..., Settings]) -> Book:
    settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"o{uuid.uuid4().hex[:16]}",
    )
    the_book = Book(settings)
    for o in (
        offer(BASIC, "P1Y", "monthly", 600),
        offer(BASIC, "P1Y", "annual", 7200),
        offer(BASIC, "P1M", "monthly", 720),
        offer(STANDARD, "P1Y", "annual", 12000, "Business Standard", min_quantity=2),
    ):
        the_book.offers.save(o)
    the_book.price_lists.save(
        PriceList.model_validate(
            {"id": "standard", "currency": "USD", "default": {"kind": "markup", "rate": "0.20"}}
        )
    )
    return the_book


def new_order(**customer: Any) -> dict[str, Any]:
    return {
        "order_id": "shop-1",
        "customer": {
            "company_name": "Fabrikam",
            "domain": "fabrikam.onmicrosoft.com",
            "country": "US",
            "address": {"address_line1": "1 Main St", "city": "Redmond", "postal_code": "98052"},
            "contacts": [{"name": "Ada Lovelace", "email": "ada@fabrikam.example"}],
            "billing_currency": "USD",
            "payment_method": "pm_card_visa",
            **customer,
        },
        "lines": [
            {"catalog_item_id": BASIC, "term_duration": "P1Y", "billing_cycle": "monthly",
             "quantity": 5},
            {"catalog_item_id": BASIC, "term_duration": "P1Y", "billing_cycle": "annual",
             "quantity": 2},
            {"catalog_item_id": BASIC, "term_duration": "P1M", "billing_cycle": "monthly",
             "quantity": 1},
        ],
    }  # fmt: skip


def free(domain: str) -> bool | None:
    return True


def priced(the_book: Book, body: dict[str, Any], domain_free: Any = free) -> Any:
    return price_order(the_book, PlaceOrder.model_validate(body), NOW, domain_free)


def refusal(the_book: Book, body: dict[str, Any], domain_free: Any = free) -> tuple[int, str, str]:
    with pytest.raises(ApiProblem) as caught:
        priced(the_book, body, domain_free)
    problem = caught.value
    return problem.status, problem.code, problem.errors[0].field


def test_a_new_customers_lines_are_priced_from_the_price_list_never_the_request(book):
    order = priced(book, new_order())
    assert order.customer_id == "fabrikam" and order.currency == "USD"
    # 20 % over Microsoft's cost, per seat per billing period, times the quantity
    assert [p.line.unit_price for p in order.lines] == [usd(720), usd(8640), usd(864)]
    assert [p.first_charge for p in order.lines] == [usd(3600), usd(17280), usd(864)]
    assert order.first_total == usd(21744)
    assert order.lines[0].period_start == datetime(2026, 1, 5, tzinfo=UTC)
    assert order.lines[0].period_end == datetime(2026, 2, 5, tzinfo=UTC)
    assert order.net_days is None and order.new_customer is not None


def test_an_existing_customers_coterminous_line_is_prorated_to_the_minor_unit(book):
    book.customers.save(
        Customer.model_validate(
            {
                "id": "contoso", "partner_id": "p", "company_name": "Contoso",
                "domain": "contoso.onmicrosoft.com", "tenant_id": TENANT,
                "contacts": [{"name": "Ada", "email": "ada@contoso.example"}],
                "billing_currency": "USD", "country": "US",
                "stripe_customer_id": "cus_Contoso",
            }
        )
    )  # fmt: skip
    # an existing subscription whose term's last day is 2026-06-14
    book.subscriptions.add(
        subscription_record("sub-1", "contoso", term_end=datetime(2026, 6, 15, tzinfo=UTC))
    )
    body = {
        "order_id": "shop-2",
        "customer_id": "contoso",
        "lines": [{"catalog_item_id": STANDARD, "term_duration": "P1Y", "billing_cycle": "annual",
                   "quantity": 3, "custom_term_end_date": "2026-06-14"}],
    }  # fmt: skip
    order = priced(book, body)
    (line,) = order.lines
    # docs/rules.md#coterminous-first-charge: the period [2025-06-15, 2026-06-15) of 365 days;
    # 161 days from 2026-01-05; 14400 x 3 x 161 / 365 = 19055.34 -> 19055
    assert line.line.unit_price == usd(14400)
    assert line.first_charge == usd(19055)
    assert (line.period_start.date(), line.period_end.date()) == (date(2026, 1, 5),
                                                                  date(2026, 6, 15))  # fmt: skip
    assert order.tenant_id == TENANT and order.stripe_customer_id == "cus_Contoso"
    assert order.new_customer is None


def test_a_line_may_end_on_the_calendar_month_end_of_its_term(book):
    body = new_order()
    body["lines"][0]["custom_term_end_date"] = "2026-12-31"
    order = priced(book, body)
    # docs/rules.md#coterminous-end-dates: bought on 2026-01-05, the term may end on the month
    # end before its natural last day 2027-01-04; docs/rules.md#coterminous-first-charge:
    # [2026-01-01, 2026-02-01), 27 of 31 days
    assert order.lines[0].first_charge == usd(3135)  # 720 x 5 x 27/31 = 3135.48


def with_line(**change: Any) -> dict[str, Any]:
    body = new_order()
    body["lines"][1] = {**body["lines"][1], **change}
    return body


# Each malformed order is refused by the body's model (the API kit's 422 naming each field).
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in new_order().items() if k != "customer"}, "(body)"),
        (new_order() | {"customer_id": "fabrikam"}, "(body)"),
        (new_order() | {"order_id": "a/b"}, "order_id"),
        (new_order() | {"lines": []}, "lines"),
        (with_line(quantity=0), "lines[1].quantity"),
        (with_line(term_duration="P2Y"), "lines[1].term_duration"),
        (with_line(billing_cycle="weekly"), "lines[1].billing_cycle"),
        (with_line(catalog_item_id="not-an-item"), "lines[1].catalog_item_id"),
        (with_line(custom_term_end_date="next june"), "lines[1].custom_term_end_date"),
        (new_order(domain="fabrikam.com"), "customer"),
        (new_order(payment_method=None), "customer"),
        (new_order(payment="card_link"), "customer"),
        (new_order(country="USA"), "customer.country"),
        (new_order(billing_currency="US$"), "customer.billing_currency"),
        (new_order(contacts=[]), "customer.contacts"),
        (new_order(contacts=[{"name": "Ada", "email": "not-mail"}]), "customer.contacts[0].email"),
        (new_order(sla_tier="gold"), "customer.sla_tier"),
        (new_order(unknown="x"), "customer.unknown"),
    ],
)
def test_a_malformed_order_is_a_422_naming_the_field(body, field):
    with pytest.raises(ApiProblem) as caught:
        validate_body(parse_json(json.dumps(body).encode()), PlaceOrder)
    assert caught.value.status == 422
    assert field in {e.field for e in caught.value.errors}


def test_a_line_billed_longer_than_its_term_is_refused_naming_the_line():
    body = with_line(term_duration="P1M", billing_cycle="annual")
    with pytest.raises(ApiProblem) as caught:
        validate_body(parse_json(json.dumps(body).encode()), PlaceOrder)
    assert caught.value.status == 422 and caught.value.errors[0].field.startswith("lines[1]")


# Business refusals before anything starts: 422 naming the field (docs/api.md#orders).
@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (new_order(country="DE"), "not_sold", "lines[0].catalog_item_id"),
        (new_order(billing_currency="EUR"), "no_price_list", "customer.billing_currency"),
        (with_line(catalog_item_id="DZH318Z0BQ3Q:0007:DZH318Z0BMGX"), "not_sold",
         "lines[1].catalog_item_id"),
        (with_line(catalog_item_id=STANDARD, term_duration="P3Y"), "term_not_offered",
         "lines[1].term_duration"),
        (with_line(catalog_item_id=STANDARD, billing_cycle="monthly"), "billing_cycle_not_offered",
         "lines[1].billing_cycle"),
        # docs/rules.md#coterminous-end-dates
        (with_line(custom_term_end_date="2026-06-14"), "custom_term_end_date_not_allowed",
         "lines[1].custom_term_end_date"),
        (with_line(custom_term_end_date="2027-01-31"), "custom_term_end_date_not_allowed",
         "lines[1].custom_term_end_date"),
        (with_line(custom_term_end_date="2026-06-30"), "custom_term_end_date_not_allowed",
         "lines[1].custom_term_end_date"),
        # docs/rules.md#seat-limits: the SKU's maximumQuantity and minimumQuantity
        (with_line(quantity=301), "quantity_not_offered", "lines[1].quantity"),
        (with_line(catalog_item_id=STANDARD, term_duration="P1Y", billing_cycle="annual",
                   quantity=1), "quantity_not_offered", "lines[1].quantity"),
        (new_order(locale="xx"), "unknown_locale", "customer.locale"),
        ({"order_id": "o", "customer_id": "nobody", "lines": new_order()["lines"]},
         "unknown_customer", "customer_id"),
    ],
)  # fmt: skip
def test_an_order_the_business_refuses_is_a_422_naming_the_field(book, body, code, field):
    assert refusal(book, body) == (422, code, field)


def test_a_domain_partner_center_has_is_refused_and_one_it_cannot_check_is_left_to_the_workflow(
    book,
):
    assert refusal(book, new_order(), lambda d: False) == (422, "domain_taken", "customer.domain")
    unchecked = priced(book, new_order(), lambda d: None)
    assert unchecked.customer_id == "fabrikam" and unchecked.domain_free_at is None
    # one Partner Center found free is not asked about again by the workflow
    assert priced(book, new_order(), lambda d: True).domain_free_at == NOW


def test_the_reads_run_together_but_the_first_field_at_fault_is_still_the_one_named(book):
    # a taken domain and a line not sold in the country: the domain comes first
    taken_and_unsold = new_order(country="DE")
    assert refusal(book, taken_and_unsold, lambda d: False) == (
        422, "domain_taken", "customer.domain"
    )  # fmt: skip
    # no price list for the currency and an unsold line: the currency comes first
    assert refusal(book, new_order(country="DE", billing_currency="EUR")) == (
        422, "no_price_list", "customer.billing_currency"
    )  # fmt: skip


def test_a_domain_the_book_has_is_refused(book):
    book.customers.save(
        Customer.model_validate(
            {"id": "fabrikam", "partner_id": "p", "company_name": "Fabrikam",
             "domain": "fabrikam.onmicrosoft.com",
             "contacts": [{"name": "Ada", "email": "ada@fabrikam.example"}],
             "billing_currency": "USD"}
        )
    )  # fmt: skip
    assert refusal(book, new_order()) == (422, "domain_taken", "customer.domain")


def test_a_customer_not_yet_onboarded_cannot_add_products(book):
    book.customers.save(
        Customer.model_validate(
            {"id": "half", "partner_id": "p", "company_name": "Half", "domain":
             "half.onmicrosoft.com", "contacts": [{"name": "A", "email": "a@half.example"}],
             "billing_currency": "USD"}
        )
    )  # fmt: skip
    body = {"order_id": "o", "customer_id": "half", "lines": new_order()["lines"]}
    assert refusal(book, body) == (422, "not_onboarded", "customer_id")


@dataclass
class DurableClient:
    status: Status | None = None
    input: Any = None
    custom_status: Any = None
    output: Any = None
    started: list[tuple[str, str, Any]] = field(default_factory=list)

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        return SimpleNamespace(
            runtime_status=self.status,
            input_=self.input,
            custom_status=self.custom_status,
            output=self.output,
        )

    async def start_new(self, name: str, instance_id: str, input_: Any) -> str:
        self.started.append((name, instance_id, input_))
        self.status, self.input = Status.Pending, input_
        return instance_id


def test_the_onboarding_starts_once_per_order(book):
    client = DurableClient()
    order = priced(book, new_order())
    assert asyncio.run(start_onboarding(client, order)) is True
    assert asyncio.run(start_onboarding(client, order)) is False
    assert [(n, i) for n, i, _ in client.started] == [("onboarding", "order-shop-1")]


def test_the_order_is_read_back_with_its_steps_and_reason(book):
    order = priced(book, new_order())
    client = DurableClient()
    asyncio.run(start_onboarding(client, order))
    client.status = Status.Completed
    client.output = OrderProgress(
        status="failed",
        steps=({"step": "reserved", "at": NOW},),  # type: ignore[arg-type]
        reason="The first payment was declined: Your card has insufficient funds.",
    ).model_dump(mode="json")
    status = asyncio.run(client.get_status("order-shop-1", show_input=True))
    view = order_view(status, book, "shop-1", NOW + timedelta(minutes=1))
    assert view is not None and view.status == "failed"
    assert view.reason is not None and "insufficient funds" in view.reason
    assert [s.step for s in view.steps] == ["reserved"] and len(view.lines) == 3
    nothing = asyncio.run(DurableClient().get_status("order-nope", show_input=True))
    assert order_view(nothing, book, "nope", NOW) is None


# The card-setup link's return page (docs/onboarding.md, "A card-setup link").
def test_a_saved_card_returns_to_cspflows_own_page_unless_the_partner_set_its_storefront(
    configure,
):
    settings = configure(CSPFLOW_PUBLIC_BASE_URL="https://cspflow.contoso-cloud.example")
    assert card_setup_return_url(settings, "ord-1") == (
        "https://cspflow.contoso-cloud.example/api/orders/ord-1/card-setup/done"
    )
    settings = configure(
        CSPFLOW_ONBOARDING_CARD_SETUP_RETURN_URL="https://shop.contoso-cloud.example/thanks"
    )
    assert card_setup_return_url(settings, "ord-1") == "https://shop.contoso-cloud.example/thanks"


@pytest.mark.parametrize(
    ("locale", "title", "next_step"),
    [
        ("en", "Your card is saved", "We will email you as soon as your licences are ready."),
        ("nl-NL", "Uw kaart is opgeslagen", "We mailen u zodra uw licenties klaar zijn."),
    ],
)
def test_the_card_saved_page_says_what_happens_next_in_the_customers_locale(
    configure, locale, title, next_step
):
    page = card_saved_page(configure(CSPFLOW_PARTNER_NAME="Contoso Cloud"), "ord-<1>", locale)
    assert page.title == title
    assert f"<title>{title}</title>" in page.html and f'lang="{locale[:2]}"' in page.html
    assert next_step in page.html and "Contoso Cloud" in page.html
    assert "ord-&lt;1&gt;" in page.html and "ord-<1>" not in page.html  # escaped
