"""The SQLite state every sandbox keeps: one connection, one lock, explicit transactions.

One connection per sandbox, shared by its HTTP handlers and background loop behind the
store's lock (hence `check_same_thread=False`); autocommit mode so `transaction()`'s
`BEGIN IMMEDIATE` ... `COMMIT` delimit transactions; WAL with synchronous=NORMAL, so a
committed transaction survives the process being killed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path, schema: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


class SqliteStore:
    """Base of the sandboxes' stores: `transaction()` makes several calls land together."""

    def __init__(self, path: Path, schema: str) -> None:
        self._db = connect(path, schema)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _commit_despite(self, exc: BaseException) -> bool:
        """Whether an exception leaving a transaction still commits it (default: never)."""
        return False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException as exc:
                self._db.execute("COMMIT" if self._commit_despite(exc) else "ROLLBACK")
                raise
            self._db.execute("COMMIT")
