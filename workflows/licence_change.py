"""Licence changes under NCE (docs/licence-changes.md): seats up and down, upgrades, auto-renew
and cancellation, decided by the rules on Partner Center's fresh read before any side effect,
charged or credited exactly once, approved when large.

Two orchestrators:

- `licence_change_queue`, one instance per subscription (`licence-changes-<subscription id>`):
  the subscription's changes one at a time, in arrival order. Each episode asks the book for
  the subscription's first change still `received` (the `OpenLicenceChanges` index is ordered
  by the instant the API accepted each change, then its id), runs it to its end as the
  sub-orchestration `licence_change`, and continues as new; with none left it waits for the
  `wake` event the API raises after recording a change.
- `licence_change`, one instance per change (`licence-change-<change id>`): read the
  subscription from Partner Center, plan with shared/policy/licence_change.py (on
  shared/policy/nce.py), wait for the partner's approval if the change is large, then act:
  charge then PATCH (refund if the PATCH fails for good); PATCH then credit; schedule the next
  term; auto-renew; cancel then refund. It records every state in the book (with the
  customer's timeline), runs the licence-change SLA clock from request to applied, records the
  lead time as a KPI event and tells the customer.

How one change at a time is guaranteed without entity critical sections (the Python Durable
SDK has none): the only code that changes a subscription's seats is its queue instance, and a
Durable instance runs one episode at a time, single-threaded, its steps in order. Two API
requests can only record two changes; they never act. The queue runs the first change to its
end (its PATCH done, its credit issued, its record final) before it reads the next one, and
the next one's plan is made on a new Partner Center read taken after that, so the
`refundableQuantity` it decides with already lacks the seats the first one removed: ten
"one seat fewer" requests on five refundable seats plan five removals with credit and then,
the window being empty, five scheduled for the next term. A check-then-act race would need two
plans made on the same read, and no two plans of one subscription are ever in flight.
What keeps the queue from missing a change: the API writes the change to the book before it
starts the queue or raises `wake`, and every episode reads the book before it waits, so a
change recorded while the queue was busy (its `wake` perhaps lost when the queue continued as
new) is found by the next episode's read. Two requests racing to start the queue collapse onto
one instance (a start of a running instance id is refused; the loser raises `wake`).

Holds: a change that cannot be written now (renewal lock, renewal processing, a renewal still
running past its 24 hours) waits on a durable timer and is planned again on a new read, at
most MAX_HOLDS times; it is never dropped.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from activities.licence_change import (
    ChangeContext,
    ChangeRef,
    FindInvoice,
    QueueRef,
    RecordChange,
    find_creditable_invoice,
    load_licence_change,
    next_licence_change,
    record_licence_change,
)
from activities.notifications import SendNotice, send_notice
from activities.payments import (
    ChargeLines,
    CreditInvoice,
    PaymentLine,
    RefundPayment,
    charge_lines,
    credit_invoice,
    refund_payment,
)
from activities.sla_clocks import SignalClock, signal_sla_clock
from activities.subscriptions import (
    RENEWAL_PROCESSING,
    ScheduleNextTerm,
    SetAutoRenew,
    SetQuantity,
    SubscriptionRef,
    SubscriptionWrite,
    TransitionRef,
    TransitionSubscription,
    cancel_subscription,
    read_subscription,
    read_transition,
    read_transition_eligibilities,
    schedule_next_term,
    set_auto_renew,
    set_quantity,
    transition_subscription,
)
from shared.errors import Failure
from shared.models import DomainModel, Money, Subscription
from shared.models.licence_change import Approval, ChangeStatus, LicenceChange
from shared.models.sla import SlaAction, SlaSignal
from shared.models.subscription import ScheduledNextTermInstructions, ScheduledProduct
from shared.notifications.kinds import (
    ApprovalDecided,
    ApprovalRequested,
    LicenceChangeApplied,
    LicenceChangeNotApplied,
    LicenceChangeScheduled,
    NotAppliedReason,
)
from shared.partner_center.models import Transition
from shared.policy.licence_change import (
    ApprovalThresholds,
    Plan,
    approval_needed,
    plan_auto_renew,
    plan_cancel,
    plan_quantity,
    prorated_amount,
    when,
)
from shared.policy.nce import DEFAULT_RULES
from workflows.durable import (
    call_sub,
    event_model,
    orchestration,
    read_input,
    run,
    set_status,
    settle,
    step_key,
    suborchestrator,
    timer_toward,
)

bp = df.Blueprint()

WAKE = "wake"
APPROVAL = "approval"
MAX_HOLDS = 10  # a change held past this many renewal waits is failed, never dropped
RENEWAL_PROCESSING_WAIT = timedelta(minutes=30)


def queue_instance_id(subscription_id: str) -> str:
    return f"licence-changes-{_safe(subscription_id)}"


def change_instance_id(change_id: str) -> str:
    return f"licence-change-{_safe(change_id)}"


def _safe(text: str) -> str:
    return "".join(ch if ch.isprintable() and ch not in "/\\#? " else "_" for ch in text)


class QueueInput(DomainModel):
    subscription_id: str


class ChangeDone(DomainModel):
    change_id: str
    status: ChangeStatus


class ApprovalEvent(DomainModel):
    decision: str
    by: str
    reason: str | None = None


class QueueStatus(DomainModel):
    subscription_id: str
    current_change_id: str | None = None


class ChangeProgress(DomainModel):
    change_id: str
    status: ChangeStatus
    step: str


# -- the subscription's queue -------------------------------------------------------------------


@orchestration(bp)
def licence_change_queue(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One change of the subscription at a time, in arrival order (see the module docstring)."""
    queue = read_input(context, QueueInput)
    found = (
        yield from run(
            context, next_licence_change, QueueRef(subscription_id=queue.subscription_id)
        )
    ).unwrap()
    change = found.change
    if change is None:
        set_status(context, QueueStatus(subscription_id=queue.subscription_id))
        yield context.wait_for_external_event(WAKE)
        context.continue_as_new(queue.model_dump(mode="json"))
        return None
    set_status(
        context, QueueStatus(subscription_id=queue.subscription_id, current_change_id=change.id)
    )
    outcome = yield from settle(
        call_sub(
            context,
            CHANGE,
            ChangeRef(change_id=change.id),
            instance_id=change_instance_id(change.id),
        )
    )
    if not outcome.ok:
        # A change whose workflow failed is closed as failed, so the queue moves on and the
        # customer's next change is not stuck behind it; the customer is told it was not made.
        recorded = yield from _record(
            context,
            change.id,
            "failed",
            step="queue-failed",
            reason=f"the change could not be completed: {_describe(outcome.failure)}",
        )
        yield from _tell_failed(context, recorded or change)
    context.continue_as_new(queue.model_dump(mode="json"))
    return None


def _tell_failed(
    context: df.DurableOrchestrationContext, change: LicenceChange
) -> Generator[Any, Any, None]:
    """The notice of a change whose workflow failed for good (the operators see the failed
    instance): not made, on our side. Keyed by the change, as the queue's instance outlives
    it."""
    loaded = yield from run(context, load_licence_change, ChangeRef(change_id=change.id))
    if not loaded.ok or loaded.value is None:
        return None
    found = loaded.value
    before = change.quantity_before if change.quantity_before is not None else found.quantity
    notice = _not_applied(
        found, change, before or 0, "internal", decided_at=context.current_utc_datetime
    )
    yield from _notify(context, found, f"notice-failed-{_safe(change.id)}", notice)
    return None


# -- one change ---------------------------------------------------------------------------------


@orchestration(bp)
def licence_change(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    ref = read_input(context, ChangeRef)
    loaded = (yield from run(context, load_licence_change, ref)).unwrap()
    change = loaded.change
    if change.is_final:  # already done (a queue that ran it before it died)
        return ChangeDone(change_id=change.id, status=change.status).model_dump(mode="json")
    yield from _clock(context, loaded, "start", "sla-start", at=change.requested_at)
    approved = False
    holds = 0
    while True:
        read = yield from run(
            context,
            read_subscription,
            SubscriptionRef(customer_id=loaded.tenant_id, subscription_id=change.subscription_id),
        )
        if not read.ok:
            return (
                yield from _close(
                    context,
                    loaded,
                    "failed",
                    why="provider_error",
                    reason=f"Partner Center could not be read: {_describe(read.failure)}",
                )
            )
        assert read.value is not None
        sub = read.value.subscription
        now = context.current_utc_datetime
        plan = yield from _plan(context, loaded, sub, now)
        if plan.step == "refuse" and plan.rule == "stale-copy" and sub.status == "active":
            # Still the old term, past the 24 h renewal processing usually takes: Partner
            # Center has not finished renewing it. Wait a little more (bounded by MAX_HOLDS).
            plan = Plan(
                "hold",
                "renewal-processing",
                "Partner Center is still renewing the subscription",
                retry_at=now + RENEWAL_PROCESSING_WAIT,
            )
        if plan.step == "hold":
            holds += 1
            if holds > MAX_HOLDS:
                return (
                    yield from _close(
                        context,
                        loaded,
                        "failed",
                        why=_refused_because(plan),
                        rule=plan.rule,
                        reason=plan.reason,
                    )
                )
            retry_at = plan.retry_at or now + RENEWAL_PROCESSING_WAIT
            yield from _record(
                context,
                change.id,
                "applying",
                step=f"held-{holds}",
                rule=plan.rule,
                reason=f"held until {when(retry_at)}: {plan.reason}",
            )
            _progress(context, change.id, "applying", "held")
            while context.current_utc_datetime < retry_at:
                yield timer_toward(context, retry_at)
            continue
        if plan.step == "refuse":
            return (
                yield from _close(
                    context,
                    loaded,
                    "rejected",
                    why=_refused_because(plan),
                    rule=plan.rule,
                    reason=plan.reason,
                )
            )
        if plan.step == "no_change":
            return (
                yield from _close(
                    context,
                    loaded,
                    "applied",
                    rule=plan.rule,
                    reason=plan.reason,
                    quantity_before=sub.quantity,
                    quantity_after=sub.quantity,
                    effective_at=now,
                )
            )
        amount = _amount(loaded, plan, sub, now)
        why = approval_needed(plan, change.kind, amount, _thresholds(loaded))
        if why is not None and not approved:
            decided = yield from _approval(context, loaded, sub, plan, amount, why)
            if not decided:
                return ChangeDone(change_id=change.id, status="rejected").model_dump(mode="json")
            approved = True
            continue  # time has passed: read Partner Center again and plan again
        return (yield from _apply(context, loaded, sub, plan, amount))


CHANGE = suborchestrator(licence_change, ChangeRef, ChangeDone)


def _plan(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    sub: Subscription,
    now: datetime,
) -> Generator[Any, Any, Plan]:
    change = loaded.change
    if change.kind == "quantity":
        return plan_quantity(
            sub,
            now,
            quantity=change.quantity,
            change_by=change.change_by,
            batches=loaded.seat_batches,
        )
    if change.kind == "auto_renew":
        assert change.auto_renew is not None
        return plan_auto_renew(sub, change.auto_renew, now)
    if change.kind == "cancel":
        return plan_cancel(sub, now)
    return (yield from _plan_upgrade(context, loaded, sub, now))


def _plan_upgrade(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    sub: Subscription,
    now: datetime,
) -> Generator[Any, Any, Plan]:
    """Partner Center's transition eligibility decides whether the target is reachable now
    (docs/rules.md#upgrade); anything else is refused (docs/rules.md#downgrade)."""
    change = loaded.change
    if sub.status != "active":
        return Plan("refuse", "upgrade", f"a {sub.status} subscription cannot be upgraded")
    if (
        sub.term_end - DEFAULT_RULES.renewal_lock
        <= now
        < sub.term_end + DEFAULT_RULES.renewal_processing
    ):
        return Plan(
            "hold",
            "renewal-processing" if now >= sub.term_end else "renewal-lock",
            "the subscription is at its renewal; the upgrade waits for the new term",
            retry_at=sub.term_end + DEFAULT_RULES.renewal_processing,
        )
    eligibilities = yield from run(
        context,
        read_transition_eligibilities,
        SubscriptionRef(customer_id=loaded.tenant_id, subscription_id=change.subscription_id),
    )
    if not eligibilities.ok or eligibilities.value is None:
        return Plan(
            "refuse",
            "upgrade",
            f"Partner Center could not say where it can move: {_describe(eligibilities.failure)}",
        )
    target = next(
        (
            t
            for t in eligibilities.value.targets
            if t.catalog_item_id == change.target_catalog_item_id and t.eligible
        ),
        None,
    )
    if target is None:
        return Plan(
            "refuse",
            "downgrade",
            f"the subscription cannot move to {change.target_catalog_item_id} mid-term: only "
            "upgrades Partner Center lists as eligible are possible",
        )
    seats = change.quantity or sub.quantity
    if seats > sub.quantity:
        return Plan("refuse", "upgrade", f"only {sub.quantity} seats can move")
    return Plan(
        "upgrade",
        "upgrade",
        "upgrades apply at once, prorated, and cannot be undone: no cancellation window "
        "applies afterwards",
        quantity_now=seats,
        seats_added=0,
        effective_at=now,
    )


def _amount(loaded: ChangeContext, plan: Plan, sub: Subscription, now: datetime) -> Money | None:
    """What the plan charges (positive) or credits (negative), at the partner's sell price."""
    price = loaded.unit_price
    if price is None:
        return None
    if plan.step == "charge_then_patch":
        return prorated_amount(price, sub, now, plan.seats_added)
    if plan.step in ("patch_then_credit", "patch_credit_and_schedule", "cancel_then_refund"):
        return -prorated_amount(price, sub, now, plan.seats_removed_now)
    if plan.step == "upgrade":
        target = loaded.target_unit_price
        if target is None or plan.quantity_now is None:
            return None
        difference = target - price
        if difference.is_negative():
            return None
        return prorated_amount(difference, sub, now, plan.quantity_now)
    return None


def _thresholds(loaded: ChangeContext) -> ApprovalThresholds:
    t = loaded.thresholds
    return ApprovalThresholds(
        seats_added=t.seats_added, amount_minor=t.amount_minor, cancellation=t.cancellation
    )


# -- approval -----------------------------------------------------------------------------------


def _approval(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    sub: Subscription,
    plan: Plan,
    amount: Money | None,
    why: str,
) -> Generator[Any, Any, bool]:
    """Ask the partner's approver, remind once, reject at the timeout; the customer is told
    the outcome either way. True: approved."""
    change = loaded.change
    now = context.current_utc_datetime
    t = loaded.thresholds
    decide_by = now + timedelta(hours=t.timeout_hours)
    remind_at = now + timedelta(hours=t.reminder_hours)
    approval = Approval(requested_at=now, decide_by=decide_by, why=why)
    yield from _record(
        context, change.id, "pending_approval", step="approval", approval=approval, reason=why
    )
    _progress(context, change.id, "pending_approval", "waiting for approval")
    yield from _clock(context, loaded, "pause", "sla-pause", at=now)
    request = _approval_notice(loaded, sub, plan, amount, decide_by)
    yield from _notify(context, loaded, "notice-approval", request, partner=True)
    event_task = context.wait_for_external_event(APPROVAL)
    reminded = False
    decision: ApprovalEvent | None = None
    while decision is None:
        moment = decide_by if reminded or remind_at >= decide_by else remind_at
        timer = timer_toward(context, moment)
        winner = yield context.task_any([event_task, timer])
        if winner is event_task:
            timer.cancel()
            decision = event_model(ApprovalEvent, event_task.result)
            if decision.decision not in ("approve", "reject"):
                decision = None
                event_task = context.wait_for_external_event(APPROVAL)
            continue
        if context.current_utc_datetime < moment:
            continue  # a link of a long timer chain
        if not reminded and moment < decide_by:
            reminded = True
            yield from _notify(context, loaded, "notice-approval-reminder", request, partner=True)
            continue
        break
    at = context.current_utc_datetime
    approved = decision is not None and decision.decision == "approve"
    decided = approval.model_copy(
        update={
            "decision": decision.decision if decision else "reject",
            "decided_by": decision.by if decision else None,
            "decided_at": at,
            "reason": decision.reason if decision else "no decision before the deadline",
            "timed_out": decision is None,
        }
    )
    yield from _clock(context, loaded, "resume", "sla-resume", at=at)
    if approved:
        notice = ApprovalDecided(
            customer_name=loaded.company_name,
            change_id=change.id,
            product=loaded.product,
            from_quantity=sub.quantity,
            to_quantity=_quantity_after(plan, sub),
            approved=True,
            decided_at=at,
            note=decided.reason,
        )
        yield from _notify(context, loaded, "notice-approval-decided", notice)
        yield from _record(
            context, change.id, "applying", step="approved", approval=decided, reason=why
        )
        return True
    reason = (
        "not approved before the deadline"
        if decision is None
        else f"not approved by {decision.by}" + (f": {decision.reason}" if decision.reason else "")
    )
    yield from _record(
        context,
        change.id,
        "rejected",
        step="rejected",
        approval=decided,
        rule="change-approval",
        reason=reason,
    )
    yield from _clock(context, loaded, "cancel", "sla-cancel", at=at)
    refused = _not_applied(
        loaded,
        change,
        sub.quantity,
        "approval_timed_out" if decision is None else "approval_rejected",
        decided_at=at,
        note=decision.reason if decision is not None else None,
    )
    yield from _notify(context, loaded, "notice-approval-decided", refused)
    return False


def _approval_notice(
    loaded: ChangeContext,
    sub: Subscription,
    plan: Plan,
    amount: Money | None,
    decide_by: datetime,
) -> ApprovalRequested:
    change = loaded.change
    link = str(loaded.approval_url).rstrip("/") + "/" + change.id
    return ApprovalRequested(
        customer_name=loaded.company_name,
        change_id=change.id,
        product=loaded.product,
        from_quantity=sub.quantity,
        to_quantity=_quantity_after(plan, sub),
        amount=amount
        if amount is not None and not amount.is_negative()
        else -(amount or Money.zero(loaded.currency)),
        requested_by=change.requested_by,
        requested_at=change.requested_at,
        decide_by=decide_by,
        approve_url=f"{link}?decision=approve",  # type: ignore[arg-type]
        decline_url=f"{link}?decision=reject",  # type: ignore[arg-type]
    )


# -- applying -----------------------------------------------------------------------------------


def _apply(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    sub: Subscription,
    plan: Plan,
    amount: Money | None,
) -> Generator[Any, Any, Any]:
    change = loaded.change
    now = context.current_utc_datetime
    yield from _record(
        context,
        change.id,
        "applying",
        step="applying",
        rule=plan.rule,
        reason=plan.reason,
        quantity_before=sub.quantity,
    )
    _progress(context, change.id, "applying", plan.step)
    ref = {"customer_id": loaded.tenant_id, "subscription_id": change.subscription_id}
    if plan.step in ("charge_then_patch", "upgrade"):
        return (yield from _charge_then(context, loaded, sub, plan, amount, ref))
    if plan.step == "schedule":
        assert plan.quantity_at_renewal is not None
        scheduled = yield from _schedule(context, sub, plan.quantity_at_renewal, ref, "schedule")
        if not scheduled.ok:
            return (yield from _failed_write(context, loaded, plan, scheduled.failure))
        return (
            yield from _close(
                context,
                loaded,
                "scheduled_for_next_term",
                rule=plan.rule,
                reason=plan.reason,
                quantity_before=sub.quantity,
                quantity_after=plan.quantity_at_renewal,
                effective_at=sub.term_end,
                subscription=scheduled.value.subscription if scheduled.value else None,
            )
        )
    if plan.step == "set_auto_renew":
        assert change.auto_renew is not None
        done = yield from run(
            context,
            set_auto_renew,
            SetAutoRenew(
                step_key=step_key(context, "auto-renew"), enabled=change.auto_renew, **ref
            ),
            retry="patient",
        )
        if not done.ok:
            return (yield from _failed_write(context, loaded, plan, done.failure))
        return (
            yield from _close(
                context,
                loaded,
                "applied",
                rule=plan.rule,
                reason=plan.reason,
                quantity_before=sub.quantity,
                quantity_after=sub.quantity,
                effective_at=now,
                subscription=done.value.subscription if done.value else None,
            )
        )
    # Seats removed now (a decrease inside the window, or a cancellation): the write, then
    # the credit.
    if plan.step == "cancel_then_refund":
        done = yield from run(
            context,
            cancel_subscription,
            SubscriptionWrite(step_key=step_key(context, "cancel"), **ref),
            retry="patient",
        )
    else:
        assert plan.quantity_now is not None
        done = yield from run(
            context,
            set_quantity,
            SetQuantity(step_key=step_key(context, "patch"), quantity=plan.quantity_now, **ref),
            retry="patient",
        )
    if not done.ok:
        return (yield from _failed_write(context, loaded, plan, done.failure))
    after = done.value.subscription if done.value else None
    if plan.step == "patch_credit_and_schedule":
        assert plan.quantity_at_renewal is not None
        scheduled = yield from _schedule(
            context, after or sub, plan.quantity_at_renewal, ref, "schedule-rest"
        )
        if scheduled.ok and scheduled.value is not None:
            after = scheduled.value.subscription
    credit = yield from _credit(context, loaded, amount)
    return (
        yield from _close(
            context,
            loaded,
            "applied",
            rule=plan.rule,
            reason=plan.reason
            + ("" if credit.get("credit_note_id") or amount is None else f"; {credit['note']}"),
            quantity_before=sub.quantity,
            quantity_after=plan.quantity_now,
            effective_at=now,
            charge=amount,
            subscription=after,
            credit_note_id=credit.get("credit_note_id"),
            refund_id=credit.get("refund_id"),
        )
    )


def _schedule(
    context: df.DurableOrchestrationContext,
    sub: Subscription,
    quantity: int,
    ref: dict[str, str],
    step: str,
) -> Generator[Any, Any, Any]:
    """The next term's quantity through scheduledNextTermInstructions, on the same product,
    term and billing cycle (docs/rules.md#remove-seats)."""
    scheduled = sub.scheduled_next_term_instructions
    if scheduled is not None:
        product = scheduled.product
    else:
        product_id, sku_id, availability_id = sub.offer_id.split(":")[:3]
        product = ScheduledProduct(
            product_id=product_id,
            sku_id=sku_id,
            availability_id=availability_id,
            billing_cycle=sub.billing_cycle,
            term_duration=sub.term_duration,
        )
    instructions = ScheduledNextTermInstructions(product=product, quantity=quantity)
    return (
        yield from run(
            context,
            schedule_next_term,
            ScheduleNextTerm(step_key=step_key(context, step), instructions=instructions, **ref),
            retry="patient",
        )
    )


def _charge_then(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    sub: Subscription,
    plan: Plan,
    amount: Money | None,
    ref: dict[str, str],
) -> Generator[Any, Any, Any]:
    """Collect first, then write to Partner Center; a write that fails for good is refunded
    (docs/rules.md#add-seats, docs/rules.md#upgrade)."""
    change = loaded.change
    now = context.current_utc_datetime
    if amount is None:
        return (
            yield from _close(
                context,
                loaded,
                "failed",
                why="partner_setup",
                rule=plan.rule,
                reason="the subscription has no sell price in the book: price it before "
                "changing it",
            )
        )
    if loaded.stripe_customer_id is None:
        return (
            yield from _close(
                context,
                loaded,
                "failed",
                why="partner_setup",
                rule=plan.rule,
                reason="the customer has no Stripe customer to charge",
            )
        )
    invoice_id: str | None = None
    payment_intent_id: str | None = None
    if amount.amount_minor > 0:
        period_end = min(sub.term_end, now + timedelta(days=1) * 366)
        charged = yield from run(
            context,
            charge_lines,
            ChargeLines(
                step_key=step_key(context, "charge"),
                stripe_customer_id=loaded.stripe_customer_id,
                currency=amount.currency,
                lines=(
                    PaymentLine(
                        reference=change.subscription_id,
                        description=_charge_description(loaded, sub, plan),
                        amount=amount,
                        period_start=now,
                        period_end=max(period_end, now + timedelta(seconds=1)),
                    ),
                ),
                description=f"Licence change {change.id}",
                metadata={
                    "change_id": change.id,
                    "subscription_id": change.subscription_id,
                    "customer_id": change.customer_id,
                },
                days_until_due=loaded.days_until_due,
            ),
        )
        if not charged.ok or charged.value is None:
            return (
                yield from _close(
                    context,
                    loaded,
                    "failed",
                    why="payment_failed",
                    rule=plan.rule,
                    reason=f"the charge could not be made: {_describe(charged.failure)}",
                )
            )
        if charged.value.status == "declined":
            decline = charged.value.decline
            why = decline.message if decline and decline.message else "the card was declined"
            return (
                yield from _close(
                    context,
                    loaded,
                    "failed",
                    why="card_declined",
                    rule=plan.rule,
                    reason=f"no seats were changed: the card was declined ({why})",
                    invoice_id=charged.value.invoice.id,
                )
            )
        invoice_id = charged.value.invoice.id
        payment_intent_id = charged.value.payment_intent_id
        yield from _record(
            context,
            change.id,
            "applying",
            step="charged",
            charge=amount,
            invoice_id=invoice_id,
        )
    if plan.step == "upgrade":
        assert change.target_catalog_item_id is not None and plan.quantity_now is not None
        moved = yield from run(
            context,
            transition_subscription,
            TransitionSubscription(
                step_key=step_key(context, "transition"),
                to_catalog_item_id=change.target_catalog_item_id,
                quantity=plan.quantity_now,
                customer_id=ref["customer_id"],
                subscription_id=ref["subscription_id"],
            ),
            retry="patient",
        )
        written, failure = moved.ok, moved.failure
        new_subscription = (
            moved.value.transition.to_subscription_id
            if moved.ok and moved.value is not None
            else None
        )
        adopted = None
        after: Subscription | None = None
        if written:
            # The source as Partner Center has it now (its new offer, or fewer seats), so the
            # book's mirror follows; a partial upgrade's new subscription goes to the book
            # once the transition completed, so the customer's list and renewals see it now.
            reread = yield from run(context, read_subscription, SubscriptionRef(**ref))
            after = reread.value.subscription if reread.ok and reread.value else None
            assert moved.value is not None
            if new_subscription not in (None, change.subscription_id):
                adopted = yield from _completed_target(context, ref, moved.value.transition)
    else:
        assert plan.quantity_now is not None
        done = yield from run(
            context,
            set_quantity,
            SetQuantity(step_key=step_key(context, "patch"), quantity=plan.quantity_now, **ref),
            retry="patient",
        )
        written, failure = done.ok, done.failure
        new_subscription = None
        adopted = None
        after = done.value.subscription if done.ok and done.value is not None else None
        if not written:
            # A lost answer: the PATCH may have gone through. Partner Center decides.
            check = yield from run(
                context,
                read_subscription,
                SubscriptionRef(**ref),
            )
            if (
                check.ok
                and check.value is not None
                and (check.value.subscription.quantity == plan.quantity_now)
            ):
                written, after = True, check.value.subscription
    if not written:
        refund_id = None
        if payment_intent_id is not None:
            refunded = yield from run(
                context,
                refund_payment,
                RefundPayment(
                    step_key=step_key(context, "refund"), payment_intent_id=payment_intent_id
                ),
                retry="patient",
            )
            refund_id = refunded.value.refund_id if refunded.ok and refunded.value else None
        elif invoice_id is not None:
            credited = yield from run(
                context,
                credit_invoice,
                CreditInvoice(
                    step_key=step_key(context, "refund"),
                    invoice_id=invoice_id,
                    amount=amount,
                    description=f"Licence change {change.id} not applied",
                ),
                retry="patient",
            )
            refund_id = credited.value.credit_note_id if credited.ok and credited.value else None
        return (
            yield from _close(
                context,
                loaded,
                "failed",
                why="partner_refused",
                refunded=amount if refund_id is not None else None,
                rule=plan.rule,
                reason="Partner Center did not apply the change"
                f" ({_describe(failure)}); the charge was refunded",
                invoice_id=invoice_id,
                refund_id=refund_id,
            )
        )
    return (
        yield from _close(
            context,
            loaded,
            "applied",
            rule=plan.rule,
            reason=plan.reason,
            quantity_before=sub.quantity,
            quantity_after=plan.quantity_now if plan.step != "upgrade" else sub.quantity,
            effective_at=now,
            charge=amount,
            invoice_id=invoice_id,
            subscription=after,
            seats_added=plan.seats_added,
            new_subscription_id=new_subscription,
            unit_price=loaded.target_unit_price
            if plan.step == "upgrade" and new_subscription == change.subscription_id
            else None,
            new_subscription=adopted,
            new_unit_price=loaded.target_unit_price if adopted is not None else None,
        )
    )


TRANSITION_READS = (timedelta(seconds=0), *(timedelta(seconds=15 * 2**i) for i in range(6)))


def _completed_target(
    context: df.DurableOrchestrationContext, ref: dict[str, str], transition: Transition
) -> Generator[Any, Any, Subscription | None]:
    """A partial upgrade's new subscription, read once Partner Center lists the transition
    completed (it answers `Started`): read at once, then on durable timers backing off from
    15 s to 8 min (about 16 min in all). None when it has not completed by then: the book
    sync adopts the subscription later."""
    if transition.operation_id is None:
        return None
    for wait in TRANSITION_READS:
        if wait:
            until = context.current_utc_datetime + wait
            while context.current_utc_datetime < until:
                yield timer_toward(context, until)
        read = yield from run(
            context,
            read_transition,
            TransitionRef(operation_id=transition.operation_id, **ref),
        )
        if read.ok and read.value is not None and read.value.completed:
            return read.value.to_subscription
    return None


def _credit(
    context: df.DurableOrchestrationContext, loaded: ChangeContext, amount: Money | None
) -> Generator[Any, Any, dict[str, str]]:
    """A decrease's credit: a credit note on the latest paid invoice that can carry it,
    refunded to the card or left on the balance (docs/rules.md#seat-decrease-refund)."""
    if amount is None or amount.amount_minor == 0:
        return {"note": "nothing to credit"}
    if loaded.stripe_customer_id is None:
        return {"note": "no Stripe customer to credit"}
    credit = -amount
    found = yield from run(
        context,
        find_creditable_invoice,
        FindInvoice(stripe_customer_id=loaded.stripe_customer_id, amount=credit),
    )
    if not found.ok or found.value is None or found.value.invoice_id is None:
        return {"note": f"no paid invoice can carry the credit of {credit}: credit it by hand"}
    noted = yield from run(
        context,
        credit_invoice,
        CreditInvoice(
            step_key=step_key(context, "credit"),
            invoice_id=found.value.invoice_id,
            amount=credit,
            description=f"Licence change {loaded.change.id}: seats removed",
            refund=loaded.charge_automatically,
        ),
        retry="patient",
    )
    if not noted.ok or noted.value is None:
        return {"note": f"the credit could not be issued: {_describe(noted.failure)}"}
    out = {"credit_note_id": noted.value.credit_note_id, "note": "credited"}
    if noted.value.refund_ids:
        out["refund_id"] = noted.value.refund_ids[0]
    return out


def _failed_write(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    plan: Plan,
    failure: Failure | None,
) -> Generator[Any, Any, Any]:
    why: NotAppliedReason
    if failure is not None and failure.code == RENEWAL_PROCESSING:
        why, reason = (
            "renewal_processing",
            "Partner Center is processing the renewal; ask again in the new term",
        )
    else:
        why, reason = "partner_refused", f"Partner Center refused the change: {_describe(failure)}"
    return (yield from _close(context, loaded, "failed", why=why, rule=plan.rule, reason=reason))


# -- recording, notices, the clock ---------------------------------------------------------------


def _close(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    status: ChangeStatus,
    *,
    why: NotAppliedReason | None = None,
    refunded: Money | None = None,
    **fields: Any,
) -> Generator[Any, Any, Any]:
    """The change's final state: recorded, the customer told, the clock closed. A change not
    made (`rejected`, `failed`) says `why` in the notice's vocabulary, and what was
    `refunded`."""
    change = loaded.change
    recorded = yield from _record(context, change.id, status, step=f"final-{status}", **fields)
    final: LicenceChange = recorded or change
    at = context.current_utc_datetime
    yield from _clock(
        context,
        loaded,
        "met" if status in ("applied", "scheduled_for_next_term") else "cancel",
        "sla-close",
        at=at,
    )
    notice = _outcome_notice(loaded, final, status, why=why, refunded=refunded)
    if notice is not None:
        yield from _notify(context, loaded, f"notice-{status}", notice)
    _progress(context, change.id, status, "done")
    return ChangeDone(change_id=change.id, status=status).model_dump(mode="json")


def _outcome_notice(
    loaded: ChangeContext,
    change: LicenceChange,
    status: ChangeStatus,
    *,
    why: NotAppliedReason | None = None,
    refunded: Money | None = None,
) -> Any:
    before = change.quantity_before if change.quantity_before is not None else 0
    after = change.quantity_after if change.quantity_after is not None else before
    if status == "applied" and change.effective_at is not None:
        return LicenceChangeApplied(
            customer_name=loaded.company_name,
            change_id=change.id,
            product=loaded.product,
            from_quantity=before,
            to_quantity=after,
            effective_at=change.effective_at,
            charge=change.charge,
        )
    if status == "scheduled_for_next_term" and change.effective_at is not None:
        return LicenceChangeScheduled(
            customer_name=loaded.company_name,
            change_id=change.id,
            product=loaded.product,
            from_quantity=before,
            to_quantity=after,
            effective_at=change.effective_at,
            reason="outside_cancellation_window",
        )
    if status in ("rejected", "failed"):
        return _not_applied(
            loaded,
            change,
            before,
            why or ("not_allowed" if status == "rejected" else "partner_refused"),
            decided_at=change.completed_at or change.requested_at,
            refunded=refunded,
            # The rules' own sentence (never an external system's error text).
            note=change.reason if why in ("not_allowed", "renewal_lock") else None,
        )
    return None


def _refused_because(plan: Plan) -> NotAppliedReason:
    if plan.rule == "renewal-lock":
        return "renewal_lock"
    if plan.rule == "renewal-processing":
        return "renewal_processing"
    return "not_allowed"


def _not_applied(
    loaded: ChangeContext,
    change: LicenceChange,
    before: int,
    why: NotAppliedReason,
    *,
    decided_at: datetime,
    refunded: Money | None = None,
    note: str | None = None,
) -> LicenceChangeNotApplied:
    """The customer's notice of a change not made: what was not done and why."""
    return LicenceChangeNotApplied(
        customer_name=loaded.company_name,
        change_id=change.id,
        change=change.kind,
        product=loaded.product,
        from_quantity=before,
        to_quantity=_asked_quantity(change, before),
        auto_renew=change.auto_renew,
        reason=why,
        decided_at=decided_at,
        refunded=refunded if refunded is not None and refunded.amount_minor > 0 else None,
        note=note[:1000] if note else None,
    )


def _asked_quantity(change: LicenceChange, before: int) -> int:
    if change.kind == "cancel":
        return 0
    if change.change_by is not None:
        return max(before + change.change_by, 0)
    return change.quantity if change.quantity is not None else before


def _quantity_after(plan: Plan, sub: Subscription) -> int:
    for value in (plan.quantity_now, plan.quantity_at_renewal):
        if value is not None:
            return value
    return sub.quantity


def _charge_description(loaded: ChangeContext, sub: Subscription, plan: Plan) -> str:
    if plan.step == "upgrade":
        return f"{loaded.product}: upgrade of {plan.quantity_now} seats, rest of the period"
    return (
        f"{loaded.product}: {plan.seats_added} seat{'s' if plan.seats_added != 1 else ''} "
        f"added ({sub.quantity} -> {plan.quantity_now}), rest of the billing period"
    )


def _record(
    context: df.DurableOrchestrationContext,
    change_id: str,
    status: ChangeStatus,
    *,
    step: str,
    **fields: Any,
) -> Generator[Any, Any, LicenceChange | None]:
    outcome = yield from run(
        context,
        record_licence_change,
        RecordChange(
            step_key=step_key(context, f"record-{step}"),
            change_id=change_id,
            status=status,
            at=context.current_utc_datetime,
            **fields,
        ),
    )
    return outcome.value.change if outcome.ok and outcome.value is not None else None


def _notify(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    step: str,
    notice: Any,
    *,
    partner: bool = False,
) -> Generator[Any, Any, None]:
    """One notice, exactly once per step; to the partner's approvers, or to the customer's
    contacts. A notice that cannot be delivered does not undo the change."""
    yield from run(
        context,
        send_notice,
        SendNotice(
            step_key=step_key(context, step),
            notice=notice,
            customer_id=None if partner else loaded.change.customer_id,
            contacts=() if partner else loaded.contacts,
        ),
    )
    return None


def _clock(
    context: df.DurableOrchestrationContext,
    loaded: ChangeContext,
    action: SlaAction,
    step: str,
    *,
    at: datetime,
) -> Generator[Any, Any, None]:
    yield from run(
        context,
        signal_sla_clock,
        SignalClock(
            step_key=step_key(context, step),
            signal=SlaSignal(
                action=action,
                kind="licence_change",
                subject_id=loaded.change.id,
                at=at,
                customer_id=loaded.change.customer_id,
            ),
        ),
    )
    return None


def _progress(
    context: df.DurableOrchestrationContext, change_id: str, status: ChangeStatus, step: str
) -> None:
    set_status(context, ChangeProgress(change_id=change_id, status=status, step=step))


def _describe(failure: Failure | None) -> str:
    return failure.describe() if failure is not None else "no answer"
