"""The send_notice activity through the real path: the activity boundary, the notice log on
a real Azurite, SMTP with STARTTLS and AUTH into the mail sandbox, read back through the
sandbox's inbox API.

Exactly once is shown where it can break: an activity retried, a retry after a failure
before the message was handed over, a connection dropped after DATA (the message arrived, the
sender saw an error), and a host killed at each point of a send and run again. A duplicate can
only come from a kill between the server's answer and the log's mark; it carries the same
Message-ID, and the sandbox shows it as a duplicate (docs/notifications.md, "Exactly once")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from activities.notifications import SendNotice, send_notice
from sandbox.mail.server import MailSandbox
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.errors import StepError
from shared.notifications import Addressee, NoticePreferences, NoticeResult, TableNoticeLog
from shared.notifications.kinds import KINDS, OpsAlert, PaymentFailed
from shared.notifications.service import delivery_key
from shared.notifications.transport import message_id_for
from tests.sandbox.mail.harness import Inbox
from tests.shared.notifications.leaks import leaks
from tests.shared.notifications.samples import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
SEED = 1303  # where `mid_data` cuts the message (notify_runner.py)

CUSTOMER = "cust-northwind"
PRIMARY = Addressee(
    name="Nancy Davolio",
    email="nancy@northwind.example",
    role="primary",
    locale="en",
    time_zone="America/New_York",
)
BILLING = Addressee(
    name="Andrew Fuller",
    email="ap@northwind.example",
    role="billing",
    locale="nl",
    time_zone="Europe/Amsterdam",
)
TECHNICAL = Addressee(
    name="Janet Leverling",
    email="it@northwind.example",
    role="technical",
    locale="en-GB",
    time_zone="Europe/London",
)
CONTACTS = (PRIMARY, BILLING, TECHNICAL)


@pytest.fixture
def inbox(mail: MailSandbox, notify_env: pytest.MonkeyPatch) -> Inbox:
    return Inbox(mail.base_url)


def payload(
    kind: str = "payment_failed",
    step: str = "notice-payment-failed",
    *,
    notice: Any = None,
    customer_id: str | None = CUSTOMER,
    contacts: tuple[Addressee, ...] = CONTACTS,
    instance: str = "dunning-in_1Demo42",
) -> dict[str, Any]:
    request = SendNotice(
        step_key=f"{instance}/{step}",
        notice=notice or SAMPLES[kind],  # type: ignore[index]
        customer_id=customer_id,
        contacts=contacts,
    )
    return request.model_dump(mode="json")


def sent(data: dict[str, Any]) -> NoticeResult:
    envelope = send_notice.run(data)
    assert envelope["ok"], envelope
    return NoticeResult.model_validate(envelope["value"])


def statuses(result: NoticeResult) -> dict[str, str]:
    return {d.to: d.status for d in result.deliveries}


def notice_log() -> TableNoticeLog:
    return TableNoticeLog(get_settings())


# One notice, its readers, its message -------------------------------------------------------
def test_a_notice_reaches_its_reader_once_in_their_language_and_zone(inbox: Inbox):
    data = payload()
    result = sent(data)
    assert statuses(result) == {"ap@northwind.example": "sent"}  # billing: payment_failed
    [message] = inbox.messages()
    assert message["to"] == ["ap@northwind.example"]
    assert message["subject"] == "Betaling van € 123,45 mislukt: factuur INV-2030-0042"
    key = delivery_key(data["step_key"], "ap@northwind.example")
    assert message["message_id"] == message_id_for(key, "billing@cspflow.example")
    assert message["message_id"] == result.deliveries[0].message_id
    detail = inbox.read(message["id"])
    headers = dict(detail["headers"])
    assert headers["From"] == "Contoso Cloud Partners <billing@cspflow.example>"
    assert headers["Reply-To"] == "support@contoso-cloud.example"
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers["X-Cspflow-Notice"] == "payment_failed"
    # The retry time in the reader's zone (Amsterdam, CEST), not the server's.
    assert "13 juni 2030, 05:00 Midden-Europese zomertijd" in detail["text"]
    assert 'href="https://invoice.stripe.com/i/acct_1Demo/test_YWNjdF8xRGVtbw"' in detail["html"]


def test_each_reader_gets_their_own_message_and_the_same_person_once(inbox: Inbox):
    billing_is_primary = BILLING.model_copy(update={"email": PRIMARY.email})
    result = sent(
        payload("suspended", "notice-suspended", contacts=(PRIMARY, billing_is_primary, TECHNICAL))
    )
    assert statuses(result) == {
        "nancy@northwind.example": "sent",  # billing and primary: one person, one message
        "it@northwind.example": "sent",
    }
    assert sorted(m["to"][0] for m in inbox.messages()) == [
        "it@northwind.example",
        "nancy@northwind.example",
    ]


def test_every_step_is_its_own_notice(inbox: Inbox):
    sent(payload(step="notice-payment-failed-1"))
    sent(payload(step="notice-payment-failed-2"))
    ids = [m["message_id"] for m in inbox.messages()]
    assert len(ids) == 2 and len(set(ids)) == 2


# Exactly once ---------------------------------------------------------------------------------
def test_a_retried_activity_never_mails_twice(inbox: Inbox):
    data = payload()
    assert statuses(sent(data)) == {"ap@northwind.example": "sent"}
    for _ in range(2):
        assert statuses(sent(data)) == {"ap@northwind.example": "already_sent"}
    assert len(inbox.messages()) == 1
    [record] = notice_log().deliveries(customer_id=CUSTOMER)
    assert (record.state, record.attempts) == ("sent", 1)


def test_a_sent_notice_is_in_the_book_once_with_its_line_on_the_customers_timeline(
    inbox: Inbox,
):
    data = payload()
    sent(data)
    sent(data)  # the step retried
    book = Book(get_settings())
    notice = book.notices.sent(data["step_key"])
    assert notice is not None
    assert (notice.customer_id, notice.kind, notice.to) == (
        CUSTOMER,
        "payment_failed",
        ("ap@northwind.example",),
    )
    assert notice.subject == "Betaling van € 123,45 mislukt: factuur INV-2030-0042"
    lines = [e for e in book.timeline.page(CUSTOMER).items if e.kind == "notice"]
    assert len(lines) == 1


def test_a_partner_side_notice_is_not_on_any_customers_timeline(inbox: Inbox):
    data = payload(kind="ops_alert", step="alert", customer_id=None, contacts=())
    sent(data)
    assert Book(get_settings()).notices.sent(data["step_key"]) is None


def test_a_failure_before_the_message_was_handed_over_is_retried_and_mails_once(inbox: Inbox):
    inbox.fault(refuse=[{"address": "ap@northwind.example", "code": 451}])
    data = payload()
    with pytest.raises(StepError, match="mail_unavailable"):
        send_notice.run(data)
    assert inbox.messages() == []
    inbox.clear()
    assert statuses(sent(data)) == {"ap@northwind.example": "sent"}
    assert len(inbox.messages()) == 1
    [record] = notice_log().deliveries(customer_id=CUSTOMER)
    assert (record.state, record.attempts) == ("sent", 2)


def test_a_connection_dropped_after_data_does_not_produce_a_second_message(inbox: Inbox):
    inbox.fault(drop_after_data=1)
    data = payload()
    with pytest.raises(StepError, match="delivery_in_doubt"):
        send_notice.run(data)  # the sender saw an error...
    [message] = inbox.messages()
    assert message["sender_saw_error"]  # ...for a message that arrived
    for _ in range(2):  # the retries do not send it again
        assert statuses(sent(data)) == {"ap@northwind.example": "unconfirmed"}
    assert len(inbox.messages()) == 1
    # Ops see it: handed over, answer lost, not sent again.
    [doubt] = notice_log().deliveries(state="in_doubt")
    assert (doubt.to, doubt.kind, doubt.message_id) == (
        "ap@northwind.example",
        "payment_failed",
        message["message_id"],
    )


def test_an_answer_slower_than_the_timeout_after_data_is_in_doubt_too(
    inbox: Inbox, notify_env: pytest.MonkeyPatch
):
    notify_env.setenv("CSPFLOW_SMTP_TIMEOUT_S", "0.5")
    reset_settings()
    inbox.fault(slow={"seconds": 1.5, "times": 1, "phase": "data"})
    data = payload()
    with pytest.raises(StepError, match="delivery_in_doubt"):
        send_notice.run(data)
    assert statuses(sent(data)) == {"ap@northwind.example": "unconfirmed"}
    assert len(inbox.messages()) == 1


def test_a_slow_greeting_is_a_transient_failure_and_the_retry_mails_once(
    inbox: Inbox, notify_env: pytest.MonkeyPatch
):
    notify_env.setenv("CSPFLOW_SMTP_TIMEOUT_S", "0.5")
    reset_settings()
    inbox.fault(slow={"seconds": 1.5, "times": 1, "phase": "ehlo"})
    data = payload()
    with pytest.raises(StepError, match="mail_unavailable"):
        send_notice.run(data)
    assert statuses(sent(data)) == {"ap@northwind.example": "sent"}
    assert len(inbox.messages()) == 1


KILL_POINTS = {
    # point: (messages in the sandbox after the restart, the restart's status)
    "after_reserve": (1, "sent"),
    "mid_data": (1, "sent"),
    "waiting_for_answer": (2, "sent"),  # the message arrived; its answer never did
    "after_accept": (2, "sent"),  # accepted, killed before the log's mark
    "after_mark": (1, "already_sent"),
}


def run_in_a_process(
    point: str, data: Path, env: dict[str, str], inbox: Inbox
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.activities.notify_runner", point, str(SEED), str(data)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if point == "waiting_for_answer":  # killed from outside while the server holds its answer
        deadline = time.monotonic() + 60
        while not inbox.messages() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.kill()
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_host_killed_mid_send_and_restarted_sends_one_message_or_a_detectable_duplicate(
    point: str, inbox: Inbox, tmp_path: Path
):
    lease_s = 1.0
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CSPFLOW_NOTIFY_SEND_LEASE_S": str(lease_s),
    }
    if point == "waiting_for_answer":
        inbox.fault(slow={"seconds": 30, "times": 1, "phase": "data"})
    data = tmp_path / "payload.json"
    data.write_text(json.dumps(payload()))
    killed = run_in_a_process(point, data, env, inbox)
    assert killed.returncode == -9, killed.stderr  # SIGKILL, not an orderly failure
    time.sleep(lease_s + 0.2)  # the dead attempt's reservation lapses

    restarted = run_in_a_process("none", data, env, inbox)
    assert restarted.returncode == 0, restarted.stderr
    envelope = json.loads(restarted.stdout.splitlines()[-1])
    expected_count, expected_status = KILL_POINTS[point]
    assert envelope["ok"], envelope
    assert envelope["value"]["deliveries"][0]["status"] == expected_status

    messages = inbox.messages()
    assert len(messages) == expected_count
    assert len({m["message_id"] for m in messages}) == 1  # one notice, one Message-ID
    # A duplicate is visible as one: the sandbox names the first copy, and a list of
    # distinct messages shows the notice once.
    assert [m["duplicate_of"] for m in messages[1:]] == [messages[0]["id"]] * (expected_count - 1)
    assert len(inbox.messages(distinct="1")) == 1
    [record] = notice_log().deliveries(customer_id=CUSTOMER)
    assert record.state == "sent"


# Refused addresses, preferences, audiences ------------------------------------------------
def test_a_refused_recipient_is_recorded_surfaces_for_ops_and_is_never_retried(inbox: Inbox):
    inbox.fault(refuse=["ap@northwind.example"])
    data = payload()
    envelope = send_notice.run(data)
    assert not envelope["ok"]
    assert envelope["failure"]["kind"] == "permanent"
    assert envelope["failure"]["code"] == "recipient_refused"
    [bounce] = notice_log().bounces()
    assert (bounce.address, bounce.code, bounce.kind, bounce.customer_id) == (
        "ap@northwind.example",
        550,
        "payment_failed",
        CUSTOMER,
    )
    inbox.clear()  # the server would accept it now; cspflow does not try again
    again = send_notice.run(payload(step="notice-payment-failed-2"))
    assert not again["ok"] and again["failure"]["code"] == "no_recipient"
    assert inbox.messages() == []
    notice_log().clear_bounce("ap@northwind.example")  # ops fixed the address
    assert statuses(sent(payload(step="notice-payment-failed-3"))) == {
        "ap@northwind.example": "sent"
    }


def test_one_refused_reader_does_not_keep_the_notice_from_the_others(inbox: Inbox):
    inbox.fault(refuse=["it@northwind.example"])
    result = sent(payload("suspended", "notice-suspended"))
    assert statuses(result) == {
        "ap@northwind.example": "sent",
        "nancy@northwind.example": "sent",
        "it@northwind.example": "refused",
    }
    assert len(inbox.messages()) == 2


def test_a_muted_kind_is_not_sent(inbox: Inbox):
    notice_log().put(NoticePreferences(customer_id=CUSTOMER, muted=frozenset({"welcome"})))
    result = sent(payload("welcome", "notice-welcome"))
    assert result.muted and result.deliveries == ()
    assert inbox.messages() == []


def test_preferences_route_a_kind_to_another_contact(inbox: Inbox):
    notice_log().put(
        NoticePreferences(customer_id=CUSTOMER, routes={"payment_failed": ("technical", "billing")})
    )
    result = sent(payload())
    assert statuses(result) == {"it@northwind.example": "sent", "ap@northwind.example": "sent"}
    subjects = {m["to"][0]: m["subject"] for m in inbox.messages()}
    assert subjects["it@northwind.example"] == "Payment of €123.45 failed: invoice INV-2030-0042"


def test_partner_side_notices_go_to_the_approvers_and_ops_in_the_settings(inbox: Inbox):
    sent(payload("approval_requested", "notice-approval", customer_id=None, contacts=()))
    sent(payload("ops_alert", "notice-ops", customer_id=None, contacts=()))
    to = sorted((m["to"][0], m["subject"]) for m in inbox.messages())
    assert to == [
        (
            "approvals@contoso-cloud.example",
            "Approval needed: Northwind Traders, Microsoft 365 E5",
        ),
        ("ops@contoso-cloud.example", "Workflow failed: dunning dunning-in_1Demo42"),
    ]
    hello = inbox.read(inbox.messages(to="ops@contoso-cloud.example")[0]["id"])["text"]
    assert hello.startswith("Hello Operations,")


def test_a_customer_notice_without_contacts_is_a_permanent_failure(inbox: Inbox):
    envelope = send_notice.run(payload(contacts=()))
    assert (envelope["ok"], envelope["failure"]["code"]) == (False, "no_recipient")


def test_an_input_the_model_refuses_names_the_field(inbox: Inbox):
    data = payload()
    data["notice"]["card"]["last4"] = "4242424242424242"  # a full card number
    envelope = send_notice.run(data)
    assert envelope["failure"]["code"] == "invalid_input"
    assert envelope["failure"]["field"] == "notice.payment_failed.card.last4"
    assert "4242424242424242" not in json.dumps(envelope)


# Nothing secret leaves -------------------------------------------------------------------
def secrets_of_the_app() -> list[str]:
    s = get_settings()
    connection = s.storage_connection.get_secret_value()
    return [
        s.stripe_api_key.get_secret_value(),
        *(w.get_secret_value() for w in s.stripe_webhook_secrets),
        s.partner_center_client_secret.get_secret_value(),
        s.partner_center_refresh_token.get_secret_value(),
        s.smtp_password.get_secret_value(),
        *(p.split("=", 1)[1] for p in connection.split(";") if p.startswith("AccountKey=")),
    ]


def test_a_notice_that_would_carry_a_secret_is_refused_before_anything_is_sent(inbox: Inbox):
    key = get_settings().stripe_api_key.get_secret_value()
    notice = SAMPLES["payment_failed"].model_copy(update={"customer_name": f"Acme {key}"})
    envelope = send_notice.run(payload(notice=notice))
    assert (envelope["ok"], envelope["failure"]["code"]) == (False, "unsafe_notice")
    assert key not in json.dumps(envelope)
    assert inbox.messages() == []
    assert notice_log().deliveries() == []  # rendered before anything was reserved


def test_an_ops_alert_quoting_a_secret_or_a_card_number_is_sent_redacted(inbox: Inbox):
    secret = get_settings().stripe_webhook_secrets[0].get_secret_value()
    alert = SAMPLES["ops_alert"]
    assert isinstance(alert, OpsAlert)
    noisy = alert.model_copy(
        update={"failure": f"verify: bad signature with {secret} for card 4242 4242 4242 4242"}
    )
    sent(payload("ops_alert", "notice-ops", notice=noisy, customer_id=None, contacts=()))
    [message] = inbox.messages()
    text = inbox.read(message["id"])["text"]
    assert "bad signature with *** for card [card number ending 4242 removed]" in text
    assert leaks([inbox.raw(message["id"])], secrets_of_the_app()) == []


def test_nothing_the_mail_sandbox_received_carries_a_secret_or_a_card_number(inbox: Inbox):
    secrets = secrets_of_the_app()
    assert all(secrets) and len(secrets) >= 6  # the app holds one of each, for real
    deliveries = 0
    for kind, notice in SAMPLES.items():
        partner_side = KINDS[kind].partner_side
        result = sent(
            payload(
                kind,
                f"notice-{kind}",
                notice=notice,
                customer_id=None if partner_side else CUSTOMER,
                contacts=() if partner_side else CONTACTS,
            )
        )
        deliveries += len(result.deliveries)
    received = inbox.messages()
    assert len(received) == deliveries > len(SAMPLES)  # every kind, in en, en-GB and nl
    assert leaks(inbox.everything(), secrets) == []
    # The one card the samples show appears as its last four digits only.
    card = SAMPLES["payment_failed"]
    assert isinstance(card, PaymentFailed) and card.card is not None
    assert any(b"4242" in raw for raw in inbox.everything())
