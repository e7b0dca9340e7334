"""The book sync through the whole local stack over HTTP: a partner's customers made in the
Partner Center and Stripe sandboxes are adopted into the book exactly, linked to their
Stripe customers (an ambiguous one reported, not linked), a second run writes nothing, a
change made by hand in Partner Center is corrected and on the timeline, and a customer gone
from Partner Center is flagged, not deleted.

The stack is shared: other tests' customers are in it too, and the sync adopts them as well;
this test looks at its own."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from shared.book import Book
from shared.models.book_sync import BookSyncReport
from shared.partner_center.models import Address, AgreementContact, CartLine, NewCustomer
from shared.payments import PARTNER_CUSTOMER_KEY
from tests.book_sync_checks import mirror_differences, snapshot
from tests.e2e.harness import LocalStack, Namespace
from tests.shared.book.records import customer as book_customer

pytestmark = pytest.mark.e2e

ROUTE = "/api/ops/book-syncs"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"


def make_customer(stack: LocalStack, ns: Namespace, label: str, email: str) -> str:
    """A customer of this test in Partner Center, with the agreement and one subscription."""
    pc = stack.partner_center
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
    line = CartLine(catalog_item_id=BASIC, quantity=3, term_duration="P1Y", billing_cycle="monthly")
    cart = pc.create_cart(tenant, [line], request_id=ns.request_id(f"{label}-cart"))
    pc.checkout(tenant, cart.id, request_id=ns.request_id(f"{label}-checkout"))
    return tenant


def run_sync(stack: LocalStack) -> BookSyncReport:
    first, second = stack.api("POST", ROUTE), stack.api("POST", ROUTE)
    assert first.status_code == second.status_code == 202, first.text
    assert first.headers["Location"] == second.headers["Location"]  # one run at a time
    deadline = time.monotonic() + 120
    while (answer := stack.api("GET", first.headers["Location"])).status_code == 202:
        assert int(answer.headers["Retry-After"]) > 0
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    assert view["state"] == "completed", view
    return BookSyncReport.model_validate(view["report"])


def test_a_partners_book_is_adopted_linked_kept_in_step_and_its_gone_flagged(
    stack: LocalStack, ns: Namespace
):
    linked = make_customer(stack, ns, "linked", ns.email("billing"))
    lonely = make_customer(stack, ns, "lonely", f"ap@{ns.prefix}lonely.example")
    group = f"{ns.prefix}group.example"
    sisters = [make_customer(stack, ns, f"sister{n}", f"it{n}@{group}") for n in range(2)]
    mine = [linked, lonely, *sisters]
    paying = stack.stripe.v1.customers.create(
        {"name": "Linked", "email": ns.email("billing"),
         "metadata": {**ns.metadata, PARTNER_CUSTOMER_KEY: linked}}
    )  # fmt: skip
    shared = stack.stripe.v1.customers.create(
        {"name": "Group", "email": f"ap@{group}", "metadata": ns.metadata}
    )
    book = Book(stack.settings)
    gone = book_customer(ns.id("gone"), tenant_id=str(uuid.uuid4()))
    book.customers.add(gone)  # a customer the book has and Partner Center no longer lists

    report = run_sync(stack)

    assert report.complete, report.error
    assert set(mine) <= set(report.adopted.ids) | set(report.unchanged.ids)
    assert mirror_differences(book, stack.partner_center, mine) == []
    assert book.customers.get(linked).record.stripe_customer_id == paying.id
    assert lonely in report.unlinked.ids
    [match] = [m for m in report.ambiguous if m.value == group]
    assert (sorted(match.customer_ids), match.stripe_customer_ids) == (
        sorted(sisters),
        (shared.id,),
    )
    assert all(book.customers.get(s).record.stripe_customer_id is None for s in sisters)
    assert ns.id("gone") in report.gone.ids
    assert book.customers.get(ns.id("gone")).record.gone_from_partner_center_at is not None

    def ours(where: str) -> bool:
        return any(key in where for key in (*mine, ns.id("gone"), paying.id))

    before = snapshot(book, ours)
    again = run_sync(stack)
    assert again.run_id != report.run_id
    assert set(mine) <= set(again.unchanged.ids)
    assert snapshot(book, ours) == before  # nothing of ours written again

    sub = stack.partner_center.list_subscriptions(lonely)[0]
    stack.partner_center.set_quantity(lonely, sub.id, 7, request_id=ns.request_id("by-hand"))
    third = run_sync(stack)
    assert lonely in third.updated.ids and sub.id in third.subscriptions_corrected.ids
    assert mirror_differences(book, stack.partner_center, [lonely]) == []
    [entry] = [e for e in book.timeline.page(lonely, limit=100).items if e.changes]
    changes = {c.field: (c.before, c.after) for c in entry.changes}
    assert changes["quantity"] == (3, 7)  # and the seats that can still be removed with it
    assert set(changes) == {"quantity", "refundable_quantity"}
    assert book.customers.find(ns.id("gone")) is not None  # flagged, never deleted
