"""The SMTP side: aiosmtpd on loopback, every message kept, faults on request.

STARTTLS is offered when the sandbox has a certificate (`--starttls`); AUTH (PLAIN, LOGIN)
is required after STARTTLS when it has credentials (`--require-auth`), as a real relay
(Exchange Online, ACS SMTP, SendGrid) requires both.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from sandbox.mail.faults import Faults
from sandbox.mail.store import MailStore

Now = Callable[[], Awaitable[datetime]]


class _NoLoginDataNotice(logging.Filter):
    """aiosmtpd 1.4 sets its own deprecated Session.login_data after every successful AUTH
    and logs a warning each time: noise in every test log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Session.login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_NoLoginDataNotice())


class Handler:
    def __init__(self, store: MailStore, faults: Faults, now: Now) -> None:
        self.store = store
        self.faults = faults
        self.now = now

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        delay = self.faults.take_delay("ehlo")
        if delay:
            await asyncio.sleep(delay)
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.faults.refusal(address)
        if refusal is not None:
            return f"{refusal.code} {refusal.text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        when = await self.now()
        drop = self.faults.take_drop()
        raw = envelope.original_content or b""
        stored = await asyncio.to_thread(
            self.store.add,
            received_at=when.isoformat(),
            mail_from=envelope.mail_from or "",
            rcpt_to=list(envelope.rcpt_tos),
            raw=raw,
            peer=str(session.peer[0]) if session.peer else "",
            sender_saw_error=drop,
        )
        if drop:
            # Kept, and the connection cut before the answer: the sender sees an error.
            # Cancelling the session task is how aiosmtpd ends a connection lost mid-command.
            if isinstance(server.transport, asyncio.Transport):
                server.transport.abort()
            raise asyncio.CancelledError
        delay = self.faults.take_delay("data")
        if delay:
            await asyncio.sleep(delay)
        return f"250 2.0.0 Ok: queued as {stored}"


class Authenticator:
    """AUTH PLAIN / LOGIN against one user name and password (compared in constant time)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username.encode()
        self.password = password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = secrets.compare_digest(auth_data.login, self.username) and secrets.compare_digest(
            auth_data.password, self.password
        )
        return AuthResult(success=ok, handled=False)


def smtp_factory(
    handler: Handler,
    *,
    tls: ssl.SSLContext | None,
    credentials: tuple[str, str] | None,
    loop: asyncio.AbstractEventLoop,
) -> Callable[[], SMTP]:
    def make() -> SMTP:
        return SMTP(
            handler,
            hostname="mail-sandbox.localhost",
            ident="cspflow mail sandbox",
            tls_context=tls,
            require_starttls=tls is not None and credentials is not None,
            auth_required=credentials is not None,
            auth_require_tls=True,
            authenticator=Authenticator(*credentials) if credentials else None,
            timeout=60,
            loop=loop,
        )

    return make
