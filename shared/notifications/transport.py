"""How a rendered notice leaves: SMTP (any relay; the mail sandbox locally) or Azure
Communication Services Email (in Azure, with the app's managed identity).

Both take an `OutgoingMessage` (one recipient, its Message-ID derived from the delivery's
idempotency key) and tell three outcomes apart, because exactly-once depends on it
(docs/notifications.md, "Exactly once"):
- accepted: `send()` returns the service's own id for it;
- certainly not accepted: `MailUnavailable` (transient), `RecipientRefused` / `MailRefused`
  (permanent);
- maybe accepted: `DeliveryInDoubt`, the whole message was handed over and the answer lost.
  `lookup()` then asks the service whether it has the message: ACS can say (the send's
  operation id is derived from the key); an SMTP relay cannot (`"unknown"`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import smtplib
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any, Literal, Protocol

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest

from shared.config import Settings
from shared.errors import ConfigurationError, first_line
from shared.notifications.errors import (
    DeliveryInDoubt,
    MailRefused,
    MailUnavailable,
    RecipientRefused,
)

Lookup = Literal["accepted", "absent", "unknown"]

# A namespace of our own for the ACS operation ids derived from delivery keys.
_OPERATION_NAMESPACE = uuid.UUID("6f1f2a56-3c1b-4f3e-9d57-2b0a4e8c9d10")


@dataclass(frozen=True)
class OutgoingMessage:
    key: str  # the delivery's idempotency key
    message_id: str  # "<...@...>", derived from the key
    sender: str
    sender_name: str
    to: str
    to_name: str
    reply_to: str
    subject: str
    text: str
    html: str
    date: datetime
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        """The ACS operation id of this delivery: the same on every attempt."""
        return str(uuid.uuid5(_OPERATION_NAMESPACE, self.key))

    def to_email(self) -> EmailMessage:
        """The MIME message: multipart/alternative, text first, HTML preferred."""
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = Address(self.sender_name, addr_spec=self.sender)
        msg["To"] = Address(self.to_name, addr_spec=self.to)
        msg["Reply-To"] = self.reply_to
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(self.date)
        msg["Message-ID"] = self.message_id
        # RFC 3834: an automatic message; auto-responders should not answer it.
        msg["Auto-Submitted"] = "auto-generated"
        for name, value in self.headers.items():
            msg[name] = value
        msg.set_content(self.text, subtype="plain", charset="utf-8")
        msg.add_alternative(self.html, subtype="html", charset="utf-8")
        # The boundary from the key too, in letters only: the same bytes on every attempt,
        # and no random 19-digit run (the library's default) for a card-number scanner.
        msg.set_boundary(f"=_cspflow_{_letters(self.key)}")
        return msg


class Transport(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> str:
        """Hand `message` over; the service's id for it. Raises as the module says."""
        ...

    def lookup(self, message: OutgoingMessage) -> Lookup:
        """Whether the service has `message` (after a `DeliveryInDoubt`)."""
        ...


# SMTP -------------------------------------------------------------------------------------
class SmtpTransport:
    """smtplib over one connection per message: EHLO, STARTTLS (when configured: refused if
    the server does not offer it), AUTH (when a user name is set), MAIL, RCPT, DATA.

    Where a failure happened decides what it means: before the final "." of DATA is sent the
    message cannot have been accepted (transient, or the server's 5xx answer); after it, a
    lost connection or a timeout leaves it in doubt (RFC 5321 section 4.1.1.4; RFC 1047)."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        username: str = "",
        password: str = "",
        ca_bundle: str | None = None,
        timeout_s: float = 10.0,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self.username = username
        self._password = password
        self.ca_bundle = ca_bundle
        self.timeout_s = timeout_s
        self.local_hostname = local_hostname
        self._tls: ssl.SSLContext | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            ca_bundle=str(settings.smtp_ca_bundle) if settings.smtp_ca_bundle else None,
            timeout_s=settings.smtp_timeout_s,
        )

    def send(self, message: OutgoingMessage) -> str:
        payload = message.to_email().as_bytes(policy=SMTP_POLICY)
        try:
            # The EHLO name: smtplib's default is getfqdn(), a DNS lookup that can hang offline.
            smtp = smtplib.SMTP(
                self.host,
                self.port,
                timeout=self.timeout_s,
                local_hostname=self.local_hostname or socket.gethostname() or "localhost",
            )
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(f"{self.host}:{self.port}: {first_line(exc)}") from exc
        try:
            self._open(smtp)
            self._envelope(smtp, message)
            return self._data(smtp, payload, message.to)
        finally:
            with contextlib.suppress(OSError):
                smtp.close()

    def lookup(self, message: OutgoingMessage) -> Lookup:
        return "unknown"  # SMTP has no way to ask a relay what it accepted

    def _open(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.ehlo()
            if self.starttls:
                if not smtp.has_extn("starttls"):
                    raise MailRefused(f"{self.host}:{self.port} does not offer STARTTLS")
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailRefused(f"AUTH refused: {exc.smtp_code}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise MailRefused(f"STARTTLS: {first_line(exc)}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MailRefused(f"{self.host}:{self.port}: {first_line(exc)}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _answer(exc.smtp_code, exc.smtp_error, "EHLO") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(f"{self.host}:{self.port}: {first_line(exc)}") from exc

    def _tls_context(self) -> ssl.SSLContext:
        # Made once: loading the CA bundle costs milliseconds of CPU, and a context is safe to
        # share between connections and threads once configured.
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=self.ca_bundle)
        return self._tls

    def _envelope(self, smtp: smtplib.SMTP, message: OutgoingMessage) -> None:
        try:
            code, reply = smtp.mail(message.sender)
            if code != 250:
                raise _answer(code, reply, "MAIL FROM")
            code, reply = smtp.rcpt(message.to)
            if code not in (250, 251):
                if 500 <= code < 600:
                    raise RecipientRefused(message.to, _text(reply), code)
                raise _answer(code, reply, "RCPT TO")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise MailUnavailable(f"{self.host}:{self.port}: {first_line(exc)}") from exc

    def _data(self, smtp: smtplib.SMTP, payload: bytes, to: str) -> str:
        """DATA by hand (smtplib.SMTP.data, split where the doubt begins)."""
        try:
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                raise _answer(code, reply, "DATA")
            body = re.sub(rb"(?m)^\.", b"..", payload)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body + b".\r\n")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            # The terminating "." was not (entirely) sent: the server discards the message.
            raise MailUnavailable(f"{self.host}:{self.port}: {first_line(exc)}") from exc
        try:
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise DeliveryInDoubt(
                f"{self.host}:{self.port}: no answer after the message was sent ({first_line(exc)})"
            ) from exc
        if code != 250:
            raise _answer(code, reply, "end of DATA")
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()  # accepted already: a lost QUIT changes nothing
        return f"{code} {_text(reply)}"


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:200]


def _answer(code: int, reply: bytes | str, step: str) -> MailUnavailable | MailRefused:
    """A server's refusal at `step`: 4xx try again later, 5xx this is the answer."""
    if 400 <= code < 500 or code == -1:
        return MailUnavailable(f"{step}: {code} {_text(reply)}")
    return MailRefused(f"{step}: {code} {_text(reply)}")


# Azure Communication Services Email --------------------------------------------------------
ACS_API_VERSION = "2025-09-01"


class AcsTransport:
    """Azure Communication Services Email (azure-communication-email), authenticated with a
    managed identity. The send's `Operation-Id` is derived from the delivery key, so a
    repeated send of the same delivery answers 409 (already accepted) instead of mailing
    again, and `lookup()` reads the operation back."""

    name = "acs"

    def __init__(self, endpoint: str, credential: TokenCredential, **client_options: Any) -> None:
        from azure.communication.email import EmailClient

        self.endpoint = endpoint.rstrip("/")
        self._client = EmailClient(self.endpoint, credential, **client_options)

    @classmethod
    def from_settings(cls, settings: Settings) -> AcsTransport:
        if settings.acs_endpoint is None:
            raise ConfigurationError("acs_endpoint is not set")
        return cls(
            str(settings.acs_endpoint),
            _credential(settings),
            retry_total=1,
            connection_timeout=5,
            read_timeout=20,
        )

    def send(self, message: OutgoingMessage) -> str:
        body = {
            "senderAddress": message.sender,
            "recipients": {"to": [{"address": message.to, "displayName": message.to_name}]},
            "content": {
                "subject": message.subject,
                "plainText": message.text,
                "html": message.html,
            },
            "replyTo": [{"address": message.reply_to}],
            "headers": {"x-cspflow-message-id": message.message_id, **message.headers},
            "userEngagementTrackingDisabled": True,
        }
        try:
            self._client.begin_send(body, operation_id=message.operation_id, polling=False)
        except ResourceExistsError:
            return message.operation_id  # this delivery's operation exists: accepted before
        except ClientAuthenticationError as exc:
            raise MailRefused(f"ACS refused the credentials: {first_line(exc)}") from exc
        except ServiceResponseError as exc:
            raise DeliveryInDoubt(f"ACS: no answer to the send ({first_line(exc)})") from exc
        except ServiceRequestError as exc:
            raise MailUnavailable(f"ACS: {first_line(exc)}") from exc
        except HttpResponseError as exc:
            raise _acs_answer(exc) from exc
        return message.operation_id

    def lookup(self, message: OutgoingMessage) -> Lookup:
        request = HttpRequest(
            "GET",
            f"{self.endpoint}/emails/operations/{message.operation_id}",
            params={"api-version": ACS_API_VERSION},
        )
        try:
            response = self._client.send_request(request)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise MailUnavailable(f"ACS: {first_line(exc)}") from exc
        if response.status_code == 404:
            return "absent"
        if response.status_code == 200:
            return "accepted"
        if response.status_code in (401, 403):
            raise MailRefused(f"ACS refused the credentials: {response.status_code}")
        raise MailUnavailable(f"ACS operation status: {response.status_code}")


def _acs_answer(exc: HttpResponseError) -> MailUnavailable | MailRefused:
    status = exc.status_code or 0
    code = getattr(exc, "error", None) and getattr(exc.error, "code", None)
    detail = f"ACS {status} {code or exc.reason or ''}".strip()
    if status == 429 or status >= 500 or status == 0:
        return MailUnavailable(detail)
    return MailRefused(detail)


def _credential(settings: Settings) -> TokenCredential:
    # The user-assigned identity infra/bicep attaches (the one AzureWebJobsStorage uses).
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if settings.storage_client_id:
        return ManagedIdentityCredential(client_id=settings.storage_client_id)
    return DefaultAzureCredential()


def transport_from_settings(settings: Settings) -> Transport:
    if settings.mail_transport == "acs":
        return AcsTransport.from_settings(settings)
    return SmtpTransport.from_settings(settings)


def message_id_for(key: str, sender: str) -> str:
    """`<n.<40 letters>@<sender's domain>>`, from the delivery key: the same for every attempt
    of one delivery, so a copy that slips through is recognisable as the same message."""
    domain = sender.rsplit("@", 1)[-1] or "cspflow.invalid"
    return f"<n.{_letters(key)}@{domain}>"


_HEX_TO_LETTERS = str.maketrans("0123456789abcdef", "ghijklmnopabcdef")


def _letters(key: str) -> str:
    """40 characters of the key's SHA-256, spelt in letters (a-p) so that no run of digits
    in a header can look like a card number."""
    return hashlib.sha256(key.encode()).hexdigest()[:40].translate(_HEX_TO_LETTERS)
