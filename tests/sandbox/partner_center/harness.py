"""Test-only pieces around the in-process sandbox runner (sandbox/partner_center/inprocess.py):
a webhook receiver. The runner's names are re-exported for the suites that import them here."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.partner_center.inprocess import Harness

__all__ = ["Harness", "Receiver"]


class Receiver:
    """A webhook endpoint on 127.0.0.1 that keeps every delivery's raw headers and body
    and answers with the next status in `statuses` (200 when empty)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.deliveries.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/partner-center"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.deliveries]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.deliveries) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.deliveries)}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
