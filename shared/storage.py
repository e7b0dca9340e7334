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
    QueueClient,
    QueueServiceClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from shared.config import Settings
from shared.proxies import TRUST_ENVIRONMENT

# Webhook events are acknowledged fast and enqueued on one queue per source; each queue's
# consumer acts on them (triggers/queues/, docs/intake.md). A message that keeps failing is
# moved by the Functions host to `<queue>-poison`.
PARTNER_CENTER_EVENTS_QUEUE = "cspflow-events-partner-center"
STRIPE_EVENTS_QUEUE = "cspflow-events-stripe"
# The short names operators use (`POST /api/ops/poison/{queue}/redrive`) for each queue.
EVENT_QUEUES = {"partner-center": PARTNER_CENTER_EVENTS_QUEUE, "stripe": STRIPE_EVENTS_QUEUE}
POISON_SUFFIX = "-poison"  # the host's name for a queue's poison queue
# What a promise's owner tells its SLA clock (start, met, pause, resume, cancel), consumed by
# triggers/sla.py, which starts or signals the clock's orchestration.
SLA_SIGNALS_QUEUE = "cspflow-sla-signals"
# Alerts for the partner's ops team (an SLA at risk or breached): one JSON message each.
OPS_QUEUE = "cspflow-ops"
# Processed events by id, so a duplicate delivery is processed once (prefixed per deployment).
EVENTS_TABLE = "Events"
# API command ids with their request fingerprints and first replies (triggers/api/commands.py).
COMMANDS_TABLE = "Commands"
# The book's other tables (customers, subscriptions, ...) are named by their repositories in
# shared/book/, each module with the keys and queries of its tables (docs/book.md).

# The SDKs' own retries would hold an activity for minutes against a dead endpoint; the
# Durable retry policy is the one that retries.
# `use_env_settings`: proxies from the environment read once (shared/proxies.py).
_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 1,
    "connection_timeout": 5,
    "read_timeout": 20,
    "use_env_settings": TRUST_ENVIRONMENT,
}


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


def queue_client(settings: Settings, queue: str) -> QueueClient:
    """A client of one queue whose messages are base64 text, the Functions host's default
    `messageEncoding` for queue triggers (host.json `extensions.queues`)."""
    return queue_service(settings).get_queue_client(
        queue,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def poison_queue(queue: str) -> str:
    return f"{queue}{POISON_SUFFIX}"


def trigger_queue(settings: Settings, name: str) -> QueueClient:
    """`queue_client`, created if missing: where an activity puts work for a queue-triggered
    function (a plain-text message would be moved to the poison queue unread)."""
    queue = queue_client(settings, name)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    return queue


def _endpoint(settings: Settings, service: str) -> str:
    return f"https://{settings.storage_account_name}.{service}.core.windows.net"


def _credential(settings: Settings) -> TokenCredential:
    if settings.storage_client_id:  # the user-assigned identity the bicep attaches
        return ManagedIdentityCredential(client_id=settings.storage_client_id)
    return DefaultAzureCredential()  # system-assigned identity, or a developer's az login
