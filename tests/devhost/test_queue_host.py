"""Queue triggers under `python -m devhost start` against a real Azurite: a host killed
(SIGKILL) in the middle of a batch loses no message, outputs and %Setting% names work, and a
virtual clock does not jump past a message waiting on a queue."""

import base64
import contextlib
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from tests.devhost.azurite_fixture import azurite_service  # noqa: F401  (the azurite fixture)
from tests.devhost.helpers import jsonl_records, wait_until
from tests.devhost.host_process import FRONT_APPS, app_copy, running_host, start_host

pytestmark = pytest.mark.slow


def _queue(azurite: Azurite, name: str) -> QueueClient:
    client = QueueClient.from_connection_string(azurite.connection_string, name)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def _app(tmp_path: Path, azurite: Azurite, queue: str, **extra: str) -> tuple[Path, Path]:
    record = tmp_path / "record.jsonl"
    app = app_copy(
        FRONT_APPS / "queued",
        tmp_path / "app",
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "ORDERS_QUEUE": queue,
            "RECORD": str(record),
            **extra,
        },
    )
    return app, record


def test_a_host_killed_mid_batch_loses_no_message(tmp_path: Path, azurite: Azurite) -> None:
    queue = f"orders-{uuid.uuid4().hex[:10]}"
    app, record = _app(tmp_path, azurite, queue, HANG_FIRST_TRY="1")
    source = _queue(azurite, queue)
    bodies = [f"order-{n}" for n in range(3)]
    for body in bodies:
        source.send_message(base64.b64encode(body.encode()).decode())
    lease = {"DEVHOST_QUEUE_LEASE_SECONDS": "2"}

    first = start_host(app, env=lease)
    # The whole batch is in flight (batchSize 4), every function stuck on its first try.
    wait_until(
        lambda: len([r for r in jsonl_records(record) if r["kind"] == "start"]) == 3, timeout=30
    )
    first.kill()
    assert [r for r in jsonl_records(record) if r["kind"] == "done"] == []

    with running_host(app, env=lease) as second:
        wait_until(
            lambda: len([r for r in jsonl_records(record) if r["kind"] == "done"]) == 3, timeout=30
        )
    assert second.process.returncode == 0
    done = [r for r in jsonl_records(record) if r["kind"] == "done"]
    assert sorted(r["body"] for r in done) == bodies
    assert {r["dequeue_count"] for r in done} == {2}
    assert source.get_queue_properties().approximate_message_count == 0
    outputs = _queue(azurite, f"{queue}-done").receive_messages(max_messages=32)
    assert sorted(base64.b64decode(m.content).decode() for m in outputs) == [
        f"processed {b}" for b in bodies
    ]


def test_a_host_started_without_the_storage_setting_says_what_to_set(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    app = app_copy(
        FRONT_APPS / "queued",
        tmp_path / "app",
        {"ORDERS_QUEUE": "orders", "RECORD": str(record)},
    )
    host = start_host(app, env={"AzureWebJobsStorage": ""})
    assert host.process.wait(timeout=30) == 1
    assert "AzureWebJobsStorage" in host.log()
    assert "local.settings.json" in host.log()


def test_on_a_virtual_clock_a_message_runs_when_it_was_sent_not_after_the_next_jump(
    tmp_path: Path, azurite: Azurite
) -> None:
    # An activity sends a message, then its orchestration waits three days: the idle host
    # would jump the clock at once, while the message's poller is still backing off (up to
    # maxPollingInterval, 2 s of real time). The clock asks the queues first.
    queue = f"relay-{uuid.uuid4().hex[:10]}"
    record = tmp_path / "record.jsonl"
    app = app_copy(
        FRONT_APPS / "relayed",
        tmp_path / "app",
        {"AzureWebJobsStorage": azurite.connection_string, "RELAY_QUEUE": queue,
         "RECORD": str(record)},
    )  # fmt: skip
    _queue(azurite, queue)
    with running_host(app, "--virtual-clock") as host:
        time.sleep(3)  # the poller backs off to its longest wait
        for _ in range(3):
            assert urllib.request.urlopen(f"{host.url}/api/relay", timeout=30).status == 200
            wait_until(lambda: bool(jsonl_records(record)), timeout=30)
            (ran,) = jsonl_records(record)
            record.unlink()
            waited = datetime.fromisoformat(ran["ran_at"]) - datetime.fromisoformat(ran["sent_at"])
            assert waited < timedelta(hours=1), waited
            time.sleep(2.5)
