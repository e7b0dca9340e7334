"""SQLite persistence of the engine (WAL). Only the engine's thread writes.

The engine keeps its working state in memory and writes every change through a `Batch`:
the statements of one step (the episodes of several instances, the activity results that
fed them, the messages they send) commit in one transaction, so an episode's history
append, its outgoing messages and the instance's status change land together or not at
all, and one fsync covers many instances (group commit). On start the engine reads
everything back (`load`).
"""

from __future__ import annotations

import functools
import itertools
import re
import sqlite3
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.history import encode_event

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    parent TEXT
);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    events TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    due TEXT
);
CREATE TABLE IF NOT EXISTS work (
    seq INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT PRIMARY KEY,
    state TEXT,
    exists_ INTEGER NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entity_ops (
    seq INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL,
    body TEXT NOT NULL
);
"""

Statement = tuple[str, tuple[Any, ...]]


class JsonText:
    """A statement parameter stored as the JSON text of `value` (an event, so acyclic: see
    `encode_event`), encoded only when the statement reaches SQLite (sqlite3's `__conform__`
    adaptation): a message row withdrawn from its batch (`Batch.discard`) is never encoded.
    `value` must not change before the commit."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __conform__(self, protocol: object) -> str | None:
        return encode_event(self.value) if protocol is sqlite3.PrepareProtocol else None


_TABLE = re.compile(r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|DELETE\s+FROM|UPDATE)\s+(\w+)", re.I)


@functools.lru_cache(maxsize=256)
def _table(sql: str) -> str:
    """The table a write statement changes."""
    match = _TABLE.match(sql)
    if match is None:
        raise ValueError(f"not a single-table write statement: {sql!r}")
    return match.group(1).lower()


@dataclass
class Batch:
    """Statements of one transaction, in order.

    A statement added under a key (`add_keyed`) can be withdrawn before the commit
    (`discard`): the engine writes a message row when a message is sent and deletes it when
    an episode consumes it, and when both happen in the same transaction neither statement
    needs to reach SQLite (the committed state is the same)."""

    statements: list[Statement | None] = field(default_factory=list)
    _keyed: dict[Hashable, int] = field(default_factory=dict)
    _withdrawn: int = 0

    def add(self, sql: str, *params: Any) -> None:
        self.statements.append((sql, params))

    def add_keyed(self, key: Hashable, sql: str, *params: Any) -> None:
        self._keyed[key] = len(self.statements)
        self.statements.append((sql, params))

    def discard(self, key: Hashable) -> bool:
        """Withdraw the statement added under `key`; False if there is none."""
        index = self._keyed.pop(key, None)
        if index is None:
            return False
        self.statements[index] = None
        self._withdrawn += 1
        return True

    def __bool__(self) -> bool:
        return len(self.statements) > self._withdrawn


class Store:
    """One SQLite database file in WAL mode.

    `synchronous="NORMAL"` (default): every committed transaction survives a crash or
    SIGKILL of the host process (the WAL is written before COMMIT returns); only an OS crash
    or power loss can lose the last commits. `"FULL"` adds an fsync per commit to survive
    those too, at a few milliseconds per commit (see bench/devhost.py for both)."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("FULL", "NORMAL", "OFF"):
            raise ValueError(f"synchronous must be FULL, NORMAL or OFF, not {synchronous!r}")
        self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._conn.executescript(SCHEMA)

    def commit(self, batch: Batch) -> None:
        if not batch:
            return
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Runs of the same statement go through executemany (one prepare, one call).
                # Statements on different tables commute (no triggers, no foreign keys), so
                # a stable sort by table keeps each table's order and makes the rows of one
                # statement adjacent: one executemany per run instead of one execute per
                # row (a step of many episodes interleaves history, instances, work).
                live = sorted(
                    (st for st in batch.statements if st is not None),
                    key=lambda st: _table(st[0]),
                )
                for sql, group in itertools.groupby(live, key=lambda st: st[0]):
                    rows = [params for _, params in group]
                    if len(rows) == 1:
                        conn.execute(sql, rows[0])
                    else:
                        conn.executemany(sql, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, params))

    def max_seq(self, table: str) -> int:
        (row,) = self.query(f"SELECT COALESCE(MAX(seq), 0) FROM {table}")
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
