"""The billing run's benchmark, run small: a seeded book billed over HTTP against the same
Stripe calls made bare, every invoice issued once, the matcher's lines per second; rows as
bench/out/billing.json is read."""

import json

import pytest

from bench.billing import goals_met, run

pytestmark = pytest.mark.slow


def test_the_bench_runs_small_and_writes_measure_value_goal_note_rows(tmp_path, capsys):
    out = tmp_path / "billing.json"
    rows = run(customers=12, latency_ms=20, out=out)
    assert json.loads(out.read_text()) == rows
    assert all(set(row) == {"measure", "value", "goal", "note"} for row in rows)
    assert [str(row["measure"]) for row in rows if row["goal"]] == ["billing run / its bare calls"]
    assert "12 invoices issued" in str(rows[1]["note"])
    assert "Billing run of 12 customers" in capsys.readouterr().out


def test_goals_are_read_as_upper_bounds():
    assert goals_met([{"measure": "m", "value": 1.5, "goal": "<= 1.5"}])
    assert not goals_met([{"measure": "m", "value": 1.51, "goal": "<= 1.5"}])
