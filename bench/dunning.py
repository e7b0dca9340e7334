"""Dunning recovery: cspflow's ladder against Stripe's default retry schedule on one seeded
book of failed invoices.

`run()` prints the table and writes bench/out/dunning.json: rows {"measure", "value", "goal",
"note"}; `python -m bench.dunning` runs it alone, `make bench` with the others.

The book: `INVOICES` (500) failed invoices, seeded, each with an amount, the decline of its
first charge and what happens next. The failure mix and the behaviours are this benchmark's
assumptions, stated here so the figures can be read against them (the decline codes and
their classes are Stripe's, https://docs.stripe.com/declines/codes):

| first decline | share | the card afterwards |
|---|---|---|
| `insufficient_funds` | 40 % | pays from a day 1-20 after the failure (70 %), or never |
| `generic_decline` | 15 % | pays from a day 1-10 (50 %), or never |
| `processing_error` | 15 % | pays from the next day (90 %), or never |
| `expired_card` | 20 % | never (hard) |
| `lost_card`, `stolen_card` | 10 % | never (hard) |

| the customer | share |
|---|---|
| pays through the pay link 1-9 days after the first failed-payment notice | 20 % |
| pays 1-3 days after the second reminder (a notice only cspflow's ladder sends) | 15 % |
| saves a new card 1-5 days after being asked for one (cspflow asks on a hard decline) | 35 % of hard declines |
| does nothing | the rest |

cspflow: the real `dunning` orchestrator (workflows/dunning.py) driven in virtual time by
the orchestrator driver (tests/orchestrator_driver.py), its activities played by a world
that charges these cards, mails these customers and records what happened.

The baseline: Stripe's recommended default for Smart Retries, 8 tries within 2 weeks
(https://docs.stripe.com/payments/off-session-payments/smart-retries), here the first
failure and 7 retries evenly spread over 14 days on the same card whatever the decline, and
one failed-payment email with the pay link (https://docs.stripe.com/billing/revenue-recovery/customer-emails);
no card-update request, no reminders.

Measures, for each side: recovery rate (recovered / failed volume, Stripe's definition of the
recovery rate: https://docs.stripe.com/billing/revenue-recovery), the share of recoveries
within 10 days, charge attempts after the first failure per recovered invoice, retries on a
card after a hard decline on it, notices per case. Goals (cspflow's): recovery at least
75 %, 90 % of recoveries within 10 days, no hard-decline retry, fewer attempts per recovery
than the baseline.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from activities.sla_clocks import Queued
from bench.table import print_table
from shared.models.billing import PaymentAttempt
from shared.models.dunning import DunningCase, DunningCaseRecord
from shared.models.money import Money
from shared.policy.dunning import DEFAULT_RULES, classify_decline
from tests.orchestrator_driver import T0, Event, drive, succeeded
from workflows.dunning import dunning

INVOICES = 500
SEED = 19
OUT = Path(__file__).parent / "out" / "dunning.json"
DAY = timedelta(days=1)
HORIZON = 60 * DAY  # what counts as recovered: paid within the write-off horizon
Row = dict[str, object]

MIX = (
    ("insufficient_funds", 0.40, 0.70, (1, 20)),
    ("generic_decline", 0.15, 0.50, (1, 10)),
    ("processing_error", 0.15, 0.90, (1, 1)),
    ("expired_card", 0.20, 0.0, (0, 0)),
    ("lost_card", 0.05, 0.0, (0, 0)),
    ("stolen_card", 0.05, 0.0, (0, 0)),
)
# The second reminder is the ladder's third notice: its day comes from the policy, so a ladder
# that reminds earlier is paid earlier by the customers who pay after it.
SECOND_REMINDER = DEFAULT_RULES.notice_after[2]


@dataclass(frozen=True)
class Failed:
    """One failed invoice of the seeded book and what its card and customer will do."""

    number: int
    amount: int  # minor units, EUR
    decline: str
    card_pays_from: timedelta | None  # None: the card never pays
    pays_by_link_after: timedelta | None = None  # after the first notice
    pays_after_reminder: timedelta | None = None  # after the second reminder (notice 3)
    new_card_after: timedelta | None = None  # after being asked for a new card

    @property
    def hard(self) -> bool:
        return classify_decline(self.decline) != "soft"


def _pick(at: float) -> tuple[str, float, float, tuple[int, int]]:
    """The row of MIX that a uniform draw `at` falls in (shares add up to 1)."""
    acc = 0.0
    for entry in MIX:
        acc += entry[1]
        if at < acc:
            return entry
    return MIX[-1]


def seeded_book(invoices: int = INVOICES, seed: int = SEED) -> list[Failed]:
    rng = random.Random(seed)
    book = []
    for n in range(invoices):
        decline, _, pays, (lo, hi) = _pick(rng.random())
        card = DAY * rng.randint(lo, hi) if rng.random() < pays else None
        behaviour, hard = rng.random(), classify_decline(decline) != "soft"
        kw: dict[str, Any] = {}
        if behaviour < 0.20:
            kw["pays_by_link_after"] = DAY * rng.randint(1, 9)
        elif behaviour < 0.35:
            kw["pays_after_reminder"] = DAY * rng.randint(1, 3)
        elif hard and rng.random() < 0.35 / 0.65:
            kw["new_card_after"] = DAY * rng.randint(1, 5)
        book.append(Failed(n, rng.choice((1900, 4200, 8900, 21000, 64000)), decline, card, **kw))
    return book


@dataclass
class Outcome:
    recovered_after: timedelta | None  # from the first failure
    attempts: int  # charges after the first failure
    hard_retries: int  # charges on a card after a hard decline on it
    notices: int


# -- cspflow: the real orchestrator in virtual time ---------------------------------------------


@dataclass
class World:
    """Stripe, mail and Partner Center for one failed invoice, as the dunning activities see
    them."""

    invoice: Failed
    paid_at: datetime | None = None
    new_card_at: datetime | None = None
    record: DunningCaseRecord | None = None
    charges: list[tuple[datetime, str, str | None]] = field(default_factory=list)
    notices: int = 0

    def _charge(self, at: datetime, card: str) -> str | None:
        """Charge `card` at `at`: None when it pays, else its decline code."""
        if card == "pm_new" or (
            self.invoice.card_pays_from is not None and at - T0 >= self.invoice.card_pays_from
        ):
            code = None
        else:
            code = self.invoice.decline
        self.charges.append((at, card, code))
        return code

    def _save(self, record: DunningCaseRecord) -> dict[str, Any]:
        self.record = record
        return succeeded(record)

    def _case(self, **changes: Any) -> DunningCaseRecord:
        assert self.record is not None
        return self.record.model_copy(update={"case": self.record.case.model_copy(update=changes)})

    def _paid(self, at: datetime) -> bool:
        return self.paid_at is not None and self.paid_at <= at

    def _mark_paid(self, at: datetime) -> dict[str, Any]:
        assert self.record is not None
        if self.record.case.paid_at is None:
            return self._save(self._case(paid_at=self.paid_at or at))
        return succeeded(self.record)

    def outcomes(self) -> dict[str, Any]:
        def at_of(data: dict[str, Any]) -> datetime:
            return datetime.fromisoformat(data["at"])

        def open_case(data: dict[str, Any]) -> dict[str, Any]:
            at = datetime.fromisoformat(data["failed_at"])
            self._charge(at, "pm_1")
            attempt = PaymentAttempt(
                invoice_id="inv",
                attempted_at=at,
                amount=Money(amount_minor=self.invoice.amount, currency="EUR"),
                payment_method_id="pm_1",
                outcome="failed",
                failure_code="card_declined",
                decline_code=self.invoice.decline,
            )
            case = DunningCase(
                invoice_id="inv", opened_at=at, attempts=(attempt,), payment_method_id="pm_1"
            )
            return self._save(DunningCaseRecord(customer_id="c", case=case))

        def refresh(data: dict[str, Any]) -> dict[str, Any]:
            at = at_of(data)
            if self._paid(at):
                return self._mark_paid(at)
            assert self.record is not None
            new_card = self.new_card_at is not None and at >= self.new_card_at
            if new_card and self.record.case.payment_method_id != "pm_new":
                return self._save(
                    self._case(payment_method_id="pm_new", payment_method_changed_at=at)
                )
            return succeeded(self.record)

        def charge(data: dict[str, Any]) -> dict[str, Any]:
            at = at_of(data)
            assert self.record is not None
            if self._paid(at):
                return self._mark_paid(at)
            card = self.record.case.payment_method_id
            code = self._charge(at, card)
            if code is None:
                self.paid_at = at
                return self._mark_paid(at)
            attempt = self.record.case.attempts[0].model_copy(
                update={"attempted_at": at, "payment_method_id": card, "decline_code": code}
            )
            return self._save(self._case(attempts=(*self.record.case.attempts, attempt)))

        def notice(data: dict[str, Any]) -> dict[str, Any]:
            at = at_of(data)
            if self._paid(at):
                return self._mark_paid(at)
            self.notices += 1
            return self._save(self._case(notices_sent=data["number"]))

        def flag(**changes: Any) -> Any:
            return lambda data: self._save(self._case(**changes))

        def write_off(data: dict[str, Any]) -> dict[str, Any]:
            return (
                self._mark_paid(at_of(data))
                if self._paid(at_of(data))
                else flag(written_off=True)(data)
            )

        def close(data: dict[str, Any]) -> dict[str, Any]:
            assert self.record is not None
            status = "recovered" if self.record.case.paid_at else "written_off"
            return self._save(
                self.record.model_copy(update={"status": status, "closed_at": at_of(data)})
            )

        return {
            "open_dunning_case": open_case,
            "refresh_dunning_case": refresh,
            "charge_dunning_invoice": charge,
            "send_dunning_notice": notice,
            "set_dunning_auto_renew": flag(auto_renew_off=True),
            "suspend_for_dunning": flag(suspended=True),
            "reactivate_after_payment": flag(suspended=False),
            "write_off_dunning_case": write_off,
            "close_dunning_case": close,
            "signal_sla_clock": lambda data: succeeded(Queued(queue="q", clock_id="c")),
        }


def cspflow(invoice: Failed) -> Outcome:
    world = World(invoice)
    events: list[Event] = []
    if invoice.pays_by_link_after is not None:
        world.paid_at = T0 + invoice.pays_by_link_after
    elif invoice.pays_after_reminder is not None:
        world.paid_at = T0 + SECOND_REMINDER + invoice.pays_after_reminder
    if world.paid_at is not None:
        events.append(Event(world.paid_at, "invoice_paid", {"event_key": "paid"}))
    if invoice.new_card_after is not None and invoice.hard:
        # Asked in the first notice (day 0) with the card-update link.
        world.new_card_at = T0 + invoice.new_card_after
        events.append(Event(world.new_card_at, "card_updated", {"event_key": "card"}))
    drive(
        dunning,
        world.outcomes(),
        input={"stripe_invoice_id": "in_1", "stripe_customer_id": "cus_1", "event_key": "f"},
        instance_id="dunning-inv",
        events=events,
    )
    record = world.record
    assert record is not None and record.status in ("recovered", "written_off")
    paid = record.case.paid_at
    # A payment the customer made before noticing the ladder was done still counts only
    # within the horizon.
    recovered = paid - T0 if paid is not None and paid - T0 <= HORIZON else None
    return Outcome(recovered, len(world.charges) - 1, _hard_retries(world.charges), world.notices)


def _hard_retries(charges: list[tuple[datetime, str, str | None]]) -> int:
    refused: set[str] = set()
    retries = 0
    for _, card, code in charges:
        if card in refused:
            retries += 1
        if code is not None and classify_decline(code) != "soft":
            refused.add(card)
    return retries


# -- the baseline: Stripe's default schedule ----------------------------------------------------


def baseline(invoice: Failed) -> Outcome:
    charges: list[tuple[datetime, str, str | None]] = []
    paid: timedelta | None = None
    by_customer = invoice.pays_by_link_after  # the one email: only the pay link, no reminders
    for n in range(8):  # the failure, then 7 retries evenly over 14 days
        at = 2 * DAY * n
        if by_customer is not None and by_customer <= at:
            paid = by_customer
            break
        pays = invoice.card_pays_from is not None and at >= invoice.card_pays_from
        charges.append((T0 + at, "pm_1", None if pays else invoice.decline))
        if pays:
            paid = at
            break
    if paid is None and by_customer is not None and by_customer <= HORIZON:
        paid = by_customer
    return Outcome(paid, len(charges) - 1, _hard_retries(charges), 1)


# -- the table ----------------------------------------------------------------------------------


def summary(book: list[Failed], outcomes: list[Outcome]) -> dict[str, float]:
    failed = sum(i.amount for i in book)
    recovered = [(i, o) for i, o in zip(book, outcomes, strict=True) if o.recovered_after]
    volume = sum(i.amount for i, _ in recovered)
    within = [o for _, o in recovered if o.recovered_after and o.recovered_after <= 10 * DAY]
    return {
        "recovery": volume / failed,
        "within_10_days": len(within) / len(recovered) if recovered else 0.0,
        "attempts_per_recovery": sum(o.attempts for o in outcomes) / max(1, len(recovered)),
        "hard_retries": float(sum(o.hard_retries for o in outcomes)),
        "notices_per_case": sum(o.notices for o in outcomes) / len(outcomes),
        "recovered": float(len(recovered)),
    }


def measure(invoices: int = INVOICES, seed: int = SEED) -> list[Row]:
    book = seeded_book(invoices, seed)
    ours = summary(book, [cspflow(i) for i in book])
    theirs = summary(book, [baseline(i) for i in book])
    hard = sum(1 for i in book if i.hard)

    def row(measure: str, key: str, goal: str, digits: int = 3) -> Row:
        return {
            "measure": measure,
            "value": round(ours[key], digits),
            "goal": goal,
            "note": f"baseline {round(theirs[key], digits)}",
        }

    return [
        row("recovery rate (recovered / failed volume)", "recovery", ">= 0.75"),
        row("recoveries within 10 days", "within_10_days", ">= 0.9"),
        row(
            "charge attempts after the failure per recovery",
            "attempts_per_recovery",
            f"< {round(theirs['attempts_per_recovery'], 3)}",
        ),
        row("retries after a hard decline", "hard_retries", "== 0", 0),
        row("notices per case", "notices_per_case", "", 2),
        {
            "measure": "invoices",
            "value": invoices,
            "goal": "",
            "note": f"seed {seed}; {hard} hard declines; recovered {int(ours['recovered'])} "
            f"(baseline {int(theirs['recovered'])})",
        },
    ]


def goals_met(rows: list[Row]) -> bool:
    """Whether every row with a goal meets it (`>= x`, `< x`, `== x`)."""
    for row in rows:
        goal, value = str(row["goal"]), float(str(row["value"]))
        if not goal:
            continue
        op, bound = goal.split(" ", 1)
        ok = {
            ">=": value >= float(bound),
            "<": value < float(bound),
            "==": value == float(bound),
        }[op]
        if not ok:
            return False
    return True


def run(invoices: int = INVOICES, seed: int = SEED, out: Path = OUT) -> list[Row]:
    rows = measure(invoices, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        f"Dunning of {invoices} seeded failed invoices: cspflow's ladder (the real orchestrator "
        "in virtual time) against Stripe's default schedule (8 tries in 2 weeks)"
    )
    print_table(rows)
    missed = [str(row["measure"]) for row in rows if row["goal"] and not goals_met([row])]
    print("goals met" if not missed else "goal NOT met: " + "; ".join(missed))
    return rows


if __name__ == "__main__":
    run()
    sys.exit(0)
