"""The licence change orchestrators, driven as generators (tests/orchestrator_driver.py) over a
small fake world (one subscription in Partner Center, one Stripe customer, the book's change):
what each plan does, in which order, with which step keys; and the subscription's queue,
one change at a time. The same orchestrators run on devhost with the real activities and
sandboxes in tests/e2e/test_licence_changes.py. Rules: docs/rules.md#change-order and the
NCE rules each test names."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from activities.licence_change import ChangeContext, NextChange, Recorded, Thresholds
from activities.subscriptions import SubscriptionState
from shared.errors import Failure
from shared.models import Money, Subscription
from shared.models.licence_change import LicenceChange
from shared.payments.models import Decline, Invoice
from tests.orchestrator_driver import (
    T0,
    Event,
    SubOrchestrationFailed,
    drive,
    refused,
    retries_spent,
    succeeded,
)
from workflows.licence_change import (
    APPROVAL,
    MAX_HOLDS,
    WAKE,
    change_instance_id,
    licence_change,
    licence_change_queue,
)

D = timedelta(days=1)
H = timedelta(hours=1)
BOUGHT = T0 - 2 * D  # two days ago: the seats are inside their window
PRICE = Money(amount_minor=3000, currency="USD")
CUS = "cus_Tania0001"
INSTANCE = change_instance_id("chg-1")


def subscription(quantity: int = 10, bought=BOUGHT, **overrides: Any) -> Subscription:
    until = bought + 168 * H
    data: dict[str, Any] = {
        "id": "sub-1",
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "offerName": "Microsoft 365 Business Basic",
        "quantity": quantity,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "effectiveStartDate": bought.isoformat(),
        "commitmentEndDate": (bought + 364 * D).date().isoformat() + "T00:00:00Z",
        "cancellationAllowedUntilDate": until.isoformat(),
        "refundableQuantity": {
            "totalQuantity": quantity,
            "details": [{"quantity": quantity, "allowedUntilDateTime": until.isoformat()}],
        },
    }
    data.update(overrides)
    return Subscription.model_validate(data)


def change(**overrides: Any) -> LicenceChange:
    data: dict[str, Any] = {
        "id": "chg-1",
        "customer_id": "c-1",
        "subscription_id": "sub-1",
        "kind": "quantity",
        "quantity": 12,
        "requested_by": "tania@contoso.example",
        "requested_at": T0 - timedelta(minutes=1),
    }
    return LicenceChange.model_validate(data | overrides)


def invoice(status: str = "paid", amount: int = 6000) -> Invoice:
    return Invoice.model_validate(
        {
            "id": "in_1",
            "customer_id": CUS,
            "status": status,
            "number": "INV-1",
            "currency": "usd",
            "total": amount,
            "amount_due": amount,
            "amount_paid": amount if status == "paid" else 0,
            "amount_remaining": 0 if status == "paid" else amount,
            "attempted": True,
            "next_payment_attempt": None,
            "hosted_invoice_url": None,
            "created": 1_790_000_000,
            "metadata": {},
        }
    )


class World:
    """Partner Center's subscription, the book's change, what Stripe was asked."""

    def __init__(self, sub: Subscription, the_change: LicenceChange, **context: Any) -> None:
        self.sub = sub
        self.change = the_change
        self.context = context
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.statuses: list[str] = []
        self.reasons: list[str] = []
        self.notices: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self.clock: list[str] = []

    def loaded(self, _: Any) -> dict[str, Any]:
        ctx = ChangeContext(
            change=self.change,
            tenant_id="7c6c4c1e-0000-4000-8000-000000000001",
            company_name="Contoso",
            currency="USD",
            stripe_customer_id=self.context.get("stripe", CUS),
            charge_automatically=True,
            days_until_due=None,
            contacts=(),
            unit_price=self.context.get("price", PRICE),
            product="Microsoft 365 Business Basic",
            seat_batches=(),
            thresholds=Thresholds(
                seats_added=self.context.get("seats_limit", 50),
                amount_minor=None,
                cancellation=self.context.get("approve_cancel", False),
                reminder_hours=24,
                timeout_hours=72,
            ),
            approval_url="http://127.0.0.1:7071/approvals",
            target_unit_price=self.context.get("target_price"),
            quantity=self.sub.quantity,
        )
        return succeeded(ctx)

    def read(self, _: Any) -> dict[str, Any]:
        return succeeded(SubscriptionState(subscription=self.sub))

    def record(self, data: dict[str, Any]) -> dict[str, Any]:
        self.records.append(data)
        update = {
            k: v
            for k, v in data.items()
            if v is not None
            and k
            not in (
                "step_key",
                "at",
                "subscription",
                "seats_added",
                "change_id",
                "new_subscription",
                "new_unit_price",
                "unit_price",
            )
        }
        self.change = LicenceChange.model_validate(self.change.model_dump(mode="json") | update)
        self.statuses.append(self.change.status)
        self.reasons.append(self.change.reason or "")
        return succeeded(Recorded(change=self.change))

    def patch(self, data: dict[str, Any]) -> Any:
        self.writes.append(("set_quantity", data))
        failure = self.context.get("patch_fails")
        if failure is not None:
            return failure
        self.sub = self.sub.model_copy(update={"quantity": data["quantity"]})
        return succeeded(SubscriptionState(subscription=self.sub))

    def write(self, name: str) -> Any:
        def do(data: dict[str, Any]) -> Any:
            self.writes.append((name, data))
            return succeeded(SubscriptionState(subscription=self.sub))

        return do

    def charge(self, data: dict[str, Any]) -> Any:
        self.writes.append(("charge_lines", data))
        amount = data["lines"][0]["amount"]["amount_minor"]
        if self.context.get("declined"):
            decline = Decline(
                code="card_declined",
                decline_code="insufficient_funds",
                message="Your card has insufficient funds.",
                decline_class="soft",
            )
            return succeeded(
                {
                    "status": "declined",
                    "invoice": invoice("open", amount).model_dump(mode="json"),
                    "decline": decline.model_dump(mode="json"),
                    "payment_intent_id": "pi_1",
                    "attempts": 1,
                }
            )
        return succeeded(
            {
                "status": "paid",
                "invoice": invoice("paid", amount).model_dump(mode="json"),
                "payment_intent_id": "pi_1",
                "attempts": 1,
            }
        )

    def credit(self, data: dict[str, Any]) -> Any:
        self.writes.append(("credit_invoice", data))
        amount = data["amount"]
        return succeeded(
            {
                "credit_note_id": "cn_1",
                "number": "CN-1",
                "amount": amount,
                "type": "post_payment",
                "refund_ids": ["re_1"],
            }
        )

    def refund(self, data: dict[str, Any]) -> Any:
        self.writes.append(("refund_payment", data))
        return succeeded(
            {
                "refund_id": "re_9",
                "amount": {"amount_minor": 1, "currency": "USD"},
                "status": "succeeded",
            }
        )

    def notice(self, data: dict[str, Any]) -> Any:
        self.notices.append(data["notice"]["kind"])
        self.sent.append(data["notice"])
        return succeeded({"key": data["step_key"], "kind": data["notice"]["kind"]})

    def signal(self, data: dict[str, Any]) -> Any:
        self.clock.append(data["signal"]["action"])
        return succeeded({"queue": "cspflow-sla-signals", "clock_id": "sla-licence_change-chg-1"})

    def outcomes(self) -> dict[str, Any]:
        return {
            "load_licence_change": self.loaded,
            "read_subscription": self.read,
            "record_licence_change": self.record,
            "set_quantity": self.patch,
            "schedule_next_term": self.write("schedule_next_term"),
            "set_auto_renew": self.write("set_auto_renew"),
            "cancel_subscription": self.write("cancel_subscription"),
            "charge_lines": self.charge,
            "credit_invoice": self.credit,
            "refund_payment": self.refund,
            "find_creditable_invoice": lambda _: succeeded({"invoice_id": "in_0"}),
            "send_notice": self.notice,
            "signal_sla_clock": self.signal,
        }

    def drive(self, **context: Any) -> Any:
        return drive(
            licence_change,
            self.outcomes(),
            input={"change_id": "chg-1"},
            instance_id=INSTANCE,
            **context,
        )

    @property
    def steps(self) -> list[str]:
        return [name for name, _ in self.writes]


def test_seats_up_are_charged_first_then_patched_and_the_customer_told():
    # docs/rules.md#add-seats, #seat-increase-charge: 2 seats, 28 of 30 days of $30.
    world = World(subscription(), change(quantity=12))
    run = world.drive()
    assert run.output == {"change_id": "chg-1", "status": "applied"}
    assert world.steps == ["charge_lines", "set_quantity"]
    charge = world.writes[0][1]
    assert charge["lines"][0]["amount"] == {"amount_minor": 5600, "currency": "USD"}
    assert charge["step_key"] == f"{INSTANCE}/charge"
    assert world.writes[1][1]["step_key"] == f"{INSTANCE}/patch"
    assert world.change.charge == Money(amount_minor=5600, currency="USD")
    assert (world.change.quantity_before, world.change.quantity_after) == (10, 12)
    assert world.statuses[-1] == "applied" and world.notices == ["licence_change_applied"]
    assert world.clock == ["start", "met"]


def test_a_declined_card_applies_no_seats_and_says_why():
    world = World(subscription(), change(quantity=12), declined=True)
    assert world.drive().output["status"] == "failed"
    assert world.steps == ["charge_lines"]
    assert "insufficient funds" in (world.change.reason or "")
    assert world.notices == ["licence_change_not_applied"] and world.clock == ["start", "cancel"]
    told = world.sent[0]
    assert (told["reason"], told["change"], told["from_quantity"], told["to_quantity"]) == (
        "card_declined",
        "quantity",
        10,
        12,
    )
    assert told["refunded"] is None and told["note"] is None  # no external error text


@pytest.mark.parametrize(
    "patch_fails",
    [
        refused(Failure(kind="permanent", error_type="BusinessError", code="2002", message="no")),
        retries_spent(
            Failure(kind="transient", error_type="RetryableError", code="503", message="x")
        ),
    ],
)
def test_a_patch_that_fails_for_good_is_refunded(patch_fails):
    world = World(subscription(), change(quantity=12), patch_fails=patch_fails)
    assert world.drive().output["status"] == "failed"
    assert world.steps == ["charge_lines", "set_quantity", "refund_payment"]
    assert world.writes[2][1] == {
        "step_key": f"{INSTANCE}/refund",
        "payment_intent_id": "pi_1",
        "amount": None,
    }
    assert "refunded" in (world.change.reason or "")
    (told,) = world.sent
    assert (told["kind"], told["reason"]) == ("licence_change_not_applied", "partner_refused")
    assert told["refunded"] == {"amount_minor": 5600, "currency": "USD"}


STRIPE_DOWN = Failure(kind="transient", error_type="RetryableError", code="503", message="down")
PC_DOWN = Failure(kind="transient", error_type="RetryableError", code="503", message="down")


@pytest.mark.parametrize(
    ("context", "outcomes", "reason"),
    [
        # Partner Center could not be read: nothing decided, nothing done.
        ({}, {"read_subscription": retries_spent(PC_DOWN)}, "provider_error"),
        # The charge could not be made (Stripe unavailable past the retries): no seats.
        ({}, {"charge_lines": retries_spent(STRIPE_DOWN)}, "payment_failed"),
        # The book has no sell price, or no Stripe customer, for the subscription.
        ({"price": None}, {}, "partner_setup"),
        ({"stripe": None}, {}, "partner_setup"),
    ],
)
def test_a_seat_increase_that_cannot_be_charged_or_decided_is_not_made_and_says_why(
    context, outcomes, reason
):
    world = World(subscription(), change(quantity=12), **context)
    run = drive(licence_change, world.outcomes() | outcomes, input={"change_id": "chg-1"},
                instance_id=INSTANCE)  # fmt: skip
    assert run.output["status"] == "failed"
    assert "set_quantity" not in world.steps
    (told,) = world.sent
    assert (told["kind"], told["reason"], told["refunded"]) == (
        "licence_change_not_applied",
        reason,
        None,
    )


def test_a_write_refused_for_renewal_processing_tells_the_customer_to_ask_in_the_new_term():
    # docs/rules.md#renewal-processing: 409 800082 answered to the PATCH of a decrease.
    processing = refused(
        Failure(kind="permanent", error_type="BusinessError", code="renewal_processing",
                message="800082")
    )  # fmt: skip
    world = World(subscription(), change(quantity=8), patch_fails=processing)
    assert world.drive().output["status"] == "failed"
    assert world.steps == ["set_quantity"]
    (told,) = world.sent
    assert (told["kind"], told["reason"]) == ("licence_change_not_applied", "renewal_processing")


def test_a_change_the_fresh_read_refuses_is_not_made_and_the_rule_is_given():
    # docs/rules.md#remove-seats: a subscription keeps at least one seat (the API checked
    # the book's copy; Partner Center's read is what decides).
    world = World(subscription(quantity=1), change(quantity=None, change_by=-1))
    assert world.drive().output["status"] == "rejected"
    assert world.steps == []
    (told,) = world.sent
    assert (told["kind"], told["reason"]) == ("licence_change_not_applied", "not_allowed")
    assert told["note"] == world.change.reason and told["note"]


def test_a_change_held_past_its_last_renewal_wait_fails_and_says_the_renewal_stopped_it():
    # docs/rules.md#renewal-processing: a renewal that never finishes (Partner Center keeps
    # the old term) ends the change after MAX_HOLDS waits, never silently.
    stuck = subscription(bought=T0 - 366 * D, quantity=10)
    world = World(stuck, change(quantity=12))
    run = world.drive()
    assert run.output["status"] == "failed"
    assert len(run.timers) == MAX_HOLDS and world.steps == []
    (told,) = world.sent
    assert (told["kind"], told["reason"]) == ("licence_change_not_applied", "renewal_processing")


def test_a_lost_patch_answer_that_did_apply_is_not_refunded():
    # The PATCH went through but its answer was lost: Partner Center's read decides.
    world = World(subscription(), change(quantity=12))
    lost = retries_spent(
        Failure(kind="transient", error_type="RetryableError", code="504", message="lost")
    )

    def patch(data: dict[str, Any]) -> Any:
        world.writes.append(("set_quantity", data))
        world.sub = world.sub.model_copy(update={"quantity": data["quantity"]})
        return lost

    outcomes = world.outcomes() | {"set_quantity": patch}
    run = drive(licence_change, outcomes, input={"change_id": "chg-1"}, instance_id=INSTANCE)
    assert run.output["status"] == "applied"
    assert world.steps == ["charge_lines", "set_quantity"]


def test_seats_down_inside_their_window_are_patched_then_credited():
    # docs/rules.md#seat-windows, #seat-decrease-refund: 2 seats, 28 of 30 days.
    world = World(subscription(), change(quantity=8))
    assert world.drive().output["status"] == "applied"
    assert world.steps == ["set_quantity", "credit_invoice"]
    credit = world.writes[1][1]
    assert credit["amount"] == {"amount_minor": 5600, "currency": "USD"}
    assert credit["invoice_id"] == "in_0" and credit["refund"] is True
    assert world.change.charge == Money(amount_minor=-5600, currency="USD")
    assert world.change.credit_note_id == "cn_1" and world.change.refund_id == "re_1"
    assert "can be removed until" in (world.change.reason or "")


def test_seats_down_outside_their_window_are_scheduled_for_the_next_term_without_credit():
    # docs/rules.md#remove-seats: day 9.
    world = World(subscription(bought=T0 - 9 * D), change(quantity=8))
    assert world.drive().output["status"] == "scheduled_for_next_term"
    assert world.steps == ["schedule_next_term"]
    instructions = world.writes[0][1]["instructions"]
    assert instructions["quantity"] == 8 and instructions["product"]["skuId"] == "0001"
    assert world.change.charge is None and world.change.effective_at == world.sub.term_end
    assert world.notices == ["licence_change_scheduled"]


def test_a_cancellation_inside_the_window_is_applied_and_refunded():
    # docs/rules.md#cancellation-window
    world = World(subscription(), change(kind="cancel", quantity=None))
    assert world.drive().output["status"] == "applied"
    assert world.steps == ["cancel_subscription", "credit_invoice"]
    assert world.writes[1][1]["amount"] == {"amount_minor": 28000, "currency": "USD"}


def test_auto_renew_off_is_applied():
    world = World(subscription(), change(kind="auto_renew", quantity=None, auto_renew=False))
    assert world.drive().output["status"] == "applied"
    assert world.steps == ["set_auto_renew"]
    assert world.writes[0][1]["enabled"] is False


def test_a_change_during_renewal_processing_is_held_then_decided_on_the_new_term():
    # docs/rules.md#renewal-processing: read at term end + 1 h, held until term end + 24 h.
    sub = subscription(bought=T0 - 365 * D + H, quantity=10)
    world = World(sub, change(quantity=12))
    reads = [sub, subscription(bought=sub.term_end + H, quantity=10)]

    def read(_: Any) -> Any:
        return succeeded(
            SubscriptionState(subscription=reads.pop(0) if len(reads) > 1 else reads[0])
        )

    run = drive(
        licence_change,
        world.outcomes() | {"read_subscription": read},
        input={"change_id": "chg-1"},
        instance_id=INSTANCE,
    )
    assert run.output["status"] == "applied"
    assert run.timers and run.timers[0] == sub.term_end + 24 * H
    assert world.statuses[0] == "applying" and world.reasons[0].startswith("held until")
    assert world.steps == ["charge_lines", "set_quantity"]


def test_a_large_change_waits_for_approval_and_applies_once_approved():
    # docs/rules.md#change-approval
    world = World(subscription(), change(quantity=70), seats_limit=50)
    approval = Event(T0 + 2 * H, APPROVAL, {"decision": "approve", "by": "steven"})
    run = world.drive(events=[approval])
    assert run.output["status"] == "applied"
    assert world.statuses[0] == "pending_approval"
    assert world.notices == ["approval_requested", "approval_decided", "licence_change_applied"]
    assert world.clock == ["start", "pause", "resume", "met"]
    assert world.change.approval is not None and world.change.approval.decided_by == "steven"


def test_a_rejected_approval_changes_nothing_and_tells_the_customer():
    world = World(subscription(), change(quantity=70), seats_limit=50)
    no = Event(T0 + H, APPROVAL, {"decision": "reject", "by": "steven", "reason": "too many"})
    assert world.drive(events=[no]).output["status"] == "rejected"
    assert world.steps == []
    assert world.notices == ["approval_requested", "licence_change_not_applied"]
    assert world.change.reason == "not approved by steven: too many"
    told = world.sent[-1]
    assert (told["reason"], told["note"]) == ("approval_rejected", "too many")


def test_an_approval_nobody_gives_is_reminded_then_times_out_as_a_rejection():
    world = World(subscription(), change(quantity=70), seats_limit=50)
    run = world.drive()
    assert run.output["status"] == "rejected"
    assert world.notices == [
        "approval_requested",
        "approval_requested",
        "licence_change_not_applied",
    ]
    assert world.sent[-1]["reason"] == "approval_timed_out"
    assert world.change.approval is not None and world.change.approval.timed_out
    assert world.steps == []


def test_a_change_already_final_is_not_done_again():
    world = World(subscription(), change(status="applied", effective_at=T0))
    assert world.drive().output == {"change_id": "chg-1", "status": "applied"}
    assert world.steps == [] and world.clock == []


# -- the queue ----------------------------------------------------------------------------------


def test_the_queue_runs_each_change_to_its_end_before_it_reads_the_next():
    queued = [change(id="chg-1"), change(id="chg-2"), None]
    order: list[str] = []

    def next_change(_: Any) -> Any:
        return succeeded(NextChange(change=queued.pop(0)))

    def sub_orchestration(data: dict[str, Any]) -> Any:
        order.append(data["change_id"])
        return {"change_id": data["change_id"], "status": "applied"}

    outcomes = {"next_licence_change": next_change, "licence_change": sub_orchestration}
    with pytest.raises(AssertionError, match="waits forever"):
        drive(licence_change_queue, outcomes, input={"subscription_id": "sub-1"})
    assert order == ["chg-1", "chg-2"]


def test_the_queue_waits_for_a_wake_when_it_is_empty_and_reads_the_book_again():
    queued: list[Any] = [None, change(id="chg-3"), None]
    order: list[str] = []

    def sub_orchestration(data: dict[str, Any]) -> Any:
        order.append(data["change_id"])
        return {"change_id": data["change_id"], "status": "applied"}

    outcomes = {
        "next_licence_change": lambda _: succeeded(NextChange(change=queued.pop(0))),
        "licence_change": sub_orchestration,
    }
    with pytest.raises(AssertionError, match="waits forever"):
        drive(
            licence_change_queue,
            outcomes,
            input={"subscription_id": "sub-1"},
            events=[Event(T0 + H, WAKE)],
        )
    assert order == ["chg-3"]


def test_a_change_whose_workflow_failed_is_closed_as_failed_and_the_queue_moves_on():
    queued = [change(id="chg-1"), None]
    recorded: list[dict[str, Any]] = []

    def record(data: dict[str, Any]) -> Any:
        recorded.append(data)
        return succeeded(Recorded(change=change(status="failed")))

    world = World(subscription(), change(quantity=12))
    outcomes = {
        "next_licence_change": lambda _: succeeded(NextChange(change=queued.pop(0))),
        "licence_change": SubOrchestrationFailed("boom"),
        "record_licence_change": record,
        "load_licence_change": world.loaded,
        "send_notice": world.notice,
    }
    with pytest.raises(AssertionError, match="waits forever"):
        drive(licence_change_queue, outcomes, input={"subscription_id": "sub-1"})
    assert [r["status"] for r in recorded] == ["failed"]
    # The customer is told it was not made, under a key of the change (the queue outlives it).
    (told,) = world.sent
    assert (told["kind"], told["reason"], told["from_quantity"]) == (
        "licence_change_not_applied",
        "internal",
        10,
    )


def test_a_renewal_that_outlasts_its_24_hours_is_waited_for_not_refused():
    # docs/rules.md#renewal-processing, #stale-copy: an active subscription still on its old
    # term a day after its end is still renewing.
    old = subscription(bought=T0 - 366 * D, quantity=10)
    world = World(old, change(quantity=12))
    reads = [old, subscription(bought=old.term_end + H, quantity=10)]

    def read(_: Any) -> Any:
        return succeeded(
            SubscriptionState(subscription=reads.pop(0) if len(reads) > 1 else reads[0])
        )

    run = drive(licence_change, world.outcomes() | {"read_subscription": read},
                input={"change_id": "chg-1"}, instance_id=INSTANCE)  # fmt: skip
    assert run.output["status"] == "applied"
    assert world.reasons[0].startswith("held until") and "still renewing" in world.reasons[0]


# -- upgrades -----------------------------------------------------------------------------------

E3 = "CFQ7TTC0LF8Q:0001:CFQ7TTC0K39X"
E5 = "CFQ7TTC0LF8R:0001:CFQ7TTC0KCSV"


def test_a_partial_upgrades_new_subscription_is_recorded_once_the_transition_completes():
    # https://learn.microsoft.com/en-us/partner-center/developer/transition-a-new-commerce-subscription:
    # Partner Center answers the transition `Started`; its record turns `Completed`.
    source = subscription(quantity=5, offerId=E3)
    world = World(source, change(kind="upgrade", quantity=2, target_catalog_item_id=E5),
                  target_price=Money(amount_minor=5000, currency="USD"))  # fmt: skip
    new = subscription(quantity=2, id="sub-2", offerId=E5)
    transition = {
        "operationId": "op-1",
        "fromSubscriptionId": "sub-1",
        "toSubscriptionId": "sub-2",
        "toCatalogItemId": E5,
        "quantity": 2,
        "transitionType": "transition_only",
    }
    reads = [
        {"transition": transition | {"status": "Started"}, "completed": False},
        {"transition": transition | {"status": "Completed"}, "completed": True,
         "to_subscription": new.model_dump(mode="json", by_alias=True)},
    ]  # fmt: skip
    asked: list[dict[str, Any]] = []

    def read_transition(data: dict[str, Any]) -> Any:
        asked.append(data)
        return succeeded(reads.pop(0))

    eligible = {"catalogItemId": E5, "eligibilities": [{"isEligible": True}]}
    outcomes = world.outcomes() | {
        "read_transition_eligibilities": lambda _: succeeded({"targets": [eligible]}),
        "transition_subscription": lambda _: succeeded(
            {"transition": transition | {"status": "Started"}}
        ),
        "read_transition": read_transition,
    }
    run = drive(licence_change, outcomes, input={"change_id": "chg-1"}, instance_id=INSTANCE)
    assert run.output["status"] == "applied"
    assert [a["operation_id"] for a in asked] == ["op-1", "op-1"]
    assert len(run.timers) == 1  # read at once, then again after a durable timer
    final = world.records[-1]
    assert final["new_subscription_id"] == "sub-2"
    assert final["new_subscription"]["id"] == "sub-2"
    assert final["new_unit_price"] == {"amount_minor": 5000, "currency": "USD"}
