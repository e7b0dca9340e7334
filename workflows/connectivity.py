"""Orchestrator `connectivity_check`: can this deployment reach everything it depends on?

Fans out to one activity per system (Partner Center, Stripe, Azure Storage), each with a
small retry policy, and fans in to a `ConnectivityReport`. A check whose retries are all
spent is reported as failed ("unreachable", with the last error's first line); the
orchestration itself completes, so the report is always there to read. Custom status:
`{"state": "checking", ...}` while it runs, `{"state": "done", "ok": ..., "failed": [...]}`.

Version 1.0 (host.json defaultVersion): changing the sequence of durable calls needs a new
version or name (versioning, in docs/architecture.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from shared.models._base import DomainModel
from shared.models.connectivity import (
    CheckName,
    CheckResult,
    ConnectivityReport,
    PartnerCenterProbe,
    StorageProbe,
    StripeProbe,
)
from shared.storage import EVENTS_QUEUE, EVENTS_TABLE

bp = df.Blueprint()

ORCHESTRATOR = "connectivity_check"
# Three attempts 2 s apart (the Python SDK sends no backoff, so the extension's default of 1
# applies): a blip is forgiven, a dead endpoint reported within seconds.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=3)
CHECKS: tuple[tuple[CheckName, str, DomainModel], ...] = (
    ("partner_center", "check_partner_center", PartnerCenterProbe()),
    ("stripe", "check_stripe", StripeProbe()),
    ("storage", "check_storage", StorageProbe(table=EVENTS_TABLE, queue=EVENTS_QUEUE)),
)


def connectivity_check(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    started = context.current_utc_datetime
    context.set_custom_status({"state": "checking", "checks": [name for name, _, _ in CHECKS]})
    tasks = [
        context.call_activity_with_retry(activity, RETRY, probe.model_dump(mode="json"))
        for _, activity, probe in CHECKS
    ]
    # All three run at once. If one fails for good, task_all raises at once: each task is
    # then read on its own below (waiting for those still running).
    with contextlib.suppress(Exception):
        yield context.task_all(tasks)
    results: list[CheckResult] = []
    for (name, _, _), task in zip(CHECKS, tasks, strict=True):
        try:
            value = yield task  # a finished task resumes at once with its value or failure
        except Exception as exc:
            results.append(
                CheckResult(name=name, ok=False, detail=_reason(exc), failure="unreachable")
            )
        else:
            results.append(CheckResult.model_validate(value))
    report = ConnectivityReport(
        instance_id=context.instance_id,
        started_at=started,
        finished_at=context.current_utc_datetime,
        ok=all(r.ok for r in results),
        checks=results,
    )
    context.set_custom_status(
        {"state": "done", "ok": report.ok, "failed": [r.name for r in results if not r.ok]}
    )
    return report.model_dump(mode="json")


# Registered without rebinding the name, so tests drive the generator itself.
bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)(connectivity_check)


def _reason(exc: Exception) -> str:
    """The failure's first line: `Activity function 'x' failed: CheckUnavailable: ...`
    (the rest is the activity's stack trace, kept in the instance history)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:500]
