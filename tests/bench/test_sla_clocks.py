"""The SLA clocks' benchmark, run tiny: both runs settle every clock with nothing off, and it
writes its rows as bench/out/sla_clocks.json is read."""

import json

import pytest

from bench.__main__ import BENCHMARKS, main
from bench.sla_clocks import goals_met, measure, run
from tests.sla_scale import Outcome

pytestmark = pytest.mark.slow


def test_the_bench_runs_tiny_and_writes_measure_value_goal_note_rows(tmp_path, capsys):
    out = tmp_path / "sla_clocks.json"
    rows = run(small=9, large=18, out=out, timeout_s=300)
    assert json.loads(out.read_text()) == rows
    assert all(set(row) == {"measure", "value", "goal", "note"} for row in rows)
    correctness = {str(row["measure"]): row["value"] for row in rows if row["goal"] == "<= 0"}
    assert correctness == {
        "clocks off their computed instant": 0,
        "alerts sent twice": 0,
        "escalations after acknowledgement": 0,
        "clocks not settled": 0,
    }
    [ratio] = [row for row in rows if row["goal"] == "<= 1.5"]
    assert ratio["measure"] == "wall s per clock, 18 / 9"
    assert "SLA clocks in virtual time: 9 then 18 clocks" in capsys.readouterr().out


def test_a_fault_in_either_run_shows_in_its_row_and_misses_the_goal():
    small = Outcome(clocks=100, wall_seconds=10.0)
    large = Outcome(clocks=1000, wall_seconds=200.0, alerts_twice=1, not_settled=2)
    rows = {str(row["measure"]): row for row in measure(small, large)}
    assert rows["alerts sent twice"]["value"] == 1
    assert rows["clocks not settled"]["value"] == 2
    assert rows["wall s per clock, 1,000 / 100"]["value"] == 2.0
    assert rows["clocks per wall second, 1,000 clocks"]["value"] == 5.0
    assert not goals_met([rows["alerts sent twice"]])
    assert not goals_met([rows["wall s per clock, 1,000 / 100"]])
    assert goals_met([rows["clocks off their computed instant"]])


def test_it_is_registered_and_python_m_bench_refuses_a_name_it_does_not_have(capsys):
    assert "bench.sla_clocks" in BENCHMARKS
    assert main(["sla_clock"]) == 2
    assert "no benchmark sla_clock" in capsys.readouterr().err
