"""Make the SDK's replay cheaper without changing what it computes.

The SDK builds a `HistoryEvent` for every event of every episode and parses each
`Timestamp` with `dateutil.parser.parse` (`models/history/HistoryEvent.py`); profiling shows
that parse is ~85% of an orchestrator call, and a full-history replay re-parses the same
strings every episode. `memoize_timestamp_parsing()` wraps that one function with an LRU
cache: same input string, same (immutable) datetime, so orchestrators see exactly what they
would see otherwise. The engine applies it by default (`DurableEngine(fast_replay=False)`
leaves the SDK untouched); it is process-wide and idempotent. In Azure the real worker does
not do this, which changes speed only.
"""

from __future__ import annotations

import functools
import gc
import importlib
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

_MODULE = "azure.durable_functions.models.history.HistoryEvent"
_CACHE_SIZE = 1 << 17  # timestamps; ~130k entries is a few tens of MB at most


def memoize_timestamp_parsing() -> None:
    module = importlib.import_module(_MODULE)
    parse: Callable[..., datetime] = getattr(module, "dt_parse")  # noqa: B009
    if getattr(parse, "devhost_memoized", False):
        return
    cached = functools.lru_cache(maxsize=_CACHE_SIZE)(parse)

    def dt_parse(timestr: Any, *args: Any, **kwargs: Any) -> datetime:
        if args or kwargs or not isinstance(timestr, str):
            return parse(timestr, *args, **kwargs)
        return cached(timestr)

    dt_parse.devhost_memoized = True  # type: ignore[attr-defined]
    dt_parse.devhost_original = parse  # type: ignore[attr-defined]
    dt_parse.devhost_cache = cached  # type: ignore[attr-defined]
    setattr(module, "dt_parse", dt_parse)  # noqa: B010


def restore_timestamp_parsing() -> None:
    """Undo `memoize_timestamp_parsing` (for measurements of the stock SDK)."""
    module = importlib.import_module(_MODULE)
    original = getattr(getattr(module, "dt_parse", None), "devhost_original", None)
    if original is not None:
        setattr(module, "dt_parse", original)  # noqa: B010 (module attribute, not typed)


def clear_timestamp_cache() -> None:
    """Empty the memo (a benchmark replaying recorded contexts starts as cold as the host
    did)."""
    module = importlib.import_module(_MODULE)
    cache = getattr(getattr(module, "dt_parse", None), "devhost_cache", None)
    if cache is not None:
        cache.cache_clear()


# -- the cyclic garbage collector ---------------------------------------------------------

_freeze_lock = threading.Lock()
_freezers = 0


def freeze_heap() -> None:
    """Collect, then hide every object alive now (modules, the app, the SDK) from the cyclic
    garbage collector until the matching `thaw_heap`.

    While the engine runs, the objects it keeps (histories, messages, replay state) are
    promoted to the oldest generation, and every few thousand of them trigger a full
    collection, which walks the whole heap: tens of thousands of objects that were loaded
    before the engine started and will outlive it. On HelloSequence5 (bench/devhost.py) such
    a collection took 25-40 ms of a ~400 ms run, mostly inside the SDK's own calls (in one
    set of 10 interleaved runs, the SDK's calls in the host cost 1.34x their cost in a quiet
    process without the freeze, 1.17x with it: median CPU time; the machine is noisy). Frozen objects are still freed by reference counting; only cycles among
    them wait for `thaw_heap`. Process-wide and nested: the first engine to start freezes,
    the last to stop thaws (`gc.unfreeze` returns them to the oldest generation)."""
    global _freezers
    with _freeze_lock:
        _freezers += 1
        if _freezers == 1:
            gc.collect()
            gc.freeze()


def thaw_heap() -> None:
    """Undo one `freeze_heap`."""
    global _freezers
    with _freeze_lock:
        if _freezers == 0:
            return
        _freezers -= 1
        if _freezers == 0:
            gc.unfreeze()
