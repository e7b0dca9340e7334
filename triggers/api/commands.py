"""Commands carry a client-chosen id: the same id with the same body answers as the first
time, with another body 409. Nothing is done twice.

    claim = ledger.claim("place_order", "o-1001", fingerprint)   # CommandIdReused: 409
    claim.first     # True: this request is the first with the id
    claim.reply     # the answer recorded for it (a repeat after the first one finished)

The ledger is one Azure Table (`<prefix>Commands`, shared/storage.py): PartitionKey the
command's scope (its route's operation), RowKey the id, with the request's fingerprint (the
SHA-256 of its canonical JSON, route values included) and, once the command was accepted, the
reply (status, `Location`, `Retry-After`, body). The insert decides who is first: Azure Tables
refuses a second entity with the same keys, so two requests racing with one id cannot both
be first. A repeat whose first request has not recorded its reply yet (still running, or it
crashed midway) runs the handler again: handlers are idempotent on the command id (the
orchestration's instance id derives from it), so that is safe and it answers what the first
would have. A command refused with a 4xx (a business rule, a state conflict) is forgotten,
so the client may fix the body and send it again with the same id.

Storage failures are `CommandLedgerUnavailable` (a `TransientError`): the API answers 503
and the client retries with the same id.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Annotated, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableServiceClient, UpdateMode
from pydantic import StringConstraints

from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.errors import TransientError
from shared.storage import COMMANDS_TABLE, table_name, table_service
from triggers.api.parsing import canonical_json

CommandId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"),
]
"""A client-chosen command id (`order_id`, `change_id`): 1-100 characters, letters, digits and
`.`, `_`, `:`, `-`, starting with a letter or digit (valid as a table key and inside a
Durable instance id)."""

# Azure Table keys: up to 1 KiB, none of / \ # ? or control characters.
_KEY = re.compile(r"[^/\\#?\x00-\x1f\x7f-\x9f]{1,255}")
# A Table string property holds 64 KiB (32 K UTF-16 units); a bigger reply is not recorded
# (a repeat then runs the idempotent handler again).
MAX_RECORDED_BODY = 30_000
REPLAYED_HEADERS = ("Location", "Retry-After")


class CommandIdReused(Exception):
    """The id was first used with a different request."""

    def __init__(self, scope: str, command_id: str) -> None:
        super().__init__(f"{scope}/{command_id} was used with a different request")
        self.scope = scope
        self.command_id = command_id


class CommandLedgerUnavailable(TransientError):
    """The command ledger's table could not be read or written: retry."""

    code = "storage_unavailable"


@dataclass(frozen=True)
class StoredReply:
    """An answer as it was first given: status, body (JSON text, "" for none) and the headers
    that matter to a client (`Location`, `Retry-After`)."""

    status: int
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    first: bool
    reply: StoredReply | None = None


def fingerprint(route_values: Mapping[str, str], document: Any) -> str:
    """The request's identity: SHA-256 of the canonical JSON of its route values and body."""
    canonical = canonical_json({"route": dict(route_values), "body": document})
    return hashlib.sha256(canonical).hexdigest()


class CommandLedger:
    """Command ids and their fingerprints and replies, in one Azure Table."""

    def __init__(self, service: TableServiceClient, table: str, clock: Clock | None = None):
        self._service = service
        self._table_name = table
        self._table: TableClient = service.get_table_client(table)
        self._clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings: Settings) -> CommandLedger:
        return cls(table_service(settings), table_name(settings, COMMANDS_TABLE))

    def claim(self, scope: str, command_id: str, request_fingerprint: str) -> Claim:
        """Record the id as used by this request, or read what it was used for."""
        _check_keys(scope, command_id)
        entity = {
            "PartitionKey": scope,
            "RowKey": command_id,
            "Fingerprint": request_fingerprint,
            "ClaimedAt": self._clock.now(),
        }
        with _unavailable():
            for _ in range(3):  # a claim released between our insert and our read: again
                if self._insert(entity):
                    return Claim(first=True)
                try:
                    existing = self._table.get_entity(scope, command_id)
                except ResourceNotFoundError:
                    continue
                if existing.get("Fingerprint") != request_fingerprint:
                    raise CommandIdReused(scope, command_id)
                return Claim(first=False, reply=_reply_of(existing))
        raise CommandLedgerUnavailable(f"{scope}/{command_id} kept changing; retry")

    def record(
        self, scope: str, command_id: str, request_fingerprint: str, reply: StoredReply
    ) -> None:
        """Keep the reply the command was answered with, for its repeats."""
        _check_keys(scope, command_id)
        if len(reply.body) > MAX_RECORDED_BODY:
            return
        entity = {
            "PartitionKey": scope,
            "RowKey": command_id,
            "Fingerprint": request_fingerprint,
            "ReplyStatus": reply.status,
            "ReplyBody": reply.body,
            "ReplyHeaders": json.dumps(dict(reply.headers)),
        }
        with _unavailable():
            self._table.upsert_entity(entity, mode=UpdateMode.MERGE)

    def release(self, scope: str, command_id: str, request_fingerprint: str) -> None:
        """Forget a claim this request made (its command was refused), unless the id has
        meanwhile a recorded reply or another request."""
        _check_keys(scope, command_id)
        with _unavailable():
            try:
                existing = self._table.get_entity(scope, command_id)
            except ResourceNotFoundError:
                return
            if existing.get("Fingerprint") != request_fingerprint or "ReplyStatus" in existing:
                return
            try:
                self._table.delete_entity(
                    scope,
                    command_id,
                    etag=existing.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceNotFoundError, ResourceModifiedError):
                return  # gone, or a reply was recorded meanwhile: keep it

    def _insert(self, entity: dict[str, Any]) -> bool:
        """True when inserted, False when the keys exist. Creates the table on first use."""
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            return False
        except ResourceNotFoundError:  # the table does not exist yet
            with suppress(ResourceExistsError):
                self._service.create_table(self._table_name)
            try:
                self._table.create_entity(entity)
            except ResourceExistsError:
                return False
        return True


def _reply_of(entity: Mapping[str, Any]) -> StoredReply | None:
    status = entity.get("ReplyStatus")
    if not isinstance(status, int):
        return None
    try:
        headers = json.loads(entity.get("ReplyHeaders") or "{}")
    except ValueError:
        headers = {}
    return StoredReply(
        status=status,
        body=str(entity.get("ReplyBody") or ""),
        headers={k: str(v) for k, v in headers.items() if k in REPLAYED_HEADERS},
    )


def _check_keys(scope: str, command_id: str) -> None:
    for what, key in (("scope", scope), ("command id", command_id)):
        if _KEY.fullmatch(key) is None:
            raise ValueError(f"{what} {key!r} cannot be a table key (use CommandId)")


@contextmanager
def _unavailable() -> Iterator[None]:
    """Storage errors as `CommandLedgerUnavailable`."""
    try:
        yield
    except AzureError as exc:
        raise CommandLedgerUnavailable(
            f"the command ledger is unavailable ({type(exc).__name__})"
        ) from None
