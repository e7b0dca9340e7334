"""Azure Storage (queues and tables) through the Functions host's own connection setting.

`AzureWebJobsStorage` is a connection string locally (Azurite) and wherever keys are allowed.
The names of the queues and tables cspflow uses live here, so triggers, activities and the
connectivity check agree on them.
"""

from __future__ import annotations

from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from shared.config import Settings

# Webhook events (Partner Center, Stripe) are acknowledged fast and enqueued here.
EVENTS_QUEUE = "cspflow-events"
# Processed events by id, so a duplicate delivery is processed once (prefixed per deployment).
EVENTS_TABLE = "Events"

# The SDKs' own retries would hold an activity for minutes against a dead endpoint; the
# Durable retry policy is the one that retries.
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 1, "connection_timeout": 5, "read_timeout": 20}


def table_name(settings: Settings, table: str) -> str:
    return f"{settings.table_prefix}{table}"


def table_service(settings: Settings) -> TableServiceClient:
    return TableServiceClient.from_connection_string(
        settings.storage_connection.get_secret_value(), **_CLIENT_OPTIONS
    )


def queue_service(settings: Settings) -> QueueServiceClient:
    return QueueServiceClient.from_connection_string(
        settings.storage_connection.get_secret_value(), **_CLIENT_OPTIONS
    )
