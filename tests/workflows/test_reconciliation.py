"""The reconciliation orchestrator, driven as a generator: the invoice resolved, then
reconciled under a step key of its own, patiently; a period Partner Center has no invoice
for yet fails with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.errors import Failure
from shared.models.reconciliation import ReconciliationSummary
from tests.orchestrator_driver import Run, drive, refused, succeeded
from workflows.durable import RETRY_POLICIES
from workflows.reconciliation import reconciliation

SUMMARY = ReconciliationSummary(
    period="2027-03",
    invoice_numbers=("G000000001",),
    reconciled_at=datetime(2027, 4, 8, 1, tzinfo=UTC),
    lines=5,
    matched=5,
    billing_accuracy=Decimal(1),
)


def test_invoice_ready_reconciles_the_invoice_it_names_for_its_period():
    result = drive_it({"invoice_id": "G000000001"})
    assert [c.name for c in result.calls] == ["resolve_partner_invoice", "reconcile_invoice"]
    assert result.calls[0].input == {"invoice_id": "G000000001", "period": None}
    reconcile = result.calls[1]
    assert reconcile.input == {
        "step_key": "reconciliation-G000000001/reconcile-G000000001",
        "invoice_id": "G000000001",
        "period": "2027-03",
    }
    assert reconcile.retry is RETRY_POLICIES["patient"]
    assert ReconciliationSummary.model_validate(result.output) == SUMMARY


def test_a_period_without_an_invoice_yet_fails_with_the_reason():
    no_invoice = Failure(
        kind="permanent",
        error_type="PermanentError",
        code="permanent",
        message="Partner Center has no invoice of 2027-03 yet",
    )
    with pytest.raises(Exception, match="no invoice of 2027-03"):
        drive(
            reconciliation,
            {"resolve_partner_invoice": refused(no_invoice)},
            instance_id="reconciliation-2027-03",
            input={"period": "2027-03"},
        )


def drive_it(payload: dict[str, str]) -> Run:
    return drive(
        reconciliation,
        {
            "resolve_partner_invoice": succeeded({"invoice_id": "G000000001", "period": "2027-03"}),
            "reconcile_invoice": succeeded(SUMMARY),
        },
        instance_id="reconciliation-G000000001",
        input=payload,
    )
