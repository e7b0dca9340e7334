"""A test app around cspflow's event intake (not the product's function_app): the product's
webhook routes, queue consumers and intake ops routes (redrive), one orchestrator (`reconciliation`, waiting for an event
that never comes, so it stays running) and a checkpoint that SIGKILLs the whole host at the
consumer steps the environment names.

INTAKE_KILLS: the kills to make, in order, e.g. `acted,recorded` (the first consumer to reach
`acted` kills the host; after a restart, the first to reach `recorded`, ...).
INTAKE_KILL_LOG: a file where each kill is written (with the event's key) just before it
happens, so the next run knows which kills are done and the test can read them.
"""

import os
import signal
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared.models.intake import EventMessage
from triggers.intake_ops import bp as intake_ops_bp
from triggers.queues.consumer import intake_blueprint
from triggers.webhooks import bp as webhooks_bp
from workflows.durable import orchestration, orchestrator_names

_lock = threading.Lock()


def checkpoint(step: str, message: EventMessage) -> None:
    plan = [s for s in os.environ.get("INTAKE_KILLS", "").split(",") if s]
    log = Path(os.environ["INTAKE_KILL_LOG"])
    with _lock:
        done = log.read_text().splitlines() if log.exists() else []
        if len(done) >= len(plan) or plan[len(done)] != step:
            return
        with log.open("a") as fh:
            fh.write(f"{step} {message.key}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


workflows = df.Blueprint()


@orchestration(workflows)
def reconciliation(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.wait_for_external_event("never")
    return context.get_input()


app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(webhooks_bp)
app.register_functions(intake_ops_bp)
app.register_functions(
    intake_blueprint(orchestrators=lambda: orchestrator_names((workflows,)), checkpoint=checkpoint)
)
app.register_functions(workflows)
