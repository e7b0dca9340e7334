"""The dunning activities against a real Stripe sandbox, a real Partner Center sandbox, the
mail sandbox and Azurite, each called as the Functions host calls it: a case opened from
Stripe's invoice and its decline, a retry charged once under its key, nothing charged or
mailed after a payment, the card-update link on a hard decline, suspension and reactivation
in Partner Center, auto-renew off and back on, write-off in Stripe, the KPI event, and the
card-expiry notice. docs/rules.md#hard-decline-stop, #paid, #write-off, #card-expiry."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from activities.dunning import (
    charge_dunning_invoice,
    close_dunning_case,
    open_dunning_case,
    reactivate_after_payment,
    refresh_dunning_case,
    send_dunning_notice,
    set_dunning_auto_renew,
    suspend_for_dunning,
    warn_expiring_card,
    write_off_dunning_case,
)
from sandbox.mail.server import MailSandbox
from shared.book import Book
from shared.book.partner_center import apply_partner_center_subscription
from shared.config import get_settings, reset_settings
from shared.models.dunning import DunningCaseRecord
from shared.payments import StripePayments
from shared.policy.dunning import next_retry_at
from tests.sandbox.mail.harness import Inbox
from tests.sandbox.partner_center.harness import Harness
from tests.shared.book.records import customer as book_customer

DAY = timedelta(days=1)


@pytest.fixture
def book(app_env: pytest.MonkeyPatch) -> Iterator[Book]:
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    reset_settings()
    yield Book(get_settings())


@pytest.fixture
def inbox(mail: MailSandbox, app_env: pytest.MonkeyPatch) -> Inbox:
    return Inbox(mail.base_url)


@dataclass
class Case:
    """One customer in the book, Partner Center and Stripe, and an invoice whose first
    charge failed on `card`."""

    customer_id: str
    tenant: str
    subscription_id: str
    stripe_customer: str
    stripe_invoice: str
    failed_at: datetime
    stripe: StripePayments

    @property
    def key(self) -> str:
        return f"dunning-{self.stripe_invoice}"

    def step(self, name: str) -> str:
        return f"{self.key}/{name}"

    def open(self, overdue: bool = False) -> DunningCaseRecord:
        return value(
            open_dunning_case.run(
                {
                    "step_key": self.step("open"),
                    "invoice_id": self.stripe_invoice,
                    "stripe_invoice_id": self.stripe_invoice,
                    "stripe_customer_id": self.stripe_customer,
                    "failed_at": self.failed_at.isoformat(),
                    "overdue": overdue,
                }
            )
        )

    def on_case(self, name: str, at: datetime, **extra: Any) -> dict[str, Any]:
        return {
            "step_key": self.step(name),
            "invoice_id": self.stripe_invoice,
            "at": at.isoformat(),
            **extra,
        }


def notices(inbox: Inbox) -> list[str]:
    """The kinds of the notices the mail sandbox received, oldest first."""
    kinds = [dict(inbox.read(m["id"])["headers"])["X-Cspflow-Notice"] for m in inbox.messages()]
    return list(reversed(kinds)) if kinds else kinds


def value(envelope: dict[str, Any]) -> DunningCaseRecord:
    assert envelope["ok"], envelope
    return DunningCaseRecord.model_validate(envelope["value"])


def make_case(
    book: Book, pc: Harness, card: str, *, with_subscription: bool = True, fail: bool = True
) -> Case:
    tenant = pc.customer()
    sub_id = pc.buy(tenant, quantity=5) if with_subscription else ""
    stripe = StripePayments.from_settings(get_settings())
    customer_id = f"c-{uuid.uuid4().hex[:8]}"
    cus = stripe.create_customer(f"{customer_id}/c", partner_customer_id=customer_id, name="Co")
    book.customers.add(
        book_customer(
            customer_id,
            tenant_id=tenant,
            stripe_customer_id=cus.id,
            contacts=[{"name": "Bea Billing", "email": "bea@contoso.example", "role": "billing"}],
        )
    )
    if with_subscription:
        apply_partner_center_subscription(
            book, customer_id, pc.client.get_subscription(tenant, sub_id)
        )
    stripe.attach_payment_method(f"{customer_id}/pm", cus.id, card)
    if not fail:
        return Case(customer_id, tenant, sub_id, cus.id, "", pc.clock.now(), stripe)
    inv = stripe.create_invoice(f"{customer_id}/i", cus.id, currency="EUR")
    stripe.add_invoice_item(
        f"{customer_id}/i",
        cus.id,
        invoice_id=inv.id,
        amount=3450,
        currency="EUR",
        description="M365",
    )
    stripe.finalize_invoice(f"{customer_id}/i", inv.id)
    first = stripe.pay_invoice(f"{customer_id}/p", inv.id)
    assert first.decline is not None
    return Case(customer_id, tenant, sub_id, cus.id, inv.id, pc.clock.now(), stripe)


def test_a_soft_decline_opens_a_case_and_the_retry_charges_once_under_its_key(book, pc, inbox):
    case = make_case(book, pc, "pm_card_sandbox_decline_first_1_insufficient_funds")
    opened = case.open()
    assert opened.customer_id == case.customer_id and opened.status == "open"
    [first] = opened.case.attempts
    assert first.decline_code == "insufficient_funds"
    assert opened.amount_due is not None and opened.amount_due.amount_minor == 3450
    assert opened.next_step is not None and opened.next_step.action == "send_payment_failed_notice"
    assert case.open() == opened  # a second start meets the same case

    at = case.failed_at + DAY
    charged = value(charge_dunning_invoice.run(case.on_case("charge-2", at, attempt=2)))
    assert charged.case.paid_at == at
    again = value(charge_dunning_invoice.run(case.on_case("charge-2", at, attempt=2)))
    assert again.case.paid_at == at
    # Two charges reached the card: the failure and the retry; never a third.
    assert case.stripe.payment_attempts(case.stripe_invoice) == 2
    assert case.stripe.get_invoice(case.stripe_invoice).status == "paid"
    # Paid: the notice step sends nothing.
    value(send_dunning_notice.run(case.on_case("notice-1", at, number=1)))
    assert inbox.messages() == []
    closed = value(close_dunning_case.run(case.on_case("close", at)))
    assert closed.status == "recovered"
    [kpi] = [
        e
        for e in book.kpi_events.of_month(at, "dunning_recovery").items
        if e.subject_id == case.stripe_invoice
    ]
    assert (kpi.outcome, kpi.dimensions["attempts"], kpi.duration_seconds) == (
        "recovered",
        "2",
        86400,
    )


def test_a_hard_decline_mails_the_pay_link_and_the_card_update_link(book, pc, inbox):
    case = make_case(book, pc, "pm_card_sandbox_fail_after_0_lost_card")
    opened = case.open()
    assert opened.case.attempts[0].decline_code == "lost_card"
    noticed = value(
        send_dunning_notice.run(
            case.on_case("notice-1", case.failed_at, number=1, ask="update_payment_method")
        )
    )
    assert noticed.case.notices_sent == 1 and noticed.first_notice_at == case.failed_at
    [message] = inbox.messages()
    assert message["to"] == ["bea@contoso.example"]
    text = inbox.read(message["id"])["text"]
    hosted = case.stripe.get_invoice(case.stripe_invoice).hosted_invoice_url
    assert hosted and hosted in text
    assert "/c/cs_" in text  # the Checkout (setup mode) page
    # The same step again sends nothing more.
    value(
        send_dunning_notice.run(
            case.on_case("notice-1", case.failed_at, number=1, ask="update_payment_method")
        )
    )
    assert len(inbox.messages()) == 1


def test_a_new_default_card_is_seen_and_a_payment_by_link_closes_the_case(book, pc):
    case = make_case(book, pc, "pm_card_sandbox_fail_after_0_lost_card")
    case.open()
    case.stripe.attach_payment_method(
        f"{case.customer_id}/pm2", case.stripe_customer, "pm_card_visa"
    )
    at = case.failed_at + DAY
    refreshed = value(
        refresh_dunning_case.run(case.on_case("refresh-1", at, reason="card_updated"))
    )
    assert refreshed.case.payment_method_changed_at == at
    assert refreshed.case.payment_method_id != "pm_card_visa"  # the saved PaymentMethod's id
    assert next_retry_at(refreshed.case) == at  # a new card is charged at once
    # Paid out of band: the next refresh (or charge) sees it and charges nothing.
    case.stripe._client.v1.invoices.pay(case.stripe_invoice, {"paid_out_of_band": True})
    charged = value(charge_dunning_invoice.run(case.on_case("charge-2", at, attempt=2)))
    assert charged.case.paid_at == at
    assert case.stripe.payment_attempts(case.stripe_invoice) == 1


def test_another_failure_of_the_invoice_is_recorded_once_as_an_attempt_on_its_card(book, pc):
    case = make_case(book, pc, "pm_card_sandbox_fail_after_0_insufficient_funds")
    opened = case.open()
    assert opened.case.attempts[0].charge_id is not None
    at = case.failed_at + DAY
    # Stripe reports the failure that opened the case again: nothing new.
    same = value(refresh_dunning_case.run(case.on_case("refresh-1", at, reason="payment_failed")))
    assert len(same.case.attempts) == 1
    # The customer tries again on the pay link with the same card and is declined.
    case.stripe.pay_invoice(f"{case.customer_id}/p-link", case.stripe_invoice)
    tried = value(refresh_dunning_case.run(case.on_case("refresh-2", at, reason="payment_failed")))
    assert len(tried.case.attempts) == 2
    second = tried.case.attempts[1]
    assert (second.payment_method_id, second.decline_code) == (
        opened.case.payment_method_id,
        "insufficient_funds",
    )
    assert second.charge_id not in (None, opened.case.attempts[0].charge_id)
    assert tried.history[-1].action == "payment_failed"
    # The same news again (a replay, a duplicate event) records nothing more.
    again = value(refresh_dunning_case.run(case.on_case("refresh-3", at, reason="payment_failed")))
    assert again.case.attempts == tried.case.attempts
    # The case's own retry, declined, is not counted twice when Stripe reports it.
    retried = value(charge_dunning_invoice.run(case.on_case("charge-3", at, attempt=3)))
    reported = value(
        refresh_dunning_case.run(case.on_case("refresh-4", at, reason="payment_failed"))
    )
    assert len(retried.case.attempts) == len(reported.case.attempts) == 3


def test_an_overdue_invoice_opens_a_case_with_no_attempt_and_mails_the_pay_link(book, pc, inbox):
    case = make_case(book, pc, "pm_card_visa", fail=False)
    stripe = case.stripe
    inv = stripe.create_invoice(
        f"{case.customer_id}/sent", case.stripe_customer, currency="EUR", days_until_due=14
    )
    stripe.add_invoice_item(
        f"{case.customer_id}/sent",
        case.stripe_customer,
        invoice_id=inv.id,
        amount=3450,
        currency="EUR",
        description="M365",
    )
    stripe.finalize_invoice(f"{case.customer_id}/sent", inv.id)
    case = dataclasses.replace(case, stripe_invoice=inv.id)
    opened = case.open(overdue=True)
    assert opened.case.overdue and opened.case.attempts == ()
    assert opened.next_step is not None and opened.next_step.action == "send_payment_failed_notice"
    assert opened.amount_due is not None and opened.amount_due.amount_minor == 3450
    noticed = value(send_dunning_notice.run(case.on_case("notice-1", case.failed_at, number=1)))
    assert noticed.case.notices_sent == 1
    # Its own notice: the invoice is overdue (nothing "failed"), with its due date, the pay
    # link and when the suspension comes.
    assert notices(inbox) == ["invoice_overdue"]
    [message] = inbox.messages()
    assert "is overdue" in message["subject"], message
    text = inbox.read(message["id"])["text"]
    hosted = stripe.get_invoice(inv.id).hosted_invoice_url
    assert hosted and hosted in text
    assert "was due on" in text and "suspended" in text
    # Nothing was charged, and nothing will be: the card on file is never used.
    assert stripe.payment_attempts(inv.id) == 0
    assert next_retry_at(noticed.case) is None


def test_suspension_reactivation_and_auto_renew_in_partner_center(book, pc, inbox):
    case = make_case(book, pc, "pm_card_sandbox_fail_after_0_insufficient_funds")
    case.open()
    at = case.failed_at + 10 * DAY
    off = value(set_dunning_auto_renew.run(case.on_case("auto-renew-off-1", at, enabled=False)))
    assert off.case.auto_renew_off and off.auto_renew_turned_off == (case.subscription_id,)
    assert not pc.client.get_subscription(case.tenant, case.subscription_id).auto_renew_enabled
    # The customer is told, once, even when the step runs again.
    again = value(set_dunning_auto_renew.run(case.on_case("auto-renew-off-1", at, enabled=False)))
    assert again.auto_renew_turned_off == (case.subscription_id,)
    assert notices(inbox) == ["auto_renew_off_unpaid"]
    told = inbox.read(inbox.messages()[0]["id"])["text"]
    assert "turned off automatic renewal" in told and "back on" in told

    at += 5 * DAY
    suspended = value(suspend_for_dunning.run(case.on_case("suspend", at)))
    assert suspended.case.suspended
    assert suspended.suspended_subscriptions == (case.subscription_id,)
    read = pc.client.get_subscription(case.tenant, case.subscription_id)
    assert read.status == "suspended"
    assert (
        book.subscriptions.get(case.customer_id, case.subscription_id).record.subscription.status
        == "suspended"
    )
    assert sorted(notices(inbox)) == ["auto_renew_off_unpaid", "suspended"]

    case.stripe._client.v1.invoices.pay(case.stripe_invoice, {"paid_out_of_band": True})
    at += DAY
    paid = value(refresh_dunning_case.run(case.on_case("refresh-2", at, reason="invoice_paid")))
    assert paid.case.paid_at == at
    assert paid.next_step is not None and paid.next_step.action == "reactivate"
    back = value(reactivate_after_payment.run(case.on_case("reactivate", at)))
    assert not back.case.suspended and not back.case.auto_renew_off
    read = pc.client.get_subscription(case.tenant, case.subscription_id)
    assert read.status == "active" and read.auto_renew_enabled  # as before dunning
    assert back.next_step is not None and back.next_step.action == "close"


def test_auto_renew_off_run_again_after_a_host_died_midway_keeps_its_subscriptions_and_tells(
    book, pc, inbox, monkeypatch
):
    # The host dies after Partner Center turned auto-renew off, before the notice and the
    # record: the step run again still knows which subscriptions it turned off (to restore
    # them on payment) and tells the customer, once.
    case = make_case(book, pc, "pm_card_sandbox_fail_after_0_insufficient_funds")
    case.open()
    at = case.failed_at + 10 * DAY
    step = case.on_case("auto-renew-off-1", at, enabled=False)

    def host_dies(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("host killed")

    monkeypatch.setattr("activities.dunning._tell_auto_renew_off", host_dies)
    with pytest.raises(SystemExit):
        set_dunning_auto_renew.run(step)
    assert not pc.client.get_subscription(case.tenant, case.subscription_id).auto_renew_enabled
    assert notices(inbox) == []
    monkeypatch.undo()

    off = value(set_dunning_auto_renew.run(step))
    assert off.case.auto_renew_off and off.auto_renew_turned_off == (case.subscription_id,)
    assert notices(inbox) == ["auto_renew_off_unpaid"]
    assert case.subscription_id in str(off.history[-1].detail)


def test_write_off_marks_the_invoice_uncollectible_and_records_the_amount(book, pc, inbox):
    case = make_case(book, pc, "pm_card_sandbox_fail_after_0_insufficient_funds")
    case.open()
    at = case.failed_at + 60 * DAY
    written = value(write_off_dunning_case.run(case.on_case("write-off", at)))
    assert written.case.written_off
    assert case.stripe.get_invoice(case.stripe_invoice).status == "uncollectible"
    closed = value(close_dunning_case.run(case.on_case("close", at)))
    assert closed.status == "written_off" and closed.closed_at == at
    [kpi] = [
        e
        for e in book.kpi_events.of_month(at, "dunning_recovery").items
        if e.subject_id == case.stripe_invoice
    ]
    assert kpi.outcome == "written_off" and kpi.amount is not None
    assert kpi.amount.amount_minor == 3450 and kpi.dimensions["recovered"] == "false"
    assert notices(inbox) == ["written_off"]


def test_a_default_card_expiring_within_a_month_gets_one_notice_and_one_reminder(
    book, pc, inbox, clock
):
    now = clock.now()
    nxt = (now.replace(day=1) + 40 * DAY).replace(day=1)  # next month
    card = f"pm_card_sandbox_expires_{now.year}_{now.month:02d}"
    case = make_case(book, pc, card, with_subscription=False, fail=False)
    request = {
        "step_key": "card-expiry-sweep/x",
        "customer_id": case.customer_id,
        "at": (nxt - 25 * DAY).isoformat(),
    }
    first = warn_expiring_card.run(request)
    assert first["ok"], first
    assert len(first["value"]["notices"]) == 1
    again = warn_expiring_card.run(request)
    assert again["ok"]
    assert notices(inbox) == ["card_expiring"]
    assert "/c/cs_" in inbox.read(inbox.messages()[0]["id"])["text"]
    # In its last 10 days, still the default: the reminder, once.
    late = {
        **request,
        "step_key": "card-expiry-sweep-reminders/x",
        "at": (nxt - 5 * DAY).isoformat(),
    }
    reminded = warn_expiring_card.run(late)
    assert reminded["ok"] and len(reminded["value"]["notices"]) == 1
    warn_expiring_card.run(late)
    assert sorted(notices(inbox)) == ["card_expiring", "card_expiring_reminder"]
    assert all("/c/cs_" in inbox.read(m["id"])["text"] for m in inbox.messages())
    # Out of the window (two months before expiry): no notice.
    early = warn_expiring_card.run({**request, "at": (now - 40 * DAY).isoformat()})
    assert early["value"]["notices"] == []


def test_a_card_replaced_before_its_last_days_gets_no_reminder(book, pc, inbox, clock):
    now = clock.now()
    nxt = (now.replace(day=1) + 40 * DAY).replace(day=1)
    card = f"pm_card_sandbox_expires_{now.year}_{now.month:02d}"
    case = make_case(book, pc, card, with_subscription=False, fail=False)
    request = {"step_key": "s/x", "customer_id": case.customer_id}
    warn_expiring_card.run({**request, "at": (nxt - 25 * DAY).isoformat()})
    # The customer saves a new card (made the invoices' default) before the last 10 days.
    case.stripe.attach_payment_method(
        f"{case.customer_id}/new", case.stripe_customer, "pm_card_visa"
    )
    late = warn_expiring_card.run({**request, "at": (nxt - 5 * DAY).isoformat()})
    assert late["ok"] and late["value"]["notices"] == []
    assert notices(inbox) == ["card_expiring"]


def test_a_card_attached_during_the_case_is_charged_next_and_made_the_default(book, pc):
    case = make_case(book, pc, "pm_card_sandbox_fail_after_0_lost_card", with_subscription=False)
    case.open()
    attached = case.stripe.attach_payment_method(
        f"{case.customer_id}/pm3", case.stripe_customer, "pm_card_mastercard", make_default=False
    )
    assert attached.card is not None
    new = attached.card.payment_method_id
    at = case.failed_at + 2 * DAY
    refreshed = value(
        refresh_dunning_case.run(
            case.on_case("refresh-1", at, reason="card_updated", payment_method_id=new)
        )
    )
    assert refreshed.case.payment_method_id == new
    assert case.stripe.get_customer(case.stripe_customer).default_payment_method_id == new
    charged = value(charge_dunning_invoice.run(case.on_case("charge-2", at, attempt=2)))
    assert charged.case.paid_at == at
