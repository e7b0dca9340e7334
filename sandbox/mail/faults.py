"""Faults the SMTP side injects on request (`POST /api/faults`), for tests and demos.

- `refuse`: RCPT TO for these addresses is answered with a code (550 by default: the
  address does not exist; a 4xx is a temporary refusal). Until cleared.
- `drop_after_data`: the next N messages are stored, then the connection is dropped
  without an answer: the sender sees an error for a message that was received.
- `slow`: the next N answers at a phase (`data`: after the message; `ehlo`: the greeting
  exchange) come `seconds` late, so a sender with a shorter timeout gives up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

SlowPhase = Literal["ehlo", "data"]


@dataclass
class Refusal:
    code: int
    text: str


@dataclass
class Faults:
    refuse: dict[str, Refusal] = field(default_factory=dict)
    drop_after_data: int = 0
    slow_seconds: float = 0.0
    slow_times: int = 0
    slow_phase: SlowPhase = "data"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, body: dict[str, Any]) -> None:
        """Add the faults in `body` (the `POST /api/faults` JSON); ValueError if malformed."""
        with self._lock:
            for item in body.get("refuse", []):
                if isinstance(item, str):
                    item = {"address": item}
                code = int(item.get("code", 550))
                if not 400 <= code < 600:
                    raise ValueError("a refusal code is 4xx or 5xx")
                default = (
                    "5.1.1 Recipient address rejected: user unknown"
                    if code >= 500
                    else "4.2.1 Mailbox busy, try again later"
                )
                self.refuse[str(item["address"]).strip().lower()] = Refusal(
                    code, str(item.get("message", default))
                )
            if "drop_after_data" in body:
                self.drop_after_data = _count(body["drop_after_data"])
            if "slow" in body:
                slow = body["slow"]
                self.slow_seconds = float(slow.get("seconds", 5.0))
                self.slow_times = _count(slow.get("times", 1))
                phase = slow.get("phase", "data")
                if phase not in ("ehlo", "data"):
                    raise ValueError("slow.phase is ehlo or data")
                self.slow_phase = phase

    def clear(self) -> None:
        with self._lock:
            self.refuse.clear()
            self.drop_after_data = 0
            self.slow_seconds, self.slow_times = 0.0, 0

    def refusal(self, address: str) -> Refusal | None:
        with self._lock:
            return self.refuse.get(address.strip().lower())

    def take_drop(self) -> bool:
        with self._lock:
            if self.drop_after_data > 0:
                self.drop_after_data -= 1
                return True
            return False

    def take_delay(self, phase: SlowPhase) -> float:
        with self._lock:
            if self.slow_times > 0 and self.slow_phase == phase:
                self.slow_times -= 1
                return self.slow_seconds
            return 0.0

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "refuse": [
                    {"address": a, "code": r.code, "message": r.text}
                    for a, r in sorted(self.refuse.items())
                ],
                "drop_after_data": self.drop_after_data,
                "slow": {
                    "seconds": self.slow_seconds,
                    "times": self.slow_times,
                    "phase": self.slow_phase,
                },
            }


def _count(value: Any) -> int:
    count = int(value)
    if count < 0:
        raise ValueError("a count is 0 or more")
    return count
