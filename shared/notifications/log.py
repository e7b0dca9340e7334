"""The notice log: record before send, mark sent after; bounces; preferences. Azure Tables.

`NoticeLog` is the protocol the notifier needs; `TableNoticeLog` implements it on three
tables of the app's storage account (prefixed like every cspflow table):

| table | PartitionKey | RowKey | serves |
|---|---|---|---|
| `NoticeDeliveries` | customer id (`_partner` for partner-side notices) | sha256 of the delivery key | reserve / mark by key; a customer's deliveries |
| `NoticeBounces` | `bounce` | sha256 of the address | is this address suppressed; every bounced address (ops) |
| `NoticePreferences` | customer id | `preferences` | one customer's routing and muted kinds |

A delivery is one notice to one address; its key is `<step_key>|<address>`. Its row moves
`sending` -> `sent`, or `failed` (certainly not accepted: the next attempt sends), `in_doubt`
(handed over, answer lost: the next attempt asks the transport, docs/notifications.md),
`refused` (the address was refused; the address is now in `NoticeBounces`).

A one-time fact is an insert whose conflict means "already there" (docs/architecture.md,
"Exactly once"): `reserve` inserts the row; a conflict reads it and decides. A row left in
`sending` by an attempt that died is taken over once its lease has passed, with an ETag so
two attempts cannot both take it.

The book's `Notices` table (shared/book/notices.py) holds the notice itself, one fact per
notice once a delivery went out, with its entry on the customer's timeline
(shared/notifications/service.py records it); this log holds each delivery's state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableClient, UpdateMode
from pydantic import EmailStr

from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.errors import ConfigurationError, first_line
from shared.models._base import DomainModel, UtcDateTime
from shared.notifications.errors import NoticeBusy, NoticeLogUnavailable
from shared.notifications.kinds import NoticeKind, RecipientRole
from shared.notifications.recipients import NoticePreferences
from shared.storage import table_name, table_service

NOTICES_TABLE = "NoticeDeliveries"
BOUNCES_TABLE = "NoticeBounces"
PREFERENCES_TABLE = "NoticePreferences"
PARTNER_PARTITION = "_partner"
BOUNCE_PARTITION = "bounce"

DeliveryState = Literal["sending", "sent", "failed", "in_doubt", "refused"]


class Delivery(DomainModel):
    """One notice to one address, as the log keys it."""

    key: str  # <step_key>|<address>
    notice_key: str  # the step_key
    kind: NoticeKind
    customer_id: str | None
    to: EmailStr
    role: RecipientRole
    message_id: str


class DeliveryRecord(DomainModel):
    """A delivery as the log holds it (what the ops queries return)."""

    key: str
    notice_key: str
    kind: NoticeKind
    customer_id: str | None
    to: str
    role: RecipientRole
    message_id: str
    state: DeliveryState
    attempts: int
    reserved_at: UtcDateTime
    sent_at: UtcDateTime | None = None
    provider_id: str = ""
    error: str = ""


class Bounce(DomainModel):
    """An address a server refused: never mailed again until ops clear it."""

    address: str
    reason: str
    code: int | None = None
    first_at: UtcDateTime
    last_at: UtcDateTime
    count: int = 1
    customer_id: str | None = None
    kind: NoticeKind | None = None


@dataclass(frozen=True)
class Reservation:
    """What `reserve` found: `new` (send it; `attempt` > 1 when an earlier attempt failed or
    died), `sent` (done before), `in_doubt` (handed over, answer lost), `refused`."""

    state: Literal["new", "sent", "in_doubt", "refused"]
    attempt: int
    provider_id: str = ""


class NoticeLog(Protocol):
    def reserve(self, delivery: Delivery) -> Reservation:
        """Record the delivery before it is sent. Raises `NoticeBusy` while another live
        attempt holds it."""
        ...

    def reopen(self, delivery: Delivery) -> int:
        """An `in_doubt` delivery the transport says it does not have: send it again."""
        ...

    def mark_sent(self, delivery: Delivery, provider_id: str) -> None: ...

    def mark_failed(self, delivery: Delivery, reason: str, *, in_doubt: bool) -> None: ...

    def record_bounce(
        self,
        address: str,
        reason: str,
        *,
        code: int | None = None,
        delivery: Delivery | None = None,
    ) -> None:
        """`address` was refused (now, or later by a bounce report)."""
        ...

    def bounce_of(self, address: str) -> Bounce | None: ...


class PreferenceStore(Protocol):
    def get(self, customer_id: str) -> NoticePreferences | None: ...

    def put(self, preferences: NoticePreferences) -> None: ...


def row_key(value: str) -> str:
    """A RowKey for any string (Table keys refuse '/', '\\', '#', '?' and control chars)."""
    return hashlib.sha256(value.encode()).hexdigest()


def address_key(address: str) -> str:
    return row_key(address.strip().lower())


_READY: set[tuple[str, str]] = set()  # tables created by this process


class TableNoticeLog:
    """`NoticeLog` and `PreferenceStore` on Azure Tables (Azurite locally)."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.lease = timedelta(seconds=settings.notify_send_lease_s)
        try:
            self._service = table_service(settings)
        except ValueError as exc:  # a malformed connection string: a setting to fix
            raise ConfigurationError(f"AzureWebJobsStorage: {first_line(exc)}") from exc

    def _table(self, name: str) -> TableClient:
        full = table_name(self.settings, name)
        ready = (self._service.url, full)
        if ready not in _READY:
            with _storage(f"create table {full}"):
                self._service.create_table_if_not_exists(full)
            _READY.add(ready)
        return self._service.get_table_client(full)

    # reserve / mark ------------------------------------------------------------------------
    def reserve(self, delivery: Delivery) -> Reservation:
        table = self._table(NOTICES_TABLE)
        now = self.clock.now()
        entity = {
            "PartitionKey": _partition(delivery.customer_id),
            "RowKey": row_key(delivery.key),
            "Key": delivery.key,
            "NoticeKey": delivery.notice_key,
            "Kind": delivery.kind,
            "CustomerId": delivery.customer_id or "",
            "Recipient": delivery.to,
            "Role": delivery.role,
            "MessageId": delivery.message_id,
            "State": "sending",
            "Attempts": 1,
            "ReservedAt": now,
            "LeaseUntil": now + self.lease,
            "ProviderId": "",
            "Error": "",
        }
        try:
            with _storage("reserve"):
                table.create_entity(entity)
            return Reservation("new", 1)
        except ResourceExistsError:
            pass  # reserved before: read what happened
        current = self._get(table, delivery)
        state: DeliveryState = current["State"]
        attempts = int(current["Attempts"])
        if state == "sent":
            return Reservation("sent", attempts, current.get("ProviderId", ""))
        if state in ("in_doubt", "refused"):
            return Reservation(state, attempts)
        if state == "sending" and current["LeaseUntil"] > now:
            raise NoticeBusy(
                f"{delivery.kind} to {delivery.to}: attempt {attempts} holds it until "
                f"{current['LeaseUntil'].isoformat()}"
            )
        # `failed` (certainly not accepted), or `sending` whose attempt died: take it over.
        return Reservation("new", self._take_over(table, current, now))

    def reopen(self, delivery: Delivery) -> int:
        table = self._table(NOTICES_TABLE)
        current = self._get(table, delivery)
        if current["State"] != "in_doubt":
            raise NoticeBusy(f"{delivery.kind} to {delivery.to}: no longer in doubt")
        return self._take_over(table, current, self.clock.now())

    def _take_over(self, table: TableClient, current: Any, now: datetime) -> int:
        attempts = int(current["Attempts"]) + 1
        current["State"] = "sending"
        current["Attempts"] = attempts
        current["ReservedAt"] = now
        current["LeaseUntil"] = now + self.lease
        try:
            with _storage("take over"):
                table.update_entity(
                    current,
                    mode=UpdateMode.REPLACE,
                    etag=current.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
        except ResourceModifiedError as exc:
            raise NoticeBusy(f"{current['Kind']}: another attempt took it over") from exc
        return attempts

    def mark_sent(self, delivery: Delivery, provider_id: str) -> None:
        self._merge(
            delivery,
            State="sent",
            SentAt=self.clock.now(),
            ProviderId=provider_id[:500],
            Error="",
        )

    def mark_failed(self, delivery: Delivery, reason: str, *, in_doubt: bool) -> None:
        self._merge(delivery, State="in_doubt" if in_doubt else "failed", Error=reason[:500])

    def _merge(self, delivery: Delivery, **values: Any) -> None:
        table = self._table(NOTICES_TABLE)
        entity = {
            "PartitionKey": _partition(delivery.customer_id),
            "RowKey": row_key(delivery.key),
            **values,
        }
        with _storage("update"):
            table.update_entity(entity, mode=UpdateMode.MERGE)

    def _get(self, table: TableClient, delivery: Delivery) -> Any:
        with _storage("read"):
            return table.get_entity(_partition(delivery.customer_id), row_key(delivery.key))

    # bounces -----------------------------------------------------------------------------
    def record_bounce(
        self,
        address: str,
        reason: str,
        *,
        code: int | None = None,
        delivery: Delivery | None = None,
    ) -> None:
        table = self._table(BOUNCES_TABLE)
        now = self.clock.now()
        known = self.bounce_of(address)
        entity = {
            "PartitionKey": BOUNCE_PARTITION,
            "RowKey": address_key(address),
            "Address": address.strip().lower(),
            "Reason": reason[:500],
            "Code": code if code is not None else -1,
            "FirstAt": known.first_at if known else now,
            "LastAt": now,
            "Count": (known.count + 1) if known else 1,
            "CustomerId": (delivery.customer_id or "") if delivery else "",
            "Kind": delivery.kind if delivery else "",
        }
        with _storage("record bounce"):
            table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        if delivery is not None:
            self._merge(delivery, State="refused", Error=reason[:500])

    def bounce_of(self, address: str) -> Bounce | None:
        table = self._table(BOUNCES_TABLE)
        try:
            with _storage("read bounce"):
                entity = table.get_entity(BOUNCE_PARTITION, address_key(address))
        except ResourceNotFoundError:
            return None
        return _bounce(entity)

    def clear_bounce(self, address: str) -> None:
        """Ops fixed the address (or the customer did): mail it again."""
        with _storage("clear bounce"):
            self._table(BOUNCES_TABLE).delete_entity(BOUNCE_PARTITION, address_key(address))

    # ops queries -------------------------------------------------------------------------
    def bounces(self) -> list[Bounce]:
        """Every address currently refused, most recent first."""
        with _storage("list bounces"):
            entities = list(
                self._table(BOUNCES_TABLE).query_entities(
                    "PartitionKey eq @p", parameters={"p": BOUNCE_PARTITION}
                )
            )
        return sorted((_bounce(e) for e in entities), key=lambda b: b.last_at, reverse=True)

    def deliveries(
        self, *, customer_id: str | None = None, state: DeliveryState | None = None
    ) -> list[DeliveryRecord]:
        """Deliveries of one customer (their notices, oldest first), or in one state across
        customers (`in_doubt`: what ops should look at)."""
        filters, parameters = [], {}
        if customer_id is not None:
            filters.append("PartitionKey eq @p")
            parameters["p"] = customer_id
        if state is not None:
            filters.append("State eq @s")
            parameters["s"] = state
        table = self._table(NOTICES_TABLE)
        with _storage("list deliveries"):
            if filters:
                entities = list(table.query_entities(" and ".join(filters), parameters=parameters))
            else:
                entities = list(table.list_entities())
        return sorted((_record(e) for e in entities), key=lambda r: r.reserved_at)

    # preferences -------------------------------------------------------------------------
    def get(self, customer_id: str) -> NoticePreferences | None:
        table = self._table(PREFERENCES_TABLE)
        try:
            with _storage("read preferences"):
                entity = table.get_entity(customer_id, "preferences")
        except ResourceNotFoundError:
            return None
        return NoticePreferences.model_validate_json(entity["Data"])

    def put(self, preferences: NoticePreferences) -> None:
        entity = {
            "PartitionKey": preferences.customer_id,
            "RowKey": "preferences",
            "Data": json.dumps(preferences.model_dump(mode="json"), sort_keys=True),
        }
        with _storage("write preferences"):
            self._table(PREFERENCES_TABLE).upsert_entity(entity, mode=UpdateMode.REPLACE)


def _partition(customer_id: str | None) -> str:
    return customer_id or PARTNER_PARTITION


def _bounce(entity: Any) -> Bounce:
    code = int(entity.get("Code", -1))
    return Bounce(
        address=entity["Address"],
        reason=entity.get("Reason", ""),
        code=None if code < 0 else code,
        first_at=entity["FirstAt"],
        last_at=entity["LastAt"],
        count=int(entity.get("Count", 1)),
        customer_id=entity.get("CustomerId") or None,
        kind=entity.get("Kind") or None,
    )


def _record(entity: Any) -> DeliveryRecord:
    return DeliveryRecord(
        key=entity["Key"],
        notice_key=entity["NoticeKey"],
        kind=entity["Kind"],
        customer_id=entity.get("CustomerId") or None,
        to=entity["Recipient"],
        role=entity["Role"],
        message_id=entity["MessageId"],
        state=entity["State"],
        attempts=int(entity["Attempts"]),
        reserved_at=entity["ReservedAt"],
        sent_at=entity.get("SentAt"),
        provider_id=entity.get("ProviderId", ""),
        error=entity.get("Error", ""),
    )


class _storage:
    """Storage failures in the failure vocabulary: a conflict, a missing row and a changed
    ETag pass through (they are answers the caller reads); refused credentials are a
    configuration to fix; anything else is transient."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(
            exc, ResourceExistsError | ResourceNotFoundError | ResourceModifiedError
        ):
            return
        if isinstance(exc, ClientAuthenticationError) or (
            isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)
        ):
            raise ConfigurationError(f"notice log: {self.what}: {first_line(exc)}") from exc
        if isinstance(exc, HttpResponseError | ServiceRequestError | ServiceResponseError):
            raise NoticeLogUnavailable(f"notice log: {self.what}: {first_line(exc)}") from exc
