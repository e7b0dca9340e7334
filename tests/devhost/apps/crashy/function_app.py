"""The crash test's workload: payments with idempotency keys, fan-out, a timer, a child
orchestration and an entity.

Every `charge` runs at least once per step (a crash may re-run it), but its effect is applied
once: the ledger's primary key is the idempotency key `<instance>:<step>`, as a payment
provider's Idempotency-Key would be. The ledger also counts every execution so the test can
see re-runs. The ledger path comes from CRASH_LEDGER.
"""

import os
import sqlite3
import time
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


LEDGER_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, amount INTEGER);
CREATE TABLE IF NOT EXISTS executions (key TEXT, amount INTEGER);
"""


def _ledger() -> sqlite3.Connection:
    # The test creates the schema (LEDGER_SCHEMA) before any host process starts.
    return sqlite3.connect(os.environ["CRASH_LEDGER"], timeout=30, isolation_level=None)


@app.orchestration_trigger(context_name="context")
def payment_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    spec = context.get_input()
    total = 0
    for step in range(spec["steps"]):
        total += yield context.call_activity(
            "charge", {"key": f"{context.instance_id}:{step}", "amount": step + 1}
        )
    fees = yield context.task_all(
        [
            context.call_activity("charge", {"key": f"{context.instance_id}:fee{n}", "amount": 10})
            for n in range(3)
        ]
    )
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=30))
    refund = yield context.call_sub_orchestrator("refund_run", {"key": context.instance_id})
    # Entity operations are applied exactly once: the op's removal and the new state commit
    # together, so the tally must equal the sum of all runs however often the host dies.
    yield context.call_entity(df.EntityId("Tally", "all"), "add", total + sum(fees))
    return {"total": total + sum(fees), "refund": refund}


@app.orchestration_trigger(context_name="context")
def refund_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    key = context.get_input()["key"]
    refunded: int = yield context.call_activity("charge", {"key": f"{key}:refund", "amount": -5})
    return refunded


@app.activity_trigger(input_name="payment")
def charge(payment: dict[str, Any]) -> int:
    time.sleep(0.1)  # a payment API call: long enough for kills to land mid-flight
    conn = _ledger()
    try:
        conn.execute(
            "INSERT INTO executions (key, amount) VALUES (?, ?)",
            (payment["key"], payment["amount"]),
        )
        conn.execute(
            "INSERT OR IGNORE INTO effects (key, amount) VALUES (?, ?)",
            (payment["key"], payment["amount"]),
        )
    finally:
        conn.close()
    return int(payment["amount"])


@app.entity_trigger(context_name="context")
def Tally(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0) + context.get_input()
    context.set_state(value)
    context.set_result(value)
