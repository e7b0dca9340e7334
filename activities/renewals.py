"""The renewal workflow's activities (workflows/renewals.py, docs/renewals.md): one side
effect each.

- `open_renewal`: the renewal of this term opened in the book (once), and what the workflow
  waits for: the reminders still due, the decision deadline, the lock, the term end.
- `send_renewal_reminder`: one reminder (what renews, when, at what price, the deadline,
  what happens with no answer, the signed decision link), unless a decision is recorded or
  the term moved; mailed once per step key.
- `apply_renewal_decision`: the decision in force (the customer's, the partner's, or the
  policy's default when nobody answered) made true in Partner Center before the lock:
  auto-renew on or off, the next term's scheduled instructions. Read fresh first, so changes
  a mid-term write wiped are applied again.
- `tell_renewal_decision`: the customer told the decision in force (a default taken for them,
  or the confirmation of theirs).
- `confirm_renewal`: after the term end, Partner Center's copy read; once the renewal has
  settled, the outcome recorded once with its `renewal_outcome` KPI event, and an ops alert
  when it went against the recorded decision.

The Partner Center subscription writes (auto-renew, scheduled next term) are made here
through the shared client with the step's MS-RequestId: the licence-change activities
(activities/subscriptions.py) were not on this branch when it was written.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import azure.durable_functions as df

from activities.boundary import ActivityContext, WriteInput, activity
from shared.book import Book
from shared.book.partner_center import apply_partner_center_subscription
from shared.clock import app_clock
from shared.config import Settings
from shared.errors import PermanentError
from shared.models import Customer, KpiEvent, SubscriptionRecord
from shared.models.intake import OpsAlert
from shared.models.renewal import (
    DecisionApplied,
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
from shared.notifications import Addressee, Notifier
from shared.notifications.kinds import RenewalDecisionConfirmed, RenewalReminder
from shared.partner_center import PartnerCenterClient
from shared.partner_center.errors import BusinessError
from shared.policy.nce import renewal_phase
from shared.policy.renewal import (
    NextTerm,
    decision_deadline,
    due_reminder,
    outcome_without_answer,
    reminder_schedule,
    renewal_lock_at,
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


class ApplyDecision(WriteInput):
    start: RenewalStart
    # At the deadline: take the policy's default when nobody decided.
    by_default: bool = False


class TellDecision(WriteInput):
    start: RenewalStart


class ConfirmRenewal(WriteInput):
    start: RenewalStart
    # The last look: record what Partner Center shows even when it has not settled.
    last_look: bool = False


class NoSuchSubscription(PermanentError):
    code = "no_such_subscription"


class Unpriced(PermanentError):
    code = "unpriced"


@lru_cache(maxsize=4)
def _book(settings: Settings) -> Book:
    return Book(settings, clock=app_clock(settings))


@lru_cache(maxsize=4)
def _partner_center(settings: Settings) -> PartnerCenterClient:
    return PartnerCenterClient.from_settings(settings)


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
    Notifier.from_settings(settings).send(
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


def _instructions(sub: Subscription, term: NextTerm) -> ScheduledNextTermInstructions:
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


def _scheduled_as(sub: Subscription, term: NextTerm) -> bool:
    have = sub.scheduled_next_term_instructions
    if have is None:
        return False
    return (
        have.product.catalog_item_id == term.catalog_item_id
        and have.product.term_duration == term.term_duration
        and have.product.billing_cycle == term.billing_cycle
        and have.quantity == term.quantity
    )


@activity(bp)
def apply_renewal_decision(request: ApplyDecision, ctx: ActivityContext) -> DecisionApplied:
    """Make Partner Center hold the decision in force before the lock (shared/policy/nce.py
    renewal_phase): auto-renew off for a cancellation or a default in dunning, on for a
    renewal, the next term's instructions for a change. Reads Partner Center first: what
    already holds is not written again, and instructions a mid-term change wiped are
    scheduled again."""
    settings, book, start = ctx.settings, _book(ctx.settings), request.start
    now = _now(settings)
    customer = book.customers.get(start.customer_id).record
    renewal = book.renewals.get(start.subscription_id, start.term_end).record
    sub = _read(settings, book, customer, start.subscription_id)
    if renewal.decision is None:
        if not request.by_default:
            raise PermanentError("no decision is recorded for this renewal")
        default = outcome_without_answer(sub, context_of(book, customer.id))
        renewal = book.renewals.update(
            start.subscription_id,
            start.term_end,
            lambda r: Renewal.model_validate(
                r.model_dump()
                | {"decision": default.action, "decided_at": now, "decided_by": "default"}
                if r.decision is None
                else r.model_dump()
            ),
        ).record
    assert renewal.decision is not None and renewal.decided_by is not None
    decided: dict[str, Any] = {
        "decision": renewal.decision,
        "decided_by": renewal.decided_by,
        "decided_at": renewal.decided_at,
    }
    if sub.term_end != start.term_end:
        return DecisionApplied(
            **decided, applied=False, summary="the term already moved", rule="renewal-processing"
        )
    phase = renewal_phase(sub, now, rules_of(settings).nce)
    if phase != "open":
        return DecisionApplied(
            **decided,
            applied=False,
            summary=f"too late to change the renewal: {phase}",
            rule="renewal-lock",
        )
    client = _partner_center(settings)
    tenant = _tenant(customer)
    done: list[str] = []
    try:
        if renewal.decision in ("turn_off_auto_renew", "expire"):
            if sub.auto_renew_enabled:
                sub = client.set_auto_renew(
                    tenant, sub.id, False, request_id=ctx.request_id("auto-renew-off")
                )
                done.append("auto-renew turned off")
        elif renewal.decision == "renew_with_changes" and renewal.change is not None:
            term = planned_next_term(sub, renewal)
            if not _scheduled_as(sub, term):
                sub = client.schedule_next_term(
                    tenant,
                    sub.id,
                    _instructions(sub, term),
                    request_id=ctx.request_id("schedule-next-term"),
                )
                done.append(f"next term scheduled: {term.quantity} x {term.offer_key}")
        elif not sub.auto_renew_enabled:
            sub = client.set_auto_renew(
                tenant, sub.id, True, request_id=ctx.request_id("auto-renew-on")
            )
            done.append("auto-renew turned on")
    except BusinessError as exc:
        return DecisionApplied(
            **decided,
            applied=False,
            summary=f"Partner Center refused: {exc}"[:500],
            rule="renewal-lock",
        )
    apply_partner_center_subscription(book, customer.id, sub)
    summary = "; ".join(done) or "Partner Center already holds it"
    expected = planned_next_term(sub, renewal)
    book.renewals.update(
        start.subscription_id,
        start.term_end,
        lambda r: Renewal.model_validate(
            r.model_dump()
            | {
                "applied_at": r.applied_at or now,
                "applied": summary,
                "expected": NextTermChange(
                    quantity=expected.quantity,
                    offer_id=expected.catalog_item_id,
                    term_duration=expected.term_duration,
                    billing_cycle=expected.billing_cycle,
                ),
            }
        ),
    )
    return DecisionApplied(**decided, applied=True, summary=summary, rule="decision-deadline")


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
        product=(sub.friendly_name or sub.offer_name or sub.offer_id)[:200],
        decision="cancel"
        if cancel
        else "change"
        if renewal.decision == "renew_with_changes"
        else "renew",
        quantity=0 if cancel else term.quantity,
        term_end=start.term_end,
        renewal_price=None if cancel else next_term_price(book, customer, record, term),
        changeable_until=min(decision_deadline(sub, rules), start.term_end),
    )
    Notifier.from_settings(settings).send(
        request.step_key, notice, customer_id=customer.id, contacts=_contacts(customer)
    )
    return ReminderResult(sent=True, reason=f"told: {renewal.decision}")


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
    seen = confirm_policy(start.term_end, before, renewal.decision, sub, now, rules_of(settings))
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
