"""Every message the sandbox received, in SQLite (`<data>/mail.sqlite3`).

A message is kept as it arrived (the raw bytes of DATA) with its envelope, the time on the
sandbox's clock, and whether the sender saw an error (a dropped connection after DATA keeps
the message: the sender did not hear so). A message whose Message-ID an earlier one already
carried is a duplicate: `duplicate_of` names the first, so a second send of one notice is
visible to whoever counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sandbox.common.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_to TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sender_saw_error INTEGER NOT NULL DEFAULT 0,
    peer TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_message_id ON messages(message_id);
"""


@dataclass(frozen=True)
class Stored:
    id: int
    received_at: str
    mail_from: str
    rcpt_to: list[str]
    subject: str
    message_id: str
    sender_saw_error: bool
    peer: str
    raw: bytes
    duplicate_of: int | None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at,
            "from": self.mail_from,
            "to": self.rcpt_to,
            "subject": self.subject,
            "message_id": self.message_id,
            "duplicate_of": self.duplicate_of,
            "sender_saw_error": self.sender_saw_error,
            "size": len(self.raw),
        }

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.raw, policy=email_policy.default)
        assert isinstance(message, EmailMessage)
        return message

    def detail(self) -> dict[str, Any]:
        message = self.parsed()
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        return {
            **self.summary(),
            "headers": [[name, str(value)] for name, value in message.items()],
            # Line ends as a reader sees them (SMTP carries CRLF).
            "text": _lines(text.get_content()) if text is not None else None,
            "html": _lines(html.get_content()) if html is not None else None,
        }


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n")


def header_of(raw: bytes, name: str) -> str:
    message = message_from_bytes(raw, policy=email_policy.default)
    value = message.get(name)
    return " ".join(str(value).split()) if value is not None else ""


class MailStore(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    def add(
        self,
        *,
        received_at: str,
        mail_from: str,
        rcpt_to: list[str],
        raw: bytes,
        peer: str,
        sender_saw_error: bool = False,
    ) -> int:
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO messages (received_at, mail_from, rcpt_to, subject, message_id,"
                " sender_saw_error, peer, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    received_at,
                    mail_from,
                    json.dumps(rcpt_to),
                    header_of(raw, "Subject"),
                    header_of(raw, "Message-ID"),
                    int(sender_saw_error),
                    peer,
                    raw,
                ),
            )
            return int(cursor.lastrowid or 0)

    def find(
        self,
        *,
        to: str | None = None,
        subject: str | None = None,
        message_id: str | None = None,
        distinct: bool = False,
    ) -> list[Stored]:
        found = [m for m in self._all() if _matches(m, to, subject, message_id)]
        if distinct:
            found = [m for m in found if m.duplicate_of is None]
        return found

    def get(self, message_id: int) -> Stored | None:
        return next((m for m in self._all() if m.id == message_id), None)

    def delete_all(self) -> int:
        with self.transaction():
            return self._db.execute("DELETE FROM messages").rowcount

    def _all(self) -> list[Stored]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received_at, mail_from, rcpt_to, subject, message_id,"
                " sender_saw_error, peer, raw FROM messages ORDER BY id"
            ).fetchall()
        first: dict[str, int] = {}
        stored = []
        for row in rows:
            mid = row[5]
            duplicate_of = first.get(mid) if mid else None
            if mid and mid not in first:
                first[mid] = row[0]
            stored.append(
                Stored(
                    id=row[0],
                    received_at=row[1],
                    mail_from=row[2],
                    rcpt_to=json.loads(row[3]),
                    subject=row[4],
                    message_id=mid,
                    sender_saw_error=bool(row[6]),
                    peer=row[7],
                    raw=bytes(row[8]),
                    duplicate_of=duplicate_of,
                )
            )
        return stored


def _matches(m: Stored, to: str | None, subject: str | None, message_id: str | None) -> bool:
    if to and to.strip().lower() not in (r.lower() for r in m.rcpt_to):
        return False
    if subject and subject.lower() not in m.subject.lower():
        return False
    return not (message_id and message_id.strip() != m.message_id)
