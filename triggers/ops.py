"""Operator endpoints. `POST /api/ops/connectivity-checks` starts a connectivity check.

The instance id is `connectivity-check-<UTC minute>` (e.g. `connectivity-check-20261122T1815`):
every POST within the same minute collapses onto one instance, so a double click, a retried
request or two operators at once start one check and all get its status links. An instance of
that minute which failed or was terminated is started again; a running or completed one is
returned as it is. The answer is the Durable check-status response (202, `Location`,
`statusQueryGetUri`): its output is the report (workflows/connectivity.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import azure.durable_functions as df
import azure.functions as func

from shared.clock import app_clock
from shared.config import get_settings
from workflows.connectivity import ORCHESTRATOR

bp = df.Blueprint()

RESTARTABLE = (
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
    df.OrchestrationRuntimeStatus.Canceled,
)


def check_instance_id(now: datetime) -> str:
    """The instance id of the check requested at `now`: one per UTC minute."""
    return f"{ORCHESTRATOR.replace('_', '-')}-{now.strftime('%Y%m%dT%H%M')}"


@bp.route(
    route="ops/connectivity-checks",
    methods=[func.HttpMethod.POST],
    auth_level=func.AuthLevel.FUNCTION,
)
@bp.durable_client_input(client_name="client")
async def start_connectivity_check(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    # Off the event loop: a simulation's clock is read over HTTP from the host that runs
    # this very function, and a blocking read on its loop would wait for itself.
    now = await asyncio.to_thread(app_clock(get_settings()).now)
    return await start_check(req, client, now)


async def start_check(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, now: datetime
) -> func.HttpResponse:
    """Start (or join) the check of `now`'s minute and answer with its status links."""
    instance_id = check_instance_id(now)
    if await _needs_start(client, instance_id):
        try:
            await client.start_new(ORCHESTRATOR, instance_id)
        except Exception:
            # A concurrent request started it between our read and our start: that is the
            # collapse working. Anything else is a real failure.
            if await _needs_start(client, instance_id):
                raise
    response: func.HttpResponse = client.create_check_status_response(req, instance_id)
    return response


async def _needs_start(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    return status.runtime_status is None or status.runtime_status in RESTARTABLE
