"""Queue triggers against a real Azurite, through the real azure-storage-queue SDK."""

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from devhost.listeners.invoke import Invoker, trigger_of
from devhost.listeners.queue import QueuePoller
from devhost.listeners.storage import QueueClients, decode_message
from devhost.settings import QueueOptions
from tests.devhost.azurite_fixture import azurite_service  # noqa: F401  (the azurite fixture)

pytestmark = pytest.mark.slow


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _client(azurite: Azurite, queue: str) -> QueueClient:
    client = QueueClient.from_connection_string(azurite.connection_string, queue)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _drain(client: QueueClient) -> list[str]:
    return [m.content for m in client.receive_messages(max_messages=32)]


async def _run_until(
    azurite: Azurite,
    fn: func.Function,
    options: QueueOptions,
    done: Callable[[], bool],
    lease: timedelta = timedelta(minutes=10),
    timeout_s: float = 20.0,
) -> None:
    clients = QueueClients({"AzureWebJobsStorage": azurite.connection_string})
    invoker = Invoker(durable_client_json=lambda hub, conn: "{}", queues=clients)
    trigger = trigger_of(fn)
    poller = QueuePoller(
        fn,
        clients.queue(trigger.connection, trigger.queue_name),
        clients.queue(trigger.connection, f"{trigger.queue_name}-poison"),
        options,
        invoker.call,
        lambda content: decode_message(content, options.message_encoding),
        lease=lease,
    )
    task = asyncio.create_task(poller.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not done():
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await clients.close()


def _only_function(app: func.FunctionApp) -> func.Function:
    (fn,) = app.get_functions()
    return fn


FAST = QueueOptions(max_polling_interval=timedelta(milliseconds=200))


def test_a_base64_message_arrives_as_the_workers_queue_message_and_is_deleted(azurite):
    queue = _name("in")
    client = _client(azurite, queue)
    sent = client.send_message(_b64('{"order": 42}'))
    seen: list[func.QueueMessage] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    def handle(msg: func.QueueMessage) -> None:
        seen.append(msg)

    def done() -> bool:  # run, then deleted
        return bool(seen) and client.get_queue_properties().approximate_message_count == 0

    asyncio.run(_run_until(azurite, _only_function(app), FAST, done))
    (msg,) = seen
    assert msg.get_body() == b'{"order": 42}'
    assert msg.get_json() == {"order": 42}
    assert msg.id == sent.id
    assert msg.dequeue_count == 1
    assert msg.pop_receipt
    assert msg.insertion_time is not None and msg.insertion_time.tzinfo is not None
    assert msg.expiration_time is not None and msg.expiration_time > msg.insertion_time


def test_a_str_parameter_gets_the_decoded_text(azurite):
    queue = _name("str")
    _client(azurite, queue).send_message(_b64("héllo"))
    seen: list[Any] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="text", queue_name=queue, connection="AzureWebJobsStorage")
    def handle(text: str) -> None:
        seen.append(text)

    asyncio.run(_run_until(azurite, _only_function(app), FAST, lambda: bool(seen)))
    assert seen == ["héllo"]


def test_a_failing_message_is_retried_then_moved_to_the_poison_queue(azurite):
    queue = _name("fail")
    client = _client(azurite, queue)
    content = _b64("always fails")
    client.send_message(content)
    counts: list[Any] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    def handle(msg: func.QueueMessage) -> None:
        counts.append(msg.dequeue_count)
        raise RuntimeError("boom")

    poison = _client(azurite, f"{queue}-poison")
    options = QueueOptions(max_dequeue_count=3, max_polling_interval=timedelta(milliseconds=200))
    poisoned: list[str] = []

    def done() -> bool:
        # Moved means both: copied to the poison queue and deleted from the source.
        poisoned.extend(_drain(poison))
        return bool(poisoned) and client.get_queue_properties().approximate_message_count == 0

    asyncio.run(_run_until(azurite, _only_function(app), options, done))
    assert counts == [1, 2, 3]
    assert poisoned == [content]
    assert client.get_queue_properties().approximate_message_count == 0


def test_a_message_that_is_not_base64_goes_straight_to_poison(azurite):
    queue = _name("raw")
    client = _client(azurite, queue)
    client.send_message("not base64 at all!")
    calls: list[object] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    def handle(msg: func.QueueMessage) -> None:
        calls.append(msg)

    poison = _client(azurite, f"{queue}-poison")
    poisoned: list[str] = []

    def done() -> bool:
        # Moved means both: copied to the poison queue and deleted from the source.
        poisoned.extend(_drain(poison))
        return bool(poisoned) and client.get_queue_properties().approximate_message_count == 0

    asyncio.run(_run_until(azurite, _only_function(app), FAST, done))
    assert poisoned == ["not base64 at all!"]
    assert calls == []


def test_a_failure_waits_out_the_visibility_timeout_before_the_retry(azurite):
    queue = _name("vis")
    _client(azurite, queue).send_message(_b64("x"))
    loop_times: list[float] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    def handle(msg: func.QueueMessage) -> None:
        loop_times.append(time.monotonic())
        if msg.dequeue_count == 1:
            raise RuntimeError("first try fails")

    options = QueueOptions(
        visibility_timeout=timedelta(seconds=2), max_polling_interval=timedelta(milliseconds=200)
    )
    asyncio.run(_run_until(azurite, _only_function(app), options, lambda: len(loop_times) >= 2))
    assert loop_times[1] - loop_times[0] >= 1.9


def test_queue_outputs_write_base64_messages_from_out_and_return(azurite):
    queue, out_a, out_b = _name("src"), _name("outa"), _name("outb")
    _client(azurite, queue).send_message(_b64("ping"))
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="many", queue_name=out_a, connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="$return", queue_name=out_b, connection="AzureWebJobsStorage")
    def handle(msg: str, many: func.Out[list[str]]) -> str:
        many.set([f"{msg}-1", f"{msg}-2"])
        return f"{msg}-pong"

    a, b = _client(azurite, out_a), _client(azurite, out_b)
    got_a: list[str] = []
    got_b: list[str] = []

    def done() -> bool:
        got_a.extend(_drain(a))
        got_b.extend(_drain(b))
        return len(got_a) == 2 and len(got_b) == 1

    asyncio.run(_run_until(azurite, _only_function(app), FAST, done))
    assert sorted(got_a) == [_b64("ping-1"), _b64("ping-2")]
    assert got_b == [_b64("ping-pong")]


def test_no_more_than_batch_size_plus_threshold_messages_run_at_once(azurite):
    queue = _name("batch")
    client = _client(azurite, queue)
    for i in range(12):
        client.send_message(_b64(str(i)))
    running = 0
    peak = 0
    done_ids: list[str] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    async def handle(msg: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.1)
        running -= 1
        done_ids.append(msg)

    options = QueueOptions(
        batch_size=3, new_batch_threshold=1, max_polling_interval=timedelta(milliseconds=200)
    )
    asyncio.run(_run_until(azurite, _only_function(app), options, lambda: len(done_ids) == 12))
    assert sorted(done_ids, key=int) == [str(i) for i in range(12)]
    assert 1 < peak <= 3 + 1


def test_a_message_whose_host_died_mid_run_comes_back_after_the_lease(azurite):
    queue = _name("lease")
    _client(azurite, queue).send_message(_b64("survivor"))
    counts: list[Any] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    async def handle(msg: func.QueueMessage) -> None:
        counts.append(msg.dequeue_count)
        if msg.dequeue_count == 1:
            await asyncio.sleep(3600)  # "killed" before it finishes

    fn = _only_function(app)
    lease = timedelta(seconds=1)
    # The first host is cancelled mid-run: no delete, no release, as if it died.
    asyncio.run(_run_until(azurite, fn, FAST, lambda: bool(counts), lease=lease))
    asyncio.run(_run_until(azurite, fn, FAST, lambda: len(counts) == 2, lease=lease))
    assert counts == [1, 2]
