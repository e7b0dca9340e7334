"""The sandbox's state in one SQLite file: objects, idempotent results, webhook deliveries.

Every API object is a JSON document keyed by its id; `seq` orders lists newest first (Stripe's
order) even when many objects share a `created` second of virtual time. `extra` holds what the
sandbox needs but Stripe does not show (a test card's scripted behaviour, counters, an
invoice's retry schedule and reminders sent). Scripted declines are objects of their own
(`sandbox.decline`), never listed by the API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from sandbox.common.sqlite import SqliteStore

JSON = dict[str, Any]


class Due(NamedTuple):
    """A webhook delivery to make now."""

    event_id: str
    url: str
    attempts: int
    first_at: float
    copy: bool  # a duplicate of an event already delivered
    rolled: bool  # duplicate / out-of-order already decided


_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS objects_type ON objects (type, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    api_key TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    params TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (api_key, key)
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_at REAL NOT NULL,
    next_at REAL,
    state TEXT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    rolled INTEGER NOT NULL DEFAULT 0,
    copies_left INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


# Columns added to `deliveries` since its first version: a state folder from before gets them.
_DELIVERY_COLUMNS = {
    "rolled": "INTEGER NOT NULL DEFAULT 0",  # duplicate / out-of-order decided for it
    "copies_left": "INTEGER NOT NULL DEFAULT 0",  # duplicates still to send once delivered
    "held": "INTEGER NOT NULL DEFAULT 0",  # held back so that a later event overtakes it
}


class Store(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)
        with self._lock:
            have = {row[1] for row in self._db.execute("PRAGMA table_info(deliveries)")}
            for name, decl in _DELIVERY_COLUMNS.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE deliveries ADD COLUMN {name} {decl}")

    def _commit_despite(self, exc: BaseException) -> bool:
        return bool(getattr(exc, "commit", False))  # a card decline is a result: keep it

    # objects ---------------------------------------------------------------------------
    def insert(self, obj: JSON, extra: JSON | None = None) -> JSON:
        with self._lock:
            self._db.execute(
                "INSERT INTO objects (id, type, data, extra) VALUES (?, ?, ?, ?)",
                (obj["id"], obj["object"], json.dumps(obj), json.dumps(extra or {})),
            )
        return obj

    def save(self, obj: JSON) -> JSON:
        with self._lock:
            self._db.execute(
                "UPDATE objects SET data = ? WHERE id = ?", (json.dumps(obj), obj["id"])
            )
        return obj

    def get(self, object_id: str) -> JSON | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM objects WHERE id = ?", (object_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def extra(self, object_id: str) -> JSON:
        with self._lock:
            row = self._db.execute(
                "SELECT extra FROM objects WHERE id = ?", (object_id,)
            ).fetchone()
        return {} if row is None else dict(json.loads(row[0]))

    def set_extra(self, object_id: str, extra: JSON) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE objects SET extra = ? WHERE id = ?", (json.dumps(extra), object_id)
            )

    def seq(self, object_id: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT seq FROM objects WHERE id = ?", (object_id,)).fetchone()
        return None if row is None else int(row[0])

    def query(
        self,
        type_: str,
        where: dict[str, Any] | None = None,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[JSON]:
        """Objects of one type whose top-level fields equal `where` (JSON paths allowed)."""
        sql = "SELECT data FROM objects WHERE type = ?"
        args: list[Any] = [type_]
        for field, value in (where or {}).items():
            if value is None:
                sql += f" AND json_extract(data, '$.{field}') IS NULL"
            else:
                sql += f" AND json_extract(data, '$.{field}') = ?"
                args.append(value)
        if before_seq is not None:
            sql += " AND seq < ?"
            args.append(before_seq)
        if after_seq is not None:
            sql += " AND seq > ?"
            args.append(after_seq)
        sql += " ORDER BY seq " + ("DESC" if newest_first else "ASC")
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def query_with_extra(self, type_: str, where: dict[str, Any]) -> list[tuple[JSON, JSON]]:
        """Objects of one type whose top-level fields equal `where`, each with its `extra`."""
        sql = "SELECT data, extra FROM objects WHERE type = ?"
        args: list[Any] = [type_]
        for field, value in where.items():
            sql += f" AND json_extract(data, '$.{field}') = ?"
            args.append(value)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [(json.loads(r[0]), json.loads(r[1])) for r in rows]

    def next_number(self, name: str) -> int:
        with self._lock:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (name,),
            )
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    # idempotency -----------------------------------------------------------------------
    def idempotent_result(
        self, api_key: str, key: str, *, not_before: float
    ) -> tuple[str, str, str, int, str] | None:
        """The saved result of `key`, unless it is older than `not_before` (then pruned)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM idempotency WHERE api_key = ? AND key = ? AND created < ?",
                (api_key, key, not_before),
            )
            row = self._db.execute(
                "SELECT method, path, params, status, body FROM idempotency "
                "WHERE api_key = ? AND key = ?",
                (api_key, key),
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2], int(row[3]), row[4])

    def remember(
        self,
        api_key: str,
        key: str,
        request: tuple[str, str, str],
        response: tuple[int, str],
        at: float,
    ) -> None:
        method, path, params = request
        status, body = response
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (api_key, key, method, path, params, status, body, at),
            )

    # webhook deliveries ----------------------------------------------------------------
    def enqueue_delivery(self, event_id: str, url: str, at: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO deliveries (event_id, url, first_at, next_at, state) "
                "VALUES (?, ?, ?, ?, 'pending')",
                (event_id, url, at, at),
            )

    def due_deliveries(self, now: float) -> list[Due]:
        """Pending deliveries whose time has come, then duplicates still to send."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, url, attempts, first_at, state, rolled FROM deliveries "
                "WHERE (state = 'pending' AND next_at <= ?) "
                "OR (state = 'delivered' AND copies_left > 0) "
                "ORDER BY state = 'delivered', next_at, rowid",
                (now,),
            ).fetchall()
        return [
            Due(r[0], r[1], int(r[2]), float(r[3]), r[4] == "delivered", bool(r[5])) for r in rows
        ]

    def roll_faults(self, event_id: str, *, copies: int, hold_until: float | None) -> None:
        """Record what was decided for a delivery's first attempt: extra copies to send once
        it is delivered, and whether it waits (until a later event is delivered, or
        `hold_until`)."""
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET rolled = 1, copies_left = ?, held = ?, "
                "next_at = COALESCE(?, next_at) WHERE event_id = ?",
                (copies, int(hold_until is not None), hold_until, event_id),
            )

    def release_held(self, now: float) -> int:
        """Held deliveries that a later event has overtaken become due now; how many."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE deliveries SET held = 0, next_at = ? WHERE held = 1 "
                "AND state = 'pending' AND rowid < (SELECT MAX(rowid) FROM deliveries "
                "WHERE held = 0 AND attempts > 0)",
                (now,),
            )
        return int(cursor.rowcount)

    def record_copy(self, event_id: str, *, status: int | None, error: str | None) -> None:
        """A duplicate of a delivered event was sent (whatever its answer: it is not retried)."""
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, copies_left = copies_left - 1, "
                "last_status = ?, last_error = ? WHERE event_id = ?",
                (status, error, event_id),
            )

    def record_attempt(
        self,
        event_id: str,
        *,
        state: str,
        next_at: float | None,
        status: int | None,
        error: str | None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, state = ?, next_at = ?, "
                "last_status = ?, last_error = ?, held = 0 WHERE event_id = ?",
                (state, next_at, status, error, event_id),
            )

    def deliveries(self) -> list[JSON]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, url, attempts, first_at, next_at, state, last_status, last_error, "
                "copies_left, held FROM deliveries ORDER BY rowid"
            ).fetchall()
        keys = (
            "event",
            "url",
            "attempts",
            "first_at",
            "next_at",
            "state",
            "last_status",
            "error",
            "copies_left",
            "held",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def delivery_state(self, event_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state FROM deliveries WHERE event_id = ?", (event_id,)
            ).fetchone()
        return None if row is None else str(row[0])
