"""A write whose answer is lost on the network is never done twice.

A loopback proxy lets each request reach the sandbox, which commits it and answers, and then
closes the client's connection without the answer. The retry, by the SDK (same request) or by
Durable Functions (the activity again, same step key), carries the same derived
`Idempotency-Key`, so the sandbox replays its first answer instead of charging again.
"""

from collections.abc import Iterator

import pytest
import requests

from shared.payments import ChargeLine, PaymentsUnavailable, StripePayments
from shared.payments.idempotency import derive_key
from tests.sandbox.stripe.harness import API_KEY, LossyProxy, client, lossy_proxy

PAY = "/v1/invoices/*/pay"


@pytest.fixture
def proxy(sandbox) -> Iterator[LossyProxy]:
    with lossy_proxy(sandbox.base_url) as p:
        yield p


def _through(proxy, retries):
    return StripePayments(API_KEY, proxy.url, max_network_retries=retries)


def _billable(sandbox, step="onboard-1"):
    direct = StripePayments(API_KEY, sandbox.base_url)
    cus = direct.create_customer(f"{step}:customer", partner_customer_id="c-1", name="Contoso")
    assert direct.attach_payment_method(f"{step}:card", cus.id, "pm_card_visa").ok
    inv = direct.create_invoice("bill-1", cus.id, currency="EUR")
    direct.add_invoice_item(
        "bill-1", cus.id, invoice_id=inv.id, amount=4_200, currency="EUR", description="Seats"
    )
    direct.finalize_invoice("bill-1", inv.id)
    return cus, inv


def _charges(sandbox, customer_id):
    return client(sandbox.base_url).v1.charges.list({"customer": customer_id}).data


def test_a_payment_whose_answer_is_lost_is_retried_by_the_sdk_and_charged_once(sandbox, proxy):
    cus, inv = _billable(sandbox)
    proxy.lose_answers("POST", PAY)
    outcome = _through(proxy, retries=2).pay_invoice("bill-1:attempt-1", inv.id)
    assert outcome.paid and outcome.invoice.amount_paid == 4_200
    first, retry = proxy.to(PAY)
    assert first.dropped and not first.replayed
    assert retry.replayed and not retry.dropped
    key = derive_key("bill-1:attempt-1", "invoice.pay")
    assert first.idempotency_key == retry.idempotency_key == key
    assert len(_charges(sandbox, cus.id)) == 1


def test_an_activity_retried_after_a_lost_answer_charges_once(sandbox, proxy):
    cus, inv = _billable(sandbox)
    proxy.lose_answers("POST", PAY)
    with pytest.raises(PaymentsUnavailable):
        _through(proxy, retries=0).pay_invoice("bill-1:attempt-1", inv.id)
    # The sandbox did charge: only the answer was lost.
    assert len(_charges(sandbox, cus.id)) == 1
    # Durable Functions runs the activity again, in a new worker, with the same step key.
    again = _through(proxy, retries=0).pay_invoice("bill-1:attempt-1", inv.id)
    assert again.paid and again.decline is None
    assert [f.replayed for f in proxy.to(PAY)] == [False, True]
    assert len(_charges(sandbox, cus.id)) == 1


def test_a_declined_payment_whose_answer_is_lost_is_not_attempted_twice(sandbox, proxy):
    direct = StripePayments(API_KEY, sandbox.base_url)
    cus = direct.create_customer("c", partner_customer_id="c-2", name="Fabrikam")
    direct.attach_payment_method("c:card", cus.id, "pm_card_chargeCustomerFail")
    first = direct.charge_now(
        "bill-2",
        cus.id,
        currency="EUR",
        lines=[ChargeLine(amount=900, description="x")],
        description="x",
    )
    assert first.attempts == 1
    inv = first.invoice
    proxy.lose_answers("POST", PAY)
    outcome = _through(proxy, retries=2).pay_invoice("bill-2:attempt-2", inv.id)
    assert outcome.decline is not None and outcome.decline.decline_code == "generic_decline"
    assert outcome.attempts == 2  # one attempt for this step, not two
    assert len(_charges(sandbox, cus.id)) == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/invoices"),
        ("POST", "/v1/invoiceitems"),
        ("POST", "/v1/invoices/*/finalize"),
        ("POST", PAY),
    ],
)
def test_a_one_off_charge_retried_after_any_lost_answer_bills_once(sandbox, proxy, method, path):
    direct = StripePayments(API_KEY, sandbox.base_url)
    cus = direct.create_customer("c", partner_customer_id="c-3", name="Northwind")
    assert direct.attach_payment_method("c:card", cus.id, "pm_card_visa").ok
    lines = [
        ChargeLine(amount=1_935, description="2 x M365 E3, 18 of 31 days"),
        ChargeLine(amount=-500, description="Promotion"),
    ]
    proxy.lose_answers(method, path)
    with pytest.raises(PaymentsUnavailable):
        _through(proxy, retries=0).charge_now(
            "change-7", cus.id, currency="EUR", lines=lines, description="Seat increase"
        )
    outcome = _through(proxy, retries=0).charge_now(
        "change-7", cus.id, currency="EUR", lines=lines, description="Seat increase"
    )
    assert outcome.paid and outcome.invoice.total == 1_435
    sdk = client(sandbox.base_url)
    assert [i.id for i in sdk.v1.invoices.list({"customer": cus.id}).data] == [outcome.invoice.id]
    assert len(sdk.v1.invoice_items.list({"customer": cus.id}).data) == 2
    assert [c.amount for c in _charges(sandbox, cus.id)] == [1_435]
    assert any(f.replayed for f in proxy.to(path))


def test_a_card_attach_whose_answer_is_lost_saves_one_card(sandbox, proxy):
    direct = StripePayments(API_KEY, sandbox.base_url)
    cus = direct.create_customer("c", partner_customer_id="c-4", name="Litware")
    proxy.lose_answers("POST", "/v1/payment_methods/*/attach")
    outcome = _through(proxy, retries=2).attach_payment_method("c:card", cus.id, "pm_card_visa")
    assert outcome.card is not None
    cards = direct.list_cards(cus.id)
    assert [c.payment_method_id for c in cards] == [outcome.card.payment_method_id]


def _every_write(payments, sdk, first_run):
    """Each write operation of the adapter once, with the step keys a workflow would use."""
    cus = payments.create_customer("w:customer", partner_customer_id="c-5", name="Contoso")
    payments.update_customer("w:rename", cus.id, name="Contoso Ltd")
    assert payments.attach_payment_method("w:card", cus.id, "pm_card_visa").ok
    inv = payments.create_invoice("w:bill", cus.id, currency="EUR")
    payments.add_invoice_item(
        "w:bill", cus.id, invoice_id=inv.id, amount=3_000, currency="EUR", description="x"
    )
    payments.finalize_invoice("w:bill", inv.id)
    paid = payments.pay_invoice("w:bill:attempt-1", inv.id)
    assert paid.payment_intent_id is not None
    payments.credit_invoice("w:decrease", inv.id, amount=500, description="1 seat")
    payments.refund_payment("w:refund", paid.payment_intent_id, amount=100)
    payments.charge_now(
        "w:change",
        cus.id,
        currency="EUR",
        lines=[ChargeLine(amount=700, description="x")],
        description="x",
    )
    draft = payments.create_invoice("w:void", cus.id, currency="EUR")
    payments.add_invoice_item(
        "w:void", cus.id, invoice_id=draft.id, amount=100, currency="EUR", description="x"
    )
    payments.void_invoice("w:void", payments.finalize_invoice("w:void", draft.id).id)
    link = payments.card_update_link("w:link", cus.id, success_url="https://portal.example/ok")
    if first_run:  # the customer saves a card on the hosted page (not an API write)
        requests.post(link.url, data={"payment_method": "pm_card_mastercard"}, timeout=10)
    session = sdk.v1.checkout.sessions.retrieve(link.session_id)
    assert isinstance(session.setup_intent, str)
    payments.complete_card_update("w:card-default", session.setup_intent)
    return cus


def test_every_write_carries_a_key_derived_from_its_step_and_a_rerun_changes_nothing(
    sandbox, proxy
):
    sdk = client(sandbox.base_url)
    cus = _every_write(_through(proxy, retries=0), sdk, first_run=True)
    writes = [f for f in proxy.forwarded if f.method == "POST"]
    keys = [f.idempotency_key for f in writes]
    assert len(writes) >= 15
    assert all(k is not None and k.startswith("cspflow-") for k in keys)
    assert len(set(keys)) == len(keys)  # one key per write, none reused across operations
    assert derive_key("w:bill:attempt-1", "invoice.pay") in keys
    before = len(proxy.forwarded)
    # The whole workflow replayed (Durable Functions re-running every activity): every write
    # is answered from Stripe's idempotency store and nothing new is created or charged.
    _every_write(_through(proxy, retries=0), sdk, first_run=False)
    rerun = [f for f in proxy.forwarded[before:] if f.method == "POST"]
    assert [f.idempotency_key for f in rerun] == keys
    assert all(f.replayed for f in rerun)
    assert len(sdk.v1.customers.list().data) == 1
    assert [c.amount for c in _charges(sandbox, cus.id)] == [700, 3_000]
