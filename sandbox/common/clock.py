"""A clock that follows another process's clock over HTTP (devhost's virtual clock).

`GET <url>` must answer `{"now": "<ISO 8601 UTC>"}`. Readings are cached for a short
interval so a burst of requests costs one round trip.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import requests

# How long a reading is reused: a process that moves the clock waits this long before it
# counts on every sandbox seeing the new time.
CACHE_S = 0.05


class RemoteClock:
    def __init__(self, url: str, cache_s: float = CACHE_S, timeout_s: float = 5.0) -> None:
        self._url = url
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._cached: tuple[float, datetime] | None = None

    def now(self) -> datetime:
        with self._lock:
            mono = time.monotonic()
            if self._cached is not None and mono - self._cached[0] < self._cache_s:
                return self._cached[1]
            resp = requests.get(self._url, timeout=self._timeout_s)
            resp.raise_for_status()
            when = datetime.fromisoformat(resp.json()["now"])
            if when.tzinfo is None:
                raise ValueError(f"clock at {self._url} returned a naive time: {when}")
            self._cached = (mono, when)
            return when
