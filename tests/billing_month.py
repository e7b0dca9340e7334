"""The hand-worked month the billing tests bill: March 2027, three customers, two currencies
(EUR, and JPY with no minor unit), annual- and monthly-billed terms, a seat increase and a
decrease in February, a scheduled change taking effect, one customer on invoice terms, one
tax-exempt. The partner is in the Netherlands. The run is on 2027-03-01, every customer's
billing day is the 1st, so each is billed for [2027-03-01, 2027-04-01).

Contoso BV (EUR, NL, 21 % VAT, card charged automatically)
  sub-a1  Business Basic, 1-year term billed monthly, bought 2026-06-10, sold at 5.40 EUR.
          Two seats added on 2027-02-15 (10 -> 12, charged then by the licence change).
          Period 2027-03-10..2027-04-09: 12 x 5.40        =    64.80 EUR
          VAT 21 %: 64.80 x 0.21 = 13.608, half up       =    13.61 EUR
          Microsoft's cost 4.90: 12 x 4.90 = 58.80, margin     6.00 EUR
  sub-a2  Business Premium, 1-year term billed annually, term 2026-03-20..2027-03-19,
          renews 2027-03-20 with a scheduled change to 8 seats (was 10), priced from the
          list in force: Microsoft's 216.00 + 10 % = 237.60 EUR per seat per year.
          Period 2027-03-20..2028-03-19: 8 x 237.60       =  1900.80 EUR
          VAT 21 %: 1900.80 x 0.21 = 399.168, half up     =   399.17 EUR
          cost 8 x 216.00 = 1728.00, margin                 172.80 EUR
  invoice: subtotal 64.80 + 1900.80 = 1965.60; VAT 13.61 + 399.17 = 412.78;
           total 2378.38 EUR (237838 cents); margin 178.80 EUR; lists the February increase.

Fabrikam KK (JPY, JP, 10 % consumption tax, invoice due in 30 days)
  sub-b1  Teams Essentials, 1-month term billed monthly, bought 2026-11-05, renewing
          monthly; seats lowered 8 -> 7 on 2027-02-07 (inside the window, refunded then).
          Its term 2027-02-05..2027-03-04 renews on 2027-03-05 at the list in force:
          Microsoft's 1,037 JPY + 15 % = 1,192.55, half up to 1,193 JPY.
          Period 2027-03-05..2027-04-04: 7 x 1,193       =    8,351 JPY
          tax 10 %: 835.1, half up                       =      835 JPY
          cost 7 x 1,037 = 7,259, margin                       1,092 JPY
  sub-b2  Business Standard, 3-year term billed annually (at each anniversary), bought
          2025-03-25, sold at 20,000 JPY per seat per year, 3 seats.
          Period 2027-03-25..2028-03-24: 3 x 20,000      =   60,000 JPY
          tax 10 %                                       =    6,000 JPY
          cost 3 x 18,200 = 54,600, margin                     5,400 JPY
  invoice: subtotal 68,351; tax 6,835; total 75,186 JPY; margin 6,492 JPY;
           send_invoice, due in 30 days; lists the February decrease.

Northwind vzw (EUR, BE, tax-exempt, card charged automatically)
  sub-c1  Business Basic, 1-year term billed monthly, bought 2026-09-01, 25 seats at 5.00.
          Period 2027-03-01..2027-03-31: 25 x 5.00       =   125.00 EUR, no tax
          cost 25 x 4.90 = 122.50, margin                      2.50 EUR
  sub-c2  a trial: not billed.
  sub-c3  Business Premium, 1-month term bought 2027-01-12 without auto-renew, ends
          2027-03-11: no period starts in March, nothing billed.
  invoice: 125.00 EUR, "Tax exempt.", margin 2.50 EUR.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from shared.models import (
    Contact,
    Customer,
    LicenceChange,
    Money,
    Offer,
    PaymentTerms,
    PriceList,
    Subscription,
    SubscriptionRecord,
)
from shared.models.billing_run import OfferPrice
from shared.models.party import TaxProfile
from shared.models.pricing import Markup

PERIOD = "2027-03"
RUN_AT = datetime(2027, 3, 1, 0, 5, tzinfo=UTC)
PARTNER_COUNTRY = "NL"

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0K5D1"
TEAMS = "CFQ7TTC0QW5P:0001:CFQ7TTC0K9WS"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0K9C4"


def eur(text: str) -> Money:
    return Money.from_decimal(text, "EUR")


def jpy(amount: int) -> Money:
    return Money(amount_minor=amount, currency="JPY")


def _customer(cid: str, name: str, currency: str, country: str, **fields: Any) -> Customer:
    return Customer(
        id=cid,
        partner_id="partner-1",
        company_name=name,
        domain=f"{cid}.example",
        contacts=(Contact(name="Billing", email=f"billing@{cid}.example", role="billing"),),
        billing_currency=currency,
        country=country,
        **fields,
    )


CONTOSO = _customer("contoso", "Contoso BV", "EUR", "NL", tax=TaxProfile(rate=Decimal("0.21")))
FABRIKAM = _customer(
    "fabrikam",
    "Fabrikam KK",
    "JPY",
    "JP",
    tax=TaxProfile(rate=Decimal("0.10")),
    payment_terms=PaymentTerms(collection="send_invoice", net_days=30),
)
NORTHWIND = _customer("northwind", "Northwind vzw", "EUR", "BE", tax=TaxProfile(exempt=True))
CUSTOMERS = (CONTOSO, FABRIKAM, NORTHWIND)


def _sub(sid: str, offer: str, **fields: Any) -> Subscription:
    return Subscription.model_validate(
        {"id": sid, "offer_id": offer, "status": "active", "auto_renew_enabled": True, **fields}
    )


def _at(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)


SUBSCRIPTIONS: dict[str, list[SubscriptionRecord]] = {
    "contoso": [
        SubscriptionRecord(
            customer_id="contoso",
            unit_price=eur("5.40"),
            subscription=_sub(
                "sub-a1",
                BASIC,
                friendly_name="Business Basic",
                quantity=12,
                term_duration="P1Y",
                billing_cycle="monthly",
                effective_start_date=_at("2026-06-10"),
                commitment_end_date=date(2027, 6, 9),
            ),
        ),
        SubscriptionRecord(
            customer_id="contoso",
            unit_price=eur("220.00"),  # this term's price; the next term is priced anew
            subscription=_sub(
                "sub-a2",
                PREMIUM,
                friendly_name="Business Premium",
                quantity=10,
                term_duration="P1Y",
                billing_cycle="annual",
                effective_start_date=_at("2026-03-20"),
                commitment_end_date=date(2027, 3, 19),
                scheduled_next_term_instructions={
                    "product": {
                        "product_id": "CFQ7TTC0LCHC",
                        "sku_id": "0002",
                        "availability_id": "CFQ7TTC0K5D1",
                        "billing_cycle": "annual",
                        "term_duration": "P1Y",
                    },
                    "quantity": 8,
                },
            ),
        ),
    ],
    "fabrikam": [
        SubscriptionRecord(
            customer_id="fabrikam",
            unit_price=jpy(1150),  # February's price; March is a new term
            subscription=_sub(
                "sub-b1",
                TEAMS,
                friendly_name="Teams Essentials",
                quantity=7,
                term_duration="P1M",
                billing_cycle="monthly",
                effective_start_date=_at("2026-11-05"),
                commitment_end_date=date(2027, 3, 4),
            ),
        ),
        SubscriptionRecord(
            customer_id="fabrikam",
            unit_price=jpy(20000),
            subscription=_sub(
                "sub-b2",
                STANDARD,
                friendly_name="Business Standard",
                quantity=3,
                term_duration="P3Y",
                billing_cycle="annual",
                effective_start_date=_at("2025-03-25"),
                commitment_end_date=date(2028, 3, 24),
            ),
        ),
    ],
    "northwind": [
        SubscriptionRecord(
            customer_id="northwind",
            unit_price=eur("5.00"),
            subscription=_sub(
                "sub-c1",
                BASIC,
                friendly_name="Business Basic",
                quantity=25,
                term_duration="P1Y",
                billing_cycle="monthly",
                effective_start_date=_at("2026-09-01"),
                commitment_end_date=date(2027, 8, 31),
            ),
        ),
        SubscriptionRecord(
            customer_id="northwind",
            subscription=_sub(
                "sub-c2",
                PREMIUM,
                is_trial=True,
                quantity=25,
                term_duration="P1M",
                billing_cycle="monthly",
                effective_start_date=_at("2027-02-20"),
                commitment_end_date=date(2027, 3, 19),
            ),
        ),
        SubscriptionRecord(
            customer_id="northwind",
            unit_price=eur("22.00"),
            subscription=_sub(
                "sub-c3",
                PREMIUM,
                auto_renew_enabled=False,
                quantity=2,
                term_duration="P1M",
                billing_cycle="monthly",
                effective_start_date=_at("2027-01-12"),
                commitment_end_date=date(2027, 3, 11),
            ),
        ),
    ],
}

CHANGES: dict[str, list[LicenceChange]] = {
    "contoso": [
        LicenceChange(
            id="chg-a1-up",
            customer_id="contoso",
            subscription_id="sub-a1",
            kind="quantity",
            quantity=12,
            requested_by="storefront",
            quantity_before=10,
            quantity_after=12,
            requested_at=_at("2027-02-15"),
            status="applied",
            effective_at=_at("2027-02-15"),
            charge=eur("8.10"),
        )
    ],
    "fabrikam": [
        LicenceChange(
            id="chg-b1-down",
            customer_id="fabrikam",
            subscription_id="sub-b1",
            kind="quantity",
            change_by=-1,
            requested_by="storefront",
            quantity_before=8,
            quantity_after=7,
            requested_at=_at("2027-02-07"),
            status="applied",
            effective_at=_at("2027-02-07"),
            charge=jpy(-1068),
        )
    ],
    "northwind": [],
}

# Microsoft's cost per seat per billing period in each market's currency (the catalogue).
COSTS: dict[tuple[str, str, str, str], Money] = {
    ("EUR", BASIC, "P1Y", "monthly"): eur("4.90"),
    ("EUR", PREMIUM, "P1Y", "annual"): eur("216.00"),
    ("EUR", PREMIUM, "P1M", "monthly"): eur("20.00"),
    ("JPY", TEAMS, "P1M", "monthly"): jpy(1037),
    ("JPY", STANDARD, "P3Y", "annual"): jpy(18200),
}
COUNTRY_OF = {"EUR": "NL", "JPY": "JP"}


def offers() -> list[Offer]:
    """The catalogue's offers the month needs (Contoso's and Northwind's EUR offers are in
    the NL market; Northwind buys in BE, listed there too)."""
    found: list[Offer] = []
    for (currency, item, term, cycle), cost in COSTS.items():
        countries = ["NL", "BE"] if currency == "EUR" else ["JP"]
        for country in countries:
            found.append(
                Offer(
                    catalog_item_id=item,
                    country=country,
                    name=item,
                    term_duration=term,  # type: ignore[arg-type]
                    billing_cycle=cycle,  # type: ignore[arg-type]
                    unit_cost=cost,
                    family=item.split(":")[0],
                    rank=1,
                )
            )
    return found


PRICE_LISTS = (
    PriceList(id="standard", currency="EUR", default=Markup(rate=Decimal("0.10"))),
    PriceList(id="standard", currency="JPY", default=Markup(rate=Decimal("0.15"))),
)


def list_prices(currency: str) -> dict[str, OfferPrice]:
    """Every offer's list price in `currency`, as the activity computes them."""
    from shared.models.catalog import offer_key
    from shared.policy.pricing import sell_price

    price_list = next(p for p in PRICE_LISTS if p.currency == currency)
    prices: dict[str, OfferPrice] = {}
    for (code, item, term, cycle), cost in COSTS.items():
        if code != currency:
            continue
        key = offer_key(item, term, cycle)  # type: ignore[arg-type]
        sell = sell_price(price_list, cost=cost, offer_key=key, family=item.split(":")[0])
        prices[key] = OfferPrice(offer_key=key, price=sell.price, cost=cost)
    return prices


# What Stripe must hold after the run, to the minor unit: per customer, the invoice's
# lines (description start, amount, tax), total and collection.
EXPECTED: dict[str, dict[str, Any]] = {
    "contoso": {
        "currency": "EUR",
        "lines": [("sub-a1", 12, 6480, 1361), ("sub-a2", 8, 190080, 39917)],
        "subtotal": 196560,
        "tax": 41278,
        "total": 237838,
        "margin": 17880,
        "collection": "charge_automatically",
        "listed": ["chg-a1-up"],
    },
    "fabrikam": {
        "currency": "JPY",
        "lines": [("sub-b1", 7, 8351, 835), ("sub-b2", 3, 60000, 6000)],
        "subtotal": 68351,
        "tax": 6835,
        "total": 75186,
        "margin": 6492,
        "collection": "send_invoice",
        "listed": ["chg-b1-down"],
    },
    "northwind": {
        "currency": "EUR",
        "lines": [("sub-c1", 25, 12500, 0)],
        "subtotal": 12500,
        "tax": 0,
        "total": 12500,
        "margin": 250,
        "collection": "charge_automatically",
        "listed": [],
    },
}


def stripe_customers(sdk: Any) -> dict[str, str]:
    """The month's customers in a Stripe sandbox (the card payers with a Visa on file):
    their Stripe customer ids by customer id."""
    ids: dict[str, str] = {}
    for customer in CUSTOMERS:
        cus = sdk.v1.customers.create(
            {
                "name": customer.company_name,
                "email": customer.billing_contact.email,
                "metadata": {"cspflow_customer_id": customer.id},
            }
        )
        if customer.payment_terms.collection == "charge_automatically":
            pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
            sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
        ids[customer.id] = cus.id
    return ids


def load_book(settings: Any, stripe_ids: dict[str, str]) -> None:
    """The month in the book of `settings`: customers linked to their Stripe customers,
    subscriptions, the catalogue's offers, the standard price lists, and February's licence
    changes, recorded on the customers' timelines at the time they were applied (as the
    licence-change workflow records them)."""
    from shared.book import Book
    from shared.clock import ManualClock

    book = Book(settings)
    for customer in CUSTOMERS:
        linked = customer.model_copy(update={"stripe_customer_id": stripe_ids[customer.id]})
        book.customers.add(linked)
        book.subscriptions.load(SUBSCRIPTIONS[customer.id])
    for offer in offers():
        book.offers.save(offer)
    for price_list in PRICE_LISTS:
        book.price_lists.save(price_list)
    for changes in CHANGES.values():
        for change in changes:
            assert change.effective_at is not None
            Book(settings, clock=ManualClock(change.effective_at)).licence_changes.request(change)
