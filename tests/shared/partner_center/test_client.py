"""The client against the sandbox over real HTTPS with real MSAL: every method."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.models import ScheduledNextTermInstructions, ScheduledProduct
from shared.partner_center import (
    DomainUnavailableError,
    ExportPendingError,
    PartnerCenterClient,
    request_id_for,
)
from shared.partner_center.errors import AGREEMENT_EXISTS, MCA_MISSING, BusinessError
from shared.partner_center.models import AgreementContact, CartLine, TransitionRequest
from shared.partner_center.transport import RetryPolicy
from tests.sandbox.partner_center.harness import BASIC, E3, E5, STANDARD, START, new_customer


def rid() -> str:
    return str(uuid.uuid4())


def test_a_new_domain_is_available_and_a_created_one_is_not(pc):
    assert pc.client.domain_available("fresh0001.onmicrosoft.com")
    created = pc.client.create_customer(new_customer("fresh0001"), request_id=rid())
    assert created.customer.domain == "fresh0001.onmicrosoft.com"
    assert created.admin_user_name == "admin" and created.admin_password
    assert "admin_password" not in repr(created)
    assert not pc.client.domain_available("fresh0001.onmicrosoft.com")


def test_creating_a_customer_on_a_taken_domain_raises_domain_unavailable(pc):
    pc.client.create_customer(new_customer("taken0001"), request_id=rid())
    with pytest.raises(DomainUnavailableError):
        pc.client.create_customer(new_customer("taken0001"), request_id=rid())


def test_a_customer_reads_back_and_lists_across_pages(pc):
    ids = {pc.customer(attest=False) for _ in range(5)}
    assert pc.client.get_customer(next(iter(ids))).relationship_to_partner == "reseller"
    listed = {c.id for c in pc.client.list_customers(page_size=2)}
    assert ids <= listed


def test_customers_read_a_page_at_a_time_through_the_link_each_page_gives(pc):
    ids = [pc.customer(attest=False) for _ in range(5)]
    first = pc.client.customer_page(page_size=2)
    assert [c.id for c in first.customers] == ids[:2]
    assert first.next is not None and "MS-ContinuationToken" in first.next.headers
    # The link is plain data: kept (a workflow's input), it reads the next page later.
    kept = type(first.next).model_validate(first.next.model_dump(mode="json"))
    second = pc.client.customer_page(page_size=2, after=kept)
    last = pc.client.customer_page(page_size=2, after=second.next)
    assert [c.id for c in (*second.customers, *last.customers)] == ids[2:]
    assert last.next is None


def test_a_billing_profile_names_the_billing_contact(pc):
    customer_id = pc.customer(attest=False)
    profile = pc.client.get_billing_profile(customer_id)
    assert (profile.email, profile.first_name, profile.last_name, profile.country) == (
        f"it@{pc.client.get_customer(customer_id).domain.split('.')[0]}.example",
        "Tania",
        "Carr",
        "US",
    )


def test_a_registration_number_is_required_where_microsoft_requires_it(pc):
    with pytest.raises(BusinessError) as err:
        pc.client.create_customer(new_customer("brazil001", country="BR"), request_id=rid())
    assert err.value.code == "800002"
    assert "organizationRegistrationNumber" in err.value.description


def test_address_validation_reports_a_status(pc):
    status = pc.client.validate_address(
        {
            "addressLine1": "One Microsoft Way",
            "city": "Redmond",
            "postalCode": "98052",
            "country": "US",
        }
    )
    assert status == "Verified"


def test_mca_attestation_uses_an_app_and_user_token_and_refuses_a_duplicate(pc):
    customer_id = pc.customer(attest=False)
    contact = AgreementContact(first_name="Tania", last_name="Carr", email="tania@contoso.example")
    agreement = pc.client.attest_mca(customer_id, contact, START, request_id=rid())
    assert agreement.user_id == "integration@partner.onmicrosoft.com"
    assert [a.template_id for a in pc.client.mca_attestations(customer_id)] == [
        agreement.template_id
    ]
    with pytest.raises(BusinessError) as err:
        pc.client.attest_mca(customer_id, contact, START, request_id=rid())
    assert err.value.code == AGREEMENT_EXISTS


def test_checkout_without_an_mca_attestation_is_blocked_with_13605(pc):
    customer_id = pc.customer(attest=False)
    cart = pc.client.create_cart(
        customer_id,
        [CartLine(catalog_item_id=BASIC, quantity=1, term_duration="P1Y", billing_cycle="monthly")],
        request_id=rid(),
    )
    with pytest.raises(BusinessError) as err:
        pc.client.checkout(customer_id, cart.id, request_id=rid())
    assert (err.value.status, err.value.code) == (403, MCA_MISSING)


def test_the_catalog_resolves_a_catalog_item_id_for_a_term(pc):
    products = {p.id for p in pc.client.list_products("US")}
    assert "CFQ7TTC0LH18" in products
    (sku,) = pc.client.list_skus("CFQ7TTC0LH18", "US")
    assert sku.id == "0001"
    assert pc.client.catalog_item_id("CFQ7TTC0LH18", "0001", "US", "P1M") == BASIC


def test_a_cart_prices_its_lines_in_decimal_and_checkout_provisions_subscriptions(pc):
    customer_id = pc.customer()
    cart = pc.client.create_cart(
        customer_id,
        [
            CartLine(
                catalog_item_id=BASIC, quantity=10, term_duration="P1Y", billing_cycle="monthly"
            )
        ],
        request_id=rid(),
    )
    assert cart.status == "Active"
    pricing = cart.line_items[0].pricing
    assert pricing is not None and pricing.price == Decimal("6.00")
    assert pricing.extended_price == Decimal("60.00")
    result = pc.client.checkout(customer_id, cart.id, request_id=rid())
    (order,) = result.orders
    assert order.status == "completed" and not result.order_errors
    subscription_id = order.line_items[0].subscription_id
    assert pc.client.get_order(customer_id, order.id).id == order.id
    assert [o.id for o in pc.client.list_orders(customer_id)] == [order.id]
    (status,) = pc.client.order_provisioning_status(customer_id, order.id)
    assert (status.status, status.subscription_id) == ("fulfilled", subscription_id)
    (sub,) = pc.client.list_subscriptions(customer_id, order_id=order.id)
    assert sub.id == subscription_id and sub.quantity == 10 and sub.auto_renew_enabled


def test_every_call_carries_a_correlation_id_and_each_write_its_steps_request_id(pc):
    customer_id = pc.customer()
    sent: list[tuple[str, str, dict[str, str]]] = []
    pc.client.transport.session.hooks["response"].append(
        lambda r, *args, **kwargs: sent.append(
            (r.request.method, r.request.url, dict(r.request.headers))
        )
    )
    cart_id = request_id_for("onboarding-9", "cart")
    order_id = request_id_for("onboarding-9", "checkout")
    cart = pc.client.create_cart(
        customer_id,
        [CartLine(catalog_item_id=BASIC, quantity=1, term_duration="P1M", billing_cycle="monthly")],
        request_id=cart_id,
    )
    result = pc.client.checkout(customer_id, cart.id, request_id=order_id)
    pc.client.get_order(customer_id, result.orders[0].id)
    api = [(m, h) for m, url, h in sent if "/v1/" in url]
    assert [m for m, _ in api] == ["POST", "POST", "GET"]
    assert [h["MS-RequestId"] for _, h in api[:2]] == [cart_id, order_id]
    # Microsoft Learn, headers: every call carries a new MS-CorrelationId.
    correlation_ids = [uuid.UUID(h["MS-CorrelationId"]) for _, h in api]
    assert len(set(correlation_ids)) == 3


def test_a_subscription_carries_microsofts_window_and_term_dates(pc):
    customer_id = pc.customer()
    sub = pc.client.get_subscription(customer_id, pc.buy(customer_id))
    assert sub.cancellation_allowed_until_date == START + timedelta(days=7)
    assert sub.commitment_end_date.isoformat() == "2027-03-01"
    assert sub.commitment_end_date_time is not None
    assert sub.commitment_end_date_time.isoformat() == "2027-03-01T23:59:59+00:00"
    assert sub.refundable_quantity is not None and sub.refundable_quantity.total_quantity == 10


def test_quantity_auto_renew_suspend_reactivate_and_cancel_round_trip(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    assert pc.client.set_quantity(customer_id, sid, 14, request_id=rid()).quantity == 14
    assert not pc.client.set_auto_renew(
        customer_id, sid, False, request_id=rid()
    ).auto_renew_enabled
    suspended = pc.client.suspend(customer_id, sid, request_id=rid())
    assert suspended.status == "suspended" and not suspended.auto_renew_enabled
    reactivated = pc.client.reactivate(customer_id, sid, auto_renew=True, request_id=rid())
    assert reactivated.status == "active" and reactivated.auto_renew_enabled
    assert pc.client.cancel(customer_id, sid, request_id=rid()).status == "deleted"


def test_a_full_patch_keeps_scheduled_instructions_a_quantity_change_would_not_touch(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    scheduled = pc.client.schedule_next_term(customer_id, sid, _next_term(8), request_id=rid())
    assert scheduled.scheduled_next_term_instructions is not None
    # Flipping auto-renew on (already on) with the full resource keeps the instructions.
    kept = pc.client.set_auto_renew(customer_id, sid, True, request_id=rid())
    assert kept.scheduled_next_term_instructions == scheduled.scheduled_next_term_instructions
    cleared = pc.client.schedule_next_term(customer_id, sid, None, request_id=rid())
    assert cleared.scheduled_next_term_instructions is None


def test_custom_term_end_dates_offer_calendar_and_subscription_alignment(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1Y")
    dates = pc.client.custom_term_end_dates(
        customer_id, "P1Y", term_start=START + timedelta(days=40)
    )
    kinds = {d.allowed_custom_term_end_date_type: d for d in dates}
    assert (
        kinds["calendarMonthAligned"].allowed_custom_term_end_date.date().isoformat()
        == "2027-03-31"
    )
    assert kinds["subscriptionAligned"].coterm_subscription_ids == (sid,)


def test_a_coterminous_purchase_ends_with_the_existing_subscription(pc):
    customer_id = pc.customer()
    first = pc.client.get_subscription(customer_id, pc.buy(customer_id, term="P1Y"))
    pc.advance(timedelta(days=40))
    second = pc.client.get_subscription(
        customer_id,
        pc.buy(customer_id, term="P1Y", custom_term_end_date=first.commitment_end_date),
    )
    assert second.commitment_end_date == first.commitment_end_date


def test_an_end_date_that_is_not_offered_is_refused(pc):
    customer_id = pc.customer()
    with pytest.raises(BusinessError) as err:
        pc.client.create_cart(
            customer_id,
            [
                CartLine(
                    catalog_item_id=BASIC,
                    quantity=1,
                    term_duration="P1Y",
                    billing_cycle="monthly",
                    custom_term_end_date=(START + timedelta(days=100)).date(),
                )
            ],
            request_id=rid(),
        )
    assert "customTermEndDate" in err.value.description


def test_upgrade_eligibility_lists_only_higher_skus(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, offer=STANDARD)
    targets = pc.client.transition_eligibilities(customer_id, sid)
    assert [t.catalog_item_id for t in targets] == ["CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"]
    assert all(t.eligible for t in targets)


def test_a_full_upgrade_keeps_the_subscription_id(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, offer=E3, quantity=5)
    transition = pc.client.transition(
        customer_id, sid, TransitionRequest(to_catalog_item_id=E5, quantity=5), request_id=rid()
    )
    assert transition.to_subscription_id == sid
    assert transition.events[0].status == "Started"
    assert pc.client.get_subscription(customer_id, sid).offer_id == E5
    (recorded,) = pc.client.transitions(customer_id, sid, transition.operation_id)
    assert recorded.status == "Completed"


def test_a_partial_upgrade_creates_a_coterminous_subscription(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, offer=E3, quantity=5)
    transition = pc.client.transition(
        customer_id, sid, TransitionRequest(to_catalog_item_id=E5, quantity=2), request_id=rid()
    )
    source = pc.client.get_subscription(customer_id, sid)
    target = pc.client.get_subscription(customer_id, str(transition.to_subscription_id))
    assert (source.quantity, target.quantity, target.offer_id) == (3, 2, E5)
    assert target.commitment_end_date == source.commitment_end_date
    assert target.cancellation_allowed_until_date == source.cancellation_allowed_until_date


def test_a_downgrade_is_refused(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, offer=E5, quantity=2)
    with pytest.raises(BusinessError) as err:
        pc.client.transition(
            customer_id, sid, TransitionRequest(to_catalog_item_id=E3, quantity=2), request_id=rid()
        )
    assert err.value.code == "800002" and "toCatalogItemId" in err.value.description


def test_audit_records_page_through_the_operations(pc):
    customer_id = pc.customer()
    pc.buy(customer_id)
    records = list(pc.client.audit_records(START - timedelta(hours=1), page_size=1))
    assert [r["operationType"] for r in records] == [
        "add_customer",
        "add_customer_agreement",
        "create_order",
    ]


def test_invoices_and_billed_and_unbilled_reconciliation(pc, receiver):
    pc.client.register_webhook(receiver.url, ["invoice-ready"], request_id=rid())
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=10)
    unbilled = pc.client.unbilled_reconciliation("USD")
    assert [(line.charge_type, line.subscription_id, line.subtotal) for line in unbilled] == [
        ("new", sid, Decimal("60.00"))
    ]
    pc.advance_to(START.replace(month=4, day=8, hour=0))  # invoices come out by the 8th
    (invoice,) = pc.client.list_invoices()
    assert invoice.total_charges == Decimal("60.00")
    billed = pc.client.billed_reconciliation(invoice.id)
    assert [(line.invoice_number, line.charge_type) for line in billed] == [(invoice.id, "new")]
    assert pc.client.unbilled_reconciliation("USD", "last")[0].subscription_id == sid
    receiver.wait_for(1)
    assert receiver.events()[0]["ResourceUri"].endswith(f"/v1/invoices/{invoice.id}")


def test_an_export_that_outlasts_the_budget_is_resumed_not_restarted(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=10)
    client = PartnerCenterClient.from_settings(pc.settings, policy=RetryPolicy(wait_budget_s=0.3))
    exports = pc.state()["counts"]["export"]
    # The sandbox's export runs for one poll, each wait 0.2 s: the second does not fit.
    with pytest.raises(ExportPendingError) as err:
        client.unbilled_reconciliation("USD")
    assert err.value.operation_url.startswith(pc.base_url + "/v1.0/reports/partners/billing/")
    resumed = client.unbilled_reconciliation("USD", operation_url=err.value.operation_url)
    assert [line.subscription_id for line in resumed] == [sid]
    assert pc.state()["counts"]["export"] == exports + 1


def test_an_empty_unbilled_period_yields_no_lines(pc):
    assert pc.client.unbilled_reconciliation("USD") == []


def test_webhook_registration_events_and_the_test_event(pc, receiver):
    events = pc.client.webhook_events()
    assert "subscription-updated" in events and "invoice-ready" in events
    assert pc.client.webhook_registration() is None
    registered = pc.client.register_webhook(receiver.url, ["test-created"], request_id=rid())
    assert registered.webhook_events == ("test-created",)
    updated = pc.client.register_webhook(
        receiver.url, ["test-created", "subscription-updated"], request_id=rid(), update=True
    )
    assert pc.client.webhook_registration() == updated
    correlation_id = pc.client.send_test_event(request_id=rid())
    receiver.wait_for(1)
    pc.sandbox.process_now()
    status = pc.client.test_event_status(correlation_id)
    assert status.status == "completed" and status.results[0]["responseCode"] == "200"


def _next_term(quantity: int) -> ScheduledNextTermInstructions:
    return ScheduledNextTermInstructions(
        product=ScheduledProduct(
            product_id="CFQ7TTC0LH18",
            sku_id="0001",
            availability_id="CFQ7TTC0K971",
            billing_cycle="monthly",
            term_duration="P1Y",
        ),
        quantity=quantity,
    )


def test_the_process_wide_client_comes_from_the_environment(pc, monkeypatch):
    from shared.config import reset_settings
    from shared.partner_center import get_client

    s = pc.settings
    env = {
        "CSPFLOW_PARTNER_CENTER_BASE_URL": str(s.partner_center_base_url),
        "CSPFLOW_PARTNER_CENTER_AUTHORITY": str(s.partner_center_authority),
        "CSPFLOW_PARTNER_CENTER_TENANT_ID": s.partner_center_tenant_id,
        "CSPFLOW_PARTNER_CENTER_CLIENT_ID": s.partner_center_client_id,
        "CSPFLOW_PARTNER_CENTER_CLIENT_SECRET": s.partner_center_client_secret.get_secret_value(),
        "CSPFLOW_PARTNER_CENTER_CA_BUNDLE": str(s.partner_center_ca_bundle),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    get_client.cache_clear()
    try:
        assert get_client() is get_client()
        assert "CFQ7TTC0LH18" in {p.id for p in get_client().list_products("US")}
    finally:
        get_client.cache_clear()
        reset_settings()


def test_a_markets_price_sheet_is_read_with_its_effective_dates(pc):
    # Learn, get-a-price-sheet: app+user on the Partner API host, a CSV file.
    rows = pc.client.price_sheet("de")
    assert {r.currency for r in rows} == {"EUR", "GBP"}
    basic = [
        r
        for r in rows
        if (r.product_id, r.term_duration, r.billing_plan, r.currency)
        == ("CFQ7TTC0LH18", "P1Y", "Monthly", "EUR")
    ]
    (row,) = basic
    assert (row.market, row.unit_price, row.erp_price) == ("DE", Decimal("5.52"), Decimal("6.90"))
    assert row.in_force(row.effective_start_date) and not row.in_force(row.effective_end_date)
    with pytest.raises(ValueError, match="two-letter"):
        pc.client.price_sheet("USA")


def test_a_zipped_price_sheet_and_learns_date_spellings_are_read():
    import io
    import zipfile

    from shared.partner_center.client import _csv_rows
    from shared.partner_center.models import PriceSheetRow

    text = (
        '\ufeff"ProductTitle","ProductId","SkuId","SkuTitle","TermDuration","BillingPlan",'
        '"Market","Currency","UnitPrice","EffectiveStartDate","EffectiveEndDate","ERP Price"\n'
        '"Basic","CFQ7TTC0LH18","0001","Basic","P1Y","Annual","US","USD","72",'
        '"2/1/2023 0:00","11/30/9999 11:59:59 PM",""\n'
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("pricesheet.csv", text.encode("utf-8"))
    (row,) = [PriceSheetRow.model_validate(r) for r in _csv_rows(archive.getvalue())]
    assert row.effective_start_date == datetime(2023, 2, 1, tzinfo=UTC)
    assert row.effective_end_date == datetime(9999, 11, 30, 23, 59, 59, tzinfo=UTC)
    assert (row.unit_price, row.erp_price, row.tags) == (Decimal(72), None, "")
    with pytest.raises(ValueError, match="not a price sheet date"):
        PriceSheetRow.model_validate({**row.model_dump(by_alias=True), "EffectiveStartDate": "x"})
