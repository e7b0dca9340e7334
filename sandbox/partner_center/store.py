"""The sandbox's state: one SQLite file under --data, JSON documents plus a few tables.

All access goes through one connection behind a lock: the aiohttp handlers and the
background loop share it, and every public method is one short transaction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.common.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL, id TEXT NOT NULL, parent TEXT, body TEXT NOT NULL,
    seq INTEGER NOT NULL, PRIMARY KEY (kind, id));
CREATE INDEX IF NOT EXISTS docs_parent ON docs (kind, parent, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, charge_date TEXT NOT NULL, body TEXT NOT NULL,
    invoice_id TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL, due_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending',
    last_status INTEGER);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, due_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

Doc = dict[str, Any]


class Store(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    # documents -------------------------------------------------------------------------
    def put(self, kind: str, doc_id: str, body: Doc, parent: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO docs (kind, id, parent, body, seq) VALUES (?, ?, ?, ?,"
                " (SELECT COALESCE(MAX(seq), 0) + 1 FROM docs))"
                " ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                (kind, doc_id, parent, json.dumps(body)),
            )

    def put_many(self, kind: str, docs: list[tuple[str, Doc, str | None]]) -> None:
        """Insert or replace many documents of one kind at once: (id, body, parent) each,
        in that order (seed data: thousands in a fraction of a second)."""
        with self._lock:
            (last,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM docs").fetchone()
            self._db.executemany(
                "INSERT INTO docs (kind, id, parent, body, seq) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                [
                    (kind, doc_id, parent, json.dumps(body), last + n)
                    for n, (doc_id, body, parent) in enumerate(docs, start=1)
                ],
            )

    def get(self, kind: str, doc_id: str) -> Doc | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM docs WHERE kind = ? AND id = ?", (kind, doc_id)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def all(self, kind: str, parent: str | None = None) -> list[Doc]:
        with self._lock:
            if parent is None:
                rows = self._db.execute(
                    "SELECT body FROM docs WHERE kind = ? ORDER BY seq", (kind,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT body FROM docs WHERE kind = ? AND parent = ? ORDER BY seq",
                    (kind, parent),
                ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def count(self, kind: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM docs WHERE kind = ?", (kind,)).fetchone()
        return int(row[0])

    # idempotency -----------------------------------------------------------------------
    def remembered(self, key: str) -> tuple[int, dict[str, str], bytes] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status, headers, body FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return int(row[0]), dict(json.loads(row[1])), bytes(row[2])

    def remember(self, key: str, status: int, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO idempotency (key, status, headers, body) VALUES (?, ?, ?, ?)",
                (key, status, json.dumps(headers), body),
            )

    # ledger ----------------------------------------------------------------------------
    def charge(self, charge_date: str, body: Doc) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO ledger (charge_date, body) VALUES (?, ?)",
                (charge_date, json.dumps(body)),
            )

    def ledger(self, invoice_id: str | None = None) -> list[Doc]:
        with self._lock:
            if invoice_id is not None:
                rows = self._db.execute(
                    "SELECT body FROM ledger WHERE invoice_id = ? ORDER BY seq", (invoice_id,)
                ).fetchall()
            else:
                rows = self._db.execute("SELECT body FROM ledger ORDER BY seq").fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def ledger_between(self, start: str, end: str | None) -> list[Doc]:
        """Charges dated from `start` (inclusive) to `end` (exclusive; None: no end)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM ledger WHERE charge_date >= ?"
                " AND (? IS NULL OR charge_date < ?) ORDER BY seq",
                (start, end, end),
            ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def bill(self, before: str, invoice_id: str) -> int:
        """Attach every unbilled charge dated before `before` to an invoice."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE ledger SET invoice_id = ? WHERE invoice_id IS NULL AND charge_date < ?",
                (invoice_id, before),
            )
        return int(cur.rowcount)

    # webhook outbox --------------------------------------------------------------------
    def enqueue(self, body: bytes, due_at: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO outbox (body, due_at) VALUES (?, ?)", (body, due_at))

    def due(self, now: str, limit: int = 50) -> list[tuple[int, bytes, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body, attempts FROM outbox WHERE state = 'pending' AND due_at <= ?"
                " ORDER BY due_at, seq LIMIT ?",
                (now, limit),
            ).fetchall()
        return [(int(r[0]), bytes(r[1]), int(r[2])) for r in rows]

    def attempted(self, seq: int, status: int | None, state: str, next_due: str | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_status = ?, state = ?,"
                " due_at = COALESCE(?, due_at) WHERE seq = ?",
                (status, state, next_due, seq),
            )

    def outbox(self) -> list[Doc]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body, due_at, attempts, state, last_status FROM outbox ORDER BY seq"
            ).fetchall()
        return [
            {
                "seq": r[0],
                "event": json.loads(r[1]),
                "dueAt": r[2],
                "attempts": r[3],
                "state": r[4],
                "lastStatus": r[5],
            }
            for r in rows
        ]

    # meta ------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def next_number(self, key: str) -> int:
        with self._lock:
            current = int(self.meta(key) or "0") + 1
            self.set_meta(key, str(current))
            return current
