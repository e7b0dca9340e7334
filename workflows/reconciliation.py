"""Orchestrator `reconciliation`: Partner Center's invoice matched line by line to what
cspflow billed (docs/billing.md, "Reconciliation"; docs/rules.md#reconciliation).

Started by Partner Center's `invoice-ready` event (event intake, instance
`reconciliation-<invoice id>`, input `{"invoice_id": ...}`), by the monthly timer or by
`POST /api/ops/reconciliations` for a period (instance `reconciliation-<period>`):

1. `resolve_partner_invoice`: the invoice and its period;
2. `reconcile_invoice`: the billed reconciliation lines exported, matched and classified,
   saved with the period's summary; the `billing_accuracy` KPI event; an ops alert when the
   leakage reaches the partner's threshold. Retried by the patient policy: Microsoft's
   export can take a while, and a retry resumes nothing but writes the same rows.

The output is the period's summary.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from pydantic import Field

from activities.reconciliation import (
    ReconcileInvoice,
    ResolveInvoice,
    reconcile_invoice,
    resolve_partner_invoice,
)
from shared.models import DomainModel
from shared.models.billing_run import PeriodName
from workflows.durable import orchestration, read_input, run, step_key

bp = df.Blueprint()


class Reconcile(DomainModel):
    invoice_id: str | None = Field(default=None, max_length=64)
    period: PeriodName | None = None


def period_instance_id(period: str) -> str:
    return f"reconciliation-{period}"


@orchestration(bp)
def reconciliation(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    ask = read_input(context, Reconcile)
    resolved = yield from run(
        context,
        resolve_partner_invoice,
        ResolveInvoice(invoice_id=ask.invoice_id, period=ask.period),
    )
    found = resolved.unwrap()
    summary = yield from run(
        context,
        reconcile_invoice,
        ReconcileInvoice(
            step_key=step_key(context, f"reconcile-{found.invoice_id}"),
            invoice_id=found.invoice_id,
            period=found.period,
        ),
        retry="patient",
    )
    return summary.unwrap().model_dump(mode="json")


ORCHESTRATOR = reconciliation.__name__
