"""Every object type the sandbox returns has the shape of Stripe's own example object.

Stripe's fixtures (stripe/openapi fixtures3.json, MIT) live in shared/data beside the checkout.
For each type: the same `object` name, the same id prefix, the same top-level keys, the same
keys in the nested objects cspflow reads, and the same JSON types wherever both have a value.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from .harness import API_KEY


def _fixtures_path() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():  # the repository root
            return parent / ".." / "shared" / "data" / "stripe-fixtures3.json"
    raise AssertionError("repository root not found")


FIXTURES: dict[str, Any] = json.loads(_fixtures_path().read_text())["resources"]

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
}
# The invoice_payment fixture's id is a placeholder (obj_123); Checkout ids carry the mode.
PREFIX = {"invoice_payment": "inpay", "checkout.session": "cs_test"}
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
    assert problems == []


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
        }


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
