"""What a running SLA clock needs beyond its deadline: business time between two instants,
targets per kind and tier, pauses that do not count against the partner, and the escalation
chain after a breach. Rules: docs/rules.md#sla-tier-targets, #sla-pause, #sla-escalation,
#business-time."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models.party import Customer
from shared.models.sla import SlaClock, SlaKind, SlaTargetSpec, sla_instance_id
from shared.policy.sla import (
    DEFAULT_RULES,
    Budget,
    BusinessHours,
    EscalationStep,
    SlaRules,
    SlaTarget,
    Wake,
    acknowledge_breach,
    add_business_time,
    apply_wake,
    business_time_between,
    cancel_clock,
    complete_clock,
    escalation_plan,
    next_wake,
    open_clock,
    parse_chain,
    parse_targets,
    pause_clock,
    resume_clock,
    sla_state,
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


# A running clock's life: open, pause, resume, at risk, breach, escalate, acknowledge, close.
def berliner(tier: str = "premium") -> Customer:
    return Customer.model_validate(
        {
            "id": "cust-1",
            "partner_id": "p1",
            "company_name": "Contoso",
            "domain": "contoso.onmicrosoft.com",
            "contacts": [{"name": "Ada", "email": "ada@contoso.com"}],
            "billing_currency": "EUR",
            "sla_tier": tier,
            "calendar": {"time_zone": "Europe/Berlin", "country": "DE", "subdivision": "BE"},
        }
    )


def opened(at: datetime | None = None) -> SlaClock:
    return open_clock("onboarding", berliner(), "order-1", at or berlin(11, 3, 10))


def test_a_clock_opens_on_its_tiers_target_in_the_customers_calendar():
    clock = opened()
    assert (clock.at_risk_at, clock.deadline) == (berlin(11, 3, 13), berlin(11, 3, 14))
    assert clock.target is not None and (clock.target.amount, clock.target.unit) == (
        4,
        "business_hours",
    )
    assert (clock.phase, clock.spent, [h.event for h in clock.history]) == (
        "running",
        timedelta(0),
        ["started"],
    )


def test_a_clock_measured_against_a_date_runs_to_it_and_one_opened_late_starts_breached():
    due = berlin(12, 1, 9)
    clock = open_clock(
        "renewal_decision", berliner(), "sub-1:2026-12-03", berlin(11, 1, 9), deadline=due
    )
    assert clock.target is None and clock.deadline == due
    assert clock.at_risk_at == due - (due - berlin(11, 1, 9)) / 4
    late = open_clock("renewal_decision", berliner(), "s", berlin(12, 2, 9), deadline=due)
    assert late.started_at == late.at_risk_at == late.deadline == due


def test_the_clocks_first_wake_is_at_risk_then_the_breach_then_each_escalation():
    clock = opened()
    wake = next_wake(clock, DE_BE)
    assert wake == Wake(berlin(11, 3, 13), "at_risk")
    clock = apply_wake(clock, wake, wake.at)
    assert next_wake(clock, DE_BE) == Wake(berlin(11, 3, 14), "breach")
    clock = apply_wake(clock, Wake(berlin(11, 3, 14), "breach"), berlin(11, 3, 14))
    assert next_wake(clock, DE_BE) == Wake(berlin(11, 3, 14), "escalate", "owner")
    clock = apply_wake(clock, Wake(berlin(11, 3, 14), "escalate", "owner"), berlin(11, 3, 14))
    assert next_wake(clock, DE_BE) == Wake(berlin(11, 3, 14, 30), "escalate", "team_lead")
    for role, when in (("team_lead", berlin(11, 3, 14, 30)), ("manager", berlin(11, 3, 16, 30))):
        clock = apply_wake(clock, Wake(when, "escalate", role), when)
    assert clock.escalated_to == ["owner", "team_lead", "manager"]
    assert next_wake(clock, DE_BE) is None  # the end of the chain: only a signal now
    assert [h.event for h in clock.history] == [
        "started",
        "at_risk",
        "breached",
        "escalated",
        "escalated",
        "escalated",
    ]


def test_an_acknowledged_breach_escalates_no_further_but_still_closes_as_breached():
    clock = opened()
    clock = apply_wake(clock, Wake(clock.deadline, "breach"), clock.deadline)
    assert clock.at_risk_raised_at == clock.deadline  # a breach is at risk too
    clock = acknowledge_breach(clock, berlin(11, 3, 14, 5), "ada")
    assert (clock.acknowledged_by, next_wake(clock, DE_BE)) == ("ada", None)
    assert (
        apply_wake(
            clock, Wake(berlin(11, 3, 14, 30), "escalate", "team_lead"), berlin(11, 3, 14, 30)
        )
        == clock
    )
    closed = complete_clock(clock, berlin(11, 3, 15))
    assert (closed.phase, sla_state(closed, berlin(11, 3, 15))) == ("closed", "breached")


def test_acknowledging_a_clock_that_has_not_breached_changes_nothing():
    clock = opened()
    assert acknowledge_breach(clock, berlin(11, 3, 11), "ada") == clock


def test_a_wake_that_no_longer_applies_changes_nothing():
    clock = opened()
    paused = pause_clock(clock, berlin(11, 3, 11), DE_BE)
    assert apply_wake(paused, Wake(paused.at_risk_at, "at_risk"), paused.at_risk_at) == paused
    at_risk = apply_wake(clock, Wake(clock.at_risk_at, "at_risk"), clock.at_risk_at)
    assert apply_wake(at_risk, Wake(clock.at_risk_at, "at_risk"), clock.at_risk_at) == at_risk
    assert apply_wake(at_risk, Wake(clock.deadline, "escalate", "owner"), clock.deadline) == (
        at_risk
    )


def test_a_pause_over_the_weekend_keeps_the_partners_remaining_time():
    clock = opened(berlin(11, 6, 14))  # Friday 14:00, 4 business hours
    paused = pause_clock(clock, berlin(11, 6, 16), DE_BE)
    assert (paused.phase, paused.spent, next_wake(paused, DE_BE)) == ("paused", 2 * H, None)
    resumed = resume_clock(paused, berlin(11, 10, 9), DE_BE)
    assert (resumed.phase, resumed.at_risk_at, resumed.deadline) == (
        "running",
        berlin(11, 10, 10),
        berlin(11, 10, 11),
    )
    again = pause_clock(resumed, berlin(11, 10, 10), DE_BE)
    assert again.spent == 3 * H
    assert [h.event for h in again.history] == ["started", "paused", "resumed", "paused"]


def test_pausing_or_resuming_twice_or_a_dated_clock_changes_nothing():
    clock = opened()
    paused = pause_clock(clock, berlin(11, 3, 11), DE_BE)
    assert pause_clock(paused, berlin(11, 3, 12), DE_BE) == paused
    assert resume_clock(clock, berlin(11, 3, 12), DE_BE) == clock
    dated = open_clock(
        "renewal_decision", berliner(), "s", berlin(11, 1, 9), deadline=berlin(12, 1, 9)
    )
    assert pause_clock(dated, berlin(11, 2, 9), DE_BE) == dated


def test_a_clock_met_by_its_deadline_is_met_and_a_later_one_breached_and_the_first_wins():
    clock = opened()
    met = complete_clock(clock, berlin(11, 3, 13, 59))
    assert (met.phase, met.completed_at, met.history[-1].event) == (
        "closed",
        berlin(11, 3, 13, 59),
        "met",
    )
    assert complete_clock(met, berlin(11, 3, 15)) == met
    late = complete_clock(clock, berlin(11, 3, 15))
    assert late.history[-1].event == "closed_breached"


def test_a_cancelled_clock_stops_without_an_outcome_and_stays_cancelled():
    cancelled = cancel_clock(opened(), berlin(11, 3, 11), "order cancelled")
    assert (cancelled.phase, cancelled.completed_at, cancelled.open) == ("cancelled", None, False)
    assert cancelled.history[-1].detail == "order cancelled"
    assert cancel_clock(cancelled, berlin(11, 3, 12)) == cancelled
    assert complete_clock(cancelled, berlin(11, 3, 12)) == cancelled
    assert next_wake(cancelled, DE_BE) is None


def test_a_clock_started_with_nothing_between_at_risk_and_deadline_goes_straight_to_breach():
    clock = open_clock(
        "support_first_response",
        berliner(),
        "t-1",
        berlin(11, 3, 10),
        overrides={"support_first_response": SlaTarget(1, "business_hours")},
        rules=SlaRules(at_risk_percent=0),
    )
    assert next_wake(clock, DE_BE) == Wake(clock.deadline, "breach")


@pytest.mark.parametrize(
    ("subject", "instance"),
    [("order-1", "sla-onboarding-order-1"), ("a/b#c?d", "sla-onboarding-a_b_c_d")],
)
def test_a_clocks_instance_id_is_its_kind_and_a_safe_subject(subject, instance):
    assert sla_instance_id("onboarding", subject) == instance


# The partner's configuration and the customer's contract (docs/rules.md#sla-tier-targets).
def test_configured_tier_targets_replace_the_defaults_and_a_contract_wins_over_both():
    configured = parse_targets(
        ["onboarding.premium=2 business_hours", "onboarding.basic=3 business_days"]
    )
    assert configured == {
        ("onboarding", "premium"): SlaTarget(2, "business_hours"),
        ("onboarding", "basic"): SlaTarget(3, "business_days"),
    }
    assert target_for("onboarding", "premium", configured=configured) == SlaTarget(
        2, "business_hours"
    )
    assert target_for("onboarding", "standard", configured=configured) == SlaTarget(
        1, "business_days"
    )
    contract: dict[SlaKind, SlaTarget] = {"onboarding": SlaTarget(8, "wall_clock_hours")}
    assert target_for("onboarding", "premium", contract, configured=configured) == SlaTarget(
        8, "wall_clock_hours"
    )


@pytest.mark.parametrize(
    "entry",
    [
        "onboarding.premium=2 hours",
        "onboarding=2 business_hours",
        "nothing.premium=1 business_days",
        "onboarding.gold=1 business_days",
        "onboarding.premium=x business_days",
    ],
)
def test_a_malformed_target_entry_is_refused_naming_it(entry):
    with pytest.raises(ValueError, match=r"kind\.tier=N unit"):
        parse_targets([entry])


def test_a_customers_contracted_targets_open_its_clocks():
    contracted = berliner().model_copy(
        update={"sla_targets": {"onboarding": SlaTargetSpec(amount=1, unit="business_days")}}
    )
    clock = open_clock("onboarding", contracted, "order-1", berlin(11, 3, 10))
    assert clock.deadline == berlin(11, 4, 10)


def test_an_escalation_chain_reads_from_configuration():
    assert parse_chain("owner:0, duty_manager:15") == (
        EscalationStep("owner", timedelta(0)),
        EscalationStep("duty_manager", timedelta(minutes=15)),
    )
    with pytest.raises(ValueError, match="role:business-minutes"):
        parse_chain("owner:0,manager")
