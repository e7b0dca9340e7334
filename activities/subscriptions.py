"""Partner Center subscription operations as activities: one side effect (or one fresh read)
each, for every workflow that changes a subscription (licence changes, renewals, dunning).

Reads (no step key):
- `read_subscription`: the subscription as Partner Center has it now. Its
  `refundableQuantity`, `cancellationAllowedUntilDate` and `commitmentEndDateTime` win over
  the book and over our own arithmetic (docs/rules.md#partner-center-dates-win), so a
  workflow decides on this read, never on the book's copy.
- `read_transition_eligibilities`: the offers Partner Center lets the subscription move to
  now (Microsoft Learn, transition-a-new-commerce-subscription).
- `read_transition`: a transition's state by its operation id and, once completed, the
  subscription the seats moved into (a partial upgrade's new subscription), read fresh so
  the book records it when the transition completes.

Writes (a `WriteInput` each; every Partner Center write sends `MS-RequestId` derived from the
step key, so a retried step, a replayed orchestration or a restarted host is answered the
first result instead of acting twice, docs/architecture.md "Exactly once"):
- `set_quantity`, `set_auto_renew`, `schedule_next_term` (or clear it), `suspend_subscription`,
  `reactivate_subscription`, `cancel_subscription`: a PATCH of the full resource with one
  change (shared/partner_center/client.py), answered with the subscription as it is after it;
- `transition_subscription`: an upgrade now, full or partial.

What the caller branches on:
- Partner Center's refusal (4xx) is a permanent failure whose `code` is Microsoft's error code
  (`800090` seats outside their window, `2001` suspended, `2011` deleted, ...): the answer,
  not retried.
- 409 `800082` (the renewal is being processed, docs/rules.md#renewal-processing) is a
  permanent failure with code `renewal_processing`: the workflow holds the change on a durable
  timer and decides again on a fresh read once the renewal is done (the term, and so the
  windows, will have changed), rather than retrying a request decided on the old term.
- 429, 5xx, timeouts, a lost answer: transient, re-raised for the retry policy; the retry
  sends the same `MS-RequestId`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import azure.durable_functions as df
from pydantic import Field

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from shared.errors import PermanentError
from shared.models import DomainModel, Subscription
from shared.models.subscription import ScheduledNextTermInstructions
from shared.partner_center import PartnerCenterClient, RenewalProcessingError
from shared.partner_center.models import Transition, TransitionEligibility, TransitionRequest

bp = df.Blueprint()

RENEWAL_PROCESSING = "renewal_processing"


class RenewalInProgress(PermanentError):
    """Partner Center is processing the subscription's renewal (409 800082): hold the change
    and decide again after it (docs/rules.md#renewal-processing)."""

    code = RENEWAL_PROCESSING


class SubscriptionRef(DomainModel):
    """Which subscription: the customer's tenant id and the subscription id."""

    customer_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)


class SubscriptionWrite(WriteInput):
    customer_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)


class SetQuantity(SubscriptionWrite):
    """Seats up at any time; down only for seats still inside their own window
    (docs/rules.md#remove-seats): else Partner Center answers 800090."""

    quantity: int = Field(ge=1)


class SetAutoRenew(SubscriptionWrite):
    enabled: bool


class ScheduleNextTerm(SubscriptionWrite):
    """What the subscription becomes at renewal; None clears what was scheduled."""

    instructions: ScheduledNextTermInstructions | None


class Reactivate(SubscriptionWrite):
    # Suspension turned auto-renew off; reactivation sends it again (docs/rules.md#reactivate).
    auto_renew: bool


class TransitionSubscription(SubscriptionWrite):
    """An upgrade now: `quantity` seats move to `to_catalog_item_id`; all of them (a full
    transition, in place) or some (a partial one, into a new or an existing subscription)."""

    to_catalog_item_id: str = Field(min_length=1, max_length=200)
    quantity: int = Field(ge=1)
    transition_type: Literal["transition_only", "transition_with_license_transfer"] = (
        "transition_only"
    )
    to_subscription_id: str | None = Field(default=None, min_length=1, max_length=64)


class SubscriptionState(DomainModel):
    """The subscription as Partner Center answered, after the read or the write."""

    subscription: Subscription


class Eligibilities(DomainModel):
    targets: tuple[TransitionEligibility, ...]


class TransitionDone(DomainModel):
    transition: Transition


class TransitionRef(SubscriptionRef):
    """A transition of the subscription, by the operation id Partner Center answered."""

    operation_id: str = Field(min_length=1, max_length=100)


class TransitionResult(DomainModel):
    """The transition as Partner Center lists it (None: not listed yet); once `completed`,
    the subscription the seats moved into."""

    transition: Transition | None
    completed: bool
    to_subscription: Subscription | None = None


def _client(ctx: ActivityContext) -> PartnerCenterClient:
    return per_settings("partner_center", ctx.settings, PartnerCenterClient.from_settings)


@contextmanager
def _renewal_held() -> Iterator[None]:
    """Partner Center's 409 for renewal processing, as the permanent failure a workflow holds
    its change on (and decides again after), with the wait Partner Center asked for."""
    try:
        yield
    except RenewalProcessingError as exc:
        held = RenewalInProgress(f"renewal processing: {exc}")
        held.retry_after_s = exc.retry_after_s  # type: ignore[attr-defined]
        raise held from None


@activity(bp)
def read_subscription(ref: SubscriptionRef, ctx: ActivityContext) -> SubscriptionState:
    """The subscription as Partner Center has it now."""
    client = _client(ctx)
    return SubscriptionState(
        subscription=client.get_subscription(ref.customer_id, ref.subscription_id)
    )


@activity(bp)
def read_transition_eligibilities(ref: SubscriptionRef, ctx: ActivityContext) -> Eligibilities:
    """The offers the subscription may move to now (immediate eligibility)."""
    targets = _client(ctx).transition_eligibilities(ref.customer_id, ref.subscription_id)
    return Eligibilities(targets=tuple(targets))


@activity(bp)
def read_transition(ref: TransitionRef, ctx: ActivityContext) -> TransitionResult:
    """The transition's state and, once it completed, its target subscription read fresh
    (Partner Center answers a transition `Started`; its record turns `Completed`)."""
    client = _client(ctx)
    listed = client.transitions(ref.customer_id, ref.subscription_id, ref.operation_id)
    transition = next((t for t in listed if t.operation_id == ref.operation_id), None)
    if transition is None or transition.status.lower() != "completed":
        return TransitionResult(transition=transition, completed=False)
    target = transition.to_subscription_id or ref.subscription_id
    return TransitionResult(
        transition=transition,
        completed=True,
        to_subscription=client.get_subscription(ref.customer_id, target),
    )


@activity(bp)
def set_quantity(change: SetQuantity, ctx: ActivityContext) -> SubscriptionState:
    with _renewal_held():
        subscription = _client(ctx).set_quantity(
            change.customer_id,
            change.subscription_id,
            change.quantity,
            request_id=ctx.request_id("set-quantity"),
        )
    return SubscriptionState(subscription=subscription)


@activity(bp)
def set_auto_renew(change: SetAutoRenew, ctx: ActivityContext) -> SubscriptionState:
    with _renewal_held():
        subscription = write_auto_renew(
            ctx, change.customer_id, change.subscription_id, change.enabled
        )
    return SubscriptionState(subscription=subscription)


@activity(bp)
def schedule_next_term(change: ScheduleNextTerm, ctx: ActivityContext) -> SubscriptionState:
    with _renewal_held():
        subscription = _client(ctx).schedule_next_term(
            change.customer_id,
            change.subscription_id,
            change.instructions,
            request_id=ctx.request_id("schedule-next-term"),
        )
    return SubscriptionState(subscription=subscription)


@activity(bp)
def suspend_subscription(change: SubscriptionWrite, ctx: ActivityContext) -> SubscriptionState:
    with _renewal_held():
        subscription = write_suspend(ctx, change.customer_id, change.subscription_id)
    return SubscriptionState(subscription=subscription)


@activity(bp)
def reactivate_subscription(change: Reactivate, ctx: ActivityContext) -> SubscriptionState:
    with _renewal_held():
        subscription = write_reactivate(
            ctx, change.customer_id, change.subscription_id, auto_renew=change.auto_renew
        )
    return SubscriptionState(subscription=subscription)


@activity(bp)
def cancel_subscription(change: SubscriptionWrite, ctx: ActivityContext) -> SubscriptionState:
    with _renewal_held():
        subscription = write_cancel(ctx, change.customer_id, change.subscription_id)
    return SubscriptionState(subscription=subscription)


@activity(bp)
def transition_subscription(change: TransitionSubscription, ctx: ActivityContext) -> TransitionDone:
    request = TransitionRequest(
        to_catalog_item_id=change.to_catalog_item_id,
        quantity=change.quantity,
        transition_type=change.transition_type,
        to_subscription_id=change.to_subscription_id,
    )
    with _renewal_held():
        transition = _client(ctx).transition(
            change.customer_id,
            change.subscription_id,
            request,
            request_id=ctx.request_id("transition"),
        )
    return TransitionDone(transition=transition)


# -- the writes themselves ---------------------------------------------------------------------
# Each Partner Center subscription write the activities above make, in one place, for a step
# that makes several (dunning suspends, reactivates, cancels or turns off auto-renew for every
# subscription of a customer in one step: activities/dunning.py). `operation` names the write
# within its step (its `MS-RequestId` is derived from the step key and it). The 409 of a
# renewal being processed comes out as `RenewalProcessingError` (transient); the activities
# above turn it into the held `RenewalInProgress`, a caller that can simply wait retries the
# step with the same request ids.


def write_auto_renew(
    ctx: ActivityContext,
    customer_id: str,
    subscription_id: str,
    enabled: bool,
    *,
    operation: str = "set-auto-renew",
) -> Subscription:
    return _client(ctx).set_auto_renew(
        customer_id, subscription_id, enabled, request_id=ctx.request_id(operation)
    )


def write_suspend(
    ctx: ActivityContext, customer_id: str, subscription_id: str, *, operation: str = "suspend"
) -> Subscription:
    return _client(ctx).suspend(customer_id, subscription_id, request_id=ctx.request_id(operation))


def write_reactivate(
    ctx: ActivityContext,
    customer_id: str,
    subscription_id: str,
    *,
    auto_renew: bool,
    operation: str = "reactivate",
) -> Subscription:
    return _client(ctx).reactivate(
        customer_id, subscription_id, auto_renew=auto_renew, request_id=ctx.request_id(operation)
    )


def write_cancel(
    ctx: ActivityContext, customer_id: str, subscription_id: str, *, operation: str = "cancel"
) -> Subscription:
    return _client(ctx).cancel(customer_id, subscription_id, request_id=ctx.request_id(operation))
