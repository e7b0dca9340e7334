"""The registration activities against the Partner Center sandbox (HTTPS, MSAL), invoked as
the Functions host invokes them: the callback registered for every event Partner Center
offers, updated only when it differs, a test event sent and its delivery read back, and a
retried step answered as the first (same MS-RequestId)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.models.webhook_registration import ValidationEventResult, WebhookRegistered
from tests.app_functions import user_function
from tests.sandbox.partner_center.harness import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def register(step_key: str, url: str) -> WebhookRegistered:
    envelope: dict[str, Any] = user_function("register_webhook")(
        {"step_key": step_key, "callback_url": url}
    )
    assert envelope["ok"], envelope
    return WebhookRegistered.model_validate(envelope["value"])


def read(correlation_id: str) -> ValidationEventResult:
    envelope: dict[str, Any] = user_function("read_test_event")({"correlation_id": correlation_id})
    assert envelope["ok"], envelope
    return ValidationEventResult.model_validate(envelope["value"])


def test_the_callback_is_registered_for_every_offered_event_and_tested(app_env, pc, receiver):
    done = register("webhook-registration-1/register", receiver.url)
    assert done.action == "created"
    assert done.webhook_url == receiver.url
    assert set(done.events) == set(pc.client.webhook_events())
    assert "subscription-updated" in done.events and "invoice-ready" in done.events
    receiver.wait_for(1)
    assert receiver.events()[0]["EventName"] == "test-created"
    deadline = time.monotonic() + 10
    while not (result := read(done.correlation_id)).settled:
        assert time.monotonic() < deadline, result
        time.sleep(0.05)
    assert result.status == "completed"
    assert result.results[0]["responseCode"] == "200"


def test_a_retried_step_sends_one_test_event(app_env, pc, receiver):
    first = register("webhook-registration-2/register", receiver.url)
    again = register("webhook-registration-2/register", receiver.url)
    # The retry finds its own registration in place, and its test event's MS-RequestId is
    # the first's: Partner Center answers the first test event again.
    assert (first.action, again.action) == ("created", "unchanged")
    assert again.correlation_id == first.correlation_id
    receiver.wait_for(1)
    time.sleep(0.3)
    assert len(receiver.deliveries) == 1


def test_a_registration_is_updated_only_when_it_differs(app_env, pc, receiver):
    register("webhook-registration-3/register", receiver.url)
    assert register("webhook-registration-4/register", receiver.url).action == "unchanged"
    moved = register("webhook-registration-5/register", receiver.url + "/v2")
    assert (moved.action, moved.webhook_url) == ("updated", receiver.url + "/v2")
    assert pc.client.webhook_registration().webhook_url == receiver.url + "/v2"


def test_an_invalid_callback_is_refused_at_the_boundary(app_env, pc):
    envelope = user_function("register_webhook")(
        {"step_key": "webhook-registration-6/register", "callback_url": "not a url"}
    )
    assert envelope["ok"] is False
    assert envelope["failure"]["code"] == "invalid_input"
