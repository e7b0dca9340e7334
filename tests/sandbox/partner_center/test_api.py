"""Request validation, idempotency, throttling and faults at the sandbox's HTTP edge."""

import copy
import uuid
from typing import Any

import pytest
import requests

from tests.sandbox.partner_center.harness import BASIC


def rid() -> str:
    return str(uuid.uuid4())


def _post(pc, path, body, request_id=None):
    return pc.raw(
        "POST", path, pc.app_token(), json=body, headers={"MS-RequestId": request_id or rid()}
    )


CUSTOMER = {
    "companyProfile": {"domain": "fields01.onmicrosoft.com"},
    "billingProfile": {
        "culture": "en-US",
        "email": "it@fields.example",
        "language": "en",
        "companyName": "Fields",
        "defaultAddress": {
            "firstName": "A",
            "lastName": "B",
            "addressLine1": "1 Way",
            "city": "Redmond",
            "postalCode": "98052",
            "country": "US",
        },
    },
}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("billingProfile", "email"), "billingProfile.email"),
        (("billingProfile", "defaultAddress", "city"), "billingProfile.defaultAddress.city"),
        (("companyProfile", "domain"), "companyProfile.domain"),
    ],
)
def test_a_customer_missing_a_field_gets_800002_naming_it(pc, path, field):
    body: dict[str, Any] = copy.deepcopy(CUSTOMER)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    resp = _post(pc, "/v1/customers", body)
    assert resp.status_code == 400
    assert resp.json()["code"] == 800002 and field in resp.json()["description"]


def test_malformed_json_is_a_400_not_a_500(pc):
    resp = pc.raw(
        "POST",
        "/v1/customers",
        pc.app_token(),
        data=b"{not json",
        headers={"MS-RequestId": rid(), "Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and "body" in resp.json()["description"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"catalogItemId": "NOPE:0001:X", "quantity": 1, "termDuration": "P1Y", "billingCycle": "monthly"}, "catalogItemId"),
        ({"catalogItemId": BASIC, "quantity": 0, "termDuration": "P1Y", "billingCycle": "monthly"}, "quantity"),
        ({"catalogItemId": BASIC, "quantity": 1, "termDuration": "P2Y", "billingCycle": "monthly"}, "termDuration"),
        ({"catalogItemId": BASIC, "quantity": 1, "termDuration": "P1M", "billingCycle": "annual"}, "billingCycle"),
    ],
)  # fmt: skip
def test_a_bad_cart_line_is_refused_naming_the_field(pc, line, field):
    customer_id = pc.customer()
    resp = _post(pc, f"/v1/customers/{customer_id}/carts", {"lineItems": [line]})
    assert resp.status_code == 400 and field in resp.json()["description"]


def test_responses_echo_the_request_and_correlation_ids(pc):
    resp = pc.raw(
        "GET",
        "/v1/products?country=US&targetView=OnlineServices",
        pc.app_token(),
        headers={"MS-RequestId": "r-1", "MS-CorrelationId": "c-1"},
    )
    assert (resp.headers["MS-RequestId"], resp.headers["MS-CorrelationId"]) == ("r-1", "c-1")


def test_a_replayed_customer_creation_is_the_same_customer_and_one_audit_record(pc):
    request_id = rid()
    first = _post(pc, "/v1/customers", CUSTOMER, request_id)
    second = _post(pc, "/v1/customers", CUSTOMER, request_id)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert pc.state()["counts"]["customer"] == 1


def test_a_429_carries_retry_after_in_seconds_and_milliseconds(pc):
    pc.faults(throttle_rate=1.0, retry_after_ms=1500)
    resp = pc.raw("GET", "/v1/customers", pc.app_token())
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2"  # whole seconds, rounded up (api-throttling-guidance)
    assert resp.headers["retry-after-ms"] == "1500"
    assert resp.json()["message"].startswith("Rate limit is exceeded")


def test_a_retry_before_retry_after_is_throttled_again_and_counted(pc):
    pc.faults(throttle_rate=1.0, retry_after_ms=60_000)
    token = pc.app_token()
    headers = {"MS-RequestId": "same-call"}
    assert pc.raw("GET", "/v1/customers", token, headers=headers).status_code == 429
    pc.faults(throttle_rate=0.0)
    assert pc.raw("GET", "/v1/customers", token, headers=headers).status_code == 429
    assert pc.state()["stats"]["early_retries"] == 1


def test_a_per_tenant_limit_throttles_the_excess(pc):
    pc.faults(rate_limit_per_minute=3)
    token = pc.app_token()
    codes = [pc.raw("GET", "/v1/customers", token).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_unknown_fault_options_are_refused(pc):
    with pytest.raises(requests.HTTPError):
        pc.faults(nonsense=1)


def test_a_configured_webhook_url_receives_every_documented_event(make_pc, receiver):
    pc = make_pc(webhook_url=receiver.url)
    registration = pc.client.webhook_registration()
    assert registration is not None and registration.webhook_url == receiver.url
    assert set(registration.webhook_events) == set(pc.client.webhook_events())


def test_a_5xx_burst_fails_the_next_calls_then_recovers(pc):
    pc.faults(fail_next=2, fail_status=500)
    token = pc.app_token()
    codes = [pc.raw("GET", "/v1/customers", token).status_code for _ in range(3)]
    assert codes == [500, 500, 200]
