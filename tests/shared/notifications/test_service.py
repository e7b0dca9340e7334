"""The notifier's decisions with a transport that can answer a lookup (as ACS can): a
delivery in doubt that the service has is marked sent without a second send; one it does not
have is sent again, under the same key. The log is a real Azurite."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from shared.clock import SystemClock
from shared.notifications.errors import DeliveryInDoubt, NoticeBusy
from shared.notifications.log import TableNoticeLog
from shared.notifications.recipients import Addressee
from shared.notifications.service import Notifier
from shared.notifications.transport import Lookup, OutgoingMessage
from tests.shared.notifications.samples import SAMPLES

BILLING = Addressee(name="Andrew Fuller", email="ap@c.example", role="billing", locale="nl")


@dataclass
class ScriptedTransport:
    """Accepts or loses messages as told, remembers what it has, answers lookups."""

    name: str = "scripted"
    lose_answers: int = 0
    has: dict[str, OutgoingMessage] = field(default_factory=dict)
    sends: int = 0

    def send(self, message: OutgoingMessage) -> str:
        self.sends += 1
        self.has[message.operation_id] = message
        if self.lose_answers:
            self.lose_answers -= 1
            raise DeliveryInDoubt("answer lost")
        return message.operation_id

    def lookup(self, message: OutgoingMessage) -> Lookup:
        return "accepted" if message.operation_id in self.has else "absent"


@pytest.fixture
def settings(azurite, configure):
    return configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"s{uuid.uuid4().hex[:16]}",
    )


def notifier(settings, transport) -> Notifier:
    log = TableNoticeLog(settings)
    return Notifier(settings, log, log, transport, SystemClock())


def send(n: Notifier):
    return n.send(
        "dunning-in_9/notice-1", SAMPLES["payment_failed"], customer_id="c-9", contacts=(BILLING,)
    )


def test_in_doubt_and_the_service_has_it_is_marked_sent_without_sending_again(settings):
    transport = ScriptedTransport(lose_answers=1)
    n = notifier(settings, transport)
    with pytest.raises(DeliveryInDoubt):
        send(n)
    result = send(n)
    assert [(d.status, d.detail) for d in result.deliveries] == [
        ("already_sent", "confirmed by the service")
    ]
    assert transport.sends == 1
    assert send(n).deliveries[0].status == "already_sent"
    assert transport.sends == 1


def test_in_doubt_and_the_service_does_not_have_it_is_sent_again_once(settings):
    transport = ScriptedTransport(lose_answers=1)
    n = notifier(settings, transport)
    with pytest.raises(DeliveryInDoubt):
        send(n)
    transport.has.clear()  # it never arrived
    assert send(n).deliveries[0].status == "sent"
    assert transport.sends == 2
    [record] = TableNoticeLog(settings).deliveries()
    assert (record.state, record.attempts) == ("sent", 2)


def test_a_notice_held_by_a_live_attempt_is_busy_not_sent_twice(settings):
    transport = ScriptedTransport()
    n = notifier(settings, transport)
    log = TableNoticeLog(settings)
    delivery = n._delivery("dunning-in_9/notice-1", "payment_failed", "c-9", BILLING)
    log.reserve(delivery)  # another attempt, alive, mid-send
    with pytest.raises(NoticeBusy):
        send(n)
    assert transport.sends == 0


def test_partner_addresses_come_from_the_settings(configure, azurite):
    settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_NOTIFY_OPS_TO="Night Shift <night@p.example>, day@p.example",
        CSPFLOW_NOTIFY_PARTNER_LOCALE="nl",
        CSPFLOW_NOTIFY_PARTNER_TIME_ZONE="Europe/Amsterdam",
    )
    audience = notifier(settings, ScriptedTransport()).partner_audience()
    assert [(a.name, a.email, a.locale, a.time_zone) for a in audience.ops] == [
        ("Night Shift", "night@p.example", "nl", "Europe/Amsterdam"),
        ("day", "day@p.example", "nl", "Europe/Amsterdam"),
    ]
    assert audience.approvers == ()
