"""The notice log on a real Azurite: record before send (an insert whose conflict means
"already there"), mark after, a dead attempt's reservation taken over once and only once,
bounces and preferences, and the queries ops read."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import ManualClock
from shared.errors import ConfigurationError
from shared.notifications.errors import NoticeBusy, NoticeLogUnavailable
from shared.notifications.log import Delivery, TableNoticeLog
from shared.notifications.recipients import NoticePreferences

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def log(azurite, configure, clock) -> TableNoticeLog:
    settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"l{uuid.uuid4().hex[:16]}",
        CSPFLOW_NOTIFY_SEND_LEASE_S="60",
    )
    return TableNoticeLog(settings, clock=clock)


def delivery(
    step: str = "dunning-in_1/notice-1", to: str = "ap@c.example", customer: str | None = "cust-1"
) -> Delivery:
    return Delivery(
        key=f"{step}|{to}",
        notice_key=step,
        kind="payment_failed",
        customer_id=customer,
        to=to,
        role="billing",
        message_id="<n.abc@cspflow.example>",
    )


def test_the_first_reserve_is_new_and_a_marked_delivery_is_sent_ever_after(log):
    d = delivery()
    assert log.reserve(d).state == "new"
    log.mark_sent(d, "250 2.0.0 Ok: queued as 7")
    again = log.reserve(d)
    assert (again.state, again.attempt, again.provider_id) == (
        "sent",
        1,
        "250 2.0.0 Ok: queued as 7",
    )
    [record] = log.deliveries(customer_id="cust-1")
    assert (record.state, record.sent_at, record.to) == ("sent", T0, "ap@c.example")


def test_a_live_reservation_is_busy_and_a_dead_one_is_taken_over_after_its_lease(log, clock):
    d = delivery()
    log.reserve(d)
    with pytest.raises(NoticeBusy, match="attempt 1 holds it"):
        log.reserve(d)
    clock.advance(timedelta(seconds=61))
    taken = log.reserve(d)
    assert (taken.state, taken.attempt) == ("new", 2)


def test_two_attempts_taking_over_at_once_cannot_both_win(log, clock):
    d = delivery()
    log.reserve(d)
    clock.advance(timedelta(seconds=61))
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: _try(log, d), range(4)))
    assert outcomes.count("new") == 1, outcomes  # the others were refused: busy


def _try(log: TableNoticeLog, d: Delivery) -> str:
    try:
        return log.reserve(d).state
    except NoticeBusy:
        return "busy"


def test_a_failure_before_handing_over_is_sent_again_at_once(log):
    d = delivery()
    log.reserve(d)
    log.mark_failed(d, "MailUnavailable: 451", in_doubt=False)
    assert log.reserve(d).state == "new"
    [record] = log.deliveries()
    assert (record.state, record.attempts) == ("sending", 2)


def test_a_delivery_in_doubt_stays_so_until_reopened_and_ops_can_list_it(log):
    d = delivery()
    log.reserve(d)
    log.mark_failed(d, "DeliveryInDoubt: no answer", in_doubt=True)
    assert log.reserve(d).state == "in_doubt"
    [doubt] = log.deliveries(state="in_doubt")
    assert doubt.error == "DeliveryInDoubt: no answer"
    assert log.reopen(d) == 2
    with pytest.raises(NoticeBusy, match="no longer in doubt"):
        log.reopen(d)
    assert log.deliveries(state="in_doubt") == []


def test_a_bounce_is_kept_per_address_counted_and_cleared_by_ops(log, clock):
    d = delivery()
    log.reserve(d)
    log.record_bounce("AP@c.example", "5.1.1 user unknown", code=550, delivery=d)
    clock.advance(timedelta(hours=1))
    log.record_bounce("ap@c.example", "5.1.1 user unknown", code=550)
    bounce = log.bounce_of("ap@C.example")
    assert bounce is not None
    assert (bounce.count, bounce.first_at, bounce.last_at, bounce.code) == (
        2,
        T0,
        T0 + timedelta(hours=1),
        550,
    )
    assert log.reserve(d).state == "refused"
    assert [b.address for b in log.bounces()] == ["ap@c.example"]
    log.clear_bounce("ap@c.example")
    assert log.bounce_of("ap@c.example") is None and log.bounces() == []


def test_partner_side_deliveries_have_their_own_partition(log):
    log.reserve(delivery(customer=None, to="ops@p.example"))
    log.reserve(delivery())
    assert [r.to for r in log.deliveries(customer_id="_partner")] == ["ops@p.example"]
    assert [r.customer_id for r in log.deliveries(customer_id="cust-1")] == ["cust-1"]


def test_keys_with_any_characters_are_stored(log):
    odd = delivery(step="renewal-sub/1#x?y\\z/notice", to="o'brien+x@c.example")
    assert log.reserve(odd).state == "new"
    assert log.deliveries()[0].key == odd.key


def test_preferences_are_stored_per_customer(log):
    assert log.get("cust-1") is None
    prefs = NoticePreferences(customer_id="cust-1", muted=frozenset({"welcome"}))
    log.put(prefs)
    assert log.get("cust-1") == prefs
    log.put(prefs.model_copy(update={"muted": frozenset()}))
    assert log.get("cust-1").muted == frozenset()


def test_storage_that_cannot_be_reached_is_transient(configure):
    settings = configure(
        AzureWebJobsStorage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
        CSPFLOW_TABLE_PREFIX=f"l{uuid.uuid4().hex[:16]}",
    )
    with pytest.raises(NoticeLogUnavailable, match="notice log"):
        TableNoticeLog(settings).reserve(delivery())


def test_a_malformed_connection_string_is_a_configuration_error(configure):
    settings = configure(AzureWebJobsStorage="not a connection string")
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage"):
        TableNoticeLog(settings)
