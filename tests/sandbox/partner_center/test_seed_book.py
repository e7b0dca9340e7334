"""`--seed-data book:N` in the Partner Center sandbox, read back through the app's client:
the generated book, in seconds, settled in its current billing cycles, seeded once."""

import time
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox.common.book import book_customers
from shared.partner_center.models import CustomerTenant
from tests.sandbox.partner_center.harness import START, Harness, start_harness


@pytest.fixture
def seeded(pc_keys: Path, tmp_path: Path):
    started: list[Harness] = []

    def start(size: int = 60, **config) -> Harness:
        harness = start_harness(pc_keys, tmp_path / "pc", seed_data=f"book:{size}", **config)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.sandbox.stop()


def test_a_thousand_customers_are_seeded_in_seconds_and_listed_in_pages(seeded):
    began = time.perf_counter()
    pc = seeded(1000)
    assert time.perf_counter() - began < 10
    listed = list(pc.client.list_customers(page_size=200))
    book = book_customers(1000, 7)  # the harness starts the sandbox with --seed 7
    assert [c.id for c in listed] == [c.tenant_id for c in book]
    assert listed[42] == CustomerTenant(
        id=book[42].tenant_id,
        domain=book[42].domain,
        company_name=book[42].company,
        relationship_to_partner="reseller",
    )


def test_each_customer_has_its_subscriptions_current_and_its_billing_profile(seeded):
    pc = seeded(60)
    today = START.date()
    for c in book_customers(60, 7):
        subs = {s.id: s for s in pc.client.list_subscriptions(c.tenant_id)}
        assert set(subs) == {s.id for s in c.subscriptions}
        for spec in c.subscriptions:
            sub = subs[spec.id]
            assert (sub.offer_id, sub.term_duration, sub.billing_cycle, sub.quantity) == (
                spec.catalog_item_id,
                spec.term,
                spec.billing_cycle,
                spec.quantity,
            )
            assert sub.status == "active" and sub.auto_renew_enabled is spec.auto_renew
            assert sub.effective_start_date.date() == today - timedelta(days=spec.days_into_term)
            assert sub.commitment_end_date >= today
            assert (sub.scheduled_next_term_instructions is not None) is (
                spec.next_term is not None
            )
            assert sub.billing_cycle_end_date is not None
            assert today <= sub.billing_cycle_end_date <= sub.commitment_end_date
        profile = pc.client.get_billing_profile(c.tenant_id)
        assert (profile.email, profile.first_name, profile.company_name) == (
            c.email,
            c.contact_first,
            c.company,
        )
    assert pc.client.mca_attestations(book_customers(1, 7)[0].tenant_id)


def test_nothing_is_charged_for_the_past_and_the_seed_happens_once(seeded):
    pc = seeded(20)
    pc.sandbox.process_now()
    assert pc.state()["ledger"] == []
    pc.sandbox.stop()
    again = seeded(40, start=START + timedelta(days=1))
    assert len(list(again.client.list_customers())) == 20


def test_a_subscription_of_the_book_changes_through_the_api_like_any_other(seeded):
    pc = seeded(10)
    c = next(c for c in book_customers(10, 7) if any(s.term == "P1Y" for s in c.subscriptions))
    spec = next(s for s in c.subscriptions if s.term == "P1Y")
    changed = pc.client.set_quantity(c.tenant_id, spec.id, spec.quantity + 3, request_id="r-1")
    assert changed.quantity == spec.quantity + 3


def test_latency_holds_every_request(seeded):
    pc = seeded(2)
    pc.faults(latency_ms=150)
    began = time.perf_counter()
    list(pc.client.list_customers())
    assert time.perf_counter() - began >= 0.15
