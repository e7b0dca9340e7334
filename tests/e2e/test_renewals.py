"""Renewals through the whole local stack in virtual time: a small book of subscriptions of
every kind (annual with auto-renew on and off, monthly rolling over, a customer in dunning,
one decided through a mailed link, one changed through the partner API) swept once the
terms come due; the run of each renewal to its outcome checked on the sandboxes' own state
(Partner Center's subscriptions, the mail sandbox) and in the book (outcomes, KPI events).
docs/renewals.md; docs/rules.md#reminder-cadence, #monthly-reminders, #no-answer,
#renewal-lock, #renewal-processing."""

from __future__ import annotations

import email
import email.policy
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal

import jwt
import pytest
import requests

from shared.book import Book
from shared.book.partner_center import apply_partner_center_subscription
from shared.models.catalog import BillingCycleName, TermDuration
from shared.models.money import Money
from shared.models.renewal import renewal_id
from shared.models.subscription import (
    ScheduledNextTermInstructions,
    ScheduledProduct,
)
from shared.partner_center.models import Address, AgreementContact, CartLine, NewCustomer
from shared.signed_links import LinkClaims, sign
from tests.e2e.harness import ACTIVE, LocalStack, Namespace, subscription_in_book
from tests.sandbox.mail.harness import Inbox
from tests.shared.book.records import customer as book_customer
from tests.shared.book.records import dunning_case

pytestmark = pytest.mark.e2e

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
PRICE = Money(amount_minor=720, currency="USD")  # the book's sell price of a seat
# label: term, auto-renew, in dunning
BOOK: dict[str, tuple[TermDuration, bool, bool]] = {
    "quiet": ("P1Y", True, False),  # no answer: renews
    "linked": ("P1Y", True, False),  # cancels through the mailed link
    "changed": ("P1Y", True, False),  # fewer seats through the partner API
    "monthly": ("P1M", True, False),  # rolls over: no reminder
    "owing": ("P1Y", True, True),  # no answer, in dunning: auto-renew off, told
    "ending": ("P1Y", False, False),  # auto-renew off, no answer: ends
    "revived": ("P1Y", False, False),  # auto-renew off, renewed through the partner API
    "yearly": ("P1Y", True, False),  # billed annually, no answer: renews
}
EXPECTED = {
    "quiet": ("renewed", 3),
    "linked": ("cancelled", 0),
    "changed": ("changed", 0),
    "monthly": ("renewed", 0),
    "owing": ("lapsed", 3),
    "ending": ("lapsed", 3),
    "revived": ("renewed", 0),
    "yearly": ("renewed", 3),
}


def make(
    stack: LocalStack, ns: Namespace, label: str, term: TermDuration, auto_renew: bool
) -> tuple[str, str]:
    pc = stack.partner_center
    made = pc.create_customer(
        NewCustomer(
            domain_prefix=ns.domain_prefix(label),
            company_name=ns.company(label.title()),
            email=ns.email(label),
            address=Address(first_name="Ada", last_name="Lee", address_line1="1 Main St",
                            city="Seattle", state="WA", postal_code="98101", country="US"),
        ),
        request_id=ns.request_id(f"{label}-create"),
    )  # fmt: skip
    tenant = made.customer.id
    pc.attest_mca(
        tenant,
        AgreementContact(first_name="Ada", last_name="Lee", email=ns.email(label)),
        stack.now(),
        request_id=ns.request_id(f"{label}-mca"),
    )
    cycle: BillingCycleName = "annual" if label == "yearly" else "monthly"
    line = CartLine(catalog_item_id=BASIC, quantity=3, term_duration=term, billing_cycle=cycle)
    cart = pc.create_cart(tenant, [line], request_id=ns.request_id(f"{label}-cart"))
    done = pc.checkout(tenant, cart.id, request_id=ns.request_id(f"{label}-checkout"))
    subscription_id = done.orders[0].line_items[0].subscription_id
    assert subscription_id is not None
    if not auto_renew:
        pc.set_auto_renew(tenant, subscription_id, False, request_id=ns.request_id(f"{label}-ar"))
    return tenant, subscription_id


def wait_until(what: str, check: Any, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def test_a_small_book_renews_as_decided_and_nothing_else(stack: LocalStack, ns: Namespace):
    book = Book(stack.settings)
    subs: dict[str, tuple[str, str, str]] = {}  # label: customer id, tenant, subscription id
    for label, (term, auto_renew, owing) in BOOK.items():
        tenant, subscription_id = make(stack, ns, label, term, auto_renew)
        cid = ns.id(label)
        book.customers.add(
            book_customer(
                cid,
                tenant_id=tenant,
                billing_currency="USD",
                contacts=[{"name": "Ada Lee", "email": ns.email(label)}],
            )
        )
        read = stack.partner_center.get_subscription(tenant, subscription_id)
        subscription_in_book(book, cid, read, PRICE)
        if owing:
            book.dunning.open(dunning_case(ns.id(f"{label}-inv"), cid))
        subs[label] = (cid, tenant, subscription_id)

    # Ten months on, the annual terms within the sweep's window (their first reminder is 62
    # days before the term end); the book follows Partner Center as the nightly sync keeps it.
    stack.advance(timedelta(days=305))
    for cid, tenant, subscription_id in subs.values():
        apply_partner_center_subscription(
            book, cid, stack.partner_center.get_subscription(tenant, subscription_id)
        )
    terms = {
        label: book.subscriptions.get(cid, sid).record.term_end
        for label, (cid, _, sid) in subs.items()
    }
    rid = {label: renewal_id(subs[label][2], f"{terms[label]:%Y%m%d}") for label in subs}

    # Decisions before the sweep: the partner's through the API, the customer's by link.
    answer = stack.api(
        "POST",
        f"/api/renewals/{rid['changed']}/decision",
        json={"choice": "change", "quantity": 2},
    )
    assert answer.status_code == 200 and answer.json()["accepted"], answer.text
    revived = stack.api(
        "POST", f"/api/renewals/{rid['revived']}/decision", json={"choice": "renew"}
    )
    assert revived.status_code == 200 and revived.json()["accepted"], revived.text
    token = sign(
        stack.settings,
        LinkClaims(
            action="renewal-decision",
            subject_id=rid["linked"],
            customer_id=subs["linked"][0],
            link_id="e2e-link",
            expires_at=terms["linked"] - timedelta(hours=24),
        ),
        stack.now(),
    )
    page = stack.api("GET", f"/api/r/{token}", key=None)
    assert page.status_code == 200 and page.json()["ok"], page.text
    decided = stack.api("POST", f"/api/r/{token}", json={"choice": "cancel"}, key=None,
                        headers={"content-type": "application/json"})  # fmt: skip
    assert decided.status_code == 200 and decided.json()["ok"], decided.text
    reused = stack.api("POST", f"/api/r/{token}", json={"choice": "renew"}, key=None,
                       headers={"content-type": "application/json"})  # fmt: skip
    assert reused.json()["refusal"] == "used"

    instances = {label: f"renewal-{subs[label][2]}-{terms[label]:%Y%m%d}" for label in subs}

    # Two sweeps the same day, the clock held between them: an idle host would jump to the
    # first reminder's timer and the second sweep's window would then hold more terms. The
    # first starts every renewal of this book; the second finds them all already there (on
    # the shared stack another test's monthly term may come due in between: not counted).
    with stack.clock_held():
        first = stack.api("POST", "/api/ops/renewal-sweeps")
        assert first.status_code == 200, first.text
        started_first = {label: stack.instance(iid) is not None for label, iid in instances.items()}
        second = stack.api("POST", "/api/ops/renewal-sweeps")
    assert all(started_first.values()), started_first
    assert second.json()["already"] >= len(instances), second.json()

    def all_done() -> bool:
        statuses = [stack.instance(iid) for iid in instances.values()]
        return all(s is not None and s["runtimeStatus"] == "Completed" for s in statuses)

    try:
        wait_until("every renewal to finish", all_done, timeout=200)
    except AssertionError as exc:
        states = {
            label: (stack.instance(iid) or {}).get("customStatus")
            for label, iid in instances.items()
        }
        raise AssertionError(f"{exc}; at {stack.now()}: {states}") from None

    inbox = Inbox(stack.mail)
    for label, (outcome, reminders) in EXPECTED.items():
        cid, tenant, sid = subs[label]
        renewal = book.renewals.get(sid, terms[label]).record
        assert renewal.outcome == outcome, (label, renewal)
        assert len(renewal.reminders_sent) == reminders, (label, renewal)
        mails = inbox.messages(to=ns.email(label))
        assert sum("Decide by" in m["subject"] for m in mails) == reminders, (label, mails)
        kpi = book.kpi_events.find("renewal_outcome", rid[label], terms[label])
        assert kpi is not None and kpi.outcome == outcome, label
        now_in_pc = stack.partner_center.get_subscription(tenant, sid)
        renewed = now_in_pc.term_end > terms[label]
        assert renewed == (outcome in ("renewed", "changed")), (label, now_in_pc)
        # every decision applied before the lock
        if renewal.applied_at is not None:
            assert renewal.applied_at <= terms[label] - timedelta(hours=24), label
    changed = stack.partner_center.get_subscription(subs["changed"][1], subs["changed"][2])
    assert changed.quantity == 2
    told = inbox.messages(to=ns.email("owing"))
    assert any("Decide by" not in m["subject"] for m in told)  # told auto-renew went off


def partner_center_faults(stack: LocalStack, **values: Any) -> None:
    """The Partner Center sandbox's fault injection (sandbox/partner_center/README.md)."""
    answer = requests.post(
        stack.sandbox_url("partner-center") + "/_sandbox/faults",
        json=values,
        verify=str(stack.settings.partner_center_ca_bundle),
        timeout=10,
    )
    answer.raise_for_status()


def test_a_decision_partner_center_answers_renewal_processing_is_held_and_applied_before_the_lock(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#renewal-processing: 409 800082, "wait and resubmit"; the decision is held
    # on a durable timer and applied once Partner Center takes it, never lost.
    book = Book(stack.settings)
    tenant, sid = make(stack, ns, "busy", "P1Y", True)
    cid = ns.id("busy")
    book.customers.add(
        book_customer(cid, tenant_id=tenant, billing_currency="USD",
                      contacts=[{"name": "Ada Lee", "email": ns.email("busy")}])
    )  # fmt: skip
    read = stack.partner_center.get_subscription(tenant, sid)
    subscription_in_book(book, cid, read, PRICE)
    term_end = read.term_end
    stack.advance(term_end - stack.now() - timedelta(days=20))
    assert stack.api("POST", "/api/ops/renewal-sweeps").status_code == 200
    iid = f"renewal-{sid}-{term_end:%Y%m%d}"
    wait_until("the renewal to start", lambda: (stack.instance(iid) or {}).get("customStatus"))
    partner_center_faults(stack, renewing_next=2)
    try:
        decided_at = stack.now()
        answer = stack.api(
            "POST",
            f"/api/renewals/{renewal_id(sid, f'{term_end:%Y%m%d}')}/decision",
            json={"choice": "cancel"},
        )
        assert answer.status_code == 200 and answer.json()["accepted"], answer.text

        def applied() -> Any:
            renewal = book.renewals.get(sid, term_end).record
            return renewal if renewal.applied_at is not None else None

        renewal = wait_until("the held decision to be applied", applied, timeout=200)
    finally:
        partner_center_faults(stack, renewing_next=0)
    # two 409s, each held 30 minutes, then taken: before the lock, and nothing refused
    assert renewal.applied_at >= decided_at + timedelta(minutes=60), renewal
    assert renewal.applied_at <= term_end - timedelta(hours=24) and renewal.refused is None
    assert stack.partner_center.get_subscription(tenant, sid).auto_renew_enabled is False
    wait_until(
        "the renewal to finish",
        lambda: (stack.instance(iid) or {}).get("runtimeStatus") == "Completed",
        timeout=200,
    )
    assert book.renewals.get(sid, term_end).record.outcome == "cancelled"
    assert_one_outcome_event(book, sid, term_end, "cancelled")


def test_a_late_decision_held_by_renewal_processing_until_the_lock_is_refused_and_told(
    stack: LocalStack, ns: Namespace
):
    # docs/rules.md#renewal-processing, #renewal-lock: a cancellation taken in the last 24 h
    # before the lock, Partner Center answering 409 800082 to every write until the lock
    # begins: refused with the next action, ops alerted, the customer mailed why and what
    # is still possible; Partner Center unchanged, and the term renews.
    book = Book(stack.settings)
    tenant, sid = make(stack, ns, "held", "P1Y", True)
    cid = ns.id("held")
    book.customers.add(
        book_customer(cid, tenant_id=tenant, billing_currency="USD",
                      contacts=[{"name": "Ada Lee", "email": ns.email("held")}])
    )  # fmt: skip
    read = stack.partner_center.get_subscription(tenant, sid)
    subscription_in_book(book, cid, read, PRICE)
    term_end = read.term_end
    lock = term_end - timedelta(hours=24)
    stack.advance(term_end - stack.now() - timedelta(days=20))
    assert stack.api("POST", "/api/ops/renewal-sweeps").status_code == 200
    iid = f"renewal-{sid}-{term_end:%Y%m%d}"
    wait_until("the renewal to start", lambda: (stack.instance(iid) or {}).get("customStatus"))
    with stack.clock_held():
        stack.advance(lock - timedelta(hours=12) - stack.now())  # after the deadline
        partner_center_faults(stack, renewing_next=1000)
        answer = stack.api(
            "POST",
            f"/api/renewals/{renewal_id(sid, f'{term_end:%Y%m%d}')}/decision",
            json={"choice": "cancel"},
        )
        assert answer.status_code == 200 and answer.json()["accepted"], answer.text
    try:

        def refused() -> Any:
            renewal = book.renewals.get(sid, term_end).record
            return renewal if renewal.refused is not None else None

        renewal = wait_until("the held decision to be refused", refused, timeout=200)
        inbox = Inbox(stack.mail)
        told = wait_until(
            "the customer to be told",
            lambda: [
                m for m in inbox.messages(to=ns.email("held"))
                if "could not be applied" in m["subject"]
            ],
            timeout=60,
        )  # fmt: skip
    finally:
        partner_center_faults(stack, renewing_next=0)
    assert renewal.applied_at is None and "cancel inside" in (renewal.refused or "")
    assert len(told) == 1 and datetime.fromisoformat(told[0]["received_at"]) >= lock
    text = str(inbox.read(told[0]["id"]))
    assert "within the first 7 days of the new term" in text
    assert book.alerts.find(lock, f"renewal-refused:{renewal_id(sid, f'{term_end:%Y%m%d}')}")
    assert stack.partner_center.get_subscription(tenant, sid).auto_renew_enabled is True
    wait_until(
        "the renewal to finish",
        lambda: (stack.instance(iid) or {}).get("runtimeStatus") == "Completed",
        timeout=200,
    )
    renewed = book.renewals.get(sid, term_end).record
    assert renewed.outcome == "renewed" and renewed.against_decision  # ops alerted again
    assert_one_outcome_event(book, sid, term_end, "renewed")


def assert_one_outcome_event(book: Book, sid: str, term_end: datetime, outcome: str) -> None:
    """The renewal's `renewal_outcome` KPI event, recorded once (whatever brought the
    confirmation: the subscription-updated webhook or the poll)."""
    rid = renewal_id(sid, f"{term_end:%Y%m%d}")
    events = book.kpi_events.of_month(term_end, "renewal_outcome", limit=1000).items
    assert [e.outcome for e in events if e.subject_id == rid] == [outcome]


# -- a year of a book ---------------------------------------------------------------------------
# About thirty subscriptions of every term and billing cycle, run through a year of daily
# sweeps on the held virtual clock: every day at 00:00 UTC (where NCE terms end, so where
# every reminder, deadline and lock falls) the clock moves one day, the timers due fire, the
# sweep runs, and the customers act. docs/rules.md#reminder-cadence, #monthly-reminders,
# #no-answer, #decision-deadline, #renewal-lock.

Trigger = int | Literal["late", "too_late"] | timedelta
OFFSETS = (60, 30, 7)  # days before the decision deadline (docs/rules.md#reminder-cadence)
MONTHLY_OFFSET = 7  # docs/rules.md#monthly-reminders


@dataclass(frozen=True)
class Decide:
    """A decision taken on the first term: `by` link (the reminder's, a form POST) or the
    partner API, once `when` reminders came (or "late": 12 h after the deadline, "too_late":
    6 h after the lock; a timedelta: that long after the year began), and what Partner Center
    holds afterwards (before the lock)."""

    by: Literal["link", "api"]
    when: Trigger
    body: dict[str, Any]
    holds: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Holding:
    term: TermDuration
    cycle: BillingCycleName = "monthly"
    auto_renew: bool = True
    owing: bool = False  # an open dunning case
    scheduled: int | None = None  # seats already scheduled for the next term in Partner Center
    end: Literal["natural", "calendar", "coterm"] = "natural"
    owner: str | None = None  # another holding's customer (its term end, for a coterm)
    decide: Decide | None = None
    # The first term's reminders and outcome; a monthly term rolling over renews again and
    # again with no reminder (`rolls`).
    reminders: int = 0
    outcome: str | None = None
    rolls: bool = False


CANCEL = {"choice": "cancel"}
YEAR_BOOK: dict[str, Holding] = {
    # monthly terms: roll over with nothing to decide (no reminder, ever), or something to decide
    "mroll1": Holding("P1M", rolls=True),
    "mroll2": Holding("P1M", rolls=True),
    "mroll3": Holding("P1M", rolls=True),
    "mrolloff": Holding("P1M", auto_renew=False, reminders=1, outcome="lapsed"),
    "mowing": Holding("P1M", owing=True, reminders=1, outcome="lapsed"),
    "msched": Holding("P1M", scheduled=4, reminders=1, outcome="changed", rolls=True),
    "mapicancel": Holding(
        "P1M", rolls=True,
        decide=Decide("api", timedelta(days=70), CANCEL, {"auto_renew_enabled": False}),
    ),
    # annual terms, billed monthly and annually
    "yquietm": Holding("P1Y", reminders=3, outcome="renewed"),
    "yquieta": Holding("P1Y", "annual", reminders=3, outcome="renewed"),
    "yoffm": Holding("P1Y", auto_renew=False, reminders=3, outcome="lapsed"),
    "yoffa": Holding("P1Y", "annual", auto_renew=False, reminders=3, outcome="lapsed"),
    "yowingm": Holding("P1Y", owing=True, reminders=3, outcome="lapsed"),
    "yowinga": Holding("P1Y", "annual", owing=True, reminders=3, outcome="lapsed"),
    "ysched": Holding("P1Y", scheduled=5, reminders=3, outcome="changed"),
    "yschedowing": Holding("P1Y", owing=True, scheduled=5, reminders=3, outcome="lapsed"),
    "ycal": Holding("P1Y", end="calendar", reminders=3, outcome="renewed"),
    "ycaloff": Holding("P1Y", "annual", auto_renew=False, end="calendar", reminders=3,
                       outcome="lapsed"),
    "ylinkcancel": Holding(
        "P1Y", reminders=1, outcome="cancelled",
        decide=Decide("link", 1, CANCEL, {"auto_renew_enabled": False}),
    ),
    "ylinkchange": Holding(
        "P1Y", "annual", reminders=2, outcome="changed",
        decide=Decide("link", 2, {"choice": "change", "quantity": "2"}, {"scheduled_quantity": 2}),
    ),
    "ylinkrenew": Holding(
        "P1Y", auto_renew=False, reminders=1, outcome="renewed",
        decide=Decide("link", 1, {"choice": "renew"}, {"auto_renew_enabled": True}),
    ),
    "yapichange": Holding(
        "P1Y", reminders=1, outcome="changed",
        decide=Decide(
            "api", 1, {"choice": "change", "quantity": 6, "billing_cycle": "annual"},
            {"scheduled_quantity": 6, "scheduled_cycle": "annual"},
        ),
    ),
    "yapicancel": Holding(
        "P1Y", "annual", reminders=2, outcome="cancelled",
        decide=Decide("api", 2, CANCEL, {"auto_renew_enabled": False}),
    ),
    "yapirenew": Holding(
        "P1Y", auto_renew=False, reminders=3, outcome="renewed",
        decide=Decide("api", 3, {"choice": "renew"}, {"auto_renew_enabled": True}),
    ),
    # in the last 24 h before the lock: still taken, applied before the lock
    "ylate": Holding(
        "P1Y", reminders=3, outcome="cancelled",
        decide=Decide("api", "late", CANCEL, {"auto_renew_enabled": False}),
    ),
    # after the lock: refused with the next action, nothing changed
    "ytoolate": Holding(
        "P1Y", reminders=3, outcome="renewed", decide=Decide("api", "too_late", CANCEL)
    ),
    # three-year terms: aligned with an annual term of the same customer, or ending years on
    "tcoterm": Holding("P3Y", end="coterm", owner="yquietm", reminders=3, outcome="renewed"),
    "tcotermtri": Holding("P3Y", "triennial", end="coterm", owner="yquieta", reminders=2,
                          outcome="cancelled",
                          decide=Decide("api", 2, CANCEL, {"auto_renew_enabled": False})),
    "tcotermoff": Holding("P3Y", "annual", auto_renew=False, end="coterm", owner="yoffm",
                          reminders=3, outcome="lapsed"),
    "tnatural": Holding("P3Y", "annual"),  # ends years on: nothing this year
    "tnaturaloff": Holding("P3Y", auto_renew=False),  # nor this one
}  # fmt: skip


def buy(stack: LocalStack, ns: Namespace, label: str, h: Holding, tenant: str | None,
        coterm: Any = None) -> tuple[str, str]:  # fmt: skip
    """The holding bought in the Partner Center sandbox (a new customer unless `tenant`)."""
    pc = stack.partner_center
    if tenant is None:
        tenant, _ = make_customer(stack, ns, label)
    end = None
    if h.end == "coterm":
        end = coterm
    elif h.end == "calendar":
        dates = pc.custom_term_end_dates(tenant, h.term)
        end = next(
            d.allowed_custom_term_end_date.date()
            for d in dates
            if d.allowed_custom_term_end_date_type == "calendarMonthAligned"
        )
    line = CartLine(catalog_item_id=BASIC, quantity=3, term_duration=h.term,
                    billing_cycle=h.cycle, custom_term_end_date=end)  # fmt: skip
    cart = pc.create_cart(tenant, [line], request_id=ns.request_id(f"{label}-cart"))
    done = pc.checkout(tenant, cart.id, request_id=ns.request_id(f"{label}-checkout"))
    sid = done.orders[0].line_items[0].subscription_id
    assert sid is not None
    if not h.auto_renew:
        pc.set_auto_renew(tenant, sid, False, request_id=ns.request_id(f"{label}-ar"))
    if h.scheduled is not None:
        product_id, sku_id, availability_id = BASIC.split(":")
        pc.schedule_next_term(
            tenant,
            sid,
            ScheduledNextTermInstructions(
                product=ScheduledProduct(
                    product_id=product_id,
                    sku_id=sku_id,
                    availability_id=availability_id,
                    billing_cycle=h.cycle,
                    term_duration=h.term,
                ),
                quantity=h.scheduled,
            ),
            request_id=ns.request_id(f"{label}-schedule"),
        )
    return tenant, sid


def make_customer(stack: LocalStack, ns: Namespace, label: str) -> tuple[str, str]:
    pc = stack.partner_center
    made = pc.create_customer(
        NewCustomer(
            domain_prefix=ns.domain_prefix(label),
            company_name=ns.company(label.title()),
            email=ns.email(label),
            address=Address(first_name="Ada", last_name="Lee", address_line1="1 Main St",
                            city="Seattle", state="WA", postal_code="98101", country="US"),
        ),
        request_id=ns.request_id(f"{label}-create"),
    )  # fmt: skip
    tenant = made.customer.id
    pc.attest_mca(
        tenant,
        AgreementContact(first_name="Ada", last_name="Lee", email=ns.email(label)),
        stack.now(),
        request_id=ns.request_id(f"{label}-mca"),
    )
    return tenant, ""


RETRY_LOOK_AFTER_S = 5.0  # real seconds a renewal may stay busy before a retry is looked for


class Year:
    """The held clock, moved day by day, and what the test waits for between moves."""

    def __init__(
        self,
        stack: LocalStack,
        book: Book,
        subs: dict[str, tuple[str, str, str]],
        since: datetime,
    ) -> None:
        self.stack, self.book, self.subs, self.since = stack, book, subs, since
        self.mine = {sid for _, _, sid in subs.values()}
        self.now = stack.now()
        # The earliest wake-up of this book's renewals at the last settle: a move before it
        # fires none of their timers.
        self.next_due: datetime | None = None

    def move_to(self, when: datetime) -> None:
        """The clock moved to `when` (held: the timers due by then fire), and settled. The
        app reads the clock file devhost rewrites on every move (devhost/clock_file.py): the
        next request sees the new time."""
        moved = self.stack.api("POST", "/admin/clock", json={"set": when.isoformat()}, key="master")
        assert moved.status_code == 200, moved.text
        self.now = when
        if self.next_due is None or when >= self.next_due:  # else no timer of ours is due
            self.settle()

    def sweep(self) -> dict[str, Any]:
        answer = self.stack.api("POST", "/api/ops/renewal-sweeps")
        assert answer.status_code == 200, answer.text
        report: dict[str, Any] = answer.json()
        if report["started"]:
            self.settle()
        return report

    def settle(self, timeout: float = 60) -> None:
        """Until every renewal of this book waits on a timer after now (its custom status
        names its next wake-up): nothing of it runs or is due."""
        deadline = time.monotonic() + timeout
        while True:
            ours = [
                s
                for s in self.stack.instances(created_from=self.since, statuses=ACTIVE)
                if s.get("name") == "renewal" and self._ours(s["instanceId"])
            ]
            busy = [s["instanceId"] for s in ours if not self._waits(s)]
            if not busy:
                wakes = [datetime.fromisoformat(s["customStatus"]["next_wake"]) for s in ours]
                self.next_due = min(wakes, default=None)
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"at {self.now}: still busy: {busy}")
            if time.monotonic() > deadline - timeout + RETRY_LOOK_AFTER_S:
                self._fire_retries(busy)
            time.sleep(0.05)

    def _fire_retries(self, busy: list[str]) -> None:
        """An activity that failed for a passing reason (a slow reply on a loaded machine) is
        retried after a durable timer (workflows/durable.py RETRY_POLICIES), and the held
        clock would never reach it: when every busy renewal waits on such a timer, the clock
        moves to the latest of them (minutes, never a day), as time would."""
        fire_at: list[datetime] = []
        for iid in busy:
            pending = self._pending_timer(iid)
            if pending is None:
                return  # one still runs: wait for it
            fire_at.append(pending)
        when = max(fire_at)
        assert when - self.now < timedelta(hours=1), f"{busy} wait until {when}, not a retry"
        print(f"at {self.now}: {busy} retry a failed activity at {when}")
        moved = self.stack.api("POST", "/admin/clock", json={"set": when.isoformat()}, key="master")
        assert moved.status_code == 200, moved.text
        self.now = when

    def _pending_timer(self, iid: str) -> datetime | None:
        """The fire time of the durable timer `iid` waits on after a failed activity (a
        retry), or None when it waits on no such timer."""
        status = self.stack.instance(iid, history=True) or {}
        if self._waits(status):
            # Its episode ended between the listing and this read: it now waits on its next
            # wake-up (a timer of days), which is no retry; the next listing sees it waiting.
            return None
        events = status.get("historyEvents") or []
        created = [e for e in events if e["EventType"] == "TimerCreated"]
        fired = {e.get("FireAt") for e in events if e["EventType"] == "TimerFired"}
        pending = [e["FireAt"] for e in created if e["FireAt"] not in fired]
        failed = any(e["EventType"] == "TaskFailed" for e in events)
        if not pending or not failed:
            return None
        when = min(datetime.fromisoformat(f.replace("Z", "+00:00")) for f in pending)
        return when if when > self.now else None

    def _ours(self, iid: str) -> bool:
        return any(sid in iid for sid in self.mine)

    def _waits(self, status: dict[str, Any]) -> bool:
        custom = status.get("customStatus")
        if not isinstance(custom, dict) or not custom.get("next_wake"):
            return False
        return datetime.fromisoformat(custom["next_wake"]) > self.now

    def reminders_sent(self, label: str, term_end: datetime) -> int:
        _, _, sid = self.subs[label]
        found = self.book.renewals.find(sid, term_end)
        return 0 if found is None else len(found.record.reminders_sent)


def slow_mail_server(stack: LocalStack) -> None:
    """The mail sandbox's next greeting comes later than the app's SMTP timeout."""
    seconds = stack.settings.smtp_timeout_s + 2
    answer = requests.post(
        stack.mail + "/api/faults",
        json={"slow": {"phase": "ehlo", "seconds": seconds, "times": 1}},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def link_in(inbox: Inbox, mail: dict[str, Any]) -> str:
    """The decision link of a reminder (its plain-text part)."""
    message = email.message_from_bytes(inbox.raw(mail["id"]), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    found = re.search(r"https?://\S+/api/r/[A-Za-z0-9_.\-]+", body.get_content())
    assert found is not None, body.get_content()
    return found.group(0)


def reminder_mails(inbox: Inbox, to: str, sid: str) -> list[tuple[dict[str, Any], str]]:
    """The reminders of subscription `sid` mailed to `to`, with their links, oldest first (a
    customer with two subscriptions gets the reminders of both; the link names the renewal)."""
    found = []
    for mail in inbox.messages(to=to):
        if "Decide by" in mail["subject"]:
            url = link_in(inbox, mail)
            claims = jwt.decode(url.rsplit("/", 1)[1], options={"verify_signature": False})
            if str(claims["sub"]).startswith(f"{sid}~"):
                found.append((mail, url))
    return sorted(found, key=lambda found: str(found[0]["received_at"]))


def expected_reminder_days(h: Holding, term_end: datetime) -> list[date]:
    deadline = term_end - timedelta(hours=48)
    offsets = (MONTHLY_OFFSET,) if h.term == "P1M" else OFFSETS
    return sorted((deadline - timedelta(days=d)).date() for d in offsets)[: h.reminders]


@pytest.mark.slow  # a year of daily sweeps: about 1 s of virtual-clock steps per 4 days
@pytest.mark.timeout(900)  # 3 to 5 minutes on a loaded 2-core machine; the default is 300 s
def test_a_year_of_a_book_renews_each_term_as_decided_and_nothing_else(
    stack: LocalStack, ns: Namespace
):
    book = Book(stack.settings)
    pc = stack.partner_center
    subs: dict[str, tuple[str, str, str]] = {}  # label: customer id, tenant, subscription id
    for label, h in YEAR_BOOK.items():
        owner = subs.get(h.owner) if h.owner else None
        coterm = None
        if owner is not None:
            coterm = pc.get_subscription(owner[1], owner[2]).commitment_end_date
        tenant, sid = buy(stack, ns, label, h, owner[1] if owner else None, coterm)
        cid = owner[0] if owner else ns.id(label)
        if owner is None:
            book.customers.add(
                book_customer(cid, tenant_id=tenant, billing_currency="USD",
                              contacts=[{"name": "Ada Lee", "email": ns.email(label)}])
            )  # fmt: skip
            if h.owing:
                book.dunning.open(dunning_case(ns.id(f"{label}-inv"), cid))
        subscription_in_book(book, cid, pc.get_subscription(tenant, sid), PRICE)
        subs[label] = (cid, tenant, sid)
    first_end = {label: pc.get_subscription(t, s).term_end for label, (_, t, s) in subs.items()}
    year_end = max(first_end[label] for label, h in YEAR_BOOK.items() if h.outcome) + timedelta(
        days=2
    )
    assert year_end - stack.now() < timedelta(days=375)
    inbox = Inbox(stack.mail)
    year = Year(stack, book, subs, ns.started_at.replace(microsecond=0))
    decided: dict[str, datetime] = {}  # label: when Partner Center held the decision
    refused: dict[str, dict[str, Any]] = {}
    sweeps = 0
    started = time.monotonic()
    # The first reminder day's first mail finds the mail server too slow to greet: when that
    # is a reminder, it is retried (a durable timer) and still arrives once, on its day.
    slow_day = min(expected_reminder_days(h, first_end[label])[0]
                   for label, h in YEAR_BOOK.items() if h.reminders)  # fmt: skip
    with stack.clock_held():
        day = (stack.now() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= year_end:
            if day.date() == slow_day:
                slow_mail_server(stack)
            year.move_to(day)
            year.sweep()
            sweeps += 1
            for label, h in YEAR_BOOK.items():
                if h.decide is not None and label not in decided and label not in refused:
                    act(year, inbox, ns, label, h, h.decide, first_end[label], decided, refused)
            day += timedelta(days=1)
    elapsed = time.monotonic() - started
    assert sweeps >= 365
    # The slow greeting was met (by the day's first mail: a reminder, or another notice of
    # the shared stack), and every reminder still came on its day (below).
    faults = requests.get(stack.mail + "/api/faults", timeout=10).json()
    assert faults["slow"]["times"] == 0, faults

    for label, h in YEAR_BOOK.items():
        cid, tenant, sid = subs[label]
        renewals = sorted(
            (r for r in book.renewals.of_subscription(sid, limit=100).items
             if r.term_end <= year_end - timedelta(days=2)),
            key=lambda r: r.term_end,
        )  # fmt: skip
        now_in_pc = pc.get_subscription(tenant, sid)
        if h.outcome is None and not h.rolls:  # nothing renews this year: nothing happens
            assert renewals == [] and now_in_pc.term_end == first_end[label], (label, renewals)
            assert now_in_pc.status == "active"
            continue
        assert renewals and renewals[0].term_end == first_end[label], (label, renewals)
        outcomes = [r.outcome for r in renewals]
        if h.rolls and h.decide is not None:  # rolled over until cancelled by the partner
            assert len(renewals) >= 3 and renewals[-1].decision == "turn_off_auto_renew", label
            assert outcomes == ["renewed"] * (len(renewals) - 1) + ["cancelled"], label
        elif h.rolls:  # a month at a time, all year
            assert len(renewals) >= 11, (label, outcomes)
            assert outcomes == [h.outcome or "renewed"] + ["renewed"] * (len(renewals) - 1), label
        else:
            assert outcomes == [h.outcome], (label, renewals)
        # reminders: at their offsets, on the first term only
        mails = reminder_mails(inbox, ns.email(h.owner or label), sid)
        days = [datetime.fromisoformat(m["received_at"]).date() for m, _ in mails]
        assert days == expected_reminder_days(h, first_end[label]), (label, days)
        assert len(renewals[0].reminders_sent) == h.reminders, (label, renewals[0])
        assert all(r.reminders_sent == () for r in renewals[1:]), label  # roll-overs: none
        # outcomes and KPI events, each once
        for r in renewals:
            assert r.outcome is not None
            assert_one_outcome_event(book, sid, r.term_end, r.outcome)
        # Partner Center renewed what it should and ended what it should
        last = renewals[-1]
        if last.outcome in ("renewed", "changed"):
            assert now_in_pc.term_end > last.term_end and now_in_pc.status == "active", label
        else:
            assert now_in_pc.status in ("expired", "disabled", "deleted"), (label, now_in_pc)
            assert now_in_pc.term_end == last.term_end, label
        # every decision applied before the lock
        for r in renewals:
            assert r.applied_at is None or r.applied_at <= r.term_end - timedelta(hours=24), r

    # what the changes left in Partner Center
    def quantity(label: str) -> tuple[int, str]:
        got = pc.get_subscription(subs[label][1], subs[label][2])
        return got.quantity, got.billing_cycle

    assert quantity("ylinkchange") == (2, "annual")
    assert quantity("yapichange") == (6, "annual")
    assert quantity("ysched")[0] == 5 and quantity("msched")[0] == 4
    assert set(decided) == {label for label, h in YEAR_BOOK.items() if h.decide} - {"ytoolate"}
    assert "too_late" in str(refused["ytoolate"]), refused
    # the customers in dunning told auto-renew went off
    for label in ("mowing", "yowingm", "yowinga", "yschedowing"):
        told = [m for m in inbox.messages(to=ns.email(label)) if "Decide by" not in m["subject"]]
        assert told, label
    print(f"a year of {len(YEAR_BOOK)} subscriptions: {sweeps} sweeps in {elapsed:.1f} s")


def act(
    year: Year,
    inbox: Inbox,
    ns: Namespace,
    label: str,
    h: Holding,
    d: Decide,
    term_end: datetime,
    decided: dict[str, datetime],
    refused: dict[str, dict[str, Any]],
) -> None:
    """The customer (or the partner) acts on `label`'s renewal when `d.when` says."""
    stack, now = year.stack, year.now
    _, tenant, sid = year.subs[label]
    lock = term_end - timedelta(hours=24)
    if isinstance(d.when, timedelta):
        if now < year.since + d.when:
            return
        current = year.book.subscriptions.get(year.subs[label][0], sid).record.term_end
        term_end, lock = current, current - timedelta(hours=24)
    elif d.when == "late":
        if now != lock - timedelta(hours=24):
            return
        year.move_to(now + timedelta(hours=12))
    elif d.when == "too_late":
        if now != lock:
            return
        year.move_to(now + timedelta(hours=6))
    elif now.date() < expected_reminder_days(h, term_end)[d.when - 1]:
        return
    else:  # the reminder the customer acts on came on its day
        assert year.reminders_sent(label, term_end) >= d.when, (label, now)
    rid = renewal_id(sid, f"{term_end:%Y%m%d}")
    if d.by == "link":
        mailed = reminder_mails(inbox, ns.email(h.owner or label), sid)[-1][1]
        url = stack.url + mailed[mailed.index("/api/r/") :]  # the stack's port, not the example's
        page = stack.http.get(url, headers={"accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and "<form" in page.text, page.text
        answer = stack.http.post(url, data=d.body, headers={"accept": "application/json"},
                                 timeout=30)  # fmt: skip
        assert answer.status_code == 200 and answer.json()["ok"], (label, answer.text)
    else:
        answer = stack.api("POST", f"/api/renewals/{rid}/decision", json=d.body)
        if d.when == "too_late":
            assert answer.status_code == 422, (label, answer.text)
            refused[label] = answer.json()
            assert stack.partner_center.get_subscription(tenant, sid).auto_renew_enabled
            return
        assert answer.status_code == 200 and answer.json()["accepted"], (label, answer.text)

    def holds() -> bool:
        got = stack.partner_center.get_subscription(tenant, sid)
        scheduled = got.scheduled_next_term_instructions
        for what, value in d.holds.items():
            if what == "auto_renew_enabled" and got.auto_renew_enabled != value:
                return False
            if what == "scheduled_quantity" and (scheduled is None or scheduled.quantity != value):
                return False
            if what == "scheduled_cycle" and (
                scheduled is None or scheduled.product.billing_cycle != value
            ):
                return False
        return True

    wait_until(f"{label}'s decision in Partner Center", holds, timeout=60)
    assert stack.now() < lock, label  # before the lock: Partner Center's own state says so
    decided[label] = stack.now()
    year.settle()
