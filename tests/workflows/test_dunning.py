"""The dunning orchestrator in virtual time (tests/orchestrator_driver.py), its activities
played by a small world: one invoice, the cards that try to pay it (each declining on a
script), and a customer who may pay through the link or save a new card at some moment.
The world answers each activity as the real one changes the book (activities/dunning.py):
re-reading the invoice before a charge or a notice, recording each attempt once.

The rules are docs/rules.md#retry-schedule, #hard-decline-stop, #new-payment-method,
#per-card-cap, #payment-failed-notices, #grace-then-suspend, #auto-renew-before-lock,
#write-off, #paid; the property test holds the whole workflow to them over generated decline
sequences and customer actions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.sla_clocks import Queued
from shared.errors import Failure
from shared.models.billing import PaymentAttempt
from shared.models.dunning import DunningCase, DunningCaseRecord
from shared.models.money import Money
from shared.policy.dunning import DEFAULT_RULES, classify_decline
from tests.orchestrator_driver import T0, Event, drive, retries_spent, succeeded
from workflows.dunning import card_expiry_sweep, dunning

INVOICE = "inv-42"
AMOUNT = Money(amount_minor=3450, currency="EUR")
DAY = timedelta(days=1)
START = {
    "stripe_invoice_id": "in_42",
    "invoice_id": INVOICE,
    "stripe_customer_id": "cus_1",
    "amount_due": 3450,
    "currency": "eur",
    "event_key": "evt_first",
    "event_type": "invoice.payment_failed",
    "source": "stripe",
}


@dataclass
class Card:
    """A card whose charges decline with `declines` in order, then succeed (or decline with
    the last one for ever when `forever`)."""

    id: str
    declines: list[str]
    forever: bool = False
    charges: list[datetime] = field(default_factory=list)

    def charge(self, at: datetime) -> str | None:
        self.charges.append(at)
        return self.answer(len(self.charges) - 1)

    def answer(self, n: int) -> str | None:
        """What charge number `n` (from 0) of this card gets: a decline code, or None."""
        if n < len(self.declines):
            return self.declines[n]
        return self.declines[-1] if self.forever and self.declines else None


@dataclass
class World:
    """Stripe, Partner Center and the book as the dunning activities see them."""

    cards: dict[str, Card]
    default: str
    paid_by_link_at: datetime | None = None
    renewal_lock_at: datetime | None = None
    record: DunningCaseRecord | None = None
    charged_after_payment: list[datetime] = field(default_factory=list)
    notices: list[tuple[datetime, int, str]] = field(default_factory=list)
    suspended_at: datetime | None = None
    auto_renew_off_at: datetime | None = None
    reactivated_at: datetime | None = None
    written_off_at: datetime | None = None
    sla: list[str] = field(default_factory=list)
    closed: int = 0
    link_tries: list[datetime] = field(default_factory=list)  # declined on the pay link
    tries_recorded: int = 0

    def outcomes(self) -> dict[str, Any]:
        return {
            "open_dunning_case": self.open,
            "refresh_dunning_case": self.refresh,
            "charge_dunning_invoice": self.charge,
            "send_dunning_notice": self.notice,
            "set_dunning_auto_renew": self.auto_renew,
            "suspend_for_dunning": self.suspend,
            "reactivate_after_payment": self.reactivate,
            "write_off_dunning_case": self.write_off,
            "close_dunning_case": self.close,
            "signal_sla_clock": self.signal,
        }

    # what the real activities do, on this world ----------------------------------------------
    def _paid(self, at: datetime) -> bool:
        return self.paid_by_link_at is not None and self.paid_by_link_at <= at

    def _save(self, record: DunningCaseRecord) -> dict[str, Any]:
        self.record = record
        return succeeded(record)

    def _case(self, **changes: Any) -> DunningCaseRecord:
        assert self.record is not None
        return self.record.model_copy(update={"case": self.record.case.model_copy(update=changes)})

    def _attempt(self, at: datetime, card: str, code: str) -> PaymentAttempt:
        return PaymentAttempt(
            invoice_id=INVOICE,
            attempted_at=at,
            amount=AMOUNT,
            payment_method_id=card,
            outcome="failed",
            failure_code="card_declined",
            decline_code=code,
        )

    def open(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.record is not None:
            return succeeded(self.record)
        at = datetime.fromisoformat(data["failed_at"])
        if data.get("overdue"):  # invoice terms: nothing was charged, nothing will be
            case = DunningCase(
                invoice_id=data["invoice_id"],
                opened_at=at,
                payment_method_id="none",
                overdue=True,
                next_renewal_lock_at=self.renewal_lock_at,
            )
            return self._save(DunningCaseRecord(customer_id="c-1", case=case, amount_due=AMOUNT))
        code = self.cards[self.default].charge(at)
        assert code is not None, "the first charge failed: that is why dunning started"
        case = DunningCase(
            invoice_id=data["invoice_id"],
            opened_at=at,
            attempts=(self._attempt(at, self.default, code),),
            payment_method_id=self.default,
            next_renewal_lock_at=self.renewal_lock_at,
        )
        return self._save(DunningCaseRecord(customer_id="c-1", case=case, amount_due=AMOUNT))

    def _mark_paid(self, at: datetime) -> dict[str, Any]:
        assert self.record is not None
        if self.record.case.paid_at is None:
            return self._save(self._case(paid_at=at))
        return succeeded(self.record)

    def refresh(self, data: dict[str, Any]) -> dict[str, Any]:
        at = datetime.fromisoformat(data["at"])
        assert self.record is not None
        if self._paid(at):
            return self._mark_paid(at)
        if data["reason"] == "payment_failed":
            # The customer's own declined tries (the pay link) Stripe reported: each recorded
            # once, as the activity knows a charge it recorded by its id.
            return self._record_tries(at)
        if self.default != self.record.case.payment_method_id:
            return self._save(
                self._case(payment_method_id=self.default, payment_method_changed_at=at)
            )
        return succeeded(self.record)

    def _record_tries(self, at: datetime) -> dict[str, Any]:
        assert self.record is not None
        tried = [t for t in self.link_tries if t <= at][self.tries_recorded :]
        if not tried:
            return succeeded(self.record)
        self.tries_recorded += len(tried)
        card = self.record.case.payment_method_id
        for t in tried:
            self.cards[card].charges.append(t)
        new = tuple(self._attempt(t, card, "insufficient_funds") for t in tried)
        return self._save(self._case(attempts=(*self.record.case.attempts, *new)))

    def charge(self, data: dict[str, Any]) -> dict[str, Any]:
        at = datetime.fromisoformat(data["at"])
        assert self.record is not None
        if len(self.record.case.attempts) >= data["attempt"]:
            return succeeded(self.record)
        if self._paid(at):  # the activity re-reads the invoice before charging
            return self._mark_paid(at)
        card = self.record.case.payment_method_id
        code = self.cards[card].charge(at)
        if self._paid(at):
            self.charged_after_payment.append(at)
        if code is None:
            self.paid_by_link_at = self.paid_by_link_at or at
            return self._mark_paid(at)
        attempts = (*self.record.case.attempts, self._attempt(at, card, code))
        return self._save(self._case(attempts=attempts))

    def notice(self, data: dict[str, Any]) -> dict[str, Any]:
        at = datetime.fromisoformat(data["at"])
        assert self.record is not None
        if self._paid(at):
            return self._mark_paid(at)
        if self.record.case.notices_sent >= data["number"]:
            return succeeded(self.record)
        self.notices.append((at, data["number"], data["ask"]))
        record = self._case(notices_sent=data["number"])
        return self._save(
            record.model_copy(update={"first_notice_at": self.record.first_notice_at or at})
        )

    def auto_renew(self, data: dict[str, Any]) -> dict[str, Any]:
        if not data["enabled"]:
            self.auto_renew_off_at = datetime.fromisoformat(data["at"])
        return self._save(self._case(auto_renew_off=not data["enabled"]))

    def suspend(self, data: dict[str, Any]) -> dict[str, Any]:
        self.suspended_at = datetime.fromisoformat(data["at"])
        return self._save(self._case(suspended=True))

    def reactivate(self, data: dict[str, Any]) -> dict[str, Any]:
        self.reactivated_at = datetime.fromisoformat(data["at"])
        return self._save(self._case(suspended=False, auto_renew_off=False))

    def write_off(self, data: dict[str, Any]) -> dict[str, Any]:
        at = datetime.fromisoformat(data["at"])
        if self._paid(at):
            return self._mark_paid(at)
        self.written_off_at = at
        return self._save(self._case(written_off=True))

    def close(self, data: dict[str, Any]) -> dict[str, Any]:
        assert self.record is not None
        self.closed += 1
        at = datetime.fromisoformat(data["at"])
        status = "recovered" if self.record.case.paid_at else "written_off"
        return self._save(self.record.model_copy(update={"status": status, "closed_at": at}))

    def signal(self, data: dict[str, Any]) -> dict[str, Any]:
        self.sla.append(data["signal"]["action"])
        return succeeded(Queued(queue="q", clock_id="c"))


def run(
    world: World, events: tuple[Event, ...] | list[Event] = (), start: dict[str, Any] = START
) -> Any:
    return drive(
        dunning,
        world.outcomes(),
        input=start,
        instance_id=f"dunning-{INVOICE}",
        events=list(events),
    )


def charges(run_: Any) -> list[dict[str, Any]]:
    return [c.input for c in run_.calls if c.name == "charge_dunning_invoice"]


def test_a_soft_decline_is_recovered_on_retry_2_with_one_notice_and_a_closed_clock():
    world = World({"pm_1": Card("pm_1", ["insufficient_funds"])}, "pm_1")
    done = run(world)
    assert done.output["status"] == "recovered"
    [retry] = charges(done)
    # The first retry comes a day after the failure (docs/rules.md#retry-schedule) under the
    # key of the case and its attempt number.
    assert retry["attempt"] == 2
    assert retry["step_key"] == f"dunning-{INVOICE}/charge-2"
    assert datetime.fromisoformat(retry["at"]) - T0 >= DAY
    assert [n[1:] for n in world.notices] == [(1, "pay")]
    assert world.sla == ["start", "met"]
    assert world.closed == 1 and world.suspended_at is None


def test_a_hard_decline_is_never_retried_and_a_new_card_is_charged_at_once():
    world = World(
        {"pm_lost": Card("pm_lost", ["lost_card"], forever=True), "pm_new": Card("pm_new", [])},
        "pm_lost",
    )
    saved_at = T0 + 4 * DAY
    # The customer saves a new card through the card-update link on day 4.
    events = [Event(saved_at, "card_updated", {"event_key": "evt_card"})]
    switch = _Switch(world, saved_at, "pm_new")
    done = drive(
        dunning,
        {**world.outcomes(), "refresh_dunning_case": switch.refresh},
        input=START,
        instance_id=f"dunning-{INVOICE}",
        events=events,
    )
    assert done.output["status"] == "recovered"
    # The lost card was charged once: the failure that opened the case.
    assert len(world.cards["pm_lost"].charges) == 1
    [retry] = charges(done)
    assert retry["at"] >= saved_at.isoformat()
    assert datetime.fromisoformat(retry["at"]) - saved_at < timedelta(seconds=1)
    # The notices asked for a new card (docs/rules.md#payment-failed-notices).
    assert world.notices and all(ask == "update_payment_method" for _, _, ask in world.notices)


@dataclass
class _Switch:
    """The customer's default card becomes `card` at `at` (what Stripe answers from then)."""

    world: World
    at: datetime
    card: str

    def refresh(self, data: dict[str, Any]) -> dict[str, Any]:
        if datetime.fromisoformat(data["at"]) >= self.at:
            self.world.default = self.card
        return self.world.refresh(data)


def test_paid_through_the_link_between_two_retries_stops_the_case_with_no_further_charge():
    world = World({"pm_1": Card("pm_1", ["insufficient_funds"], forever=True)}, "pm_1")
    paid_at = T0 + 2 * DAY  # between retry 1 (day 1) and retry 2 (day 3)
    world.paid_by_link_at = paid_at
    done = run(world, [Event(paid_at, "invoice_paid", {"event_key": "evt_paid"})])
    assert done.output["status"] == "recovered"
    assert [c["attempt"] for c in charges(done)] == [2]
    assert all(t < paid_at for t in world.cards["pm_1"].charges)
    assert world.record is not None and world.record.case.paid_at is not None
    assert world.record.case.paid_at - paid_at < timedelta(seconds=1)


def test_a_signal_whose_event_key_was_seen_is_ignored():
    world = World({"pm_1": Card("pm_1", ["insufficient_funds"])}, "pm_1")
    events = [
        # The start's own event delivered again as a signal, and one event twice.
        Event(T0 + timedelta(hours=1), "payment_failed", {"event_key": "evt_first"}),
        Event(T0 + timedelta(hours=2), "payment_failed", {"event_key": "evt_second"}),
        Event(T0 + timedelta(hours=3), "payment_failed", {"event_key": "evt_second"}),
    ]
    done = run(world, events)
    refreshes = [c for c in done.calls if c.name == "refresh_dunning_case"]
    assert len(refreshes) == 1
    assert done.output["status"] == "recovered"


def test_the_customers_own_declined_tries_count_toward_the_cap_of_7_charges_in_30_days():
    """docs/rules.md#per-card-cap: the customer's declined tries on the pay link, each
    reported by Stripe as another invoice.payment_failed, are charges on that card too."""
    world = World({"pm_1": Card("pm_1", ["insufficient_funds"], forever=True)}, "pm_1")
    world.link_tries = [T0 + timedelta(days=1, hours=h) for h in (2, 3, 4)]
    events = [
        Event(t + timedelta(minutes=1), "payment_failed", {"event_key": f"evt_link_{n}"})
        for n, t in enumerate(world.link_tries)
    ]
    # Stripe's event for one of those tries delivered twice: recorded once.
    events.append(Event(T0 + timedelta(days=1, hours=5), "payment_failed", events[-1].data))
    done = run(world, events)

    refreshes = [c.input for c in done.calls if c.name == "refresh_dunning_case"]
    assert [r["reason"] for r in refreshes] == ["payment_failed"] * 3
    assert world.record is not None
    attempts = world.record.case.attempts
    assert sum(1 for a in attempts if a.attempted_at in world.link_tries) == 3
    charged = sorted(world.cards["pm_1"].charges)
    assert len(charged) == len(attempts)
    for first in charged:
        assert sum(1 for t in charged if first <= t < first + timedelta(days=30)) <= 7
    alone = run(World({"pm_1": Card("pm_1", ["insufficient_funds"], forever=True)}, "pm_1"))
    assert len(charges(done)) < len(charges(alone))


def test_an_invoice_already_paid_when_the_case_opens_closes_it_without_a_charge_or_notice():
    world = World({"pm_1": Card("pm_1", ["insufficient_funds"])}, "pm_1")
    world.paid_by_link_at = T0 - timedelta(minutes=1)

    def open_paid(data: dict[str, Any]) -> dict[str, Any]:
        world.open(data)
        return world._mark_paid(datetime.fromisoformat(data["failed_at"]))

    done = drive(
        dunning,
        {**world.outcomes(), "open_dunning_case": open_paid},
        input=START,
        instance_id=f"dunning-{INVOICE}",
    )
    assert done.output["status"] == "recovered"
    assert charges(done) == [] and world.notices == []
    assert world.sla == ["start", "cancel"]


def test_never_paid_warned_auto_renew_off_before_the_lock_suspended_after_grace_written_off():
    lock = T0 + 10 * DAY
    world = World(
        {"pm_1": Card("pm_1", ["insufficient_funds"], forever=True)}, "pm_1", renewal_lock_at=lock
    )
    done = run(world)
    assert done.output["status"] == "written_off"
    assert world.auto_renew_off_at is not None
    assert world.auto_renew_off_at <= lock - DEFAULT_RULES.renewal_margin + timedelta(seconds=1)
    assert world.suspended_at is not None
    assert world.suspended_at >= T0 + DEFAULT_RULES.grace_period
    # Told before suspension: every notice of the ladder went out before it.
    assert [n for _, n, _ in world.notices] == [1, 2, 3, 4]
    assert all(at < world.suspended_at for at, _, _ in world.notices)
    assert world.written_off_at is not None
    assert world.written_off_at >= T0 + DEFAULT_RULES.write_off_after
    # Retries squeezed to end by the auto-renew decision (docs/rules.md#retry-squeeze).
    assert all(
        datetime.fromisoformat(c["at"]) <= world.auto_renew_off_at + timedelta(seconds=1)
        for c in charges(done)
    )
    assert len(charges(done)) == len(DEFAULT_RULES.retry_after)


OVERDUE = {**START, "overdue": True, "event_key": "evt_overdue", "event_type": "invoice.overdue"}


def test_an_overdue_invoice_is_told_warned_suspended_after_grace_and_written_off_never_charged():
    """Invoice terms (send_invoice): no decline and no automatic charge, only the notices
    with the pay link, then grace and suspension (docs/rules.md#grace-then-suspend)."""
    lock = T0 + 10 * DAY
    world = World({"pm_1": Card("pm_1", [])}, "pm_1", renewal_lock_at=lock)
    done = run(world, start=OVERDUE)
    assert done.output["status"] == "written_off"
    assert charges(done) == [] and world.cards["pm_1"].charges == []
    assert [(n, ask) for _, n, ask in world.notices] == [
        (1, "pay"),
        (2, "pay"),
        (3, "pay"),
        (4, "pay"),
    ]
    assert world.notices[0][0] - T0 < timedelta(seconds=1)  # told at once
    assert world.auto_renew_off_at is not None and world.auto_renew_off_at < lock
    assert world.suspended_at is not None
    assert world.suspended_at >= T0 + DEFAULT_RULES.grace_period
    assert all(at < world.suspended_at for at, _, _ in world.notices)
    assert world.written_off_at is not None
    assert world.written_off_at >= T0 + DEFAULT_RULES.write_off_after
    assert world.sla == ["start", "met"]


def test_an_overdue_invoice_paid_by_transfer_closes_the_case_with_no_charge():
    world = World({"pm_1": Card("pm_1", [])}, "pm_1")
    paid_at = T0 + 5 * DAY
    world.paid_by_link_at = paid_at
    done = run(world, [Event(paid_at, "invoice_paid", {"event_key": "evt_paid"})], OVERDUE)
    assert done.output["status"] == "recovered"
    assert charges(done) == [] and world.cards["pm_1"].charges == []
    assert [n for _, n, _ in world.notices] == [1, 2]  # day 0 and day 3
    assert world.suspended_at is None


def test_paid_while_suspended_is_reactivated_at_once():
    world = World({"pm_1": Card("pm_1", ["insufficient_funds"], forever=True)}, "pm_1")
    paid_at = T0 + 20 * DAY
    world.paid_by_link_at = paid_at
    done = run(world, [Event(paid_at, "invoice_paid", {"event_key": "evt_paid"})])
    assert done.output["status"] == "recovered"
    assert world.suspended_at is not None and world.suspended_at < paid_at
    assert world.reactivated_at is not None
    assert world.reactivated_at - paid_at < timedelta(seconds=1)
    assert world.written_off_at is None


# -- the whole workflow against the policy ---------------------------------------------------

SOFT = ["insufficient_funds", "generic_decline", "processing_error", "do_not_honor"]
HARD = ["lost_card", "stolen_card", "expired_card", "do_not_try_again", "incorrect_cvc"]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, list[Event], datetime | None, bool]:
    first = draw(st.lists(st.sampled_from(SOFT + HARD), min_size=1, max_size=10))
    forever = draw(st.booleans())
    cards = {"pm_1": Card("pm_1", first, forever=forever)}
    second = draw(st.lists(st.sampled_from(SOFT + HARD), max_size=4))
    cards["pm_2"] = Card("pm_2", second, forever=draw(st.booleans()))
    lock = draw(st.one_of(st.none(), st.integers(1, 90).map(lambda d: T0 + d * DAY)))
    world = World(cards, "pm_1", renewal_lock_at=lock)
    events: list[Event] = []
    pays = draw(st.one_of(st.none(), st.integers(1, 80 * 24)))
    if pays is not None:
        world.paid_by_link_at = T0 + timedelta(hours=pays)
        events.append(Event(world.paid_by_link_at, "invoice_paid", {"event_key": "evt_paid"}))
    new_card = draw(st.one_of(st.none(), st.integers(1, 80 * 24)))
    if new_card is not None:
        events.append(
            Event(T0 + timedelta(hours=new_card), "card_updated", {"event_key": "evt_card"})
        )
    for n in draw(st.lists(st.integers(1, 80 * 24), max_size=3)):
        # duplicates and Stripe's own failure events for our attempts
        events.append(Event(T0 + timedelta(hours=n), "payment_failed", {"event_key": f"e{n}"}))
    card_at = (T0 + timedelta(hours=new_card)) if new_card else None
    return world, events, card_at, draw(st.booleans())  # overdue on invoice terms, or not


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_the_workflow_keeps_the_ladder_whatever_the_declines_and_the_customer_do(drawn):
    world, events, card_at, overdue = drawn
    switch = _Switch(world, card_at or datetime.max.replace(tzinfo=T0.tzinfo), "pm_2")
    done = drive(
        dunning,
        {**world.outcomes(), "refresh_dunning_case": switch.refresh},
        input=OVERDUE if overdue else START,
        instance_id=f"dunning-{INVOICE}",
        events=events,
    )
    # Always a terminal state, closed once.
    assert done.output["status"] in ("recovered", "written_off")
    assert world.closed == 1
    # Never a charge after the payment landed; never any charge on an overdue invoice.
    assert world.charged_after_payment == []
    if overdue:
        assert charges(done) == [] and all(c.charges == [] for c in world.cards.values())
    for card in world.cards.values():
        # Never a retry on a card after a hard (or needs-action) decline on it.
        said = [card.answer(i) for i in range(len(card.charges))]
        for code in said[:-1]:
            if code is not None:
                assert classify_decline(code) == "soft", (card.id, said)
        # Never more than 7 charges on one card in any 30 days.
        for t in card.charges:
            window = [u for u in card.charges if t <= u < t + DEFAULT_RULES.attempt_window]
            assert len(window) <= DEFAULT_RULES.max_attempts_per_card
    # Never suspended before the grace period ended, never written off before 60 days.
    if world.suspended_at is not None:
        assert world.suspended_at >= T0 + DEFAULT_RULES.grace_period
    if world.written_off_at is not None:
        assert world.written_off_at >= T0 + DEFAULT_RULES.write_off_after
    if done.output["status"] == "recovered":
        assert world.record is not None and world.record.case.paid_at is not None
        # Reactivated once paid, if it had been suspended.
        if world.suspended_at is not None:
            assert world.reactivated_at is not None


# -- card-expiry pre-dunning ----------------------------------------------------------------


def test_the_card_expiry_sweep_scans_every_page_of_customers_and_counts_the_notices():
    pages = {
        None: {"customer_ids": ["c-1", "c-2"], "next": "p2"},
        "p2": {"customer_ids": ["c-3"], "next": None},
    }

    def scanned(data: dict[str, Any]) -> dict[str, Any]:
        notices = ["pm_x"] if data["customer_id"] in ("c-1", "c-3") else []
        return succeeded({"customer_id": data["customer_id"], "notices": notices})

    done = drive(
        card_expiry_sweep,
        {
            "card_customers_page": lambda data: succeeded(pages[data["next"]]),
            "warn_expiring_card": scanned,
        },
        input={"month": "202611"},
        instance_id="card-expiry-202611",
    )
    assert done.output == {"month": "202611", "pages": 2, "warned": 2}
    assert len(done.episodes) == 2
    scans = [c.input for c in done.calls if c.name == "warn_expiring_card"]
    assert [s["customer_id"] for s in scans] == ["c-1", "c-2", "c-3"]
    assert scans[0]["step_key"] == "card-expiry-202611/card-c-1"


def test_stripe_down_past_the_steps_retries_is_waited_out_and_the_charge_keeps_its_key():
    world = World({"pm_1": Card("pm_1", ["insufficient_funds"])}, "pm_1")
    down = retries_spent(
        Failure(kind="transient", error_type="PaymentsUnavailable", code="transient", message="503")
    )
    calls = {"n": 0}

    def charge(data: dict[str, Any]) -> Any:
        calls["n"] += 1
        return down if calls["n"] <= 2 else world.charge(data)

    done = drive(
        dunning,
        {**world.outcomes(), "charge_dunning_invoice": charge},
        input=START,
        instance_id=f"dunning-{INVOICE}",
    )
    assert done.output["status"] == "recovered"
    tried = charges(done)
    assert [c["step_key"] for c in tried] == [f"dunning-{INVOICE}/charge-2"] * 3
    # An hour between the tries; the card charged once.
    gaps = [
        datetime.fromisoformat(b["at"]) - datetime.fromisoformat(a["at"])
        for a, b in itertools.pairwise(tried)
    ]
    assert all(timedelta(hours=1) <= g < timedelta(hours=1, seconds=1) for g in gaps)
    assert len(world.cards["pm_1"].charges) == 2
