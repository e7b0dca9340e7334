"""What a running SLA clock needs beyond its deadline: business time between two instants,
targets per kind and tier, pauses that do not count against the partner, and the escalation
chain after a breach. Rules: docs/rules.md#sla-tier-targets, #sla-pause, #sla-escalation,
#business-time."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models.sla import SlaKind
from shared.policy.sla import (
    DEFAULT_RULES,
    Budget,
    BusinessHours,
    EscalationStep,
    SlaTarget,
    add_business_time,
    business_time_between,
    escalation_plan,
    target_for,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DE_BE = BusinessHours(time_zone="Europe/Berlin", country="DE", subdivision="BE")
US_NY = BusinessHours(time_zone="America/New_York", country="US", subdivision="NY")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def berlin(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


# business-time: the inverse of add_business_time.
@pytest.mark.parametrize(
    ("start", "end", "hours", "expected"),
    [
        (berlin(11, 3, 10), berlin(11, 3, 12), DE_BE, 2 * H),  # within one Tuesday
        (berlin(11, 3, 16), berlin(11, 4, 10), DE_BE, 2 * H),  # overnight: 1 h + 1 h
        (berlin(11, 6, 16), berlin(11, 9, 10), DE_BE, 2 * H),  # Friday to Monday: weekend free
        (berlin(11, 3, 7), berlin(11, 3, 8), DE_BE, timedelta(0)),  # before opening
        (berlin(11, 3, 12), berlin(11, 3, 10), DE_BE, timedelta(0)),  # end before start
        (berlin(12, 24, 16), berlin(12, 28, 10), DE_BE, 2 * H),  # 25/26 Dec are holidays
        # DST: New York moves to EDT on Sun 2026-03-08; Fri 16:00 to Mon 10:00 is 2 h of work.
        (
            datetime(2026, 3, 6, 16, tzinfo=NEW_YORK),
            datetime(2026, 3, 9, 10, tzinfo=NEW_YORK),
            US_NY,
            2 * H,
        ),
    ],
)
def test_business_time_between_counts_only_open_hours(start, end, hours, expected):
    assert business_time_between(start, end, hours) == expected


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=0, max_value=60 * 8 * 15),
)
def test_business_time_between_undoes_add_business_time(start, minutes):
    end = add_business_time(start, minutes * M, DE_BE)
    assert business_time_between(start, end, DE_BE) == minutes * M


# sla-tier-targets: every kind has a target on every tier; a customer's own override wins.
@pytest.mark.parametrize(
    ("kind", "tier", "target"),
    [
        ("onboarding", "premium", SlaTarget(4, "business_hours")),
        ("onboarding", "standard", SlaTarget(1, "business_days")),
        ("onboarding", "basic", SlaTarget(2, "business_days")),
        ("licence_change", "premium", SlaTarget(1, "wall_clock_hours")),
        ("licence_change", "basic", SlaTarget(1, "wall_clock_hours")),
        ("payment_first_contact", "premium", SlaTarget(1, "business_hours")),
        ("payment_first_contact", "standard", SlaTarget(4, "business_hours")),
        ("payment_first_contact", "basic", SlaTarget(1, "business_days")),
        ("support_first_response", "premium", SlaTarget(1, "business_hours")),
        ("support_first_response", "standard", SlaTarget(4, "business_hours")),
        ("support_first_response", "basic", SlaTarget(2, "business_days")),
        ("support_resolution", "premium", SlaTarget(1, "business_days")),
        ("support_resolution", "standard", SlaTarget(3, "business_days")),
        ("support_resolution", "basic", SlaTarget(5, "business_days")),
    ],
)
def test_each_kind_has_a_target_per_tier(kind, tier, target):
    assert target_for(kind, tier) == target


def test_a_customers_contracted_target_wins_over_its_tier():
    contracted: dict[SlaKind, SlaTarget] = {
        "support_first_response": SlaTarget(30, "wall_clock_hours")
    }
    assert (
        target_for("support_first_response", "premium", contracted)
        == contracted["support_first_response"]
    )
    assert target_for("support_resolution", "premium", contracted) == SlaTarget(1, "business_days")


def test_the_renewal_decision_has_no_target_of_its_own():
    with pytest.raises(ValueError, match="renewal lock"):
        target_for("renewal_decision", "premium")


# sla-pause: time waiting on the customer does not count against the partner.
FOUR_HOURS = Budget(SlaTarget(4, "business_hours"), DE_BE)


def test_a_clock_never_paused_is_due_as_its_target_says():
    start = berlin(11, 3, 10)
    assert FOUR_HOURS.due(start, timedelta(0)) == (berlin(11, 3, 13), berlin(11, 3, 14))


def test_a_pause_over_a_weekend_moves_the_deadline_by_what_was_left():
    started, paused = berlin(11, 6, 14), berlin(11, 6, 16)  # Friday: 2 h spent
    spent = FOUR_HOURS.spent(started, paused)
    resumed = berlin(11, 10, 9)  # Tuesday morning: Monday's waiting does not count either
    assert spent == 2 * H
    assert FOUR_HOURS.due(resumed, spent) == (berlin(11, 10, 10), berlin(11, 10, 11))


def test_a_clock_started_outside_business_hours_starts_counting_at_opening():
    assert FOUR_HOURS.due(berlin(11, 3, 20), timedelta(0)) == (
        berlin(11, 4, 12),
        berlin(11, 4, 13),
    )


def test_a_clock_resumed_past_its_at_risk_point_is_at_risk_from_the_resume():
    at_risk, deadline = FOUR_HOURS.due(berlin(11, 3, 10), 3 * H + 30 * M)
    assert (at_risk, deadline) == (berlin(11, 3, 10), berlin(11, 3, 10, 30))


def test_a_clock_resumed_with_nothing_left_is_due_at_the_resume():
    assert FOUR_HOURS.due(berlin(11, 3, 10), 5 * H) == (berlin(11, 3, 10), berlin(11, 3, 10))


def test_a_wall_clock_target_spends_every_hour_weekend_or_not():
    budget = Budget(SlaTarget(1, "wall_clock_hours"), DE_BE)
    assert budget.spent(berlin(11, 7, 10), berlin(11, 7, 10, 40)) == 40 * M  # a Saturday
    assert budget.spent(berlin(11, 7, 10), berlin(11, 7, 9)) == timedelta(0)
    assert budget.due(berlin(11, 7, 10), 40 * M) == (berlin(11, 7, 10, 5), berlin(11, 7, 10, 20))


def test_the_at_risk_share_follows_the_rules():
    assert DEFAULT_RULES.at_risk_percent == 25
    half = Budget(SlaTarget(4, "business_hours"), DE_BE, at_risk_percent=50)
    assert half.due(berlin(11, 3, 10), timedelta(0))[0] == berlin(11, 3, 12)


# sla-escalation: owner at the breach, then team lead, then manager, in business time.
def test_the_default_chain_escalates_in_business_minutes_across_the_night():
    breached = berlin(11, 3, 16, 45)
    assert escalation_plan(breached, DE_BE) == (
        ("owner", berlin(11, 3, 16, 45)),
        ("team_lead", berlin(11, 4, 9, 15)),  # 15 min before closing, 15 min after opening
        ("manager", berlin(11, 4, 11, 15)),
    )


def test_a_partners_own_chain_is_followed():
    chain = [EscalationStep("account_manager", 10 * M), EscalationStep("director", H)]
    assert escalation_plan(berlin(11, 3, 10), DE_BE, chain) == (
        ("account_manager", berlin(11, 3, 10, 10)),
        ("director", berlin(11, 3, 11, 10)),
    )


@pytest.mark.parametrize(
    "chain", [[], [EscalationStep("owner", -M)]], ids=["empty", "before its predecessor"]
)
def test_a_chain_that_cannot_be_followed_is_refused(chain):
    with pytest.raises(ValueError, match="escalation"):
        escalation_plan(berlin(11, 3, 10), DE_BE, chain)


def test_holidays_are_known_for_the_dates_the_tables_use():
    assert not DE_BE.is_business_day(date(2026, 12, 25))
