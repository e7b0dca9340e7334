"""A client of the mail sandbox's inbox API, as tests (and the future ops page) read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from sandbox.mail.server import MailSandbox, Options


@dataclass(frozen=True)
class Inbox:
    base_url: str

    def messages(self, **filters: str) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.base_url}/api/messages", params=filters, timeout=10)
        resp.raise_for_status()
        found: list[dict[str, Any]] = resp.json()["messages"]
        return found

    def read(self, message_id: int) -> dict[str, Any]:
        resp = requests.get(f"{self.base_url}/api/messages/{message_id}", timeout=10)
        resp.raise_for_status()
        detail: dict[str, Any] = resp.json()
        return detail

    def raw(self, message_id: int) -> bytes:
        resp = requests.get(f"{self.base_url}/api/messages/{message_id}/raw", timeout=10)
        resp.raise_for_status()
        return resp.content

    def fault(self, **body: Any) -> dict[str, Any]:
        resp = requests.post(f"{self.base_url}/api/faults", json=body, timeout=10)
        resp.raise_for_status()
        faults: dict[str, Any] = resp.json()
        return faults

    def clear(self) -> None:
        requests.delete(f"{self.base_url}/api/messages", timeout=10).raise_for_status()
        requests.delete(f"{self.base_url}/api/faults", timeout=10).raise_for_status()

    def everything(self) -> list[bytes]:
        """Every message received, raw: what a grep reads."""
        return [self.raw(m["id"]) for m in self.messages()]


def started(data_dir: Path, **options: Any) -> MailSandbox:
    return MailSandbox(Options(data_dir=data_dir, **options))
