"""The sandbox speaks Stripe's REST conventions, checked through the real SDK and raw HTTP."""

import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
import stripe

from .harness import API_KEY, client, running_sandbox


def _post(base_url, path, data, key=None, api_key=API_KEY):
    headers = {"Authorization": f"Bearer {api_key}"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(base_url + path, data=data, headers=headers, timeout=10)


def test_a_request_without_an_api_key_is_a_401(sandbox):
    resp = requests.get(sandbox.base_url + "/v1/customers", timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert "API key" in resp.json()["error"]["message"]


def test_a_live_key_is_refused_by_the_test_mode_sandbox(sandbox):
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "sk_live_abcdef123456", base_addresses={"api": sandbox.base_url}
        ).v1.customers.list()


def test_an_unknown_parameter_is_a_400_naming_it(sdk):
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.customers.create({"nmae": "typo"})
    assert info.value.param == "nmae"
    assert info.value.http_status == 400
    assert info.value.code == "parameter_unknown"


def test_a_missing_object_is_a_404_resource_missing(sdk):
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.customers.retrieve("cus_doesnotexist")
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"


def test_an_unknown_url_is_a_404(sandbox):
    resp = requests.get(
        sandbox.base_url + "/v1/nothing_here",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert resp.status_code == 404
    assert "Unrecognized request URL" in resp.json()["error"]["message"]


def test_an_invalid_api_version_is_refused_and_a_valid_one_is_echoed(sandbox):
    headers = {"Authorization": f"Bearer {API_KEY}", "Stripe-Version": "yesterday"}
    assert (
        requests.get(sandbox.base_url + "/v1/customers", headers=headers, timeout=10).status_code
        == 400
    )
    headers["Stripe-Version"] = "2026-09-30.endive"
    resp = requests.get(sandbox.base_url + "/v1/customers", headers=headers, timeout=10)
    assert resp.headers["Stripe-Version"] == "2026-09-30.endive"
    assert resp.headers["Request-Id"].startswith("req_")


def test_a_bad_integer_names_its_param(sdk, sandbox):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    body = {"customer": cus.id, "amount": "12.5", "currency": "eur"}
    resp = _post(sandbox.base_url, "/v1/invoiceitems", body)
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "amount"


def test_nested_form_keys_and_metadata_round_trip(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso", "metadata": {"a": "1", "b": "2"}})
    cus = sdk.v1.customers.update(cus.id, {"metadata": {"a": "", "c": "3"}})
    assert cus.metadata.to_dict() == {"b": "2", "c": "3"}


def test_an_update_event_carries_the_previous_values(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    event = sdk.v1.events.list({"type": "customer.updated"}).data[0]
    previous = event.data.previous_attributes.to_dict()
    assert previous == {
        "invoice_settings": {**previous["invoice_settings"], "default_payment_method": None}
    }
    assert event.data.object.invoice_settings.default_payment_method == pm.id


def test_lists_page_newest_first_with_has_more_and_starting_after(sdk):
    ids = [sdk.v1.customers.create({"name": f"c{i}"}).id for i in range(5)]
    first = sdk.v1.customers.list({"limit": 2})
    assert [c.id for c in first.data] == ids[::-1][:2]
    assert first.has_more is True
    assert first.object == "list" and first.url == "/v1/customers"
    everything = [c.id for c in first.auto_paging_iter()]
    assert everything == ids[::-1]
    before = sdk.v1.customers.list({"limit": 2, "ending_before": ids[2]})
    assert [c.id for c in before.data] == [ids[4], ids[3]]


def test_a_limit_outside_1_to_100_is_refused(sdk):
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.customers.list({"limit": 101})
    assert info.value.param == "limit"


def test_expand_replaces_ids_with_objects_and_refuses_unknown_paths(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    inv = sdk.v1.invoices.create({"customer": cus.id, "currency": "eur"})
    got = sdk.v1.invoices.retrieve(
        inv.id, {"expand": ["customer.invoice_settings.default_payment_method"]}
    )
    assert got.customer.invoice_settings.default_payment_method.card.last4 == "4242"
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.invoices.retrieve(inv.id, {"expand": ["status"]})
    assert "cannot be expanded" in str(info.value)


def test_the_same_idempotency_key_and_body_replays_the_first_response(sandbox):
    first = _post(sandbox.base_url, "/v1/customers", {"name": "Contoso"}, key="k-1")
    again = _post(sandbox.base_url, "/v1/customers", {"name": "Contoso"}, key="k-1")
    assert first.status_code == again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    listed = requests.get(
        sandbox.base_url + "/v1/customers",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert len(listed.json()["data"]) == 1


def test_the_same_idempotency_key_with_other_params_is_an_idempotency_error(sandbox):
    _post(sandbox.base_url, "/v1/customers", {"name": "Contoso"}, key="k-2")
    other = _post(sandbox.base_url, "/v1/customers", {"name": "Fabrikam"}, key="k-2")
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):
        client(sandbox.base_url).v1.customers.create(
            {"name": "Northwind"}, {"idempotency_key": "k-2"}
        )


def test_a_request_cut_off_before_its_body_arrived_leaves_its_idempotency_key_unused(sandbox):
    # A client killed mid-send (a host SIGKILLed during a billing run): the endpoint never
    # ran, so Stripe saves nothing under the key and the retry with the whole body executes
    # (https://docs.stripe.com/api/idempotent_requests: results are saved only once an
    # endpoint began executing), not a 400 for "other parameters" than the empty ones.
    url = urlsplit(sandbox.base_url)
    body = "name=Contoso"
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /v1/customers HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: Bearer {API_KEY}\r\nIdempotency-Key: k-cut\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body[:4]}"
            ).encode()
        )
        time.sleep(0.2)  # the sandbox is reading the body when the client dies
    time.sleep(0.2)
    retried = _post(sandbox.base_url, "/v1/customers", {"name": "Contoso"}, key="k-cut")
    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.json()["name"] == "Contoso"


def test_the_same_idempotency_key_on_another_endpoint_is_an_idempotency_error(sandbox):
    cus = _post(sandbox.base_url, "/v1/customers", {"name": "Contoso"}, key="k-3").json()
    other = _post(sandbox.base_url, f"/v1/customers/{cus['id']}", {"name": "Contoso"}, key="k-3")
    assert other.status_code == 400
    assert "same endpoint" in other.json()["error"]["message"]


def test_an_idempotency_key_older_than_24_hours_of_shared_time_makes_a_new_request(sandbox, clock):
    from datetime import timedelta

    first = _post(sandbox.base_url, "/v1/customers", {"name": "Contoso"}, key="k-old")
    clock.advance(timedelta(hours=23))
    assert (
        _post(sandbox.base_url, "/v1/customers", {"name": "Contoso"}, key="k-old").json()["id"]
        == first.json()["id"]
    )
    clock.advance(timedelta(hours=2))
    later = _post(sandbox.base_url, "/v1/customers", {"name": "Fabrikam"}, key="k-old")
    assert later.status_code == 200 and later.json()["id"] != first.json()["id"]


def test_a_validation_failure_is_not_saved_under_its_idempotency_key(sandbox):
    bad = _post(sandbox.base_url, "/v1/customers", {"email": "not-an-email"}, key="k-4")
    assert bad.status_code == 400
    good = _post(sandbox.base_url, "/v1/customers", {"email": "a@contoso.com"}, key="k-4")
    assert good.status_code == 200


def test_a_declined_payment_is_replayed_without_charging_again(sdk, sandbox):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    body = {
        "amount": "1000",
        "currency": "eur",
        "customer": cus.id,
        "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
        "confirm": "true",
        "off_session": "true",
    }
    first = _post(sandbox.base_url, "/v1/payment_intents", body, key="pay-1")
    again = _post(sandbox.base_url, "/v1/payment_intents", body, key="pay-1")
    assert first.status_code == again.status_code == 402
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(sdk.v1.charges.list({"customer": cus.id}).data) == 1


def test_more_requests_than_the_rate_limit_get_429(tmp_path, clock):
    with running_sandbox(tmp_path, clock, rate_limit_per_s=3) as sb:
        statuses = [
            requests.get(
                sb.base_url + "/v1/customers",
                headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=10,
            ).status_code
            for _ in range(5)
        ]
        assert statuses[:3] == [200, 200, 200]
        assert 429 in statuses[3:]
        with pytest.raises(stripe.RateLimitError):
            for _ in range(5):
                client(sb.base_url).v1.customers.list()


def test_state_survives_a_restart_on_the_same_data_dir(tmp_path, clock):
    with running_sandbox(tmp_path, clock) as sb:
        cus_id = client(sb.base_url).v1.customers.create({"name": "Contoso"}).id
    with running_sandbox(tmp_path, clock) as sb:
        assert client(sb.base_url).v1.customers.retrieve(cus_id).name == "Contoso"


def test_events_filter_by_exact_type_and_by_wildcard(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    sdk.v1.customers.update(cus.id, {"name": "Contoso Ltd"})
    sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    assert [e.type for e in sdk.v1.events.list({"type": "customer.updated"}).data] == [
        "customer.updated"
    ]
    wildcard = [e.type for e in sdk.v1.events.list({"type": "customer.*"}).data]
    assert wildcard == ["customer.updated", "customer.created"]
    page = sdk.v1.events.list({"limit": 1})
    assert page.has_more and [e.type for e in page.auto_paging_iter()] == [
        "payment_method.attached",
        "customer.updated",
        "customer.created",
    ]


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (1234, "eur", "12.34 EUR"),
        (1234, "jpy", "1234 JPY"),
        (1234, "kwd", "1.234 KWD"),
        (-5, "usd", "-0.05 USD"),
    ],
)
def test_the_hosted_page_shows_amounts_in_the_currencys_own_decimals(minor, currency, shown):
    from sandbox.stripe.app import display_amount

    assert display_amount(minor, currency) == shown


def test_concurrent_requests_with_one_idempotency_key_charge_once(sdk, sandbox):
    from concurrent.futures import ThreadPoolExecutor

    cus = sdk.v1.customers.create({"name": "Contoso"})
    body = {
        "amount": "1000",
        "currency": "eur",
        "customer": cus.id,
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "off_session": "true",
    }
    # A client that timed out and retried while its first request was still running.
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(
                lambda _: _post(sandbox.base_url, "/v1/payment_intents", body, key="race"), range(6)
            )
        )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 5
    assert len(sdk.v1.charges.list({"customer": cus.id}).data) == 1


def test_a_bad_expand_path_on_a_write_changes_nothing(sdk, sandbox):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    body = {
        "amount": "1000",
        "currency": "eur",
        "customer": cus.id,
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "expand[]": "status",
    }
    refused = _post(sandbox.base_url, "/v1/payment_intents", body, key="pay-x")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "expand[0]"
    assert sdk.v1.charges.list({"customer": cus.id}).data == []
    assert sdk.v1.payment_intents.list({"customer": cus.id}).data == []
    body["expand[]"] = "latest_charge"
    paid = _post(sandbox.base_url, "/v1/payment_intents", body, key="pay-x")
    assert paid.status_code == 200 and paid.json()["latest_charge"]["amount"] == 1000
    assert len(sdk.v1.charges.list({"customer": cus.id}).data) == 1


def test_a_storm_answers_the_next_requests_429_then_passes(sandbox, sdk):
    url = sandbox.base_url
    set_to = requests.post(f"{url}/_sandbox/rate_limit", data={"storm": "2"}, timeout=5).json()
    assert set_to == {"storm": 2, "per_second": None}
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError):
            sdk.v1.customers.list()
    assert sdk.v1.customers.list().data is not None
    limited = requests.post(f"{url}/_sandbox/rate_limit", data={"per_second": "50"}, timeout=5)
    assert limited.json() == {"storm": 0, "per_second": 50}
    assert (
        requests.post(f"{url}/_sandbox/rate_limit", data={"storm": "-1"}, timeout=5).status_code
        == 400
    )


def test_a_latency_holds_every_api_request(sandbox, sdk):
    import time

    url = sandbox.base_url
    assert requests.post(f"{url}/_sandbox/latency", data={"ms": "120"}, timeout=5).json() == {
        "ms": 120
    }
    started = time.perf_counter()
    sdk.v1.customers.list()
    assert time.perf_counter() - started >= 0.12
    assert requests.post(f"{url}/_sandbox/latency", data={"ms": "0"}, timeout=5).json() == {"ms": 0}
