"""The book's benchmark, run small: the books it builds have exactly the due subscriptions
it says, and it writes its rows as bench/out/book.json is read."""

import json
from datetime import timedelta

from bench.book import NOW, PER_CUSTOMER, WINDOW_DAYS, goals_met, records, run


def test_the_due_subscriptions_are_in_the_window_and_the_others_after_it():
    book = records(250, 20, later_days=30)
    window_end = NOW + timedelta(days=WINDOW_DAYS)
    due = [r for r in book if NOW <= r.term_end < window_end]
    assert [r.id for r in due] == [f"sub-{n:06d}" for n in range(20)]
    assert min(r.term_end for r in book[20:]) > window_end
    assert {r.customer_id for r in book[:PER_CUSTOMER]} == {"c-00000"}


def test_the_bench_runs_small_and_writes_measure_value_goal_rows(tmp_path, capsys):
    out = tmp_path / "book.json"
    rows = run(sizes=(60, 180), due=10, repeats=2, out=out, later_days=5)
    assert json.loads(out.read_text()) == rows
    assert all(set(row) == {"measure", "value", "goal"} for row in rows)
    [goal] = [row for row in rows if row["goal"]]
    assert goal["goal"] == "<= 1.5" and str(goal["measure"]).startswith("due-soon query: 180 / 60")
    assert "due-soon query (60 days, 10 due)" in capsys.readouterr().out


def test_goals_are_read_as_upper_bounds():
    assert goals_met(
        [{"measure": "m", "value": 1.5, "goal": "<= 1.5"}, {"measure": "n", "value": 9, "goal": ""}]
    )
    assert not goals_met([{"measure": "m", "value": 1.51, "goal": "<= 1.5"}])
