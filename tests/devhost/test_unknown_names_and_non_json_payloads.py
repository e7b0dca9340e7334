"""An unknown sub-orchestrator or entity name fails the orchestration with the Durable
extension's wording (DurableTaskExtension.ThrowIfFunctionDoesNotExist,
github.com/Azure/azure-functions-durable-extension) and the names the app does define; a client signal to an
unknown entity is refused the same way. A payload that is not JSON fails the orchestration
(or only the entity operation) and says why."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.errors import FunctionNotFoundError
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0

MakeEngine = Callable[..., DurableEngine]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "sub",
            "The function 'no_such_orchestrator' doesn't exist, is disabled, or is not an "
            "orchestrator function. Additional info: the app defines ['backoff_retry', ",
        ),
        (
            "call",
            "The function 'nosuchentity' doesn't exist, is disabled, or is not an entity "
            "function. Additional info: the app defines ['Counter', ",
        ),
        (
            "signal",
            "The function 'nosuchentity' doesn't exist, is disabled, or is not an entity "
            "function. Additional info: the app defines ['Counter', ",
        ),
    ],
)
def test_calling_an_unknown_function_fails_the_orchestration_and_names_it(
    make_engine: MakeEngine, kind: str, message: str
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    status = engine.wait_for_completion(engine.start_new("calls_unknown", input=f'"{kind}"'), 10)
    assert status.runtime_status is RuntimeStatus.Failed
    assert status.output.startswith(f"Orchestrator function 'calls_unknown' failed: {message}")


def test_a_client_signal_to_an_unknown_entity_is_refused(make_engine: MakeEngine) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    with pytest.raises(FunctionNotFoundError, match="'NoSuchEntity' doesn't exist"):
        engine.signal_entity("NoSuchEntity", "k", "add", 1)


SET_IS_NOT_JSON = "class <class 'set'> does not expose a `to_json` function"


@pytest.mark.parametrize("where", ["custom_status", "activity_input"])
def test_an_orchestrator_payload_that_is_not_json_fails_the_instance_and_says_so(
    make_engine: MakeEngine, where: str
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    instance_id = engine.start_new("unserializable_payload", input=f'"{where}"')
    status = engine.wait_for_completion(instance_id, 10)
    assert status.runtime_status is RuntimeStatus.Failed
    assert (
        status.output == f"Orchestrator function 'unserializable_payload' failed: {SET_IS_NOT_JSON}"
    )


def test_an_entity_state_that_is_not_json_fails_only_the_operation(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    instance_id = engine.start_new("unserializable_payload", input='"entity_state"')
    status = engine.wait_for_completion(instance_id, 10)
    assert status.runtime_status is RuntimeStatus.Completed
    assert status.output == f"caught: {SET_IS_NOT_JSON}"
    assert not engine.read_entity_state("SetBox", "k").exists  # nothing half-written
