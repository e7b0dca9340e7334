"""The book sync's benchmark, run small: it syncs a seeded book twice over HTTP against the
same calls made bare, checks the second run wrote nothing, and writes its rows as
bench/out/book_sync.json is read."""

import json

import pytest

from bench.book_sync import goals_met, run

pytestmark = pytest.mark.slow


def test_the_bench_runs_small_and_writes_measure_value_goal_note_rows(tmp_path, capsys):
    out = tmp_path / "book_sync.json"
    rows = run(customers=20, latency_ms=20, out=out, contrast=False)
    assert json.loads(out.read_text()) == rows
    assert all(set(row) == {"measure", "value", "goal", "note"} for row in rows)
    goals = [row for row in rows if row["goal"]]
    assert [str(row["measure"]) for row in goals] == [
        "first sync / its bare calls",
        "second sync / its bare calls",
    ]
    assert all(row["goal"] == "<= 1.5" for row in goals)
    assert "20 adopted" in str(rows[1]["note"])
    assert "Book sync of 20 customers" in capsys.readouterr().out


def test_goals_are_read_as_upper_bounds():
    assert goals_met([{"measure": "m", "value": 1.5, "goal": "<= 1.5"}])
    assert not goals_met([{"measure": "m", "value": 1.51, "goal": "<= 1.5"}])
