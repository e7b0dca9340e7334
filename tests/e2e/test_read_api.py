"""The read side of the partner API through the whole local stack (devhost in virtual time,
function keys enforced, the book on the stack's Azurite, the Partner Center sandbox): the
catalogue imported from Partner Center and priced from the price list in force, customers
found by the start of a name or domain, a subscription's answer with what can be done until
when and by which rule, and a customer's timeline in time order.

The book is seeded as the sync will write it (shared/book/, through `stack.settings`); the
catalogue comes from the sandbox through `POST /api/ops/catalog-syncs`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.book import Book
from shared.models import Customer, SubscriptionRecord, TimelineEntry
from tests.e2e.harness import LocalStack, Namespace
from triggers.ops import catalog_sync_instance_id

pytestmark = pytest.mark.e2e

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"
FAMILY = "m365-business"
# The sandbox's US catalogue: 5 paid SKUs on P1M (monthly), P1Y (monthly, annual) and P3Y
# (monthly, annual, triennial), and 2 trials on P1M monthly.
US_OFFERS = 5 * 6 + 2
STANDARD_LIST = {"currencies": {"USD": {"default": {"kind": "markup", "rate": "0.20"}}}}
H = timedelta(hours=1)
D = timedelta(days=1)


def rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def import_catalog(stack: LocalStack, countries: list[str]) -> dict[str, Any]:
    """Import markets from the sandbox; the finished report. A sync of the same markets in
    this UTC minute (an earlier test's) is purged first: the trigger collapses onto it."""
    stack.purge(catalog_sync_instance_id(stack.now(), countries))
    started = ok(stack.api("POST", "/api/ops/catalog-syncs", json={"countries": countries}), 202)
    status = stack.wait_for_instance(started["id"], "Completed", timeout=90)
    report: dict[str, Any] = status["output"]
    return report


def book(stack: LocalStack) -> Book:
    return Book(stack.settings)


def customer(ns: Namespace, label: str, name: str, **overrides: Any) -> Customer:
    data = {
        "id": ns.id(label),
        "partner_id": "partner-1",
        "company_name": f"{ns.prefix} {name}",
        "domain": f"{ns.prefix}{label}.onmicrosoft.com",
        "contacts": [{"name": "Ada Admin", "email": ns.email("ada")}],
        "billing_currency": "USD",
        "country": "US",
    }
    return Customer.model_validate(data | overrides)


def page_through(stack: LocalStack, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = ok(stack.api("GET", path, params=params))
        items += page["items"]
        if page["next"] is None:
            return items
        params = {**params, "next": page["next"]}


def test_the_catalogue_comes_from_partner_center_priced_from_the_list_in_force(
    stack: LocalStack, ns: Namespace
):
    listed = ok(stack.api("PUT", "/api/price-lists/standard", json=STANDARD_LIST))
    assert listed["applies_to"] == "new_charges"

    report = import_catalog(stack, ["US"])

    assert report["ok"], report
    (us,) = report["imports"]
    assert (us["country"], us["currencies"], us["offers"]) == ("US", ["USD"], US_OFFERS)
    first = ok(
        stack.api("GET", "/api/catalog", params={"country": "US", "currency": "USD", "limit": "5"})
    )
    assert len(first["items"]) == 5 and first["next"]
    offers = page_through(stack, "/api/catalog", {"country": "US", "currency": "USD", "limit": "7"})
    assert len(offers) == US_OFFERS
    basic = next(o for o in offers if o["offer_id"] == f"{BASIC}:P1Y:annual")
    assert basic["cost"] == {"amount_minor": 7200, "currency": "USD"}  # the sandbox's price sheet
    assert basic["sell_price"] == {"amount_minor": 8640, "currency": "USD"}  # 20 % over cost
    assert (basic["term_duration"], basic["billing_cycle"], basic["price_level"]) == (
        "P1Y",
        "annual",
        "default",
    )

    # A change to the list applies to what is priced after it (docs/rules.md#price-list-changes).
    changed = {
        "currencies": {
            "USD": {
                "default": {"kind": "markup", "rate": "0.20"},
                "offers": {f"{BASIC}:P1Y:annual": {"kind": "fixed", "amount_minor": 7900}},
            }
        }
    }
    ok(stack.api("PUT", "/api/price-lists/standard", json=changed))
    again = page_through(
        stack, "/api/catalog", {"country": "US", "currency": "USD", "limit": "500"}
    )
    basic = next(o for o in again if o["offer_id"] == f"{BASIC}:P1Y:annual")
    assert (basic["sell_price"]["amount_minor"], basic["price_level"]) == (7900, "offer")
    assert (
        ok(stack.api("GET", "/api/price-lists/standard"))["currencies"]["USD"]["offers"]
        == (changed["currencies"]["USD"]["offers"])
    )
    ok(stack.api("PUT", "/api/price-lists/standard", json=STANDARD_LIST))

    # A market never imported, and one not sold in the currency asked for, are named.
    unknown = stack.api("GET", "/api/catalog", params={"country": "BR", "currency": "USD"})
    assert (unknown.status_code, unknown.json()["errors"][0]["field"]) == (422, "country")
    assert (
        stack.api(
            "GET", "/api/catalog", key=None, params={"country": "US", "currency": "USD"}
        ).status_code
        == 401
    )


def test_a_european_market_is_priced_in_each_currency_its_list_has(
    stack: LocalStack, ns: Namespace
):
    list_id = ns.id("eu")
    euro = {"currencies": {"EUR": {"default": {"kind": "markup", "rate": "0.10"}}}}
    ok(stack.api("PUT", f"/api/price-lists/{list_id}", json=euro))
    report = import_catalog(stack, ["DE"])
    assert report["imports"][0]["currencies"] == ["EUR", "GBP"]
    buyer = customer(
        ns, "de", "Contoso GmbH", billing_currency="EUR", country="DE", price_list_id=list_id
    )
    book(stack).customers.ensure(buyer)
    params = {"country": "DE", "currency": "EUR", "customer_id": buyer.id, "limit": "500"}
    offers = page_through(stack, "/api/catalog", params)
    basic = next(o for o in offers if o["offer_id"] == f"{BASIC}:P1Y:monthly")
    assert (basic["cost"]["amount_minor"], basic["sell_price"]["amount_minor"]) == (552, 607)
    assert basic["price_list_id"] == list_id
    gbp = stack.api("GET", "/api/catalog", params={**params, "currency": "GBP"})
    assert (gbp.status_code, gbp.json()["code"]) == (422, "currency_mismatch")


def test_customers_are_found_by_the_start_of_their_name_or_domain_paged(
    stack: LocalStack, ns: Namespace
):
    the_book = book(stack)
    for label, name in (("a", "Fabrikam Inc"), ("b", "Fabrikam Labs"), ("c", "Contoso")):
        the_book.customers.ensure(customer(ns, label, name))

    found = page_through(stack, "/api/customers", {"name": f"{ns.prefix} FABRIKAM", "limit": "1"})
    assert [c["customer_id"] for c in found] == [ns.id("a"), ns.id("b")]
    by_domain = ok(stack.api("GET", "/api/customers", params={"domain": f"{ns.prefix}c"}))
    assert [c["customer_id"] for c in by_domain["items"]] == [ns.id("c")]
    both = ok(
        stack.api("GET", "/api/customers", params={"name": ns.prefix, "domain": f"{ns.prefix}b"})
    )
    assert [c["customer_id"] for c in both["items"]] == [ns.id("b")]

    detail = ok(stack.api("GET", f"/api/customers/{ns.id('a')}"))
    assert (detail["company_name"], detail["price_list_id"], detail["in_dunning"]) == (
        f"{ns.prefix} Fabrikam Inc",
        "standard",
        False,
    )
    missing = stack.api("GET", f"/api/customers/{ns.id('nobody')}")
    assert (missing.status_code, missing.json()["errors"][0]["field"]) == (404, "customer_id")


def subscription(
    customer_id: str, subscription_id: str, purchased: datetime, **overrides: Any
) -> SubscriptionRecord:
    end = (purchased + timedelta(days=365)).date() - timedelta(days=1)
    data: dict[str, Any] = {
        "id": subscription_id,
        "offerId": BASIC,
        "offerName": "Microsoft 365 Business Basic",
        "quantity": 15,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "effectiveStartDate": rfc3339(purchased),
        "commitmentEndDate": end.isoformat(),
    }
    own = {k: overrides.pop(k) for k in ("unit_price", "seat_batches") if k in overrides}
    return SubscriptionRecord.model_validate(
        {"customer_id": customer_id, "subscription": data | overrides, **own}
    )


def by_action(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["action"]: a for a in answer["actions"]}


def test_a_subscription_says_what_can_be_done_until_when_and_by_which_rule(
    stack: LocalStack, ns: Namespace
):
    ok(stack.api("PUT", "/api/price-lists/standard", json=STANDARD_LIST))
    import_catalog(stack, ["US"])
    the_book = book(stack)
    # The partner places Basic < Standard < Premium in one family (upgrade paths); a later
    # import keeps what the partner set.
    for rank, item in enumerate((BASIC, STANDARD, PREMIUM), start=1):
        for offer in the_book.offers.of_catalog_item("US", "USD", item):
            the_book.offers.save(offer.model_copy(update={"family": FAMILY, "rank": rank}))
    buyer = customer(ns, "buyer", "Northwind")
    the_book.customers.ensure(buyer)
    now = stack.now().replace(microsecond=0)
    purchased = now - 3 * D
    added = now - 1 * D
    record = subscription(
        buyer.id,
        ns.id("sub"),
        purchased,
        refundableQuantity={
            "totalQuantity": 15,
            "details": [
                {"quantity": 10, "allowedUntilDateTime": rfc3339(purchased + 168 * H)},
                {"quantity": 5, "allowedUntilDateTime": rfc3339(added + 168 * H)},
            ],
        },
        unit_price={"amount_minor": 700, "currency": "USD"},
    )
    the_book.subscriptions.add(record)
    path = f"/api/customers/{buyer.id}/subscriptions/{record.id}"

    answer = ok(stack.api("GET", path))

    term_end = record.term_end
    assert answer["term"]["start"] == rfc3339(purchased)
    assert answer["term"]["end"] == rfc3339(term_end)
    assert answer["seats"]["windows"] == [
        {"quantity": 10, "until": rfc3339(purchased + 168 * H)},
        {"quantity": 5, "until": rfc3339(added + 168 * H)},
    ]
    assert (answer["seats"]["removable_now"], answer["seats"]["source"]) == (15, "partner_center")
    assert answer["renewal"]["decision_deadline"] == rfc3339(term_end - 48 * H)
    assert answer["renewal"]["next_term"]["renews"] is True
    assert answer["price"]["this_term"] == {"amount_minor": 700, "currency": "USD"}
    assert answer["price"]["next_term"] == {"amount_minor": 720, "currency": "USD"}  # 600 + 20 %
    actions = by_action(answer)
    remove = actions["remove_seats"]
    assert (remove["possible"], remove["seats"], remove["until"], remove["rule"]) == (
        True,
        14,
        rfc3339(purchased + 168 * H),
        "docs/rules.md#seat-windows",
    )
    cancel = actions["cancel"]
    assert (cancel["possible"], cancel["until"], cancel["rule"]) == (
        True,
        rfc3339(purchased + 168 * H),
        "docs/rules.md#cancellation-window",
    )
    assert actions["add_seats"]["until"] == rfc3339(term_end)
    assert actions["turn_off_auto_renew"]["until"] == rfc3339(term_end - 24 * H)
    upgrade = actions["upgrade"]
    assert upgrade["possible"] and f"{STANDARD}:P1Y:monthly" in upgrade["targets"]
    assert all(not t.endswith(("P1M:monthly",)) for t in upgrade["targets"])  # never shorter

    # Five days later the purchase's window has closed; the added seats' is still open.
    stack.advance(5 * D)
    later = by_action(ok(stack.api("GET", path)))
    assert (later["remove_seats"]["seats"], later["remove_seats"]["until"]) == (
        5,
        rfc3339(added + 168 * H),
    )
    assert (later["cancel"]["possible"], later["cancel"]["rule"]) == (
        False,
        "docs/rules.md#cancellation-window",
    )
    assert later["reduce_next_term"]["possible"]

    listed = ok(stack.api("GET", f"/api/customers/{buyer.id}/subscriptions"))
    assert [s["subscription_id"] for s in listed["items"]] == [record.id]
    gone = stack.api("GET", f"/api/customers/{buyer.id}/subscriptions/{ns.id('other')}")
    assert (gone.status_code, gone.json()["errors"][0]["field"]) == (404, "subscription_id")


def test_a_customers_timeline_comes_in_time_order_from_an_instant_on(
    stack: LocalStack, ns: Namespace
):
    the_book = book(stack)
    buyer = customer(ns, "timeline", "Tailspin")
    the_book.customers.ensure(buyer)
    start = stack.now().replace(microsecond=0)
    for n, hours in enumerate((5, 1, 3)):
        the_book.timeline.append(
            TimelineEntry(
                customer_id=buyer.id,
                id=f"order:{ns.id(str(n))}:placed",
                at=start + hours * H,
                kind="order",
                summary=f"order {n} placed",
            )
        )
    path = f"/api/customers/{buyer.id}/timeline"
    entries = page_through(stack, path, {"limit": "2"})
    assert [e["summary"] for e in entries] == ["order 1 placed", "order 2 placed", "order 0 placed"]
    since = ok(stack.api("GET", path, params={"since": rfc3339(start + 2 * H)}))
    assert [e["summary"] for e in since["items"]] == ["order 2 placed", "order 0 placed"]
