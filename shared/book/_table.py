"""One Azure table as the book uses it: entities in and out with their sizes checked, storage
errors turned into the book's, the table created on first write, pages behind opaque cursors.

Limits (Azure Tables, "Understanding the Table service data model",
https://learn.microsoft.com/en-us/rest/api/storageservices/understanding-the-table-service-data-model):
a string or binary property holds at most 64 KiB (strings count as UTF-16), an entity at most
1 MiB, a batch (entity group transaction) at most 100 operations on one partition and 4 MiB.
Azurite does not enforce the entity limit, so the book checks every entity before it writes:
a record that does not fit is refused whole (`RecordTooLarge`), never written in part.

A record's JSON is spread over `Json`, `Json1`, `Json2`, ... (at most 64 KiB each), so a large
invoice or customer fits as long as the whole entity stays under 1 MiB. The entity size is
estimated with Microsoft's published formula: 4 bytes, 2 per key character, and per property
8 bytes, 2 per name character and the value's size (Microsoft's archived "How the size of an
entity is calculated in Windows Azure table storage",
https://learn.microsoft.com/en-us/archive/blogs/avkashchauhan/how-the-size-of-an-entity-is-caclulated-in-windows-azure-table-storage).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import (
    TableClient,
    TableEntity,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)

from shared.book.errors import (
    BookRefused,
    BookUnavailable,
    ConcurrencyConflict,
    InvalidPaging,
    RecordNotFound,
    RecordTooLarge,
)
from shared.errors import CspflowError

T = TypeVar("T")
Entity = dict[str, Any]
Operation = tuple[str, Entity]

JSON = "Json"
KEYS = ("PartitionKey", "RowKey")
MAX_PROPERTY_BYTES = 64 * 1024
MAX_ENTITY_BYTES = 1024 * 1024
# The size formula is Microsoft's estimate; the service's own accounting may differ by a few
# bytes, so the book keeps a little under the limit rather than find out at write time.
ENTITY_MARGIN_BYTES = 1024
MAX_BATCH_OPERATIONS = 100
# The service's limit for a batch is 4 MiB of request body (JSON with OData annotations);
# the book's batches stay under half of that in entity size.
MAX_BATCH_BYTES = 2 * 1024 * 1024
MAX_PAGE = 1000  # the service's own page limit

_CHUNK_UNITS = MAX_PROPERTY_BYTES // 2  # UTF-16 code units per Json property


# -- the record's JSON ------------------------------------------------------------------------


def json_properties(text: str) -> dict[str, str]:
    """`text` split into `Json`, `Json1`, ... properties of at most 64 KiB (UTF-16) each."""
    chunks: list[str] = []
    if text.isascii():
        chunks = [text[i : i + _CHUNK_UNITS] for i in range(0, len(text), _CHUNK_UNITS)]
    else:
        current: list[str] = []
        units = 0
        for ch in text:
            width = 2 if ord(ch) > 0xFFFF else 1  # a surrogate pair is never split
            if units + width > _CHUNK_UNITS:
                chunks.append("".join(current))
                current, units = [], 0
            current.append(ch)
            units += width
        chunks.append("".join(current))
    return {(f"{JSON}{i}" if i else JSON): chunk for i, chunk in enumerate(chunks or [""])}


def json_text(entity: Mapping[str, Any]) -> str:
    """The record's JSON, joined back from its `Json*` properties."""
    parts = [entity[JSON]]
    while f"{JSON}{len(parts)}" in entity:
        parts.append(entity[f"{JSON}{len(parts)}"])
    return "".join(parts)


# -- sizes ------------------------------------------------------------------------------------


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le"))


def value_size(value: object) -> int:
    """Bytes a property value takes, by type (Microsoft's published estimate)."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return 4 if -(2**31) <= value < 2**31 else 8
    if isinstance(value, float | datetime):
        return 8
    if isinstance(value, UUID):
        return 16
    if isinstance(value, bytes):
        return len(value) + 4
    if isinstance(value, str):
        return _utf16(value) + 4
    raise TypeError(f"the book does not store {type(value).__name__} properties")


def entity_size(entity: Mapping[str, Any]) -> int:
    """An entity's size as Azure Tables counts it (Microsoft's published estimate)."""
    size = 4 + _utf16(entity["PartitionKey"]) + _utf16(entity["RowKey"])
    for name, value in entity.items():
        if name not in KEYS:
            size += 8 + _utf16(name) + value_size(value)
    return size


def check_size(entity: Mapping[str, Any], what: str) -> None:
    """Refuse an entity Azure Tables would refuse: a property over 64 KiB, over 1 MiB in all."""
    for name, value in entity.items():
        if isinstance(value, str | bytes):
            size = _utf16(value) if isinstance(value, str) else len(value)
            if size > MAX_PROPERTY_BYTES:
                raise RecordTooLarge(
                    f"{what}: property {name} is {size:,} bytes, over the 64 KiB an Azure "
                    "Tables property holds; nothing was written"
                )
    size = entity_size(entity)
    if size > MAX_ENTITY_BYTES - ENTITY_MARGIN_BYTES:
        raise RecordTooLarge(
            f"{what} is {size:,} bytes, over the 1 MiB an Azure Tables entity holds "
            f"(less a {ENTITY_MARGIN_BYTES:,}-byte margin); nothing was written"
        )


# -- errors -----------------------------------------------------------------------------------

_CODE_IN_TEXT = re.compile(r'"code"\s*:\s*"(\w+)"|ErrorCode:(\w+)')


def error_code(exc: HttpResponseError) -> str | None:
    """The service's error code (`TableNotFound`, `EntityAlreadyExists`, ...), if it gave one."""
    code = getattr(exc, "error_code", None)
    if code:
        return str(getattr(code, "value", code))
    found = _CODE_IN_TEXT.search(str(exc))
    return (found.group(1) or found.group(2)) if found else None


def translate(exc: AzureError, what: str) -> CspflowError:
    """The book's error for a storage failure. The SDK's message is not quoted (it can carry
    a URL with a SAS token); the status and the service's code are enough."""
    if isinstance(exc, ResourceModifiedError):
        return ConcurrencyConflict(f"{what} was changed by another writer since it was read")
    if isinstance(exc, ClientAuthenticationError):
        refused = BookRefused(f"{what}: Azure Tables refused the credentials")
        return refused
    if isinstance(exc, HttpResponseError):
        status, code = exc.status_code, error_code(exc)
        if status is None or status in (408, 429) or status >= 500:
            return BookUnavailable(f"{what}: Azure Tables answered {status} {code or ''}".rstrip())
        refused = BookRefused(f"{what}: Azure Tables refused the request ({status} {code})")
        refused.code = code or BookRefused.code
        return refused
    return BookUnavailable(f"{what}: Azure Tables did not answer ({type(exc).__name__})")


def _table_missing(exc: HttpResponseError) -> bool:
    return error_code(exc) == "TableNotFound"


# -- cursors ----------------------------------------------------------------------------------


def _scope(table: str, query: str, parameters: Mapping[str, Any]) -> str:
    text = json.dumps([table, query, sorted(parameters.items())], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(token: Mapping[str, str], scope: str) -> str:
    body = json.dumps({"s": scope, "p": token.get("PartitionKey"), "r": token.get("RowKey")})
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, scope: str) -> dict[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != scope:
            raise ValueError("another listing's cursor")
        return {"PartitionKey": data["p"], "RowKey": data["r"]}
    except (ValueError, KeyError, TypeError, binascii.Error):
        error = InvalidPaging("next is not a cursor this listing handed out")
        error.field = "next"
        raise error from None


def _first_page(pages: Iterator[Iterator[TableEntity]]) -> list[TableEntity]:
    return list(next(pages))


# -- the table --------------------------------------------------------------------------------


class Table:
    """One table of the book. Reads of a table that does not exist yet find nothing; the
    first write creates it (create-if-not-exists, so concurrent first writers agree)."""

    def __init__(self, service: TableServiceClient, name: str) -> None:
        self.name = name
        self._service = service
        self._table_client: TableClient | None = None

    @property
    def _client(self) -> TableClient:
        """Made on first use: a `Book` has a repository for every table, an activity uses a
        few, and each client costs its own pipeline (a few ms of CPU)."""
        if self._table_client is None:
            self._table_client = self._service.get_table_client(self.name)
        return self._table_client

    def _call(self, what: str, op: Callable[[], T], *, create: bool) -> T:
        """Run `op`, creating the table first if it is missing (writes only). Not-found,
        already-exists and transaction errors are left to the caller; others translated."""
        try:
            try:
                return op()
            except HttpResponseError as exc:
                if not (create and _table_missing(exc)):
                    raise
            self._service.create_table_if_not_exists(self.name)
            return op()
        except (ResourceNotFoundError, ResourceExistsError, TableTransactionError):
            raise
        except AzureError as exc:
            raise translate(exc, what) from None

    def get(self, pk: str, rk: str, what: str) -> TableEntity | None:
        try:
            return self._call(what, lambda: self._client.get_entity(pk, rk), create=False)
        except ResourceNotFoundError:
            return None  # no such entity, or no such table yet

    def insert(self, entity: Entity, what: str) -> str | None:
        """Insert; the new ETag, or None when an entity with these keys exists already."""
        check_size(entity, what)
        try:
            meta = self._call(what, lambda: self._client.create_entity(entity), create=True)
        except ResourceExistsError:
            return None
        return str(meta["etag"])

    def replace(self, entity: Entity, etag: str, what: str) -> str:
        """Replace the entity if it is still the version `etag` names; the new ETag."""
        check_size(entity, what)

        def op() -> Mapping[str, Any]:
            return self._client.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )

        try:
            meta = self._call(what, op, create=False)
        except ResourceNotFoundError:
            raise RecordNotFound(f"{what} is not in the book (table {self.name})") from None
        return str(meta["etag"])

    def upsert(self, entity: Entity, what: str) -> str:
        check_size(entity, what)
        meta = self._call(
            what, lambda: self._client.upsert_entity(entity, mode=UpdateMode.REPLACE), create=True
        )
        return str(meta["etag"])

    def delete(self, pk: str, rk: str, etag: str, what: str) -> bool:
        """Delete the entity if it is still the version `etag` names; False if it changed."""

        def op() -> None:
            self._client.delete_entity(
                pk, rk, etag=etag, match_condition=MatchConditions.IfNotModified
            )

        try:
            self._call(what, op, create=False)
        except (ResourceNotFoundError, ConcurrencyConflict):
            return False
        return True

    def transact(self, operations: list[Operation], what: str) -> bool:
        """One entity group transaction (one partition, at most 100 operations): all or
        nothing. False when it failed because an inserted entity exists already."""
        if not 0 < len(operations) <= MAX_BATCH_OPERATIONS:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH_OPERATIONS} operations")
        for _, entity in operations:
            check_size(entity, what)
        try:
            self._call(what, lambda: self._client.submit_transaction(operations), create=True)
        except TableTransactionError as exc:
            if error_code(exc) == "EntityAlreadyExists":
                return False
            raise translate(exc, what) from None
        return True

    def upsert_many(self, entities: Iterable[Entity], what: str) -> int:
        """Upsert `entities` in entity group transactions: grouped by partition, at most 100
        operations and MAX_BATCH_BYTES each. For loading, not for concurrent writers (no
        ETags). Returns how many were written."""
        by_partition: dict[str, list[Entity]] = defaultdict(list)
        for entity in entities:
            by_partition[entity["PartitionKey"]].append(entity)
        written = 0
        for rows in by_partition.values():
            if len(rows) == 1:  # a transaction of one costs more than the write itself
                self.upsert(rows[0], what)
                written += 1
                continue
            batch: list[Operation] = []
            size = 0
            for row in rows:
                row_size = entity_size(row)
                if batch and (
                    len(batch) == MAX_BATCH_OPERATIONS or size + row_size > MAX_BATCH_BYTES
                ):
                    self.transact(batch, what)
                    written += len(batch)
                    batch, size = [], 0
                batch.append(("upsert", row))
                size += row_size
            self.transact(batch, what)
            written += len(batch)
        return written

    def query(
        self,
        query: str,
        parameters: Mapping[str, Any],
        *,
        limit: int,
        cursor: str | None,
        what: str,
    ) -> tuple[list[TableEntity], str | None]:
        """Up to `limit` entities matching `query` (every entity: ""), in key order, and the cursor that
        continues after them (None at the end). The service may answer a request with fewer
        entities than asked, even none, and a continuation: this asks again until `limit`
        entities are in hand or the continuation runs out."""
        if not 1 <= limit <= MAX_PAGE:
            error = InvalidPaging(f"limit must be 1 to {MAX_PAGE}, not {limit}")
            error.field = "limit"
            raise error
        scope = _scope(self.name, query, parameters)
        token: dict[str, str] | None = decode_cursor(cursor, scope) if cursor else None
        found: list[TableEntity] = []
        while True:
            want = limit - len(found)
            listing = (
                self._client.query_entities(
                    query, parameters=dict(parameters), results_per_page=want
                )
                if query
                else self._client.list_entities(results_per_page=want)
            )
            # The SDK's continuation token is a dict of the next keys (typed as str).
            pages = listing.by_page(continuation_token=token)  # type: ignore[arg-type]
            try:
                found += self._call(what, partial(_first_page, pages), create=False)
            except ResourceNotFoundError:
                return [], None  # the table does not exist yet
            token = getattr(pages, "continuation_token", None)
            if not token or len(found) >= limit:
                return found, encode_cursor(token, scope) if token else None

    def scan(self, query: str, parameters: Mapping[str, Any], what: str) -> Iterator[TableEntity]:
        """Every entity matching `query`, page after page (for queries bounded by design)."""
        cursor: str | None = None
        while True:
            found, cursor = self.query(query, parameters, limit=MAX_PAGE, cursor=cursor, what=what)
            yield from found
            if cursor is None:
                return
