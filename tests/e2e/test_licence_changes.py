"""Licence changes through the whole local stack in virtual time: a change asked over HTTP,
decided on the Partner Center sandbox's fresh read, charged or credited in the Stripe sandbox,
told through the mail sandbox. Each row cites its rule (docs/rules.md) and Microsoft Learn
page; amounts are checked to the minor unit against Stripe's own records."""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.book import Book
from shared.models import Money, Offer
from shared.models.pricing import FixedPrice, Markup, PriceList
from shared.partner_center.models import Address, AgreementContact, CartLine, NewCustomer
from shared.payments import StripePayments
from shared.payments.models import ChargeLine
from shared.policy.licence_change import prorated_amount
from tests.e2e.harness import LocalStack, Namespace, subscription_in_book
from tests.sandbox.mail.harness import Inbox
from tests.shared.book.records import customer as book_customer
from workflows.licence_change import change_instance_id, queue_instance_id

pytestmark = pytest.mark.e2e

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
E3 = "CFQ7TTC0LF8Q:0001:CFQ7TTC0K39X"
E5 = "CFQ7TTC0LF8R:0001:CFQ7TTC0KCSV"
PRICE = Money(amount_minor=3000, currency="USD")
PURCHASE_MINOR = 200_000  # the purchase invoice a decrease's credit note goes on
FINAL = ("applied", "scheduled_for_next_term", "rejected", "failed")
CHANGE_QTY = "https://learn.microsoft.com/en-us/partner-center/developer/change-the-quantity-of-a-subscription"
MANAGE = "https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription"
CANCEL = (
    "https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy"
)


@dataclass
class Customer:
    id: str
    tenant: str
    subscription_id: str
    stripe_id: str
    email: str


def make(
    stack: LocalStack, ns: Namespace, label: str, *, quantity: int = 10, offer: str = BASIC,
    card: str = "pm_card_visa",
) -> Customer:  # fmt: skip
    """A customer of this test: in Partner Center with one subscription, in Stripe with a card
    and a paid purchase invoice, and in the book with the subscription's sell price."""
    pc = stack.partner_center
    email = ns.email(label)
    made = pc.create_customer(
        NewCustomer(
            domain_prefix=ns.domain_prefix(label),
            company_name=ns.company(label.title()),
            email=email,
            address=Address(first_name="Ada", last_name="Lee", address_line1="1 Main St",
                            city="Seattle", state="WA", postal_code="98101", country="US"),
        ),
        request_id=ns.request_id(f"{label}-create"),
    )  # fmt: skip
    tenant = made.customer.id
    pc.attest_mca(
        tenant,
        AgreementContact(first_name="Ada", last_name="Lee", email=email),
        stack.now(),
        request_id=ns.request_id(f"{label}-mca"),
    )
    line = CartLine(catalog_item_id=offer, quantity=quantity, term_duration="P1Y",
                    billing_cycle="monthly")  # fmt: skip
    cart = pc.create_cart(tenant, [line], request_id=ns.request_id(f"{label}-cart"))
    checkout = pc.checkout(tenant, cart.id, request_id=ns.request_id(f"{label}-checkout"))
    sid = checkout.orders[0].line_items[0].subscription_id
    assert sid is not None
    stripe = StripePayments.from_settings(stack.settings)
    cus = stripe.create_customer(f"{ns.prefix}/{label}-cus", partner_customer_id=ns.id(label),
                                 name=ns.company(label), email=email)  # fmt: skip
    assert stripe.attach_payment_method(f"{ns.prefix}/{label}-card", cus.id, "pm_card_visa").ok
    paid = stripe.charge_now(
        f"{ns.prefix}/{label}-purchase",
        cus.id,
        currency="USD",
        lines=[ChargeLine(amount=PURCHASE_MINOR, description="Purchase", currency="USD")],
        description="Purchase",
    )
    assert paid.paid
    if card != "pm_card_visa":
        assert stripe.attach_payment_method(f"{ns.prefix}/{label}-card2", cus.id, card).ok
    book = Book(stack.settings)
    book.customers.add(
        book_customer(ns.id(label), tenant_id=tenant, stripe_customer_id=cus.id,
                      company_name=ns.company(label.title()), billing_currency="USD", country="US",
                      contacts=[{"name": "Ada Lee", "email": email, "role": "primary"}])
    )  # fmt: skip
    subscription_in_book(book, ns.id(label), pc.get_subscription(tenant, sid), PRICE)
    return Customer(ns.id(label), tenant, sid, cus.id, email)


def ask(stack: LocalStack, who: Customer, change_id: str, **body: Any) -> Any:
    return stack.api(
        "POST",
        f"/api/customers/{who.id}/subscriptions/{who.subscription_id}/changes",
        json={"change_id": change_id, "requested_by": who.email, **body},
    )


def final(stack: LocalStack, change_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = stack.api("GET", f"/api/changes/{change_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] in FINAL:
            return body
        time.sleep(0.3)
    queue = stack.instance(queue_instance_id(body["subscription_id"]), history=True)
    instance = stack.instance(change_instance_id(change_id), history=True)
    raise AssertionError(
        f"change {change_id} did not end in {timeout} s: {body}\nqueue: {queue}\n"
        f"change: {instance}\n{stack.log(n=60)}"
    )


def wait_for_clock(stack: LocalStack, change_id: str, timeout: float = 60) -> dict[str, Any]:
    """The change's SLA clock once closed (its signals go through the SLA queue)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clock = stack.api("GET", f"/api/changes/{change_id}").json()["sla_clock"]
        if clock is not None and clock["completed_at"] is not None:
            found: dict[str, Any] = clock
            return found
        time.sleep(0.3)
    raise AssertionError(f"the SLA clock of {change_id} did not close in {timeout} s")


def quantity(stack: LocalStack, who: Customer) -> int:
    return stack.partner_center.get_subscription(who.tenant, who.subscription_id).quantity


def invoices(stack: LocalStack, who: Customer) -> list[dict[str, Any]]:
    page = stack.stripe.v1.invoices.list({"customer": who.stripe_id, "limit": 100})
    return [i.to_dict() for i in page.data]


def credit_notes(stack: LocalStack, who: Customer) -> list[dict[str, Any]]:
    notes = []
    for inv in invoices(stack, who):
        page = stack.stripe.v1.credit_notes.list({"invoice": inv["id"], "limit": 100})
        notes += [n.to_dict() for n in page.data]
    return notes


def mailed(stack: LocalStack, who: Customer, text: str, timeout: float = 60) -> str:
    """The subject of the customer's mail containing `text`, once the mail sandbox has it
    (the notice is sent after the change's final state is recorded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in Inbox(stack.mail).messages(to=who.email):
            if text in message["subject"]:
                subject: str = message["subject"]
                return subject
        time.sleep(0.3)
    seen = [m["subject"] for m in Inbox(stack.mail).messages(to=who.email)]
    raise AssertionError(f"no mail to {who.email} says {text!r}: {seen}")


def mail_text(stack: LocalStack, who: Customer, text: str, timeout: float = 60) -> str:
    """The plain text of the customer's mail whose subject contains `text`."""
    mailed(stack, who, text, timeout)
    inbox = Inbox(stack.mail)
    (found,) = [m for m in inbox.messages(to=who.email) if text in m["subject"]]
    body: str = inbox.read(found["id"])["text"]
    return body


def approver_mails(stack: LocalStack, ns: Namespace, label: str) -> list[dict[str, Any]]:
    """The partner's approval requests (and reminders) about this test's customer."""
    approvers = stack.app_settings["CSPFLOW_NOTIFY_APPROVERS_TO"]
    address = approvers.split("<")[-1].rstrip(">").strip()
    about = f"Approval needed: {ns.company(label.title())},"
    return [m for m in Inbox(stack.mail).messages(to=address) if m["subject"].startswith(about)]


def until(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(0.2)
    return found


def status_of(stack: LocalStack, change_id: str) -> str:
    found: str = stack.api("GET", f"/api/changes/{change_id}").json()["status"]
    return found


def expected(stack: LocalStack, who: Customer, at: datetime, seats: int) -> int:
    sub = stack.partner_center.get_subscription(who.tenant, who.subscription_id)
    return prorated_amount(PRICE, sub, at, seats).amount_minor


def test_seats_added_mid_term_are_charged_then_applied(stack: LocalStack, ns: Namespace):
    # docs/rules.md#add-seats, #seat-increase-charge; MANAGE
    who = make(stack, ns, "up")
    stack.advance(timedelta(days=20))
    accepted = ask(stack, who, ns.id("up-1"), kind="quantity", quantity=13)
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Location"].endswith(f"/api/changes/{ns.id('up-1')}")
    done = final(stack, ns.id("up-1"))
    assert done["status"] == "applied", done
    assert quantity(stack, who) == 13
    charged = [i for i in invoices(stack, who) if i["metadata"].get("change_id") == ns.id("up-1")]
    assert [(i["status"], i["amount_paid"]) for i in charged] == [
        ("paid", done["charge"]["amount_minor"])
    ]
    assert done["charge"]["amount_minor"] == expected(
        stack, who, datetime.fromisoformat(done["effective"]), 3
    )
    assert done["rule"] == "docs/rules.md#add-seats"
    clock = wait_for_clock(stack, ns.id("up-1"))
    assert clock["phase"] == "closed" and clock["started_at"] == done["requested_at"]
    assert mailed(stack, who, "now 13 licences")


def test_seats_removed_on_day_3_are_applied_and_credited(stack: LocalStack, ns: Namespace):
    # docs/rules.md#seat-windows, #seat-decrease-refund; CHANGE_QTY
    who = make(stack, ns, "down3")
    stack.advance(timedelta(days=2))
    assert ask(stack, who, ns.id("d3"), kind="quantity", quantity=8).status_code == 202
    done = final(stack, ns.id("d3"))
    assert done["status"] == "applied", done
    assert quantity(stack, who) == 8
    credit = -done["charge"]["amount_minor"]
    assert credit == expected(stack, who, datetime.fromisoformat(done["effective"]), 2) > 0
    notes = credit_notes(stack, who)
    assert [(n["amount"], n["id"]) for n in notes] == [(credit, done["credit_note_id"])]
    assert "can be removed until" in done["reason"]
    assert mailed(stack, who, "now 8 licences")


def test_seats_removed_on_day_9_are_scheduled_for_the_next_term_without_credit(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#remove-seats; https://learn.microsoft.com/en-us/partner-center/developer/create-scheduled-changes
    who = make(stack, ns, "down9")
    stack.advance(timedelta(days=8))
    assert ask(stack, who, ns.id("d9"), kind="quantity", quantity=8).status_code == 202
    done = final(stack, ns.id("d9"))
    assert done["status"] == "scheduled_for_next_term", done
    sub = stack.partner_center.get_subscription(who.tenant, who.subscription_id)
    assert sub.quantity == 10 and sub.scheduled_next_term_instructions is not None
    assert sub.scheduled_next_term_instructions.quantity == 8
    assert datetime.fromisoformat(done["effective"]) == sub.term_end
    assert credit_notes(stack, who) == [] and done["charge"] is None
    assert "window closed" in done["reason"]
    assert mailed(stack, who, "your change takes effect on")


def test_ten_concurrent_one_seat_decreases_on_five_refundable_seats_apply_exactly_five(
    stack: LocalStack, ns: Namespace
):
    # docs/licence-changes.md#one-change-at-a-time, docs/rules.md#relative-quantity; CHANGE_QTY
    who = make(stack, ns, "ten", quantity=5)
    stack.advance(timedelta(days=30))  # the purchase's 5 seats are outside their window
    assert ask(stack, who, ns.id("add5"), kind="quantity", quantity=10).status_code == 202
    assert final(stack, ns.id("add5"))["status"] == "applied"
    ids = [ns.id(f"minus-{i}") for i in range(10)]
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(lambda cid: ask(stack, who, cid, kind="quantity", change_by=-1), ids)
        )
    assert [a.status_code for a in answers] == [202] * 10
    results = [final(stack, cid, timeout=300) for cid in ids]
    statuses = [r["status"] for r in results]
    assert statuses.count("applied") == 5, statuses
    assert statuses.count("scheduled_for_next_term") + statuses.count("rejected") == 5
    assert quantity(stack, who) == 5
    applied = [r for r in results if r["status"] == "applied"]
    notes = credit_notes(stack, who)
    assert len(notes) == 5
    assert sorted(n["amount"] for n in notes) == sorted(
        -r["charge"]["amount_minor"] for r in applied
    )
    # In arrival order: every applied change arrived before every scheduled or refused one.
    arrival = sorted(results, key=lambda r: r["requested_at"])
    assert [r["status"] == "applied" for r in arrival] == [True] * 5 + [False] * 5


def test_a_cancellation_on_day_2_is_refunded_and_on_day_10_refused_toward_auto_renew_off(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#cancel, #cancellation-window; CANCEL
    early = make(stack, ns, "cancel2", quantity=2)
    late = make(stack, ns, "cancel10", quantity=2)
    stack.advance(timedelta(days=1))
    # Cancellations wait for the partner's approval (docs/rules.md#change-approval); the
    # approver acts with the clock held (an idle host would jump to the timeout).
    with stack.clock_held():
        assert ask(stack, early, ns.id("c2"), kind="cancel").status_code == 202
        wait_pending(stack, ns, "cancel2", ns.id("c2"))
        decided = stack.api("POST", f"/api/approvals/{ns.id('c2')}",
                            json={"decision": "approve", "by": "steven"})  # fmt: skip
        assert decided.status_code == 202, decided.text
        done = final(stack, ns.id("c2"))
    assert done["status"] == "applied", done
    sub = stack.partner_center.get_subscription(early.tenant, early.subscription_id)
    assert sub.status == "deleted"
    assert [n["amount"] for n in credit_notes(stack, early)] == [-done["charge"]["amount_minor"]]
    assert -done["charge"]["amount_minor"] == expected(
        stack, early, datetime.fromisoformat(done["effective"]), 2
    )
    stack.advance(timedelta(days=9))
    refused = ask(stack, late, ns.id("c10"), kind="cancel")
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert (problem["code"], problem["errors"][0]["field"]) == ("cancel", "kind")
    assert problem["rule"] == "docs/rules.md#cancel" and "auto-renew off" in problem["detail"]


def test_a_downgrade_is_refused_by_partner_centers_eligibility(stack: LocalStack, ns: Namespace):
    # docs/rules.md#downgrade; MANAGE ("downgrades are not supported")
    who = make(stack, ns, "down", quantity=2, offer=E5)
    assert (
        ask(stack, who, ns.id("e3"), kind="upgrade", target_catalog_item_id=E3).status_code == 202
    )
    done = final(stack, ns.id("e3"))
    assert (done["status"], done["rule"]) == ("rejected", "docs/rules.md#downgrade")
    sub = stack.partner_center.get_subscription(who.tenant, who.subscription_id)
    assert sub.offer_id == E5
    assert [i for i in invoices(stack, who) if i["metadata"].get("change_id")] == []
    assert mailed(stack, who, "was not made")


def test_what_the_rules_refuse_outright_is_a_422_naming_the_field(stack: LocalStack, ns: Namespace):
    # docs/rules.md#remove-seats
    who = make(stack, ns, "refuse", quantity=2)
    answer = ask(stack, who, ns.id("zero"), kind="quantity", quantity=0)
    assert answer.status_code == 422
    problem = answer.json()
    assert (problem["code"], problem["errors"][0]["field"]) == ("remove-seats", "quantity")
    assert stack.api("GET", f"/api/changes/{ns.id('zero')}").status_code == 404
    # docs/rules.md#seat-limits: Business Basic holds at most 300 seats (the SKU's
    # maximumQuantity, kept on the book's offer by the catalogue import).
    offers = Book(stack.settings).offers
    basic = Offer(catalog_item_id=BASIC, country="US", name="Microsoft 365 Business Basic",
                  term_duration="P1Y", billing_cycle="monthly", family="CFQ7TTC0LH18", rank=1,
                  unit_cost=Money(amount_minor=600, currency="USD"), max_quantity=300)  # fmt: skip
    offers.save(basic)
    try:
        above = ask(stack, who, ns.id("301"), kind="quantity", quantity=301)
        more = ask(stack, who, ns.id("plus299"), kind="quantity", change_by=299)
    finally:
        offers.remove(basic)
    assert above.status_code == 422, above.text
    assert (above.json()["code"], above.json()["errors"][0]["field"]) == ("seat-limits", "quantity")
    assert more.status_code == 422, more.text
    assert (more.json()["code"], more.json()["errors"][0]["field"]) == ("seat-limits", "change_by")


def test_a_large_change_nobody_approves_is_reminded_then_rejected_and_the_customer_told(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#change-approval: 60 seats added, above the 50 allowed; the approver is
    # reminded after 24 h, the change rejected at 72 h (the idle clock jumps to both).
    who = make(stack, ns, "big", quantity=2)
    assert ask(stack, who, ns.id("big"), kind="quantity", quantity=62).status_code == 202
    done = final(stack, ns.id("big"))
    assert done["status"] == "rejected" and done["approval"]["timed_out"], done
    assert quantity(stack, who) == 2
    assert [i for i in invoices(stack, who) if i["metadata"].get("change_id")] == []
    assert len(approver_mails(stack, ns, "big")) == 2  # the request and the reminder
    text = mail_text(stack, who, "was not made")
    assert "from 2 to 62 licences" in text and "before the deadline for a decision" in text


def wait_pending(stack: LocalStack, ns: Namespace, label: str, change_id: str) -> dict[str, Any]:
    """The change waiting for approval: listed as pending, the approver mailed."""
    until(f"{change_id} pending", lambda: status_of(stack, change_id) == "pending_approval")
    pending = stack.api("GET", "/api/approvals", params={"state": "pending"}).json()
    listed: list[dict[str, Any]] = [p for p in pending["items"] if p["approval_id"] == change_id]
    assert len(listed) == 1, pending
    until("the approval request mail", lambda: approver_mails(stack, ns, label))
    return listed[0]


def test_a_large_change_approved_is_reminded_charged_and_applied(stack: LocalStack, ns: Namespace):
    # docs/rules.md#change-approval, #add-seats, #seat-increase-charge; MANAGE
    who = make(stack, ns, "approved", quantity=2)
    change_id = ns.id("approved")
    # The approver acts while the test watches: the clock is held (an idle host would jump
    # to the reminder and the timeout between two requests) and moved by hand to the reminder.
    with stack.clock_held():
        assert ask(stack, who, change_id, kind="quantity", quantity=62).status_code == 202
        listed = wait_pending(stack, ns, "approved", change_id)
        assert listed["approval_id"] == change_id
        assert len(approver_mails(stack, ns, "approved")) == 1
        stack.advance(timedelta(hours=24, minutes=1))
        until("the reminder", lambda: len(approver_mails(stack, ns, "approved")) == 2)
        assert status_of(stack, change_id) == "pending_approval"
        decided = stack.api("POST", f"/api/approvals/{change_id}",
                            json={"decision": "approve", "by": "steven"})  # fmt: skip
        assert decided.status_code == 202, decided.text
        done = final(stack, change_id)
    assert done["status"] == "applied", done
    assert done["approval"]["decision"] == "approve" and done["approval"]["decided_by"] == "steven"
    assert quantity(stack, who) == 62
    charged = [i for i in invoices(stack, who) if i["metadata"].get("change_id") == change_id]
    assert [(i["status"], i["amount_paid"]) for i in charged] == [
        ("paid", done["charge"]["amount_minor"])
    ]
    assert done["charge"]["amount_minor"] == expected(
        stack, who, datetime.fromisoformat(done["effective"]), 60
    )
    assert mailed(stack, who, "was approved")
    assert mailed(stack, who, "now 62 licences")
    assert stack.api("POST", f"/api/approvals/{change_id}",
                     json={"decision": "reject", "by": "steven"}).status_code == 409  # fmt: skip


def test_a_large_change_rejected_changes_nothing_and_the_customer_is_told_why(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#change-approval
    who = make(stack, ns, "rejected", quantity=2)
    change_id = ns.id("rejected")
    with stack.clock_held():
        assert ask(stack, who, change_id, kind="quantity", quantity=62).status_code == 202
        wait_pending(stack, ns, "rejected", change_id)
        decided = stack.api(
            "POST",
            f"/api/approvals/{change_id}",
            json={"decision": "reject", "by": "steven", "reason": "Call us about an annual plan"},
        )
        assert decided.status_code == 202, decided.text
        done = final(stack, change_id)
    assert done["status"] == "rejected", done
    assert done["approval"]["decision"] == "reject" and not done["approval"]["timed_out"]
    assert quantity(stack, who) == 2
    assert [i for i in invoices(stack, who) if i["metadata"].get("change_id")] == []
    assert credit_notes(stack, who) == []
    pending = stack.api("GET", "/api/approvals", params={"state": "pending"}).json()
    assert change_id not in [p["approval_id"] for p in pending["items"]]
    text = mail_text(stack, who, "was not made")
    assert "The change was not approved." in text and "Call us about an annual plan" in text


def test_a_declined_card_adds_no_seats_and_the_customer_is_told_why(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#add-seats: collected first, so a decline changes nothing at Microsoft.
    who = make(stack, ns, "declined", card="pm_card_chargeCustomerFail")
    stack.advance(timedelta(days=5))
    assert ask(stack, who, ns.id("declined"), kind="quantity", quantity=12).status_code == 202
    done = final(stack, ns.id("declined"))
    assert done["status"] == "failed" and "declined" in done["reason"], done
    assert quantity(stack, who) == 10
    tried = [i for i in invoices(stack, who) if i["metadata"].get("change_id") == ns.id("declined")]
    assert [i["amount_paid"] for i in tried] == [0] * len(tried)
    text = mail_text(stack, who, "was not made")
    assert "from 10 to 12 licences" in text
    assert "Your bank declined the payment for the change." in text
    assert "Update your payment method and ask again." in text


def priced_upgrade(stack: LocalStack, ns: Namespace, who: Customer, target_minor: int) -> None:
    """The target offer in the book's catalogue and the customer's own price list selling it
    at a fixed price (docs/rules.md#price-rules)."""
    book = Book(stack.settings)
    for item, rank in ((E3, 1), (E5, 2)):
        book.offers.save(
            Offer(catalog_item_id=item, country="US", name=item, term_duration="P1Y",
                  billing_cycle="monthly", unit_cost=Money(amount_minor=2000, currency="USD"),
                  family="Microsoft 365 E", rank=rank)
        )  # fmt: skip
    key = f"{E5}:P1Y:monthly"
    book.price_lists.save(
        PriceList(id=ns.id("prices"), currency="USD", default=Markup(rate=Decimal("0.1")),
                  offers={key: FixedPrice(price=Money(amount_minor=target_minor, currency="USD"))},
                  allow_below_cost=True)
    )  # fmt: skip
    book.customers.update(who.id, lambda c: c.model_copy(update={"price_list_id": ns.id("prices")}))


@pytest.mark.parametrize(("seats", "full"), [(None, True), (2, False)])
def test_an_upgrade_charges_the_price_difference_first_and_then_transitions(
    stack: LocalStack, ns: Namespace, seats: int | None, full: bool
):
    # docs/rules.md#upgrade, #change-order;
    # https://learn.microsoft.com/en-us/partner-center/developer/transition-a-new-commerce-subscription
    who = make(stack, ns, "upg", quantity=5, offer=E3)
    priced_upgrade(stack, ns, who, target_minor=5000)
    stack.advance(timedelta(days=10))
    body: dict[str, Any] = {"kind": "upgrade", "target_catalog_item_id": E5}
    if seats is not None:
        body["quantity"] = seats
    accepted = ask(stack, who, ns.id("upg"), **body)
    assert accepted.status_code == 202, accepted.text
    assert "no cancellation window" in accepted.json()["notes"][0]
    done = final(stack, ns.id("upg"))
    assert done["status"] == "applied", done
    moved = seats or 5
    source = stack.partner_center.get_subscription(who.tenant, who.subscription_id)
    if full:
        assert (source.offer_id, source.quantity) == (E5, 5)
        assert done["new_subscription_id"] == who.subscription_id
        mirror = Book(stack.settings).subscriptions.get(who.id, who.subscription_id).record
        assert mirror.unit_price == Money(amount_minor=5000, currency="USD"), (
            mirror,
            stack.instance(change_instance_id(ns.id("upg")), history=True),
        )
    else:
        assert (source.offer_id, source.quantity) == (E3, 3)
        target = stack.partner_center.get_subscription(who.tenant, done["new_subscription_id"])
        assert (target.offer_id, target.quantity) == (E5, 2)
        # In the book at once (not at the next book sync), with the target's sell price, so
        # the customer's subscriptions list and the renewals see it.
        added = Book(stack.settings).subscriptions.get(who.id, target.id).record
        assert (added.subscription.offer_id, added.subscription.quantity) == (E5, 2)
        assert added.unit_price == Money(amount_minor=5000, currency="USD")
        listed = stack.api("GET", f"/api/customers/{who.id}/subscriptions").json()["items"]
        assert sorted((i["subscription_id"], i["quantity"]) for i in listed) == sorted(
            [(who.subscription_id, 3), (target.id, 2)]
        )
    difference = Money(amount_minor=2000, currency="USD")
    effective = datetime.fromisoformat(done["effective"])
    expected_minor = prorated_amount(difference, source, effective, moved).amount_minor
    assert done["charge"]["amount_minor"] == expected_minor
    paid = [i for i in invoices(stack, who) if i["metadata"].get("change_id") == ns.id("upg")]
    assert [(i["status"], i["amount_paid"]) for i in paid] == [("paid", expected_minor)]


def test_auto_renew_off_asked_in_the_renewal_lock_is_held_and_applied_on_the_new_term(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#renewal-lock, #auto-renew: never lost, applied once the renewal is done.
    who = make(stack, ns, "lock", quantity=2)
    term_end = stack.partner_center.get_subscription(who.tenant, who.subscription_id).term_end
    stack.advance(term_end - stack.now() - timedelta(hours=12))
    assert ask(stack, who, ns.id("lock"), kind="auto_renew", auto_renew=False).status_code == 202
    done = final(stack, ns.id("lock"), timeout=180)
    assert done["status"] == "applied", (done["rule"], done["reason"])
    assert datetime.fromisoformat(done["effective"]) >= term_end + timedelta(hours=24)
    sub = stack.partner_center.get_subscription(who.tenant, who.subscription_id)
    assert sub.auto_renew_enabled is False and sub.term_end > term_end  # renewed, then off


def test_a_decrease_asked_while_the_renewal_processes_is_held_then_applied_in_the_new_window(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#renewal-processing (409 800082 while queued), #seat-windows: the renewal
    # opens a new 168 h window; https://learn.microsoft.com/en-us/partner-center/developer/error-codes
    who = make(stack, ns, "renewing", quantity=4)
    term_end = stack.partner_center.get_subscription(who.tenant, who.subscription_id).term_end
    stack.advance(term_end - stack.now() + timedelta(minutes=10))
    assert ask(stack, who, ns.id("ren"), kind="quantity", change_by=-1).status_code == 202
    done = final(stack, ns.id("ren"), timeout=180)
    assert done["status"] == "applied", done
    assert datetime.fromisoformat(done["effective"]) >= term_end + timedelta(hours=24)
    assert quantity(stack, who) == 3
    assert [n["amount"] for n in credit_notes(stack, who)] == [-done["charge"]["amount_minor"]]
