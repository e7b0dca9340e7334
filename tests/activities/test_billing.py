"""The billing run's activities against a real Stripe sandbox and Azurite, called as the
Functions host calls them: the hand-worked month (tests/billing_month.py) planned from the
book and issued in Stripe to the minor unit, with tax rates, the reverse-charge footer,
collection by payment terms; an invoice issued once however often the step runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from activities.billing import (
    issue_invoice,
    list_due_customers,
    plan_customer_invoice,
    record_billing_run,
    record_customer_billed,
)
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models.billing_run import CustomerBilled, InvoicePlan
from tests import billing_month as month
from tests.sandbox.stripe.harness import client as stripe_client

RUN = "2027-03-d01"


@pytest.fixture
def book(app_env: pytest.MonkeyPatch) -> Iterator[Book]:
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    reset_settings()
    yield Book(get_settings())


@pytest.fixture
def sdk(sandbox: Any) -> Any:
    return stripe_client(sandbox.base_url)


@pytest.fixture
def loaded(book: Book, sdk: Any) -> dict[str, str]:
    ids = month.stripe_customers(sdk)
    month.load_book(get_settings(), ids)
    return ids


def plan(customer_id: str, partner_country: str = "NL") -> dict[str, Any]:
    envelope = plan_customer_invoice.run(
        {
            "run_id": RUN,
            "period": "2027-03",
            "customer_id": customer_id,
            "partner_country": partner_country,
        }
    )
    assert envelope["ok"], envelope
    value: dict[str, Any] = envelope["value"]
    return value


def issue(planned: dict[str, Any], key: str | None = None) -> CustomerBilled:
    key = key or f"billing-{planned['plan']['customer_id']}-2027-03/issue"
    envelope = issue_invoice.run(
        {
            "step_key": key,
            "run_id": RUN,
            "plan": planned["plan"],
            "stripe_customer_id": planned["stripe_customer_id"],
        }
    )
    assert envelope["ok"], envelope
    return CustomerBilled.model_validate(envelope["value"])


def test_due_customers_are_the_ones_billed_on_that_day_a_page_at_a_time(book, loaded):
    book.customers.update("fabrikam", lambda c: c.model_copy(update={"billing_day": 15}))
    first = list_due_customers.run({"billing_day": 1, "page_size": 2})["value"]
    assert first["customer_ids"] == ["contoso"] and first["next"] is not None
    rest = list_due_customers.run({"billing_day": 1, "page_size": 2, "after": first["next"]})
    assert rest["value"] == {"customer_ids": ["northwind"], "next": None}
    assert list_due_customers.run({"billing_day": 15})["value"]["customer_ids"] == ["fabrikam"]


@pytest.mark.parametrize("customer_id", ["contoso", "fabrikam", "northwind"])
def test_the_month_is_planned_from_the_book_as_worked_by_hand(loaded, customer_id):
    planned = InvoicePlan.model_validate(plan(customer_id)["plan"])
    expected = month.EXPECTED[customer_id]
    assert [
        (line.subscription_id, line.quantity, line.amount.amount_minor, line.tax.amount_minor)
        for line in planned.lines
    ] == expected["lines"]
    assert planned.total.amount_minor == expected["total"]
    assert planned.margin is not None and planned.margin.amount_minor == expected["margin"]
    assert [c.change_id for c in planned.listed_changes] == expected["listed"]


@pytest.mark.parametrize("customer_id", ["contoso", "fabrikam", "northwind"])
def test_each_invoice_is_in_stripe_to_the_minor_unit_and_collected_by_its_terms(
    loaded, sdk, customer_id
):
    billed = issue(plan(customer_id), key=f"billing-{customer_id}-2027-03/issue")
    expected = month.EXPECTED[customer_id]
    inv = sdk.v1.invoices.retrieve(billed.stripe_invoice_id)
    assert inv.currency == expected["currency"].lower()
    assert [(line.amount, sum(t.amount for t in line.taxes)) for line in inv.lines.data] == [
        (amount, tax) for _, _, amount, tax in expected["lines"]
    ]
    assert (inv.subtotal, inv.total) == (expected["subtotal"], expected["total"])
    assert inv.collection_method == expected["collection"]
    assert inv.metadata["cspflow_invoice_id"] == f"{customer_id}-2027-03"
    if expected["collection"] == "charge_automatically":
        assert (inv.status, inv.amount_paid, billed.status) == ("paid", expected["total"], "paid")
    else:
        assert inv.status == "open" and inv.due_date is not None  # sent, due in 30 days
    assert billed.hosted_invoice_url == inv.hosted_invoice_url
    for listed in expected["listed"]:
        assert listed.split("-")[1] in inv.description  # the change's subscription is named


def test_the_tax_exempt_invoice_says_so_and_a_reverse_charge_one_carries_the_note(
    book, loaded, sdk
):
    northwind = issue(plan("northwind"))
    assert sdk.v1.invoices.retrieve(northwind.stripe_invoice_id).footer == "Tax exempt."
    book.customers.update(
        "contoso",
        lambda c: c.model_copy(
            update={
                "tax": c.tax.model_copy(update={"vat_id": "NL123456789B01", "vat_id_valid": True})
            }
        ),
    )
    contoso = issue(plan("contoso", partner_country="BE"))  # a Belgian partner
    inv = sdk.v1.invoices.retrieve(contoso.stripe_invoice_id)
    assert inv.total == 196560 and inv.total_taxes == []  # no VAT at all
    assert "Reverse charge" in inv.footer and "NL123456789B01" in inv.footer


def test_issuing_again_issues_nothing_and_a_later_plan_finds_the_invoice_in_the_book(
    book, loaded, sdk
):
    planned = plan("contoso")
    first = issue(planned)
    again = issue(planned, key="billing-contoso-2027-03/another-step")  # found by metadata
    assert again.stripe_invoice_id == first.stripe_invoice_id
    invoices = sdk.v1.invoices.list({"customer": loaded["contoso"]}).data
    assert len(invoices) == 1 and invoices[0].amount_paid == 237838
    assert plan("contoso")["already"]["stripe_invoice_id"] == first.stripe_invoice_id
    recorded = book.invoices.get("contoso", "contoso-2027-03").record
    assert recorded.total.amount_minor == 237838  # lines and the tax line
    assert recorded.status == "paid" and recorded.stripe_invoice_id == first.stripe_invoice_id


def test_a_declined_card_is_an_outcome_for_dunning_and_a_retry_charges_nothing_more(loaded, sdk):
    cus = loaded["contoso"]
    pm = sdk.v1.payment_methods.attach(
        "pm_card_sandbox_fail_after_0_insufficient_funds", {"customer": cus}
    )
    sdk.v1.customers.update(cus, {"invoice_settings": {"default_payment_method": pm.id}})
    planned = plan("contoso")
    billed = issue(planned)
    assert billed.declined and billed.status == "open"
    again = issue(planned)  # the step retried: the invoice is found, no second attempt
    assert again.stripe_invoice_id == billed.stripe_invoice_id and again.declined
    assert len(sdk.v1.charges.list({"customer": cus}).data) == 1


def test_a_customer_without_a_stripe_customer_is_skipped_with_the_reason(book, loaded):
    book.customers.update("northwind", lambda c: c.model_copy(update={"stripe_customer_id": None}))
    assert plan("northwind")["skip_reason"] == "the customer has no Stripe customer"


def test_the_run_and_its_customers_are_recorded_once(book, loaded):
    billed = CustomerBilled(run_id=RUN, customer_id="contoso", outcome="nothing_to_bill")
    for _ in range(2):
        envelope = record_customer_billed.run(
            {"step_key": "run/record", "billed": billed.model_dump(mode="json")}
        )
        assert envelope["ok"], envelope
    assert [b.customer_id for b in book.billed_customers.of_run(RUN).items] == ["contoso"]
    report = {
        "run_id": RUN,
        "period": "2027-03",
        "billing_day": 1,
        "started_at": "2027-03-01T00:05:00Z",
        "finished_at": "2027-03-01T00:06:00Z",
        "complete": True,
        "pages": 1,
        "totals": {"customers": 1, "nothing_to_bill": 1},
    }
    assert record_billing_run.run({"step_key": "run/record", "report": report})["ok"]
    stored = book.billing_runs.find(RUN)
    assert stored is not None and stored.record.totals.nothing_to_bill == 1
