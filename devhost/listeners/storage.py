"""Azure Storage connections as the Functions host resolves them, and queue message encoding.

A binding's `connection` names an app setting (empty = `AzureWebJobsStorage`; `X` falls back to
`AzureWebJobsX`), whose value is a connection string. `UseDevelopmentStorage=true` is Azurite on
its default ports, which the Storage SDK understands itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.request import getproxies

from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.settings import STORAGE_SETTING, resolve_refs


class StorageConnectionError(ValueError):
    """A binding whose connection setting is missing or unusable; the message says which."""


def connection_string(setting: str | None, environ: Mapping[str, str]) -> str:
    name = setting or STORAGE_SETTING
    for candidate in (name, f"AzureWebJobs{name}"):
        value = environ.get(candidate)
        if value:
            return value
    if environ.get(f"{name}__queueServiceUri") or environ.get(f"{name}__serviceUri"):
        raise StorageConnectionError(
            f"connection {name!r} is identity-based; devhost needs a connection string "
            f"(set {name} in local.settings.json Values, e.g. UseDevelopmentStorage=true)"
        )
    raise StorageConnectionError(
        f"connection setting {name!r} is not set; add it to local.settings.json Values "
        "(UseDevelopmentStorage=true for Azurite)"
    )


class QueueClients:
    """One async QueueServiceClient per connection string, shared by pollers and outputs."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._services: dict[str, QueueServiceClient] = {}

    def queue(self, connection: str | None, queue_name: str) -> QueueClient:
        """A client for `queue_name`, whose `%Setting%` parts resolve from app settings."""
        conn = connection_string(connection, self._environ)
        queue_name = resolve_refs(queue_name, self._environ, f"queue {queue_name!r}")
        service = self._services.get(conn)
        if service is None:
            # Proxy settings read once: an aiohttp session that trusts the environment reads
            # every variable and the netrc for each poll (a few percent of the host's CPU).
            service = QueueServiceClient.from_connection_string(
                conn, use_env_settings=bool(getproxies())
            )
            self._services[conn] = service
        return service.get_queue_client(queue_name)

    async def close(self) -> None:
        for service in self._services.values():
            await service.close()
        self._services.clear()


def encode_message(body: str | bytes, encoding: str) -> str:
    """What the host writes to a queue: base64 of the UTF-8 bytes unless encoding is 'none'."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if encoding == "none":
        return raw.decode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def decode_message(content: str, encoding: str) -> bytes:
    """The message's bytes; raises ValueError when a base64 queue holds non-base64 text."""
    if encoding == "none":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("message is not valid base64") from exc
