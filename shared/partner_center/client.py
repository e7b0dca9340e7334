"""The Partner Center client cspflow's activities use.

Every write takes a `request_id` (see ids.request_id_for) sent as `MS-RequestId`, so a
retried activity repeats the same operation instead of creating a second one. Reads use a
fresh id per call. Base URLs, the authority and the CA to trust come from Settings, so the
same code talks to the local sandbox and to Microsoft.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote, urljoin

import requests

from shared.config import Settings, get_settings
from shared.models import ScheduledNextTermInstructions, Subscription
from shared.partner_center.auth import TokenProvider, TrustingSession
from shared.partner_center.errors import (
    ETAG_STALE,
    BusinessError,
    DomainUnavailableError,
    ExportPendingError,
    NotFoundError,
    RetryableError,
)
from shared.partner_center.ids import request_id_for
from shared.partner_center.models import (
    Agreement,
    AgreementContact,
    Availability,
    BillingProfile,
    Cart,
    CartLine,
    CheckoutResult,
    CotermDate,
    CreatedCustomer,
    CustomerPage,
    CustomerTenant,
    NewCustomer,
    PartnerCenterInvoice,
    PartnerCenterOrder,
    PriceSheetRow,
    Product,
    ProvisioningStatus,
    ReconLineItem,
    SeekLink,
    Sku,
    Transition,
    TransitionEligibility,
    TransitionRequest,
    ValidationEventStatus,
    WebhookRegistration,
)
from shared.partner_center.transport import Reply, RetryPolicy, Sleeper, Transport, retry_after_s

Json = dict[str, Any]
T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
MCA = "MicrosoftCustomerAgreement"


def _one_budget(
    method: Callable[Concatenate[PartnerCenterClient, P], R],
) -> Callable[Concatenate[PartnerCenterClient, P], R]:
    """Every wait of a method that makes several calls draws on one budget
    (Transport.operation), so the activity running it never sleeps longer in total."""

    @functools.wraps(method)
    def within_budget(client: PartnerCenterClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with client.transport.operation():
            return method(client, *args, **kwargs)

    return within_budget


class PartnerCenterClient:
    def __init__(
        self,
        *,
        base_url: str,
        graph_base_url: str,
        tokens: TokenProvider,
        session: requests.Session,
        timeout_s: float = 30.0,
        scope: str = "https://api.partnercenter.microsoft.com/.default",
        user_scope: str = "https://api.partnercenter.microsoft.com/user_impersonation",
        graph_scope: str = "https://graph.microsoft.com/.default",
        pricing_base_url: str = "https://api.partner.microsoft.com",
        pricing_scope: str = "https://api.partner.microsoft.com/user_impersonation",
        policy: RetryPolicy | None = None,
        sleep: Sleeper | None = None,
        max_polls: int = 60,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._graph = graph_base_url.rstrip("/")
        self._tokens = tokens
        self._scope = scope
        self._user_scope = user_scope
        self._graph_scope = graph_scope
        self._pricing = pricing_base_url.rstrip("/")
        self._pricing_scope = pricing_scope
        self._session = session
        self._max_polls = max_polls
        self.transport = Transport(session, timeout_s, policy or RetryPolicy())
        if sleep is not None:
            self.transport.sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> PartnerCenterClient:
        session = TrustingSession(settings.partner_center_ca_bundle)
        tokens = TokenProvider(
            authority=str(settings.partner_center_authority),
            tenant_id=settings.partner_center_tenant_id,
            client_id=settings.partner_center_client_id,
            client_secret=settings.partner_center_client_secret.get_secret_value(),
            refresh_token=settings.partner_center_refresh_token.get_secret_value(),
            session=session,
            timeout_s=settings.partner_center_timeout_s,
        )
        return cls(
            base_url=str(settings.partner_center_base_url),
            graph_base_url=str(settings.partner_center_graph_base_url),
            tokens=tokens,
            session=session,
            timeout_s=settings.partner_center_timeout_s,
            scope=settings.partner_center_scope,
            user_scope=settings.partner_center_user_scope,
            graph_scope=settings.partner_center_graph_scope,
            pricing_base_url=str(settings.partner_center_pricing_base_url),
            pricing_scope=settings.partner_center_pricing_scope,
            **overrides,
        )

    # plumbing --------------------------------------------------------------------------
    def _app(self) -> str:
        return self._tokens.app_token(self._scope)

    def _user(self) -> str:
        return self._tokens.user_token(self._user_scope)

    def _graph_token(self) -> str:
        return self._tokens.app_token(self._graph_scope)

    def _pricing_token(self) -> str:
        return self._tokens.user_token(self._pricing_scope)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        request_id: str | None = None,
        user: bool = False,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
    ) -> Reply:
        if method != "GET" and method != "HEAD" and not request_id:
            raise ValueError("every write needs a request_id derived from the workflow step")
        return self.transport.call(
            method,
            f"{self._base}/v1{path}" if not path.startswith("/webhooks/") else self._base + path,
            self._user if user else self._app,
            body=body,
            request_id=request_id,
            headers=headers,
            ok=ok,
            refresh_token=self._tokens.forget_tokens,
        )

    def _get(self, path: str, *, user: bool = False) -> Any:
        return self._call("GET", path, user=user).body

    def _items(self, path: str, *, user: bool = False) -> list[Json]:
        body = self._get(path, user=user)
        return list(body.get("items", [])) if isinstance(body, dict) else []

    def _seek(self, path: str) -> Iterator[Json]:
        """Seek paging: follow links.next sending every header it lists (Microsoft Learn,
        get-invoiceline-items; the archived .NET SDK's BaseResourceCollectionEnumerator,
        github.com/microsoft/partner-center-sdk-for-dotNET)."""
        items, following = self._seek_page(path, None)
        while True:
            yield from items
            if following is None:
                return
            items, following = self._seek_page(following.uri, following)

    def _seek_page(self, path: str, link: SeekLink | None) -> tuple[list[Json], SeekLink | None]:
        """One page of a seek-paged collection: its items and the link to the next page."""
        uri = link.uri if link is not None else path
        reply = self._call(
            "GET",
            uri if uri.startswith("/") else "/" + uri,
            headers=dict(link.headers) if link is not None else None,
        )
        body = reply.body if isinstance(reply.body, dict) else {}
        following = body.get("links", {}).get("next")
        next_link = (
            SeekLink(
                uri=following["uri"],
                headers={h["key"]: h["value"] for h in following.get("headers", [])},
            )
            if following
            else None
        )
        return list(body.get("items", [])), next_link

    # customers -------------------------------------------------------------------------
    def domain_available(self, domain: str) -> bool:
        """HEAD /v1/domains/{domain}: 200 means taken, 404 available
        (https://learn.microsoft.com/en-us/partner-center/developer/verify-domain-availability)."""
        try:
            self._call("HEAD", f"/domains/{quote(domain)}", ok=(200,))
        except NotFoundError:
            return True
        return False

    def validate_address(self, address: Json) -> str:
        reply = self._call(
            "POST", "/validations/address", body=address, request_id=str(uuid.uuid4())
        )
        return str(reply.body.get("status", ""))

    @_one_budget
    def create_customer(self, new: NewCustomer, *, request_id: str) -> CreatedCustomer:
        """Create the customer tenant; the domain is checked first (Microsoft Learn,
        verify-domain-availability and create-a-customer).

        A retry with the same request_id replays the first answer, so a customer created
        by a lost attempt is returned rather than refused as a taken domain.
        """
        body = {
            "enableGDAPByDefault": False,
            "companyProfile": {
                "domain": new.domain,
                **(
                    {"organizationRegistrationNumber": new.organization_registration_number}
                    if new.organization_registration_number
                    else {}
                ),
            },
            "billingProfile": {
                "culture": new.culture,
                "email": new.email,
                "language": new.language,
                "companyName": new.company_name,
                "defaultAddress": new.address.model_dump(by_alias=True),
            },
        }
        try:
            reply = self._call("POST", "/customers", body=body, request_id=request_id)
        except BusinessError as exc:
            if exc.status == 409 and not self.domain_available(new.domain):
                raise DomainUnavailableError(new.domain) from exc
            raise
        created = reply.body
        credentials = created.get("userCredentials") or {}
        return CreatedCustomer(
            customer=CustomerTenant.from_json(created),
            admin_user_name=str(credentials.get("userName", "")),
            admin_password=str(credentials.get("password", "")),
        )

    def get_customer(self, customer_id: str) -> CustomerTenant:
        return CustomerTenant.from_json(self._get(f"/customers/{customer_id}"))

    def list_customers(self, page_size: int = 100) -> Iterator[CustomerTenant]:
        for item in self._seek(f"/customers?size={page_size}"):
            yield CustomerTenant.from_json(item)

    def customer_page(self, page_size: int = 100, after: SeekLink | None = None) -> CustomerPage:
        """One page of the partner's customers (Microsoft Learn, get-a-list-of-customers):
        the first, or the one `after` (a previous page's `next`) leads to. For a listing
        that outlives one call (a sync that works through a page before reading the next)."""
        items, following = self._seek_page(f"/customers?size={page_size}", after)
        return CustomerPage(
            customers=tuple(CustomerTenant.from_json(item) for item in items), next=following
        )

    def get_billing_profile(self, customer_id: str) -> BillingProfile:
        """The customer's billing profile: its billing contact's name and email (Microsoft
        Learn, get-all-of-a-customer-s-billing-profiles)."""
        return BillingProfile.model_validate(
            self._get(f"/customers/{customer_id}/profiles/billing")
        )

    # Microsoft Customer Agreement (app+user only, Microsoft Learn,
    # confirm-customer-consent-customer-agreement) ---------------------------------------
    def mca_template_id(self) -> str:
        items = self._items(f"/agreements?agreementType={MCA}", user=True)
        if not items:
            raise RetryableError("Partner Center returned no MCA template")
        return str(items[0]["templateId"])

    @_one_budget
    def attest_mca(
        self, customer_id: str, contact: AgreementContact, date_agreed: datetime, *, request_id: str
    ) -> Agreement:
        body = {
            "primaryContact": contact.model_dump(by_alias=True, exclude_none=True),
            "templateId": self.mca_template_id(),
            "dateAgreed": date_agreed.isoformat(),
            "type": MCA,
        }
        reply = self._call(
            "POST",
            f"/customers/{customer_id}/agreements",
            body=body,
            request_id=request_id,
            user=True,
        )
        return Agreement.model_validate(reply.body)

    def mca_attestations(self, customer_id: str) -> list[Agreement]:
        items = self._items(f"/customers/{customer_id}/agreements?agreementType={MCA}", user=True)
        return [Agreement.model_validate(i) for i in items]

    # catalog ---------------------------------------------------------------------------
    def list_products(self, country: str) -> list[Product]:
        items = self._items(f"/products?country={country}&targetView=OnlineServices")
        return [Product.model_validate(i) for i in items]

    def list_skus(self, product_id: str, country: str) -> list[Sku]:
        return [
            Sku.model_validate(i)
            for i in self._items(f"/products/{product_id}/skus?country={country}")
        ]

    def list_availabilities(self, product_id: str, sku_id: str, country: str) -> list[Availability]:
        path = f"/products/{product_id}/skus/{sku_id}/availabilities?country={country}"
        return [Availability.model_validate(i) for i in self._items(path)]

    def catalog_item_id(self, product_id: str, sku_id: str, country: str, term: str) -> str:
        """The current catalogItemId for a product/SKU and term; it can change over time,
        so read it just before a purchase (Microsoft Learn,
        https://learn.microsoft.com/en-us/partner-center/developer/product-resources)."""
        for availability in self.list_availabilities(product_id, sku_id, country):
            if any(t.duration == term for t in availability.terms):
                return availability.catalog_item_id
        raise BusinessError(404, "400019", f"no {term} availability for {product_id}:{sku_id}", "")

    def price_sheet(self, market: str) -> list[PriceSheetRow]:
        """A market's new commerce license-based price sheet, every row (Microsoft's cost
        per licence, per term and billing plan, in each currency of the market, with its
        effective dates). App+user on the Partner API host; the answer is a CSV file, or a
        zip of one (https://learn.microsoft.com/en-us/partner-center/developer/get-a-price-sheet)."""
        if re.fullmatch(r"[A-Za-z]{2}", market) is None:
            raise ValueError(f"a market is a two-letter country code, not {market!r}")
        url = (
            f"{self._pricing}/v1.0/sales/pricesheets(Market='{market.upper()}',"
            "PricesheetView='updatedlicensebased')/$value"
        )
        reply = self.transport.call(
            "GET", url, self._pricing_token, refresh_token=self._tokens.forget_tokens
        )
        return [PriceSheetRow.model_validate(row) for row in _csv_rows(reply.raw)]

    # carts and orders ------------------------------------------------------------------
    def create_cart(self, customer_id: str, lines: list[CartLine], *, request_id: str) -> Cart:
        body = {
            "lineItems": [
                {"id": i, **line.model_dump(mode="json", by_alias=True, exclude_none=True)}
                for i, line in enumerate(lines)
            ]
        }
        reply = self._call(
            "POST", f"/customers/{customer_id}/carts", body=body, request_id=request_id
        )
        return Cart.model_validate(reply.body)

    def checkout(self, customer_id: str, cart_id: str, *, request_id: str) -> CheckoutResult:
        reply = self._call(
            "POST", f"/customers/{customer_id}/carts/{cart_id}/checkout", request_id=request_id
        )
        return CheckoutResult.model_validate(reply.body)

    def list_orders(self, customer_id: str) -> list[PartnerCenterOrder]:
        return [
            PartnerCenterOrder.model_validate(i)
            for i in self._items(f"/customers/{customer_id}/orders")
        ]

    def get_order(self, customer_id: str, order_id: str) -> PartnerCenterOrder:
        return PartnerCenterOrder.model_validate(
            self._get(f"/customers/{customer_id}/orders/{order_id}")
        )

    def order_provisioning_status(
        self, customer_id: str, order_id: str
    ) -> list[ProvisioningStatus]:
        path = f"/customers/{customer_id}/orders/{order_id}/provisioningstatus"
        return [ProvisioningStatus.model_validate(i) for i in self._items(path, user=True)]

    # subscriptions ---------------------------------------------------------------------
    def list_subscriptions(
        self, customer_id: str, order_id: str | None = None
    ) -> list[Subscription]:
        query = f"?order_id={order_id}" if order_id else ""
        items = self._items(f"/customers/{customer_id}/subscriptions{query}")
        return [Subscription.model_validate(i) for i in items]

    def get_subscription(self, customer_id: str, subscription_id: str) -> Subscription:
        return Subscription.model_validate(self._raw_subscription(customer_id, subscription_id))

    def _raw_subscription(self, customer_id: str, subscription_id: str) -> Json:
        body = self._get(f"/customers/{customer_id}/subscriptions/{subscription_id}")
        if not isinstance(body, dict):
            raise RetryableError("Partner Center returned a subscription that is not an object")
        return body

    def set_quantity(
        self, customer_id: str, subscription_id: str, quantity: int, *, request_id: str
    ) -> Subscription:
        """Seats up, or down inside the 7-day window (else BusinessError 800090)."""
        return self._patch(
            customer_id,
            subscription_id,
            {"quantity": quantity},
            lambda s: s.quantity == quantity,
            request_id,
        )

    def set_auto_renew(
        self, customer_id: str, subscription_id: str, enabled: bool, *, request_id: str
    ) -> Subscription:
        return self._patch(
            customer_id,
            subscription_id,
            {"autoRenewEnabled": enabled},
            lambda s: s.auto_renew_enabled == enabled,
            request_id,
        )

    def suspend(self, customer_id: str, subscription_id: str, *, request_id: str) -> Subscription:
        """Suspension turns auto-renew off; NCE keeps billing the partner
        (docs/rules.md#suspend)."""
        return self._patch(
            customer_id,
            subscription_id,
            {"status": "suspended"},
            lambda s: s.status == "suspended",
            request_id,
        )

    def reactivate(
        self, customer_id: str, subscription_id: str, *, auto_renew: bool, request_id: str
    ) -> Subscription:
        """Reactivate; send autoRenewEnabled too, since suspension turned it off
        (docs/rules.md#reactivate)."""
        return self._patch(
            customer_id,
            subscription_id,
            {"status": "active", "autoRenewEnabled": auto_renew},
            lambda s: s.status == "active",
            request_id,
        )

    def cancel(self, customer_id: str, subscription_id: str, *, request_id: str) -> Subscription:
        """Cancel inside the cancellation window (after it, BusinessError)."""
        return self._patch(
            customer_id,
            subscription_id,
            {"status": "deleted"},
            lambda s: s.status == "deleted",
            request_id,
        )

    def schedule_next_term(
        self,
        customer_id: str,
        subscription_id: str,
        instructions: ScheduledNextTermInstructions | None,
        *,
        request_id: str,
    ) -> Subscription:
        """Set (or with None, clear) the changes Partner Center applies at renewal.

        Clearing by sending null in a full PATCH is the sandbox's and this client's
        reading; Microsoft documents only that omitting the field deletes it
        (https://learn.microsoft.com/en-us/partner-center/developer/update-a-subscription-by-id).
        """
        value = (
            None
            if instructions is None
            else instructions.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        changes: Json = {"scheduledNextTermInstructions": value}
        if instructions is not None:
            # Required by Microsoft Learn, create-scheduled-changes.
            changes["autoRenewEnabled"] = True
        return self._patch(
            customer_id,
            subscription_id,
            changes,
            lambda s: (s.scheduled_next_term_instructions is None) == (instructions is None),
            request_id,
        )

    @_one_budget
    def _patch(
        self,
        customer_id: str,
        subscription_id: str,
        changes: Json,
        applied: Callable[[Subscription], bool],
        request_id: str,
    ) -> Subscription:
        """PATCH the full resource as read, with only `changes` altered (Microsoft Learn,
        update-a-subscription-by-id: a partial body silently resets autoRenewEnabled and
        scheduled instructions)."""
        path = f"/customers/{customer_id}/subscriptions/{subscription_id}"
        attempt_id = request_id
        for attempt in range(1, 4):
            current = self._raw_subscription(customer_id, subscription_id)
            etag = current.get("attributes", {}).get("etag")
            try:
                reply = self._call(
                    "PATCH",
                    path,
                    body={**current, **changes},
                    request_id=attempt_id,
                    headers={"If-Match": etag} if etag else None,
                )
                break
            except BusinessError as exc:
                if exc.code != ETAG_STALE or attempt == 3:
                    raise
                # The resource changed under us (a renewal, a concurrent edit): read it again
                # and resend under a new id derived from the step's, as Microsoft Learn
                # (headers) asks after any answer; the same step always derives the same ids.
                attempt_id = request_id_for(request_id, f"etag-refresh-{attempt}")
        if reply.status != 202:
            return Subscription.model_validate(reply.body)
        # Slow PATCH: 202 + Location; poll the subscription until the change shows
        # (Microsoft Learn, change-the-quantity-of-a-subscription).
        # Past the wait budget the activity fails retryably; its retry sends the same
        # MS-RequestId, is answered with the remembered 202 and polls again.
        location = reply.headers.get("Location") or f"/v1{path}"

        def settled(polled: Reply) -> Subscription | None:
            subscription = Subscription.model_validate(polled.body)
            return subscription if applied(subscription) else None

        url = urljoin(self._base + "/", location)
        return self._poll(retry_after_s(reply.headers) or 1.0, url, self._app, settled)

    def _poll(
        self,
        wait: float,
        url: str,
        token: Callable[[], str],
        settled: Callable[[Reply], T | None],
    ) -> T:
        """GET `url` after `wait`, then after each advertised wait (Retry-After, else the
        last), until `settled` returns a result; past `max_polls` or the operation's wait
        budget, a RetryableError hands the wait to the orchestrator."""
        with self.transport.operation():
            for _ in range(self._max_polls):
                if not self.transport.pause(wait):
                    break
                polled = self.transport.call("GET", url, token)
                result = settled(polled)
                if result is not None:
                    return result
                wait = retry_after_s(polled.headers) or wait
        raise RetryableError(f"{url} still in progress", retry_after_s=wait)

    def custom_term_end_dates(
        self,
        customer_id: str,
        term_duration: str,
        *,
        term_start: datetime | None = None,
        target_subscription_id: str | None = None,
    ) -> list[CotermDate]:
        query = f"term_duration={term_duration}"
        if term_start is not None:
            query += f"&term_start_date={quote(term_start.isoformat())}"
        if target_subscription_id:
            query += f"&target_coterm_subscription_id={target_subscription_id}"
        items = self._items(f"/customers/{customer_id}/subscriptions/customTermEndDates?{query}")
        return [CotermDate.model_validate(i) for i in items]

    # upgrades --------------------------------------------------------------------------
    def transition_eligibilities(
        self, customer_id: str, subscription_id: str, eligibility_type: str = "immediate"
    ) -> list[TransitionEligibility]:
        path = (
            f"/customers/{customer_id}/subscriptions/{subscription_id}"
            f"/transitionEligibilities?eligibilityType={eligibility_type}"
        )
        return [TransitionEligibility.model_validate(i) for i in self._items(path)]

    @_one_budget
    def transition(
        self,
        customer_id: str,
        subscription_id: str,
        change: TransitionRequest,
        *,
        request_id: str,
    ) -> Transition:
        """Upgrade now (midterm). Only eligible targets are accepted; check
        transition_eligibilities first to decide without a failed write."""
        source = self.get_subscription(customer_id, subscription_id)
        body = {
            "fromCatalogItemId": source.offer_id,
            "fromSubscriptionId": subscription_id,
            "termDuration": source.term_duration,
            "billingCycle": source.billing_cycle,
            **change.model_dump(by_alias=True, exclude_none=True),
        }
        path = f"/customers/{customer_id}/subscriptions/{subscription_id}/transitions"
        reply = self._call("POST", path, body=body, request_id=request_id)
        return Transition.model_validate(reply.body)

    def transitions(
        self, customer_id: str, subscription_id: str, operation_id: str | None = None
    ) -> list[Transition]:
        query = f"?operationId={operation_id}" if operation_id else ""
        path = f"/customers/{customer_id}/subscriptions/{subscription_id}/transitions{query}"
        return [Transition.model_validate(i) for i in self._items(path)]

    # audit -----------------------------------------------------------------------------
    def audit_records(
        self, start: datetime, end: datetime | None = None, page_size: int = 50
    ) -> Iterator[Json]:
        """Microsoft's suggested change feed (Microsoft Learn, api-throttling-guidance): what
        happened in the window."""
        query = f"startDate={quote(start.isoformat())}&size={page_size}"
        if end is not None:
            query += f"&endDate={quote(end.isoformat())}"
        yield from self._seek(f"/auditrecords?{query}")

    # invoices and reconciliation --------------------------------------------------------
    def list_invoices(self) -> list[PartnerCenterInvoice]:
        return [PartnerCenterInvoice.model_validate(i) for i in self._items("/invoices")]

    def billed_reconciliation(
        self, invoice_id: str, *, operation_url: str | None = None
    ) -> list[ReconLineItem]:
        """Billed NCE line items of one invoice: the v2 export on Microsoft Graph
        (https://learn.microsoft.com/en-us/partner-center/developer/billed-invoice-reconciliation,
        https://learn.microsoft.com/en-us/graph/api/partners-billing-billedreconciliation-export):
        202 + Location, poll, manifest, gzip JSON Lines blobs.
        `operation_url`, from an ExportPendingError, resumes an export already started."""
        return self._export(
            "/v1.0/reports/partners/billing/reconciliation/billed/export",
            {"invoiceId": invoice_id, "attributeSet": "full"},
            invoice_id,
            operation_url,
        )

    def unbilled_reconciliation(
        self, currency: str, period: str = "current", *, operation_url: str | None = None
    ) -> list[ReconLineItem]:
        if period not in ("current", "last"):
            raise ValueError("period is current or last")
        return self._export(
            "/v1.0/reports/partners/billing/reconciliation/unbilled/export",
            {"billingPeriod": period, "currencyCode": currency, "attributeSet": "full"},
            "",
            operation_url,
        )

    @_one_budget
    def _export(
        self, path: str, body: Json, invoice_id: str, operation_url: str | None
    ) -> list[ReconLineItem]:
        if operation_url is None:
            # An export request starts a read-only job; a new id each time is harmless.
            started = self.transport.call(
                "POST", self._graph + path, self._graph_token, body=body, ok=(202,)
            )
            location = started.headers.get("Location")
            if not location:
                raise RetryableError("the export answered 202 without a Location")
            first_wait = retry_after_s(started.headers) or 1.0
        else:
            # Resuming: the orchestrator already waited, so poll at once.
            location, first_wait = operation_url, 0.0

        def settled(polled: Reply) -> list[ReconLineItem] | None:
            status = polled.body.get("status")
            if status == "succeeded":
                return self._download(polled.body["resourceLocation"], invoice_id)
            if status == "failed":
                error = polled.body.get("error") or {}
                # 5000: "No reconciliation data available currently" (the failed operation
                # shown on Microsoft's Tech Community thread "Billed invoice reconciliation
                # API v2 legacy support").
                if str(error.get("code")) == "5000":
                    return []
                raise BusinessError(
                    400, str(error.get("code", "")), str(error.get("message", "")), ""
                )
            return None

        try:
            return self._poll(first_wait, location, self._graph_token, settled)
        except RetryableError as exc:
            # Exports can outlast one activity: the next attempt resumes this one.
            raise ExportPendingError(str(exc), location, exc.retry_after_s) from exc

    def _download(self, manifest: Json, invoice_id: str) -> list[ReconLineItem]:
        if manifest.get("dataFormat") != "compressedJSONLines":
            raise RetryableError(f"unexpected export format {manifest.get('dataFormat')!r}")
        lines: list[ReconLineItem] = []
        for blob in manifest.get("blobs", []):
            # The blob URL is {rootDirectory}/{blobName}?{sasToken}: Microsoft Learn does not
            # spell it out; Microsoft's recon samples build it this way
            # (github.com/microsoft/Partner-Center-Billing-Recon-Samples).
            url = f"{manifest['rootDirectory']}/{blob['name']}?{manifest['sasToken']}"
            try:
                resp = self._session.get(url, timeout=self.transport.timeout_s)
            except requests.RequestException as exc:
                raise RetryableError(f"blob download failed: {exc}") from exc
            if resp.status_code != 200:
                raise RetryableError(f"blob download answered {resp.status_code}", resp.status_code)
            for text in gzip.decompress(resp.content).decode("utf-8").splitlines():
                if text.strip():
                    line = ReconLineItem.model_validate(json.loads(text, parse_float=Decimal))
                    if not line.invoice_number:
                        line = line.model_copy(update={"invoice_number": invoice_id})
                    lines.append(line)
        return lines

    # webhooks --------------------------------------------------------------------------
    def webhook_events(self) -> list[str]:
        return [str(e) for e in self._get("/webhooks/v1/registration/events")]

    def register_webhook(
        self, url: str, events: list[str], *, request_id: str, update: bool = False
    ) -> WebhookRegistration:
        reply = self._call(
            "PUT" if update else "POST",
            "/webhooks/v1/registration",
            body={"WebhookUrl": url, "WebhookEvents": events},
            request_id=request_id,
        )
        return WebhookRegistration.model_validate(reply.body)

    def webhook_registration(self) -> WebhookRegistration | None:
        try:
            return WebhookRegistration.model_validate(self._get("/webhooks/v1/registration"))
        except NotFoundError:
            return None

    def send_test_event(self, *, request_id: str) -> str:
        reply = self._call(
            "POST", "/webhooks/v1/registration/validationEvents", request_id=request_id
        )
        return str(reply.body["correlationId"])

    def test_event_status(self, correlation_id: str) -> ValidationEventStatus:
        body = self._get(f"/webhooks/v1/registration/validationEvents/{correlation_id}")
        return ValidationEventStatus.model_validate(body)


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    """The rows of a price sheet file: a CSV (UTF-8, maybe with a byte order mark) or a zip
    holding one."""
    if content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            content = archive.read(archive.namelist()[0])
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


@lru_cache(maxsize=1)
def get_client() -> PartnerCenterClient:
    """The process-wide client built from Settings: one MSAL application and token cache
    and one connection pool shared by every activity invocation on a worker."""
    return PartnerCenterClient.from_settings(get_settings())
