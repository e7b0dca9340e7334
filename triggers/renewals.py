"""Renewals' triggers (workflows/renewals.py, docs/renewals.md):

- the daily sweep `renewal_sweep` (timer, `CSPFLOW_RENEWAL_SWEEP_SCHEDULE`, default 05:00 UTC;
  `off` registers none) and `POST /api/ops/renewal-sweeps` (the same sweep on demand): the
  book's due-soon index (never Partner Center, never the whole book) read over the window
  reminders need, one `renewal` instance started per subscription and term end, none for a
  term that already has one (running or finished). The timer runs with the monitor, so a
  sweep missed while the app was down runs once it is back (past due);
- the partner API: `GET /api/renewals?due_within_days=60&state=undecided`,
  `GET /api/renewals/{renewal_id}`, `POST /api/renewals/{renewal_id}/decision`;
- a customer's own reminder offsets: `PUT /api/customers/{customer_id}/renewal-reminders`;
- the mailed link: `GET /api/r/{token}` (what renews and the choices) and `POST /api/r/{token}`
  (the choice, as a form or JSON). Anonymous: the signed token is the credential
  (shared/signed_links.py). A tampered, expired or used link, or one whose renewal is not its
  customer's, gets a page saying so, with nothing of any renewal on it.

A decision is recorded in the book (shared/renewals.record_decision: refused once the renewal
lock has begun, with the next possible action), then the instance is told by the `decision`
event; it applies the decision in Partner Center.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field, ValidationError, field_validator

from shared.book import Book, every
from shared.book.subscriptions import RENEWABLE
from shared.clock import app_clock
from shared.config import get_settings
from shared.models import Customer, SubscriptionRecord
from shared.models._base import DomainModel
from shared.models.renewal import (
    DecisionEvent,
    DecisionRequest,
    DecisionTaken,
    Renewal,
    RenewalChoice,
    RenewalDecidedBy,
    RenewalStart,
    RenewalView,
)
from shared.renewals import record_decision, rules_of, view_of
from shared.signed_links import LinkRefused, verify
from triggers.api import API, BadRequest, Call, NotFound, Page, Paging, RawBody, Refused, Reply
from triggers.reads import book, storage
from workflows.renewals import DECISION_EVENT, instance_id

log = logging.getLogger("cspflow.triggers.renewals")
bp = df.Blueprint()

Status = df.OrchestrationRuntimeStatus
SCHEDULE_SETTING = "CSPFLOW_RENEWAL_SWEEP_SCHEDULE"
DEFAULT_SCHEDULE = "0 0 5 * * *"
_SCHEDULE = re.compile(r"^(off|\S+( \S+){5})$")
RENEWAL_ID = re.compile(r"^([A-Za-z0-9_.-]{1,64})~(\d{8})$")
TOKEN = re.compile(r"^[A-Za-z0-9_.=-]{20,2000}$")
# The deadline sits 48 h before the term end (lock 24 h, margin 24 h): a sweep looks that
# much further than the earliest reminder, and a day more so a late sweep misses none.
SWEEP_SLACK_DAYS = 3
SWEEP_PAGE = 200
PAGING = Paging(default_limit=50, max_limit=200)


class SweepReport(DomainModel):
    swept_at: datetime
    window_days: int
    due: int
    started: int
    already: int


class RenewalQuery(DomainModel):
    due_within_days: int = Field(default=60, ge=1, le=400)
    state: Literal["undecided", "decided", "closed"] | None = None


class LinkPage(DomainModel):
    """What a decision link shows: the renewal and the choices, or why the link is refused
    (then nothing of any renewal)."""

    ok: bool
    refusal: (
        Literal["malformed", "tampered", "expired", "wrong_action", "used", "not_yours"] | None
    ) = None
    message: str
    renewal: RenewalView | None = None
    choices: tuple[str, ...] = ()
    result: DecisionTaken | None = None


# -- the sweep ------------------------------------------------------------------------------


def window_days() -> int:
    settings = get_settings()
    days = max((*settings.renewal_reminder_days, *settings.renewal_monthly_reminder_days, 0))
    return days + SWEEP_SLACK_DAYS


def due_subscriptions(the_book: Book, now: datetime, days: int) -> list[SubscriptionRecord]:
    """Every subscription whose term ends within `days` of `now`, through the index; and
    those of customers whose own reminder offsets reach further ahead than the partner's,
    within their own window (a customer's 90-day reminder when the partner's earliest is 60
    must not wait for the partner's window to reach the term)."""
    found = _due_in_window(the_book, now, days)
    seen = {record.id for record in found}
    for customer_id, own in _customers_reaching_further(the_book, days):
        end = now + timedelta(days=own)
        for record in _subscriptions_of(the_book, customer_id):
            if (
                record.id not in seen
                and record.subscription.status in RENEWABLE
                and now <= record.term_end < end
            ):
                found.append(record)
                seen.add(record.id)
    return found


def _customers_reaching_further(the_book: Book, days: int) -> list[tuple[str, int]]:
    """(customer, its window in days) for every customer whose own offsets need a window
    longer than `days`: one paged read of the customers, a few requests a day."""
    further: list[tuple[str, int]] = []
    for customer in every(lambda cursor: the_book.customers.page(limit=SWEEP_PAGE, next=cursor)):
        own = customer.renewal_reminder_days
        if own and max(own) + SWEEP_SLACK_DAYS > days:
            further.append((customer.id, max(own) + SWEEP_SLACK_DAYS))
    return further


def _subscriptions_of(the_book: Book, customer_id: str) -> list[SubscriptionRecord]:
    return list(
        every(
            lambda cursor: the_book.subscriptions.of_customer(
                customer_id, limit=SWEEP_PAGE, next=cursor
            )
        )
    )


def _due_in_window(the_book: Book, now: datetime, days: int) -> list[SubscriptionRecord]:
    end = now + timedelta(days=days)
    return list(
        every(lambda cursor: the_book.subscriptions.due(now, end, limit=SWEEP_PAGE, next=cursor))
    )


async def sweep(
    client: df.DurableOrchestrationClient, the_book: Book, now: datetime
) -> SweepReport:
    """Start one renewal per subscription and term end due in the window, unless its
    instance exists (running or finished): a second sweep starts nothing."""
    days = window_days()
    due = await asyncio.to_thread(due_subscriptions, the_book, now, days)
    started = already = 0
    for record in due:
        iid = instance_id(record.id, record.term_end)
        status = await client.get_status(iid)
        if status is not None and status.runtime_status is not None:
            already += 1
            continue
        start = RenewalStart(
            customer_id=record.customer_id, subscription_id=record.id, term_end=record.term_end
        )
        try:
            await client.start_new("renewal", iid, start.model_dump(mode="json"))
        except Exception:
            status = await client.get_status(iid)
            if status is None or status.runtime_status is None:
                raise
            already += 1  # a concurrent sweep started it: the collapse working
            continue
        started += 1
    return SweepReport(
        swept_at=now, window_days=days, due=len(due), started=started, already=already
    )


@API.route(
    bp,
    "POST",
    "ops/renewal-sweeps",
    summary="Run the renewal sweep now (as the daily timer does)",
    responses={200: SweepReport},
    problems=(503,),
    durable_client=True,
)
async def start_renewal_sweep(call: Call[None], client: df.DurableOrchestrationClient) -> Reply:
    """Starts a renewal for every subscription due in the sweep's window that has none;
    says how many were due, started and already there."""
    now = await asyncio.to_thread(app_clock(get_settings()).now)
    with storage():
        report = await sweep(client, book(), now)
    return Reply(200, report)


def sweep_schedule(environ: dict[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(SCHEDULE_SETTING, "").strip()
    return value if _SCHEDULE.fullmatch(value) else DEFAULT_SCHEDULE


SCHEDULE = sweep_schedule()
if SCHEDULE != "off":

    @bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", use_monitor=True)
    @bp.durable_client_input(client_name="client")
    async def renewal_sweep(
        timer: func.TimerRequest, client: df.DurableOrchestrationClient
    ) -> None:
        """The daily renewal sweep (CSPFLOW_RENEWAL_SWEEP_SCHEDULE); past due runs once."""
        now = await asyncio.to_thread(app_clock(get_settings()).now)
        report = await sweep(client, book(), now)
        log.info("renewal sweep: %s", report.model_dump_json())


# -- finding a renewal ----------------------------------------------------------------------


def _find(the_book: Book, rid: str) -> tuple[Renewal, SubscriptionRecord] | None:
    """The renewal `<subscription id>~<YYYYMMDD>` and its subscription; a renewal not opened
    yet (its instance not started) is opened from the subscription due that day."""
    match = RENEWAL_ID.fullmatch(rid)
    if match is None:
        return None
    subscription_id, day_text = match.groups()
    try:
        day = date(int(day_text[:4]), int(day_text[4:6]), int(day_text[6:]))
    except ValueError:
        return None
    for renewal in the_book.renewals.of_subscription(subscription_id, limit=100).items:
        if renewal.term_end.date() == day:
            stored = the_book.subscriptions.find(renewal.customer_id, subscription_id)
            return (renewal, stored.record) if stored is not None else None
    indexed = the_book.subscriptions.ending_on(day, subscription_id)
    if indexed is None:
        return None
    record = indexed.record
    opened = the_book.renewals.open(
        Renewal(customer_id=record.customer_id, subscription_id=record.id, term_end=record.term_end)
    )
    return opened.record, record


def _view(the_book: Book, renewal: Renewal, record: SubscriptionRecord) -> RenewalView:
    return view_of(the_book, renewal, record, rules_of(get_settings()))


async def _decide(
    client: df.DurableOrchestrationClient,
    the_book: Book,
    renewal: Renewal,
    record: SubscriptionRecord,
    request: DecisionRequest,
    by: RenewalDecidedBy,
    link_id: str | None = None,
) -> DecisionTaken:
    now = await asyncio.to_thread(app_clock(get_settings()).now)
    answer, renewal = await asyncio.to_thread(
        record_decision,
        the_book,
        renewal,
        record,
        request,
        by=by,
        now=now,
        rules=rules_of(get_settings()),
        link_id=link_id,
    )
    if answer.accepted and renewal.decision is not None and renewal.outcome is None:
        iid = instance_id(renewal.subscription_id, renewal.term_end)
        status = await client.get_status(iid)
        if status is not None and status.runtime_status in (Status.Running, Status.Pending):
            event = DecisionEvent(decisions=max(renewal.decisions, 1))
            await client.raise_event(iid, DECISION_EVENT, event.model_dump(mode="json"))
        # else: the instance, once the sweep starts it, finds the decision in the book.
    view = await asyncio.to_thread(_view, the_book, renewal, record)
    return DecisionTaken(
        renewal=view,
        accepted=answer.accepted,
        reason=answer.reason,
        rule=answer.rule,
        next_action=answer.next_action,
        next_action_until=answer.next_action_until,
    )


# -- the partner API ------------------------------------------------------------------------


@API.route(
    bp,
    "GET",
    "renewals",
    summary="Renewals due within N days, by state",
    query=RenewalQuery,
    paged=PAGING,
    responses={200: Page[RenewalView]},
    problems=(503,),
)
def list_renewals(call: Call[None]) -> Page[Any]:
    """Subscriptions whose term ends within `due_within_days`, in term-end order, as
    renewals (undecided until a decision is recorded), filtered by `state`."""
    wanted: RenewalQuery = call.query
    settings = get_settings()
    with storage():
        the_book = book()
        now = app_clock(settings).now()
        page = the_book.subscriptions.due(
            now,
            now + timedelta(days=wanted.due_within_days),
            limit=call.page.limit,
            next=call.page.after,
        )
        views = []
        for record in page.items:
            stored = the_book.renewals.find(record.id, record.term_end)
            renewal = (
                stored.record
                if stored is not None
                else Renewal(
                    customer_id=record.customer_id,
                    subscription_id=record.id,
                    term_end=record.term_end,
                )
            )
            view = view_of(the_book, renewal, record, rules_of(settings))
            if wanted.state is None or view.state == wanted.state:
                views.append(view)
    return call.page.page(views, after=page.next)


@API.route(
    bp,
    "GET",
    "renewals/{renewal_id}",
    summary="One renewal: what renews, when, at what price, the decision and the outcome",
    responses={200: RenewalView},
    problems=(503,),
)
def get_renewal(call: Call[None]) -> RenewalView:
    """`renewal_id` is `<subscription id>~<YYYYMMDD of the term end>`."""
    rid = call.route_values.get("renewal_id", "")
    with storage():
        the_book = book()
        found = _find(the_book, rid)
        if found is None:
            raise NotFound(f"no renewal {rid!r}", field="renewal_id")
        return _view(the_book, *found)


@API.route(
    bp,
    "POST",
    "renewals/{renewal_id}/decision",
    summary="Decide a renewal for the customer: renew, change the next term, or cancel",
    request=DecisionRequest,
    responses={200: DecisionTaken},
    problems=(503,),
    durable_client=True,
)
async def decide_renewal(
    call: Call[DecisionRequest], client: df.DurableOrchestrationClient
) -> Reply:
    """Records the decision and has the renewal apply it in Partner Center before the lock.
    Once the lock has begun it is refused (422 `too_late`) with the next possible action."""
    rid = call.route_values.get("renewal_id", "")
    with storage():
        the_book = book()
        found = await asyncio.to_thread(_find, the_book, rid)
        if found is None:
            raise NotFound(f"no renewal {rid!r}", field="renewal_id")
        taken = await _decide(client, the_book, *found, call.body, "partner")
    if not taken.accepted:
        until = (
            f" (until {taken.next_action_until:%Y-%m-%dT%H:%MZ})" if taken.next_action_until else ""
        )
        raise Refused(
            "too_late",
            f"{taken.reason}; next possible action: {taken.next_action or 'none'}{until}",
            field="choice",
        )
    return Reply(200, taken)


# -- a customer's own reminder offsets ----------------------------------------------------------


class ReminderDays(DomainModel):
    """A customer's own renewal reminder offsets: days before the decision deadline, for its
    annual and three-year terms, over the partner's (docs/rules.md#reminder-cadence); null:
    the partner's again."""

    days: (
        Annotated[
            tuple[Annotated[int, Field(ge=1, le=365)], ...],
            Field(min_length=1, max_length=6, json_schema_extra={"uniqueItems": True}),
        ]
        | None
    )

    @field_validator("days")
    @classmethod
    def _each_day_once(cls, days: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if days is not None and len(set(days)) != len(days):
            raise ValueError("each day at most once")
        return None if days is None else tuple(sorted(days, reverse=True))


class CustomerReminderDays(DomainModel):
    customer_id: str
    days: tuple[int, ...] | None  # the customer's own; null: the partner's
    in_force: tuple[int, ...]  # what its annual and three-year terms are reminded at


@API.route(
    bp,
    "PUT",
    "customers/{customer_id}/renewal-reminders",
    summary="Set a customer's own renewal reminder offsets (days before the decision deadline)",
    request=ReminderDays,
    responses={200: CustomerReminderDays},
    problems=(503,),
    tags=("renewals",),
)
def set_renewal_reminders(call: Call[ReminderDays]) -> CustomerReminderDays:
    """The offsets replace the partner's (`CSPFLOW_RENEWAL_REMINDER_DAYS`) for this
    customer's annual and three-year terms from the next plan of a renewal on; `null`
    restores the partner's. 422 naming `days` for an offset outside 1-365, a repeated one, or
    more than six."""
    cid = call.route_values.get("customer_id", "")
    days = call.body.days
    with storage():
        the_book = book()
        if the_book.customers.find(cid) is None:
            raise NotFound(f"no customer {cid!r}", field="customer_id")
        the_book.customers.update(
            cid,
            lambda c: Customer.model_validate(c.model_dump() | {"renewal_reminder_days": days}),
        )
    partner = tuple(sorted(get_settings().renewal_reminder_days, reverse=True))
    return CustomerReminderDays(customer_id=cid, days=days, in_force=days or partner)


# -- the mailed link ------------------------------------------------------------------------

MESSAGES = {
    "malformed": "This link is not a renewal link. Use the link in your most recent reminder.",
    "tampered": "This link is not valid. Use the link in your most recent reminder.",
    "expired": "This link has expired: the renewal is locked. Contact us for what is still possible.",
    "wrong_action": "This link is not a renewal link.",
    "used": "A decision was already made with this link. Your most recent email says what happens.",
    "not_yours": "This link is not valid. Use the link in your most recent reminder.",
}


def _check(
    the_book: Book, token: str
) -> tuple[str, tuple[Renewal, SubscriptionRecord] | None, str | None]:
    """('ok' | refusal, the renewal, the link's id)."""
    if TOKEN.fullmatch(token) is None:
        return "malformed", None, None
    settings = get_settings()
    try:
        claims = verify(settings, token, "renewal-decision", app_clock(settings).now())
    except LinkRefused as refused:
        return refused.reason, None, None
    found = _find(the_book, claims.subject_id)
    if found is None or found[0].customer_id != claims.customer_id:
        return "not_yours", None, None
    if claims.link_id in found[0].used_links:
        return "used", None, None
    return "ok", found, claims.link_id


def _page(call: Call[Any], page: LinkPage) -> Reply:
    accept = call.req.headers.get("accept", "") or ""
    return Reply(200, page, html=_html(page) if "text/html" in accept else None)


@API.route(
    bp,
    "GET",
    "r/{token}",
    summary="A mailed decision link: what renews, and the choices",
    responses={200: LinkPage},
    problems=(503,),
    auth=func.AuthLevel.ANONYMOUS,
    tags=("renewals",),
)
def open_decision_link(call: Call[None]) -> Reply:
    """HTML for a browser (`Accept: text/html`), JSON otherwise. A refused link says why and
    shows nothing of any renewal."""
    token = call.route_values.get("token", "")
    with storage():
        the_book = book()
        state, found, _ = _check(the_book, token)
        if found is None:
            return _page(call, LinkPage(ok=False, refusal=state, message=MESSAGES[state]))  # type: ignore[arg-type]
        view = _view(the_book, *found)
    choices = ("renew", "change", "cancel") if view.state != "closed" else ()
    return _page(
        call,
        LinkPage(ok=True, message="Choose what happens at renewal.", renewal=view, choices=choices),
    )


class DecisionForm(DomainModel):
    """The link page's form, as it is posted: text fields, an empty one meaning not given (a
    form has no null). Read into a DecisionRequest, whose rules then apply."""

    choice: RenewalChoice
    quantity: str = Field(default="", pattern=r"^[0-9]{0,6}$")
    offer_id: str = Field(default="", max_length=100)
    term_duration: Literal["", "P1M", "P1Y", "P3Y"] = ""
    billing_cycle: Literal["", "monthly", "annual", "triennial"] = ""


DECISION_FORM = RawBody(schema=DecisionForm, media_type="application/x-www-form-urlencoded")


@API.route(
    bp,
    "POST",
    "r/{token}",
    summary="A mailed decision link: the customer's choice",
    raw_body=DECISION_FORM,
    responses={200: LinkPage},
    problems=(400, 422, 503),
    auth=func.AuthLevel.ANONYMOUS,
    durable_client=True,
    tags=("renewals",),
)
async def decide_by_link(call: Call[None], client: df.DurableOrchestrationClient) -> Reply:
    """The choice as a form (the page's) or JSON; taken once per link, refused after the
    lock with the next possible action."""
    token = call.route_values.get("token", "")
    request = _read_choice(call)
    with storage():
        the_book = book()
        state, found, link_id = await asyncio.to_thread(_check, the_book, token)
        if found is None:
            return _page(call, LinkPage(ok=False, refusal=state, message=MESSAGES[state]))  # type: ignore[arg-type]
        taken = await _decide(client, the_book, *found, request, "customer", link_id)
    message = (
        "Thank you: your decision is recorded."
        if taken.accepted
        else f"Too late: {taken.reason}. {taken.next_action or ''}".strip()
    )
    return _page(
        call, LinkPage(ok=taken.accepted, message=message, renewal=taken.renewal, result=taken)
    )


def _read_choice(call: Call[None]) -> DecisionRequest:
    content_type = (call.req.headers.get("content-type", "") or "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            data: Any = json.loads(call.raw or b"{}")
        else:
            form = DecisionForm.model_validate(dict(parse_qsl(call.raw.decode("utf-8"))))
            data = {k: v for k, v in form.model_dump().items() if v != ""}
            if "quantity" in data:
                data["quantity"] = int(data["quantity"])
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError) and exc.errors():
            loc = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "choice"
            raise BadRequest("invalid_choice", exc.errors()[0]["msg"], field=loc) from exc
        raise BadRequest("invalid_choice", "the choice cannot be read", field="choice") from exc
    try:
        return DecisionRequest.model_validate(data)
    except ValidationError as exc:
        # Readable, but the fields do not fit the choice (a renewal as it is names no change;
        # a change names one): a rule about the combination, as the partner API answers it.
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error["loc"]) or "choice"
        raise Refused("choice_fields", error["msg"], field=loc) from exc


def _html(page: LinkPage) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Renewal</title></head><body>",
        f"<p>{e(page.message)}</p>",
    ]
    view = page.renewal
    if view is not None:
        price = (
            f"{view.next_term_price.amount_minor / 100:.2f} {view.next_term_price.currency}"
            if view.next_term_price
            else "-"
        )
        parts.append(
            f"<h1>{e(view.product)}</h1><ul>"
            f"<li>Licences: {view.quantity}</li>"
            f"<li>Term ends: {view.term_end:%Y-%m-%d}</li>"
            f"<li>Next term: {e(price)}</li>"
            f"<li>Decide by: {view.decision_deadline:%Y-%m-%d %H:%M} UTC</li>"
            f"<li>Without an answer: {e(view.no_answer)}</li>"
            f"<li>Decision: {e(view.decision or 'none yet')}</li></ul>"
        )
    if page.result is not None and page.result.next_action:
        parts.append(f"<p>{e(page.result.next_action)}</p>")
    if page.choices:
        parts.append(
            "<form method='post'>"
            "<button name='choice' value='renew'>Renew as it is</button> "
            "<button name='choice' value='cancel'>Cancel at term end</button></form>"
            "<form method='post'><input type='hidden' name='choice' value='change'>"
            "<label>Licences for the next term <input name='quantity' type='number' min='1'>"
            "</label> <button>Change</button></form>"
        )
    parts.append("</body></html>")
    return "".join(parts)
