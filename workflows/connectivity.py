"""Orchestrator `connectivity_check`: can this deployment reach everything it depends on?

The example every workflow copies (docs/architecture.md, "Add a workflow"). It fans out to
one activity per system, each with the "probe" retry policy, and fans in to a
`ConnectivityReport`. A check whose system refused is reported "refused"; one whose retries
were all spent, "unreachable"; the orchestration itself completes, so the report is always
there to read.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal, NamedTuple

import azure.durable_functions as df
from pydantic import BaseModel

from activities.boundary import Activity
from activities.connectivity import check_partner_center, check_storage, check_stripe
from shared.models import DomainModel
from shared.models.connectivity import (
    CheckName,
    CheckResult,
    ConnectivityReport,
    PartnerCenterProbe,
    StorageProbe,
    StripeProbe,
)
from shared.storage import EVENTS_TABLE, PARTNER_CENTER_EVENTS_QUEUE
from workflows.durable import (
    RETRY_POLICIES,
    Outcome,
    call,
    orchestration,
    read_envelope,
    set_status,
    settle_all,
)

bp = df.Blueprint()

RETRY = RETRY_POLICIES["probe"]


class Check(NamedTuple):
    name: CheckName
    activity: Activity[Any, CheckResult]
    probe: BaseModel


CHECKS: tuple[Check, ...] = (
    Check("partner_center", check_partner_center, PartnerCenterProbe()),
    Check("stripe", check_stripe, StripeProbe()),
    Check(
        "storage",
        check_storage,
        StorageProbe(table=EVENTS_TABLE, queue=PARTNER_CENTER_EVENTS_QUEUE),
    ),
)


class Checking(DomainModel):
    """Custom status while the checks run."""

    state: Literal["checking"] = "checking"
    checks: list[CheckName]


class Done(DomainModel):
    """Custom status once the report is written."""

    state: Literal["done"] = "done"
    ok: bool
    failed: list[CheckName]


@orchestration(bp)
def connectivity_check(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    started = context.current_utc_datetime
    set_status(context, Checking(checks=[c.name for c in CHECKS]))
    outcomes = yield from settle_all(
        *(call(context, c.activity, c.probe, retry="probe") for c in CHECKS)
    )
    results = [as_result(check, outcome) for check, outcome in zip(CHECKS, outcomes, strict=True)]
    report = ConnectivityReport(
        instance_id=context.instance_id,
        started_at=started,
        finished_at=context.current_utc_datetime,
        ok=all(r.ok for r in results),
        checks=results,
    )
    failed = [r.name for r in results if not r.ok]
    set_status(context, Done(ok=report.ok, failed=failed))
    return report.model_dump(mode="json")


ORCHESTRATOR = connectivity_check.__name__


def as_result(check: Check, outcome: Outcome[CheckResult]) -> CheckResult:
    """The check's line in the report."""
    if outcome.value is not None:
        return outcome.value.model_copy(update={"latency_ms": outcome.elapsed_ms})
    assert outcome.failure is not None
    return CheckResult(
        name=check.name,
        ok=False,
        latency_ms=outcome.elapsed_ms,
        detail=outcome.failure.describe(),
        failure="refused" if outcome.failure.kind == "permanent" else "unreachable",
    )


def read_check(check: Check, envelope: Any) -> CheckResult:
    """The report line for an envelope the check's activity returned."""
    return as_result(check, read_envelope(check.activity, envelope))
