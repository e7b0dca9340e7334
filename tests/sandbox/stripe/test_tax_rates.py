"""Tax rates in the Stripe sandbox: created, listed, put on invoice items, and the tax they
add to an invoice (https://docs.stripe.com/api/tax_rates,
https://docs.stripe.com/billing/taxes/tax-rates)."""

import pytest
import stripe


@pytest.fixture
def customer(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _rate(sdk, percentage, inclusive=False, **extra):
    return sdk.v1.tax_rates.create(
        {"display_name": "VAT", "percentage": percentage, "inclusive": inclusive, **extra}
    )


def test_a_tax_rate_is_created_retrieved_and_listed(sdk):
    rate = _rate(sdk, 21.0, country="NL", metadata={"cspflow_tax_key": "NL-21"})
    assert rate.id.startswith("txr_") and rate.percentage == 21.0 and not rate.inclusive
    assert sdk.v1.tax_rates.retrieve(rate.id).metadata["cspflow_tax_key"] == "NL-21"
    assert rate.id in [r.id for r in sdk.v1.tax_rates.list({"active": True}).data]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"percentage": 21.0, "inclusive": False}, "display_name"),
        ({"display_name": "VAT", "inclusive": False}, "percentage"),
        ({"display_name": "VAT", "percentage": 21.0}, "inclusive"),
        ({"display_name": "VAT", "percentage": 120, "inclusive": False}, "percentage"),
    ],
)
def test_a_tax_rate_without_what_it_needs_is_refused_naming_the_field(sdk, fields, param):
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.tax_rates.create(fields)
    assert info.value.param == param


def test_exclusive_tax_is_added_per_line_rounded_half_up(sdk, customer):
    vat = _rate(sdk, 21.0)
    inv = sdk.v1.invoices.create({"customer": customer.id, "currency": "eur"})
    for amount in (6480, 190080):  # 13.608 -> 13.61; 399.168 -> 399.17
        sdk.v1.invoice_items.create(
            {
                "customer": customer.id,
                "invoice": inv.id,
                "amount": amount,
                "currency": "eur",
                "tax_rates": [vat.id],
            }
        )
    inv = sdk.v1.invoices.finalize_invoice(inv.id)
    assert [line.taxes[0].amount for line in inv.lines.data] == [1361, 39917]
    assert (inv.subtotal, inv.total, inv.amount_due) == (196560, 237838, 237838)
    assert [(t.amount, t.tax_rate_details.tax_rate) for t in inv.total_taxes] == [(41278, vat.id)]
    assert sdk.v1.invoices.pay(inv.id).amount_paid == 237838


def test_a_zero_decimal_currency_rounds_to_whole_units(sdk, customer):
    tax = _rate(sdk, 10.0)
    inv = sdk.v1.invoices.create({"customer": customer.id, "currency": "jpy"})
    sdk.v1.invoice_items.create(
        {
            "customer": customer.id,
            "invoice": inv.id,
            "amount": 8351,
            "currency": "jpy",
            "tax_rates": [tax.id],
        }
    )
    assert sdk.v1.invoices.retrieve(inv.id).total == 9186  # 8351 + 835.1 -> 835


def test_an_inclusive_rate_adds_nothing_to_the_total(sdk, customer):
    inclusive = _rate(sdk, 25.0, inclusive=True)
    inv = sdk.v1.invoices.create({"customer": customer.id, "currency": "eur"})
    sdk.v1.invoice_items.create(
        {
            "customer": customer.id,
            "invoice": inv.id,
            "amount": 12500,
            "currency": "eur",
            "tax_rates": [inclusive.id],
        }
    )
    inv = sdk.v1.invoices.retrieve(inv.id)
    assert (inv.total, inv.subtotal_excluding_tax, inv.total_taxes[0].amount) == (
        12500,
        10000,
        2500,
    )


def test_an_unknown_tax_rate_on_an_item_is_refused_naming_it(sdk, customer):
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.invoice_items.create(
            {"customer": customer.id, "amount": 100, "currency": "eur", "tax_rates": ["txr_no"]}
        )
    assert info.value.param == "tax_rates[0]"
