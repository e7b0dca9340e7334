"""Partner Center callback verification against genuine sandbox deliveries and forgeries."""

import base64
import json
import uuid
from datetime import timedelta

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from shared.clock import ManualClock
from shared.partner_center.webhooks import (
    MAX_BODY_BYTES,
    MalformedEvent,
    WebhookRejected,
    WebhookVerifier,
    https_fetcher,
    microsoft_roots,
)


@pytest.fixture
def delivery(pc, receiver):
    """One genuine delivery: the raw headers and body a receiver got from the sandbox."""
    pc.client.register_webhook(receiver.url, ["test-created"], request_id=str(uuid.uuid4()))
    pc.client.send_test_event(request_id=str(uuid.uuid4()))
    receiver.wait_for(1)
    headers, body = receiver.deliveries[0]
    return headers, body


@pytest.fixture
def verifier(pc):
    return _verifier(pc)


def _verifier(pc, fetch=None):
    ca = x509.load_pem_x509_certificate(pc.sandbox.ca_pem.read_bytes())
    return WebhookVerifier(
        allowed_cert_url_prefixes=[pc.base_url + "/cert/"],
        trust_roots=[ca],
        fetch_certificate=fetch or https_fetcher(ca_bundle=pc.sandbox.ca_pem),
        clock=ManualClock(pc.clock.now()),
    )


def test_a_genuine_sandbox_delivery_verifies(verifier, delivery):
    headers, body = delivery
    assert headers["Authorization"].startswith("Signature ")
    assert headers["x-ms-signature-algorithm"] == "rsa-sha256"
    event = verifier.verify(headers, body)
    assert event.event_name == "test-created"
    assert event.dedupe_key.startswith("test-created|")


def test_the_signature_in_x_ms_signature_also_verifies(pc, receiver, verifier):
    registration = {
        "WebhookUrl": receiver.url,
        "WebhookEvents": ["test-created"],
        "SignatureTokenToMsSignatureHeader": True,
    }
    resp = pc.raw(
        "POST",
        "/webhooks/v1/registration",
        pc.app_token(),
        json=registration,
        headers={"MS-RequestId": str(uuid.uuid4())},
    )
    assert resp.status_code == 201
    pc.client.send_test_event(request_id=str(uuid.uuid4()))
    receiver.wait_for(1)
    headers, body = receiver.deliveries[0]
    assert "Authorization" not in headers
    assert verifier.verify(headers, body).event_name == "test-created"


def test_a_flipped_byte_in_the_body_is_rejected(verifier, delivery):
    headers, body = delivery
    forged = bytearray(body)
    forged[len(forged) // 2] ^= 0x01
    with pytest.raises(WebhookRejected, match="signature does not match"):
        verifier.verify(headers, bytes(forged))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example/cert/pcnotifications-dispatch.microsoft.com.cer", "allow-listed"),
        ("http://127.0.0.1/cert/pcnotifications-dispatch.microsoft.com.cer", "plain https"),
    ],
)
def test_a_certificate_url_outside_the_allow_list_is_rejected(verifier, delivery, url, reason):
    headers, body = delivery
    with pytest.raises(WebhookRejected, match=reason):
        verifier.verify({**headers, "x-ms-certificate-url": url}, body)


def test_a_certificate_url_on_another_port_of_the_allowed_host_is_rejected(pc, delivery):
    headers, body = delivery
    url = headers["x-ms-certificate-url"].replace(f":{pc.base_url.rsplit(':', 1)[1]}/", ":1/", 1)
    with pytest.raises(WebhookRejected, match="allow-listed"):
        _verifier(pc).verify({**headers, "x-ms-certificate-url": url}, body)


def test_a_cached_certificate_is_checked_again_once_it_expires(pc, delivery):
    """A signing certificate valid for one more day: cached while valid, refused after."""
    headers, body = delivery
    data = pc.sandbox.config.data_dir
    ca = trustme.CA.from_pem((data / "ca.pem").read_bytes(), (data / "ca.key.pem").read_bytes())
    now = pc.clock.now()
    leaf = ca.issue_cert(
        "pcnotifications-dispatch.microsoft.com",
        organization_name="Microsoft Corporation",
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1),
        key_type=trustme.KeyType.RSA,
    )
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return leaf.cert_chain_pems[0].bytes()

    verifier = _verifier(pc, fetch=fetch)
    signed = {**headers, "Authorization": "Signature " + _sign(leaf.private_key_pem.bytes(), body)}
    verifier.verify(signed, body)
    verifier.verify(signed, body)
    assert len(fetched) == 1
    verifier.clock.advance(timedelta(days=2))
    with pytest.raises(WebhookRejected, match="chain"):
        verifier.verify(signed, body)
    assert len(fetched) == 2


def test_a_certificate_url_with_a_query_is_rejected(verifier, delivery):
    headers, body = delivery
    url = headers["x-ms-certificate-url"] + "?v=2"
    with pytest.raises(WebhookRejected, match="no query"):
        verifier.verify({**headers, "x-ms-certificate-url": url}, body)


def test_a_foreign_certificate_claiming_microsoft_is_rejected(pc, delivery):
    """An attacker's own CA, organisation 'Microsoft Corporation', signing the body."""
    headers, body = delivery
    foreign_ca = trustme.CA(organization_name="Microsoft Corporation", key_type=trustme.KeyType.RSA)
    leaf = foreign_ca.issue_cert(
        "pcnotifications-dispatch.microsoft.com",
        organization_name="Microsoft Corporation",
        key_type=trustme.KeyType.RSA,
    )
    verifier = _verifier(pc, fetch=lambda url: leaf.cert_chain_pems[0].bytes())
    forged = {**headers, "Authorization": "Signature " + _sign(leaf.private_key_pem.bytes(), body)}
    with pytest.raises(WebhookRejected, match="chain"):
        verifier.verify(forged, body)


def test_a_certificate_from_the_trusted_root_with_another_organisation_is_rejected(pc, delivery):
    headers, body = delivery
    data = pc.sandbox.config.data_dir
    ca = trustme.CA.from_pem((data / "ca.pem").read_bytes(), (data / "ca.key.pem").read_bytes())
    leaf = ca.issue_cert(
        "contoso.example", organization_name="Contoso", key_type=trustme.KeyType.RSA
    )
    verifier = _verifier(pc, fetch=lambda url: leaf.cert_chain_pems[0].bytes())
    forged = {**headers, "Authorization": "Signature " + _sign(leaf.private_key_pem.bytes(), body)}
    with pytest.raises(WebhookRejected, match="organisation"):
        verifier.verify(forged, body)


@pytest.mark.parametrize(
    "missing", ["Authorization", "x-ms-certificate-url", "x-ms-signature-algorithm"]
)
def test_a_missing_header_is_rejected(verifier, delivery, missing):
    headers, body = delivery
    with pytest.raises(WebhookRejected, match="required"):
        verifier.verify({k: v for k, v in headers.items() if k.lower() != missing.lower()}, body)


def test_another_signature_algorithm_is_rejected(verifier, delivery):
    headers, body = delivery
    with pytest.raises(WebhookRejected, match="algorithm"):
        verifier.verify({**headers, "x-ms-signature-algorithm": "rsa-sha1"}, body)


def test_an_oversize_body_is_rejected_before_any_download(pc, delivery):
    headers, _ = delivery
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return b""

    verifier = _verifier(pc, fetch=fetch)
    with pytest.raises(WebhookRejected, match="larger"):
        verifier.verify(headers, b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert fetched == []


def test_a_signature_that_is_not_base64_is_rejected(verifier, delivery):
    headers, body = delivery
    with pytest.raises(WebhookRejected, match="base64"):
        verifier.verify({**headers, "Authorization": "Signature not*base64"}, body)


def test_a_signed_body_that_is_not_an_event_is_rejected(pc, delivery):
    headers, _ = delivery
    data = pc.sandbox.config.data_dir
    body = json.dumps({"hello": "world"}).encode()
    forged = {
        **headers,
        "Authorization": "Signature "
        + _sign((data / "webhook-signing.key.pem").read_bytes(), body),
    }
    with pytest.raises(MalformedEvent, match="EventName"):  # a WebhookRejected: answered 400
        _verifier(pc).verify(forged, body)


def test_the_certificate_is_fetched_once_per_url(pc, delivery):
    headers, body = delivery
    download = https_fetcher(ca_bundle=pc.sandbox.ca_pem)
    calls: list[str] = []

    def fetch(url: str) -> bytes:
        calls.append(url)
        return download(url)

    verifier = _verifier(pc, fetch=fetch)
    verifier.verify(headers, body)
    verifier.verify(headers, body)
    assert len(calls) == 1


def test_the_default_trust_roots_are_microsofts_own():
    roots = microsoft_roots()
    assert roots, "certifi carries Microsoft's root CAs"
    assert all("Microsoft Corporation" in r.subject.rfc4514_string() for r in roots)


def _sign(key_pem: bytes, body: bytes) -> str:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()  # type: ignore[union-attr, call-arg, arg-type]


def test_a_forgery_is_not_taken_for_a_malformed_event(verifier, delivery):
    """Only a genuinely signed body can be malformed (400); a bad signature over a body that
    is not even an event is a forgery (401)."""
    headers, _ = delivery
    with pytest.raises(WebhookRejected) as refused:
        verifier.verify(headers, b"not json")
    assert not isinstance(refused.value, MalformedEvent)


def test_the_change_time_is_read_as_utc_with_or_without_an_offset(verifier, delivery):
    headers, body = delivery
    event = verifier.verify(headers, body)
    assert event.changed_at.tzinfo is not None
    assert (
        event.changed_at.isoformat()
        .replace("+00:00", "Z")
        .startswith(event.resource_change_utc_date[:19])
    )
