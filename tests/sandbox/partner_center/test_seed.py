"""`--seed-data demo`: the demo partner's book in the Partner Center sandbox, read back through
the real client."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from sandbox.common.demo import CUSTOMERS
from sandbox.partner_center import customers
from sandbox.partner_center.seed import SUBSCRIPTIONS
from tests.sandbox.partner_center.harness import START, Harness, start_harness


@pytest.fixture
def seeded(pc_keys: Path, tmp_path: Path):
    started: list[Harness] = []

    def start(**config) -> Harness:
        harness = start_harness(pc_keys, tmp_path / "pc", seed_data="demo", **config)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.sandbox.stop()


def test_the_demo_customers_exist_with_their_fixed_tenant_ids(seeded):
    pc = seeded()
    customers = {c.id: c for c in pc.client.list_customers()}
    assert set(customers) == {c.tenant_id for c in CUSTOMERS}
    for demo in CUSTOMERS:
        assert customers[demo.tenant_id].company_name == demo.company
        assert customers[demo.tenant_id].domain == demo.domain
        assert pc.client.mca_attestations(demo.tenant_id)  # attested, so orders were allowed


def test_the_subscriptions_mix_annual_and_monthly_terms_ending_on_different_days(seeded):
    pc = seeded()
    subs = [s for c in CUSTOMERS for s in pc.client.list_subscriptions(c.tenant_id)]
    assert len(subs) == len(SUBSCRIPTIONS) == 5
    assert {s.term_duration for s in subs} == {"P1Y", "P1M"}
    assert {s.billing_cycle for s in subs} == {"annual", "monthly"}
    ends = sorted(s.commitment_end_date for s in subs)
    assert len(set(ends)) == len(ends)
    today = START.date()
    # The soonest ends within weeks (a renewal to decide), the latest months away.
    assert ends[0] - today <= timedelta(days=31)
    assert ends[-1] - today >= timedelta(days=240)
    assert all(s.status == "active" and s.auto_renew_enabled for s in subs)


def test_the_seed_happens_once_across_restarts(seeded):
    first = seeded()
    first.sandbox.stop()
    again = seeded(start=START + timedelta(days=3))
    assert len(list(again.client.list_customers())) == len(CUSTOMERS)
    subs = [s for c in CUSTOMERS for s in again.client.list_subscriptions(c.tenant_id)]
    assert len(subs) == len(SUBSCRIPTIONS)


def test_billing_since_the_backdated_purchases_is_caught_up(seeded):
    pc = seeded()
    ledger = pc.state()["ledger"]
    fabrikam = [line for line in ledger if line.get("customerId") == CUSTOMERS[1].tenant_id]
    # E3, annual term billed monthly, bought 122 days ago: the purchase and 4 monthly cycles.
    assert len(fabrikam) == 5, fabrikam


class LateClock:
    """devhost's virtual clock as the sandbox sees it under `make run --virtual-clock`: it
    does not answer until devhost is up."""

    def __init__(self, now: datetime) -> None:
        self.up = False
        self._now = now

    def now(self) -> datetime:
        if not self.up:
            raise requests.ConnectionError("devhost is not up yet")
        return self._now


def test_with_a_clock_not_up_yet_the_first_tick_after_it_answers_seeds(pc_keys, tmp_path):
    from sandbox.partner_center.server import PartnerCenterSandbox, SandboxConfig

    clock = LateClock(datetime(2026, 5, 1, tzinfo=UTC))
    sandbox = PartnerCenterSandbox(
        SandboxConfig(data_dir=tmp_path / "pc", clock=clock, seed_data="demo", tick_s=0.02)
    )
    sandbox.start()
    try:
        assert customers.list_customers(sandbox.pc) == []
        clock.up = True
        sandbox.process_now()
        assert {c["id"] for c in customers.list_customers(sandbox.pc)} == {
            c.tenant_id for c in CUSTOMERS
        }
    finally:
        sandbox.stop()
