"""The onboarding benchmark, run small: a few orders one at a time against the same calls made
bare, a few at once, every order provisioned, and its rows written as bench/out/onboarding.json
is read."""

import json

import pytest

from bench.onboarding import run

pytestmark = pytest.mark.slow


def test_the_bench_runs_small_and_writes_measure_value_goal_note_rows(tmp_path, capsys):
    out = tmp_path / "onboarding.json"
    rows = run(orders=2, at_once=3, out=out, latent_orders=1)
    assert json.loads(out.read_text()) == rows
    assert all(set(row) == {"measure", "value", "goal", "note"} for row in rows)
    assert [row["goal"] for row in rows if row["goal"]] == ["<= 2.0"]
    by_measure = {str(row["measure"]): row["value"] for row in rows}
    assert by_measure["3 at once: completed provisioned"] == 3
    assert float(str(by_measure["3 at once: orders per second"])) > 0
    # the sandboxes slowed to the real services' pace: both sides take at least that long
    assert float(str(by_measure["slow services: bare calls, median s"])) > 1.0
    assert float(str(by_measure["slow services: one onboarding, to provisioned, median s"])) > 1.0
    # an order reads provisioned before its closing steps have all run, never after
    provisioned = float(str(by_measure["one onboarding, order to provisioned, median s"]))
    completed = float(str(by_measure["one onboarding, order to completed, median s"]))
    assert 0 < provisioned <= completed
    assert "Onboarding: 2 orders one at a time" in capsys.readouterr().out
