"""SLA clocks at scale: do 1,000 clocks keep their instants, and does a clock cost the engine
as much among 1,000 as among 100?

The scenario of tests/sla_scale.py, in virtual time on devhost's Durable engine with the
app's real orchestrator and activities and the book in a real Azurite: clocks for nine
customers (premium, standard, basic; Berlin, New York, Jerusalem), a fifth left alone, two
fifths met on time (on track, and at risk), two fifths acknowledged after a breach (after the
chain's first step, and after its second); the host stopped and started again in the middle,
while that instant's wakes run. Run at SMALL clocks, then at LARGE, in one Azurite, each on
its own tables and hub.

Rows, summed over both runs (goal `<= 0`): clocks off their computed instant (a transition
recorded, or a wake run in virtual time, anywhere but at its instant), alerts sent twice,
escalations after an acknowledgement, clocks not settled as their plan says. Then the wall
time of each run (first start to virtual time reaching the end, every wake done), and the
scaling ratio: wall seconds per clock at LARGE over at SMALL (goal `<= 1.5`: the engine's cost
per clock does not grow with the number of clocks); clocks per wall second.

`run()` prints the table and writes bench/out/sla_clocks.json: rows {"measure", "value",
"goal", "note"}.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.table import print_table
from devhost.azurite import start_azurite
from tests.sla_scale import Outcome, run_scenario

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "out" / "sla_clocks.json"
SMALL = 100
LARGE = 1_000
GOAL_RATIO = 1.5
TIMEOUT_S = 3600.0

Row = dict[str, object]


def run(
    small: int = SMALL, large: int = LARGE, out: Path = OUT, timeout_s: float = TIMEOUT_S
) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="sla-clocks-bench-") as tmp:
        azurite = start_azurite(ROOT, Path(tmp) / "azurite")
        try:
            runs = [
                run_scenario(
                    azurite.connection_string, Path(tmp) / f"hub-{n}", n, timeout_s=timeout_s
                )
                for n in (small, large)
            ]
        finally:
            azurite.stop()
    rows = measure(*runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        f"SLA clocks in virtual time: {small:,} then {large:,} clocks, mixed tiers and "
        "calendars, the host restarted in the middle of each run"
    )
    print_table(rows)
    for outcome in runs:
        for problem in outcome.problems[:10]:
            print(f"  {outcome.clocks:,} clocks: {problem}")
    missed = [str(row["measure"]) for row in rows if row["goal"] and not goals_met([row])]
    print("goals met" if not missed else "goal NOT met: " + "; ".join(missed))
    return rows


def measure(small: Outcome, large: Outcome) -> list[Row]:
    both = (small, large)
    sizes = f"{small.clocks:,} + {large.clocks:,} clocks"
    per_small = small.wall_seconds / small.clocks
    per_large = large.wall_seconds / large.clocks
    return [
        _row("clocks off their computed instant", sum(o.off_instant for o in both), 0,
             note=f"{sizes}; {sum(o.wakes for o in both):,} wakes checked against their "
                  "instants in the engine's history, every transition in the book's"),
        _row("alerts sent twice", sum(o.alerts_twice for o in both), 0,
             note=f"{sum(o.alerts for o in both):,} alerts on the ops queue; "
                  f"{sum(o.redelivered for o in both)} repeated a message id"),
        _row("escalations after acknowledgement", sum(o.escalations_after_ack for o in both), 0,
             note=f"{sum(o.plans['acked_after_1'] + o.plans['acked_after_2'] for o in both):,} "
                  "clocks acknowledged through the route's handler"),
        _row("clocks not settled", sum(o.not_settled for o in both), 0,
             note="history, phase, orchestration status, alerts and (met) sla_outcome KPI "
                  "event as the clock's plan says"),
        _row(f"{small.clocks:,} clocks, wall s", small.wall_seconds,
             note=f"{small.checkpoints} instants the driver acts at; restart at "
                  f"{_at(small)}"),
        _row(f"{large.clocks:,} clocks, wall s", large.wall_seconds,
             note=f"{large.checkpoints} instants the driver acts at; restart at "
                  f"{_at(large)}"),
        _row(f"wall s per clock, {large.clocks:,} / {small.clocks:,}", per_large / per_small,
             GOAL_RATIO, note="the engine's cost per clock does not grow with the clocks"),
        _row(f"clocks per wall second, {large.clocks:,} clocks", large.clocks / large.wall_seconds,
             note="each: start, 1-5 wakes, 0-1 signal, its book record and alerts"),
    ]  # fmt: skip


def _at(outcome: Outcome) -> str:
    return outcome.restarted_at.isoformat() if outcome.restarted_at else "none"


def _row(measure: str, value: float, goal: float | None = None, *, note: str = "") -> Row:
    return {
        "measure": measure,
        "value": round(value, 3) if isinstance(value, float) else value,
        "goal": f"<= {goal}" if goal is not None else "",
        "note": note,
    }


def goals_met(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether every row with a goal meets it (goals are `<= x`)."""
    return all(
        float(str(row["value"])) <= float(str(row["goal"]).removeprefix("<= "))
        for row in rows
        if row["goal"]
    )


if __name__ == "__main__":
    run()
