"""What every repository of the book shares: records stored as JSON plus the columns queries
filter on, optimistic concurrency, secondary indexes kept on every write, paged listings, and
the customer's timeline noted after each write.

Records
    A record is a pydantic model stored under (PartitionKey, RowKey) with its JSON
    (`Json*`, see _table.py), a `Version` counter (1 on insert, +1 on every replace) and the
    few columns its queries filter on. `Stored` is a record as read: with its ETag and version.

Concurrency
    `replace(stored, new)` writes only if the entity is still the one `stored` was read from
    (ETag, `If-Match`); otherwise `ConcurrencyConflict`, and nothing is lost: the other
    writer's version stays. `update(keys, fn)` is the read-modify-write loop every writer
    should use: read, apply `fn`, replace; on a conflict read again and re-apply `fn`. When
    `fn` changes nothing, nothing is written. `add` inserts (the id must be new); `ensure`
    is `add` for client-chosen ids: the same record again is "already done", another record
    under the same id is `RecordExists`.

Indexes
    An `Index` is a second table whose keys serve another query (subscriptions by term-end
    day, open dunning cases, ...); each row points at its record. A write keeps them: the
    new index row first, then the record (ETag-checked), then the old row is removed (only
    if no later writer has claimed it meanwhile: rows carry the version that wrote them).
    A crash or a conflict between these steps can leave a row that no longer matches its
    record, never a record without its row; readers check each row against its record and
    skip the stale ones (they do not delete them: a reader cannot tell a stale row from one a
    writer is about to make true). For the same reason queries select index rows by their
    keys, never by the columns a row carries besides them (a refused write may have left
    those columns out of date), except for a column that never changes for the record.

Timeline
    A repository may say which timeline entry a record's current state stands for
    (`timeline_entry`). After each write, and after an `update` or `ensure` that found the
    work already done, that entry is appended; appending is idempotent by the entry's id, so
    a step retried after a crash between the two writes completes the timeline without
    duplicating it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from azure.data.tables import TableEntity, TableServiceClient
from pydantic import BaseModel

from shared.book._table import Entity, Table, check_size, json_properties, json_text
from shared.book.errors import ConcurrencyConflict, RecordExists, RecordNotFound
from shared.book.keys import unkey
from shared.clock import Clock
from shared.models.timeline import TimelineEntry

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
Keys = tuple[str, str]

DEFAULT_LIMIT = 100
MAX_BATCH = 100  # operations in one entity group transaction
READ_THREADS = 8  # the SDK's HTTP connection pool holds 10
UPDATE_ATTEMPTS = 6
BACKOFF_S = 0.005


def backoff(attempt: int) -> None:
    """A short random pause before writer `attempt` + 1 re-reads, so writers that collided
    do not collide again in lockstep (at most 5, 10, 20, 40, 80 ms)."""
    time.sleep(random.uniform(0, BACKOFF_S * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Stored(Generic[M]):
    """A record as read from the book: `etag` is what a replace must match."""

    record: M
    etag: str
    version: int


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `next` continues it (None: nothing more)."""

    items: list[T]
    next: str | None = None


def every(read: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paged listing, page after page: `read(cursor)` reads one page (None:
    the first), as `lambda next: book.subscriptions.of_customer(c, next=next)`."""
    cursor: str | None = None
    while True:
        page = read(cursor)
        yield from page.items
        cursor = page.next
        if cursor is None:
            return


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """The outcome of writing a one-time fact: the record the book holds, and whether it
    was there already (then `record` is the one written first)."""

    record: T
    already_done: bool


def _no_columns(record: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Index(Generic[M]):
    """A table that finds records by `key(record)` (None: the record is not indexed)."""

    table: str
    key: Callable[[M], Keys | None]
    columns: Callable[[M], dict[str, Any]] = _no_columns


class TimelineWriter(Protocol):
    def append(self, entry: TimelineEntry) -> Recorded[TimelineEntry]: ...


class Tables:
    """The deployment's tables: one service client, names carrying `settings.table_prefix`."""

    def __init__(self, service: TableServiceClient, prefix: str) -> None:
        self.service = service
        self.prefix = prefix
        self._tables: dict[str, Table] = {}

    def table(self, name: str) -> Table:
        if name not in self._tables:
            self._tables[name] = Table(self.service, f"{self.prefix}{name}")
        return self._tables[name]


class Repository(Generic[M]):
    """The records of one aggregate in one table (plus its indexes)."""

    model: type[M]
    table_name: ClassVar[str]
    noun: ClassVar[str]
    indexes: tuple[Index[M], ...] = ()

    def __init__(self, tables: Tables, clock: Clock, timeline: TimelineWriter | None = None):
        self._tables = tables
        self._clock = clock
        self._timeline = timeline
        self.table = tables.table(self.table_name)

    # -- what each aggregate says about itself ----------------------------------------------

    def keys(self, record: M) -> Keys:
        raise NotImplementedError

    def columns(self, record: M) -> dict[str, Any]:
        """The columns queries filter on, besides the keys."""
        return {}

    def timeline_entry(self, record: M, at: datetime) -> TimelineEntry | None:
        """The timeline entry the record's current state stands for, if any."""
        return None

    def describe(self, keys: Keys) -> str:
        """How messages name a record: `subscription s-1 of customer c-1 (table ...)`."""
        pk, rk = (unkey(k) for k in keys)
        return f"{self.noun} {pk}{'/' + rk if rk else ''} (table {self.table.name})"

    # -- the entity -------------------------------------------------------------------------

    def _entity(self, record: M, version: int) -> Entity:
        pk, rk = self.keys(record)
        return {
            "PartitionKey": pk,
            "RowKey": rk,
            "Version": version,
            **self.columns(record),
            **json_properties(record.model_dump_json()),
        }

    def _stored(self, entity: TableEntity) -> Stored[M]:
        record = self.model.model_validate_json(json_text(entity))
        return Stored(record, str(entity.metadata["etag"]), int(entity.get("Version", 1)))

    # -- reads ------------------------------------------------------------------------------

    def _find(self, keys: Keys) -> Stored[M] | None:
        entity = self.table.get(*keys, what=self.describe(keys))
        return None if entity is None else self._stored(entity)

    def _get(self, keys: Keys) -> Stored[M]:
        stored = self._find(keys)
        if stored is None:
            raise RecordNotFound(f"{self.describe(keys)} is not in the book")
        return stored

    def _page(
        self, query: str, parameters: Mapping[str, Any], limit: int, cursor: str | None
    ) -> Page[M]:
        page = self._stored_page(query, parameters, limit, cursor)
        return Page([stored.record for stored in page.items], page.next)

    def _stored_page(
        self, query: str, parameters: Mapping[str, Any], limit: int, cursor: str | None
    ) -> Page[Stored[M]]:
        """A page of records as read, with their ETags (for a writer that replaces them)."""
        found, next_cursor = self.table.query(
            query, parameters, limit=limit, cursor=cursor, what=f"{self.noun} listing"
        )
        return Page([self._stored(entity) for entity in found], next_cursor)

    def _index_page(
        self,
        index: Index[M],
        query: str,
        parameters: Mapping[str, Any],
        limit: int,
        cursor: str | None,
        accept: Callable[[M], bool] = lambda record: True,
    ) -> Page[M]:
        """A page of an index, each row checked against its record (stale rows skipped):
        one query on the index, then one point read per row it returned (READ_THREADS at a
        time: their latency, not their work, is what a page costs)."""
        rows, next_cursor = self._tables.table(index.table).query(
            query, parameters, limit=limit, cursor=cursor, what=f"{self.noun} index listing"
        )
        targets = [(row["RecordPk"], row["RecordRk"]) for row in rows]
        if len(targets) > 1:
            with ThreadPoolExecutor(min(READ_THREADS, len(targets))) as pool:
                found = list(pool.map(self._find, targets))
        else:
            found = [self._find(target) for target in targets]
        items = []
        for row, stored in zip(rows, found, strict=True):
            here = (row["PartitionKey"], row["RowKey"])
            if stored and index.key(stored.record) == here and accept(stored.record):
                items.append(stored.record)
        return Page(items, next_cursor)

    def _index_lookup(self, index: Index[M], keys: Keys) -> Stored[M] | None:
        row = self._tables.table(index.table).get(*keys, what=f"{self.noun} index row")
        if row is None:
            return None
        stored = self._find((row["RecordPk"], row["RecordRk"]))
        return stored if stored and index.key(stored.record) == keys else None

    # -- writes -----------------------------------------------------------------------------

    def add(self, record: M) -> Stored[M]:
        """Insert a new record; `RecordExists` if its keys are taken."""
        keys = self.keys(record)
        entity = self._entity(record, 1)
        what = self.describe(keys)
        check_size(entity, what)  # before any index row is written
        self._write_index_rows(None, record, keys, 1)
        etag = self.table.insert(entity, what)
        if etag is None:
            raise RecordExists(f"{what} exists already")
        self._note(record)
        return Stored(record, etag, 1)

    def _add_all(self, records: list[M]) -> bool:
        """Insert new records of one partition at once (a customer's subscriptions on its
        first sync): index rows first, as every write does, then the records in entity
        group transactions of up to 100. False, with nothing lost, when one of them exists
        already: the caller adds them one by one (records already in are left as they are;
        a transaction that failed wrote none of its records)."""
        if not records:
            return True
        entities = [self._entity(record, 1) for record in records]
        partitions = {entity["PartitionKey"] for entity in entities}
        if len(partitions) != 1:
            raise ValueError(f"{self.noun}s added at once share a partition")
        what = f"{len(records)} {self.noun}s of {next(iter(partitions))} (table {self.table.name})"
        for entity in entities:
            check_size(entity, what)
        for index in self.indexes:
            rows = []
            for record in records:
                index_key = index.key(record)
                if index_key is not None:
                    rows.append(self._index_row(index, record, index_key, self.keys(record), 1))
            self._tables.table(index.table).upsert_many(rows, f"{self.noun} index rows")
        for start in range(0, len(entities), MAX_BATCH):
            chunk = entities[start : start + MAX_BATCH]
            if not self.table.transact([("create", entity) for entity in chunk], what):
                return False
        for record in records:
            self._note(record)
        return True

    def ensure(self, record: M) -> Recorded[M]:
        """`add` for a client-chosen id: the same record again is already done; a different
        record under the same id is `RecordExists` (the API answers 409)."""
        try:
            return Recorded(self.add(record).record, already_done=False)
        except RecordExists:
            existing = self._get(self.keys(record))
            if existing.record != record:
                raise RecordExists(
                    f"{self.describe(self.keys(record))} exists already with other content"
                ) from None
            self._note(existing.record)
            return Recorded(existing.record, already_done=True)

    def _get_or_add(self, record: M) -> Recorded[M]:
        """The record under `record`'s keys if there is one (already done), else `record`
        added: for records a workflow opens once and then updates (a renewal, a dunning
        case, an SLA clock), where a second opening must not reset the first."""
        try:
            return Recorded(self.add(record).record, already_done=False)
        except RecordExists:
            existing = self._get(self.keys(record)).record
            self._note(existing)
            return Recorded(existing, already_done=True)

    def save(self, record: M) -> Stored[M]:
        """Add or replace, last writer wins: for data copied from a source that is always
        right about it (catalogue offers, price lists). Writes nothing when the book
        already holds exactly `record`."""
        keys = self.keys(record)
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            current = self._find(keys)
            try:
                if current is None:
                    return self.add(record)
                if current.record == record:
                    return current
                return self.replace(current, record)
            except (RecordExists, ConcurrencyConflict):
                if attempt == UPDATE_ATTEMPTS:
                    raise ConcurrencyConflict(
                        f"{self.describe(keys)}: {attempt} concurrent writes in a row"
                    ) from None
                backoff(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def replace(self, stored: Stored[M], new: M) -> Stored[M]:
        """Write `new` over the record `stored` was read as, if nobody wrote it since
        (`ConcurrencyConflict` otherwise, and nothing changes)."""
        keys = self.keys(stored.record)
        if self.keys(new) != keys:
            raise ValueError(f"{self.describe(keys)}: a replace cannot change the record's keys")
        version = stored.version + 1
        entity = self._entity(new, version)
        what = self.describe(keys)
        check_size(entity, what)
        self._write_index_rows(stored, new, keys, version)
        etag = self.table.replace(entity, stored.etag, what)
        self._drop_index_rows(stored, new, keys)
        self._note(new)
        return Stored(new, etag, version)

    def _update(self, keys: Keys, change: Callable[[M], M]) -> Stored[M]:
        """Read, apply `change`, replace; on a conflict read again and re-apply. `change`
        gets the current record and returns the new one (the same one: nothing is written).
        `ConcurrencyConflict` only after UPDATE_ATTEMPTS conflicts in a row."""
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            current = self._get(keys)
            new = change(current.record)
            if new == current.record:
                self._note(current.record)
                return current
            try:
                return self.replace(current, new)
            except ConcurrencyConflict:
                if attempt == UPDATE_ATTEMPTS:
                    raise
                backoff(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _load(self, records: Iterable[M]) -> int:
        """Load records in batches (index rows first, as every write does): for filling a
        book (a partner's existing subscriptions, a benchmark), not for concurrent writers.
        Existing records under the same keys are overwritten. Returns the records loaded."""
        records = list(records)
        for index in self.indexes:
            rows = []
            for record in records:
                index_key = index.key(record)
                if index_key is not None:
                    rows.append(self._index_row(index, record, index_key, self.keys(record), 1))
            self._tables.table(index.table).upsert_many(rows, f"{self.noun} index rows")
        return self.table.upsert_many(
            (self._entity(record, 1) for record in records), f"{self.noun} records"
        )

    # -- indexes and timeline ---------------------------------------------------------------

    def _write_index_rows(self, old: Stored[M] | None, new: M, keys: Keys, version: int) -> None:
        for index in self.indexes:
            new_key = index.key(new)
            if new_key is None:
                continue
            if (
                old is not None
                and index.key(old.record) == new_key
                and index.columns(old.record) == index.columns(new)
            ):
                continue  # the row is right as it is
            row = self._index_row(index, new, new_key, keys, version)
            self._tables.table(index.table).upsert(row, f"index row of {self.describe(keys)}")

    @staticmethod
    def _index_row(index: Index[M], record: M, index_key: Keys, keys: Keys, version: int) -> Entity:
        return {
            "PartitionKey": index_key[0],
            "RowKey": index_key[1],
            "RecordPk": keys[0],
            "RecordRk": keys[1],
            "Version": version,
            **index.columns(record),
        }

    def _drop_index_rows(self, old: Stored[M], new: M, keys: Keys) -> None:
        for index in self.indexes:
            old_key = index.key(old.record)
            if old_key is None or old_key == index.key(new):
                continue
            table = self._tables.table(index.table)
            what = f"index row of {self.describe(keys)}"
            row = table.get(*old_key, what=what)
            # A row another writer re-wrote after our read carries a later version: keep it.
            mine = row is not None and (row["RecordPk"], row["RecordRk"]) == keys
            if row is not None and mine and int(row["Version"]) <= old.version:
                table.delete(*old_key, etag=str(row.metadata["etag"]), what=what)

    def _note(self, record: M) -> None:
        if self._timeline is None:
            return
        entry = self.timeline_entry(record, self._clock.now())
        if entry is not None:
            self._timeline.append(entry)


class Facts(Repository[M]):
    """One-time facts (a KPI event, a notice sent, a webhook processed): written once by an
    insert, never replaced. Writing the same fact again is "already done", not an error."""

    def record(self, fact: M) -> Recorded[M]:
        keys = self.keys(fact)
        etag = self.table.insert(self._entity(fact, 1), self.describe(keys))
        if etag is not None:
            self._note(fact)
            return Recorded(fact, already_done=False)
        existing = self._get(keys).record
        self._note(existing)
        return Recorded(existing, already_done=True)

    def _find_fact(self, keys: Keys) -> M | None:
        stored = self._find(keys)
        return None if stored is None else stored.record
