"""The two transports and the three outcomes exactly-once depends on: accepted, certainly not
accepted (transient or permanent), and maybe accepted (in doubt).

SMTP runs against the mail sandbox (STARTTLS, AUTH, faults); ACS against a stand-in of its
REST API over HTTPS with a bearer token, as the managed identity gets one."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.mail.server import MailSandbox, Options
from shared.notifications.errors import (
    DeliveryInDoubt,
    MailRefused,
    MailUnavailable,
    RecipientRefused,
)
from shared.notifications.transport import (
    AcsTransport,
    OutgoingMessage,
    SmtpTransport,
    message_id_for,
    transport_from_settings,
)
from tests.sandbox.mail.harness import Inbox
from tests.shared.notifications.fake_acs import FakeAcs, FakeCredential, fake_acs


def message(
    key: str = "dunning-in_1/notice|ap@c.example", to: str = "ap@c.example"
) -> OutgoingMessage:
    return OutgoingMessage(
        key=key,
        message_id=message_id_for(key, "billing@cspflow.example"),
        sender="billing@cspflow.example",
        sender_name="Contoso Cloud",
        to=to,
        to_name="Andrew Fuller",
        reply_to="support@contoso-cloud.example",
        subject="Betaling van € 123,45 mislukt",
        text="Beste Andrew,\n.a line that starts with a dot\n\nGroet\n",
        html="<!DOCTYPE html><html><body><p>Beste Andrew</p></body></html>",
        date=datetime(2030, 6, 10, 3, 0, tzinfo=UTC),
    )


@pytest.fixture
def secure(tmp_path: Path):
    with MailSandbox(Options(data_dir=tmp_path / "mail", starttls=True, require_auth=True)) as sb:
        yield sb


def smtp(sb: MailSandbox, **overrides) -> SmtpTransport:
    c = sb.connection
    options = {
        "starttls": c["starttls"],
        "username": c["username"] or "",
        "password": c["password"] or "",
        "ca_bundle": c["caBundle"],
        "timeout_s": 2.0,
    } | overrides
    return SmtpTransport(c["smtpHost"], c["smtpPort"], **options)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# SMTP -------------------------------------------------------------------------------------
def test_smtp_with_starttls_and_auth_delivers_the_message_as_built(secure):
    m = message()
    reply = smtp(secure).send(m)
    assert reply.startswith("250 ")
    inbox = Inbox(secure.base_url)
    [stored] = inbox.messages()
    assert stored["message_id"] == m.message_id and stored["to"] == ["ap@c.example"]
    detail = inbox.read(stored["id"])
    assert detail["text"] == m.text  # dot-stuffing undone, unicode intact
    assert detail["html"] == m.html + "\n"
    headers = dict(detail["headers"])
    assert headers["Subject"] == "Betaling van € 123,45 mislukt"
    assert headers["Date"] == "Mon, 10 Jun 2030 03:00:00 +0000"


def test_the_same_delivery_is_the_same_bytes_on_every_attempt():
    assert message().to_email().as_bytes() == message().to_email().as_bytes()
    assert message_id_for("a|x@y", "b@cspflow.example") != message_id_for(
        "b|x@y", "b@cspflow.example"
    )


def test_smtp_plain_to_a_server_without_tls(tmp_path):
    with MailSandbox(Options(data_dir=tmp_path / "plain")) as sb:
        assert smtp(sb, starttls=False).send(message()).startswith("250 ")


def test_starttls_required_but_not_offered_is_refused(tmp_path):
    with (
        MailSandbox(Options(data_dir=tmp_path / "plain")) as sb,
        pytest.raises(MailRefused, match="does not offer STARTTLS"),
    ):
        smtp(sb, starttls=True, username="", password="").send(message())


def test_an_untrusted_certificate_is_refused(secure):
    with pytest.raises(MailRefused, match="STARTTLS"):
        smtp(secure, ca_bundle=None).send(message())


def test_wrong_credentials_are_refused_not_retried(secure):
    with pytest.raises(MailRefused, match="AUTH refused: 535"):
        smtp(secure, password="not-the-password").send(message())


def test_a_refused_recipient_is_permanent_and_names_the_address(secure):
    Inbox(secure.base_url).fault(refuse=["ap@c.example"])
    with pytest.raises(RecipientRefused) as raised:
        smtp(secure).send(message())
    assert (raised.value.address, raised.value.status) == ("ap@c.example", 550)
    assert "user unknown" in raised.value.reply


def test_a_temporary_refusal_is_transient(secure):
    Inbox(secure.base_url).fault(refuse=[{"address": "ap@c.example", "code": 450}])
    with pytest.raises(MailUnavailable, match="RCPT TO: 450"):
        smtp(secure).send(message())


def test_no_server_is_transient():
    with pytest.raises(MailUnavailable):
        SmtpTransport("127.0.0.1", free_port(), timeout_s=1).send(message())


def test_a_dropped_connection_after_data_is_in_doubt_and_the_message_was_received(secure):
    inbox = Inbox(secure.base_url)
    inbox.fault(drop_after_data=1)
    with pytest.raises(DeliveryInDoubt, match="no answer after the message was sent"):
        smtp(secure).send(message())
    [stored] = inbox.messages()
    assert stored["sender_saw_error"]


def test_a_slow_answer_after_data_is_in_doubt_a_slow_greeting_is_not(secure):
    inbox = Inbox(secure.base_url)
    inbox.fault(slow={"seconds": 1.0, "times": 1, "phase": "data"})
    with pytest.raises(DeliveryInDoubt):
        smtp(secure, timeout_s=0.3).send(message())
    inbox.fault(slow={"seconds": 1.0, "times": 1, "phase": "ehlo"})
    with pytest.raises(MailUnavailable):
        smtp(secure, timeout_s=0.3).send(message("k2|ap@c.example"))
    assert len(inbox.messages()) == 1


def test_smtp_cannot_tell_whether_a_relay_has_a_message(secure):
    assert smtp(secure).lookup(message()) == "unknown"


def test_settings_choose_the_transport(configure, tmp_path):
    assert isinstance(transport_from_settings(configure()), SmtpTransport)
    acs = configure(
        CSPFLOW_MAIL_TRANSPORT="acs",
        CSPFLOW_ACS_ENDPOINT="https://acs-cspflow.europe.communication.azure.com",
        AzureWebJobsStorage__clientId="00000000-0000-0000-0000-0000000000aa",
    )
    transport = transport_from_settings(acs)
    assert isinstance(transport, AcsTransport)
    assert transport.endpoint == "https://acs-cspflow.europe.communication.azure.com"


# Azure Communication Services Email --------------------------------------------------------
@pytest.fixture
def acs(tmp_path: Path):
    with fake_acs(tmp_path) as service:
        yield service


def acs_transport(service: FakeAcs, credential: FakeCredential | None = None) -> AcsTransport:
    return AcsTransport(
        service.url,
        credential or FakeCredential(),
        connection_verify=service.ca_path,
        retry_total=0,
    )


def test_acs_sends_with_a_bearer_token_and_an_operation_id_from_the_key(acs):
    credential = FakeCredential()
    m = message()
    assert acs_transport(acs, credential).send(m) == m.operation_id
    [request] = acs.requests
    assert request["authorization"] == "Bearer fake-managed-identity-token"
    assert credential.scopes == [("https://communication.azure.com//.default",)]
    assert request["operation_id"] == m.operation_id
    body = request["body"]
    assert body["recipients"]["to"] == [{"address": "ap@c.example", "displayName": "Andrew Fuller"}]
    assert body["content"] == {"subject": m.subject, "plainText": m.text, "html": m.html}
    assert body["headers"]["x-cspflow-message-id"] == m.message_id
    assert body["userEngagementTrackingDisabled"] is True


def test_acs_a_second_send_of_the_same_delivery_is_accepted_without_a_second_mail(acs):
    transport = acs_transport(acs)
    m = message()
    transport.send(m)
    assert transport.send(m) == m.operation_id  # 409: the operation exists
    assert len(acs.operations) == 1


def test_acs_an_unanswered_send_is_in_doubt_and_lookup_settles_it(acs):
    transport = acs_transport(acs)
    acs.drop_next = 1
    with pytest.raises(DeliveryInDoubt):
        transport.send(message())
    assert transport.lookup(message()) == "accepted"
    assert transport.lookup(message("another|ap@c.example")) == "absent"


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, MailUnavailable), (429, MailUnavailable), (400, MailRefused), (403, MailRefused)],
)
def test_acs_answers_map_onto_the_failure_vocabulary(acs, status, error):
    acs.next_status.append(status)
    with pytest.raises(error, match=f"ACS {status}|credentials"):
        acs_transport(acs).send(message())


def test_acs_unreachable_is_transient(tmp_path):
    transport = AcsTransport(f"https://127.0.0.1:{free_port()}", FakeCredential(), retry_total=0)
    with pytest.raises(MailUnavailable):
        transport.send(message())
