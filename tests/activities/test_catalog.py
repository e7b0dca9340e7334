"""import_catalog against a real Partner Center sandbox (its catalogue and price sheet, over
HTTPS with MSAL's app and app+user tokens) and a real Azurite, invoked as the Functions host
invokes it."""

import uuid
from decimal import Decimal

import pytest

from activities.catalog import import_catalog
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models import Money, Offer
from shared.models.catalog_sync import CatalogImport

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"
# The sandbox's catalogue: 5 paid SKUs on P1M (monthly), P1Y (monthly, annual) and P3Y
# (monthly, annual, triennial), and 2 trials on P1M monthly.
PLANS = 5 * 6 + 2


@pytest.fixture
def book(app_env, monkeypatch) -> Book:
    # A table prefix of its own: the sandboxes' fixtures are per test, Azurite per worker.
    monkeypatch.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    reset_settings()
    return Book(get_settings())


def run(country: str) -> CatalogImport:
    envelope = import_catalog.run({"country": country})
    assert envelope["ok"], envelope
    return CatalogImport.model_validate(envelope["value"])


def test_a_market_is_imported_with_microsofts_cost_per_billing_period(book: Book):
    report = run("US")
    assert (report.offers, report.written, report.removed, report.unpriced) == (PLANS, PLANS, 0, 0)
    assert report.currencies == ["USD"]
    annual = book.offers.get("US", "USD", BASIC, "P1Y", "annual")
    assert annual.unit_cost == Money(amount_minor=7200, currency="USD")
    assert annual.unit_price is None  # a sell price comes from the price list in force
    assert (annual.name, annual.family, annual.rank) == (
        "Microsoft 365 Business Basic",
        "CFQ7TTC0LH18",
        0,
    )
    # The row in force, not the one that ended in March 2025.
    premium = book.offers.get("US", "USD", PREMIUM, "P1Y", "monthly")
    assert premium.unit_cost.to_decimal() == Decimal("22.00")
    trial = book.offers.get("US", "USD", "CFQ7TTC0LCHC:0TRL:SBXTRIAL0001", "P1M", "monthly")
    assert trial.unit_cost.is_zero()
    # The SKU's minimumQuantity and maximumQuantity (docs/rules.md#seat-limits).
    assert (annual.min_quantity, annual.max_quantity) == (1, 300)
    assert (trial.min_quantity, trial.max_quantity) == (1, 25)


def test_a_second_import_writes_nothing_and_keeps_the_partners_families(book: Book):
    run("US")
    placed = book.offers.get("US", "USD", BASIC, "P1Y", "monthly").model_copy(
        update={"family": "m365-business", "rank": 1}
    )
    book.offers.save(placed)
    again = run("US")
    assert (again.written, again.unchanged) == (0, PLANS)
    assert book.offers.get("US", "USD", BASIC, "P1Y", "monthly") == placed


def test_partner_center_wins_a_cost_is_corrected_and_an_offer_no_longer_sold_goes(book: Book):
    run("US")
    stale = book.offers.get("US", "USD", BASIC, "P1Y", "annual")
    book.offers.save(stale.model_copy(update={"unit_cost": Money(amount_minor=1, currency="USD")}))
    retired = Offer.model_validate(
        {**stale.model_dump(mode="json"), "catalog_item_id": "CFQ7TTC0RETI:0001:CFQ7TTC0RETI"}
    )
    book.offers.save(retired)
    report = run("US")
    assert (report.written, report.removed) == (1, 1)
    assert book.offers.get("US", "USD", BASIC, "P1Y", "annual") == stale
    assert book.offers.find("US", "USD", retired.catalog_item_id, "P1Y", "annual") is None


def test_a_european_market_is_imported_in_each_of_its_currencies(book: Book):
    report = run("DE")
    assert (report.country, report.currencies, report.offers) == ("DE", ["EUR", "GBP"], 2 * PLANS)
    assert book.offers.currencies("DE") == ["EUR", "GBP"]
    cost = book.offers.get("DE", "EUR", BASIC, "P1Y", "monthly").unit_cost
    assert cost == Money(amount_minor=552, currency="EUR")


def test_a_market_partner_center_does_not_price_is_refused_with_its_reason(book: Book):
    envelope = import_catalog.run({"country": "ZZ"})
    assert not envelope["ok"]
    failure = envelope["failure"]
    assert (failure["kind"], failure["error_type"]) == ("permanent", "BusinessError")
    assert "Market" in failure["message"]
    assert book.offers.of_country("ZZ") == []


def test_a_country_that_is_not_one_is_refused_before_any_call():
    envelope = import_catalog.run({"country": "USA"})
    assert envelope["failure"]["code"] == "invalid_input"
