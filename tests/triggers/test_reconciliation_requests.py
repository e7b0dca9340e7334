"""The reconciliation's triggers as units: the CSV a finance team loads, a start (joined
while running), last month for the timer, the schedule (the routes run through the whole
stack in tests/e2e/test_reconciliation.py)."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from shared.models.money import Money
from shared.models.reconciliation import ReconciledLine
from triggers.reconciliation import (
    CSV_COLUMNS,
    DEFAULT_SCHEDULE,
    csv_text,
    last_month,
    reconciliation_schedule,
    start_reconciliation,
)

LINES = [
    ReconciledLine(
        period="2027-03",
        line_no=0,
        classification="matched",
        customer_id="contoso",
        tenant_id="t-1",
        subscription_id="sub-a1",
        charge_type="cycleCharge",
        service_start=date(2027, 3, 10),
        service_end=date(2027, 4, 9),
        microsoft_quantity=12,
        microsoft_amount=Money.from_decimal("58.80", "USD"),
        invoice_id="contoso-2027-03",
        billed_quantity=12,
        billed_amount=Money.from_decimal("64.80", "EUR"),
    ),
    ReconciledLine(
        period="2027-03",
        line_no=1,
        classification="missed_billing",
        reason='Microsoft charged the partner, "not billed"',
        customer_id="fabrikam",
        subscription_id="sub-b1",
        charge_type="addQuantity",
        microsoft_quantity=2,
        microsoft_amount=Money.from_decimal("1.50", "USD"),
        leakage=Money(amount_minor=1150, currency="JPY"),
        disputes=("d-1", "d-2"),
    ),
]


def test_the_csv_has_a_header_and_one_row_per_line_with_amounts_in_major_units():
    text = csv_text(LINES)
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert (rows[0]["billed_amount"], rows[0]["billed_currency"]) == ("64.80", "EUR")
    assert (rows[0]["microsoft_amount"], rows[0]["microsoft_currency"]) == ("58.80", "USD")
    assert (rows[1]["leakage"], rows[1]["billed_amount"]) == ("1150", "")
    assert rows[1]["reason"] == 'Microsoft charged the partner, "not billed"'  # quoted
    assert rows[1]["disputes"] == "d-1 d-2"


@dataclass
class DurableClient:
    status: Status | None = None
    started: list[tuple[str, str, Any]] = field(default_factory=list)

    async def get_status(self, instance_id: str) -> Any:
        return SimpleNamespace(runtime_status=self.status)

    async def start_new(self, name: str, instance_id: str, input_: Any) -> str:
        self.started.append((name, instance_id, input_))
        self.status = Status.Pending
        return instance_id


def test_a_period_is_reconciled_on_its_own_instance_and_joined_while_it_runs():
    client = DurableClient()
    started = asyncio.run(start_reconciliation(client, "2027-03"))
    assert started.started and client.started == [
        ("reconciliation", "reconciliation-2027-03", {"invoice_id": None, "period": "2027-03"})
    ]
    again = asyncio.run(start_reconciliation(client, "2027-03"))
    assert not again.started and len(client.started) == 1
    done = DurableClient(status=Status.Completed)
    assert asyncio.run(start_reconciliation(done, "2027-03")).started  # run again


def test_the_timer_reconciles_last_month():
    assert last_month(datetime(2027, 4, 10, 6, tzinfo=UTC)) == "2027-03"
    assert last_month(datetime(2027, 1, 10, 6, tzinfo=UTC)) == "2026-12"


@pytest.mark.parametrize(
    ("value", "schedule"), [("", DEFAULT_SCHEDULE), ("off", "off"), ("x", DEFAULT_SCHEDULE)]
)
def test_the_schedule_is_the_setting_or_the_10th(value, schedule):
    assert reconciliation_schedule({"CSPFLOW_RECONCILIATION_SCHEDULE": value}) == schedule
