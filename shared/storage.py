"""Azure Storage (queues and tables) through the Functions host's own connection setting.

Two forms, as the Functions host reads them: `AzureWebJobsStorage` as a connection string
(Azurite locally, or wherever keys are allowed), or identity-based with
`AzureWebJobsStorage__accountName` (+ `__clientId` for a user-assigned managed identity),
which is what `azd up` configures: shared keys are off there. The names of the queues and
tables cspflow uses live here, so triggers, activities and the connectivity check agree.
"""

from __future__ import annotations

import contextlib
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    QueueClient,
    QueueServiceClient,
    TextBase64EncodePolicy,
)

from shared.config import Settings

# Webhook events (Partner Center, Stripe) are acknowledged fast and enqueued here.
EVENTS_QUEUE = "cspflow-events"
# What a promise's owner tells its SLA clock (start, met, pause, resume, cancel), consumed by
# triggers/sla.py, which starts or signals the clock's orchestration.
SLA_SIGNALS_QUEUE = "cspflow-sla-signals"
# Alerts for the partner's ops team (an SLA at risk or breached, a failed workflow): one JSON
# message each, read by the ops page and whatever the partner plugs in.
OPS_QUEUE = "cspflow-ops"
# Processed events by id, so a duplicate delivery is processed once (prefixed per deployment).
EVENTS_TABLE = "Events"
# API command ids with their request fingerprints and first replies (triggers/api/commands.py).
COMMANDS_TABLE = "Commands"
# The book's other tables (customers, subscriptions, ...) are named by their repositories in
# shared/book/, each module with the keys and queries of its tables (docs/book.md).

# The SDKs' own retries would hold an activity for minutes against a dead endpoint; the
# Durable retry policy is the one that retries.
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 1, "connection_timeout": 5, "read_timeout": 20}


def table_name(settings: Settings, table: str) -> str:
    return f"{settings.table_prefix}{table}"


def table_service(settings: Settings) -> TableServiceClient:
    if settings.storage_account_name:
        return TableServiceClient(
            _endpoint(settings, "table"), credential=_credential(settings), **_CLIENT_OPTIONS
        )
    return TableServiceClient.from_connection_string(
        settings.storage_connection.get_secret_value(), **_CLIENT_OPTIONS
    )


def queue_service(settings: Settings) -> QueueServiceClient:
    if settings.storage_account_name:
        return QueueServiceClient(
            _endpoint(settings, "queue"), credential=_credential(settings), **_CLIENT_OPTIONS
        )
    return QueueServiceClient.from_connection_string(
        settings.storage_connection.get_secret_value(), **_CLIENT_OPTIONS
    )


def trigger_queue(settings: Settings, name: str) -> QueueClient:
    """The queue `name` as a queue-triggered function reads it: created if missing, messages
    base64-encoded, which is the Functions host's default (host.json
    `extensions.queues.messageEncoding`, https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-storage-queue#hostjson-settings);
    a plain-text message would be moved to the poison queue unread."""
    queue = queue_service(settings).get_queue_client(
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    return queue


def _endpoint(settings: Settings, service: str) -> str:
    return f"https://{settings.storage_account_name}.{service}.core.windows.net"


def _credential(settings: Settings) -> TokenCredential:
    if settings.storage_client_id:  # the user-assigned identity the bicep attaches
        return ManagedIdentityCredential(client_id=settings.storage_client_id)
    return DefaultAzureCredential()  # system-assigned identity, or a developer's az login
