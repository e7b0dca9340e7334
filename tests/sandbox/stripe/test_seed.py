"""`--seed-data demo`: the demo partner's billing customers and cards in the Stripe sandbox,
read back through cspflow's payments adapter."""

import time
from datetime import UTC, datetime

import pytest
import requests

from sandbox.common.demo import CUSTOMERS, FABRIKAM, NORTHWIND, TAILSPIN
from sandbox.stripe.server import Options, StripeSandbox
from shared.clock import ManualClock
from shared.payments import StripePayments
from tests.sandbox.stripe.harness import API_KEY, T0


def start(tmp_path, clock) -> StripeSandbox:
    return StripeSandbox(Options(data_dir=tmp_path, clock=clock, seed_data="demo"))


def cards_by_company(payments: StripePayments):
    return {cus.name: (cus, payments.list_cards(cus.id)) for cus in payments.list_customers(100)}


def test_each_demo_customer_has_its_tenant_id_and_one_default_card(tmp_path):
    with start(tmp_path, ManualClock(T0)) as sandbox:
        payments = StripePayments(API_KEY, sandbox.base_url)
        found = cards_by_company(payments)
    assert set(found) == {c.company for c in CUSTOMERS}
    for demo in CUSTOMERS:
        customer, cards = found[demo.company]
        assert customer.partner_customer_id == demo.tenant_id
        assert customer.email == demo.email
        assert len(cards) == 1 and cards[0].is_default
    # Tailspin's card expires at the end of next month (T0 is January 2026).
    assert [(c.exp_month, c.exp_year) for c in found[TAILSPIN.company][1]] == [(2, 2026)]
    assert found[NORTHWIND.company][1][0].exp_year > 2030


def test_fabrikams_card_declines_its_next_charge_as_a_soft_decline(tmp_path):
    with start(tmp_path, ManualClock(T0)) as sandbox:
        payments = StripePayments(API_KEY, sandbox.base_url)
        fabrikam = next(
            c for c in payments.list_customers(100) if c.partner_customer_id == FABRIKAM.tenant_id
        )
        healthy = next(
            c for c in payments.list_customers(100) if c.partner_customer_id == NORTHWIND.tenant_id
        )
        outcomes = {}
        for customer in (fabrikam, healthy):
            invoice = payments.create_invoice(f"seed-{customer.id}", customer.id, currency="USD")
            payments.add_invoice_item(
                f"seed-{customer.id}",
                customer.id,
                invoice_id=invoice.id,
                amount=2500,
                currency="USD",
                description="Office 365 E3",
            )
            payments.finalize_invoice(f"seed-{customer.id}", invoice.id)
            outcomes[customer.id] = payments.pay_invoice(f"seed-{customer.id}", invoice.id)
    assert outcomes[healthy.id].paid
    declined = outcomes[fabrikam.id]
    assert not declined.paid
    assert declined.decline is not None
    assert declined.decline.decline_code == "insufficient_funds"
    assert declined.decline.decline_class == "soft"


def test_a_restart_seeds_nothing_twice(tmp_path):
    clock = ManualClock(T0)
    with start(tmp_path, clock):
        pass
    with start(tmp_path, clock) as sandbox:
        payments = StripePayments(API_KEY, sandbox.base_url)
        customers = payments.list_customers(100)
        cards = [card for c in customers for card in payments.list_cards(c.id)]
    assert len(customers) == len(CUSTOMERS)
    assert len(cards) == len(CUSTOMERS)


class LateClock:
    """devhost's virtual clock before devhost is up: it does not answer yet."""

    def __init__(self) -> None:
        self.up = False

    def now(self) -> datetime:
        if not self.up:
            raise requests.ConnectionError("devhost is not up yet")
        return datetime(2026, 5, 1, tzinfo=UTC)


def bring_the_clock_up_and_wait(sandbox: StripeSandbox, clock: LateClock, customers: int) -> None:
    """Let the clock answer, then wait until the seed has created `customers` customers."""
    payments = StripePayments(API_KEY, sandbox.base_url, max_network_retries=0)
    clock.up = True
    deadline = time.monotonic() + 10
    while len(payments.list_customers(100)) < customers:
        assert time.monotonic() < deadline, "the seed never ran"
        time.sleep(0.01)


def test_with_a_clock_not_up_yet_the_seed_waits_for_it(tmp_path):
    clock = LateClock()
    with StripeSandbox(Options(data_dir=tmp_path, clock=clock, seed_data="demo")) as sandbox:
        bring_the_clock_up_and_wait(sandbox, clock, len(CUSTOMERS))


def test_a_stop_during_the_seed_lets_it_finish(tmp_path):
    clock = LateClock()
    with StripeSandbox(Options(data_dir=tmp_path, clock=clock, seed_data="demo")) as sandbox:
        bring_the_clock_up_and_wait(sandbox, clock, 1)  # the seed has begun: stop now
    with StripeSandbox(Options(data_dir=tmp_path, clock=clock)) as sandbox:
        found = cards_by_company(StripePayments(API_KEY, sandbox.base_url))
    assert {name: len(cards) for name, (_, cards) in found.items()} == {
        c.company: 1 for c in CUSTOMERS
    }


@pytest.mark.parametrize(
    ("now", "token"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), "pm_card_sandbox_expires_2026_02"),
        (datetime(2026, 12, 5, tzinfo=UTC), "pm_card_sandbox_expires_2027_01"),
    ],
)
def test_the_expiring_card_is_next_months(now, token):
    from sandbox.stripe.seed import CARDS, token_for

    tailspin = next(c for c in CARDS if c.customer == TAILSPIN)
    assert token_for(tailspin, now) == token
