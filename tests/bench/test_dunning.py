"""The dunning benchmark, run small: the real orchestrator and the baseline over a seeded
book, rows written as bench/out/dunning.json is read, and the goals read as written."""

import json
from datetime import timedelta

from bench.dunning import Failed, baseline, cspflow, goals_met, run, seeded_book


def test_the_bench_runs_small_and_writes_measure_value_goal_note_rows(tmp_path, capsys):
    out = tmp_path / "dunning.json"
    rows = run(invoices=40, out=out)
    assert json.loads(out.read_text()) == rows
    assert all(set(row) == {"measure", "value", "goal", "note"} for row in rows)
    by = {row["measure"]: row for row in rows}
    assert by["retries after a hard decline"]["value"] == 0
    assert str(by["retries after a hard decline"]["note"]).startswith("baseline ")
    assert "Dunning of 40 seeded failed invoices" in capsys.readouterr().out


def test_the_seeded_book_is_the_same_for_the_same_seed():
    assert seeded_book(30, seed=7) == seeded_book(30, seed=7)
    assert seeded_book(30, seed=7) != seeded_book(30, seed=8)


def test_a_lost_card_is_retried_by_the_baseline_and_never_by_cspflow():
    lost = Failed(0, 4200, "lost_card", None)
    assert cspflow(lost).hard_retries == 0
    assert baseline(lost).hard_retries == 7  # 8 tries in 2 weeks, the first one the failure


def test_a_customer_asked_for_a_new_card_recovers_only_where_asked():
    asked = Failed(0, 4200, "expired_card", None, new_card_after=timedelta_days(2))
    recovered = cspflow(asked).recovered_after
    # Charged at once on the new card (the driver's clock moves 10 ms a step).
    assert recovered is not None and recovered - timedelta_days(2) < timedelta(seconds=1)
    assert baseline(asked).recovered_after is None


def test_goals_are_read_as_written():
    assert goals_met([{"measure": "m", "value": 0.75, "goal": ">= 0.75"}])
    assert not goals_met([{"measure": "m", "value": 0.7, "goal": ">= 0.75"}])
    assert goals_met([{"measure": "m", "value": 3, "goal": "< 4"}])
    assert not goals_met([{"measure": "m", "value": 1, "goal": "== 0"}])


def timedelta_days(n: int) -> timedelta:
    return timedelta(days=n)
