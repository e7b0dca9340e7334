"""The catalogue: offers by what an order names, by family; price lists per currency and
customer. Saving what is already there writes nothing."""

from decimal import Decimal

import pytest

from shared.book import Book, RecordNotFound
from shared.book.catalogue import STANDARD_PRICE_LIST
from shared.models import Markup, Money, Offer, PriceList
from shared.policy.pricing import offer_sell_price
from tests.shared.book.records import BASIC, customer, eur


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


def gbp(minor: int) -> Money:
    return Money(amount_minor=minor, currency="GBP")


def offer(catalog_item_id: str = BASIC, **overrides) -> Offer:
    data = {
        "catalog_item_id": catalog_item_id,
        "country": "DE",
        "name": "Microsoft 365 Business Basic",
        "term_duration": "P1Y",
        "billing_cycle": "monthly",
        "unit_cost": eur(600).model_dump(),
        "family": "m365-business",
        "rank": 1,
    }
    return Offer.model_validate(data | overrides)


def price_list(list_id: str = STANDARD_PRICE_LIST, currency: str = "EUR", rate: str = "0.20"):
    return PriceList(id=list_id, currency=currency, default=Markup(rate=Decimal(rate)))


def test_an_offer_is_found_by_market_currency_catalog_item_term_and_billing(book: Book):
    book.offers.save(offer())
    book.offers.save(offer(term_duration="P1M"))
    assert book.offers.get("de", "eur", BASIC, "P1Y", "monthly") == offer()
    assert book.offers.find("DE", "EUR", BASIC, "P1Y", "annual") is None
    assert [o.term_duration for o in book.offers.of_catalog_item("DE", "EUR", BASIC)] == [
        "P1M",
        "P1Y",
    ]
    with pytest.raises(RecordNotFound, match=f"offer DE/EUR|{BASIC}|P1Y|annual"):
        book.offers.get("DE", "EUR", BASIC, "P1Y", "annual")


def test_a_markets_catalogue_is_one_partition_per_country_paged_by_currency(book: Book):
    standard = "CFQ7TTC0LDPB:0001:CFQ7TTC0K0XN"
    book.offers.save(offer())
    book.offers.save(offer(standard, name="Business Standard", rank=2))
    book.offers.save(offer(unit_cost=usd(600).model_dump()))  # DE also sold in USD
    book.offers.save(offer(country="FR"))
    book.offers.save(offer(country="GB", unit_cost=gbp(500).model_dump()))
    first = book.offers.of_market("DE", "EUR", limit=1)
    second = book.offers.of_market("DE", "EUR", limit=1, next=first.next)
    assert [o.catalog_item_id for o in first.items + second.items] == [standard, BASIC]
    assert second.next is None or book.offers.of_market("DE", "EUR", next=second.next).items == []
    assert [o.currency for o in book.offers.of_market("DE", "USD").items] == ["USD"]
    assert book.offers.currencies("DE") == ["EUR", "USD"]
    assert book.offers.currencies("GB") == ["GBP"]
    assert book.offers.currencies("US") == []
    assert len(book.offers.of_country("DE")) == 3
    assert {(o.country, o.currency) for o in book.offers.in_currency("eur")} == {
        ("DE", "EUR"),
        ("FR", "EUR"),
    }
    assert book.offers.remove(offer(country="FR"))
    assert not book.offers.remove(offer(country="FR"))
    assert book.offers.of_country("FR") == []


def test_a_familys_offers_come_lowest_rank_first(book: Book):
    book.offers.save(offer("CFQ7TTC0LDPB:0001:CFQ7TTC0K0XN", name="Business Standard", rank=2))
    book.offers.save(offer())
    book.offers.save(
        offer("DZH318Z0BQ3Q:0001:DZH318Z0BXWS", name="Azure plan", family="azure", rank=0)
    )
    book.offers.save(offer(country="FR", rank=3))  # another market
    assert [o.rank for o in book.offers.of_family("DE", "EUR", "m365-business")] == [1, 2]
    assert len(book.offers.page().items) == 4


def test_saving_an_offer_unchanged_writes_nothing_and_a_new_cost_replaces_it(book: Book):
    first = book.offers.save(offer())
    assert book.offers.save(offer()).etag == first.etag
    changed = book.offers.save(offer(unit_cost=eur(620).model_dump()))
    assert changed.version == 2 and book.offers.get(
        "DE", "EUR", BASIC, "P1Y", "monthly"
    ).unit_cost == eur(620)


def test_a_customer_buys_from_its_own_list_in_its_currency_else_the_standard_one(book: Book):
    book.price_lists.save(price_list())
    book.price_lists.save(price_list("partners", rate="0.10"))
    book.price_lists.save(price_list("partners", currency="USD", rate="0.12"))
    assert book.price_lists.for_customer(customer()).id == STANDARD_PRICE_LIST
    own = book.price_lists.for_customer(customer(price_list_id="partners"))
    assert (own.id, own.currency, offer_sell_price(own, offer()).price) == (
        "partners",
        "EUR",
        eur(660),
    )
    listed = book.price_lists.in_every_currency("partners")
    assert [p.record.currency for p in listed] == ["EUR", "USD"]
    assert book.price_lists.remove(listed[0])
    assert [p.record.currency for p in book.price_lists.in_every_currency("partners")] == ["USD"]


def test_a_customer_whose_list_is_missing_in_its_currency_is_told_which(book: Book):
    book.price_lists.save(price_list(currency="USD"))
    with pytest.raises(
        RecordNotFound, match="price list standard in EUR, which is not in the book"
    ):
        book.price_lists.for_customer(customer())
