"""The URLs the Durable extension hands out: the client binding JSON and check-status links.

Kept apart from the HTTP handlers so the `durable` CLI can import the paths cheaply.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from devhost.http_auth import KeyRing

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
DEFAULT_CONNECTION = "Storage"


class Urls:
    """The URLs the extension hands out: binding JSON and check-status payloads."""

    def __init__(self, hub_name: str, keys: KeyRing | None) -> None:
        self.hub_name = hub_name
        self.keys = keys
        self.origin = ""  # http://127.0.0.1:PORT, known once the server listens
        self.rpc_origin = ""

    def _query(self, hub: str, connection: str) -> str:
        q = f"taskHub={quote(hub)}&connection={quote(connection)}"
        return f"{q}&code={self.keys.durabletask}" if self.keys else q

    def management_urls(
        self,
        instance_id: str,
        origin: str | None = None,
        hub: str | None = None,
        connection: str | None = None,
    ) -> dict[str, str]:
        base = f"{origin or self.origin}{WEBHOOK_PREFIX}"
        q = self._query(hub or self.hub_name, connection or DEFAULT_CONNECTION)
        inst = f"{base}/instances/{instance_id}"
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{inst}?{q}",
            "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{q}",
            "terminatePostUri": f"{inst}/terminate?reason={{text}}&{q}",
            "rewindPostUri": f"{inst}/rewind?reason={{text}}&{q}",
            "purgeHistoryDeleteUri": f"{inst}?{q}",
            "restartPostUri": f"{inst}/restart?{q}",
            "suspendPostUri": f"{inst}/suspend?reason={{text}}&{q}",
            "resumePostUri": f"{inst}/resume?reason={{text}}&{q}",
        }

    def client_binding(self, task_hub: str | None, connection: str | None) -> str:
        """The `durableClient` input binding JSON (`BindingHelper.DurableOrchestrationClientToString`)."""
        hub = task_hub or self.hub_name
        base = f"{self.origin}{WEBHOOK_PREFIX}"
        code = f"code={self.keys.durabletask}" if self.keys else ""
        create = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?"
        doc = {
            "taskHubName": hub,
            "connectionName": connection,
            "creationUrls": {
                "createNewInstancePostUri": create + code,
                "createAndWaitOnNewInstancePostUri": (
                    f"{create}timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}"
                    + (f"&{code}" if code else "&")
                ),
            },
            "managementUrls": self.management_urls(
                "INSTANCEID", hub=hub, connection=connection or DEFAULT_CONNECTION
            ),
            "baseUrl": base,
            "requiredQueryStringParameters": code,
            "rpcBaseUrl": f"{self.rpc_origin}{RPC_PREFIX}/",
            "httpBaseUrl": None,
        }
        return json.dumps(doc)
