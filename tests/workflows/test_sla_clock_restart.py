"""Many SLA clocks on devhost's Durable engine with the app's real activities and the book in
a real Azurite, in virtual time, with the host stopped and started again in the middle
(tests/sla_scale.py, which bench/sla_clocks.py runs with 1,000): every clock left alone turns
at risk, breaches and escalates once each at its computed instants, every kept promise closes
as met, every acknowledged breach stops escalating at the step it reached, and the restart
changes nothing. docs/rules.md#sla-tier-targets, #sla-escalation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from tests.sla_scale import CUSTOMERS, PLANS, T0, plan_clocks, run_scenario

pytestmark = pytest.mark.slow

CLOCKS = 90  # each plan twice per customer (tiers x calendars); the bench runs 1,000


def test_many_clocks_keep_their_instants_across_a_host_restart(azurite: Azurite, tmp_path: Path):
    outcome = run_scenario(azurite.connection_string, tmp_path, CLOCKS, timeout_s=300)
    assert outcome.problems == []
    assert (
        outcome.off_instant,
        outcome.alerts_twice,
        outcome.escalations_after_ack,
        outcome.not_settled,
    ) == (0, 0, 0, 0)
    assert outcome.plans == dict.fromkeys(PLANS, CLOCKS // len(PLANS))
    # The host did stop in the middle: after the first clocks breached, before the last.
    assert outcome.restarted_at is not None and outcome.end_at is not None
    assert T0 < outcome.restarted_at < outcome.end_at
    # Every wake ran and was checked: at risk, breach and the chain's steps it reached.
    planned = plan_clocks(CLOCKS)
    wakes = sum(len(p.history()) - 1 - (p.plan != "left_alone") for p in planned)
    assert (outcome.wakes, outcome.alerts) == (wakes, wakes)


def test_the_plans_put_each_signal_between_the_instants_it_falls_between():
    for p in plan_clocks(len(CUSTOMERS) * len(PLANS)):
        steps = [at for _, at in p.escalations]
        assert p.at_risk_at < p.deadline == steps[0] < steps[1] < steps[2]
        if p.plan == "left_alone":
            assert p.acts_at is None
            continue
        assert p.acts_at is not None
        between = {
            "met_on_track": (T0, p.at_risk_at),
            "met_at_risk": (p.at_risk_at, p.deadline),
            "acked_after_1": (steps[0], steps[1]),
            "acked_after_2": (steps[1], steps[2]),
        }[p.plan]
        assert between[0] < p.acts_at < between[1], p
    # Business time: the team lead is told 30 business minutes after the owner.
    premium_berlin = plan_clocks(1)[0]
    assert premium_berlin.escalations[1][1] - premium_berlin.escalations[0][1] >= timedelta(
        minutes=30
    )
