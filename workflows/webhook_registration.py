"""Orchestrator `register_partner_center_webhook`: cspflow's callback registered with
Partner Center, and a test event delivered to it (docs/intake.md, "Registering").

1. `register_webhook` registers the callback URL (or updates the registration) for every
   event Partner Center offers and asks for a test event;
2. `read_test_event` reads the test event's delivery result, every `POLL` on a durable timer,
   until Partner Center reports it completed or failed (`POLLS` times at most: its first
   retry comes a minute after a failed attempt).

The output says what was done and what the test delivery got (`test_event.results`: each
attempt's response code). It completes either way: a failure is in `problem`.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.webhook_registration import RegisterWebhook, read_test_event, register_webhook
from shared.models import DomainModel
from shared.models.webhook_registration import (
    ValidationEventQuery,
    ValidationEventResult,
    WebhookRegistrationReport,
)
from workflows.durable import orchestration, run, set_status, step_key

bp = df.Blueprint()

ORCHESTRATOR = "register_partner_center_webhook"
POLL = timedelta(seconds=5)
POLLS = 24


class RegistrationRequest(DomainModel):
    callback_url: str


class RegistrationStatus(DomainModel):
    state: str


@orchestration(bp)
def register_partner_center_webhook(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    request = RegistrationRequest.model_validate(context.get_input())
    set_status(context, RegistrationStatus(state="registering"))
    registered = yield from run(
        context,
        register_webhook,
        RegisterWebhook(step_key=step_key(context, "register"), callback_url=request.callback_url),
    )
    if registered.value is None:
        problem = registered.failure.describe() if registered.failure else "no answer"
        set_status(context, RegistrationStatus(state="failed"))
        report = WebhookRegistrationReport(
            ok=False, webhook_url=request.callback_url, problem=problem
        )
        return report.model_dump(mode="json")
    done = registered.value
    set_status(context, RegistrationStatus(state="testing"))
    result: ValidationEventResult | None = None
    for attempt in range(POLLS):
        if attempt:
            yield context.create_timer(context.current_utc_datetime + POLL)
        read = yield from run(
            context, read_test_event, ValidationEventQuery(correlation_id=done.correlation_id)
        )
        if read.value is not None:
            result = read.value
            if result.settled:
                break
    delivered = result is not None and result.status.lower() == "completed"
    set_status(context, RegistrationStatus(state="done"))
    report = WebhookRegistrationReport(
        ok=delivered,
        webhook_url=done.webhook_url,
        action=done.action,
        events=done.events,
        test_event=result,
        problem=None if delivered else "the test event was not delivered (see test_event)",
    )
    return report.model_dump(mode="json")
