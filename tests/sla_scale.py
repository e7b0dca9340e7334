"""Many SLA clocks in virtual time on devhost's Durable engine, with the app's real
orchestrator and activities and the book in a real Azurite, the host stopped and started again
in the middle: the scenario tests/workflows/test_sla_clock_restart.py runs small and
bench/sla_clocks.py runs with 1,000 clocks (docs/rules.md#sla-tier-targets, #sla-escalation).

`run_scenario(storage, workdir, clocks)` starts `clocks` onboarding clocks at `T0` for nine
customers (premium, standard and basic, each in Berlin, New York and Jerusalem), in five
plans, round robin over the customers:
- left alone: at risk at exactly its at-risk instant, breached at exactly its deadline,
  escalated along the whole chain at each step's instant, each alert on the ops queue once;
- met on track (half-way to its at-risk instant) and met at risk (half-way from its at-risk
  instant to its deadline): closed as met, with its `sla_outcome` KPI event;
- acknowledged after the chain's first step, and after its second: the escalation stops at
  the step it reached, the clock itself stays running and breached.
Starts and `met` signals go through the SLA signal queue consumer's `triggers.sla.deliver`;
acknowledgements through the `POST /api/sla/clocks/{id}/acknowledge` route's own handler,
which reads "now" from the app's clock, here the engine's virtual clock served over HTTP as
devhost serves it. The Durable client they are given calls the engine directly, with the
payloads the SDK's client sends.

Virtual time moves only when the engine is idle (devhost.clock.VirtualClock). The driver
registers a wake-up on it at every instant it acts at (the start, each signal's instant, the
restart, the end), so time stops there until the driver has acted and the engine has taken
it in. The host is stopped at the restart instant, the median of every instant a clock wakes
at, while that instant's wakes run, and a new engine resumes from the same SQLite hub. Time
reaching the end instant (after every clock's last computed instant) means every wake before
it ran: the driver then reads the book, the ops queue, the KPI events and the engine's
histories and counts what is off (`Outcome`).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal
from uuid import uuid4

import azure.durable_functions as df
import azure.functions as func

from devhost.app import LoadedApp, load_app
from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.history import EventType
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models.party import Customer
from shared.models.sla import SlaClock, SlaKind, SlaSignal, sla_instance_id
from shared.policy.sla import (
    DEFAULT_RULES,
    BusinessHours,
    escalation_plan,
    open_clock,
    parse_chain,
    parse_targets,
)
from shared.storage import OPS_QUEUE, trigger_queue
from tests.shared.book.records import customer
from triggers.api import API, Call
from triggers.sla import Acknowledge, acknowledge_clock, deliver

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)  # a Tuesday; 03:00 in New York
KIND: SlaKind = "onboarding"
CALENDARS: dict[str, dict[str, str]] = {
    "berlin": {"time_zone": "Europe/Berlin", "country": "DE", "subdivision": "BE"},
    "new-york": {"time_zone": "America/New_York", "country": "US", "subdivision": "NY"},
    "jerusalem": {"time_zone": "Asia/Jerusalem", "country": "IL"},
}
TIERS = ("premium", "standard", "basic")
CUSTOMERS: tuple[Customer, ...] = tuple(
    customer(f"c-{tier}-{city}", sla_tier=tier, calendar=calendar)
    for tier in TIERS
    for city, calendar in CALENDARS.items()
)
Plan = Literal["left_alone", "met_on_track", "met_at_risk", "acked_after_1", "acked_after_2"]
PLANS: tuple[Plan, ...] = (
    "left_alone",
    "met_on_track",
    "met_at_risk",
    "acked_after_1",
    "acked_after_2",
)
ACKNOWLEDGED_BY = "duty-manager"
ACKNOWLEDGE = next(r for r in API.routes if r.name == acknowledge_clock.__name__)
POLL_S = 0.005  # virtual time, read in memory
POLL_BOOK_S = 0.05  # the book, read in Azurite


@dataclass(frozen=True)
class Planned:
    """One clock: what the driver does to it and what it must show afterwards."""

    subject_id: str
    customer: Customer
    plan: Plan
    at_risk_at: datetime
    deadline: datetime
    escalations: tuple[tuple[str, datetime], ...]  # the chain's roles and instants
    acts_at: datetime | None  # the met or acknowledge signal's instant

    @property
    def clock_id(self) -> str:
        return sla_instance_id(KIND, self.subject_id)

    def history(self) -> list[tuple[str, datetime]]:
        """The clock record's history it must end with: (event, instant)."""
        started = [("started", T0)]
        if self.plan == "met_on_track":
            return [*started, ("met", self._acts_at)]
        at_risk = [*started, ("at_risk", self.at_risk_at)]
        if self.plan == "met_at_risk":
            return [*at_risk, ("met", self._acts_at)]
        breached = [*at_risk, ("breached", self.deadline)]
        escalated = [("escalated", at) for _, at in self.escalations[: self.steps_reached]]
        if self.plan == "left_alone":
            return [*breached, *escalated]
        return [*breached, *escalated, ("acknowledged", self._acts_at)]

    @property
    def steps_reached(self) -> int:
        return {"acked_after_1": 1, "acked_after_2": 2}.get(self.plan, len(self.escalations))

    def alerts(self) -> Counter[tuple[str, str]]:
        """The ops queue's alerts for this clock: (type, to) once each."""
        found: Counter[tuple[str, str]] = Counter()
        for event, _ in self.history():
            if event == "at_risk":
                found["sla_at_risk", "ops"] += 1
            elif event == "breached":
                found["sla_breach", "ops"] += 1
        for role, _ in self.escalations[: self.steps_reached] if self.breaches else ():
            found["sla_escalate", role] += 1
        return found

    @property
    def breaches(self) -> bool:
        return self.plan in ("left_alone", "acked_after_1", "acked_after_2")

    @property
    def _acts_at(self) -> datetime:
        assert self.acts_at is not None
        return self.acts_at


def plan_clocks(clocks: int, targets: tuple[str, ...] = (), chain: str = "") -> list[Planned]:
    """`clocks` clocks round robin over the customers, the plans taking turns by round, each
    with its instants computed from the policy (shared/policy/sla.py) and the customer's
    calendar, independently of the run."""
    configured = parse_targets(targets)
    steps = parse_chain(chain or get_settings().sla_escalation_chain)
    if len(steps) < 3:
        raise ValueError("the scenario acknowledges after the chain's second step: 3 steps")
    planned = []
    for n in range(clocks):
        cust = CUSTOMERS[n % len(CUSTOMERS)]
        plan = PLANS[(n // len(CUSTOMERS)) % len(PLANS)]
        subject = f"order-{n:05d}"
        opened = open_clock(KIND, cust, subject, T0, configured=configured)
        hours = BusinessHours.of(cust.calendar, DEFAULT_RULES.opens, DEFAULT_RULES.closes)
        chain_at = escalation_plan(opened.deadline, hours, steps)
        acts_at = {
            "left_alone": None,
            "met_on_track": _between(T0, opened.at_risk_at),
            "met_at_risk": _between(opened.at_risk_at, opened.deadline),
            "acked_after_1": _between(chain_at[0][1], chain_at[1][1]),
            "acked_after_2": _between(chain_at[1][1], chain_at[2][1]),
        }[plan]
        planned.append(
            Planned(subject, cust, plan, opened.at_risk_at, opened.deadline, chain_at, acts_at)
        )
    return planned


def _between(start: datetime, end: datetime) -> datetime:
    middle = start + (end - start) / 2
    return middle.replace(microsecond=0)


@dataclass
class Outcome:
    """What a run showed: each count is 0 when the clocks kept their promises."""

    clocks: int
    wall_seconds: float  # from the first start to virtual time reaching the end instant
    off_instant: int = 0  # clocks with a transition or a wake off its computed instant
    alerts_twice: int = 0  # alerts (clock, type, role) sent more than once
    escalations_after_ack: int = 0  # escalations (history or alert) after the acknowledgement
    not_settled: int = 0  # clocks not in the end state their plan says
    redelivered: int = 0  # the same alert message (same id) on the queue again
    wakes: int = 0  # wakes the engine ran, each checked against its instant
    alerts: int = 0  # alerts on the ops queue, each checked against the plan
    restarted_at: datetime | None = None
    end_at: datetime | None = None
    checkpoints: int = 0
    plans: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return self.off_instant + self.alerts_twice + self.escalations_after_ack + self.not_settled


class EngineClient:
    """The Durable client calls `triggers.sla` makes, on the engine running now, with the
    payloads the SDK's `DurableOrchestrationClient` posts (the input and event data as the
    JSON text of the value)."""

    def __init__(self, engine: Callable[[], DurableEngine]) -> None:
        self._engine = engine

    async def get_status(self, instance_id: str) -> Any:
        status = self._engine().get_status(instance_id, show_input=False)
        runtime = None if status is None else df.OrchestrationRuntimeStatus(status.runtime_status)
        return SimpleNamespace(runtime_status=runtime)

    async def start_new(self, name: str, instance_id: str, data: Any) -> str:
        return self._engine().start_new(name, instance_id, json.dumps(data))

    async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        self._engine().raise_event(instance_id, name, json.dumps(data))


@contextmanager
def _served_clock(now: Callable[[], datetime]) -> Iterator[str]:
    """`GET /` answers `{"now": ...}` (shared.clock.HttpClock), as devhost's /admin/clock."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"now": now().isoformat()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="sla-scale-clock", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()


class _Host:
    """The engine running now (replaced at the restart) and its virtual clock."""

    def __init__(self, app: LoadedApp, db: Path) -> None:
        self.app = app
        self.db = db
        self.clock = VirtualClock(T0)
        self.engine = DurableEngine(app, db, clock=self.clock)
        self.wakeups: dict[datetime, int] = {}

    def hold_at(self, instants: list[datetime]) -> None:
        self.wakeups = {at: self.clock.add_wakeup(at) for at in instants}

    def restart(self) -> None:
        """Stop the host now, whatever runs, and start a new one on the same hub, its clock
        where the old one stopped."""
        stopped_at = self.clock.now()
        self.engine.close()
        later = sorted(at for at in self.wakeups if at > stopped_at)
        self.clock = VirtualClock(stopped_at)
        self.engine = DurableEngine(self.app, self.db, clock=self.clock)
        self.hold_at(later)
        self.engine.start()

    def release(self, at: datetime) -> None:
        token = self.wakeups.pop(at, None)
        if token is not None:
            self.clock.remove_wakeup(token)


def run_scenario(
    storage: str, workdir: Path, clocks: int, *, restart: bool = True, timeout_s: float = 900
) -> Outcome:
    """Run `clocks` clocks through the scenario on Azurite at `storage` (connection string),
    the engine's hub in `workdir`; every wait gives up after `timeout_s` of wall time."""
    workdir.mkdir(parents=True, exist_ok=True)
    clock_url: list[str] = []
    host: _Host | None = None

    def now() -> datetime:
        return host.clock.now() if host is not None else T0

    with _served_clock(now) as url:
        clock_url.append(url)
        with _environment(
            AzureWebJobsStorage=storage,
            CSPFLOW_TABLE_PREFIX=f"s{uuid4().hex[:20]}",
            CSPFLOW_CLOCK_URL=url,
            DEVHOST_CLOCK_URL=None,
            CSPFLOW_NOTIFY_OPS_TO=None,
        ):
            settings = get_settings()
            book = Book(settings)
            ops = trigger_queue(settings, OPS_QUEUE)
            ops.clear_messages()
            for cust in CUSTOMERS:
                book.customers.add(cust)
            planned = plan_clocks(clocks, settings.sla_targets, settings.sla_escalation_chain)
            host = _Host(load_app(ROOT), workdir / "hub.db")
            return _drive(host, book, ops, planned, restart, timeout_s)


def _drive(
    host: _Host, book: Book, ops: Any, planned: list[Planned], restart: bool, timeout_s: float
) -> Outcome:
    client = EngineClient(lambda: host.engine)
    wakes = sorted(
        {p.at_risk_at for p in planned}
        | {p.deadline for p in planned}
        | {at for p in planned for _, at in p.escalations}
    )
    end_at = max(wakes) + timedelta(minutes=1)
    restart_at = wakes[len(wakes) // 2] if restart else None
    acting: dict[datetime, list[Planned]] = defaultdict(list)
    for p in planned:
        if p.acts_at is not None:
            acting[p.acts_at].append(p)
    instants = sorted({T0, end_at, *acting} | ({restart_at} if restart_at else set()))
    outcome = Outcome(clocks=len(planned), wall_seconds=0.0, restarted_at=restart_at)
    outcome.end_at, outcome.checkpoints = end_at, len(instants)
    outcome.plans.update(p.plan for p in planned)

    host.hold_at(instants)
    host.engine.start()
    started = time.perf_counter()
    try:
        for at in instants:
            _wait(f"virtual time reaching {at}", partial(_reached, host, at), timeout_s)
            if host.clock.now() != at:
                raise RuntimeError(f"virtual time went past {at} to {host.clock.now()}")
            if at == restart_at:
                host.restart()
            if at == T0:
                _start_all(client, host, planned, timeout_s)
            if acting.get(at):
                _act(client, book, acting[at], at, timeout_s)
            host.release(at)
        outcome.wall_seconds = time.perf_counter() - started
        _check(host, book, ops, planned, outcome)
    finally:
        host.engine.close()
    return outcome


def _reached(host: _Host, at: datetime) -> bool:
    return host.clock.now() >= at


def _start_all(client: EngineClient, host: _Host, planned: list[Planned], timeout_s: float) -> None:
    async def starts() -> None:
        for p in planned:
            signal = SlaSignal(
                action="start",
                kind=KIND,
                subject_id=p.subject_id,
                customer_id=p.customer.id,
                at=T0,
            )
            await deliver(client, signal)

    asyncio.run(starts())

    def none_pending() -> bool:  # each has run its first episode: its opening is under way
        pending, _ = host.engine.list_instances(statuses=["Pending"], page_size=1)
        return not pending

    _wait("every clock's first episode", none_pending, timeout_s, POLL_BOOK_S)


def _act(
    client: EngineClient, book: Book, due: list[Planned], at: datetime, timeout_s: float
) -> None:
    """Met signals through the queue consumer's path, acknowledgements through the route's
    handler; then wait until the book shows each (the engine has taken them in)."""

    async def signals() -> None:
        for p in due:
            if p.plan.startswith("met"):
                met = SlaSignal(action="met", kind=KIND, subject_id=p.subject_id, at=at)
                await deliver(client, met)
            else:
                await _acknowledge(client, p.clock_id)

    asyncio.run(signals())

    def applied() -> bool:
        for p in due:
            clock = book.sla_clocks.get(KIND, p.subject_id).record
            if (clock.completed_at if p.plan.startswith("met") else clock.acknowledged_at) is None:
                return False
        return True

    _wait(f"the signals at {at} applied", applied, timeout_s, POLL_BOOK_S)


async def _acknowledge(client: EngineClient, clock_id: str) -> None:
    """`POST /api/sla/clocks/{clock_id}/acknowledge` as the API kit hands it to its handler."""
    body = Acknowledge(by=ACKNOWLEDGED_BY)
    url = f"http://127.0.0.1:7071/api/sla/clocks/{clock_id}/acknowledge"
    request = func.HttpRequest(
        "POST", url, body=body.model_dump_json().encode(), route_params={"clock_id": clock_id}
    )
    call = Call(req=request, route=ACKNOWLEDGE, body=body, route_values={"clock_id": clock_id})
    reply = await acknowledge_clock(call, client)
    if reply.status != 202:
        raise RuntimeError(f"acknowledging {clock_id}: {reply.status} {reply.body}")


def _wait(what: str, done: Callable[[], bool], timeout_s: float, poll_s: float = POLL_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen in {timeout_s:.0f} s")
        time.sleep(poll_s)


# -- what the run shows ----------------------------------------------------------------------


def _check(host: _Host, book: Book, ops: Any, planned: list[Planned], outcome: Outcome) -> None:
    records = _records(book)
    alerts, outcome.redelivered = _alerts(ops)
    for p in planned:
        problems = _check_clock(host.engine, book, p, records.get(p.subject_id), alerts, outcome)
        outcome.problems.extend(f"{p.clock_id} ({p.plan}): {x}" for x in problems)


def _check_clock(
    engine: DurableEngine,
    book: Book,
    p: Planned,
    clock: SlaClock | None,
    alerts: dict[str, list[dict[str, Any]]],
    outcome: Outcome,
) -> list[str]:
    if clock is None:
        outcome.not_settled += 1
        return ["no clock in the book"]
    problems: list[str] = []
    expected, actual = p.history(), [(h.event, h.at) for h in clock.history]
    off = (clock.at_risk_at, clock.deadline) != (p.at_risk_at, p.deadline)
    off = off or any(e[1] != a[1] for e, a in zip(expected, actual, strict=False))
    wakes, late = _wakes_off_their_instant(engine, p.clock_id)
    outcome.wakes += wakes
    if off or late:
        outcome.off_instant += 1
        problems.append(f"instants {actual} / wakes {late}, expected {expected}")
    unsettled = [e for e, _ in expected] != [e for e, _ in actual]
    status = engine.get_status(p.clock_id, show_input=False)
    running = status is not None and status.runtime_status.value == "Running"
    met = p.plan.startswith("met")
    if met:
        kpi = book.kpi_events.find("sla_outcome", f"{KIND}:{p.subject_id}", p._acts_at)
        unsettled = unsettled or clock.phase != "closed" or kpi is None or kpi.outcome != "met"
        unsettled = unsettled or status is None or status.runtime_status.value != "Completed"
    else:
        unsettled = unsettled or clock.phase != "running" or not running
        reached = [role for role, _ in p.escalations[: p.steps_reached]]
        unsettled = unsettled or (clock.breached_at, clock.escalated_to) != (p.deadline, reached)
    if p.plan.startswith("acked"):
        unsettled = unsettled or clock.acknowledged_by != ACKNOWLEDGED_BY
    mine = alerts.get(p.clock_id, [])
    outcome.alerts += len(mine)
    sent = Counter((a["type"], a["to"]) for a in mine)
    twice = sum(n - 1 for n in sent.values() if n > 1)
    outcome.alerts_twice += twice
    if set(sent) != set(p.alerts()):
        unsettled = True
        problems.append(f"alerts {dict(sent)}, expected {dict(p.alerts())}")
    if p.plan.startswith("acked"):
        after_ack = [
            e for e, at in actual if e == "escalated" and p.acts_at is not None and at > p.acts_at
        ]
        late_alerts = [
            a
            for a in mine
            if a["type"] == "sla_escalate" and datetime.fromisoformat(a["at"]) > p._acts_at
        ]
        outcome.escalations_after_ack += len(after_ack) + len(late_alerts)
        if after_ack or late_alerts:
            problems.append(f"escalated after the acknowledgement: {after_ack} {late_alerts}")
    if unsettled:
        outcome.not_settled += 1
        problems.append(f"phase {clock.phase}, history {[e for e, _ in actual]}")
    if twice:
        problems.append(f"alerts sent twice: {dict(sent)}")
    return problems


def _records(book: Book) -> dict[str, SlaClock]:
    found: dict[str, SlaClock] = {}
    for cust in CUSTOMERS:
        cursor: str | None = None
        while True:
            page = book.sla_clocks.of_customer(cust.id, limit=200, next=cursor)
            found.update((c.subject_id, c) for c in page.items)
            if page.next is None:
                break
            cursor = page.next
    return found


def _alerts(ops: Any) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Every alert on the ops queue by clock, each message id once; and how many messages
    repeated an id (a retried step's duplicate, recognisable by its id)."""
    by_clock: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    repeated = 0
    while True:
        batch = list(ops.receive_messages(messages_per_page=32, visibility_timeout=600))
        if not batch:
            break
        for message in batch:
            alert = json.loads(message.content)
            if alert["id"] in seen:
                repeated += 1
                continue
            seen.add(alert["id"])
            by_clock[alert["clock_id"]].append(alert)
    return by_clock, repeated


def _wakes_off_their_instant(engine: DurableEngine, instance_id: str) -> tuple[int, list[str]]:
    """How many wakes the clock's orchestration scheduled, and each whose virtual time (the
    episode's timestamp) was not the wake's computed instant."""
    off, wakes = [], 0
    for event in engine.history(instance_id):
        if (
            event.get("EventType") != EventType.TaskScheduled
            or event.get("Name") != "wake_sla_clock"
        ):
            continue
        wakes += 1
        data = json.loads(event["Input"])
        while isinstance(data, str):
            data = json.loads(data)
        wake_at = datetime.fromisoformat(data["wake"]["at"])
        ran_at = datetime.fromisoformat(event["Timestamp"].replace("Z", "+00:00"))
        if ran_at != wake_at:
            off.append(f"{data['wake']['reason']} due {wake_at.isoformat()} ran {ran_at}")
    return wakes, off
