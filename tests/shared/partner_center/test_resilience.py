"""Error paths of the client: typed errors, retryable failures, idempotent replays,
Retry-After, renewal conflicts and slow PATCHes, against the sandbox."""

import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.partner_center import (
    AuthError,
    BusinessError,
    NotFoundError,
    PartnerCenterClient,
    RenewalProcessingError,
    RetryableError,
    ThrottledError,
    request_id_for,
)
from shared.partner_center.errors import CANNOT_DECREASE, SUBSCRIPTION_NOT_FOUND
from shared.partner_center.models import CartLine
from shared.partner_center.transport import RetryPolicy, Transport, retry_after_s
from tests.sandbox.partner_center.harness import BASIC, settings_for


def rid() -> str:
    return str(uuid.uuid4())


def test_an_unknown_subscription_is_a_typed_not_found_with_microsofts_code(pc):
    customer_id = pc.customer(attest=False)
    with pytest.raises(NotFoundError) as err:
        pc.client.get_subscription(customer_id, str(uuid.uuid4()))
    assert (err.value.status, err.value.code) == (404, SUBSCRIPTION_NOT_FOUND)


def test_a_business_refusal_carries_microsofts_code_and_the_request_id(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.advance(timedelta(days=8))
    request_id = rid()
    with pytest.raises(BusinessError) as err:
        pc.client.set_quantity(customer_id, sid, 5, request_id=request_id)
    assert (err.value.status, err.value.code, err.value.request_id) == (
        400,
        CANNOT_DECREASE,
        request_id,
    )


def test_a_5xx_is_retryable_and_nothing_was_written(pc):
    customer_id = pc.customer()
    pc.faults(fail_next=1, fail_status=503)
    with pytest.raises(RetryableError) as err:
        pc.client.create_cart(customer_id, [_line()], request_id=rid())
    assert err.value.status == 503


def test_random_5xx_answers_are_retryable_and_activity_retries_write_each_cart_once(pc):
    customer_id = pc.customer()
    before = pc.state()["counts"]["cart"]
    pc.faults(fail_5xx_rate=0.5)
    failures = 0
    for i in range(20):
        request_id = request_id_for("onboarding-5xx", f"cart-{i}")
        for _ in range(30):  # what call_activity_with_retry does, with the same id
            try:
                pc.client.create_cart(customer_id, [_line()], request_id=request_id)
                break
            except RetryableError as err:
                assert err.status == 503
                failures += 1
    assert failures > 0
    assert pc.state()["counts"]["cart"] == before + 20


def test_a_timeout_is_retryable(pc):
    client = PartnerCenterClient.from_settings(
        settings_for(pc.sandbox, partner_center_timeout_s=1.0)
    )
    client.list_products("US")  # token and discovery first, so only the API call is slow
    pc.faults(delay_next_ms=2000)
    with pytest.raises(RetryableError, match="timed out"):
        client.list_products("US")


def test_a_retried_write_after_a_lost_response_creates_one_order(pc):
    customer_id = pc.customer()
    cart = pc.client.create_cart(customer_id, [_line()], request_id=rid())
    request_id = request_id_for("onboarding-42", "checkout")
    pc.faults(lose_next=1)
    with pytest.raises(RetryableError):
        pc.client.checkout(customer_id, cart.id, request_id=request_id)
    # The activity's retry sends the same MS-RequestId: Partner Center replays the answer.
    replayed = pc.client.checkout(customer_id, cart.id, request_id=request_id)
    assert [o.id for o in pc.client.list_orders(customer_id)] == [replayed.orders[0].id]
    assert pc.state()["stats"]["replays"] == 1


def test_the_same_request_id_twice_returns_the_first_answer(pc):
    customer_id = pc.customer()
    request_id = rid()
    first = pc.client.create_cart(customer_id, [_line()], request_id=request_id)
    second = pc.client.create_cart(customer_id, [_line(quantity=3)], request_id=request_id)
    assert second == first


def test_throttled_calls_wait_retry_after_then_back_off(pc):
    pc.faults(throttle_rate=1.0, retry_after_ms=30)
    client = PartnerCenterClient.from_settings(
        pc.settings,
        policy=RetryPolicy(max_throttle_retries=3, jitter=0.0),
        sleep=pc.sleep,
    )
    with pytest.raises(RetryableError, match="throttled") as err:
        client.list_products("US")
    assert err.value.status == 429
    assert pc.waits == pytest.approx([0.03, 0.06, 0.12])
    assert pc.state()["stats"]["early_retries"] == 0


def test_429_waits_stop_at_the_calls_budget_and_hand_the_next_wait_over(pc):
    pc.faults(throttle_rate=1.0, retry_after_ms=30)
    client = PartnerCenterClient.from_settings(
        pc.settings,
        policy=RetryPolicy(wait_budget_s=0.1, jitter=0.0),
        sleep=pc.sleep,
    )
    with pytest.raises(ThrottledError) as err:
        client.list_products("US")
    # 0.03 + 0.06 fit the 0.1 s budget; the next wait (0.12) is the orchestrator's.
    assert pc.waits == pytest.approx([0.03, 0.06])
    assert err.value.status == 429
    assert err.value.retry_after_s == pytest.approx(0.12)


def test_a_retry_after_longer_than_the_budget_is_not_slept_in_the_activity(pc):
    # The example of Microsoft Learn, api-throttling-guidance: "Try again in 57 seconds".
    pc.faults(throttle_rate=1.0, retry_after_ms=57_000)
    with pytest.raises(ThrottledError) as err:
        pc.client.list_products("US")
    assert (pc.waits, err.value.retry_after_s) == ([], 57.0)


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [
        ("20", 1, 20.0),  # above max_wait_s: still honoured, an early retry is throttled again
        ("1", 1, 1.0),
        ("1", 3, 4.0),  # doubled on each repeat (Microsoft Learn, api-throttling-guidance)
        ("1", 6, 10.0),  # the backoff is capped at max_wait_s
    ],
)
def test_a_throttle_wait_is_never_shorter_than_advertised(retry_after, attempt, expected):
    transport = Transport(requests.Session(), 1.0, RetryPolicy(max_wait_s=10.0, jitter=0.0))
    assert transport.throttle_wait({"Retry-After": retry_after}, attempt) == expected


def test_renewal_processing_is_handed_to_the_orchestrator_at_once_and_the_retry_applies(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1M")
    sub = pc.client.get_subscription(customer_id, sid)
    pc.advance_to(sub.term_end + timedelta(minutes=5))  # renewal queued (an hour here)
    request_id = request_id_for("licence-change-7", "set-quantity")
    with pytest.raises(RenewalProcessingError) as err:
        pc.client.set_quantity(customer_id, sid, 11, request_id=request_id)
    # No sleep inside the activity: processing can last 24 h (docs/rules.md#renewal-processing),
    # so the wait ("about 2 minutes, then resubmit") is the orchestrator's durable timer.
    assert (err.value.status, err.value.retry_after_s, pc.waits) == (409, 120.0, [])
    pc.advance(timedelta(hours=1))  # the durable timers fire after the renewal completes
    renewed = pc.client.set_quantity(customer_id, sid, 11, request_id=request_id)
    assert renewed.quantity == 11 and renewed.term_end > sub.term_end


def test_the_sandbox_can_answer_renewal_processing_before_the_term_end_and_processes_nothing(pc):
    # Partner Center answers 409 800082 whenever it has a renewal queued (docs/rules.md
    # #renewal-processing); the fault `renewing_next` plays it at any moment.
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    request_id = request_id_for("renewal-9", "auto-renew-1")
    pc.faults(renewing_next=1)
    with pytest.raises(RenewalProcessingError):
        pc.client.set_auto_renew(customer_id, sid, False, request_id=request_id)
    assert pc.client.get_subscription(customer_id, sid).auto_renew_enabled is True
    # the same MS-RequestId resubmitted is processed, not answered the remembered 409
    assert (
        pc.client.set_auto_renew(customer_id, sid, False, request_id=request_id).auto_renew_enabled
        is False
    )


def test_a_cart_being_processed_is_waited_out_briefly_in_the_client(pc):
    customer_id = pc.customer()
    before = pc.state()["counts"]["cart"]
    waits: list[float] = []  # the sandbox does not time these 409s: no real sleep needed
    client = PartnerCenterClient.from_settings(pc.settings, sleep=waits.append)
    pc.faults(processing_next=2)
    client.create_cart(customer_id, [_line()], request_id=rid())
    assert waits == [2.0, 4.0]
    assert pc.state()["counts"]["cart"] == before + 1


def test_an_order_still_processing_after_the_short_waits_is_retryable_and_writes_once(pc):
    customer_id = pc.customer()
    before = pc.state()["counts"]["cart"]
    request_id = request_id_for("onboarding-43", "cart")
    waits: list[float] = []
    client = PartnerCenterClient.from_settings(pc.settings, sleep=waits.append)
    pc.faults(processing_next=4)
    with pytest.raises(RetryableError, match="still processing") as err:
        client.create_cart(customer_id, [_line()], request_id=request_id)
    assert not isinstance(err.value, RenewalProcessingError)
    assert (err.value.status, err.value.retry_after_s) == (409, 16.0)
    assert waits == [2.0, 4.0, 8.0]  # 14 s: the most one call sleeps on a busy order
    client.create_cart(customer_id, [_line()], request_id=request_id)  # the activity's retry
    assert pc.state()["counts"]["cart"] == before + 1


def test_a_slow_patch_answers_202_and_the_client_polls_until_applied(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.faults(slow_patch_ms=150)
    updated = pc.client.set_quantity(customer_id, sid, 13, request_id=rid())
    assert updated.quantity == 13
    assert pc.waits, "the client waited between polls"


def test_a_202_still_pending_past_the_poll_budget_is_retryable_and_the_retry_resumes_it(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    client = PartnerCenterClient.from_settings(
        pc.settings, policy=RetryPolicy(wait_budget_s=1.5), sleep=pc.sleep
    )
    request_id = request_id_for("licence-change-8", "set-quantity")
    writes = pc.state()["stats"]["writes"]
    pc.faults(slow_patch_ms=2500)  # 202 with retry-after-ms 1000, applied after 2.5 s
    with pytest.raises(RetryableError, match="still in progress") as err:
        client.set_quantity(customer_id, sid, 13, request_id=request_id)
    assert (pc.waits, err.value.retry_after_s) == ([1.0], 1.0)  # a second wait: over budget
    _wait_until(lambda: pc.client.get_subscription(customer_id, sid).quantity == 13)
    # The activity's retry: the same MS-RequestId is answered with the remembered 202.
    assert client.set_quantity(customer_id, sid, 13, request_id=request_id).quantity == 13
    assert pc.state()["stats"]["writes"] == writes + 1


def test_every_wait_of_one_patch_draws_on_one_budget(pc):
    """A busy order (2 s) then a 202 (1 s polls) inside a 3 s budget: two waits, then the
    activity fails retryably instead of polling on."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    waits: list[float] = []
    client = PartnerCenterClient.from_settings(
        pc.settings, policy=RetryPolicy(wait_budget_s=3.0), sleep=waits.append
    )
    pc.faults(processing_next=1, slow_patch_ms=5000)
    with pytest.raises(RetryableError, match="still in progress"):
        client.set_quantity(customer_id, sid, 14, request_id=rid())
    assert waits == [2.0, 1.0]


def test_a_wrong_client_secret_is_an_auth_error(pc):
    client = PartnerCenterClient.from_settings(
        settings_for(pc.sandbox, partner_center_client_secret="wrong")
    )
    with pytest.raises(AuthError, match="invalid_client"):
        client.list_products("US")


def test_app_and_user_operations_need_the_refresh_token(pc):
    client = PartnerCenterClient.from_settings(
        settings_for(pc.sandbox, partner_center_refresh_token="")
    )
    with pytest.raises(AuthError, match="App\\+User"):
        client.mca_template_id()


def test_a_write_without_a_request_id_is_a_programming_error(pc):
    with pytest.raises(ValueError, match="request_id"):
        pc.client.create_cart(str(uuid.uuid4()), [_line()], request_id="")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "57"}, 57.0),  # the example of Microsoft Learn, api-throttling-guidance
        ({"Retry-After": "1", "retry-after-ms": "20"}, 0.02),  # azure-core's exact header
        ({"Retry-After": "1", "x-ms-retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_seconds_or_exact_milliseconds(headers, expected):
    assert retry_after_s(headers) == expected


def _line(quantity: int = 1) -> CartLine:
    return CartLine(
        catalog_item_id=BASIC, quantity=quantity, term_duration="P1M", billing_cycle="monthly"
    )


def test_a_signing_key_rollover_is_survived_by_fetching_a_new_token(pc):
    pc.client.list_products("US")  # a cached token signed with the old key
    pc.sandbox.authority.rotate_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert pc.client.list_products("US")


def test_a_token_refused_twice_is_an_auth_error(pc):
    pc.client.list_products("US")
    pc.client._tokens.forget_tokens = lambda: None
    pc.sandbox.authority.rotate_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(AuthError, match="refused"):
        pc.client.list_products("US")


def test_an_unreachable_authority_is_retryable(pc):
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = PartnerCenterClient.from_settings(
        settings_for(pc.sandbox, partner_center_authority=f"https://127.0.0.1:{port}")
    )
    with pytest.raises(RetryableError, match="authority"):
        client.list_products("US")


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
