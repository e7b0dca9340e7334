"""Operator endpoints. `POST /api/ops/connectivity-checks` starts a connectivity check;
`POST /api/ops/catalog-syncs` imports markets' catalogues and Microsoft's prices into the book.

The instance id is `connectivity-check-<UTC minute>` (e.g. `connectivity-check-20261122T1815`):
every POST within the same minute collapses onto one instance, so a double click, a retried
request or two operators at once start one check and all get its status links. An instance of
that minute which failed or was terminated is started again; a running or completed one is
returned as it is. The answer is the Durable check-status response (202, `Location`,
`statusQueryGetUri`): its output is the report (workflows/connectivity.py).

A catalogue import is keyed the same way, by the UTC minute and the markets asked for
(`catalog-sync-20261122T1815-DE-US`): its output is a `CatalogSyncReport`
(workflows/catalog_sync.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import azure.durable_functions as df

from shared.clock import app_clock
from shared.config import get_settings
from shared.models.catalog_sync import CatalogSyncRequest
from triggers.api import API, Call, DurableCheckStatus, Reply, check_status_reply
from workflows.catalog_sync import ORCHESTRATOR as CATALOG_SYNC
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
    # Off the event loop: a simulation's clock is read over HTTP from the host that runs
    # this very function, and a blocking read on its loop would wait for itself.
    now = await asyncio.to_thread(app_clock(get_settings()).now)
    instance_id = await start_check(client, now)
    return check_status_reply(client, call, instance_id)


async def start_check(client: df.DurableOrchestrationClient, now: datetime) -> str:
    """Start (or join) the check of `now`'s minute; its instance id."""
    return await _start_or_join(client, ORCHESTRATOR, check_instance_id(now))


def catalog_sync_instance_id(now: datetime, countries: list[str]) -> str:
    """One import per UTC minute and set of markets."""
    markets = "-".join(sorted(countries))
    return f"catalog-sync-{now.strftime('%Y%m%dT%H%M')}-{markets}"


@API.route(
    bp,
    "POST",
    "ops/catalog-syncs",
    summary="Import markets' catalogues and Microsoft's prices into the book",
    request=CatalogSyncRequest,
    responses={202: DurableCheckStatus},
    durable_client=True,
)
async def start_catalog_sync(
    call: Call[CatalogSyncRequest], client: df.DurableOrchestrationClient
) -> Reply:
    """Reads each market's catalogue (products, SKUs, availabilities) and license-based
    price sheet from Partner Center and makes the book's offers for it what they say
    (docs/rules.md#catalogue-cost). The same markets within one UTC minute share one
    instance; `Location` is its status, whose `output` is the report per market."""
    now = await asyncio.to_thread(app_clock(get_settings()).now)
    request = call.body
    instance_id = catalog_sync_instance_id(now, request.countries)
    await _start_or_join(client, CATALOG_SYNC, instance_id, request.model_dump(mode="json"))
    return check_status_reply(client, call, instance_id)


async def _start_or_join(
    client: df.DurableOrchestrationClient,
    orchestrator: str,
    instance_id: str,
    payload: object = None,
) -> str:
    """Start `orchestrator` as `instance_id` unless that instance is running or done."""
    if await _needs_start(client, instance_id):
        try:
            await client.start_new(orchestrator, instance_id, payload)
        except Exception:
            # A concurrent request started it between our read and our start: that is the
            # collapse working. Anything else is a real failure.
            if await _needs_start(client, instance_id):
                raise
    return instance_id


async def _needs_start(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    return status.runtime_status is None or status.runtime_status in RESTARTABLE
