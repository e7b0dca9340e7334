"""The SQLite connection every sandbox keeps its state in.

One connection per sandbox, shared by its HTTP handlers and background loop behind the
caller's lock (hence `check_same_thread=False`); autocommit mode so the caller's explicit
`BEGIN IMMEDIATE` ... `COMMIT` delimit transactions; WAL with synchronous=NORMAL, so a
committed transaction survives the process being killed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, schema: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
