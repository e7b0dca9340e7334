"""SLA deadlines: business-hours calendars, per-tier targets, and on-track / at-risk / breached.

cspflow's own service levels; the rules are in docs/rules.md, section "SLA"
(docs/rules.md#sla-targets, docs/rules.md#business-time, docs/rules.md#at-risk).

* Onboarding: within 4 business hours for premium customers, 1 business day for standard.
* Licence change: within 1 hour, around the clock (the change is automated end to end).
* Renewal decision: applied at least 24 h before the renewal lock.

Business time is counted in the customer's own time zone (zoneinfo, with the pinned tzdata),
on its country's working days (Sunday to Thursday in Israel, with the compensatory working
Saturdays some countries have), skipping its public holidays (the `holidays` package, pinned,
which knows both) and any extra closed days the partner agreed. A business day is one working
day's worth of business hours, so "1 business day" from Tuesday 15:00 is Wednesday 15:00.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, cast, get_args
from zoneinfo import ZoneInfo

import holidays

from shared.models.party import BusinessCalendar, Customer, SlaTier
from shared.models.sla import SlaClock, SlaHistoryEntry, SlaKind, SlaState, SlaTargetSpec, SlaUnit
from shared.models.subscription import Subscription
from shared.policy.renewal import DEFAULT_RULES as DEFAULT_RENEWAL_RULES
from shared.policy.renewal import RenewalRules, renewal_lock_at

_MAX_DAYS_SCANNED = 3660  # ten years without a working day means a broken calendar


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


@lru_cache(maxsize=256)
def _weekend_workdays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # Weekend days the law makes working days (Belarus works Sat 2026-04-25 for Mon 04-20).
    days = holidays.country_holidays(country, subdiv=subdivision, years=year).weekend_workdays
    return frozenset(d for d in days if d.year == year)


@lru_cache(maxsize=64)
def country_workdays(country: str, subdivision: str | None = None) -> frozenset[int]:
    """The weekdays (Monday = 0) that are not the country's weekend."""
    weekend = holidays.country_holidays(country, subdiv=subdivision).weekend
    return frozenset(range(7)) - frozenset(weekend)


@dataclass(frozen=True)
class BusinessHours:
    time_zone: str = "UTC"
    country: str = "US"
    subdivision: str | None = None
    opens: time = time(9)
    closes: time = time(17)
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    extra_holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.closes <= self.opens:
            raise ValueError("business hours must close after they open")
        if not self.workdays:
            raise ValueError("a business calendar needs at least one working day")

    @classmethod
    def of(
        cls, calendar: BusinessCalendar, opens: time = time(9), closes: time = time(17)
    ) -> BusinessHours:
        return cls(
            time_zone=calendar.time_zone,
            country=calendar.country,
            subdivision=calendar.subdivision,
            opens=opens,
            closes=closes,
            workdays=country_workdays(calendar.country, calendar.subdivision),
            extra_holidays=frozenset(calendar.extra_holidays),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def day_length(self) -> timedelta:
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)

    def is_business_day(self, day: date) -> bool:
        working = day.weekday() in self.workdays or day in _weekend_workdays(
            self.country, self.subdivision, day.year
        )
        return (
            working
            and day not in self.extra_holidays
            and day not in _public_holidays(self.country, self.subdivision, day.year)
        )

    def hours_on(self, day: date) -> tuple[datetime, datetime]:
        # Wall-clock opening and closing in the local zone, as UTC instants (DST-correct).
        zone = self.zone
        return (
            datetime.combine(day, self.opens, zone).astimezone(UTC),
            datetime.combine(day, self.closes, zone).astimezone(UTC),
        )


def add_business_time(start: datetime, amount: timedelta, hours: BusinessHours) -> datetime:
    """The instant `amount` of business time after `start` (an aware datetime)."""
    if amount < timedelta(0):
        raise ValueError("business time cannot be negative")
    cursor = start.astimezone(UTC)
    if amount == timedelta(0):
        return cursor
    remaining = amount
    day = cursor.astimezone(hours.zone).date()
    for _ in range(_MAX_DAYS_SCANNED):
        if hours.is_business_day(day):
            opens, closes = hours.hours_on(day)
            begin = max(cursor, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("no working day found in ten years: check the business calendar")


def business_time_between(start: datetime, end: datetime, hours: BusinessHours) -> timedelta:
    """How much business time passes from `start` to `end` (zero if `end` is not later): the
    inverse of `add_business_time`."""
    begin, finish = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta(0)
    if finish <= begin:
        return total
    day = begin.astimezone(hours.zone).date()
    last = finish.astimezone(hours.zone).date()
    while day <= last:
        if hours.is_business_day(day):
            opens, closes = hours.hours_on(day)
            overlap = min(closes, finish) - max(opens, begin)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total


@dataclass(frozen=True)
class SlaTarget:
    amount: int
    unit: SlaUnit

    def deadline(self, start: datetime, hours: BusinessHours) -> datetime:
        return self._after(start, 1, 1, hours)

    def at_risk(self, start: datetime, at_risk_percent: int, hours: BusinessHours) -> datetime:
        """The moment only `at_risk_percent` of the allowed time is left."""
        return self._after(start, 100 - at_risk_percent, 100, hours)

    def _after(self, start: datetime, num: int, den: int, hours: BusinessHours) -> datetime:
        return self.advance(start, self.allowance(hours) * num / den, hours)

    def allowance(self, hours: BusinessHours) -> timedelta:
        """The whole allowed time, in the target's own measure (wall clock or business)."""
        if self.unit == "wall_clock_hours":
            return timedelta(hours=self.amount)
        per_unit = timedelta(hours=1) if self.unit == "business_hours" else hours.day_length
        return per_unit * self.amount

    def advance(self, start: datetime, amount: timedelta, hours: BusinessHours) -> datetime:
        """`amount` of the target's measure after `start`."""
        if self.unit == "wall_clock_hours":
            return start.astimezone(UTC) + amount
        return add_business_time(start, amount, hours)

    def spent(self, start: datetime, end: datetime, hours: BusinessHours) -> timedelta:
        """How much of the target's measure passes from `start` to `end`."""
        if self.unit == "wall_clock_hours":
            return max(end - start, timedelta(0))
        return business_time_between(start, end, hours)


@dataclass(frozen=True)
class SlaRules:
    onboarding_premium: SlaTarget = SlaTarget(4, "business_hours")
    onboarding_standard: SlaTarget = SlaTarget(1, "business_days")
    licence_change: SlaTarget = SlaTarget(1, "wall_clock_hours")
    renewal_applied_before_lock: timedelta = timedelta(hours=24)
    at_risk_percent: int = 25  # the last quarter of the allowed time
    opens: time = time(9)
    closes: time = time(17)

    def __post_init__(self) -> None:
        if not 0 <= self.at_risk_percent <= 100:
            raise ValueError("at_risk_percent is a percentage")

    def onboarding(self, tier: SlaTier) -> SlaTarget:
        return self.onboarding_premium if tier == "premium" else self.onboarding_standard


DEFAULT_RULES = SlaRules()

# Every kind's target per tier (docs/rules.md#sla-tier-targets). Onboarding and licence change
# come from SlaRules (above, kept for the clocks that already use them); the renewal decision
# is measured against the renewal lock, not a target.
TIER_TARGETS: Mapping[tuple[SlaKind, SlaTier], SlaTarget] = {
    ("onboarding", "basic"): SlaTarget(2, "business_days"),
    ("payment_first_contact", "premium"): SlaTarget(1, "business_hours"),
    ("payment_first_contact", "standard"): SlaTarget(4, "business_hours"),
    ("payment_first_contact", "basic"): SlaTarget(1, "business_days"),
    ("support_first_response", "premium"): SlaTarget(1, "business_hours"),
    ("support_first_response", "standard"): SlaTarget(4, "business_hours"),
    ("support_first_response", "basic"): SlaTarget(2, "business_days"),
    ("support_resolution", "premium"): SlaTarget(1, "business_days"),
    ("support_resolution", "standard"): SlaTarget(3, "business_days"),
    ("support_resolution", "basic"): SlaTarget(5, "business_days"),
}


TierTargets = Mapping[tuple[SlaKind, SlaTier], SlaTarget]
_TARGET_ENTRY = re.compile(
    r"^\s*(?P<kind>[a-z_]+)\.(?P<tier>[a-z]+)\s*=\s*(?P<amount>\d{1,5})\s+"
    r"(?P<unit>wall_clock_hours|business_hours|business_days)\s*$"
)
_CHAIN_STEP = re.compile(r"^\s*(?P<role>[a-z][a-z0-9_]{0,39})\s*:\s*(?P<minutes>\d{1,5})\s*$")


def parse_targets(entries: Iterable[str]) -> dict[tuple[SlaKind, SlaTier], SlaTarget]:
    """The partner's own tier targets from configuration, one `kind.tier=N unit` entry each
    (`onboarding.premium=2 business_hours`); a malformed entry is refused, naming it."""
    kinds, tiers = set(get_args(SlaKind)), set(get_args(SlaTier))
    parsed: dict[tuple[SlaKind, SlaTier], SlaTarget] = {}
    for entry in entries:
        match = _TARGET_ENTRY.match(entry)
        if match is None or match["kind"] not in kinds or match["tier"] not in tiers:
            raise ValueError(
                f"{entry!r} is not kind.tier=N unit (e.g. onboarding.premium=4 business_hours)"
            )
        key = (cast(SlaKind, match["kind"]), cast(SlaTier, match["tier"]))
        parsed[key] = SlaTarget(int(match["amount"]), cast(SlaUnit, match["unit"]))
    return parsed


def parse_chain(text: str) -> tuple[EscalationStep, ...]:
    """An escalation chain from configuration: `owner:0,team_lead:30,manager:120`, each step
    a role and the business minutes after the previous one."""
    steps = []
    for part in text.split(","):
        match = _CHAIN_STEP.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not role:business-minutes (e.g. team_lead:30)")
        steps.append(EscalationStep(match["role"], timedelta(minutes=int(match["minutes"]))))
    return tuple(steps)


def target_for(
    kind: SlaKind,
    tier: SlaTier,
    overrides: Mapping[SlaKind, SlaTarget] | None = None,
    rules: SlaRules = DEFAULT_RULES,
    configured: TierTargets | None = None,
) -> SlaTarget:
    """The target a clock of `kind` runs to for a customer on `tier`: a customer's own
    override (agreed in its contract) first, then the partner's configured tier targets,
    then cspflow's defaults. The renewal decision has no target of its own
    (`renewal_decision_clock` measures it against the renewal lock)."""
    if overrides and kind in overrides:
        return overrides[kind]
    if configured and (kind, tier) in configured:
        return configured[(kind, tier)]
    if kind == "onboarding" and tier != "basic":
        return rules.onboarding(tier)
    if kind == "licence_change":
        return rules.licence_change
    if kind == "renewal_decision":
        raise ValueError("the renewal decision runs to the renewal lock: renewal_decision_clock")
    return TIER_TARGETS[(kind, tier)]


@dataclass(frozen=True)
class Budget:
    """A running clock's allowance, spent only while it runs (docs/rules.md#sla-pause).

    A clock paused while the partner waits on the customer does not count that time against
    the partner; when it resumes, its at-risk moment and deadline are what is left of the
    allowance, counted on from the resume."""

    target: SlaTarget
    hours: BusinessHours
    at_risk_percent: int = DEFAULT_RULES.at_risk_percent

    def spent(self, running_since: datetime, until: datetime) -> timedelta:
        return self.target.spent(running_since, until, self.hours)

    def due(self, resumed_at: datetime, spent: timedelta) -> tuple[datetime, datetime]:
        """(at_risk_at, deadline) of a clock that resumes at `resumed_at` having spent
        `spent` of its allowance. Already past either: that moment is `resumed_at`."""
        allowance = self.target.allowance(self.hours)
        risk_after = allowance * (100 - self.at_risk_percent) / 100
        zero = timedelta(0)
        at_risk = self.target.advance(resumed_at, max(risk_after - spent, zero), self.hours)
        deadline = self.target.advance(resumed_at, max(allowance - spent, zero), self.hours)
        return at_risk, deadline


@dataclass(frozen=True)
class EscalationStep:
    """Who is told when a breach is still unacknowledged: `after` business time since the
    previous step (the first since the breach)."""

    role: str
    after: timedelta


DEFAULT_ESCALATION: tuple[EscalationStep, ...] = (
    EscalationStep("owner", timedelta(0)),
    EscalationStep("team_lead", timedelta(minutes=30)),
    EscalationStep("manager", timedelta(hours=2)),
)


def escalation_plan(
    breached_at: datetime,
    hours: BusinessHours,
    chain: Sequence[EscalationStep] = DEFAULT_ESCALATION,
) -> tuple[tuple[str, datetime], ...]:
    """Each role in `chain` with the instant it is due after a breach, in business time
    (docs/rules.md#sla-escalation); an acknowledgement stops the steps not yet due."""
    if not chain:
        raise ValueError("an escalation chain needs at least one step")
    due, steps = breached_at.astimezone(UTC), list[tuple[str, datetime]]()
    for step in chain:
        if step.after < timedelta(0):
            raise ValueError("an escalation step cannot come before the one it follows")
        due = add_business_time(due, step.after, hours)
        steps.append((step.role, due))
    return tuple(steps)


def _clock(
    kind: SlaKind,
    customer: Customer,
    subject_id: str,
    started_at: datetime,
    target: SlaTarget,
    rules: SlaRules,
) -> SlaClock:
    hours = BusinessHours.of(customer.calendar, rules.opens, rules.closes)
    return SlaClock(
        kind=kind,
        subject_id=subject_id,
        customer_id=customer.id,
        tier=customer.sla_tier,
        started_at=started_at,
        at_risk_at=target.at_risk(started_at, rules.at_risk_percent, hours),
        deadline=target.deadline(started_at, hours),
    )


def onboarding_clock(
    customer: Customer, order_id: str, started_at: datetime, rules: SlaRules = DEFAULT_RULES
) -> SlaClock:
    target = target_for("onboarding", customer.sla_tier, rules=rules)
    return _clock("onboarding", customer, order_id, started_at, target, rules)


def licence_change_clock(
    customer: Customer, request_id: str, started_at: datetime, rules: SlaRules = DEFAULT_RULES
) -> SlaClock:
    return _clock("licence_change", customer, request_id, started_at, rules.licence_change, rules)


def renewal_decision_clock(
    customer: Customer,
    subscription: Subscription,
    started_at: datetime,
    rules: SlaRules = DEFAULT_RULES,
    renewal: RenewalRules = DEFAULT_RENEWAL_RULES,
) -> SlaClock:
    """From the first reminder to `renewal_applied_before_lock` before the renewal lock.

    A clock started after its deadline starts breached (its deadline is its start;
    docs/rules.md#renewal-decision-clock).
    """
    deadline = renewal_lock_at(subscription, renewal) - rules.renewal_applied_before_lock
    start = min(started_at, deadline)
    at_risk = deadline - (deadline - start) * rules.at_risk_percent / 100
    return SlaClock(
        kind="renewal_decision",
        subject_id=f"{subscription.id}:{subscription.commitment_end_date.isoformat()}",
        customer_id=customer.id,
        tier=customer.sla_tier,
        started_at=start,
        at_risk_at=at_risk,
        deadline=deadline,
    )


def sla_state(clock: SlaClock, now: datetime) -> SlaState:
    """met / breached once completed; otherwise on_track, at_risk or breached by `now`."""
    if clock.completed_at is not None:
        return "met" if clock.completed_at <= clock.deadline else "breached"
    if now >= clock.deadline:
        return "breached"
    if now >= clock.at_risk_at:
        return "at_risk"
    return "on_track"


# -- running clocks: pure transitions of a clock record (docs/rules.md#sla-pause,
# #sla-escalation). Activities apply them to the book; the orchestrator only waits.

WakeReason = Literal["at_risk", "breach", "escalate"]


@dataclass(frozen=True)
class Wake:
    """What a running clock waits for next: `reason` at `at` (`role` for an escalation)."""

    at: datetime
    reason: WakeReason
    role: str | None = None


def open_clock(
    kind: SlaKind,
    customer: Customer,
    subject_id: str,
    started_at: datetime,
    *,
    owner: str = "ops",
    deadline: datetime | None = None,
    overrides: Mapping[SlaKind, SlaTarget] | None = None,
    rules: SlaRules = DEFAULT_RULES,
    configured: TierTargets | None = None,
) -> SlaClock:
    """A new clock for a promise: run to the tier's target in the customer's business
    calendar, or to `deadline` when the owner measured the promise against a date (a clock
    started past it starts breached, docs/rules.md#renewal-decision-clock)."""
    hours = BusinessHours.of(customer.calendar, rules.opens, rules.closes)
    common = {
        "kind": kind,
        "subject_id": subject_id,
        "customer_id": customer.id,
        "tier": customer.sla_tier,
        "owner": owner,
        "history": [SlaHistoryEntry(at=started_at, event="started")],
    }
    if deadline is not None:
        start = min(started_at, deadline)
        at_risk = deadline - (deadline - start) * rules.at_risk_percent / 100
        return SlaClock.model_validate(
            {**common, "started_at": start, "at_risk_at": at_risk, "deadline": deadline}
        )
    if overrides is None:  # the customer's contracted targets
        overrides = {k: SlaTarget(v.amount, v.unit) for k, v in customer.sla_targets.items()}
    target = target_for(kind, customer.sla_tier, overrides, rules, configured)
    at_risk, due = Budget(target, hours, rules.at_risk_percent).due(started_at, timedelta(0))
    return SlaClock.model_validate(
        {
            **common,
            "started_at": started_at,
            "at_risk_at": at_risk,
            "deadline": due,
            "target": SlaTargetSpec(amount=target.amount, unit=target.unit),
        }
    )


def _with(
    clock: SlaClock, at: datetime, event: str, detail: str = "", **changes: object
) -> SlaClock:
    entry = SlaHistoryEntry.model_validate({"at": at, "event": event, "detail": detail})
    return SlaClock.model_validate(
        {**clock.model_dump(), **changes, "history": [*clock.history, entry]}
    )


def pause_clock(clock: SlaClock, at: datetime, hours: BusinessHours) -> SlaClock:
    """Stop counting at `at` (waiting on the customer). A clock that is not running, or has
    a fixed deadline, is returned unchanged."""
    if clock.phase != "running" or clock.target is None:
        return clock
    target = SlaTarget(clock.target.amount, clock.target.unit)
    since = clock.running_since or clock.started_at
    spent = clock.spent + target.spent(since, max(at, since), hours)
    return _with(clock, at, "paused", phase="paused", spent=spent)


def resume_clock(
    clock: SlaClock, at: datetime, hours: BusinessHours, rules: SlaRules = DEFAULT_RULES
) -> SlaClock:
    """Count again from `at`: at-risk moment and deadline are what was left of the
    allowance, counted on from `at`. A clock that is not paused is returned unchanged."""
    if clock.phase != "paused" or clock.target is None:
        return clock
    target = SlaTarget(clock.target.amount, clock.target.unit)
    at_risk, deadline = Budget(target, hours, rules.at_risk_percent).due(at, clock.spent)
    return _with(
        clock,
        at,
        "resumed",
        phase="running",
        running_since=at,
        at_risk_at=max(at_risk, clock.started_at),
        deadline=max(deadline, clock.started_at),
    )


def complete_clock(clock: SlaClock, at: datetime) -> SlaClock:
    """The promise was kept at `at`: met if by the deadline, breached otherwise. A closed or
    cancelled clock keeps its first outcome."""
    if not clock.open:
        return clock
    at = max(at, clock.started_at)
    met = at <= clock.deadline
    return _with(clock, at, "met" if met else "closed_breached", phase="closed", completed_at=at)


def cancel_clock(clock: SlaClock, at: datetime, reason: str = "") -> SlaClock:
    """The subject was cancelled: the clock stops without an outcome."""
    if not clock.open:
        return clock
    return _with(clock, at, "cancelled", reason, phase="cancelled")


def acknowledge_breach(clock: SlaClock, at: datetime, by: str) -> SlaClock:
    """Someone took the breach on: the escalation stops (the clock does not). Only a
    breached, unacknowledged, open clock changes."""
    if not clock.open or clock.breached_at is None or clock.acknowledged_at is not None:
        return clock
    return _with(clock, at, "acknowledged", by, acknowledged_at=at, acknowledged_by=by)


def next_wake(
    clock: SlaClock, hours: BusinessHours, chain: Sequence[EscalationStep] = DEFAULT_ESCALATION
) -> Wake | None:
    """What a running clock waits for next; None when it waits only for a signal (paused,
    closed, or breached and acknowledged or escalated to the end of the chain)."""
    if clock.phase != "running":
        return None
    if clock.at_risk_raised_at is None and clock.at_risk_at < clock.deadline:
        return Wake(clock.at_risk_at, "at_risk")
    if clock.breached_at is None:
        return Wake(clock.deadline, "breach")
    if clock.acknowledged_at is not None:
        return None
    plan = escalation_plan(clock.breached_at, hours, chain)
    told = len(clock.escalated_to)
    if told >= len(plan):
        return None
    role, due = plan[told]
    return Wake(due, "escalate", role)


def apply_wake(clock: SlaClock, wake: Wake, at: datetime) -> SlaClock:
    """Record that `wake` happened at `at`, if the clock still waits for it (a wake that no
    longer applies — met, paused, acknowledged, already recorded — changes nothing)."""
    if clock.phase != "running":
        return clock
    if wake.reason == "at_risk" and clock.at_risk_raised_at is None:
        return _with(clock, at, "at_risk", at_risk_raised_at=at)
    if wake.reason == "breach" and clock.breached_at is None:
        return _with(
            clock,
            at,
            "breached",
            at_risk_raised_at=clock.at_risk_raised_at or at,
            breached_at=at,
        )
    if (
        wake.reason == "escalate"
        and wake.role is not None
        and clock.breached_at is not None
        and clock.acknowledged_at is None
        and wake.role not in clock.escalated_to
    ):
        return _with(
            clock, at, "escalated", wake.role, escalated_to=[*clock.escalated_to, wake.role]
        )
    return clock
