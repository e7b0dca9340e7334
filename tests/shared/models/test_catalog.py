from decimal import Decimal

import pytest

from shared.models.catalog import Offer, billing_fits_term
from shared.models.money import Money


def offer_data(**overrides):
    data = {
        "catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "country": "US",
        "name": "Microsoft 365 Business Basic",
        "term_duration": "P1Y",
        "billing_cycle": "monthly",
        "unit_cost": {"amount_minor": 600, "currency": "USD"},
        "unit_price": {"amount_minor": 690, "currency": "USD"},
        "family": "m365-business",
        "rank": 1,
    }
    return data | overrides


# Partner Center: terms P1M/P1Y/P3Y; billing monthly, annual or upfront for the term
# (docs/rules.md#term-lengths; Microsoft Learn, new-commerce-license-based).
@pytest.mark.parametrize(
    ("term", "cycle", "allowed"),
    [
        ("P1M", "monthly", True),
        ("P1M", "annual", False),
        ("P1Y", "monthly", True),
        ("P1Y", "annual", True),
        ("P1Y", "triennial", False),
        ("P3Y", "monthly", True),
        ("P3Y", "annual", True),
        ("P3Y", "triennial", True),
    ],
)
def test_billing_cycle_is_never_longer_than_the_term(term, cycle, allowed):
    assert billing_fits_term(term, cycle) is allowed


def test_offer_reads_partner_center_capitalised_billing_cycle():
    assert Offer.model_validate(offer_data(billing_cycle="Monthly")).billing_cycle == "monthly"


def test_markup_is_an_exact_decimal():
    offer = Offer.model_validate(offer_data())
    assert offer.markup == Decimal("0.15")
    assert offer.product_id == "CFQ7TTC0LH18"


def test_free_offer_has_no_markup():
    free = {"amount_minor": 0, "currency": "USD"}
    assert Offer.model_validate(offer_data(unit_cost=free, unit_price=free)).markup is None


@pytest.mark.parametrize(
    ("cost_minor", "markup", "price_minor"),
    [
        (600, Decimal("0.15"), 690),
        (600, Decimal("0.155"), 693),
        (333, Decimal("0.10"), 366),  # 366.3 rounds half up once
        (1000, Decimal("-0.2"), 800),
    ],
)
def test_sell_price_with_markup_rounds_once(cost_minor, markup, price_minor):
    cost = Money(amount_minor=cost_minor, currency="USD")
    assert Offer.price_with_markup(cost, markup) == Money(amount_minor=price_minor, currency="USD")


def test_markup_below_minus_one_is_refused():
    with pytest.raises(ValueError, match="negative price"):
        Offer.price_with_markup(Money(amount_minor=100, currency="USD"), Decimal("-1.5"))


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"catalog_item_id": "CFQ7TTC0LH18"}, "catalog_item_id"),
        ({"term_duration": "P2Y"}, "term_duration"),
        ({"billing_cycle": "weekly"}, "billing_cycle"),
        ({"unit_cost": {"amount_minor": 6.0, "currency": "USD"}}, "unit_cost.amount_minor"),
        ({"unit_price": {"amount_minor": "690", "currency": "USD"}}, "unit_price.amount_minor"),
        ({"rank": -1}, "rank"),
        ({"country": "usa"}, "country"),
    ],
)
def test_bad_offer_input_names_the_field(rejects, override, field):
    assert field in rejects(Offer, offer_data(**override))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"term_duration": "P1M", "billing_cycle": "annual"}, "longer than term"),
        ({"unit_price": {"amount_minor": 690, "currency": "EUR"}}, "share a currency"),
        ({"unit_price": {"amount_minor": -1, "currency": "USD"}}, "negative"),
        ({"unit_cost": {"amount_minor": -1, "currency": "USD"}, "unit_price": None}, "negative"),
    ],
)
def test_inconsistent_offer_is_refused(override, message):
    with pytest.raises(ValueError, match=message):
        Offer.model_validate(offer_data(**override))


def test_offer_round_trips_through_json():
    offer = Offer.model_validate(offer_data(billing_cycle="Annual"))
    assert Offer.model_validate(offer.model_dump(mode="json")) == offer


def test_a_catalogue_offer_carries_cost_only_and_names_its_parts():
    # The book's catalogue holds Microsoft's cost; a sell price is computed from the price
    # list in force when needed (docs/rules.md#price-list-changes).
    offer = Offer.model_validate(offer_data(unit_price=None))
    assert (offer.unit_price, offer.markup, offer.currency) == (None, None, "USD")
    assert (offer.product_id, offer.sku_id, offer.availability_id) == (
        "CFQ7TTC0LH18",
        "0001",
        "CFQ7TTC0K971",
    )
