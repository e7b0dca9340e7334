"""Operations on one entity apply one at a time in the order they were sent, from a client
and from an orchestration, and read-state returns the state they built. The Durable
extension queues the operations of one entity id first in, first out and runs their batches
one at a time (TaskEntityShim, github.com/Azure/azure-functions-durable-extension; Microsoft Learn,
https://learn.microsoft.com/en-us/azure/azure-functions/durable/durable-functions-entities)."""

from __future__ import annotations

from collections.abc import Callable

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from tests.devhost.helpers import T0, run, wait_until

MakeEngine = Callable[..., DurableEngine]


def test_client_signals_to_one_entity_apply_in_the_order_sent(make_engine: MakeEngine) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    for n in range(50):
        engine.signal_entity("Log", "client", "append", n)
    wait_until(lambda: len(engine.read_entity_state("Log", "client").state or []) == 50)
    state = engine.read_entity_state("log", "client")  # entity names ignore case
    assert state.exists
    assert state.state == list(range(50))
    assert not engine.read_entity_state("Log", "someone-else").exists


def test_an_orchestrations_signals_land_in_order_before_its_later_call(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    status = run(engine, "signal_many_then_read", input='"orch"')
    assert status.output == list(range(10))
    assert engine.read_entity_state("Log", "orch").state == list(range(10))
