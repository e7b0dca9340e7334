"""Every object type the sandbox returns has the shape of Stripe's own example object.

Stripe's fixtures (stripe/openapi fixtures3.json, MIT) are in data/ beside this file.
For each type: the same `object` name, the same id prefix, the same top-level keys, the same
keys in the nested objects cspflow reads, the same JSON types wherever both have a value, and
every field cspflow reads set, with the type Stripe's API reference gives it (`USED`).
"""

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from .harness import API_KEY

FIXTURES_PATH = Path(__file__).resolve().parent / "data" / "stripe-fixtures3.json"
FIXTURES: dict[str, Any] = json.loads(FIXTURES_PATH.read_text())["resources"]

# Nested objects whose keys cspflow reads, per type (dotted paths).
NESTED = {
    "customer": ["invoice_settings", "address"],
    "payment_method": ["card", "billing_details"],
    "invoice": ["status_transitions", "lines", "automatic_tax", "issuer"],
    "line_item": ["period", "pricing"],
    "invoiceitem": ["period", "pricing"],
    "payment_intent": ["amount_details"],
    "charge": ["payment_method_details", "outcome", "refunds", "billing_details"],
    "refund": ["destination_details"],
    "credit_note": ["lines"],
    "credit_note_line_item": [],
    "invoice_payment": ["payment", "status_transitions"],
    "dispute": ["evidence_details", "payment_method_details"],
    "event": ["data", "request"],
    "setup_intent": [],
    "checkout.session": ["phone_number_collection"],
    "customer_balance_transaction": [],
}
# The invoice_payment fixture's id is a placeholder (obj_123); Checkout ids carry the mode.
PREFIX = {"invoice_payment": "inpay", "checkout.session": "cs_test"}
# The fields cspflow reads (shared/payments), with the JSON type Stripe's API reference gives
# them (expandable fields unexpanded: the id string). Each must be set in the sandbox's object
# after the flow below and have that type. This covers what the fixture comparison cannot: the
# fixture has null for many of these (customer.name, invoice.number, charge.payment_intent...),
# and a null in the fixture checks nothing. Where the fixture has a value, the table must agree.
USED: dict[str, dict[str, str]] = {
    "customer": {
        "name": "string",
        "email": "string",
        "balance": "integer",
        "metadata": "object",
        "invoice_settings.default_payment_method": "string",
    },
    "payment_method": {
        "customer": "string",
        "type": "string",
        "card.brand": "string",
        "card.last4": "string",
        "card.exp_month": "integer",
        "card.exp_year": "integer",
    },
    "setup_intent": {"status": "string", "customer": "string", "payment_method": "string"},
    "invoice": {
        "customer": "string",
        "status": "string",
        "number": "string",
        "currency": "string",
        "total": "integer",
        "amount_due": "integer",
        "amount_paid": "integer",
        "amount_remaining": "integer",
        "attempted": "boolean",
        "hosted_invoice_url": "string",
        "created": "integer",
        "metadata": "object",
    },
    "line_item": {"amount": "integer", "currency": "string", "period.start": "integer"},
    "invoiceitem": {
        "customer": "string",
        "invoice": "string",
        "amount": "integer",
        "currency": "string",
        "description": "string",
    },
    "payment_intent": {
        "status": "string",
        "amount": "integer",
        "currency": "string",
        "customer": "string",
        "payment_method": "string",
        "latest_charge": "string",
    },
    "charge": {
        "amount": "integer",
        "amount_refunded": "integer",
        "customer": "string",
        "payment_intent": "string",
        "payment_method": "string",
        "paid": "boolean",
        "status": "string",
        "disputed": "boolean",
    },
    "refund": {
        "amount": "integer",
        "currency": "string",
        "payment_intent": "string",
        "charge": "string",
        "status": "string",
    },
    "credit_note": {
        "invoice": "string",
        "number": "string",
        "amount": "integer",
        "currency": "string",
        "type": "string",
        "refunds": "array",
    },
    "credit_note_line_item": {"amount": "integer", "description": "string"},
    "invoice_payment": {"invoice": "string", "payment.payment_intent": "string"},
    "dispute": {"charge": "string", "amount": "integer", "currency": "string", "reason": "string"},
    "event": {
        "type": "string",
        "created": "integer",
        "livemode": "boolean",
        "data.object": "object",
        "api_version": "string",
    },
    "customer_balance_transaction": {
        "amount": "integer",
        "currency": "string",
        "customer": "string",
        "ending_balance": "integer",
        "type": "string",
        "credit_note": "string",
        "invoice": "string",
    },
    "checkout.session": {
        "url": "string",
        "expires_at": "integer",
        "customer": "string",
        "setup_intent": "string",
        "mode": "string",
        "status": "string",
        "metadata": "object",
    },
}
# Keys the fixture leaves out because they depend on a discriminator: `payment.payment_intent`
# is "present when type is payment_intent" (API reference, InvoicePayment.payment).
CONDITIONAL = {"invoice_payment.payment": {"payment_intent"}}


def _type(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
    }[type(value)]


def _compare_types(ours: Any, theirs: Any, path: str, problems: list[str]) -> None:
    if ours is None or theirs is None:
        return
    if _type(ours) != _type(theirs):
        problems.append(f"{path}: {_type(ours)} but Stripe has {_type(theirs)}")
        return
    if isinstance(ours, dict):
        for key in ours.keys() & theirs.keys():
            _compare_types(ours[key], theirs[key], f"{path}.{key}", problems)
    elif isinstance(ours, list) and ours and theirs:
        _compare_types(ours[0], theirs[0], f"{path}[0]", problems)


def _check(kind: str, ours: dict[str, Any]) -> None:
    theirs = FIXTURES[kind]
    assert ours["object"] == theirs["object"] == kind
    prefix = PREFIX.get(kind, theirs["id"].split("_")[0])
    assert ours["id"].startswith(prefix + "_")
    assert set(ours) == set(theirs), (
        f"{kind}: missing {sorted(set(theirs) - set(ours))}, extra {sorted(set(ours) - set(theirs))}"
    )
    for path in NESTED[kind]:
        a, b = ours, theirs
        for part in path.split("."):
            a, b = a[part], b[part]
        if a is not None and b is not None:
            extra = CONDITIONAL.get(f"{kind}.{path}", set())
            assert set(a) - extra == set(b), f"{kind}.{path}: {sorted(set(a) ^ set(b))}"
    problems: list[str] = []
    _compare_types(ours, theirs, kind, problems)
    for path, expected in USED[kind].items():
        value, stripes = _at(ours, path), _at(theirs, path)
        if value is None or _type(value) != expected:
            problems.append(f"{kind}.{path}: {value!r} is not a {expected}")
        if stripes is not None and _type(stripes) != expected:
            problems.append(f"{kind}.{path}: Stripe's fixture has {_type(stripes)}")
    assert problems == []


def _at(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """One of every object type, fetched as raw JSON after a realistic billing flow."""
    from datetime import UTC, datetime

    from shared.clock import ManualClock

    from .harness import running_sandbox

    clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
    with running_sandbox(tmp_path_factory.mktemp("shapes"), clock) as sb:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {API_KEY}"

        def call(method: str, path: str, **data: Any) -> dict[str, Any]:
            resp = session.request(method, sb.base_url + path, data=data or None, timeout=10)
            assert resp.status_code == 200, resp.text
            return dict(resp.json())

        cus = call("POST", "/v1/customers", name="Contoso", email="ap@contoso.com")
        seti = call(
            "POST",
            "/v1/setup_intents",
            customer=cus["id"],
            payment_method="pm_card_createDispute",
            confirm="true",
        )
        pm = call("GET", f"/v1/payment_methods/{seti['payment_method']}")
        call(
            "POST",
            f"/v1/customers/{cus['id']}",
            **{"invoice_settings[default_payment_method]": pm["id"]},
        )
        inv = call("POST", "/v1/invoices", customer=cus["id"], currency="eur")
        item = call(
            "POST",
            "/v1/invoiceitems",
            customer=cus["id"],
            invoice=inv["id"],
            amount="5000",
            currency="eur",
            description="Seats",
        )
        call("POST", f"/v1/invoices/{inv['id']}/finalize")
        paid = call("POST", f"/v1/invoices/{inv['id']}/pay")
        payment = call("GET", "/v1/invoice_payments", invoice=inv["id"])["data"][0]
        pi = call("GET", f"/v1/payment_intents/{payment['payment']['payment_intent']}")
        charge = call("GET", f"/v1/charges/{pi['latest_charge']}")
        note = call(
            "POST",
            "/v1/credit_notes",
            invoice=inv["id"],
            refund_amount="1000",
            **{
                "lines[0][type]": "custom_line_item",
                "lines[0][unit_amount]": "1000",
                "lines[0][description]": "x",
            },
        )
        refund = call("GET", f"/v1/refunds/{note['refunds'][0]['refund']}")
        credited = call(
            "POST", "/v1/credit_notes", invoice=inv["id"], amount="500", credit_amount="500"
        )
        balance_txn = call(
            "GET",
            f"/v1/customers/{cus['id']}/balance_transactions/"
            f"{credited['customer_balance_transaction']}",
        )
        checkout_session = call(
            "POST",
            "/v1/checkout/sessions",
            mode="setup",
            customer=cus["id"],
            currency="eur",
            success_url="https://example.com/ok",
        )
        events = call("GET", "/v1/events", limit="100")["data"]
        dispute = next(e for e in events if e["type"] == "charge.dispute.created")["data"]["object"]
        yield {
            "customer": call("GET", f"/v1/customers/{cus['id']}"),
            "payment_method": pm,
            "setup_intent": call("GET", f"/v1/setup_intents/{seti['id']}"),
            "invoice": paid,
            "line_item": paid["lines"]["data"][0],
            "invoiceitem": call("GET", f"/v1/invoiceitems/{item['id']}"),
            "payment_intent": pi,
            "charge": call("GET", f"/v1/charges/{charge['id']}"),
            "refund": refund,
            "credit_note": note,
            "credit_note_line_item": note["lines"]["data"][0],
            "invoice_payment": payment,
            "dispute": call("GET", f"/v1/disputes/{dispute['id']}"),
            "event": call("GET", f"/v1/events/{events[0]['id']}"),
            "checkout.session": call("GET", f"/v1/checkout/sessions/{checkout_session['id']}"),
            "customer_balance_transaction": balance_txn,
        }


def test_every_checked_type_has_its_used_fields_listed():
    assert set(USED) == set(NESTED)


@pytest.mark.parametrize("kind", sorted(NESTED))
def test_the_sandbox_object_has_stripes_shape(objects, kind):
    _check(kind, objects[kind])


def test_lists_have_stripes_list_shape(objects):
    lines = objects["invoice"]["lines"]
    assert set(lines) == {"object", "data", "has_more", "url"} == set(FIXTURES["invoice"]["lines"])
    assert lines["object"] == "list"


def test_the_shape_check_catches_a_wrong_type_and_a_missing_key(objects):
    wrong_type = {**objects["customer"], "balance": "0"}
    with pytest.raises(AssertionError):
        _check("customer", wrong_type)
    missing = {k: v for k, v in objects["invoice"].items() if k != "amount_remaining"}
    with pytest.raises(AssertionError):
        _check("invoice", missing)


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("invoice", "number", 1),  # Stripe's fixture has null here: only USED sees it
        ("invoice", "number", None),
        ("charge", "payment_intent", {"id": "pi_1"}),  # expanded although nobody asked
        ("customer", "name", None),
        ("checkout.session", "setup_intent", None),
    ],
)
def test_the_shape_check_catches_a_wrong_type_or_null_in_a_field_cspflow_reads(
    objects, kind, field, value
):
    with pytest.raises(AssertionError):
        _check(kind, {**objects[kind], field: value})
