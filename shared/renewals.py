"""Renewals as the book holds them, for the renewal workflow's activities and the renewal
API alike: the rules in force (offsets from the settings), what cspflow knows about the
customer, the partner's price for the next term, the view of one renewal, and recording a
decision (docs/renewals.md).

The rules themselves are pure, in shared/policy/renewal.py; this module reads the book."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

from shared.book import Book
from shared.config import Settings
from shared.models import Customer, SubscriptionRecord
from shared.models.money import Money
from shared.models.renewal import (
    DecisionRequest,
    NextTermChange,
    Renewal,
    RenewalDecidedBy,
    RenewalDecision,
    RenewalView,
    renewal_id,
)
from shared.models.subscription import Subscription
from shared.policy.pricing import BelowCostError, sell_price
from shared.policy.renewal import (
    DEFAULT_RULES,
    AnswerTaken,
    NextTerm,
    RenewalContext,
    RenewalRules,
    decision_deadline,
    next_term,
    outcome_without_answer,
    renewal_lock_at,
    take_answer,
)

DAY = timedelta(days=1)
CHOICES: dict[str, RenewalDecision] = {
    "renew": "renew",
    "change": "renew_with_changes",
    "cancel": "turn_off_auto_renew",
}


def rules_of(settings: Settings) -> RenewalRules:
    """The renewal rules with the partner's reminder offsets."""
    return replace(
        DEFAULT_RULES,
        long_term_offsets=tuple(d * DAY for d in settings.renewal_reminder_days),
        monthly_offsets=tuple(d * DAY for d in settings.renewal_monthly_reminder_days),
    )


def day_of(term_end: datetime) -> str:
    return f"{term_end:%Y%m%d}"


def id_of(renewal: Renewal) -> str:
    return renewal_id(renewal.subscription_id, day_of(renewal.term_end))


def context_of(book: Book, customer_id: str, renewal: Renewal | None = None) -> RenewalContext:
    """What the policy knows of the customer: in dunning, a change asked, and its own
    reminder offsets when its record has them (docs/rules.md#reminder-cadence)."""
    found = book.customers.find(customer_id)
    days = None if found is None else found.record.renewal_reminder_days
    return RenewalContext(
        customer_in_dunning=book.dunning.customer_in_dunning(customer_id),
        change_requested=renewal is not None and renewal.decision == "renew_with_changes",
        reminder_offsets=None if days is None else tuple(timedelta(days=d) for d in days),
    )


def planned_next_term(sub: Subscription, renewal: Renewal | None) -> NextTerm:
    """The next term: Partner Center's scheduled instructions or the current plan, with a
    recorded change decision over it (what the customer will get once it is applied)."""
    plan = next_term(sub)
    if renewal is None or renewal.decision is None:
        return plan
    if renewal.decision in ("turn_off_auto_renew", "expire"):
        return replace(plan, renews=False)
    renews = sub.status == "active"
    change = renewal.change
    if change is None:
        return replace(plan, renews=renews)
    return replace(
        plan,
        renews=renews,
        scheduled=True,
        catalog_item_id=change.offer_id or plan.catalog_item_id,
        term_duration=change.term_duration or plan.term_duration,
        billing_cycle=change.billing_cycle or plan.billing_cycle,
        quantity=change.quantity or plan.quantity,
    )


def next_term_price(
    book: Book, customer: Customer, record: SubscriptionRecord, term: NextTerm
) -> Money | None:
    """The partner's sell price for the next term, per billing period for all its seats,
    from the customer's price list in force; this term's price when the catalogue or the list
    cannot say; None when neither is known."""
    unit: Money | None = None
    if customer.country is not None:
        offer = book.offers.find(
            customer.country,
            customer.billing_currency,
            term.catalog_item_id,
            term.term_duration,
            term.billing_cycle,
        )
        listed = (
            book.price_lists.find(customer.price_list_id or "standard", customer.billing_currency)
            if offer is not None
            else None
        )
        if offer is not None and listed is not None:
            try:
                unit = sell_price(
                    listed.record,
                    cost=offer.unit_cost,
                    offer_key=offer.key,
                    family=offer.family,
                    customer_id=customer.id,
                ).price
            except BelowCostError:
                unit = None
    if unit is None:
        unit = record.unit_price
    return None if unit is None else unit * term.quantity


def no_answer_text(sub: Subscription, ctx: RenewalContext) -> str:
    default = outcome_without_answer(sub, ctx)
    return {
        "renew": "it renews as it is",
        "renew_with_changes": "it renews with the changes already scheduled",
        "turn_off_auto_renew": "auto-renew is turned off before the lock: it ends at term end",
        "expire": "it ends at term end",
    }[default.action]


def view_of(
    book: Book, renewal: Renewal, record: SubscriptionRecord, rules: RenewalRules
) -> RenewalView:
    sub = record.subscription
    customer = book.customers.get(renewal.customer_id).record
    term = planned_next_term(sub, renewal)
    state: Literal["undecided", "decided", "closed"] = (
        "closed"
        if renewal.outcome is not None
        else "decided"
        if renewal.decision is not None
        else "undecided"
    )
    return RenewalView(
        renewal_id=id_of(renewal),
        customer_id=renewal.customer_id,
        subscription_id=renewal.subscription_id,
        product=(sub.friendly_name or sub.offer_name or sub.offer_id)[:200],
        quantity=sub.quantity,
        term_duration=sub.term_duration,
        term_end=renewal.term_end,
        auto_renew=sub.auto_renew_enabled,
        decision_deadline=decision_deadline(sub, rules),
        renewal_lock=renewal_lock_at(sub, rules),
        next_term_price=next_term_price(book, customer, record, term) if term.renews else None,
        no_answer=no_answer_text(sub, context_of(book, renewal.customer_id)),
        state=state,
        decision=renewal.decision,
        decided_by=renewal.decided_by,
        decided_at=renewal.decided_at,
        change=renewal.change,
        applied=renewal.applied,
        refused=renewal.refused,
        outcome=renewal.outcome,
    )


def record_decision(
    book: Book,
    renewal: Renewal,
    record: SubscriptionRecord,
    request: DecisionRequest,
    *,
    by: RenewalDecidedBy,
    now: datetime,
    rules: RenewalRules,
    link_id: str | None = None,
) -> tuple[AnswerTaken, Renewal]:
    """Take the decision if the renewal still takes one (shared/policy/renewal.take_answer),
    recording it in the book; the answer and the renewal as it now stands. A link decides
    once: a second decision through the same link is refused by the caller before this."""
    decision = CHOICES[request.choice]
    answer = take_answer(record.subscription, decision, now, rules)  # type: ignore[arg-type]
    if not answer.accepted or renewal.outcome is not None:
        if renewal.outcome is not None:
            answer = AnswerTaken(False, f"this renewal is over: {renewal.outcome}", "renewal-lock")
        return answer, renewal
    change = (
        NextTermChange(
            quantity=request.quantity,
            offer_id=request.offer_id,
            term_duration=request.term_duration,
            billing_cycle=request.billing_cycle,
        )
        if decision == "renew_with_changes"
        else None
    )

    def decide(current: Renewal) -> Renewal:
        return Renewal.model_validate(
            current.model_dump()
            | {
                "decision": decision,
                "decided_at": now,
                "decided_by": by,
                "change": change,
                "decisions": current.decisions + 1,
                "used_links": current.used_links + ((link_id,) if link_id else ()),
                "applied_at": None,
                "applied": None,
                "refused": None,
            }
        )

    stored = book.renewals.update(renewal.subscription_id, renewal.term_end, decide)
    return answer, stored.record
