"""A stand-in for Azure Communication Services Email over HTTPS (trustme certificate), enough
for the transport's contract: `POST /emails:send` (202 with an operation; 409 when the
`Operation-Id` was used before), `GET /emails/operations/{id}` (200 or 404), a bearer token
required, and faults: an answer status for the next send, or the connection closed after the
request was read (the sender never hears back)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from azure.core.credentials import AccessToken


class FakeCredential:
    """A managed identity's stand-in: hands out a bearer token, counts the asks."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("fake-managed-identity-token", int(time.time()) + 3600)


@dataclass
class FakeAcs:
    url: str = ""
    ca_path: str = ""
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    next_status: list[int] = field(default_factory=list)
    drop_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def fake_acs(tmp_path: Path) -> Iterator[FakeAcs]:
    state = FakeAcs()
    ca = trustme.CA()
    ca_path = tmp_path / "fake-acs-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    state.ca_path = str(ca_path)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _json(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            op = self.headers.get("Operation-Id", "")
            with state.lock:
                state.requests.append(
                    {
                        "path": self.path,
                        "operation_id": op,
                        "authorization": self.headers.get("Authorization", ""),
                        "body": body,
                    }
                )
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    return self._json(401, {"error": {"code": "Unauthorized"}})
                if state.next_status:
                    status = state.next_status.pop(0)
                    return self._json(
                        status, {"error": {"code": f"Fake{status}", "message": "fake"}}
                    )
                if op in state.operations:
                    return self._json(
                        409, {"error": {"code": "Conflict", "message": "operation exists"}}
                    )
                state.operations[op] = body
                if state.drop_next:
                    state.drop_next -= 1
                    self.close_connection = True
                    self.connection.close()  # accepted, and the answer never sent
                    return None
            location = f"{state.url}/emails/operations/{op}?api-version=2025-09-01"
            return self._json(
                202, {"id": op, "status": "Running"}, {"Operation-Location": location}
            )

        def do_GET(self) -> None:
            op = self.path.split("?")[0].rsplit("/", 1)[-1]
            with state.lock:
                known = op in state.operations
            if known:
                return self._json(200, {"id": op, "status": "Succeeded"})
            return self._json(404, {"error": {"code": "NotFound"}})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
