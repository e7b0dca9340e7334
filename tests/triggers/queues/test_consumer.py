"""The consumer's exactly-once order (seen? act, record), against the sandboxes and Azurite:
duplicates, a crash between acting and recording, two copies at once, the Durable client's
start and signal rules, and the ops alert on a message's last attempt."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.functions.queue import QueueMessage

from tests.triggers.intake_world import FakeOrchestrations, World, book_customer, pc_message
from triggers.queues.consumer import MAX_DEQUEUE_COUNT, DurableOrchestrations, handle
from triggers.queues.routing import RECONCILIATION

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime.now(UTC)


class Crash(Exception):
    """The host dying at a checkpoint."""


def test_max_dequeue_count_is_host_jsons():
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == MAX_DEQUEUE_COUNT


@pytest.mark.slow
def test_a_duplicate_delivery_is_acted_on_once(world: World):
    message = pc_message("invoice-ready", "invoices/G1", NOW)
    fake = FakeOrchestrations()
    consumer = world.consumer(fake, {RECONCILIATION})
    first = asyncio.run(consumer.consume(message))
    second = asyncio.run(consumer.consume(message))
    assert first.endswith("started reconciliation reconciliation-G1")
    assert second.startswith("already processed: ")
    assert fake.starts == ["reconciliation-G1"]


@pytest.mark.slow
@pytest.mark.parametrize("registered", [True, False], ids=["deployed", "not deployed"])
def test_a_crash_between_acting_and_recording_repeats_only_the_idempotent_act(
    world: World, registered: bool
):
    tenant = world.pc.customer()
    sub = world.pc.buy(tenant, quantity=4)
    customer_id = book_customer(world, tenant=tenant)
    invoice = pc_message("invoice-ready", "invoices/G2", NOW)
    changed = pc_message("subscription-updated", f"customers/{tenant}/subscriptions/{sub}", NOW)
    fake = FakeOrchestrations()
    names = {RECONCILIATION} if registered else set()

    for message in (invoice, changed):
        crashing = world.consumer(fake, names)

        def crash(step: str, m: Any) -> None:
            if step == "acted":
                raise Crash(step)

        crashing.checkpoint = crash
        with pytest.raises(Crash):
            asyncio.run(crashing.consume(message))
        assert world.book.processed_events.seen(message.source, message.key) is None
        asyncio.run(world.consumer(fake, names).consume(message))  # the redelivery

    book = world.book
    assert book.processed_events.seen("partner_center", invoice.key) is not None
    assert book.processed_events.seen("partner_center", changed.key) is not None
    if registered:
        assert list(fake.started) == ["reconciliation-G2"]  # asked twice, started once
        assert fake.starts == ["reconciliation-G2", "reconciliation-G2"]
    else:
        kept = book.workflow_inbox.of_workflow(RECONCILIATION).items
        assert [(k.instance_id, k.event_key) for k in kept] == [("reconciliation-G2", invoice.key)]
    stored = book.subscriptions.get(customer_id, sub)
    assert stored.version == 1 and stored.record.subscription.quantity == 4
    assert [e.id for e in book.timeline.page(customer_id).items] == [
        f"partner_center:subscription:{sub}:v0"
    ]


@pytest.mark.slow
def test_two_copies_consumed_at_once_are_recorded_once_and_start_once(world: World):
    message = pc_message("invoice-ready", "invoices/G3", NOW)
    fake = FakeOrchestrations()

    async def both() -> list[str]:
        return list(
            await asyncio.gather(
                world.consumer(fake, {RECONCILIATION}).consume(message),
                world.consumer(fake, {RECONCILIATION}).consume(message),
            )
        )

    outcomes = asyncio.run(both())
    assert list(fake.started) == ["reconciliation-G3"]
    assert sum(o.startswith(("processed concurrently", "already processed")) for o in outcomes) >= 1
    assert world.book.processed_events.seen("partner_center", message.key) is not None


@dataclass
class Status:
    runtime_status: Any


@dataclass
class FakeClient:
    """The part of DurableOrchestrationClient DurableOrchestrations calls."""

    statuses: dict[str, Any] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)
    start_fails: bool = False

    async def get_status(self, instance_id: str) -> Status:
        return Status(self.statuses.get(instance_id))

    async def start_new(self, name: str, instance_id: str, data: Any) -> str:
        if self.start_fails:
            self.statuses[instance_id] = df.OrchestrationRuntimeStatus.Running
            raise RuntimeError("an instance with this id exists")
        self.started.append(instance_id)
        self.statuses[instance_id] = df.OrchestrationRuntimeStatus.Running
        return instance_id

    async def raise_event(self, instance_id: str, event: str, data: Any) -> None:
        self.raised.append(f"{instance_id}:{event}")


def orchestrations(client: FakeClient) -> DurableOrchestrations:
    return DurableOrchestrations(client)


def test_a_start_starts_a_new_or_ended_in_failure_instance_only():
    client = FakeClient(
        statuses={
            "running": df.OrchestrationRuntimeStatus.Running,
            "done": df.OrchestrationRuntimeStatus.Completed,
            "failed": df.OrchestrationRuntimeStatus.Failed,
        }
    )
    started = [
        asyncio.run(orchestrations(client).start("dunning", i, {}))
        for i in ("new", "running", "done", "failed")
    ]
    assert started == [True, False, False, True]
    assert client.started == ["new", "failed"]


def test_a_start_that_loses_the_race_is_the_collapse_and_anything_else_raises():
    client = FakeClient(start_fails=True)
    assert asyncio.run(orchestrations(client).start("dunning", "raced", {})) is False

    class Broken(FakeClient):
        async def start_new(self, name: str, instance_id: str, data: Any) -> str:
            raise RuntimeError("storage down")

    with pytest.raises(RuntimeError, match="storage down"):
        asyncio.run(orchestrations(Broken()).start("dunning", "x", {}))


def test_a_signal_to_an_instance_that_ended_meanwhile_is_not_a_failure():
    class Ending(FakeClient):
        async def raise_event(self, instance_id: str, event: str, data: Any) -> None:
            self.statuses[instance_id] = df.OrchestrationRuntimeStatus.Completed
            raise RuntimeError("the instance is not running")

    client = Ending(statuses={"ending": df.OrchestrationRuntimeStatus.Running})
    assert asyncio.run(orchestrations(client).signal("ending", "invoice_paid", {})) is False

    class Broken(FakeClient):
        async def raise_event(self, instance_id: str, event: str, data: Any) -> None:
            raise RuntimeError("storage down")

    running = Broken(statuses={"up": df.OrchestrationRuntimeStatus.Running})
    with pytest.raises(RuntimeError, match="storage down"):
        asyncio.run(orchestrations(running).signal("up", "invoice_paid", {}))


def test_a_signal_is_raised_on_a_running_instance_only():
    client = FakeClient(
        statuses={
            "running": df.OrchestrationRuntimeStatus.Running,
            "done": df.OrchestrationRuntimeStatus.Completed,
        }
    )
    raised = [
        asyncio.run(orchestrations(client).signal(i, "invoice_paid", {}))
        for i in ("running", "done", "never")
    ]
    assert raised == [True, False, False]
    assert client.raised == ["running:invoice_paid"]


@pytest.mark.slow
@pytest.mark.parametrize("attempt", [1, MAX_DEQUEUE_COUNT])
def test_a_message_failing_its_last_attempt_raises_an_ops_alert_first(world: World, attempt: int):
    tenant = world.pc.customer()
    sub = world.pc.buy(tenant)
    book_customer(world, tenant=tenant)
    message = pc_message("subscription-updated", f"customers/{tenant}/subscriptions/{sub}", NOW)
    world.pc.faults(fail_next=10, fail_status=503)  # Partner Center is down
    delivery = QueueMessage(
        id="m-1", body=message.model_dump_json().encode(), dequeue_count=attempt
    )
    with pytest.raises(Exception, match="503"):
        asyncio.run(
            handle("cspflow-events-partner-center", delivery, None, set(), lambda s, m: None)
        )
    alert = world.book.alerts.find(
        datetime.now(UTC), f"poison:cspflow-events-partner-center:{message.key}"
    )
    if attempt < MAX_DEQUEUE_COUNT:
        assert alert is None
    else:
        assert alert is not None and alert.kind == "poison" and "redrive" in alert.summary
    assert world.book.processed_events.seen("partner_center", message.key) is None


@pytest.mark.slow
def test_a_message_that_is_no_event_fails_and_is_alerted_on_its_last_attempt(world: World):
    delivery = QueueMessage(id="m-2", body=b"not an event", dequeue_count=MAX_DEQUEUE_COUNT)
    with pytest.raises(Exception):  # noqa: B017 - the validation error of any malformed body
        asyncio.run(handle("cspflow-events-stripe", delivery, None, set(), lambda s, m: None))
    alert = world.book.alerts.find(datetime.now(UTC), "poison:cspflow-events-stripe:m-2")
    assert alert is not None
