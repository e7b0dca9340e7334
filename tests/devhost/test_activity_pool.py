"""devhost.activity_pool: a bounded set of threads, queued work dropped at shutdown."""

from __future__ import annotations

import threading

import pytest

from devhost.activity_pool import ActivityPool


def test_no_more_items_run_at_once_than_the_pool_has_threads() -> None:
    lock = threading.Lock()
    running = peak = 0
    done = threading.Semaphore(0)
    release = threading.Event()

    def run(_item: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1
        done.release()

    pool: ActivityPool[int] = ActivityPool(3, run, name="test-pool")
    for item in range(8):
        pool.submit(item)
    threading.Timer(0.2, release.set).start()
    for _ in range(8):
        assert done.acquire(timeout=30)
    pool.shutdown()
    assert peak == 3


def test_shutdown_drops_queued_items_and_waits_for_running_ones() -> None:
    started = threading.Event()
    release = threading.Event()
    ran: list[int] = []

    def run(item: int) -> None:
        started.set()
        release.wait(5)
        ran.append(item)

    pool: ActivityPool[int] = ActivityPool(1, run, name="test-pool")
    for item in range(5):
        pool.submit(item)
    assert started.wait(30)
    threading.Timer(0.1, release.set).start()
    pool.shutdown()
    assert ran == [0]  # the running item finished; the four queued ones were dropped


def test_an_error_escaping_run_is_logged_and_the_thread_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = threading.Semaphore(0)

    def run(item: int) -> None:
        served.release()
        if item == 0:
            raise SystemExit("escaped")

    pool: ActivityPool[int] = ActivityPool(1, run, name="test-pool")
    pool.submit(0)
    pool.submit(1)
    assert served.acquire(timeout=30) and served.acquire(timeout=30)
    pool.shutdown()
    assert "unexpected error" in caplog.text


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        ActivityPool(0, lambda _item: None, name="test-pool")
