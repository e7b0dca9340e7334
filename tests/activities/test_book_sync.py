"""The book sync's activities against a real Partner Center sandbox (HTTPS, MSAL), a real
Stripe sandbox and a real Azurite, each called as the Functions host calls it; and whole runs
of the real orchestrator on them (one step after another, tests/book_sync_checks.py): the
demo partner adopted exactly, a second run writing nothing, a change made in Partner Center by
hand corrected and on the timeline, an ambiguous Stripe match reported and not linked, a
customer gone from Partner Center flagged and kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from activities.book_sync import (
    adopted_customer,
    flag_gone_customers,
    read_customer_page,
    record_book_sync,
    sync_customer,
)
from sandbox.common.demo import CUSTOMERS as DEMO
from sandbox.partner_center.seed import seed_demo as seed_partner_center_demo
from sandbox.stripe.seed import seed_demo as seed_stripe_demo
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.errors import StepError
from shared.models import SubscriptionRecord
from shared.models.book_sync import CustomerSynced, GoneSwept, PartnerCenterCustomer
from shared.models.intake import EventMessage
from shared.partner_center.models import Address, BillingProfile, NewCustomer
from shared.storage import PARTNER_CENTER_EVENTS_QUEUE, trigger_queue
from tests.book_sync_checks import mirror_differences, snapshot, sync_in_process
from tests.sandbox.partner_center.harness import Harness, new_customer
from tests.sandbox.stripe.harness import client as stripe_client
from tests.shared.book.records import customer as book_customer
from tests.shared.book.records import subscription as pc_subscription

STEP = "book-sync/test-step"


@pytest.fixture
def book(app_env: pytest.MonkeyPatch) -> Iterator[Book]:
    """An empty book of this test's own (a fresh table prefix on the shared Azurite)."""
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    reset_settings()
    yield Book(get_settings())


@pytest.fixture
def demo(pc: Harness, sandbox: Any) -> Harness:
    """The demo partner in both sandboxes (`--seed-data demo`)."""
    seed_partner_center_demo(pc.sandbox.pc, pc.clock.now(), pc.sandbox.credentials.client_id)
    seed_stripe_demo(sandbox.base_url, pc.clock.now())
    return pc


def customer_json(pc: Harness, tenant: str) -> dict[str, Any]:
    read = pc.client.get_customer(tenant)
    return {"tenant_id": read.id, "company_name": read.company_name, "domain": read.domain}


def synced(pc: Harness, tenant: str) -> CustomerSynced:
    envelope = sync_customer.run(
        {"step_key": STEP, "run_id": "r-1", "customer": customer_json(pc, tenant)}
    )
    assert envelope["ok"], envelope
    return CustomerSynced.model_validate(envelope["value"])


def test_a_page_of_customers_and_the_link_to_the_next(book, pc):
    made = [pc.customer(attest=False) for _ in range(3)]
    first = read_customer_page.run({"page_size": 2})["value"]
    assert [c["tenant_id"] for c in first["customers"]] == made[:2]
    rest = read_customer_page.run({"page_size": 2, "after": first["next"]})["value"]
    assert [c["tenant_id"] for c in rest["customers"]] == made[2:] and rest["next"] is None


def test_the_demo_partner_is_adopted_exactly_and_a_second_sync_writes_nothing(book, demo):
    report = sync_in_process(page_size=2, batch_size=1, max_in_flight=2)

    tenants = [c.tenant_id for c in DEMO]
    assert report.complete and report.error is None
    assert sorted(report.adopted.ids) == sorted(tenants) and report.pages == 2
    assert (report.subscriptions, report.subscriptions_added.count) == (5, 5)
    assert mirror_differences(book, demo.client, tenants) == []
    # linked by the metadata the demo's Stripe customers carry
    assert (report.linked.count, report.unlinked.count, report.ambiguous) == (3, 0, ())
    for c in DEMO:
        stored = book.customers.get(c.tenant_id).record
        assert stored.stripe_customer_id is not None
        assert book.customers.by_stripe_customer(stored.stripe_customer_id) is not None
        assert stored.billing_contact.email == c.email  # from the billing profile
        assert stored.billing_currency == "USD" and str(stored.tenant_id) == c.tenant_id
        assert stored.country == "US"  # its market: the billing address's country
        entries = [e.id for e in book.timeline.page(c.tenant_id).items]
        assert f"partner_center:customer:{c.tenant_id}:adopted" in entries
    assert book.book_syncs.find(report.run_id) is not None

    before = snapshot(book)
    again = sync_in_process(run_id="20260302T090500Z-0002")
    assert snapshot(book) == before  # not one entity written or rewritten
    assert sorted(again.unchanged.ids) == sorted(tenants)
    assert (again.adopted.count, again.updated.count, again.linked.count) == (0, 0, 0)
    assert again.already_linked == 3


def announced(settings: Any) -> list[str]:
    """The subscriptions named by the `subscription-updated` events on intake's Partner
    Center queue (peeked, left there)."""
    queue = trigger_queue(settings, PARTNER_CENTER_EVENTS_QUEUE)
    messages = [EventMessage.model_validate_json(m.content) for m in queue.peek_messages(32)]
    return [
        m.partner_center.resource.rsplit("/", 1)[1]
        for m in messages
        if m.partner_center is not None and m.type == "subscription-updated"
    ]


def test_a_subscription_changed_by_hand_is_corrected_and_shows_on_the_timeline(book, demo):
    sync_in_process()
    queue = trigger_queue(get_settings(), PARTNER_CENTER_EVENTS_QUEUE)
    queue.clear_messages()  # adoption announces nothing: no workflow waits on those yet
    northwind = DEMO[0].tenant_id
    sub = next(s for s in demo.client.list_subscriptions(northwind) if s.term_duration == "P1Y")
    # By hand, through Partner Center's API: seats up and auto-renew off.
    demo.client.set_quantity(northwind, sub.id, sub.quantity + 4, request_id=str(uuid.uuid4()))
    demo.client.set_auto_renew(northwind, sub.id, False, request_id=str(uuid.uuid4()))

    outcome = synced(demo, northwind)

    assert (outcome.outcome, outcome.subscriptions_corrected) == ("updated", (sub.id,))
    assert mirror_differences(book, demo.client, [northwind]) == []
    [entry] = [
        e for e in book.timeline.page(northwind, limit=100).items
        if e.id.startswith(f"partner_center:subscription:{sub.id}:v") and e.changes
    ]  # fmt: skip
    changes = {c.field: (c.before, c.after) for c in entry.changes}
    assert changes["quantity"] == (sub.quantity, sub.quantity + 4)
    assert changes["auto_renew_enabled"] == (True, False)
    assert entry.source == "partner_center"
    # Intake hears of it, so an open renewal or licence change of that subscription does.
    assert announced(get_settings()) == [sub.id]
    assert synced(demo, northwind).outcome == "unchanged"
    assert announced(get_settings()) == [sub.id]


def test_a_stripe_customer_that_matches_two_customers_is_reported_not_linked(book, pc, sandbox):
    shared_domain = f"group{uuid.uuid4().hex[:6]}.example"
    sisters = []
    for n in range(2):
        prefix = f"sister{n}{uuid.uuid4().hex[:8]}"
        made = pc.client.create_customer(
            NewCustomer(
                domain_prefix=prefix,
                company_name=f"Sister {n}",
                email=f"it{n}@{shared_domain}",
                address=Address(first_name="Sam", last_name="Lee", address_line1="1 Way",
                                city="Seattle", state="WA", postal_code="98101", country="US"),
            ),
            request_id=str(uuid.uuid4()),
        )  # fmt: skip
        sisters.append(made.customer.id)
    group = stripe_client(sandbox.base_url).v1.customers.create(
        {"name": "Sisters group", "email": f"ap@{shared_domain}"}
    )

    report = sync_in_process()

    [match] = report.ambiguous
    assert (match.key, match.value) == ("email_domain", shared_domain)
    assert sorted(match.customer_ids) == sorted(sisters)
    assert match.stripe_customer_ids == (group.id,)
    assert all(book.customers.get(t).record.stripe_customer_id is None for t in sisters)
    assert book.customers.by_stripe_customer(group.id) is None


def test_a_customer_gone_from_partner_center_is_flagged_kept_and_flagged_once(book, pc):
    present = pc.customer(attest=False)
    left = book_customer("c-left", tenant_id=str(uuid.uuid4()))
    book.customers.add(left)

    swept = GoneSwept.model_validate(
        flag_gone_customers.run({"step_key": STEP, "run_id": "r-1"})["value"]
    )

    assert swept.gone.ids == swept.newly_gone.ids == ("c-left",)
    assert swept.partner_center_customers == 1
    kept = book.customers.get("c-left").record
    assert kept.gone_from_partner_center_at is not None
    assert kept.model_copy(update={"gone_from_partner_center_at": None}) == left
    [entry] = book.timeline.page("c-left").items
    assert "no longer in Partner Center" in entry.summary
    before = snapshot(book)
    again = GoneSwept.model_validate(
        flag_gone_customers.run({"step_key": STEP, "run_id": "r-2"})["value"]
    )
    assert (again.gone.ids, again.newly_gone.ids) == (("c-left",), ())
    assert snapshot(book) == before
    assert book.customers.find(present) is None  # the sweep flags; it adopts nobody


def test_a_sweep_that_would_flag_every_customer_is_refused(book, pc):
    book.customers.add(book_customer("c-1", tenant_id=str(uuid.uuid4())))
    envelope = flag_gone_customers.run({"step_key": STEP, "run_id": "r-1"})
    assert envelope["ok"] is False and envelope["failure"]["code"] == "partner_center_empty"
    assert book.customers.get("c-1").record.gone_from_partner_center_at is None


def test_a_subscription_partner_center_no_longer_lists_is_flagged_and_kept(book, pc):
    tenant = pc.customer()
    pc.buy(tenant)
    synced(pc, tenant)
    ghost = SubscriptionRecord(customer_id=tenant, subscription=pc_subscription("sub-ghost"))
    book.subscriptions.add(ghost)

    outcome = synced(pc, tenant)

    assert (outcome.outcome, outcome.subscriptions_gone) == ("updated", ("sub-ghost",))
    assert book.subscriptions.get(tenant, "sub-ghost").record.gone_from_partner_center_at
    assert synced(pc, tenant).outcome == "unchanged"


@pytest.mark.parametrize(
    ("billing_country", "market"),
    [("US", "US"), ("nl", "NL"), ("", None), ("USA", None), ("1A", None)],
)
def test_an_adopted_customers_market_is_its_billing_country_or_unknown(billing_country, market):
    read = PartnerCenterCustomer(
        tenant_id=str(uuid.uuid4()), company_name="Contoso", domain="contoso.onmicrosoft.com"
    )
    profile = BillingProfile.model_validate(
        {"firstName": "Ann", "lastName": "Lee", "email": "ap@contoso.example",
         "companyName": "Contoso", "country": billing_country}
    )  # fmt: skip
    assert adopted_customer(read, profile, get_settings()).country == market


def test_a_customer_the_book_has_is_found_by_its_tenant_and_corrected_not_adopted(book, pc):
    tenant = pc.customer(attest=False)
    book.customers.add(book_customer("c-ours", tenant_id=tenant, company_name="Old name"))

    outcome = synced(pc, tenant)

    assert (outcome.customer_id, outcome.outcome) == ("c-ours", "updated")
    assert outcome.customer_changes == ("company_name", "domain")
    assert book.customers.find(tenant) is None
    assert book.customers.get("c-ours").record.contacts[0].email == "ada@contoso.example"


def test_a_customer_the_book_cannot_take_is_a_permanent_failure_naming_the_field(book, pc):
    made = pc.client.create_customer(
        new_customer(f"bad{uuid.uuid4().hex[:8]}").model_copy(update={"email": "it@nowhere.test"}),
        request_id=str(uuid.uuid4()),
    )
    envelope = sync_customer.run(
        {"step_key": STEP, "run_id": "r-1", "customer": customer_json(pc, made.customer.id)}
    )
    assert envelope["ok"] is False
    assert envelope["failure"]["code"] == "cannot_adopt"
    assert envelope["failure"]["message"].endswith("cannot be adopted: email refused")


def test_partner_center_down_is_transient_and_writes_nothing(book, pc):
    tenant = pc.customer(attest=False)
    pc.faults(fail_next=20)
    with pytest.raises(StepError) as err:
        sync_customer.run(
            {"step_key": STEP, "run_id": "r-1", "customer": customer_json_offline(tenant)}
        )
    assert err.value.failure.kind == "transient"
    assert snapshot(book) == {}


def customer_json_offline(tenant: str) -> dict[str, Any]:
    return {"tenant_id": tenant, "company_name": "", "domain": ""}


def test_the_report_is_recorded_once(book):
    report = {
        "run_id": "20260302T090000Z-0001",
        "started_at": "2026-03-02T09:00:00Z",
        "finished_at": "2026-03-02T09:01:00Z",
        "complete": True,
        "pages": 1,
        "partner_center_customers": 0,
        "adopted": {"count": 0, "ids": []},
        "updated": {"count": 0, "ids": []},
        "unchanged": {"count": 0, "ids": []},
    }
    first = record_book_sync.run({"step_key": STEP, "report": report})
    again = record_book_sync.run({"step_key": STEP, "report": report})
    assert first["ok"] and again["ok"] and first["value"] == again["value"]
    stored = book.book_syncs.find("20260302T090000Z-0001")
    assert stored is not None and stored.version == 1
