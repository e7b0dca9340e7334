"""Renewals through the whole local stack in virtual time: a small book of subscriptions of
every kind (annual with auto-renew on and off, monthly rolling over, a customer in dunning,
one decided through a mailed link, one changed through the partner API) swept once the
terms come due; the run of each renewal to its outcome checked on the sandboxes' own state
(Partner Center's subscriptions, the mail sandbox) and in the book (outcomes, KPI events).
docs/renewals.md; docs/rules.md#reminder-cadence, #monthly-reminders, #no-answer,
#renewal-lock, #renewal-processing."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import requests

from shared.book import Book
from shared.book.partner_center import apply_partner_center_subscription
from shared.models import SubscriptionRecord
from shared.models.catalog import BillingCycleName, TermDuration
from shared.models.money import Money
from shared.models.renewal import renewal_id
from shared.partner_center.models import Address, AgreementContact, CartLine, NewCustomer
from shared.signed_links import LinkClaims, sign
from tests.e2e.harness import LocalStack, Namespace
from tests.sandbox.mail.harness import Inbox
from tests.shared.book.records import customer as book_customer
from tests.shared.book.records import dunning_case

pytestmark = pytest.mark.e2e

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
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
        book.subscriptions.add(
            SubscriptionRecord(
                customer_id=cid,
                subscription=read,
                unit_price=Money(amount_minor=720, currency="USD"),
            )
        )
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

    # Two sweeps the same day, the clock held between them: an idle host would jump to the
    # first reminder's timer and the second sweep's window would then hold more terms.
    with stack.clock_held():
        first = stack.api("POST", "/api/ops/renewal-sweeps")
        assert first.status_code == 200, first.text
        second = stack.api("POST", "/api/ops/renewal-sweeps")
    assert second.json()["started"] == 0, second.json()  # the same day: nothing new
    assert second.json()["already"] == first.json()["due"]

    instances = {label: f"renewal-{subs[label][2]}-{terms[label]:%Y%m%d}" for label in subs}

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
    book.subscriptions.add(
        SubscriptionRecord(
            customer_id=cid, subscription=read, unit_price=Money(amount_minor=720, currency="USD")
        )
    )
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
