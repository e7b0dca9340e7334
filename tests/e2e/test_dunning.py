"""Dunning through the whole local stack in virtual time: a charge declined in the Stripe
sandbox reaches devhost as Stripe's signed `invoice.payment_failed`, event intake starts the
case, and the ladder runs on durable timers while the test acts as the customer through the
mail it receives and Stripe's hosted pages. Asserted on the sandboxes' own state: the charges
Stripe made, the invoice's status, the subscriptions in Partner Center, the mail sandbox.
docs/dunning.md; docs/rules.md#retry-schedule, #hard-decline-stop, #new-payment-method,
#grace-then-suspend, #auto-renew-before-lock, #write-off, #paid."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from shared.book import Book
from shared.book.partner_center import apply_partner_center_subscription
from shared.partner_center.models import AgreementContact, CartLine
from shared.payments import StripePayments
from tests.e2e.harness import LocalStack, Namespace
from tests.sandbox.mail.harness import Inbox
from tests.sandbox.partner_center.harness import BASIC, new_customer
from tests.shared.book.records import customer as customer_record

pytestmark = pytest.mark.e2e

DAY = timedelta(days=1)


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


@dataclass
class Customer:
    """One customer in the book, Partner Center and Stripe, and its failed invoice."""

    stack: LocalStack
    ns: Namespace
    customer_id: str
    tenant: str
    subscriptions: list[str]
    stripe_customer: str
    invoice: str
    payments: StripePayments

    @property
    def instance(self) -> str:
        return f"dunning-{self.invoice}"

    def case(self) -> dict[str, Any] | None:
        answer = self.stack.api("GET", f"/api/dunning/{self.invoice}")
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def finished(self, timeout: float = 180) -> dict[str, Any]:
        status = self.stack.wait_for_instance(self.instance, "Completed", timeout=timeout)
        output: dict[str, Any] = status["output"]
        return output

    def mail(self) -> list[dict[str, Any]]:
        inbox = Inbox(self.stack.mail)
        return [inbox.read(m["id"]) for m in inbox.messages(to=self.ns.email())]

    def kinds(self) -> list[str]:
        return [dict(m["headers"])["X-Cspflow-Notice"] for m in self.mail()]

    def charges(self) -> list[Any]:
        """Every charge Stripe made for the invoice, oldest first."""
        stripe = self.stack.stripe
        payments = stripe.v1.invoice_payments.list({"invoice": self.invoice, "limit": 100})
        found = []
        for payment in payments.data:
            pi = payment.payment.payment_intent
            assert pi is not None
            pi_id = pi if isinstance(pi, str) else pi.id
            found += stripe.v1.charges.list({"payment_intent": pi_id, "limit": 100}).data
        # Oldest first; within one second a failure comes before the success that ended it.
        return sorted(found, key=lambda c: (c.created, c.status != "failed"))


def a_customer(
    stack: LocalStack,
    ns: Namespace,
    card: str,
    *,
    terms: tuple[str, ...] = ("P1Y",),
    before_failure: timedelta = timedelta(0),
    sent: bool = False,
) -> Customer:
    """A customer with subscriptions of `terms` bought `before_failure` ago and `card` on
    file, whose invoice's first charge has just been declined (`sent`: an invoice on invoice
    terms, due in 14 days, not charged)."""
    pc = stack.partner_center
    created = pc.create_customer(new_customer(ns.domain_prefix()), request_id=ns.request_id("c"))
    tenant = created.customer.id
    pc.attest_mca(
        tenant,
        AgreementContact(first_name="Tania", last_name="Carr", email="tania@contoso.example"),
        stack.now(),
        request_id=ns.request_id("mca"),
    )
    subscriptions = []
    for n, term in enumerate(terms):
        cart = pc.create_cart(
            tenant,
            [
                CartLine(
                    catalog_item_id=BASIC,
                    quantity=3,
                    term_duration=term,  # type: ignore[arg-type]
                    billing_cycle="monthly",
                )
            ],
            request_id=ns.request_id(f"cart-{n}"),
        )
        checkout = pc.checkout(tenant, cart.id, request_id=ns.request_id(f"checkout-{n}"))
        sub = checkout.orders[0].line_items[0].subscription_id
        assert sub is not None
        subscriptions.append(sub)
    if before_failure:
        stack.advance(before_failure)
    payments = StripePayments.from_settings(stack.settings)
    customer_id = ns.id("customer")
    cus = payments.create_customer(
        ns.request_id("s"), partner_customer_id=customer_id, name=ns.company("Fabrikam")
    )
    book = Book(stack.settings)
    book.customers.add(
        customer_record(
            customer_id,
            tenant_id=tenant,
            stripe_customer_id=cus.id,
            company_name=ns.company("Fabrikam"),
            contacts=[{"name": "Bea Billing", "email": ns.email(), "role": "billing"}],
        )
    )
    for sub in subscriptions:
        apply_partner_center_subscription(book, customer_id, pc.get_subscription(tenant, sub))
    payments.attach_payment_method(ns.request_id("pm"), cus.id, card)
    inv = payments.create_invoice(
        ns.request_id("i"),
        cus.id,
        currency="EUR",
        metadata=ns.metadata,
        days_until_due=14 if sent else None,
    )
    payments.add_invoice_item(
        ns.request_id("i"),
        cus.id,
        invoice_id=inv.id,
        amount=4200,
        currency="EUR",
        description="M365",
    )
    payments.finalize_invoice(ns.request_id("i"), inv.id)
    if not sent:
        first = payments.pay_invoice(ns.request_id("p"), inv.id)
        assert first.decline is not None
    return Customer(stack, ns, customer_id, tenant, subscriptions, cus.id, inv.id, payments)


def test_a_soft_decline_is_recovered_by_the_second_retry(stack: LocalStack, ns: Namespace):
    who = a_customer(stack, ns, "pm_card_sandbox_decline_first_2_insufficient_funds")
    output = who.finished()
    assert output["status"] == "recovered" and output["declines"] == 2
    charges = who.charges()
    assert [c.status for c in charges] == ["failed", "failed", "succeeded"]
    assert who.payments.get_invoice(who.invoice).status == "paid"
    # The retries came on the schedule: 1 and 3 days after the failure.
    assert charges[1].created - charges[0].created == pytest.approx(86400, abs=120)
    assert charges[2].created - charges[0].created == pytest.approx(3 * 86400, abs=120)
    # One notice (day 0) with the pay link; the one due on day 3 lost its tie to the retry.
    [notice] = who.mail()
    assert dict(notice["headers"])["X-Cspflow-Notice"] == "payment_failed"
    assert f"/i/{who.invoice}" in notice["text"]
    case = who.case()
    assert case is not None and case["status"] == "recovered" and case["next_step"] is None
    # The dunning_recovery KPI event, and the first-contact promise kept on its SLA clock.
    book = Book(stack.settings)
    paid_at = datetime.fromisoformat(case["paid_at"])
    [kpi] = [
        e
        for e in book.kpi_events.of_month(paid_at, "dunning_recovery").items
        if e.subject_id == who.invoice
    ]
    assert (kpi.outcome, kpi.dimensions["attempts"], kpi.dimensions["days_to_recover"]) == (
        "recovered",
        "3",
        "3",
    )
    assert kpi.amount is not None and kpi.amount.amount_minor == 4200
    clock = eventually(
        lambda: (
            (
                c := stack.api("GET", f"/api/sla/clocks/sla-payment_first_contact-{who.invoice}")
            ).status_code
            == 200
            and c.json()["phase"] == "closed"
            and c.json()
        ),
        "the first-contact clock never closed",
    )
    assert clock["state"] == "met"


def test_a_lost_card_is_never_retried_and_a_new_card_from_the_update_link_pays_at_once(
    stack: LocalStack, ns: Namespace
):
    who = a_customer(stack, ns, "pm_card_sandbox_fail_after_0_lost_card")
    # The customer acts on the mail at once: the clock is held, or an idle host could jump
    # past the card-update link's expiry (a day) to the case's next timer meanwhile.
    with stack.clock_held():
        notice = eventually(lambda: who.mail(), "no failed-payment notice")[0]
        link = re.search(r"(http://127\.0\.0\.1:\d+/c/cs_\w+)", notice["text"])
        assert link is not None, notice["text"]
        assert f"/i/{who.invoice}" in notice["text"]
        saved = requests.post(link.group(1), data={"payment_method": "pm_card_visa"}, timeout=10)
    assert saved.status_code == 200, saved.text
    output = who.finished()
    assert output["status"] == "recovered"
    charges = who.charges()
    # The lost card was charged once (the failure); the new card once, and it paid.
    assert [(c.status, c.payment_method_details.card.last4) for c in charges] == [
        ("failed", "4242"),
        ("succeeded", "4242"),
    ]
    assert charges[0].payment_method != charges[1].payment_method
    default = who.payments.get_customer(who.stripe_customer).default_payment_method_id
    assert default == charges[1].payment_method
    case = who.case()
    assert case is not None and [a["decline_class"] for a in case["attempts"]] == ["hard"]


def test_paid_through_the_pay_link_after_a_retry_stops_every_charge(
    stack: LocalStack, ns: Namespace
):
    who = a_customer(stack, ns, "pm_card_sandbox_fail_after_0_insufficient_funds")
    eventually(lambda: (c := who.case()) is not None and len(c["attempts"]) >= 2, "no first retry")
    paid = requests.post(
        f"{stack.sandbox_url('stripe')}/i/{who.invoice}",
        data={"payment_method": "pm_card_visa"},
        timeout=10,
    )
    assert paid.status_code == 200, paid.text
    output = who.finished()
    assert output["status"] == "recovered"
    charges = who.charges()
    assert charges[-1].status == "succeeded"
    assert all(c.status == "failed" for c in charges[:-1])
    # Nothing was charged after the payment, and nothing mailed about it afterwards.
    stack.advance(30 * DAY)
    assert len(who.charges()) == len(charges)
    assert "suspended" not in who.kinds() and "written_off" not in who.kinds()


def test_never_paid_warned_auto_renew_off_before_the_lock_suspended_after_grace_written_off(
    stack: LocalStack, ns: Namespace
):
    # A monthly term bought 20 days ago locks in about 10 days: before the grace ends.
    who = a_customer(
        stack,
        ns,
        "pm_card_sandbox_fail_after_0_insufficient_funds",
        terms=("P1M", "P1Y"),
        before_failure=20 * DAY,
    )
    failed_at = stack.now()
    output = who.finished(timeout=300)
    assert output["status"] == "written_off"
    case = who.case()
    assert case is not None
    when = {h["action"]: datetime.fromisoformat(h["at"]) for h in case["history"]}
    lock = datetime.fromisoformat(case["next_renewal_lock_at"])
    assert when["turn_off_auto_renew"] <= lock - timedelta(hours=24) + timedelta(minutes=1)
    assert when["suspend"] >= failed_at + 14 * DAY
    assert when["write_off"] >= failed_at + 60 * DAY
    # Retries squeezed to end by the auto-renew decision; none after it.
    attempts = [datetime.fromisoformat(a["attempted_at"]) for a in case["attempts"]]
    assert len(attempts) == 7 and max(attempts) <= when["turn_off_auto_renew"]
    assert who.payments.get_invoice(who.invoice).status == "uncollectible"
    yearly = stack.partner_center.get_subscription(who.tenant, who.subscriptions[1])
    assert yearly.status == "suspended" and not yearly.auto_renew_enabled
    kinds = who.kinds()
    assert kinds[:3] == ["payment_failed"] * 3
    # Told when auto-renew went off (about day 9), before the suspension warning (day 12).
    assert kinds[3:] == ["auto_renew_off_unpaid", "suspension_warning", "suspended", "written_off"]


def test_paid_while_suspended_is_reactivated_at_once(stack: LocalStack, ns: Namespace):
    # Declines through the retry of day 14 (run before the suspension due that day); the retry
    # of day 18 pays, after the suspension.
    who = a_customer(stack, ns, "pm_card_sandbox_decline_first_6_insufficient_funds")
    output = who.finished(timeout=300)
    assert output["status"] == "recovered"
    case = who.case()
    assert case is not None
    when = {h["action"]: datetime.fromisoformat(h["at"]) for h in case["history"]}
    assert (
        when["suspend"] < when["paid"] <= when["reactivate"] < when["paid"] + timedelta(minutes=5)
    )
    sub = stack.partner_center.get_subscription(who.tenant, who.subscriptions[0])
    assert sub.status == "active" and sub.auto_renew_enabled
    assert who.kinds()[-2:] == ["suspended", "reactivated"]


def test_a_second_failure_event_for_the_invoice_is_signalled_to_its_case_and_counted_once(
    stack: LocalStack, ns: Namespace
):
    who = a_customer(stack, ns, "pm_card_sandbox_decline_first_2_insufficient_funds")
    output = who.finished()
    # The failure and the first retry, each once: Stripe's event for the retry, signalled to
    # the case, is known by its charge and not counted again.
    assert (output["status"], output["declines"]) == ("recovered", 2)
    # Stripe sent a failure event for the first charge and for the first retry: one case.
    events = stack.stripe.v1.events.list({"type": "invoice.payment_failed", "limit": 100}).data
    mine = [e for e in events if e.data.object["id"] == who.invoice]
    assert len(mine) == 2
    book = Book(stack.settings)

    def outcome(event_id: str) -> str:
        seen = eventually(lambda: book.processed_events.seen("stripe", event_id), "not seen")
        return str(seen.outcome)

    outcomes = [outcome(e.id) for e in mine]
    assert sum(f"started dunning {who.instance}" in o for o in outcomes) == 1
    # The other was signalled to the running case, or met it done, or (virtual time runs
    # fast) found the invoice already paid.
    assert (
        sum(
            f"dunning {who.instance} running: signalled payment_failed" in o
            or f"dunning {who.instance} already started" in o
            or "is paid now: no dunning" in o
            for o in outcomes
        )
        == 1
    )
    assert [c.status for c in who.charges()] == ["failed", "failed", "succeeded"]


def test_an_invoice_paid_before_the_failure_is_acted_on_is_never_charged_or_dunned(
    stack: LocalStack, ns: Namespace
):
    who = a_customer(stack, ns, "pm_card_sandbox_fail_after_0_insufficient_funds")
    # The customer pays at once, while the failure event may still be on its way.
    paid = requests.post(
        f"{stack.sandbox_url('stripe')}/i/{who.invoice}",
        data={"payment_method": "pm_card_visa"},
        timeout=10,
    )
    assert paid.status_code == 200, paid.text
    book = Book(stack.settings)
    events = stack.stripe.v1.events.list({"type": "invoice.payment_failed", "limit": 100}).data
    [failed] = [e for e in events if e.data.object["id"] == who.invoice]
    eventually(lambda: book.processed_events.seen("stripe", failed.id), "not processed")
    if stack.instance(who.instance) is not None:  # the failure was acted on before the payment
        output = who.finished()
        assert (output["status"], output["declines"], output["notices"]) == ("recovered", 1, 0)
    stack.advance(30 * DAY)
    assert [c.status for c in who.charges()] == ["failed", "succeeded"]
    assert who.mail() == []


def test_a_card_expiring_this_month_updated_after_the_pre_dunning_notice_never_fails(
    stack: LocalStack, ns: Namespace
):
    """The sweep of the month mails the card-update link; the customer who saves a new card
    through it is not reminded on the 22nd and is charged on the new card next month, while
    a customer who did nothing gets the reminder, once."""
    # A fresh month for this test's sweep (one sweep a month), a card expiring at its end.
    now = stack.now()
    month_start = (now.replace(day=1) + 32 * DAY).replace(day=2, hour=0, minute=0, second=0)
    stack.advance(month_start - now + DAY)
    now = stack.now()
    card = f"pm_card_sandbox_expires_{now.year}_{now.month:02d}"
    payments = StripePayments.from_settings(stack.settings)
    customer_id = ns.id("customer")
    cus = payments.create_customer(ns.request_id("s"), partner_customer_id=customer_id, name="F")
    book = Book(stack.settings)
    book.customers.add(
        customer_record(
            customer_id,
            stripe_customer_id=cus.id,
            contacts=[{"name": "Bea Billing", "email": ns.email(), "role": "billing"}],
        )
    )
    old = payments.attach_payment_method(ns.request_id("pm"), cus.id, card).card
    assert old is not None
    # A second customer with a card expiring this month, who does nothing.
    idle_id, idle_email = ns.id("idle"), ns.email("idle")
    idle = payments.create_customer(ns.request_id("s2"), partner_customer_id=idle_id, name="G")
    book.customers.add(
        customer_record(
            idle_id,
            stripe_customer_id=idle.id,
            contacts=[{"name": "Ida Idle", "email": idle_email, "role": "billing"}],
        )
    )
    payments.attach_payment_method(ns.request_id("pm2"), idle.id, card)

    started = stack.api("POST", "/api/ops/card-expiry-sweeps")
    assert started.status_code == 202, started.text
    status = stack.wait_for_instance(started.json()["id"], "Completed", timeout=120)
    assert status["output"]["warned"] >= 1
    inbox = Inbox(stack.mail)
    with stack.clock_held():  # the customer acts at once, before the link expires
        [message] = [inbox.read(m["id"]) for m in inbox.messages(to=ns.email())]
        assert dict(message["headers"])["X-Cspflow-Notice"] == "card_expiring"
        link = re.search(r"(http://127\.0\.0\.1:\d+/c/cs_\w+)", message["text"])
        assert link is not None, message["text"]
        # A second sweep request this month mails nothing more.
        again = stack.api("POST", "/api/ops/card-expiry-sweeps")
        assert again.status_code == 202 and again.json()["id"] == started.json()["id"]

        saved = requests.post(link.group(1), data={"payment_method": "pm_card_visa"}, timeout=10)
    assert saved.status_code == 200, saved.text
    eventually(
        lambda: (
            payments.get_customer(cus.id).default_payment_method_id
            not in (None, old.payment_method_id)
        ),
        "the saved card never became the default",
    )
    # The sweep of the 22nd: the reminder for the idle customer's card, nothing for the card
    # replaced in time; a second request that day mails nothing more.
    now = stack.now()
    stack.advance(now.replace(day=22, hour=7, minute=0, second=0) - now)
    reminders = stack.api("POST", "/api/ops/card-expiry-sweeps")
    assert reminders.status_code == 202, reminders.text
    assert reminders.json()["id"].endswith("-reminders")
    stack.wait_for_instance(reminders.json()["id"], "Completed", timeout=120)
    kinds = [
        dict(inbox.read(m["id"])["headers"])["X-Cspflow-Notice"]
        for m in inbox.messages(to=idle_email)
    ]
    assert sorted(kinds) == ["card_expiring", "card_expiring_reminder"]
    assert stack.api("POST", "/api/ops/card-expiry-sweeps").json()["id"] == reminders.json()["id"]
    assert len(inbox.messages(to=idle_email)) == 2
    # Next month the old card has expired; the invoice is paid by the new one.
    stack.advance(32 * DAY)
    inv = payments.create_invoice(ns.request_id("i"), cus.id, currency="EUR")
    payments.add_invoice_item(
        ns.request_id("i"), cus.id, invoice_id=inv.id, amount=990, currency="EUR", description="x"
    )
    payments.finalize_invoice(ns.request_id("i"), inv.id)
    assert payments.pay_invoice(ns.request_id("p"), inv.id).paid
    assert len(inbox.messages(to=ns.email())) == 1


def test_an_overdue_invoice_on_invoice_terms_is_dunned_without_a_charge_and_paid_by_link(
    stack: LocalStack, ns: Namespace
):
    """A `send_invoice` invoice past its due date: the Stripe sandbox sends `invoice.overdue`
    when its clock passes the due date, intake starts the case, the customer is told with
    the pay link and pays there; the card on file is never charged."""
    who = a_customer(stack, ns, "pm_card_visa", sent=True)
    assert who.payments.get_invoice(who.invoice).status == "open"
    assert stack.instance(who.instance) is None  # not overdue yet: no case
    stack.advance(15 * DAY)  # due in 14 days
    notice = eventually(lambda: who.mail(), "no notice about the overdue invoice", 180)[0]
    assert dict(notice["headers"])["X-Cspflow-Notice"] == "invoice_overdue"
    assert f"/i/{who.invoice}" in notice["text"]
    case = who.case()
    assert case is not None and case["attempts"] == []
    paid = requests.post(
        f"{stack.sandbox_url('stripe')}/i/{who.invoice}",
        data={"payment_method": "pm_card_visa"},
        timeout=10,
    )
    assert paid.status_code == 200, paid.text
    output = who.finished()
    assert (output["status"], output["declines"]) == ("recovered", 0)
    # One charge only: the customer's own, on the pay link.
    assert [c.status for c in who.charges()] == ["succeeded"]
    assert "suspended" not in who.kinds()
