"""The catalogue and the price lists (docs/api.md, "Reading the book"; docs/rules.md,
"Catalogue and sell prices").

    GET /api/catalog?country=US&currency=USD[&customer_id=]   offers with sell prices, paged
    GET /api/price-lists/{price_list_id}                       a price list, every currency
    PUT /api/price-lists/{price_list_id}                       replace it (partner staff only)

The catalogue is the book's Offers for one market and currency (imported from Partner Center
by `POST /api/ops/catalog-syncs`), each priced now from the price list in force: the partner's
standard list, or the customer's own with its overrides when `customer_id` is given. Prices
are computed when asked, never stored with an offer, so a price-list change applies to what is
priced after it: new orders and the next term at renewal; an issued invoice and the term a
subscription is in keep theirs (docs/rules.md#price-list-changes).

A price list's body says exactly what it accepts in its schema (versions keyed by ISO 4217
code, markups as decimal strings, fixed prices in the version's minor units, offer keys by
pattern); beyond it a list is refused (422, naming the field) when it names a customer the
book does not have, or would sell an offer of the catalogue below Microsoft's cost without
`allow_below_cost` (docs/rules.md#below-cost).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

import azure.durable_functions as df
from pydantic import Field, StrictBool, StrictInt

from shared.book import Book
from shared.book.catalogue import STANDARD_PRICE_LIST
from shared.models import Customer, DomainModel, Money, Offer
from shared.models.catalog import BillingCycleName, TermDuration
from shared.models.money import Rounding
from shared.models.pricing import CustomerPricing, FixedPrice, Markup, PriceList, PriceRule
from shared.policy.pricing import BelowCostError, PriceLevel, choose_rule, sell_price
from triggers.api import API, Call, FieldError, NotFound, Page, Paging, Refused
from triggers.api.problems import ApiProblem, field_error
from triggers.reads import Country, Currency, CustomerKey, book, storage, valid_id

bp = df.Blueprint()

CATALOG_PAGING = Paging(default_limit=100, max_limit=500)
_PRICE_LIST_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_OFFER_KEY = re.compile(
    r"[A-Za-z0-9]+:[A-Za-z0-9]+:[A-Za-z0-9]+:(P1M|P1Y|P3Y):(monthly|annual|triennial)"
)
APPLIES_TO = (
    "new charges: new orders and subscriptions, and each subscription's next term at renewal; "
    "issued invoices and current terms keep their price (docs/rules.md#price-list-changes)"
)


# -- the catalogue ----------------------------------------------------------------------------


class CatalogQuery(DomainModel):
    country: Country
    currency: Currency
    customer_id: CustomerKey | None = Field(
        default=None,
        description="Price with this customer's own list and overrides (its billing currency)",
    )


class CatalogOffer(DomainModel):
    offer_id: str = Field(description="What orders and price lists name: item:term:cycle")
    catalog_item_id: str
    product_id: str
    sku_id: str
    name: str
    country: str
    term_duration: TermDuration
    billing_cycle: BillingCycleName
    family: str
    rank: int
    cost: Money = Field(description="Microsoft's price to the partner, per seat per period")
    sell_price: Money | None = Field(
        description="The partner's price per seat per billing period, from the list in force "
        "now; null when the list would sell below cost without allowing it"
    )
    price_list_id: str
    price_level: PriceLevel | None
    below_cost: bool
    unpriced_reason: str | None
    min_quantity: int = Field(
        default=1, description="Fewest seats one subscription holds (docs/rules.md#seat-limits)"
    )
    max_quantity: int | None = Field(
        default=None,
        description="Most seats one subscription holds; null when the catalogue does not say",
    )


def _catalog_offer(offer: Offer, price_list: PriceList, customer: Customer | None) -> CatalogOffer:
    base: dict[str, Any] = {
        "offer_id": offer.key,
        "catalog_item_id": offer.catalog_item_id,
        "product_id": offer.product_id,
        "sku_id": offer.sku_id,
        "name": offer.name,
        "country": offer.country,
        "term_duration": offer.term_duration,
        "billing_cycle": offer.billing_cycle,
        "family": offer.family,
        "rank": offer.rank,
        "min_quantity": offer.min_quantity,
        "max_quantity": offer.max_quantity,
        "cost": offer.unit_cost,
        "price_list_id": price_list.id,
    }
    try:
        quote = sell_price(
            price_list,
            cost=offer.unit_cost,
            offer_key=offer.key,
            family=offer.family,
            customer_id=customer.id if customer else None,
        )
    except BelowCostError as exc:
        return CatalogOffer(
            **base, sell_price=None, price_level=None, below_cost=True, unpriced_reason=str(exc)
        )
    return CatalogOffer(
        **base,
        sell_price=quote.price,
        price_level=quote.level,
        below_cost=quote.below_cost,
        unpriced_reason=None,
    )


def _customer_for(the_book: Book, query: CatalogQuery) -> Customer | None:
    """The customer the query prices for, or 422 naming the parameter that cannot be."""
    if query.customer_id is None:
        return None
    stored = the_book.customers.find(query.customer_id)
    if stored is None:
        raise Refused(
            "unknown_customer", f"there is no customer {query.customer_id!r}", field="customer_id"
        )
    customer = stored.record
    if customer.billing_currency != query.currency:
        raise Refused(
            "currency_mismatch",
            f"customer {customer.id} is billed in {customer.billing_currency}, "
            f"not {query.currency}",
            field="currency",
        )
    return customer


def _price_list_for(the_book: Book, currency: str, customer: Customer | None) -> PriceList:
    """The list that prices the catalogue in `currency`, or 422 naming `currency`."""
    list_id = (customer.price_list_id if customer else None) or STANDARD_PRICE_LIST
    stored = the_book.price_lists.find(list_id, currency)
    if stored is None:
        raise Refused(
            "no_price_list",
            f"price list {list_id} has no {currency} version "
            f"(PUT /api/price-lists/{list_id} adds one)",
            field="currency",
        )
    return stored.record


def _unsold(the_book: Book, query: CatalogQuery) -> ApiProblem:
    currencies = the_book.offers.currencies(query.country)
    if not currencies:
        return Refused(
            "unknown_market",
            f"the book has no catalogue for country {query.country} "
            "(POST /api/ops/catalog-syncs imports it)",
            field="country",
        )
    return Refused(
        "currency_not_sold",
        f"{query.country} is sold in {', '.join(currencies)}, not {query.currency}",
        field="currency",
    )


@API.route(
    bp,
    "GET",
    "catalog",
    summary="A market's offers with sell prices, term and billing cycle, paged",
    query=CatalogQuery,
    paged=CATALOG_PAGING,
    responses={200: Page[CatalogOffer]},
    problems=(422, 503),
    tags=("catalog",),
)
def get_catalog(call: Call[None]) -> Page[Any]:
    """Every offer the book's catalogue has for `country` in `currency`, in catalog item,
    term and billing cycle order, priced now from the partner's standard price list (or the
    customer's own list and overrides). 422 naming `country` when the market was never
    imported, `currency` when the market is not sold in it or no price list has it,
    `customer_id` when there is no such customer."""
    query: CatalogQuery = call.query
    with storage():
        the_book = book()
        customer = _customer_for(the_book, query)
        page = the_book.offers.of_market(
            query.country, query.currency, limit=call.page.limit, next=call.page.after
        )
        if not page.items and call.page.after is None:
            raise _unsold(the_book, query)
        price_list = _price_list_for(the_book, query.currency, customer)
    items = [_catalog_offer(offer, price_list, customer) for offer in page.items]
    return call.page.page(items, after=page.next)


# -- price lists ------------------------------------------------------------------------------

# A markup rate as a decimal string from -1 (free) to 999999.999999: "0.15" is 15 % over cost.
RATE = r"^(-(0(\.[0-9]{1,6})?|1(\.0{1,6})?)|(0|[1-9][0-9]{0,5})(\.[0-9]{1,6})?)$"
OfferKey = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9]+:[A-Za-z0-9]+:[A-Za-z0-9]+:(P1M|P1Y|P3Y):(monthly|annual|triennial)$"
    ),
]
FamilyName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_. -]{1,100}$")]
EXACT_KEYS: dict[str, Any] = {"additionalProperties": False}


class MarkupRule(DomainModel):
    """Sell at Microsoft's cost times (1 + rate), rounded once (docs/rules.md#price-rounding)."""

    kind: Literal["markup"]
    rate: str = Field(pattern=RATE, description='A decimal string: "0.15" is 15 % over cost')


class FixedRule(DomainModel):
    """Sell at this price per seat per billing period, in the version's currency."""

    kind: Literal["fixed"]
    amount_minor: StrictInt = Field(ge=0, le=10**12, description="Minor units of the currency")


Rule = Annotated[MarkupRule | FixedRule, Field(discriminator="kind")]


class CustomerRules(DomainModel):
    """One customer's negotiated prices: any wins over the list's own rules."""

    default: Rule | None = None
    families: dict[FamilyName, Rule] = Field(default_factory=dict, json_schema_extra=EXACT_KEYS)
    offers: dict[OfferKey, Rule] = Field(default_factory=dict, json_schema_extra=EXACT_KEYS)


class PriceListVersion(DomainModel):
    """A price list in one currency: rules at four levels, the most specific wins (customer
    override > offer > family > default; docs/rules.md#price-rules). Offers are keyed
    `productId:skuId:availabilityId:term:billing cycle`, families by the catalogue's family."""

    name: str = Field(default="", max_length=200)
    default: Rule
    families: dict[FamilyName, Rule] = Field(default_factory=dict, json_schema_extra=EXACT_KEYS)
    offers: dict[OfferKey, Rule] = Field(default_factory=dict, json_schema_extra=EXACT_KEYS)
    customers: dict[CustomerKey, CustomerRules] = Field(
        default_factory=dict, json_schema_extra=EXACT_KEYS
    )
    rounding: Rounding = "half_up"
    allow_below_cost: StrictBool = Field(
        default=False, description="Allow prices under Microsoft's cost (each is then flagged)"
    )


class PriceListBody(DomainModel):
    """The whole price list: one version per currency; a currency left out is removed."""

    currencies: dict[Currency, PriceListVersion] = Field(
        min_length=1, max_length=50, json_schema_extra=EXACT_KEYS
    )


class PriceListDocument(DomainModel):
    price_list_id: str
    currencies: dict[str, PriceListVersion]
    applies_to: Literal["new_charges"] = Field(
        default="new_charges", description="A change applies to " + APPLIES_TO
    )


def _to_rule(rule: MarkupRule | FixedRule, currency: str) -> PriceRule:
    if isinstance(rule, FixedRule):
        return FixedPrice(price=Money(amount_minor=rule.amount_minor, currency=currency))
    return Markup(rate=Decimal(rule.rate))


def _from_rule(rule: PriceRule) -> MarkupRule | FixedRule:
    if isinstance(rule, FixedPrice):
        return FixedRule(kind="fixed", amount_minor=rule.price.amount_minor)
    return MarkupRule(kind="markup", rate=format(rule.rate, "f"))


def _to_price_list(list_id: str, currency: str, version: PriceListVersion) -> PriceList:
    def rules(found: dict[str, MarkupRule | FixedRule]) -> dict[str, PriceRule]:
        return {key: _to_rule(rule, currency) for key, rule in found.items()}

    return PriceList(
        id=list_id,
        currency=currency,
        name=version.name,
        default=_to_rule(version.default, currency),
        families=rules(version.families),
        offers=rules(version.offers),
        customers={
            customer_id: CustomerPricing(
                default=_to_rule(c.default, currency) if c.default is not None else None,
                families=rules(c.families),
                offers=rules(c.offers),
            )
            for customer_id, c in version.customers.items()
        },
        rounding=version.rounding,
        allow_below_cost=version.allow_below_cost,
    )


def _version(price_list: PriceList) -> PriceListVersion:
    def rules(found: dict[str, PriceRule]) -> dict[str, MarkupRule | FixedRule]:
        return {key: _from_rule(rule) for key, rule in found.items()}

    return PriceListVersion(
        name=price_list.name,
        default=_from_rule(price_list.default),
        families=rules(price_list.families),
        offers=rules(price_list.offers),
        customers={
            customer_id: CustomerRules(
                default=_from_rule(c.default) if c.default is not None else None,
                families=rules(c.families),
                offers=rules(c.offers),
            )
            for customer_id, c in price_list.customers.items()
        },
        rounding=price_list.rounding,
        allow_below_cost=price_list.allow_below_cost,
    )


def _price_list_id(call: Call[Any]) -> str:
    """The path's price list id; one no price list can have is a 404 naming it."""
    list_id = call.route_values["price_list_id"]
    if not valid_id(list_id, _PRICE_LIST_ID):
        raise NotFound(
            f"there is no price list {list_id[:100]!r}: an id is 1 to 64 letters, digits, "
            "'_', '.' or '-'",
            field="price_list_id",
        )
    return list_id


@API.route(
    bp,
    "GET",
    "price-lists/{price_list_id}",
    summary="A price list in every currency it has (partner staff)",
    responses={200: PriceListDocument},
    problems=(503,),
    tags=("price-lists",),
)
def get_price_list(call: Call[None]) -> PriceListDocument:
    list_id = _price_list_id(call)
    with storage():
        stored = book().price_lists.in_every_currency(list_id)
    if not stored:
        raise NotFound(f"there is no price list {list_id!r}", field="price_list_id")
    return PriceListDocument(
        price_list_id=list_id, currencies={s.record.currency: _version(s.record) for s in stored}
    )


def _rule_path(level: PriceLevel, offer: Offer, customer_id: str | None) -> str:
    return {
        "default": "default",
        "family": f"families.{offer.family}",
        "offer": f"offers.{offer.key}",
        "customer_default": f"customers.{customer_id}.default",
        "customer_family": f"customers.{customer_id}.families.{offer.family}",
        "customer_offer": f"customers.{customer_id}.offers.{offer.key}",
    }[level]


def _refusals(the_book: Book, lists: dict[str, PriceList]) -> list[FieldError]:
    """What the book says about a price list: the customers it names exist; no offer of the
    catalogue in a version's currency is priced below cost unless the version allows it."""
    errors: list[FieldError] = []
    for currency, price_list in lists.items():
        where = f"currencies.{currency}"
        for named in price_list.customers:
            if the_book.customers.find(named) is None:
                errors.append(field_error(f"{where}.customers.{named}", "no such customer"))
        if price_list.allow_below_cost:
            continue
        below: dict[str, str] = {}
        buyers: list[str | None] = [None, *price_list.customers]
        for offer in the_book.offers.in_currency(currency):
            for customer_id in buyers:
                try:
                    sell_price(
                        price_list,
                        cost=offer.unit_cost,
                        offer_key=offer.key,
                        family=offer.family,
                        customer_id=customer_id,
                    )
                except BelowCostError as exc:
                    level, _ = choose_rule(
                        price_list,
                        offer_key=offer.key,
                        family=offer.family,
                        customer_id=customer_id,
                    )
                    below.setdefault(f"{where}.{_rule_path(level, offer, customer_id)}", str(exc))
        errors += [field_error(path, message) for path, message in below.items()]
    return errors


@API.route(
    bp,
    "PUT",
    "price-lists/{price_list_id}",
    summary="Replace a price list, every currency (partner staff)",
    request=PriceListBody,
    responses={200: PriceListDocument},
    problems=(503,),
    tags=("price-lists",),
)
def put_price_list(call: Call[PriceListBody]) -> PriceListDocument:
    """The list becomes the body: one version per currency, a currency left out removed.
    Idempotent: the same body again changes nothing; the last writer wins. Refused (422,
    naming the field) when it names a customer the book does not have (`unknown_customer`),
    or prices an offer of the catalogue below Microsoft's cost without `allow_below_cost`
    (`below_cost`, naming the rule). A change applies to what is priced after it: new
    orders, next terms at renewal; never an issued invoice or a term already sold
    (docs/rules.md#price-list-changes). For partner staff: give this route's function key to
    the pricing tool only, never to the storefront (docs/api.md)."""
    list_id = _price_list_id(call)
    lists = {
        currency: _to_price_list(list_id, currency, version)
        for currency, version in call.body.currencies.items()
    }
    with storage():
        the_book = book()
        errors = _refusals(the_book, lists)
        if errors:
            fields = sorted({e.field for e in errors})
            unknown = any(e.message == "no such customer" for e in errors)
            raise ApiProblem(
                422,
                "unknown_customer" if unknown else "below_cost",
                f"{len(fields)} field(s) refused: {', '.join(fields)}"[:300],
                errors=errors,
            )
        for price_list in lists.values():
            the_book.price_lists.save(price_list)
        for stored in the_book.price_lists.in_every_currency(list_id):
            if stored.record.currency not in lists:
                the_book.price_lists.remove(stored)
    return PriceListDocument(
        price_list_id=list_id,
        currencies={currency: _version(p) for currency, p in sorted(lists.items())},
    )
