from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models.party import BusinessCalendar, Customer
from shared.models.sla import SlaClock
from shared.models.subscription import Subscription
from shared.policy.sla import (
    BusinessHours,
    SlaRules,
    SlaTarget,
    add_business_time,
    licence_change_clock,
    onboarding_clock,
    renewal_decision_clock,
    sla_state,
)

# cspflow's own service levels (docs/rules.md, section "SLA"); calendars from the pinned
# `holidays` package (https://pypi.org/project/holidays/) and tzdata.
TARGETS = "cspflow's SLA, docs/rules.md#sla-targets"
BUSINESS_TIME = "docs/rules.md#business-time"
STATE = "docs/rules.md#sla-state"
US_HOLIDAYS = "holidays 0.109, US: Independence Day observed Fri 2026-07-03"
BY_HOLIDAYS = "holidays 0.109, DE-BY: Epiphany 2026-01-06 (not in DE-BE)"
DST = "tzdata: America/New_York moves to EDT on Sun 2026-03-08"
IL_WEEK = "holidays 0.109, IL: the weekend is Friday and Saturday, Sunday is a working day"
BY_SATURDAY = "holidays 0.109, BY: Sat 2026-04-25 is a working day (Mon 2026-04-20 off)"
JERUSALEM = ZoneInfo("Asia/Jerusalem")
MINSK = ZoneInfo("Europe/Minsk")

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def customer(
    tier: str = "premium",
    zone: str = "Europe/Berlin",
    country: str = "DE",
    subdivision: str | None = "BE",
    extra=(),
) -> Customer:
    return Customer.model_validate(
        {
            "id": "cust-1",
            "partner_id": "p1",
            "company_name": "Contoso",
            "domain": "contoso.onmicrosoft.com",
            "contacts": [{"name": "Ada", "email": "ada@contoso.com"}],
            "billing_currency": "EUR",
            "sla_tier": tier,
            "calendar": {
                "time_zone": zone,
                "country": country,
                "subdivision": subdivision,
                "extra_holidays": list(extra),
            },
        }
    )


# docs/rules.md#sla-targets, docs/rules.md#business-time
@pytest.mark.parametrize(
    ("tier", "zone", "country", "subdivision", "extra", "start", "deadline", "source"),
    [
        (
            "premium",
            "Europe/Berlin",
            "DE",
            "BE",
            (),
            local(BERLIN, 2026, 3, 10, 10),
            local(BERLIN, 2026, 3, 10, 14),
            TARGETS + ": premium 4 business hours",
        ),
        (
            "premium",
            "Europe/Berlin",
            "DE",
            "BE",
            (),
            local(BERLIN, 2026, 3, 10, 15, 30),
            local(BERLIN, 2026, 3, 11, 11, 30),
            BUSINESS_TIME + ": carries over to the next morning",
        ),
        (
            "premium",
            "Europe/Berlin",
            "DE",
            "BE",
            (),
            local(BERLIN, 2026, 3, 13, 16),
            local(BERLIN, 2026, 3, 16, 12),
            BUSINESS_TIME + ": skips the weekend",
        ),
        (
            "premium",
            "Europe/Berlin",
            "DE",
            "BE",
            (),
            local(BERLIN, 2026, 3, 14, 11),
            local(BERLIN, 2026, 3, 16, 13),
            BUSINESS_TIME + ": starts counting at Monday's opening",
        ),
        (
            "premium",
            "Europe/Berlin",
            "DE",
            "BE",
            (),
            local(BERLIN, 2026, 3, 10, 7),
            local(BERLIN, 2026, 3, 10, 13),
            BUSINESS_TIME + ": starts counting at opening",
        ),
        (
            "standard",
            "Europe/Berlin",
            "DE",
            "BE",
            (),
            local(BERLIN, 2026, 3, 10, 15),
            local(BERLIN, 2026, 3, 11, 15),
            TARGETS + ": standard 1 business day",
        ),
        (
            "standard",
            "Europe/Berlin",
            "DE",
            "BE",
            (),
            local(BERLIN, 2026, 3, 10, 18),
            local(BERLIN, 2026, 3, 11, 17),
            BUSINESS_TIME + ": after hours, a whole next day",
        ),
        (
            "premium",
            "Europe/Berlin",
            "DE",
            "BY",
            (),
            local(BERLIN, 2026, 1, 5, 16),
            local(BERLIN, 2026, 1, 7, 12),
            BY_HOLIDAYS,
        ),
        (
            "premium",
            "Europe/Berlin",
            "DE",
            "BE",
            (),
            local(BERLIN, 2026, 1, 5, 16),
            local(BERLIN, 2026, 1, 6, 12),
            BY_HOLIDAYS,
        ),
        (
            "premium",
            "America/New_York",
            "US",
            None,
            (),
            local(NEW_YORK, 2026, 7, 2, 16),
            local(NEW_YORK, 2026, 7, 6, 12),
            US_HOLIDAYS,
        ),
        (
            "premium",
            "America/New_York",
            "US",
            None,
            (),
            local(NEW_YORK, 2026, 3, 6, 16),
            local(NEW_YORK, 2026, 3, 9, 12),
            DST,
        ),
        (
            "premium",
            "Europe/Berlin",
            "DE",
            "BE",
            (date(2026, 3, 11),),
            local(BERLIN, 2026, 3, 10, 15),
            local(BERLIN, 2026, 3, 12, 11),
            BUSINESS_TIME + ": the customer's extra closed day",
        ),
        (
            "premium",
            "Asia/Jerusalem",
            "IL",
            None,
            (),
            local(JERUSALEM, 2026, 3, 12, 16),
            local(JERUSALEM, 2026, 3, 15, 12),
            IL_WEEK + ": Thursday evening to Sunday noon",
        ),
        (
            "premium",
            "Asia/Jerusalem",
            "IL",
            None,
            (),
            local(JERUSALEM, 2026, 3, 13, 10),
            local(JERUSALEM, 2026, 3, 15, 13),
            IL_WEEK + ": nothing counts on a Friday",
        ),
        (
            "premium",
            "Europe/Minsk",
            "BY",
            None,
            (),
            local(MINSK, 2026, 4, 24, 16),
            local(MINSK, 2026, 4, 25, 12),
            BY_SATURDAY,
        ),
    ],
)
def test_onboarding_deadline_counts_business_hours(
    tier, zone, country, subdivision, extra, start, deadline, source
):
    clock = onboarding_clock(customer(tier, zone, country, subdivision, extra), "ord-1", start)
    assert clock.deadline == deadline.astimezone(UTC), source
    assert clock.deadline.tzinfo is UTC


def test_dst_shift_is_real_time_not_wall_time():
    # docs/rules.md#business-time: deadlines are real instants
    # Friday 16:00 EST is 21:00 UTC; Monday 12:00 EDT is 16:00 UTC (DST)
    clock = onboarding_clock(
        customer("premium", "America/New_York", "US", None),
        "ord-1",
        local(NEW_YORK, 2026, 3, 6, 16),
    )
    assert clock.deadline == datetime(2026, 3, 9, 16, tzinfo=UTC)


def test_premium_onboarding_is_at_risk_with_a_quarter_of_the_time_left():
    # docs/rules.md#at-risk
    clock = onboarding_clock(customer(), "ord-1", local(BERLIN, 2026, 3, 10, 10))
    assert clock.at_risk_at == local(BERLIN, 2026, 3, 10, 13).astimezone(UTC)


@pytest.mark.parametrize(
    "start",
    [local(BERLIN, 2026, 3, 10, 10), local(BERLIN, 2026, 3, 15, 3)],  # a Sunday night too
)
def test_licence_change_is_one_hour_around_the_clock(start):
    # docs/rules.md#sla-targets, docs/rules.md#at-risk
    clock = licence_change_clock(customer("standard"), "chg-1", start)
    assert clock.deadline == start.astimezone(UTC) + H
    assert clock.at_risk_at == start.astimezone(UTC) + 45 * timedelta(minutes=1)
    assert clock.tier == "standard"


def subscription() -> Subscription:
    return Subscription.model_validate(
        {
            "id": "s1",
            "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
            "quantity": 5,
            "status": "active",
            "autoRenewEnabled": True,
            "billingCycle": "monthly",
            "termDuration": "P1Y",
            "effectiveStartDate": "2026-01-14T16:57:14Z",
            "commitmentEndDate": "2027-01-13T00:00:00Z",
        }
    )


TERM_END = datetime(2027, 1, 14, tzinfo=UTC)


def test_renewal_decision_is_applied_24_hours_before_the_lock():
    start = TERM_END - 62 * timedelta(days=1)
    clock = renewal_decision_clock(customer(), subscription(), start)
    assert clock.deadline == TERM_END - 48 * H, (
        "docs/rules.md#renewal-decision-clock: applied >= 24 h before lock (term end - 24 h)"
    )
    assert clock.at_risk_at == clock.deadline - (clock.deadline - start) / 4
    assert clock.subject_id == "s1:2027-01-13"


def test_renewal_clock_started_after_its_deadline_starts_breached():
    # docs/rules.md#renewal-decision-clock
    late = TERM_END - 2 * H
    clock = renewal_decision_clock(customer(), subscription(), late)
    assert clock.started_at == clock.at_risk_at == clock.deadline
    assert sla_state(clock, late) == "breached"


T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)


def clock(**overrides) -> SlaClock:
    data = {
        "kind": "onboarding",
        "subject_id": "ord-1",
        "customer_id": "cust-1",
        "tier": "premium",
        "started_at": T0,
        "at_risk_at": T0 + 3 * H,
        "deadline": T0 + 4 * H,
    }
    return SlaClock.model_validate(data | overrides)


# docs/rules.md#sla-state
@pytest.mark.parametrize(
    ("the_clock", "now", "state", "source"),
    [
        (clock(), T0 + H, "on_track", STATE),
        (clock(), T0 + 3 * H, "at_risk", "last quarter of the time; docs/rules.md#at-risk"),
        (clock(), T0 + 4 * H, "breached", STATE + ": deadline passed"),
        (clock(completed_at=T0 + 4 * H), T0 + 9 * H, "met", STATE + ": done by the deadline"),
        (clock(completed_at=T0 + 5 * H), T0 + 9 * H, "breached", STATE + ": done late"),
    ],
)
def test_sla_state(the_clock, now, state, source):
    assert sla_state(the_clock, now) == state, source


def test_sla_rules_are_configurable():
    rules = SlaRules(onboarding_standard=SlaTarget(2, "business_hours"), at_risk_percent=50)
    c = onboarding_clock(customer("standard"), "ord-1", local(BERLIN, 2026, 3, 10, 10), rules)
    assert c.deadline == local(BERLIN, 2026, 3, 10, 12).astimezone(UTC)
    assert c.at_risk_at == local(BERLIN, 2026, 3, 10, 11).astimezone(UTC)


def test_custom_opening_hours():
    hours = BusinessHours(time_zone="Asia/Tokyo", country="JP", opens=time(8), closes=time(20))
    start = datetime(2026, 3, 10, 19, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert hours.day_length == 12 * H
    assert add_business_time(start, 2 * H, hours) == datetime(
        2026, 3, 11, 9, tzinfo=ZoneInfo("Asia/Tokyo")
    )


def test_zero_business_time_is_the_start_itself():
    start = local(BERLIN, 2026, 3, 14, 11)
    assert add_business_time(start, timedelta(0), BusinessHours()) == start


# docs/rules.md#business-time: a calendar with no working day in ten years is refused.
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BusinessHours(opens=time(17), closes=time(9)), "close after"),
        (lambda: BusinessHours(workdays=frozenset()), "at least one working day"),
        (lambda: SlaRules(at_risk_percent=120), "percentage"),
        (lambda: add_business_time(T0, -H, BusinessHours()), "negative"),
        (
            lambda: add_business_time(
                T0,
                H,
                BusinessHours(
                    workdays=frozenset({0}),
                    extra_holidays=frozenset(
                        date(2026, 3, 9) + timedelta(weeks=w) for w in range(600)
                    ),
                ),
            ),
            "ten years",
        ),
    ],
)
def test_broken_calendars_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- properties: business time in any zone, around holidays and DST ----------------------
# (docs/rules.md#business-time)

CALENDARS = st.sampled_from(
    [
        BusinessHours(time_zone="Europe/Berlin", country="DE", subdivision="BY"),
        BusinessHours(time_zone="America/New_York", country="US"),
        BusinessHours(time_zone="Asia/Kolkata", country="IN"),  # UTC+05:30
        BusinessHours(time_zone="Australia/Lord_Howe", country="AU", subdivision="NSW"),
        BusinessHours(time_zone="Asia/Tokyo", country="JP", opens=time(8), closes=time(20)),
        BusinessHours.of(BusinessCalendar(time_zone="Asia/Jerusalem", country="IL")),
        BusinessHours.of(BusinessCalendar(time_zone="Europe/Minsk", country="BY")),
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
AMOUNTS = st.integers(0, 5 * 8 * 60).map(lambda minutes: timedelta(minutes=minutes))


# No deadline: the first look-up of a country's holidays for a year is slow on a busy machine.
@settings(deadline=None)
@given(CALENDARS, INSTANTS, AMOUNTS)
def test_a_deadline_falls_inside_business_hours_and_never_before_the_start(hours, start, amount):
    deadline = add_business_time(start, amount, hours)
    assert deadline >= start
    if amount:
        day = deadline.astimezone(hours.zone).date()
        opens, closes = hours.hours_on(day)
        assert hours.is_business_day(day), BUSINESS_TIME + ": holidays and weekends do not count"
        assert opens < deadline <= closes, BUSINESS_TIME + ": only business hours count"


@settings(deadline=None)
@given(CALENDARS, INSTANTS, AMOUNTS, AMOUNTS)
def test_business_time_adds_up(hours, start, first, second):
    # Counting 3 h then 2 h ends where counting 5 h does: no hour is lost or counted twice.
    halfway = add_business_time(start, first, hours)
    assert add_business_time(halfway, second, hours) == add_business_time(
        start, first + second, hours
    )
