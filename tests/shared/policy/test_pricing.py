"""Sell prices from price lists: which rule wins, how a markup is rounded, below-cost guard."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal, Inexact

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import PermanentError
from shared.models.catalog import Offer
from shared.models.money import CurrencyMismatchError, Money
from shared.models.pricing import CustomerPricing, FixedPrice, Markup, PriceList
from shared.policy.pricing import (
    BelowCostError,
    ListedPrice,
    apply_rule,
    choose_rule,
    microsoft_cost,
    offer_sell_price,
    sell_price,
)

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971:P1Y:monthly"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0K0XN:P1Y:monthly"
M365 = "m365-business"


def money(minor: int, currency: str = "USD") -> Money:
    return Money(amount_minor=minor, currency=currency)


def markup(rate: str) -> Markup:
    return Markup(rate=Decimal(rate))


def fixed(minor: int, currency: str = "USD") -> FixedPrice:
    return FixedPrice(price=money(minor, currency))


def price_list(currency: str = "USD", **overrides) -> PriceList:
    data = {"id": "standard", "currency": currency, "default": markup("0.20")} | overrides
    return PriceList.model_validate(data)


# The list every precedence row reads: a 20 % default, 15 % on the M365 family, a fixed
# 7.00 on Business Basic, and customer c-vip with its own rules.
LIST = price_list(
    families={M365: markup("0.15")},
    offers={BASIC: fixed(700)},
    customers={
        "c-vip": CustomerPricing(
            default=markup("0.05"),
            families={M365: markup("0.10")},
            offers={BASIC: fixed(650)},
        ),
        "c-family-only": CustomerPricing(families={M365: markup("0.08")}),
        "c-default-only": CustomerPricing(default=markup("0.12")),
    },
)


@pytest.mark.parametrize(
    ("customer", "offer", "family", "cost", "price", "level"),
    [
        # precedence 1: the customer's own offer rule beats everything
        ("c-vip", BASIC, M365, 600, 650, "customer_offer"),
        # precedence 1: the customer's family rule beats the list's offer and family rules
        ("c-family-only", BASIC, M365, 600, 648, "customer_family"),
        # precedence 1: the customer's default beats the list's offer rule
        ("c-default-only", BASIC, M365, 600, 672, "customer_default"),
        # precedence 1: within the customer, family beats the customer's default
        ("c-vip", STANDARD, M365, 1250, 1375, "customer_family"),
        # precedence 1: the customer's default applies outside its families and offers
        ("c-vip", "X:1:2:P1M:monthly", "azure", 1000, 1050, "customer_default"),
        # precedence 2: the list's offer rule beats the family rule
        (None, BASIC, M365, 600, 700, "offer"),
        # precedence 2: a customer without overrides gets the list's rules
        ("c-unknown", BASIC, M365, 600, 700, "offer"),
        # precedence 3: the family rule beats the list default
        (None, STANDARD, M365, 1250, 1438, "family"),  # 14.375 -> 14.38 half up
        # precedence 4: the list default when nothing more specific exists
        (None, "X:1:2:P1M:monthly", "azure", 1000, 1200, "default"),
        # a free offer stays free under a markup
        (None, "X:1:2:P1M:monthly", "azure", 0, 0, "default"),
    ],
)
def test_the_most_specific_rule_prices_the_offer(customer, offer, family, cost, price, level):
    quote = sell_price(LIST, cost=money(cost), offer_key=offer, family=family, customer_id=customer)
    assert (quote.price, quote.level, quote.below_cost) == (money(price), level, False)
    assert quote.margin == money(price - cost)


@pytest.mark.parametrize(
    ("currency", "rate", "cost", "rounding", "price"),
    [
        # two decimals, half up: 10.01 x 1.15 = 11.5115 -> 11.51
        ("USD", "0.15", 1001, "half_up", 1151),
        # an exact tie rounds half up by default: 0.25 x 1.1 = 0.275 -> 0.28
        ("EUR", "0.10", 25, "half_up", 28),
        # ... and to even when the list says half_even: 0.275 -> 0.28 (8 is even), 0.265 -> 0.26
        ("EUR", "0.10", 25, "half_even", 28),
        ("EUR", "0.06", 25, "half_even", 26),
        # a list that always rounds down (never over the markup) or up (never under it)
        ("EUR", "0.15", 1001, "down", 1151),
        ("EUR", "0.15", 1001, "ceiling", 1152),
        ("EUR", "0.15", 1001, "floor", 1151),
        # zero-decimal currency: 1,234 JPY x 1.15 = 1,419.1 -> 1,419
        ("JPY", "0.15", 1234, "half_up", 1419),
        # zero decimals, a tie: 1,230 JPY x 1.15 = 1,414.5 -> 1,415
        ("JPY", "0.15", 1230, "half_up", 1415),
        # three-decimal currencies: 1.001 KWD x 1.15 = 1.15115 -> 1.151
        ("KWD", "0.15", 1001, "half_up", 1151),
        # 2.345 BHD x 1.1 = 2.5795 -> 2.580 (half up at the third decimal)
        ("BHD", "0.10", 2345, "half_up", 2580),
        # a long markup stays exact in Decimal: 3.00 x 1.123456789 = 3.370370367 -> 3.37
        ("USD", "0.123456789", 300, "half_up", 337),
    ],
)
def test_a_markup_is_rounded_once_to_the_currencys_minor_unit(
    currency, rate, cost, rounding, price
):
    quote = sell_price(
        price_list(currency, default=markup(rate), rounding=rounding),
        cost=money(cost, currency),
        offer_key=BASIC,
        family=M365,
    )
    assert quote.price == money(price, currency)


def test_a_fixed_price_is_taken_as_it_is_whatever_the_cost():
    assert apply_rule(fixed(999), money(123)) == money(999)


def test_a_price_below_cost_is_refused_unless_the_list_allows_it():
    discount = price_list(default=markup("-0.05"))
    with pytest.raises(BelowCostError, match=r"under Microsoft's cost 10.00 USD") as exc:
        sell_price(discount, cost=money(1000), offer_key=BASIC, family=M365)
    assert isinstance(exc.value, PermanentError) and exc.value.code == "below_cost"

    allowed = price_list(default=markup("-0.05"), allow_below_cost=True)
    quote = sell_price(allowed, cost=money(1000), offer_key=BASIC, family=M365)
    assert (quote.price, quote.below_cost) == (money(950), True)


def test_a_fixed_price_under_cost_is_flagged_when_allowed():
    loss_leader = price_list(offers={BASIC: fixed(500)}, allow_below_cost=True)
    quote = sell_price(loss_leader, cost=money(600), offer_key=BASIC, family=M365)
    assert (quote.level, quote.below_cost, quote.margin) == ("offer", True, money(-100))


def test_selling_at_cost_is_not_below_cost():
    at_cost = price_list(default=markup("0"))
    assert not sell_price(at_cost, cost=money(600), offer_key=BASIC, family=M365).below_cost


def test_a_cost_in_another_currency_is_refused():
    with pytest.raises(CurrencyMismatchError, match="standard is in USD, the cost in EUR"):
        sell_price(LIST, cost=money(600, "EUR"), offer_key=BASIC, family=M365)


def test_a_negative_cost_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        sell_price(LIST, cost=money(-1), offer_key=BASIC, family=M365)


def test_a_product_that_decimal_cannot_hold_exactly_is_refused_not_rounded_twice():
    # 61 significant digits of markup: the exact product needs more than the 60 kept.
    rate = "0." + "1" * 61
    with pytest.raises(Inexact):
        apply_rule(markup(rate), money(3))


def test_a_catalogue_offer_is_priced_by_its_own_cost_key_and_family():
    offer = Offer.model_validate(
        {
            "catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
            "country": "US",
            "name": "Microsoft 365 Business Basic",
            "term_duration": "P1Y",
            "billing_cycle": "monthly",
            "unit_cost": money(600).model_dump(),
            "unit_price": money(600).model_dump(),
            "family": M365,
            "rank": 1,
        }
    )
    assert offer.key == BASIC
    quote = offer_sell_price(LIST, offer, customer_id="c-vip")
    assert (quote.price, quote.level) == (money(650), "customer_offer")


def test_the_chosen_rule_is_reported_with_its_level():
    level, rule = choose_rule(LIST, offer_key=STANDARD, family=M365)
    assert (level, rule) == ("family", markup("0.15"))


# -- properties --------------------------------------------------------------------------------

currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD", "BHD", "CLF"])
costs = st.integers(min_value=0, max_value=10**12)
rates = st.decimals(min_value=-1, max_value=5, places=6, allow_nan=False, allow_infinity=False)


@given(currency=currencies, cost=costs, rate=rates)
def test_property_a_markup_price_is_the_exact_price_rounded_half_up_once(currency, cost, rate):
    listed = price_list(currency, default=Markup(rate=rate), allow_below_cost=True)
    quote = sell_price(listed, cost=money(cost, currency), offer_key=BASIC, family=M365)
    exact_minor = Decimal(cost) * (1 + rate)  # in minor units, exact (few enough digits)
    assert abs(Decimal(quote.price.amount_minor) - exact_minor) <= Decimal("0.5")
    assert quote.price.currency == currency


@given(currency=currencies, cost=costs, rate=rates.filter(lambda r: r >= 0))
def test_property_a_non_negative_markup_never_sells_below_cost(currency, cost, rate):
    listed = price_list(currency, default=Markup(rate=rate))
    quote = sell_price(listed, cost=money(cost, currency), offer_key=BASIC, family=M365)
    assert quote.price >= quote.cost and not quote.below_cost


@given(cost=costs, low=rates, high=rates)
def test_property_a_higher_markup_never_gives_a_lower_price(cost, low, high):
    low, high = sorted((low, high))
    prices = [apply_rule(Markup(rate=r), money(cost)).amount_minor for r in (low, high)]
    assert prices[0] <= prices[1]


@given(
    override=st.sampled_from(["default", "families", "offers"]),
    rate=rates.filter(lambda r: r >= 0),
)
def test_property_any_customer_override_wins_over_every_list_rule(override, rate):
    rule = Markup(rate=rate)
    pricing = CustomerPricing.model_validate(
        {
            override: rule
            if override == "default"
            else {BASIC if override == "offers" else M365: rule}
        }
    )
    listed = LIST.model_copy(update={"customers": {"c-new": pricing}})
    level, chosen = choose_rule(listed, offer_key=BASIC, family=M365, customer_id="c-new")
    assert level.startswith("customer_") and chosen == rule


# -- Microsoft's cost from the price sheet (docs/rules.md#catalogue-cost) ----------------------

PRICE_SHEET = (
    "https://learn.microsoft.com/en-us/partner-center/pricing/pricing-and-offers: the row in "
    "force by its effective dates; the latest start where rows overlap"
)
ROUND_DOWN_SOURCE = (
    "https://learn.microsoft.com/en-us/partner-center/billing/modern-invoice-reconciliation-file"
    ": ROUNDDOWN(unit price, 2)"
)
T_OLD = datetime(2024, 1, 1, tzinfo=UTC)
T_NEW = datetime(2025, 4, 1, tzinfo=UTC)
T_END = datetime(9999, 11, 30, tzinfo=UTC)
AT = datetime(2026, 3, 1, tzinfo=UTC)


def listed(price: str, *, plan="Monthly", currency="USD", start=T_NEW, end=T_END, sku="0001"):
    return ListedPrice(
        product_id="CFQ7TTC0LH18",
        sku_id=sku,
        term="P1Y",
        billing_plan=plan,
        currency=currency,
        unit_price=Decimal(price),
        start=start,
        end=end,
    )


@pytest.mark.parametrize(
    ("prices", "cycle", "currency", "expected", "source"),
    [
        ([listed("6.00")], "monthly", "USD", money(600), "the row's unit price"),
        (
            [listed("6.00"), listed("72.00", plan="Annual")],
            "annual",
            "USD",
            money(7200),
            "per billing plan",
        ),
        (
            [listed("5.40", start=T_OLD, end=T_NEW), listed("6.00")],
            "monthly",
            "USD",
            money(600),
            "the ended row is not in force; " + PRICE_SHEET,
        ),
        (
            [listed("6.00", start=T_OLD), listed("6.60")],
            "monthly",
            "USD",
            money(660),
            "overlapping rows: the latest start; " + PRICE_SHEET,
        ),
        ([listed("6.00", start=AT + timedelta(days=1))], "monthly", "USD", None, "not yet"),
        (
            [listed("5.5299", currency="EUR")],
            "monthly",
            "EUR",
            money(552, "EUR"),
            ROUND_DOWN_SOURCE,
        ),
        ([listed("900.7", currency="JPY")], "monthly", "jpy", money(900, "JPY"), "no decimals"),
        ([listed("0", plan="None")], "annual", "USD", money(0), "a trial: billing plan None"),
        ([listed("6.00")], "monthly", "EUR", None, "no row in that currency"),
        ([listed("6.00", sku="0002")], "monthly", "USD", None, "another SKU"),
    ],
)
def test_microsoft_cost_is_the_row_in_force(prices, cycle, currency, expected, source):
    cost = microsoft_cost(
        prices,
        product_id="CFQ7TTC0LH18",
        sku_id="0001",
        term="P1Y",
        cycle=cycle,
        currency=currency.upper(),
        at=AT,
    )
    assert cost == expected, source
