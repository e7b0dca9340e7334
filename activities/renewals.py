"""The renewal workflow's activities (workflows/renewals.py, docs/renewals.md): one side
effect each.

- `open_renewal`: the renewal of this term opened in the book (once), and what the workflow
  waits for: the reminders still due, the decision deadline, the lock, the term end.
- `send_renewal_reminder`: one reminder (what renews, when, at what price, the deadline,
  what happens with no answer, the signed decision link), unless a decision is recorded or
  the term moved; mailed once per step key.
- `plan_renewal_decision`: on Partner Center's fresh copy, what makes the decision in force
  (the customer's, the partner's, or the policy's default when nobody answered, recorded
  then) hold before the lock: auto-renew on or off, the next term's scheduled instructions
  (again when a mid-term change wiped them). The writes themselves are the licence-change
  activities' (activities/subscriptions.py: `set_auto_renew`, `schedule_next_term`, after
  `read_subscription`), called by the workflow.
- `record_renewal_applied`: the copy after the writes in the book, the renewal marked applied.
- `tell_renewal_decision`: the customer told the decision in force (a default taken for them,
  or the confirmation of theirs).
- `tell_renewal_not_applied`: the customer told that the decision in force (or the changes
  scheduled for the next term) did not reach Partner Center before the lock: why, what
  happens at term end, and the next possible action with until when and its cost.
- `confirm_renewal`: after the term end, Partner Center's copy read; once the renewal has
  settled, the outcome recorded once with its `renewal_outcome` KPI event, and an ops alert
  when it went against the recorded decision.

`confirm_renewal` reads Partner Center itself (a read, applied to the book with the outcome).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal

import azure.durable_functions as df
from pydantic import Field

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from activities.notifications import notifier
from shared.book import Book
from shared.book.partner_center import apply_partner_center_subscription
from shared.clock import app_clock
from shared.config import Settings
from shared.errors import PermanentError
from shared.models import Customer, KpiEvent, Money, SubscriptionRecord
from shared.models.intake import OpsAlert
from shared.models.renewal import (
    DecisionApplied,
    DecisionPlan,
    NextTermChange,
    ReminderAt,
    ReminderResult,
    Renewal,
    RenewalConfirmed,
    RenewalPlan,
    RenewalStart,
)
from shared.models.subscription import (
    ScheduledNextTermInstructions,
    ScheduledProduct,
    Subscription,
)
from shared.notifications import Addressee
from shared.notifications.kinds import (
    RenewalDecisionConfirmed,
    RenewalDecisionNotApplied,
    RenewalNotAppliedReason,
    RenewalReminder,
)
from shared.partner_center import PartnerCenterClient
from shared.policy.renewal import (
    NextTerm,
    RenewalRules,
    RenewalWrites,
    decision_deadline,
    due_reminder,
    next_term,
    outcome_without_answer,
    reminder_schedule,
    renewal_lock_at,
    renewal_writes,
    take_answer,
)
from shared.policy.renewal import (
    confirm_renewal as confirm_policy,
)
from shared.renewals import (
    context_of,
    id_of,
    next_term_price,
    planned_next_term,
    rules_of,
)
from shared.signed_links import LinkClaims, sign

bp = df.Blueprint()

DECISION_PAGE = "api/r/"


class OpenRenewal(WriteInput):
    start: RenewalStart


class SendReminder(WriteInput):
    start: RenewalStart
    reminder: ReminderAt


class PlanDecision(WriteInput):
    start: RenewalStart
    read: Subscription  # Partner Center's copy, read just before
    # At the deadline: take the policy's default when nobody decided.
    by_default: bool = False


class RecordApplied(WriteInput):
    start: RenewalStart
    read: Subscription  # Partner Center's copy after the writes
    summary: str = Field(max_length=500)


class TellDecision(WriteInput):
    start: RenewalStart


class TellNotApplied(WriteInput):
    start: RenewalStart
    reason: RenewalNotAppliedReason


class ConfirmRenewal(WriteInput):
    start: RenewalStart
    # The last look: record what Partner Center shows even when it has not settled.
    last_look: bool = False


class NoSuchSubscription(PermanentError):
    code = "no_such_subscription"


class Unpriced(PermanentError):
    code = "unpriced"


# One book and one Partner Center client per Settings (activities/boundary.py, per_settings).


def _book(settings: Settings) -> Book:
    book: Book = per_settings("book", settings, lambda s: Book(s, clock=app_clock(s)))
    return book


def _partner_center(settings: Settings) -> PartnerCenterClient:
    client: PartnerCenterClient = per_settings(
        "partner_center", settings, PartnerCenterClient.from_settings
    )
    return client


def _now(settings: Settings) -> datetime:
    return app_clock(settings).now()


def _record(book: Book, start: RenewalStart) -> SubscriptionRecord | None:
    stored = book.subscriptions.find(start.customer_id, start.subscription_id)
    return None if stored is None else stored.record


def _contacts(customer: Customer) -> tuple[Addressee, ...]:
    return tuple(Addressee(name=c.name, email=c.email, role=c.role) for c in customer.contacts)


def _tenant(customer: Customer) -> str:
    if customer.tenant_id is None:
        raise NoSuchSubscription(f"customer {customer.id} has no Partner Center tenant")
    return str(customer.tenant_id)


def _read(settings: Settings, book: Book, customer: Customer, subscription_id: str) -> Subscription:
    """Partner Center's copy, applied to the book (Partner Center wins)."""
    read = _partner_center(settings).get_subscription(_tenant(customer), subscription_id)
    apply_partner_center_subscription(book, customer.id, read)
    return read


@activity(bp)
def open_renewal(request: OpenRenewal, ctx: ActivityContext) -> RenewalPlan:
    """Open the renewal of this term in the book (the one opened before, if any) and plan
    the reminders still due from now: a late start (the sweep caught up after downtime)
    sends only the most recent reminder that is due, then the later ones."""
    book, start, now = _book(ctx.settings), request.start, _now(ctx.settings)
    renewal = book.renewals.open(
        Renewal(
            customer_id=start.customer_id,
            subscription_id=start.subscription_id,
            term_end=start.term_end,
        )
    ).record
    record = _record(book, start)
    rules = rules_of(ctx.settings)
    closed = renewal.outcome is not None or record is None or record.term_end != start.term_end
    if closed or record is None:
        return RenewalPlan(
            reminders=(),
            deadline=start.term_end,
            lock_at=start.term_end,
            term_end=start.term_end,
            decided=renewal.decision is not None,
            decisions=renewal.decisions,
            closed=True,
        )
    sub = record.subscription
    context = context_of(book, start.customer_id, renewal)
    last = max(renewal.reminders_sent, default=None)
    due = due_reminder(sub, context, now, last, rules)
    planned = [r for r in reminder_schedule(sub, context, rules) if r.at > now]
    reminders = ([due] if due is not None else []) + planned
    return RenewalPlan(
        reminders=tuple(ReminderAt(at=r.at, days_before=r.before_deadline.days) for r in reminders),
        deadline=decision_deadline(sub, rules),
        lock_at=renewal_lock_at(sub, rules),
        term_end=start.term_end,
        decided=renewal.decision is not None,
        decisions=renewal.decisions,
        tenant_id=_tenant(book.customers.get(start.customer_id).record),
    )


@activity(bp)
def send_renewal_reminder(request: SendReminder, ctx: ActivityContext) -> ReminderResult:
    """Mail one reminder, unless the customer has decided, the term moved or the
    subscription no longer renews or ends this term (then nothing is sent, and why)."""
    settings, book, start = ctx.settings, _book(ctx.settings), request.start
    now = _now(settings)
    renewal = book.renewals.get(start.subscription_id, start.term_end).record
    if renewal.decision is not None:
        return ReminderResult(sent=False, reason=f"decided: {renewal.decision}")
    if request.reminder.at in renewal.reminders_sent:
        return ReminderResult(sent=True, reason="sent before")
    record = _record(book, start)
    if record is None or record.term_end != start.term_end:
        return ReminderResult(sent=False, reason="the subscription's term moved")
    sub = record.subscription
    if sub.status != "active":
        return ReminderResult(sent=False, reason=f"the subscription is {sub.status}")
    rules = rules_of(settings)
    customer = book.customers.get(start.customer_id).record
    context = context_of(book, start.customer_id, renewal)
    term = planned_next_term(sub, renewal)
    price = next_term_price(book, customer, record, term)
    if price is None:
        raise Unpriced(
            f"subscription {sub.id}: no price for the next term ({term.offer_key}) in the "
            "customer's price list, and no price recorded for this term"
        )
    lock = renewal_lock_at(sub, rules)
    token = sign(
        settings,
        LinkClaims(
            action="renewal-decision",
            subject_id=id_of(renewal),
            customer_id=start.customer_id,
            link_id=request.step_key,
            expires_at=lock,
        ),
        now,
    )
    url = f"{str(settings.public_base_url).rstrip('/')}/{DECISION_PAGE}{token}"
    default = outcome_without_answer(sub, context)
    notice = RenewalReminder(
        customer_name=customer.company_name,
        subscription_id=sub.id,
        product=(sub.friendly_name or sub.offer_name or sub.offer_id)[:200],
        quantity=term.quantity,
        term=sub.term_duration,
        term_end=start.term_end,
        auto_renew=default.action in ("renew", "renew_with_changes"),
        renewal_price=price,
        decision_deadline=decision_deadline(sub, rules),
        decision_url=url,  # type: ignore[arg-type]
        turns_auto_renew_off=default.action == "turn_off_auto_renew",
    )
    notifier(settings).send(
        request.step_key, notice, customer_id=customer.id, contacts=_contacts(customer)
    )
    at = request.reminder.at

    def sent(current: Renewal) -> Renewal:
        if at in current.reminders_sent:
            return current
        return Renewal.model_validate(
            current.model_dump() | {"reminders_sent": (*current.reminders_sent, at)}
        )

    book.renewals.update(start.subscription_id, start.term_end, sent)
    return ReminderResult(sent=True, reason=f"{request.reminder.days_before} days before")


def _instructions(term: NextTerm) -> ScheduledNextTermInstructions:
    product_id, sku_id, availability_id = term.catalog_item_id.split(":")
    return ScheduledNextTermInstructions(
        product=ScheduledProduct(
            product_id=product_id,
            sku_id=sku_id,
            availability_id=availability_id,
            billing_cycle=term.billing_cycle,
            term_duration=term.term_duration,
        ),
        quantity=term.quantity,
    )


@activity(bp)
def plan_renewal_decision(request: PlanDecision, ctx: ActivityContext) -> DecisionPlan:
    """What applying the decision in force writes in Partner Center, decided on its fresh
    copy (`read`, from activities.subscriptions.read_subscription) by
    shared/policy/renewal.renewal_writes. At the deadline with no decision recorded, the
    policy's default is recorded first (decided by `default`). The read is applied to the
    book (Partner Center wins)."""
    settings, book, start, read = ctx.settings, _book(ctx.settings), request.start, request.read
    now = _now(settings)
    apply_partner_center_subscription(book, start.customer_id, read)
    renewal = book.renewals.get(start.subscription_id, start.term_end).record
    if renewal.decision is None and request.by_default:
        default = outcome_without_answer(read, context_of(book, start.customer_id))

        def by_default(current: Renewal) -> Renewal:
            if current.decision is not None:
                return current
            return Renewal.model_validate(
                current.model_dump()
                | {"decision": default.action, "decided_at": now, "decided_by": "default"}
            )

        renewal = book.renewals.update(start.subscription_id, start.term_end, by_default).record
    if renewal.decision is None or renewal.decided_by is None:
        return DecisionPlan(possible=False, reason="no decision is recorded", rule="no-answer")
    if read.term_end != start.term_end:
        return DecisionPlan(
            decision=renewal.decision,
            decided_by=renewal.decided_by,
            decided_at=renewal.decided_at,
            possible=False,
            reason="the term already moved",
            rule="renewal-processing",
        )
    wanted = planned_next_term(read, renewal)
    writes = renewal_writes(read, renewal.decision, wanted, now, rules_of(settings))
    if not writes.possible and renewal.applied_at is None:
        writes = _refused(book, start, read, renewal, writes, now, rules_of(settings))
    return DecisionPlan(
        decision=renewal.decision,
        decided_by=renewal.decided_by,
        decided_at=renewal.decided_at,
        possible=writes.possible,
        reason=writes.reason,
        rule=writes.rule,
        auto_renew=writes.auto_renew,
        schedule=None if writes.schedule is None else _instructions(writes.schedule),
    )


def _refused(
    book: Book,
    start: RenewalStart,
    read: Subscription,
    renewal: Renewal,
    writes: RenewalWrites,
    now: datetime,
    rules: RenewalRules,
) -> RenewalWrites:
    """A decision in force that was never applied (held off by renewal processing until the
    lock began): refused with the reason and the next possible action
    (shared/policy/renewal.take_answer), recorded on the renewal, and ops alerted."""
    assert renewal.decision is not None
    choice = "turn_off_auto_renew" if renewal.decision == "expire" else renewal.decision
    answer = take_answer(read, choice, now, rules)
    reason = writes.reason
    if answer.next_action is not None:
        until = (
            ""
            if answer.next_action_until is None
            else f" (until {answer.next_action_until:%Y-%m-%d %H:%M} UTC)"
        )
        reason = f"{reason}; next: {answer.next_action}{until}"
    reason = reason[:500]

    def refused(r: Renewal) -> Renewal:
        return r if r.applied_at is not None else r.model_copy(update={"refused": reason})

    book.renewals.update(start.subscription_id, start.term_end, refused)
    book.alerts.raise_alert(
        OpsAlert(
            id=f"renewal-refused:{id_of(renewal)}",
            at=now,
            kind="renewal",
            summary=(
                f"the {renewal.decision} decision on subscription {read.id} (customer "
                f"{start.customer_id}, term end {start.term_end:%Y-%m-%d}) could not be applied "
                f"before the lock: {reason}"
            )[:500],
            subject_id=id_of(renewal),
        )
    )
    return replace(writes, reason=reason)


@activity(bp)
def record_renewal_applied(request: RecordApplied, ctx: ActivityContext) -> DecisionApplied:
    """The decision held in Partner Center: `read` (its copy after the writes) applied to the
    book, and the renewal marked applied with the next term Partner Center now holds (what
    the confirmation compares the renewed term with)."""
    settings, book, start, read = ctx.settings, _book(ctx.settings), request.start, request.read
    now = _now(settings)
    apply_partner_center_subscription(book, start.customer_id, read)
    current = book.renewals.get(start.subscription_id, start.term_end).record
    expected = planned_next_term(read, current)

    def applied(r: Renewal) -> Renewal:
        return Renewal.model_validate(
            r.model_dump()
            | {
                "applied_at": r.applied_at or now,
                "applied": request.summary,
                "expected": NextTermChange(
                    quantity=expected.quantity,
                    offer_id=expected.catalog_item_id,
                    term_duration=expected.term_duration,
                    billing_cycle=expected.billing_cycle,
                ),
            }
        )

    renewal = book.renewals.update(start.subscription_id, start.term_end, applied).record
    assert renewal.decision is not None and renewal.decided_by is not None
    return DecisionApplied(
        decision=renewal.decision,
        decided_by=renewal.decided_by,
        decided_at=renewal.decided_at,
        applied=True,
        summary=request.summary,
        rule="decision-deadline",
    )


@activity(bp)
def tell_renewal_decision(request: TellDecision, ctx: ActivityContext) -> ReminderResult:
    """Tell the customer the decision in force (a default taken for them, or theirs)."""
    settings, book, start = ctx.settings, _book(ctx.settings), request.start
    renewal = book.renewals.get(start.subscription_id, start.term_end).record
    record = _record(book, start)
    if renewal.decision is None or record is None:
        return ReminderResult(sent=False, reason="nothing decided")
    customer = book.customers.get(start.customer_id).record
    sub = record.subscription
    rules = rules_of(settings)
    term = planned_next_term(sub, renewal)
    cancel = renewal.decision in ("turn_off_auto_renew", "expire")
    notice = RenewalDecisionConfirmed(
        customer_name=customer.company_name,
        subscription_id=sub.id,
        product=_product(sub),
        decision=_decision_word(renewal.decision),
        quantity=0 if cancel else term.quantity,
        term_end=start.term_end,
        renewal_price=None if cancel else next_term_price(book, customer, record, term),
        changeable_until=min(decision_deadline(sub, rules), start.term_end),
    )
    notifier(settings).send(
        request.step_key, notice, customer_id=customer.id, contacts=_contacts(customer)
    )
    return ReminderResult(sent=True, reason=f"told: {renewal.decision}")


def _product(sub: Subscription) -> str:
    return (sub.friendly_name or sub.offer_name or sub.offer_id)[:200]


def _decision_word(decision: str) -> Literal["cancel", "change", "renew"]:
    """The customer's decision as the notices word it."""
    if decision in ("turn_off_auto_renew", "expire"):
        return "cancel"
    return "change" if decision == "renew_with_changes" else "renew"


# Days of a billing period, for what a day of the new term costs (NCE prorates by day:
# docs/rules.md#cancellation-window).
PERIOD_DAYS = {"monthly": 30, "annual": 365, "triennial": 1095}


@activity(bp)
def tell_renewal_not_applied(request: TellNotApplied, ctx: ActivityContext) -> ReminderResult:
    """Tell the customer the decision in force did not reach Partner Center before the
    renewal lock (`reason`), what happens at term end as Partner Center holds it now, and
    the next possible action (shared/policy/renewal.take_answer at the lock), with until when
    and what each day of the new term costs."""
    settings, book, start = ctx.settings, _book(ctx.settings), request.start
    renewal = book.renewals.get(start.subscription_id, start.term_end).record
    record = _record(book, start)
    if renewal.decision is None or record is None:
        return ReminderResult(sent=False, reason="nothing decided")
    customer = book.customers.get(start.customer_id).record
    sub = record.subscription
    rules = rules_of(settings)
    lock = renewal_lock_at(sub, rules)
    choice = "turn_off_auto_renew" if renewal.decision == "expire" else renewal.decision
    answer = take_answer(sub, choice, max(_now(settings), lock), rules)
    renews = sub.status == "active" and sub.auto_renew_enabled
    term = next_term(sub)  # as Partner Center holds it: the decision did not reach it
    cost = None
    if renews and answer.next_step in ("cancel_in_window", "remove_seats_in_window"):
        price = next_term_price(book, customer, record, term)
        if price is not None:
            days = PERIOD_DAYS.get(term.billing_cycle, 30)
            cost = Money(
                amount_minor=(price.amount_minor + days // 2) // days, currency=price.currency
            )
    notice = RenewalDecisionNotApplied(
        customer_name=customer.company_name,
        subscription_id=sub.id,
        product=_product(sub),
        decision=_decision_word(renewal.decision),
        reason=request.reason,
        term_end=start.term_end,
        renews=renews,
        next_step=answer.next_step,
        next_step_until=answer.next_action_until,
        cost_per_day=cost,
    )
    notifier(settings).send(
        request.step_key, notice, customer_id=customer.id, contacts=_contacts(customer)
    )
    return ReminderResult(sent=True, reason=f"told: {request.reason}")


@activity(bp)
def confirm_renewal(request: ConfirmRenewal, ctx: ActivityContext) -> RenewalConfirmed:
    """Read the subscription after its term end; once the renewal settled, record its
    outcome (once), the `renewal_outcome` KPI event (once: keyed by the term end), and an
    ops alert when it went against the recorded decision."""
    settings, book, start = ctx.settings, _book(ctx.settings), request.start
    now = _now(settings)
    renewal = book.renewals.get(start.subscription_id, start.term_end).record
    if renewal.outcome is not None:
        return RenewalConfirmed(
            settled=True,
            outcome=renewal.outcome,
            against_decision=renewal.against_decision,
            summary="recorded before",
        )
    customer = book.customers.get(start.customer_id).record
    sub = _read(settings, book, customer, start.subscription_id)
    expected = renewal.expected
    before = NextTerm(
        renews=True,
        catalog_item_id=expected.offer_id if expected and expected.offer_id else sub.offer_id,
        term_duration=expected.term_duration
        if expected and expected.term_duration
        else sub.term_duration,
        billing_cycle=expected.billing_cycle
        if expected and expected.billing_cycle
        else sub.billing_cycle,
        quantity=expected.quantity if expected and expected.quantity else sub.quantity,
        scheduled=False,
    )
    # The outcome and "against the decision" weigh what someone decided; a default is
    # what happens anyway (auto-renew kept, or turned off for a customer in dunning: lapsed),
    # except renewing with the changes already scheduled: a renewal with changes.
    decided = (
        renewal.decision
        if renewal.decided_by in ("customer", "partner") or renewal.decision == "renew_with_changes"
        else None
    )
    seen = confirm_policy(start.term_end, before, decided, sub, now, rules_of(settings))
    rid = id_of(renewal)
    if not seen.settled:
        if request.last_look:
            book.alerts.raise_alert(
                OpsAlert(
                    id=f"renewal-unconfirmed:{rid}",
                    at=now,
                    kind="renewal",
                    summary=(
                        f"renewal of subscription {sub.id} (customer {customer.id}, term end "
                        f"{start.term_end:%Y-%m-%d}) not settled in Partner Center: {seen.reason}"
                    ),
                    subject_id=rid,
                )
            )
        return RenewalConfirmed(settled=False, summary=seen.reason)
    assert seen.outcome is not None
    outcome = seen.outcome
    book.renewals.update(
        start.subscription_id,
        start.term_end,
        lambda r: (
            r
            if r.outcome is not None
            else Renewal.model_validate(
                r.model_dump()
                | {"outcome": outcome, "closed_at": now, "against_decision": seen.against_decision}
            )
        ),
    )
    book.kpi_events.record(
        KpiEvent(
            name="renewal_outcome",
            occurred_at=start.term_end,
            customer_id=customer.id,
            subject_id=rid,
            outcome=outcome,
            dimensions={
                "decision": renewal.decision or "none",
                "decided_by": renewal.decided_by or "none",
                "term": sub.term_duration,
                "against_decision": str(seen.against_decision).lower(),
            },
        )
    )
    if seen.against_decision:
        book.alerts.raise_alert(
            OpsAlert(
                id=f"renewal-against-decision:{rid}",
                at=now,
                kind="renewal",
                summary=(
                    f"subscription {sub.id} of customer {customer.id}: {outcome} against the "
                    f"recorded decision {renewal.decision} ({renewal.decided_by})"
                ),
                subject_id=rid,
            )
        )
    return RenewalConfirmed(
        settled=True, outcome=outcome, against_decision=seen.against_decision, summary=seen.reason
    )
