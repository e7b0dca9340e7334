"""Onboarding's activities against a real Partner Center sandbox (HTTPS, MSAL) and a real
Azurite, called as the Functions host calls them: the order and the new customer reserved
once, the tenant created and the MCA attested once however often their step runs, a lost
checkout answer not buying twice, provisioning read, subscriptions recorded once, the KPI
event and the ops alert written once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from activities.onboarding import (
    Bought,
    Provisioning,
    attest_customer_agreement,
    buy_lines,
    cancel_bought,
    check_domain,
    create_partner_center_customer,
    link_stripe_customer,
    raise_order_alert,
    read_provisioning,
    record_order_subscriptions,
    record_time_to_value,
    reserve_order,
    set_order_status,
)
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.errors import StepError
from shared.models.onboarding import Onboarding
from shared.partner_center import PartnerCenterClient
from shared.partner_center.errors import RetryableError
from tests.sandbox.partner_center.harness import Harness

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"


@pytest.fixture
def book(app_env: pytest.MonkeyPatch) -> Iterator[Book]:
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    reset_settings()
    yield Book(get_settings())


def ok(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    value: dict[str, Any] = envelope["value"]
    return value


def order(pc: Harness, prefix: str | None = None, **extra: Any) -> Onboarding:
    prefix = prefix or "f" + uuid.uuid4().hex[:12]
    contacts = [{"name": "Ada Lovelace", "email": "ada@fabrikam.example", "role": "primary"}]
    return Onboarding.model_validate(
        {
            "order_id": f"o-{prefix}",
            "customer_id": prefix,
            "received_at": pc.clock.now().isoformat(),
            "currency": "USD",
            "company_name": "Fabrikam",
            "contacts": contacts,
            "lines": [
                {
                    "line": {
                        "catalog_item_id": item,
                        "quantity": qty,
                        "term_duration": "P1Y",
                        "billing_cycle": "monthly",
                        "unit_price": {"amount_minor": 720, "currency": "USD"},
                    },
                    "name": name,
                    "first_charge": {"amount_minor": 720 * qty, "currency": "USD"},
                    "period_start": pc.clock.now().isoformat(),
                    "period_end": (pc.clock.now() + timedelta(days=30)).isoformat(),
                }
                for item, qty, name in ((BASIC, 5, "Business Basic"), (STANDARD, 2, "Standard"))
            ],
            "new_customer": {
                "company_name": "Fabrikam",
                "domain": f"{prefix}.onmicrosoft.com",
                "country": "US",
                "address": {
                    "address_line1": "1 Main St",
                    "city": "Redmond",
                    "state": "WA",
                    "postal_code": "98052",
                },
                "contacts": contacts,
                "billing_currency": "USD",
                "payment_method": "pm_card_visa",
            },
            **extra,
        }
    )


def payload(data: Onboarding, step: str, **more: Any) -> dict[str, Any]:
    return {"step_key": f"order-{data.order_id}/{step}", "order": data.model_dump(mode="json"),
            **more}  # fmt: skip


def tenant_of(data: Onboarding) -> str:
    made = ok(create_partner_center_customer.run(payload(data, "partner-center-customer")))
    return str(made["tenant_id"])


def ready_to_buy(data: Onboarding) -> str:
    """The order reserved, its tenant made and the MCA attested: the tenant."""
    ok(reserve_order.run(payload(data, "reserve")))
    tenant = tenant_of(data)
    ok(attest_customer_agreement.run({
        "step_key": f"order-{data.order_id}/mca", "tenant_id": tenant, "first_name": "Ada",
        "last_name": "Lovelace", "email": "ada@fabrikam.example",
        "date_agreed": data.received_at.isoformat(),
    }))  # fmt: skip
    return tenant


def test_the_order_and_its_new_customer_are_reserved_once(book, pc):
    data = order(pc)
    first = ok(reserve_order.run(payload(data, "reserve")))
    again = ok(reserve_order.run(payload(data, "reserve")))
    assert first == again == {"customer_id": data.customer_id, "status": "received"}
    customer = book.customers.get(data.customer_id).record
    assert customer.domain == f"{data.customer_id}.onmicrosoft.com" and customer.tenant_id is None
    stored = book.orders.get(data.order_id).record
    assert [line.quantity for line in stored.lines] == [5, 2] and stored.status == "received"


def test_a_reserve_retried_after_later_steps_changed_both_records_changes_nothing(book, pc):
    data = order(pc)
    ok(reserve_order.run(payload(data, "reserve")))
    tenant = tenant_of(data)
    book.orders.update(data.order_id, lambda o: o.model_copy(update={"status": "provisioning"}))
    again = ok(reserve_order.run(payload(data, "reserve")))
    assert again == {"customer_id": data.customer_id, "status": "provisioning"}
    assert str(book.customers.get(data.customer_id).record.tenant_id) == tenant
    assert book.orders.get(data.order_id).record.status == "provisioning"


def test_an_order_id_holding_another_customers_order_is_refused(book, pc):
    data = order(pc)
    ok(reserve_order.run(payload(data, "reserve")))
    other = data.model_copy(update={"customer_id": "someone-else", "new_customer": None})
    failure = reserve_order.run(payload(other, "reserve"))["failure"]
    assert failure["code"] == "order_conflict"


def test_the_tenant_is_created_once_and_recorded_on_the_customer(book, pc):
    data = order(pc)
    ok(reserve_order.run(payload(data, "reserve")))
    assert (
        ok(check_domain.run({"domain": f"{data.customer_id}.onmicrosoft.com"}))["available"] is True
    )
    first = tenant_of(data)
    assert tenant_of(data) == first
    domains = [c.domain for c in pc.client.list_customers()]
    assert domains.count(f"{data.customer_id}.onmicrosoft.com") == 1
    assert str(book.customers.get(data.customer_id).record.tenant_id) == first
    assert (
        ok(check_domain.run({"domain": f"{data.customer_id}.onmicrosoft.com"}))["available"]
        is False
    )


def test_a_tenant_created_to_be_recorded_later_is_recorded_by_the_link_with_the_stripe_id(book, pc):
    data = order(pc)
    ok(reserve_order.run(payload(data, "reserve")))
    made = ok(create_partner_center_customer.run(payload(data, "partner-center-customer",
                                                         record=False)))  # fmt: skip
    assert book.customers.get(data.customer_id).record.tenant_id is None
    link = {"step_key": f"order-{data.order_id}/stripe-link", "customer_id": data.customer_id,
            "stripe_customer_id": "cus_Linked", "tenant_id": made["tenant_id"]}  # fmt: skip
    ok(link_stripe_customer.run(link))
    ok(link_stripe_customer.run(link))  # a retry writes the same
    customer = book.customers.get(data.customer_id).record
    assert (str(customer.tenant_id), customer.stripe_customer_id) == (
        made["tenant_id"],
        "cus_Linked",
    )
    # found by both indexes, the tenant stored as the UUID the model has
    assert book.customers.by_tenant(made["tenant_id"]) is not None
    assert book.customers.by_stripe_customer("cus_Linked") is not None
    # a tenant already there is kept: a link never moves a customer to another tenant
    other = str(uuid.uuid4())
    ok(link_stripe_customer.run(link | {"step_key": "x/other", "tenant_id": other}))
    assert str(book.customers.get(data.customer_id).record.tenant_id) == made["tenant_id"]


def test_a_domain_taken_meanwhile_is_a_permanent_domain_unavailable(book, pc):
    data = order(pc)
    ok(reserve_order.run(payload(data, "reserve")))
    tenant_of(data)
    again = order(pc, prefix=data.customer_id).model_copy(update={"order_id": "o-other"})
    failure = create_partner_center_customer.run(
        payload(again, "partner-center-customer") | {"step_key": "order-o-other/pc"}
    )["failure"]
    assert failure["code"] == "domain_unavailable"


def test_the_mca_is_attested_once_by_the_contact_on_the_order_day(book, pc):
    data = order(pc)
    ok(reserve_order.run(payload(data, "reserve")))
    tenant = tenant_of(data)
    attest = {
        "step_key": f"order-{data.order_id}/mca",
        "tenant_id": tenant,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@fabrikam.example",
        "date_agreed": data.received_at.isoformat(),
    }
    first = ok(attest_customer_agreement.run(attest))
    again = ok(attest_customer_agreement.run(attest))
    assert (first["already"], again["already"]) == (False, True)
    (agreement,) = pc.client.mca_attestations(tenant)
    assert agreement.primary_contact.email == "ada@fabrikam.example"
    assert agreement.date_agreed == data.received_at


def test_a_lost_checkout_answer_does_not_buy_twice(book, pc):
    data = order(pc)
    tenant = ready_to_buy(data)
    buy = payload(data, "checkout", tenant_id=tenant)
    # The cart and then the checkout are processed and their answers lost: each is a
    # transient failure, and the step run again (as its retry policy does) replays them.
    pc.faults(lose_next=2)
    for _ in range(2):
        with pytest.raises(StepError, match="500"):
            buy_lines.run(buy)
    bought = Bought.model_validate(ok(buy_lines.run(buy)))
    again = Bought.model_validate(ok(buy_lines.run(buy)))
    assert again.partner_center_order_ids == bought.partner_center_order_ids
    orders = pc.client.list_orders(tenant)
    assert [o.id for o in orders] == list(bought.partner_center_order_ids)
    subscriptions = pc.client.list_subscriptions(tenant)
    assert sorted(s.quantity for s in subscriptions) == [2, 5]

    read = Provisioning.model_validate(
        ok(read_provisioning.run({"tenant_id": tenant,
                                  "partner_center_order_ids": bought.partner_center_order_ids}))
    )  # fmt: skip
    assert read.done and len(read.subscription_ids) == 2
    record = {
        "step_key": f"order-{data.order_id}/record",
        "customer_id": data.customer_id,
        "tenant_id": tenant,
        "partner_center_order_ids": bought.partner_center_order_ids,
        "order_id": data.order_id,
        "lines": [line.model_dump(mode="json") for line in data.lines],
        "stripe_invoice_id": "in_first",
        "charged_at": data.received_at.isoformat(),
    }
    assert ok(record_order_subscriptions.run(record))["added"] == 2
    assert ok(record_order_subscriptions.run(record))["added"] == 0
    held = book.subscriptions.of_customer(data.customer_id).items
    assert sorted(r.subscription.quantity for r in held) == [2, 5]
    # The first invoice's charge of each subscription, once, for the reconciliation; and
    # each subscription's sell price.
    day = data.received_at.date()
    charges = book.charges.of_customer(
        data.customer_id, starting_from=day, starting_before=day + timedelta(days=1)
    ).items
    assert sorted((c.kind, c.quantity, c.amount.amount_minor, c.stripe_invoice_id)
                  for c in charges) == [("new", 2, 1440, "in_first"), ("new", 5, 3600, "in_first")]  # fmt: skip
    assert {c.subscription_id for c in charges} == {r.id for r in held}
    assert {r.unit_price.amount_minor for r in held if r.unit_price} == {720}
    assert all(r.unit_price is not None for r in held)

    cancelled = ok(cancel_bought.run({"step_key": f"order-{data.order_id}/cancel",
                                      "tenant_id": tenant,
                                      "subscription_ids": list(read.subscription_ids)}))  # fmt: skip
    assert sorted(cancelled["cancelled"]) == sorted(read.subscription_ids)
    assert {s.status for s in pc.client.list_subscriptions(tenant)} == {"deleted"}


def test_a_checkout_asked_to_read_the_provisioning_once_returns_it_with_the_purchase(book, pc):
    data = order(pc)
    tenant = ready_to_buy(data)
    bought = Bought.model_validate(
        ok(buy_lines.run(payload(data, "checkout", tenant_id=tenant, read_provisioning=True)))
    )
    # the sandbox provisions at once (no provisioning delay)
    assert bought.provisioning is not None and bought.provisioning.done
    assert len(bought.provisioning.subscription_ids) == 2
    unasked = order(pc)
    plain = Bought.model_validate(
        ok(buy_lines.run(payload(unasked, "checkout", tenant_id=ready_to_buy(unasked))))
    )
    assert plain.provisioning is None


def test_a_provisioning_read_that_fails_after_the_checkout_leaves_the_purchase_standing(
    book, pc, monkeypatch
):
    data = order(pc)
    tenant = ready_to_buy(data)

    def unavailable(self: Any, tenant_id: str, order_id: str) -> Any:
        raise RetryableError("Partner Center is unavailable", 503)

    monkeypatch.setattr(PartnerCenterClient, "order_provisioning_status", unavailable)
    bought = Bought.model_validate(
        ok(buy_lines.run(payload(data, "checkout", tenant_id=tenant, read_provisioning=True)))
    )
    assert bought.provisioning is None  # the workflow's poll reads it on its timer
    assert [o.id for o in pc.client.list_orders(tenant)] == list(bought.partner_center_order_ids)


def test_the_order_status_moves_and_is_on_the_customers_timeline(book, pc):
    data = order(pc)
    ok(reserve_order.run(payload(data, "reserve")))
    for status in ("provisioning", "provisioned", "provisioned"):
        ok(set_order_status.run({"step_key": f"order-{data.order_id}/s-{status}",
                                 "order_id": data.order_id, "status": status}))  # fmt: skip
    assert book.orders.get(data.order_id).record.status == "provisioned"


def test_time_to_value_and_the_ops_alert_are_written_once(book, pc):
    data = order(pc)
    kpi = {
        "step_key": f"order-{data.order_id}/kpi",
        "customer_id": data.customer_id,
        "order_id": data.order_id,
        "received_at": data.received_at.isoformat(),
        "usable_at": (data.received_at + timedelta(minutes=7)).isoformat(),
        "lines": 2,
    }
    assert ok(record_time_to_value.run(kpi)) == {"recorded": True}
    assert ok(record_time_to_value.run(kpi)) == {"recorded": False}
    event = book.kpi_events.find(
        "time_to_value", data.order_id, data.received_at + timedelta(minutes=7)
    )
    assert event is not None and event.duration_seconds == 420
    alert = {"step_key": f"order-{data.order_id}/alert", "order_id": data.order_id,
             "at": data.received_at.isoformat(), "summary": "refund failed"}  # fmt: skip
    assert ok(raise_order_alert.run(alert))["raised"] is True
    assert ok(raise_order_alert.run(alert))["raised"] is False
