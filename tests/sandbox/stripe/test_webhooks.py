"""Signed webhook delivery and Stripe's retry behaviour on the shared (virtual) clock."""

import json
from datetime import timedelta
from itertools import pairwise

import pytest
import requests
import stripe

from sandbox.stripe.cli import enabled_events
from sandbox.stripe.webhooks import next_attempt
from shared.clock import ManualClock

from .harness import T0, WEBHOOK_SECRET, client, running_sandbox, wait_for, webhook_endpoint


@pytest.fixture
def endpoint():
    with webhook_endpoint() as ep:
        yield ep


@pytest.fixture
def wired(tmp_path, clock, endpoint):
    with running_sandbox(tmp_path, clock, webhook_url=endpoint.url) as sb:
        yield sb


def _deliveries(sb):
    return requests.get(sb.base_url + "/_sandbox/deliveries", timeout=10).json()


def _wait_attempts(sb, attempts):
    wait_for(lambda: _deliveries(sb)[0]["attempts"] == attempts)


def test_every_event_is_delivered_signed_and_verifies_with_the_sdk(wired, endpoint):
    cus = client(wired.base_url).v1.customers.create({"name": "Contoso"})
    wait_for(lambda: len(endpoint.received) == 1)
    got = endpoint.received[0]
    event = stripe.Webhook.construct_event(got.body, got.signature, WEBHOOK_SECRET)
    assert event.type == "customer.created"
    assert event.data.object.id == cus.id
    assert got.signature is not None and got.signature.startswith("t=") and ",v1=" in got.signature


def test_an_endpoint_registered_for_some_types_gets_only_those_and_every_event_is_kept(
    tmp_path, clock, endpoint
):
    # A webhook endpoint's `enabled_events`: https://docs.stripe.com/api/webhook_endpoints/create
    with running_sandbox(
        tmp_path, clock, webhook_url=endpoint.url, webhook_events=frozenset({"customer.updated"})
    ) as sb:
        sdk = client(sb.base_url)
        cus = sdk.v1.customers.create({"name": "Contoso"})
        sdk.v1.customers.update(cus.id, {"name": "Contoso Ltd"})
        wait_for(lambda: len(endpoint.received) == 1)
        kept = [e.type for e in sdk.v1.events.list({"limit": 10}).data]
    assert [json.loads(got.body)["type"] for got in endpoint.received] == ["customer.updated"]
    assert sorted(kept) == ["customer.created", "customer.updated"]


@pytest.mark.parametrize(
    ("given", "enabled"),
    [
        ("*", None),
        ("", None),
        ("invoice.paid, invoice.payment_failed", {"invoice.paid", "invoice.payment_failed"}),
        ("invoice.paid,*", None),
    ],
)
def test_the_command_line_readsenabled_events_as_stripe_does(given, enabled):
    assert enabled_events(given) == (frozenset(enabled) if enabled is not None else None)


def test_a_delivery_does_not_verify_with_another_secret(wired, endpoint):
    client(wired.base_url).v1.customers.create({"name": "Contoso"})
    wait_for(lambda: len(endpoint.received) == 1)
    got = endpoint.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(got.body, got.signature, "whsec_someone_else")


def test_while_rotating_every_active_secret_signs_the_delivery(tmp_path, clock, endpoint):
    old, new = "whsec_old_rotating_out", WEBHOOK_SECRET
    with running_sandbox(
        tmp_path, clock, webhook_url=endpoint.url, webhook_secrets=(old, new)
    ) as sb:
        client(sb.base_url).v1.customers.create({"name": "Contoso"})
        wait_for(lambda: len(endpoint.received) == 1)
    got = endpoint.received[0]
    assert got.signature is not None and got.signature.count("v1=") == 2
    for secret in (old, new):
        assert (
            stripe.Webhook.construct_event(got.body, got.signature, secret).type
            == "customer.created"
        )


def test_the_event_carries_virtual_time_and_the_request_that_caused_it(wired, endpoint):
    client(wired.base_url).v1.customers.create({"name": "Contoso"}, {"idempotency_key": "ik-1"})
    wait_for(lambda: len(endpoint.received) == 1)
    event = json.loads(endpoint.received[0].body)
    assert event["created"] == int(T0.timestamp())
    assert event["request"]["idempotency_key"] == "ik-1"
    assert event["request"]["id"].startswith("req_")


def test_a_failed_delivery_is_retried_only_when_virtual_time_reaches_the_retry(
    wired, endpoint, clock
):
    endpoint.fail_next = 1
    client(wired.base_url).v1.customers.create({"name": "Contoso"})
    wait_for(lambda: _deliveries(wired)[0]["attempts"] == 1)
    first = _deliveries(wired)[0]
    assert first["state"] == "pending" and first["last_status"] == 500
    assert first["next_at"] == (T0 + timedelta(minutes=5)).timestamp()
    clock.advance(timedelta(minutes=4))
    # A later event is delivered at 4 minutes; by then the first one is still not due.
    client(wired.base_url).v1.customers.create({"name": "Fabrikam"})
    wait_for(lambda: len(endpoint.received) == 1)
    assert json.loads(endpoint.received[0].body)["data"]["object"]["name"] == "Fabrikam"
    assert _deliveries(wired)[0]["attempts"] == 1 and _deliveries(wired)[0]["state"] == "pending"
    clock.advance(timedelta(minutes=1))
    wait_for(lambda: len(endpoint.received) == 2)
    # The endpoint has the body before the sandbox has its 200: wait for the record too.
    wait_for(lambda: _deliveries(wired)[0]["state"] == "delivered")


def test_undelivered_events_can_be_listed_as_stripe_allows(wired, endpoint):
    endpoint.fail_next = 1
    sdk = client(wired.base_url)
    sdk.v1.customers.create({"name": "Contoso"})
    wait_for(lambda: _deliveries(wired)[0]["attempts"] == 1)
    failed = sdk.v1.events.list({"delivery_success": False})
    assert [e.type for e in failed.data] == ["customer.created"]
    assert failed.data[0].pending_webhooks == 1


def test_live_retries_back_off_exponentially_and_stop_after_three_days():
    first = T0
    times = [first]
    while (nxt := next_attempt("live", len(times), first, times[-1])) is not None:
        times.append(nxt)
    gaps = [b - a for a, b in pairwise(times)]
    assert gaps[0] == timedelta(minutes=5)
    assert gaps[1] == timedelta(minutes=10)
    assert max(gaps) == timedelta(hours=12)
    assert all(later >= earlier for earlier, later in pairwise(gaps))
    assert times[-1] <= first + timedelta(days=3)
    assert times[-1] + timedelta(hours=12) > first + timedelta(days=3)


def test_test_mode_retries_three_times_over_a_few_hours():
    first = T0
    times = [first]
    while (nxt := next_attempt("test", len(times), first, times[-1])) is not None:
        times.append(nxt)
    assert len(times) == 4
    assert times[-1] - first == timedelta(hours=7)


def test_a_delivery_that_keeps_failing_ends_failed_after_the_last_retry(tmp_path, clock, endpoint):
    endpoint.fail_next = 10
    with running_sandbox(tmp_path, clock, webhook_url=endpoint.url, webhook_retries="test") as sb:
        client(sb.base_url).v1.customers.create({"name": "Contoso"})
        for attempts, step in ((1, 1), (2, 2), (3, 4)):
            _wait_attempts(sb, attempts)
            clock.advance(timedelta(hours=step))
        wait_for(lambda: _deliveries(sb)[0]["state"] == "failed")
        assert _deliveries(sb)[0]["attempts"] == 4
        assert endpoint.received == []


def test_a_pending_delivery_survives_a_restart_of_the_sandbox(tmp_path, clock, endpoint):
    endpoint.fail_next = 1
    with running_sandbox(tmp_path, clock, webhook_url=endpoint.url) as sb:
        client(sb.base_url).v1.customers.create({"name": "Contoso"})
        wait_for(lambda: _deliveries(sb)[0]["attempts"] == 1)
    clock.advance(timedelta(minutes=5))
    with running_sandbox(tmp_path, clock, webhook_url=endpoint.url) as sb:
        wait_for(lambda: len(endpoint.received) == 1)
        wait_for(lambda: _deliveries(sb)[0]["state"] == "delivered")


DUPLICATES = "https://docs.stripe.com/webhooks#handle-duplicate-events"
ORDERING = "https://docs.stripe.com/webhooks#event-ordering"


def _received(endpoint):
    with endpoint.lock:
        return [json.loads(r.body) for r in endpoint.received]


def test_with_a_duplicate_rate_an_event_arrives_twice_and_both_verify(tmp_path, clock, endpoint):
    """DUPLICATES: "Webhook endpoints might occasionally receive the same event more than
    once": the same event id and object, each copy signed."""
    with running_sandbox(
        tmp_path, clock, webhook_url=endpoint.url, webhook_duplicate_rate=1.0, seed=1
    ) as sb:
        client(sb.base_url).v1.customers.create({"name": "Contoso"})
        wait_for(lambda: len(endpoint.received) == 2)
        wait_for(lambda: _deliveries(sb)[0]["copies_left"] == 0)
        assert _deliveries(sb)[0]["state"] == "delivered"
    first, second = (json.loads(r.body) for r in endpoint.received)
    assert (first["id"], first["data"]) == (second["id"], second["data"])
    for got in endpoint.received:
        assert stripe.Webhook.construct_event(got.body, got.signature, WEBHOOK_SECRET).type == (
            "customer.created"
        )


def _names_in_arrival_order(tmp_path, clock, endpoint, seed):
    with running_sandbox(
        tmp_path,
        clock,
        webhook_url=endpoint.url,
        webhook_out_of_order_rate=0.5,
        webhook_duplicate_rate=0.3,
        seed=seed,
    ) as sb:
        sdk = client(sb.base_url)
        for n in range(10):
            sdk.v1.customers.create({"name": f"c{n}"})
        wait_for(lambda: all(d["state"] == "delivered" or d["held"] for d in _deliveries(sb)))
        clock.advance(timedelta(minutes=1))  # held back with nothing left to overtake them
        wait_for(lambda: len({e["id"] for e in _received(endpoint)}) == 10)
        wait_for(lambda: all(d["copies_left"] == 0 for d in _deliveries(sb)))
    return [e["data"]["object"]["name"] for e in _received(endpoint)]


def test_with_an_out_of_order_rate_later_events_overtake_earlier_ones(tmp_path, clock):
    """ORDERING: Stripe doesn't guarantee delivery in the order events were generated. Every
    event still arrives; one seed picks the same events to overtake and to duplicate."""
    created = [f"c{n}" for n in range(10)]
    picked = []
    for run in range(2):
        with webhook_endpoint() as endpoint:
            (tmp_path / str(run)).mkdir()
            names = _names_in_arrival_order(tmp_path / str(run), ManualClock(T0), endpoint, 7)
        first = list(dict.fromkeys(names))  # first arrival of each
        assert sorted(first) == created and first != created
        overtaken = {
            name
            for name in created
            if any(first.index(later) < first.index(name) for later in created if later > name)
        }
        twice = {name for name in created if names.count(name) > 1}
        assert overtaken and twice
        picked.append((overtaken, twice))
    assert picked[0] == picked[1]  # reproducible


def test_a_state_folder_from_before_the_delivery_options_gains_their_columns(tmp_path):
    import sqlite3

    from sandbox.stripe.store import Store

    old = sqlite3.connect(tmp_path / "stripe.sqlite3")
    old.execute(
        "CREATE TABLE deliveries (event_id TEXT PRIMARY KEY, url TEXT NOT NULL, "
        "attempts INTEGER NOT NULL DEFAULT 0, first_at REAL NOT NULL, next_at REAL, "
        "state TEXT NOT NULL, last_status INTEGER, last_error TEXT)"
    )
    old.execute(
        "INSERT INTO deliveries (event_id, url, first_at, next_at, state) "
        "VALUES ('evt_1', 'http://x', 1, 1, 'pending')"
    )
    old.commit()
    old.close()
    store = Store(tmp_path / "stripe.sqlite3")
    try:
        assert [d.event_id for d in store.due_deliveries(2)] == ["evt_1"]
        assert store.deliveries()[0]["copies_left"] == 0
    finally:
        store.close()
