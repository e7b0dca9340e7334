"""The billing run's invoice, computed by hand (tests/billing_month.py shows the arithmetic)
and rule by rule (docs/rules.md, "Billing run")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.models import Money, Subscription, SubscriptionRecord
from shared.models.billing_run import OfferPrice, TaxTreatment
from shared.models.party import TaxProfile
from shared.policy.billing import (
    billing_window,
    invoice_id,
    line_tax,
    offers_to_price,
    period_of,
    plan_invoice,
    subscription_lines,
    tax_treatment,
    terms_of,
)
from shared.policy.terms import Period
from tests import billing_month as month

NO_TAX = TaxTreatment(kind="untaxed", rate=Decimal(0))


@pytest.mark.parametrize("customer", month.CUSTOMERS, ids=lambda c: c.id)
def test_the_hand_worked_month_bills_each_customer_exactly_what_the_arithmetic_says(
    customer: object,
) -> None:
    from shared.models import Customer

    assert isinstance(customer, Customer)
    plan = plan_invoice(
        customer,
        month.SUBSCRIPTIONS[customer.id],
        month.list_prices(customer.billing_currency),
        month.CHANGES[customer.id],
        period=month.PERIOD,
        partner_country=month.PARTNER_COUNTRY,
    )
    expected = month.EXPECTED[customer.id]
    assert plan.invoice_id == f"{customer.id}-2027-03"
    assert plan.currency == expected["currency"]
    assert [
        (line.subscription_id, line.quantity, line.amount.amount_minor, line.tax.amount_minor)
        for line in plan.lines
    ] == expected["lines"]
    assert plan.subtotal.amount_minor == expected["subtotal"]
    assert plan.tax_total.amount_minor == expected["tax"]
    assert plan.total.amount_minor == expected["total"]
    assert plan.margin is not None and plan.margin.amount_minor == expected["margin"]
    assert plan.collection == expected["collection"]
    assert [c.change_id for c in plan.listed_changes] == expected["listed"]


def test_a_scheduled_change_takes_effect_in_the_period_its_term_starts() -> None:
    plan = plan_invoice(
        month.CONTOSO,
        month.SUBSCRIPTIONS["contoso"],
        month.list_prices("EUR"),
        [],
        period=month.PERIOD,
        partner_country="NL",
    )
    renewal = plan.lines[1]
    assert (renewal.kind, renewal.quantity) == ("renew", 8)
    assert renewal.unit_price == month.eur("237.60")  # the list in force, not 220.00 sold
    assert (renewal.period_start, renewal.period_end) == (date(2027, 3, 20), date(2028, 3, 20))


def test_invoice_terms_give_the_due_days_and_card_customers_none() -> None:
    fabrikam = plan_invoice(month.FABRIKAM, [], {}, [], period=month.PERIOD, partner_country="NL")
    contoso = plan_invoice(month.CONTOSO, [], {}, [], period=month.PERIOD, partner_country="NL")
    assert (fabrikam.collection, fabrikam.days_until_due) == ("send_invoice", 30)
    assert (contoso.collection, contoso.days_until_due) == ("charge_automatically", None)
    assert contoso.lines == () and contoso.total == month.eur("0")
    assert contoso.margin is None  # nothing billed, nothing to compare


def test_a_tax_exempt_customer_is_billed_without_tax_and_says_why() -> None:
    plan = plan_invoice(
        month.NORTHWIND,
        month.SUBSCRIPTIONS["northwind"],
        month.list_prices("EUR"),
        [],
        period=month.PERIOD,
        partner_country="NL",
    )
    assert plan.tax.kind == "exempt" and plan.tax.note == "Tax exempt."
    assert plan.tax_total == month.eur("0")
    assert [n.subscription_id for n in plan.not_billed] == ["sub-c2"]


# docs/rules.md#billing-window
@pytest.mark.parametrize(
    ("period", "day", "start", "end"),
    [
        ("2027-03", 1, date(2027, 3, 1), date(2027, 4, 1)),
        ("2027-01", 28, date(2027, 1, 28), date(2027, 2, 28)),
        ("2027-12", 15, date(2027, 12, 15), date(2028, 1, 15)),
    ],
)
def test_a_customer_is_billed_from_its_billing_day_to_the_same_day_next_month(
    period: str, day: int, start: date, end: date
) -> None:
    assert billing_window(period, day) == Period(start, end)
    assert period_of(start) == period


@pytest.mark.parametrize("day", [0, 29, 31])
def test_a_billing_day_every_month_does_not_have_is_refused(day: int) -> None:
    with pytest.raises(ValueError, match="billing day"):
        billing_window("2027-03", day)


def _record(
    *,
    term: str = "P1Y",
    cycle: str = "monthly",
    start: str = "2026-06-10",
    end: str = "2027-06-09",
    price: Money | None = None,
    **fields: object,
) -> SubscriptionRecord:
    return SubscriptionRecord(
        customer_id="c",
        unit_price=price,
        subscription=Subscription.model_validate(
            {
                "id": "s",
                "offer_id": month.BASIC,
                "status": "active",
                "auto_renew_enabled": True,
                "quantity": 2,
                "term_duration": term,
                "billing_cycle": cycle,
                "effective_start_date": datetime.fromisoformat(start).replace(tzinfo=UTC),
                "commitment_end_date": end,
                **fields,
            }
        ),
    )


MARCH = Period(date(2027, 3, 1), date(2027, 4, 1))
EUR10 = month.eur("10.00")


# docs/rules.md#billed-periods: Microsoft bills monthly plans every month, annual plans at
# each anniversary, and an upfront (triennial) plan once
# (https://learn.microsoft.com/en-us/partner-center/billing/recon-file-charge-types: cycleCharge,
# renew; https://learn.microsoft.com/en-us/partner-center/pricing/pricing-and-offers).
@pytest.mark.parametrize(
    ("case", "record", "billed"),
    [
        ("monthly plan, mid-term", _record(), [("cycle", date(2027, 3, 10))]),
        (
            "annual plan, anniversary in the window",
            _record(cycle="annual", start="2025-03-15", end="2028-03-14", term="P3Y"),
            [("cycle", date(2027, 3, 15))],
        ),
        (
            "annual plan, anniversary in another month",
            _record(cycle="annual", start="2026-06-10"),
            [],
        ),
        (
            "triennial plan paid upfront, mid-term",
            _record(cycle="triennial", term="P3Y", start="2025-03-15", end="2028-03-14"),
            [],
        ),
        (
            "triennial plan paid upfront renews in the window",
            _record(cycle="triennial", term="P3Y", start="2024-03-15", end="2027-03-14"),
            [("renew", date(2027, 3, 15))],
        ),
        (
            "bought in the window: charged by its order",
            _record(start="2027-03-05", end="2028-03-04"),
            [],
        ),
        (
            "monthly term ending without auto-renew",
            _record(term="P1M", start="2027-02-12", end="2027-03-11", auto_renew_enabled=False),
            [],
        ),
        (
            "monthly term renewing in the window",
            _record(term="P1M", start="2026-12-12", end="2027-03-11"),
            [("renew", date(2027, 3, 12))],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_which_billing_periods_a_subscription_bills_in_the_window(
    case: str, record: SubscriptionRecord, billed: list[tuple[str, date]]
) -> None:
    prices = {
        key: OfferPrice(offer_key=key, price=EUR10) for key in offers_to_price([record], MARCH)
    }
    lines, _ = subscription_lines(record, MARCH, prices, NO_TAX, "EUR")
    assert [(line.kind, line.period_start) for line in lines] == billed


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"is_trial": True}, "a trial is free"),
        ({"status": "expired"}, "the subscription is expired"),
        ({"status": "deleted"}, "the subscription is deleted"),
    ],
)
def test_subscriptions_that_do_not_bill_say_why(fields: dict[str, Any], reason: str) -> None:
    lines, skipped = subscription_lines(_record(**fields), MARCH, {}, NO_TAX, "EUR")
    assert lines == [] and [s.reason for s in skipped] == [reason]


def test_the_current_term_bills_at_the_price_it_was_sold_at_not_the_list() -> None:
    # docs/rules.md#price-list-changes
    record = _record(price=month.eur("5.40"))
    prices = {
        k: OfferPrice(offer_key=k, price=EUR10, cost=month.eur("4.90"))
        for k in offers_to_price([record], MARCH)
    }
    (line,), _ = subscription_lines(record, MARCH, prices, NO_TAX, "EUR")
    assert (line.unit_price, line.amount, line.cost) == (
        month.eur("5.40"),
        month.eur("10.80"),
        month.eur("9.80"),
    )


def test_a_period_without_a_price_or_in_another_currency_is_listed_not_billed() -> None:
    lines, skipped = subscription_lines(_record(), MARCH, {}, NO_TAX, "EUR")
    assert lines == [] and "no price for" in skipped[0].reason
    record = _record(price=Money(amount_minor=1000, currency="USD"))
    lines, skipped = subscription_lines(record, MARCH, {}, NO_TAX, "EUR")
    assert lines == [] and "not in the billing currency EUR" in skipped[0].reason


def test_an_item_without_a_real_term_end_bills_its_first_term_only() -> None:
    record = _record(term="P1M", start="2027-02-03", end="9999-12-10")
    (term,) = terms_of(record.subscription)
    assert (term.start, term.end) == (date(2027, 2, 3), date(2027, 3, 3))


# docs/rules.md#invoice-tax: tax rates on invoice lines, exclusive, computed per line
# (https://docs.stripe.com/billing/taxes/tax-rates); rounded half up once per line.
@pytest.mark.parametrize(
    ("amount", "rate", "tax"),
    [
        (Money.from_decimal("64.80", "EUR"), "0.21", "13.61"),  # 13.608
        (Money.from_decimal("0.50", "EUR"), "0.21", "0.11"),  # 0.105, half up
        (Money(amount_minor=8351, currency="JPY"), "0.10", "835"),  # 835.1
        (Money(amount_minor=5, currency="JPY"), "0.10", "1"),  # 0.5 yen, half up
        (Money.from_decimal("1.000", "KWD"), "0.05", "0.050"),
        (Money.from_decimal("-10.00", "EUR"), "0.21", "-2.10"),
    ],
)
def test_tax_on_a_line_is_rounded_once_half_up(amount: Money, rate: str, tax: str) -> None:
    assert line_tax(amount, Decimal(rate)) == Money.from_decimal(tax, amount.currency)


# docs/rules.md#reverse-charge: Council Directive 2006/112/EC, Articles 196 and 226(11a)
# (https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32006L0112); VAT ids checked
# in VIES (https://taxation-customs.ec.europa.eu/vies-vat-information-exchange-system_en).
@pytest.mark.parametrize(
    ("case", "tax", "country", "partner", "kind", "rate"),
    [
        ("standard rate", TaxProfile(rate=Decimal("0.21")), "NL", "NL", "standard", "0.21"),
        ("exempt wins", TaxProfile(rate=Decimal("0.21"), exempt=True), "NL", "NL", "exempt", "0"),
        ("no rate", TaxProfile(), "US", "NL", "untaxed", "0"),
        (
            "valid VAT id in another member state",
            TaxProfile(rate=Decimal("0.19"), vat_id="DE123456789", vat_id_valid=True),
            "DE",
            "NL",
            "reverse_charge",
            "0",
        ),
        (
            "Greece's VAT ids start EL",
            TaxProfile(rate=Decimal("0.24"), vat_id="EL123456789", vat_id_valid=True),
            "GR",
            "NL",
            "reverse_charge",
            "0",
        ),
        (
            "the partner's own member state",
            TaxProfile(rate=Decimal("0.21"), vat_id="NL123456789B01", vat_id_valid=True),
            "NL",
            "NL",
            "standard",
            "0.21",
        ),
        (
            "a VAT id not checked valid",
            TaxProfile(rate=Decimal("0.19"), vat_id="DE123456789"),
            "DE",
            "NL",
            "standard",
            "0.19",
        ),
        (
            "a VAT id of another country",
            TaxProfile(rate=Decimal("0.19"), vat_id="FR12345678901", vat_id_valid=True),
            "DE",
            "NL",
            "standard",
            "0.19",
        ),
        (
            "a partner outside the EU",
            TaxProfile(rate=Decimal("0.19"), vat_id="DE123456789", vat_id_valid=True),
            "DE",
            "US",
            "standard",
            "0.19",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_how_an_invoice_is_taxed(
    case: str, tax: TaxProfile, country: str, partner: str, kind: str, rate: str
) -> None:
    treatment = tax_treatment(tax, country, partner)
    assert (treatment.kind, treatment.rate) == (kind, Decimal(rate))
    if kind == "reverse_charge":
        assert treatment.note is not None and "Reverse charge" in treatment.note
        assert tax.vat_id is not None and tax.vat_id in treatment.note


def test_a_reverse_charge_invoice_carries_no_vat() -> None:
    customer = month.CONTOSO.model_copy(
        update={
            "country": "DE",
            "tax": TaxProfile(rate=Decimal("0.19"), vat_id="DE123456789", vat_id_valid=True),
        }
    )
    plan = plan_invoice(
        customer,
        month.SUBSCRIPTIONS["contoso"],
        month.list_prices("EUR"),
        [],
        period=month.PERIOD,
        partner_country="NL",
    )
    assert plan.tax.kind == "reverse_charge"
    assert plan.tax_total == month.eur("0") and plan.total == plan.subtotal


def test_a_tax_profile_refuses_a_rate_that_is_not_a_fraction() -> None:
    with pytest.raises(ValueError, match="fraction"):
        TaxProfile(rate=Decimal("21"))
    with pytest.raises(ValueError, match="vat_id"):
        TaxProfile(vat_id_valid=True)


def test_one_invoice_id_per_customer_and_period() -> None:
    assert invoice_id("contoso", "2027-03") == "contoso-2027-03"
    assert len(invoice_id("x" * 64, "2027-03")) == 64
