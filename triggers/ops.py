"""Operator endpoints. `POST /api/ops/connectivity-checks` starts a connectivity check.

The instance id is `connectivity-check-<UTC minute>` (e.g. `connectivity-check-20261122T1815`):
every POST within the same minute collapses onto one instance, so a double click, a retried
request or two operators at once start one check and all get its status links. An instance of
that minute which failed or was terminated is started again; a running or completed one is
returned as it is. The answer is the Durable check-status response (202, `Location`,
`statusQueryGetUri`): its output is the report (workflows/connectivity.py).
"""

from __future__ import annotations

from datetime import datetime

import azure.durable_functions as df

from shared.clock import Clock, SystemClock
from triggers.api import API, Call, DurableCheckStatus, Reply, check_status_reply
from workflows.connectivity import ORCHESTRATOR

bp = df.Blueprint()

CLOCK: Clock = SystemClock()
RESTARTABLE = (
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
    df.OrchestrationRuntimeStatus.Canceled,
)


def check_instance_id(now: datetime) -> str:
    """The instance id of the check requested at `now`: one per UTC minute."""
    return f"{ORCHESTRATOR.replace('_', '-')}-{now.strftime('%Y%m%dT%H%M')}"


@API.route(
    bp,
    "POST",
    "ops/connectivity-checks",
    summary="Start a connectivity check (one per UTC minute)",
    responses={202: DurableCheckStatus},
    durable_client=True,
)
async def start_connectivity_check(
    call: Call[None], client: df.DurableOrchestrationClient
) -> Reply:
    """Checks Partner Center, Stripe and Storage. Posts within one UTC minute share one
    instance; `Location` is its status, whose `output` is the report."""
    instance_id = check_instance_id(CLOCK.now())
    if await _needs_start(client, instance_id):
        try:
            await client.start_new(ORCHESTRATOR, instance_id)
        except Exception:
            # A concurrent request started it between our read and our start: that is the
            # collapse working. Anything else is a real failure.
            if await _needs_start(client, instance_id):
                raise
    return check_status_reply(client, call, instance_id)


async def _needs_start(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    return status.runtime_status is None or status.runtime_status in RESTARTABLE
