"""The webhook receivers: genuine deliveries are queued and answered 200; forged, replayed,
unsigned, stale and oversize ones are refused with their status, and nothing is queued or
recorded beyond a count and a log line without the body."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.partner_center.delivery import sign
from tests.sandbox.stripe.harness import WEBHOOK_SECRET
from tests.triggers.intake_world import World
from triggers.webhooks import refused_counts

pytestmark = pytest.mark.slow

CHANGED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SECRET_MARKER = "body-marker-that-must-never-be-logged"
OLD_SECRET = "whsec_rotated_out_secret"


def pc_body(world: World, **extra: object) -> bytes:
    doc = json.loads(
        world.pc_body("subscription-updated", "customers/c1/subscriptions/s1", CHANGED)
    )
    doc.update(extra)
    return json.dumps(doc).encode()


def stripe_body(event_id: str = "evt_1", **extra: object) -> bytes:
    doc = {
        "id": event_id,
        "object": "event",
        "type": "payment_method.attached",
        "created": int(CHANGED.timestamp()),
        "livemode": False,
        "data": {
            "object": {
                "id": "pm_1",
                "object": "payment_method",
                "customer": "cus_1",
                "card": {"brand": "visa", "last4": "4242", "exp_month": 4, "exp_year": 2031},
                "metadata": {"note": SECRET_MARKER},
            }
        },
        **extra,
    }
    return json.dumps(doc).encode()


def problem(resp) -> dict[str, object]:
    assert resp.mimetype == "application/problem+json"
    found: dict[str, object] = json.loads(resp.get_body())
    return found


# -- Partner Center --------------------------------------------------------------------


def test_a_genuine_partner_center_event_is_queued_and_answered_200(world: World):
    body = pc_body(world)
    resp = world.post_partner_center(body)
    assert resp.status_code == 200, resp.get_body()
    answer = json.loads(resp.get_body())
    [message] = world.queued("partner_center")
    assert answer == {"queued": True, "key": message.key}
    assert message.key == (
        "subscription-updated|customers/c1/subscriptions/s1|2026-03-02T09:30:00.000000Z"
    )
    assert (message.source, message.type, message.via) == (
        "partner_center",
        "subscription-updated",
        "webhook",
    )
    assert message.partner_center is not None
    assert message.partner_center.changed_at == CHANGED
    assert world.queued("stripe") == []


def test_the_signature_in_x_ms_signature_is_accepted_too(world: World):
    body = pc_body(world)
    signature = world.pc_headers(body)["Authorization"]
    headers = world.pc_headers(body, Authorization=None, x_ms_signature=signature)
    assert "Authorization" not in headers
    assert world.post_partner_center(body, headers).status_code == 200
    assert len(world.queued("partner_center")) == 1


def _another_key_signs(world: World, body: bytes) -> dict[str, str]:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return world.pc_headers(body, Authorization=f"Signature {sign(other, body)}")


PC_FORGERIES = {
    # signed by a key that is not the published certificate's
    "wrong certificate": lambda w, b: (b, _another_key_signs(w, b)),
    "certificate URL outside the allow-list": lambda w, b: (
        b,
        w.pc_headers(b, x_ms_certificate_url="https://attacker.example/cert/pc.cer"),
    ),
    "certificate URL with a query": lambda w, b: (
        b,
        w.pc_headers(b, x_ms_certificate_url=w.pc.sandbox.certificate_url + "?x=1"),
    ),
    "tampered body": lambda w, b: (b.replace(b"s1", b"s2"), w.pc_headers(b)),
    "no signature": lambda w, b: (b, w.pc_headers(b, Authorization=None)),
    "no certificate URL": lambda w, b: (b, w.pc_headers(b, x_ms_certificate_url=None)),
    "no algorithm": lambda w, b: (b, w.pc_headers(b, x_ms_signature_algorithm=None)),
    "another algorithm": lambda w, b: (b, w.pc_headers(b, x_ms_signature_algorithm="rsa-sha1")),
    "a signature that is not base64": lambda w, b: (
        b,
        w.pc_headers(b, Authorization="Signature not*base64"),
    ),
}


@pytest.mark.parametrize("forgery", sorted(PC_FORGERIES))
def test_a_forged_partner_center_delivery_is_refused_401_and_nothing_is_queued(
    world: World, forgery: str, caplog: pytest.LogCaptureFixture
):
    before = refused_counts().get(("partner_center", 401), 0)
    body, headers = PC_FORGERIES[forgery](world, pc_body(world, Marker=SECRET_MARKER))
    with caplog.at_level(logging.WARNING, logger="cspflow.webhooks"):
        resp = world.post_partner_center(body, headers)
    assert resp.status_code == 401, resp.get_body()
    assert problem(resp)["code"] == "signature_rejected"
    assert world.queued("partner_center") == []
    assert refused_counts()[("partner_center", 401)] == before + 1
    assert "source=partner_center status=401" in caplog.text
    assert SECRET_MARKER not in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"EventName": "subscription-updated"}',
        b'{"EventName": "x", "ResourceUri": "u", "ResourceChangeUtcDate": "yesterday"}',
        b'{"EventName": 7, "ResourceUri": "u", "ResourceChangeUtcDate": "2026-03-02T09:30:00Z"}',
    ],
    ids=["not JSON", "not an object", "fields missing", "no time", "a name not a string"],
)
def test_a_genuinely_signed_body_that_is_no_event_is_refused_400(world: World, body: bytes):
    resp = world.post_partner_center(body)
    assert resp.status_code == 400, resp.get_body()
    assert problem(resp)["code"] == "malformed_event"
    assert world.queued("partner_center") == []


def test_a_2_mib_partner_center_body_is_refused_413_before_anything_else(world: World):
    before = refused_counts().get(("partner_center", 413), 0)
    body = pc_body(world, Padding="x" * (2 * 1024 * 1024))
    resp = world.post_partner_center(body)
    assert resp.status_code == 413
    assert problem(resp)["code"] == "body_too_large"
    assert world.queued("partner_center") == []
    assert refused_counts()[("partner_center", 413)] == before + 1


def test_a_partner_center_delivery_replayed_is_queued_again_under_the_same_key(world: World):
    """Partner Center retries (and the sandbox duplicates): the receiver queues every genuine
    copy, all under one business key, and the consumer acts on the key once."""
    body = pc_body(world)
    assert world.post_partner_center(body).status_code == 200
    assert world.post_partner_center(body).status_code == 200
    keys = {m.key for m in world.queued("partner_center")}
    assert len(world.queued("partner_center")) == 2 and len(keys) == 1


# -- Stripe ----------------------------------------------------------------------------


def test_a_genuine_stripe_event_is_queued_with_its_domain_form(world: World):
    resp = world.post_stripe(stripe_body())
    assert resp.status_code == 200, resp.get_body()
    [message] = world.queued("stripe")
    assert (message.key, message.type, message.source) == (
        "evt_1",
        "payment_method.attached",
        "stripe",
    )
    assert message.stripe is not None
    assert message.stripe["payment_method_id"] == "pm_1"
    assert message.stripe["customer_id"] == "cus_1"


def test_during_a_rotation_either_secret_verifies(world: World, configure):
    configure(CSPFLOW_STRIPE_WEBHOOK_SECRETS=f"{OLD_SECRET},{WEBHOOK_SECRET}")
    payload = stripe_body("evt_old")
    assert world.post_stripe(payload, world.stripe_headers(payload, OLD_SECRET)).status_code == 200
    payload = stripe_body("evt_new")
    assert world.post_stripe(payload).status_code == 200
    assert [m.key for m in world.queued("stripe")] == ["evt_old", "evt_new"]


STRIPE_FORGERIES = {
    "no signature": lambda w, p: (p, {"Content-Type": "application/json"}),
    "tampered body": lambda w, p: (p.replace(b"4242", b"0000"), w.stripe_headers(p)),
    "signed with a rotated-out secret": lambda w, p: (p, w.stripe_headers(p, OLD_SECRET)),
    "stale timestamp (a replay 301 s later)": lambda w, p: (
        p,
        w.stripe_headers(p, at=int(time.time()) - 301),
    ),
    "a signature header without v1": lambda w, p: (
        p,
        {"Stripe-Signature": f"t={int(time.time())}", "Content-Type": "application/json"},
    ),
    "not UTF-8": lambda w, p: (b"\xff\xfe" + p, w.stripe_headers(p)),
}


@pytest.mark.parametrize("forgery", sorted(STRIPE_FORGERIES))
def test_a_forged_or_replayed_stripe_delivery_is_refused_401_and_nothing_is_queued(
    world: World, forgery: str, caplog: pytest.LogCaptureFixture
):
    before = refused_counts().get(("stripe", 401), 0)
    payload, headers = STRIPE_FORGERIES[forgery](world, stripe_body())
    with caplog.at_level(logging.WARNING, logger="cspflow.webhooks"):
        resp = world.post_stripe(payload, headers)
    assert resp.status_code == 401, resp.get_body()
    assert problem(resp)["code"] == "signature_rejected"
    assert world.queued("stripe") == []
    assert refused_counts()[("stripe", 401)] == before + 1
    assert SECRET_MARKER not in caplog.text


def test_with_no_secret_configured_nothing_verifies(world: World, configure):
    configure(CSPFLOW_STRIPE_WEBHOOK_SECRETS=None)
    resp = world.post_stripe(stripe_body())
    assert resp.status_code == 401
    assert world.queued("stripe") == []


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        json.dumps(
            {
                "id": "evt_x",
                "type": "invoice.paid",
                "created": 1,
                "livemode": False,
                "data": {"object": {"id": "in_1"}},
            }
        ).encode(),
    ],
    ids=["not JSON", "an invoice event without its invoice"],
)
def test_a_genuinely_signed_stripe_body_that_is_no_event_is_refused_400(
    world: World, payload: bytes
):
    resp = world.post_stripe(payload)
    assert resp.status_code == 400, resp.get_body()
    assert problem(resp)["code"] == "malformed_event"
    assert world.queued("stripe") == []


def test_a_2_mib_stripe_body_is_refused_413(world: World):
    payload = stripe_body(padding="x" * (2 * 1024 * 1024))
    resp = world.post_stripe(payload)
    assert resp.status_code == 413
    assert world.queued("stripe") == []


def test_an_event_too_big_for_a_queue_message_is_queued_by_reference(world: World):
    payload = stripe_body(
        "evt_big",
        data={
            "object": {
                "id": "pm_big",
                "object": "payment_method",
                "customer": "cus_1",
                "card": {"brand": "visa", "last4": "4242", "exp_month": 4, "exp_year": 2031},
            }
        },
    )
    doc = json.loads(payload)
    doc["type"] = "invoice.paid"
    doc["data"] = {
        "object": {
            "id": "in_big",
            "object": "invoice",
            "customer": "cus_1",
            "status": "paid",
            "number": None,
            "currency": "eur",
            "total": 1,
            "amount_due": 1,
            "amount_paid": 1,
            "amount_remaining": 0,
            "attempted": True,
            "next_payment_attempt": None,
            "hosted_invoice_url": None,
            "created": 1,
            "metadata": {f"k{i}": "v" * 490 for i in range(120)},
        }
    }
    payload = json.dumps(doc).encode()
    assert world.post_stripe(payload).status_code == 200
    [message] = world.queued("stripe")
    assert (message.key, message.type, message.stripe) == ("evt_big", "invoice.paid", None)
