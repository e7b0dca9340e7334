"""The mail sandbox in process: what it keeps, the inbox API, duplicates, faults, pages."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from sandbox.mail.server import MailSandbox, Options
from tests.sandbox.mail.harness import Inbox

from .conftest import T0


def mail(sb: MailSandbox, to: str, subject: str, message_id: str, html: str | None = None) -> None:
    msg = EmailMessage()
    msg["From"] = "billing@cspflow.example"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(f"Hello {to}\n")
    if html is not None:
        msg.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", sb.smtp_port, timeout=5) as smtp:
        smtp.send_message(msg)


def test_every_message_is_kept_with_its_envelope_and_the_sandbox_clocks_time(plain):
    mail(plain, "ann@c.example", "Your order is ready", "<a@x>", html="<p>Hi</p>")
    inbox = Inbox(plain.base_url)
    [m] = inbox.messages()
    assert m["to"] == ["ann@c.example"] and m["from"] == "billing@cspflow.example"
    assert m["received_at"] == T0.isoformat()
    assert (m["subject"], m["message_id"], m["duplicate_of"], m["sender_saw_error"]) == (
        "Your order is ready",
        "<a@x>",
        None,
        False,
    )
    detail = inbox.read(m["id"])
    assert detail["text"] == "Hello ann@c.example\n" and detail["html"] == "<p>Hi</p>\n"
    assert ["Subject", "Your order is ready"] in detail["headers"]
    assert inbox.raw(m["id"]).startswith(b"From: billing@cspflow.example")


def test_lists_filter_by_recipient_subject_and_message_id(plain):
    mail(plain, "ann@c.example", "Payment failed: INV-1", "<1@x>")
    mail(plain, "bob@c.example", "Payment failed: INV-2", "<2@x>")
    mail(plain, "ann@c.example", "Welcome", "<3@x>")
    inbox = Inbox(plain.base_url)
    assert [m["message_id"] for m in inbox.messages(to="ANN@c.example")] == ["<1@x>", "<3@x>"]
    assert [m["message_id"] for m in inbox.messages(subject="payment FAILED")] == ["<1@x>", "<2@x>"]
    assert [m["to"] for m in inbox.messages(message_id="<2@x>")] == [["bob@c.example"]]
    assert inbox.messages(to="ann@c.example", subject="INV-2") == []


def test_a_second_message_with_the_same_message_id_is_marked_a_duplicate(plain):
    for _ in range(3):
        mail(plain, "ann@c.example", "Payment failed", "<same@x>")
    mail(plain, "ann@c.example", "Other", "<other@x>")
    resp = requests.get(f"{plain.base_url}/api/messages", timeout=5).json()
    assert (resp["count"], resp["duplicates"]) == (4, 2)
    first = resp["messages"][0]["id"]
    assert [m["duplicate_of"] for m in resp["messages"]] == [None, first, first, None]
    assert len(Inbox(plain.base_url).messages(distinct="1")) == 2


def test_delete_all_forgets_every_message(plain):
    mail(plain, "ann@c.example", "One", "<1@x>")
    assert requests.delete(f"{plain.base_url}/api/messages", timeout=5).json() == {"deleted": 1}
    assert Inbox(plain.base_url).messages() == []


def test_messages_survive_a_restart_on_the_same_data(tmp_path: Path):
    with MailSandbox(Options(data_dir=tmp_path)) as sb:
        mail(sb, "ann@c.example", "Kept", "<k@x>")
    with MailSandbox(Options(data_dir=tmp_path)) as sb:
        assert [m["subject"] for m in Inbox(sb.base_url).messages()] == ["Kept"]


def test_unknown_messages_are_404(plain):
    for path in ("/api/messages/99", "/api/messages/x", "/messages/99", "/api/messages/99/raw"):
        assert requests.get(plain.base_url + path, timeout=5).status_code == 404


def test_the_html_part_is_served_so_that_nothing_in_it_runs(plain):
    mail(plain, "ann@c.example", "Hi", "<h@x>", html="<p onclick=x()>Hi</p><script>x()</script>")
    [m] = Inbox(plain.base_url).messages()
    resp = requests.get(f"{plain.base_url}/api/messages/{m['id']}/html", timeout=5)
    assert resp.headers["Content-Type"].startswith("text/html")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    mail(plain, "ann@c.example", "Text only", "<t@x>")
    text_only = Inbox(plain.base_url).messages(subject="Text only")[0]["id"]
    assert (
        requests.get(f"{plain.base_url}/api/messages/{text_only}/html", timeout=5).status_code
        == 404
    )


def test_the_pages_escape_what_the_mail_says(plain):
    mail(plain, "ann@c.example", "<script>alert(1)</script>", "<p@x>")
    page = requests.get(plain.base_url + "/", timeout=5).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    [m] = Inbox(plain.base_url).messages()
    one = requests.get(f"{plain.base_url}/messages/{m['id']}", timeout=5).text
    assert "&lt;script&gt;" in one and "<iframe sandbox" not in one  # text-only message


def test_faults_are_set_read_and_cleared(plain):
    inbox = Inbox(plain.base_url)
    faults = inbox.fault(
        refuse=["Gone@c.example", {"address": "busy@c.example", "code": 451}],
        drop_after_data=2,
        slow={"seconds": 0.5, "times": 1},
    )
    assert faults["refuse"] == [
        {
            "address": "busy@c.example",
            "code": 451,
            "message": "4.2.1 Mailbox busy, try again later",
        },
        {
            "address": "gone@c.example",
            "code": 550,
            "message": "5.1.1 Recipient address rejected: user unknown",
        },
    ]
    assert (faults["drop_after_data"], faults["slow"]["phase"]) == (2, "data")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        mail(plain, "gone@c.example", "x", "<g@x>")
    cleared = requests.delete(f"{plain.base_url}/api/faults", timeout=5).json()
    assert cleared["refuse"] == [] and cleared["drop_after_data"] == 0


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"refuse": [{"code": 550}]},
        {"refuse": [{"address": "a@b", "code": 200}]},
        {"slow": {"phase": "rcpt"}},
        {"drop_after_data": -1},
    ],
)
def test_a_malformed_fault_is_400(plain, body):
    resp = requests.post(f"{plain.base_url}/api/faults", json=body, timeout=5)
    assert resp.status_code == 400 and "faults:" in resp.json()["error"]


def test_a_dropped_connection_keeps_the_message_and_the_sender_sees_an_error(plain):
    Inbox(plain.base_url).fault(drop_after_data=1)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        mail(plain, "ann@c.example", "Dropped", "<d@x>")
    mail(plain, "ann@c.example", "Next", "<n@x>")  # one drop only
    assert [(m["subject"], m["sender_saw_error"]) for m in Inbox(plain.base_url).messages()] == [
        ("Dropped", True),
        ("Next", False),
    ]


def test_server_info_says_where_smtp_listens_and_what_it_requires(tmp_path: Path):
    with MailSandbox(Options(data_dir=tmp_path, starttls=True, require_auth=True)) as sb:
        info = requests.get(f"{sb.base_url}/api/server", timeout=5).json()
        assert info == {
            "smtp": {"host": "127.0.0.1", "port": sb.smtp_port, "starttls": True, "auth": True},
            "inbox": sb.base_url,
        }
        with smtplib.SMTP("127.0.0.1", sb.smtp_port, timeout=5) as smtp:
            code, _ = smtp.mail("billing@cspflow.example")
            assert code == 530  # STARTTLS first, then AUTH: as a production relay


def test_auth_requires_tls(tmp_path: Path):
    with pytest.raises(ValueError, match="--require-auth needs --starttls"):
        MailSandbox(Options(data_dir=tmp_path, require_auth=True)).__enter__()
