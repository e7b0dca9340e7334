"""What Partner Center does with a request, and with the passing of time.

The HTTP layer (app.py) authenticates, throttles and replays; this module owns the
resources and the NCE rules. Every method takes `now` from the sandbox clock, and
`advance(now)` performs what time alone triggers (billing cycles, renewals at term end,
expiry, monthly invoices), so a virtual clock that jumps a year renews everything due.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.partner_center import catalog, rules
from sandbox.partner_center.errors import (
    AGREEMENT_EXISTS,
    AVAILABILITY_NOT_FOUND,
    CANNOT_DECREASE,
    DELETED_SUBSCRIPTION,
    ETAG_STALE,
    INVALID_INPUT,
    MCA_MISSING,
    NO_RELATIONSHIP,
    NOT_READY,
    PENDING_OPERATION,
    QUANTITY_RANGE,
    SUBSCRIPTION_NOT_FOUND,
    SUSPENDED_QUANTITY,
    PcError,
    invalid,
    not_found,
)
from sandbox.partner_center.ledger import Ledger
from sandbox.partner_center.notifications import EXTERNAL_EVENTS, Notifier
from sandbox.partner_center.store import Doc, Store

MCA_TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"  # S-MCAMETA example value
# Countries where organizationRegistrationNumber is mandatory (S-CUST).
# fmt: off
REGISTRATION_REQUIRED = frozenset({
    "AM", "AZ", "BY", "HU", "KZ", "KG", "MD", "RU", "TJ", "UZ", "UA", "BR", "IN", "ZA", "PL",
    "AE", "SA", "TR", "TH", "VN", "MM", "IQ", "SS", "VE",
})
# fmt: on
PATCHABLE_STATUSES = ("active", "suspended", "deleted")
EXPIRED_DAYS, DISABLED_DAYS = 30, 90  # S-LIFE: expired/disabled 30 days, then 90, then deleted


@dataclass
class EngineOptions:
    partner_tenant_id: str
    renewal_processing: timedelta = timedelta(hours=1)
    # A distributor-reported lock (not on Microsoft Learn): renewal settings freeze 24 h
    # before term end. On by default so cspflow is tested against the stricter case.
    pre_renewal_lock: timedelta = timedelta(hours=24)
    provisioning_delay: timedelta = timedelta(0)
    subscription_updated_delay: timedelta = timedelta(0)
    webhook_duplicate_rate: float = 0.0
    seed: int | None = None


@dataclass(frozen=True)
class Caller:
    app_id: str
    user: str | None  # the user principal of an app+user token; None for app-only


class Engine:
    def __init__(self, store: Store, options: EngineOptions) -> None:
        self.store = store
        self.options = options
        self.notifier = Notifier(
            store,
            options.partner_tenant_id,
            options.subscription_updated_delay,
            options.webhook_duplicate_rate,
            options.seed,
        )
        self.ledger = Ledger(store, options.partner_tenant_id)
        # When time next makes something due; None = unknown (after any write). Lets the
        # background loop and every request skip the scan while nothing is due.
        self._due_at: datetime | None = None

    # customers -----------------------------------------------------------------------
    def domain_taken(self, domain: str) -> bool:
        return any(
            c["companyProfile"]["domain"].lower() == domain.lower()
            for c in self.store.all("customer")
        )

    def create_customer(
        self, body: Doc, now: datetime, caller: Caller, *, tenant_id: str | None = None
    ) -> Doc:
        """`tenant_id` fixes the new tenant's id (seed data that another sandbox refers to);
        Microsoft always generates it."""
        billing = _obj(body, "billingProfile")
        company = _obj(body, "companyProfile")
        for field in ("email", "culture", "language", "companyName"):
            _text(billing, field, f"billingProfile.{field}")
        address = _obj(billing, "defaultAddress", "billingProfile.defaultAddress")
        for field in ("firstName", "lastName", "addressLine1", "city", "postalCode", "country"):
            _text(address, field, f"billingProfile.defaultAddress.{field}")
        country = address["country"].upper()
        if len(country) != 2:
            raise invalid("billingProfile.defaultAddress.country", "must be an ISO 3166 code")
        domain = _text(company, "domain", "companyProfile.domain").lower()
        if not domain.endswith(".onmicrosoft.com") or domain.count(".") != 2:
            raise invalid("companyProfile.domain", "must be <name>.onmicrosoft.com")
        if country in REGISTRATION_REQUIRED and not company.get("organizationRegistrationNumber"):
            raise invalid(
                "companyProfile.organizationRegistrationNumber", f"is required in {country}"
            )
        if self.domain_taken(domain):
            raise PcError(409, INVALID_INPUT, f"The domain {domain} is not available.")
        tenant_id = tenant_id or str(uuid.uuid4())
        customer: Doc = {
            "id": tenant_id,
            "commerceId": str(uuid.uuid4()),
            "companyProfile": {
                "tenantId": tenant_id,
                "domain": domain,
                "companyName": billing["companyName"],
                "organizationRegistrationNumber": company.get("organizationRegistrationNumber"),
                "attributes": {"objectType": "CustomerCompanyProfile"},
            },
            "billingProfile": {
                "id": str(uuid.uuid4()),
                "email": billing["email"],
                "culture": billing["culture"],
                "language": billing["language"],
                "companyName": billing["companyName"],
                "defaultAddress": {**address, "country": country},
                "attributes": {"etag": "1", "objectType": "CustomerBillingProfile"},
            },
            "enableGDAPByDefault": bool(body.get("enableGDAPByDefault", False)),
            "relationshipToPartner": "reseller",
            "attributes": {"objectType": "Customer"},
        }
        self.store.put("customer", tenant_id, customer)
        self._audit(now, caller, "add_customer", "Customer", tenant_id, customer)
        # The generated admin password appears only in this response (S-CUST).
        return {
            **customer,
            "userCredentials": {"userName": "admin", "password": secrets.token_urlsafe(12)},
        }

    def customer(self, customer_id: str) -> Doc:
        found = self.store.get("customer", customer_id)
        if found is None:
            raise not_found("customer", NO_RELATIONSHIP)
        return found

    def customers(self) -> list[Doc]:
        return self.store.all("customer")

    # agreements ----------------------------------------------------------------------
    @staticmethod
    def agreement_templates() -> list[Doc]:
        return [
            {
                "templateId": MCA_TEMPLATE_ID,
                "agreementType": "MicrosoftCustomerAgreement",
                "agreementLink": "https://aka.ms/customeragreement",
                "versionRank": 0,
            }
        ]

    def attest(self, customer_id: str, body: Doc, now: datetime, caller: Caller) -> Doc:
        self.customer(customer_id)
        contact = _obj(body, "primaryContact")
        for field in ("firstName", "lastName", "email"):
            _text(contact, field, f"primaryContact.{field}")
        if body.get("templateId") != MCA_TEMPLATE_ID:
            raise invalid("templateId", "is not the current Microsoft Customer Agreement")
        if body.get("type") != "MicrosoftCustomerAgreement":
            raise invalid("type", "must be MicrosoftCustomerAgreement")
        agreed = _datetime(body, "dateAgreed")
        if agreed > now + timedelta(days=1):
            raise invalid("dateAgreed", "is in the future")
        key = ("firstName", "lastName", "email", "phoneNumber")
        for existing in self.store.all("agreement", customer_id):
            if all(existing["primaryContact"].get(k) == contact.get(k) for k in key):
                raise PcError(400, AGREEMENT_EXISTS, "PartnerConfirmedAgreementAlreadyExists")
        agreement: Doc = {
            "primaryContact": {k: contact.get(k) for k in key if contact.get(k) is not None},
            "templateId": MCA_TEMPLATE_ID,
            "dateAgreed": rules.iso(agreed),
            "type": "MicrosoftCustomerAgreement",
            "agreementLink": "https://aka.ms/customeragreement",
            "userId": caller.user,
        }
        self.store.put("agreement", str(uuid.uuid4()), agreement, parent=customer_id)
        self._audit(now, caller, "add_customer_agreement", "Agreement", customer_id, agreement)
        return agreement

    def agreements(self, customer_id: str) -> list[Doc]:
        self.customer(customer_id)
        return self.store.all("agreement", customer_id)

    # carts and orders ----------------------------------------------------------------
    def create_cart(self, customer_id: str, body: Doc, now: datetime, caller: Caller) -> Doc:
        self.customer(customer_id)
        raw_lines = body.get("lineItems", body.get("LineItems"))
        if not isinstance(raw_lines, list) or not raw_lines:
            raise invalid("lineItems", "at least one line item is required")
        lines = [self._cart_line(customer_id, i, line, now) for i, line in enumerate(raw_lines)]
        cart: Doc = {
            "id": str(uuid.uuid4()),
            "creationTimestamp": rules.iso(now),
            "lastModifiedTimestamp": rules.iso(now),
            "expirationTimestamp": rules.iso(now + timedelta(days=7)),
            "lastModifiedUser": caller.user or caller.app_id,
            "status": "Active",
            "lineItems": lines,
            "links": {
                "self": {"uri": f"/customers/{customer_id}/carts/", "method": "GET", "headers": []}
            },
            "attributes": {"objectType": "Cart"},
        }
        cart["links"]["self"]["uri"] += cart["id"]
        self.store.put("cart", cart["id"], cart, parent=customer_id)
        return cart

    def _cart_line(self, customer_id: str, index: int, line: object, now: datetime) -> Doc:
        where = f"lineItems[{index}]"
        if not isinstance(line, dict):
            raise invalid(where, "must be an object")
        offer = catalog.BY_ID.get(str(line.get("catalogItemId")))
        if offer is None:
            raise PcError(
                400, AVAILABILITY_NOT_FOUND, f"{where}.catalogItemId: availability not found"
            )
        quantity = _quantity(line, f"{where}.quantity", offer)
        term = line.get("termDuration")
        if term not in catalog.TERMS:
            raise invalid(f"{where}.termDuration", f"must be one of {', '.join(catalog.TERMS)}")
        cycle = str(line.get("billingCycle", "")).lower()
        if cycle not in catalog.BILLING_CYCLES[term]:
            raise invalid(f"{where}.billingCycle", f"{cycle or 'none'} is not offered for {term}")
        custom_end = line.get("customTermEndDate")
        if custom_end is not None:
            allowed = {
                d["allowedCustomTermEndDate"][:10]
                for d in self.coterm_dates(customer_id, term, now)
            }
            if str(custom_end)[:10] not in allowed:
                raise invalid(f"{where}.customTermEndDate", "is not an allowed end date")
        price = catalog.price_per_cycle(offer, term, cycle)
        return {
            "id": index,
            "catalogItemId": offer.catalog_item_id,
            "friendlyName": line.get("friendlyName") or offer.title,
            "quantity": quantity,
            "currencyCode": "USD",
            "billingCycle": cycle,
            "termDuration": term,
            "customTermEndDate": custom_end,
            "provisioningContext": {},
            "orderGroup": "0",
            "pricing": {
                "listPrice": float(price),
                "discountedPrice": float(price),
                "proratedPrice": float(price),
                "price": float(price),
                "extendedPrice": float(price * quantity),
            },
        }

    def cart(self, customer_id: str, cart_id: str) -> Doc:
        found = self.store.get("cart", cart_id)
        if found is None or not found["links"]["self"]["uri"].startswith(
            f"/customers/{customer_id}/"
        ):
            raise not_found("cart")
        return found

    def checkout(self, customer_id: str, cart_id: str, now: datetime, caller: Caller) -> Doc:
        cart = self.cart(customer_id, cart_id)
        if cart["status"] != "Active":
            raise invalid("cart", f"cart {cart_id} is {cart['status']}, not Active")
        if rules.parse_iso(cart["expirationTimestamp"]) <= now:
            raise invalid("cart", f"cart {cart_id} has expired")
        if not self.store.all("agreement", customer_id):
            raise PcError(
                403, MCA_MISSING, "The customer has not accepted the Microsoft Customer Agreement."
            )
        order_id = uuid.uuid4().hex[:12]
        provisioned = self.options.provisioning_delay <= timedelta(0)
        order_lines = []
        total = Decimal(0)
        for line in cart["lineItems"]:
            offer = catalog.BY_ID[line["catalogItemId"]]
            sub = self._new_subscription(
                customer_id,
                order_id,
                offer,
                quantity=line["quantity"],
                term=line["termDuration"],
                cycle=line["billingCycle"],
                start=now,
                custom_end=line.get("customTermEndDate"),
                window_until=now + rules.CANCELLATION_WINDOW,
                friendly_name=line["friendlyName"],
            )
            self.ledger.charge(
                sub, self.customer(sub["customerId"]), "new", line["quantity"], now, now.date()
            )
            total += Decimal(str(line["pricing"]["extendedPrice"]))
            order_lines.append(
                {
                    "lineItemNumber": line["id"],
                    "offerId": offer.catalog_item_id,
                    "subscriptionId": sub["id"],
                    "termDuration": line["termDuration"],
                    "transactionType": "New",
                    "friendlyName": line["friendlyName"],
                    "quantity": line["quantity"],
                    "pricing": line["pricing"],
                    "links": _catalog_links(offer),
                }
            )
        order: Doc = {
            "id": order_id,
            "alternateId": order_id,
            "referenceCustomerId": customer_id,
            "billingCycle": cart["lineItems"][0]["billingCycle"],
            "currencyCode": "USD",
            "currencySymbol": "$",
            "lineItems": order_lines,
            "creationDate": rules.iso(now),
            "status": "completed" if provisioned else "pending",
            "transactionType": "UserPurchase",
            "provisionedAt": rules.iso(now + self.options.provisioning_delay),
            "totalPrice": float(total),
            "links": {
                "self": _link(f"/customers/{customer_id}/orders/{order_id}"),
                "provisioningStatus": _link(
                    f"/customers/{customer_id}/orders/{order_id}/provisioningstatus"
                ),
            },
            "attributes": {"objectType": "Order"},
        }
        self.store.put("order", order_id, order, parent=customer_id)
        self._due_at = None
        cart["status"] = "Ordered"
        cart["lastModifiedTimestamp"] = rules.iso(now)
        self.store.put("cart", cart_id, cart, parent=customer_id)
        self._audit(now, caller, "create_order", "Order", customer_id, order)
        return {"orders": [_public(order)], "orderErrors": []}

    def orders(self, customer_id: str) -> list[Doc]:
        self.customer(customer_id)
        return [_public(o) for o in self.store.all("order", customer_id)]

    def order(self, customer_id: str, order_id: str) -> Doc:
        found = self.store.get("order", order_id)
        if found is None or found["referenceCustomerId"] != customer_id:
            raise not_found("order")
        return _public(found)

    def provisioning_status(self, customer_id: str, order_id: str) -> list[Doc]:
        order = self.order(customer_id, order_id)
        fulfilled = order["status"] == "completed"
        return [
            {
                "lineItemNumber": line["lineItemNumber"],
                "status": "fulfilled" if fulfilled else "pending",
                "quantityProvisioningInformation": [],
                "subscriptionId": line["subscriptionId"],
            }
            for line in order["lineItems"]
        ]

    # subscriptions -------------------------------------------------------------------
    def _new_subscription(
        self,
        customer_id: str,
        order_id: str,
        offer: catalog.Offer,
        *,
        quantity: int,
        term: str,
        cycle: str,
        start: datetime,
        custom_end: str | None,
        window_until: datetime,
        friendly_name: str,
        end: date | None = None,
    ) -> Doc:
        natural_end = rules.term_end(start.date(), catalog.TERM_MONTHS[term])
        commitment_end = end or (date.fromisoformat(custom_end[:10]) if custom_end else natural_end)
        sub: Doc = {
            "id": str(uuid.uuid4()),
            "customerId": customer_id,
            "orderId": order_id,
            "offerId": offer.catalog_item_id,
            "friendlyName": friendly_name,
            "quantity": quantity,
            "termDuration": term,
            "billingCycle": cycle,
            "status": "active",
            "autoRenewEnabled": True,
            "creationDate": rules.iso(start),
            "effectiveStartDate": rules.iso(start),
            "commitmentEndDate": commitment_end.isoformat(),
            "cancellationAllowedUntil": rules.iso(window_until),
            "lots": [{"quantity": quantity, "until": rules.iso(window_until)}],
            "scheduled": None,
            "renewalStartedAt": None,
            "statusChangedAt": rules.iso(start),
            "cycleIndex": 0,
            "etag": 1,
        }
        self._save(sub)
        return sub

    def _save(self, sub: Doc) -> None:
        self.store.put("subscription", sub["id"], sub, parent=sub["customerId"])
        self._due_at = None

    def _sub(self, customer_id: str, subscription_id: str) -> Doc:
        self.customer(customer_id)
        sub = self.store.get("subscription", subscription_id)
        if sub is None or sub["customerId"] != customer_id:
            raise not_found("subscription", SUBSCRIPTION_NOT_FOUND)
        return sub

    def subscription(self, customer_id: str, subscription_id: str, now: datetime) -> Doc:
        return self.render(self._sub(customer_id, subscription_id), now)

    def subscriptions(self, customer_id: str, now: datetime, order_id: str | None) -> list[Doc]:
        self.customer(customer_id)
        subs = self.store.all("subscription", customer_id)
        return [self.render(s, now) for s in subs if order_id is None or s["orderId"] == order_id]

    def render(self, sub: Doc, now: datetime) -> Doc:
        offer = catalog.BY_ID[sub["offerId"]]
        end = date.fromisoformat(sub["commitmentEndDate"])
        cycle_end = self.ledger.cycle_end(sub)
        lots = [lot for lot in sub["lots"] if rules.parse_iso(lot["until"]) > now]
        window = rules.parse_iso(sub["cancellationAllowedUntil"])
        actions = ["edit"] + (["cancel"] if now <= window else [])
        return {
            "id": sub["id"],
            "offerId": offer.catalog_item_id,
            "offerName": offer.title,
            "friendlyName": sub["friendlyName"],
            "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
            "quantity": sub["quantity"],
            "unitType": "Licenses",
            "hasPurchasableAddons": False,
            "creationDate": sub["creationDate"],
            "effectiveStartDate": sub["effectiveStartDate"],
            "commitmentEndDate": rules.iso(rules.day_start(end)),
            "commitmentEndDateTime": rules.iso(rules.day_start(end) + timedelta(seconds=86399)),
            "cancellationAllowedUntilDate": sub["cancellationAllowedUntil"],
            "billingCycleEndDate": rules.iso(rules.day_start(cycle_end)),
            "billingCycleEndDateTime": rules.iso(
                rules.day_start(cycle_end) + timedelta(seconds=86399)
            ),
            "status": sub["status"],
            "autoRenewEnabled": sub["autoRenewEnabled"],
            "isTrial": False,
            "billingType": "license",
            "billingCycle": sub["billingCycle"],
            "termDuration": sub["termDuration"],
            "renewalTermDuration": (sub["scheduled"] or {})
            .get("product", {})
            .get("termDuration", ""),
            "refundOptions": [{"type": "Full", "expiresAt": sub["cancellationAllowedUntil"]}]
            if now <= window
            else [],
            "refundableQuantity": {
                "totalQuantity": sum(lot["quantity"] for lot in lots),
                "details": [
                    {"quantity": lot["quantity"], "allowedUntilDateTime": lot["until"]}
                    for lot in lots
                ],
            },
            "scheduledNextTermInstructions": sub["scheduled"],
            "isMicrosoftProduct": True,
            "partnerId": "",
            "attentionNeeded": False,
            "actionTaken": False,
            "contractType": "subscription",
            "publisherName": "Microsoft Corporation",
            "orderId": sub["orderId"],
            "actions": actions,
            "suspensionReasons": ["PartnerInitiated"] if sub["status"] == "suspended" else [],
            "links": {
                **_catalog_links(offer),
                "self": _link(f"/customers/{sub['customerId']}/subscriptions/{sub['id']}"),
            },
            "attributes": {"etag": _etag(sub), "objectType": "Subscription"},
        }

    def patch_subscription(
        self,
        customer_id: str,
        subscription_id: str,
        body: Doc,
        if_match: str | None,
        now: datetime,
        caller: Caller,
    ) -> Doc:
        sub = self._sub(customer_id, subscription_id)
        if if_match is not None and if_match.strip('"') != _etag(sub).strip('"'):
            raise PcError(412, ETAG_STALE, "The ETag is no longer valid; GET the subscription.")
        if sub["status"] == "deleted":
            raise PcError(400, DELETED_SUBSCRIPTION, "A deleted subscription cannot be updated.")
        term_end_at = rules.renewal_instant(date.fromisoformat(sub["commitmentEndDate"]))
        if sub["renewalStartedAt"] is not None:
            raise PcError(
                409, NOT_READY, "The subscription is being renewed; retry in a few minutes."
            )
        before = json.dumps(self.render(sub, now), sort_keys=True)
        status = body.get("status", sub["status"])
        if status not in PATCHABLE_STATUSES and status != sub["status"]:
            raise invalid("status", f"must be one of {', '.join(PATCHABLE_STATUSES)}")
        quantity = body.get("quantity", sub["quantity"])
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise invalid("quantity", "must be an integer")
        # Omitting autoRenewEnabled or scheduledNextTermInstructions in a PATCH resets them
        # (S-UPD): clients must send the full resource, and the sandbox punishes those who don't.
        auto_renew = body.get("autoRenewEnabled", False)
        if not isinstance(auto_renew, bool):
            raise invalid("autoRenewEnabled", "must be a boolean")
        scheduled = body.get("scheduledNextTermInstructions")
        renewal_settings_change = auto_renew != sub["autoRenewEnabled"] or _canon(
            scheduled
        ) != _canon(sub["scheduled"])
        if (
            renewal_settings_change
            and self.options.pre_renewal_lock > timedelta(0)
            and term_end_at - self.options.pre_renewal_lock <= now < term_end_at
        ):
            raise PcError(
                409,
                PENDING_OPERATION,
                "Renewal settings are locked in the last 24 hours before the term ends.",
            )
        changed_status = status != sub["status"]
        if changed_status and status == "deleted":
            self._cancel(sub, now)
        elif changed_status and status == "suspended":
            # Suspension turns auto-renew off and drops scheduled changes (S-MANAGE, S-LIFE);
            # billing continues (NCE).
            sub.update(status="suspended", autoRenewEnabled=False, scheduled=None)
            sub["statusChangedAt"] = rules.iso(now)
        elif changed_status and status == "active":
            if sub["status"] != "suspended":
                raise invalid("status", f"a {sub['status']} subscription cannot be reactivated")
            sub.update(status="active", autoRenewEnabled=auto_renew, scheduled=None)
            sub["statusChangedAt"] = rules.iso(now)
        elif quantity != sub["quantity"]:
            self._change_quantity(sub, quantity, now)
            # A quantity change deletes scheduled changes (S-MANAGE).
            sub.update(autoRenewEnabled=auto_renew, scheduled=None)
        else:
            if scheduled is not None:
                self._validate_schedule(sub, scheduled, auto_renew, now)
            sub.update(autoRenewEnabled=auto_renew, scheduled=scheduled if auto_renew else None)
        if "friendlyName" in body and isinstance(body["friendlyName"], str):
            sub["friendlyName"] = body["friendlyName"]
        after = self.render(sub, now)
        if json.dumps(after, sort_keys=True) != before:
            sub["etag"] += 1
            self._save(sub)
            self._audit(now, caller, "update_subscription", "Subscription", customer_id, after)
            self.notifier.subscription_updated(sub, now)
        return self.render(sub, now)

    def _change_quantity(self, sub: Doc, quantity: int, now: datetime) -> None:
        if sub["status"] == "suspended":
            raise PcError(
                400, SUSPENDED_QUANTITY, "The quantity of a suspended subscription cannot change."
            )
        offer = catalog.BY_ID[sub["offerId"]]
        if not offer.min_quantity <= quantity <= offer.max_quantity:
            raise PcError(
                400,
                QUANTITY_RANGE,
                f"quantity must be between {offer.min_quantity} and {offer.max_quantity}",
            )
        delta = quantity - sub["quantity"]
        if delta > 0:
            sub["lots"].append(
                {"quantity": delta, "until": rules.iso(now + rules.CANCELLATION_WINDOW)}
            )
            self.ledger.charge(
                sub, self.customer(sub["customerId"]), "addQuantity", delta, now, now.date()
            )
        else:
            # Seats come off only while the seats being removed are inside their own 7-day
            # window (S-MANAGE, S-QTY refundableQuantity); the newest seats go first.
            remaining = -delta
            lots = [lot for lot in sub["lots"] if rules.parse_iso(lot["until"]) > now]
            if sum(lot["quantity"] for lot in lots) < remaining:
                raise PcError(
                    400,
                    CANNOT_DECREASE,
                    "Subscription quantity cannot be decreased outside the cancellation window.",
                )
            for lot in reversed(lots):
                take = min(lot["quantity"], remaining)
                lot["quantity"] -= take
                remaining -= take
            sub["lots"] = [lot for lot in lots if lot["quantity"] > 0]
            self.ledger.charge(
                sub, self.customer(sub["customerId"]), "removeQuantity", -delta, now, now.date()
            )
        sub["quantity"] = quantity

    def _cancel(self, sub: Doc, now: datetime) -> None:
        if now > rules.parse_iso(sub["cancellationAllowedUntil"]):
            # Microsoft says only that "the API will throw an error" (S-CANCEL); the sandbox
            # answers with the code it documents for the same window on seat reductions.
            raise PcError(
                400,
                CANNOT_DECREASE,
                "The subscription can no longer be cancelled: the cancellation window has passed.",
            )
        self.ledger.charge(
            sub,
            self.customer(sub["customerId"]),
            "cancelImmediate",
            sub["quantity"],
            now,
            now.date(),
        )
        sub.update(status="deleted", autoRenewEnabled=False, scheduled=None, lots=[])
        sub["statusChangedAt"] = rules.iso(now)

    def _validate_schedule(
        self, sub: Doc, scheduled: object, auto_renew: bool, now: datetime
    ) -> None:
        # S-SCHED: requires autoRenewEnabled true and an active subscription.
        if not isinstance(scheduled, dict):
            raise invalid("scheduledNextTermInstructions", "must be an object")
        if not auto_renew:
            raise invalid("scheduledNextTermInstructions", "requires autoRenewEnabled true")
        if sub["status"] != "active":
            raise invalid("scheduledNextTermInstructions", "requires an active subscription")
        product = _obj(scheduled, "product", "scheduledNextTermInstructions.product")
        target = ":".join(str(product.get(k)) for k in ("productId", "skuId", "availabilityId"))
        allowed = {sub["offerId"]} | {
            o.catalog_item_id for o in catalog.upgrade_targets(sub["offerId"])
        }
        if target not in allowed:
            raise invalid(
                "scheduledNextTermInstructions.product", f"{target} is not an eligible next term"
            )
        offer = catalog.BY_ID[target]
        _quantity(scheduled, "scheduledNextTermInstructions.quantity", offer)
        term = product.get("termDuration")
        if term not in catalog.TERMS:
            raise invalid("scheduledNextTermInstructions.product.termDuration", "is not a term")
        cycle = str(product.get("billingCycle", "")).lower()
        if cycle not in catalog.BILLING_CYCLES[term]:
            raise invalid(
                "scheduledNextTermInstructions.product.billingCycle", f"is not offered for {term}"
            )
        custom_end = scheduled.get("customTermEndDate")
        if custom_end:
            start = rules.renewal_instant(date.fromisoformat(sub["commitmentEndDate"]))
            allowed_ends = {
                d["allowedCustomTermEndDate"][:10]
                for d in self.coterm_dates(sub["customerId"], term, start)
            }
            if str(custom_end)[:10] not in allowed_ends:
                raise invalid(
                    "scheduledNextTermInstructions.customTermEndDate", "is not an allowed end date"
                )

    def coterm_dates(
        self, customer_id: str, term: str, start: datetime, target: str | None = None
    ) -> list[Doc]:
        """Allowed custom term end dates (S-COTERM-API): a calendar-month-aligned date and
        the end dates of the customer's active subscriptions that fall inside the term."""
        if term not in catalog.TERMS:
            raise invalid("term_duration", f"must be one of {', '.join(catalog.TERMS)}")
        natural_end = rules.term_end(start.date(), catalog.TERM_MONTHS[term])
        found = [
            {
                "allowedCustomTermEndDateType": "calendarMonthAligned",
                "allowedCustomTermEndDate": rules.iso(
                    rules.day_start(rules.calendar_aligned_end(natural_end))
                ),
                "cotermSubscriptionIds": [],
            }
        ]
        by_end: dict[str, list[str]] = {}
        for sub in self.store.all("subscription", customer_id):
            end = date.fromisoformat(sub["commitmentEndDate"])
            in_term = start.date() <= end <= natural_end
            if sub["status"] == "active" and in_term and target in (None, sub["id"]):
                by_end.setdefault(sub["commitmentEndDate"], []).append(sub["id"])
        for end_text, ids in sorted(by_end.items()):
            found.append(
                {
                    "allowedCustomTermEndDateType": "subscriptionAligned",
                    "allowedCustomTermEndDate": rules.iso(
                        rules.day_start(date.fromisoformat(end_text))
                    ),
                    "cotermSubscriptionIds": ids,
                }
            )
        return found

    # upgrades ------------------------------------------------------------------------
    def eligibilities(
        self, customer_id: str, subscription_id: str, kind: str, now: datetime
    ) -> list[Doc]:
        if kind not in ("immediate", "scheduled"):
            raise invalid("eligibilityType", "must be immediate or scheduled")
        sub = self._sub(customer_id, subscription_id)
        items = []
        for offer in catalog.upgrade_targets(sub["offerId"]):
            errors = (
                []
                if sub["status"] == "active"
                else [{"code": 1, "description": "SubscriptionNotActive"}]
            )
            destinations = []
            if kind == "immediate":
                destinations = [
                    self._destination_eligibility(sub, other, now)
                    for other in self.store.all("subscription", customer_id)
                    if other["offerId"] == offer.catalog_item_id and other["id"] != sub["id"]
                ]
            items.append(
                {
                    "catalogItemId": offer.catalog_item_id,
                    "title": offer.title,
                    "description": offer.title,
                    "quantity": sub["quantity"],
                    "eligibilities": [
                        {
                            "isEligible": not errors,
                            "transitionType": "transition_only",
                            "errors": errors,
                        }
                    ],
                    "subscriptionEligibilities": destinations,
                }
            )
        return items

    @staticmethod
    def _destination_eligibility(source: Doc, dest: Doc, now: datetime) -> Doc:
        # S-TRANS destination rules: active, out of its cancellation window, a term at
        # least the source's, and an end date not before the source's.
        errors = []
        if dest["status"] != "active":
            errors.append({"code": 1, "description": "SubscriptionNotActive"})
        if now <= rules.parse_iso(dest["cancellationAllowedUntil"]):
            errors.append({"code": 2, "description": "SubscriptionInCancellationWindow"})
        if catalog.TERM_MONTHS[dest["termDuration"]] < catalog.TERM_MONTHS[source["termDuration"]]:
            errors.append(
                {"code": 3, "description": "SubscriptionTermDurationShorterThanSourceTermDuration"}
            )
        if dest["commitmentEndDate"] < source["commitmentEndDate"]:
            errors.append(
                {"code": 4, "description": "SubscriptionTermEndDateEarlierThanSourceTermEndDate"}
            )
        return {
            "isEligible": not errors,
            "subscriptionId": dest["id"],
            "subscriptionFriendlyName": dest["friendlyName"],
            "subscriptionTermDuration": dest["termDuration"],
            "subscriptionBillingCycle": dest["billingCycle"],
            "errors": errors,
        }

    def transition(
        self, customer_id: str, subscription_id: str, body: Doc, now: datetime, caller: Caller
    ) -> Doc:
        source = self._sub(customer_id, subscription_id)
        if source["renewalStartedAt"] is not None:
            raise PcError(409, NOT_READY, "The subscription is being renewed; retry later.")
        to_id = _text(body, "toCatalogItemId", "toCatalogItemId")
        transition_type = _text(body, "transitionType", "transitionType")
        if transition_type not in ("transition_only", "transition_with_license_transfer"):
            raise invalid(
                "transitionType", "must be transition_only or transition_with_license_transfer"
            )
        eligible = {
            item["catalogItemId"]: item
            for item in self.eligibilities(customer_id, subscription_id, "immediate", now)
        }
        item = eligible.get(to_id)
        if item is None:
            raise invalid("toCatalogItemId", f"{to_id} is not an eligible upgrade (no downgrades)")
        if not item["eligibilities"][0]["isEligible"]:
            raise invalid("fromSubscriptionId", "upgrades start only from active subscriptions")
        quantity = body.get("quantity")
        if not isinstance(quantity, int) or not 1 <= quantity <= source["quantity"]:
            raise invalid("quantity", f"must be 1..{source['quantity']}")
        target = catalog.BY_ID[to_id]
        from_offer = source["offerId"]
        to_sub_id = body.get("toSubscriptionId")
        if to_sub_id:
            dest_item = next(
                (d for d in item["subscriptionEligibilities"] if d["subscriptionId"] == to_sub_id),
                None,
            )
            if dest_item is None or not dest_item["isEligible"]:
                raise invalid("toSubscriptionId", "is not an eligible destination")
            dest = self._sub(customer_id, to_sub_id)
            self.ledger.charge(
                source, self.customer(customer_id), "removeQuantity", quantity, now, now.date()
            )
            dest["quantity"] += quantity
            self.ledger.charge(
                dest, self.customer(dest["customerId"]), "convert", quantity, now, now.date()
            )
            dest["etag"] += 1
            self._save(dest)
            source["quantity"] -= quantity
            if source["quantity"] == 0:
                # A full transition into an existing subscription leaves nothing behind
                # (sandbox reading; Microsoft does not document the source's final state).
                source.update(status="deleted", autoRenewEnabled=False, lots=[])
        elif quantity == source["quantity"]:
            # Full upgrade: in place, same subscription id (S-MANAGE).
            self.ledger.charge(
                source, self.customer(customer_id), "removeQuantity", quantity, now, now.date()
            )
            source["offerId"] = to_id
            source["friendlyName"] = target.title
            self.ledger.charge(
                source, self.customer(source["customerId"]), "convert", quantity, now, now.date()
            )
            to_sub_id = source["id"]
        else:
            # Partial upgrade: a new coterminous subscription that inherits the parent's
            # cancellation window (S-MANAGE, S-CANCELPOL).
            self.ledger.charge(
                source, self.customer(customer_id), "removeQuantity", quantity, now, now.date()
            )
            source["quantity"] -= quantity
            new = self._new_subscription(
                customer_id,
                source["orderId"],
                target,
                quantity=quantity,
                term=source["termDuration"],
                cycle=source["billingCycle"],
                start=now,
                custom_end=None,
                window_until=rules.parse_iso(source["cancellationAllowedUntil"]),
                friendly_name=target.title,
                end=date.fromisoformat(source["commitmentEndDate"]),
            )
            new["lots"] = []
            self._save(new)
            self.ledger.charge(
                new, self.customer(new["customerId"]), "convert", quantity, now, now.date()
            )
            to_sub_id = new["id"]
        # A midterm upgrade removes scheduled changes (S-MANAGE); no window reopens.
        source["scheduled"] = None
        source["lots"] = [lot for lot in source["lots"] if lot["quantity"] <= source["quantity"]]
        source["etag"] += 1
        self._save(source)
        operation_id = str(uuid.uuid4())
        record: Doc = {
            "id": operation_id,
            "operationId": operation_id,
            "fromCatalogItemId": from_offer,
            "fromSubscriptionId": subscription_id,
            "toCatalogItemId": to_id,
            "toSubscriptionId": to_sub_id,
            "quantity": quantity,
            "termDuration": source["termDuration"],
            "billingCycle": source["billingCycle"],
            "transitionType": transition_type,
            "status": "Completed",
            "events": [
                {"name": "Conversion", "status": "Started", "timestamp": rules.iso(now)},
                {"name": "Conversion", "status": "Completed", "timestamp": rules.iso(now)},
            ],
        }
        self.store.put("transition", operation_id, record, parent=subscription_id)
        self._audit(now, caller, "upgrade_subscription", "Subscription", customer_id, record)
        self.notifier.subscription_updated(source, now)
        if to_sub_id != source["id"]:
            self.notifier.subscription_updated(self._sub(customer_id, str(to_sub_id)), now)
        return {**record, "status": "Started", "events": record["events"][:1]}

    def transitions(
        self, customer_id: str, subscription_id: str, operation_id: str | None
    ) -> list[Doc]:
        self._sub(customer_id, subscription_id)
        return [
            t
            for t in self.store.all("transition", subscription_id)
            if operation_id is None or t["operationId"] == operation_id
        ]

    # audit ---------------------------------------------------------------------------
    def _audit(
        self,
        now: datetime,
        caller: Caller,
        operation: str,
        resource: str,
        customer_id: str,
        value: Doc,
    ) -> None:
        record_id = str(uuid.uuid4())
        customer = self.store.get("customer", customer_id)
        self.store.put(
            "audit",
            record_id,
            {
                "id": record_id,
                "partnerId": self.options.partner_tenant_id,
                "customerId": customer_id,
                "customerName": customer["companyProfile"]["companyName"] if customer else "",
                "userPrincipalName": caller.user or "",
                "applicationId": caller.app_id,
                "resourceType": resource,
                "resourceNewValue": json.dumps(value),
                "operationType": operation,
                "operationStatus": "succeeded",
                "operationDate": rules.iso(now),
                "attributes": {"objectType": "AuditRecord"},
            },
        )

    def audit_records(self, start: datetime, end: datetime | None) -> list[Doc]:
        return [
            r
            for r in self.store.all("audit")
            if start <= rules.parse_iso(r["operationDate"])
            and (end is None or rules.parse_iso(r["operationDate"]) < end)
        ]

    # time ----------------------------------------------------------------------------
    def advance(self, now: datetime) -> None:
        """Do everything that `now` makes due. Safe to call often and from any request."""
        if self._due_at is not None and now < self._due_at:
            return
        due: list[datetime] = [rules.day_start(rules.add_months(now.date().replace(day=1), 1))]
        with self.store.transaction():
            for order in self.store.all("order"):
                if order["status"] == "pending":
                    ready = rules.parse_iso(order["provisionedAt"])
                    if ready <= now:
                        order["status"] = "completed"
                        self.store.put(
                            "order", order["id"], order, parent=order["referenceCustomerId"]
                        )
                    else:
                        due.append(ready)
            for sub in self.store.all("subscription"):
                if sub["status"] != "deleted":
                    self._advance_subscription(sub, now)
                    due.extend(t for t in self._next_times(sub) if t > now)
            self.ledger.close_months(now, self.notifier)
        self._due_at = min(due)

    def _next_times(self, sub: Doc) -> list[datetime]:
        """The instants at which `_advance_subscription` will next have work."""
        term_over = rules.renewal_instant(date.fromisoformat(sub["commitmentEndDate"]))
        changed_at = rules.parse_iso(sub["statusChangedAt"])
        times = [
            term_over,
            rules.day_start(self.ledger.cycle_end(sub) + timedelta(days=1)),
            changed_at + timedelta(days=EXPIRED_DAYS),
            changed_at + timedelta(days=DISABLED_DAYS),
        ]
        if sub["renewalStartedAt"] is not None:
            times.append(rules.parse_iso(sub["renewalStartedAt"]) + self.options.renewal_processing)
        return times

    def _advance_subscription(self, sub: Doc, now: datetime) -> None:
        changed = False
        while True:
            end = date.fromisoformat(sub["commitmentEndDate"])
            term_over = rules.renewal_instant(end)
            cycle_next = rules.day_start(self.ledger.cycle_end(sub) + timedelta(days=1))
            if (
                sub["status"] in ("active", "suspended")
                and cycle_next < term_over
                and cycle_next <= now
            ):
                # A new billing cycle inside the term; NCE bills suspended seats too.
                sub["cycleIndex"] += 1
                self.ledger.charge(
                    sub,
                    self.customer(sub["customerId"]),
                    "cycleCharge",
                    sub["quantity"],
                    cycle_next,
                    cycle_next.date(),
                )
                changed = True
                continue
            if now < term_over:
                break
            status = sub["status"]
            if status == "active" and sub["autoRenewEnabled"]:
                if sub["renewalStartedAt"] is None:
                    sub["renewalStartedAt"] = rules.iso(term_over)
                    changed = True
                done_at = term_over + self.options.renewal_processing
                if now < done_at:
                    break
                self._renew(sub, term_over, done_at)
                changed = True
                continue
            changed_at = rules.parse_iso(sub["statusChangedAt"])
            if status == "active":
                # Auto-renew off: expired for 30 days, then disabled, then deleted (S-LIFE).
                self._set_status(sub, "expired", term_over)
            elif status == "suspended":
                self._set_status(sub, "disabled", term_over)
            elif status == "expired" and now >= changed_at + timedelta(days=EXPIRED_DAYS):
                self._set_status(sub, "disabled", changed_at + timedelta(days=EXPIRED_DAYS))
            elif status == "disabled" and now >= changed_at + timedelta(days=DISABLED_DAYS):
                self._set_status(sub, "deleted", changed_at + timedelta(days=DISABLED_DAYS))
            else:
                break
            changed = True
        if changed:
            sub["etag"] += 1
            self._save(sub)

    def _set_status(self, sub: Doc, status: str, when: datetime) -> None:
        sub["status"] = status
        sub["statusChangedAt"] = rules.iso(when)
        sub["autoRenewEnabled"] = False
        self.notifier.subscription_updated(sub, when)

    def _renew(self, sub: Doc, start: datetime, done_at: datetime) -> None:
        """A new term starts the day after the old one ended, with the scheduled next-term
        instructions applied; the new 7-day window runs from when renewal completed."""
        scheduled = sub["scheduled"]
        if scheduled:
            product = scheduled["product"]
            sub["offerId"] = (
                f"{product['productId']}:{product['skuId']}:{product['availabilityId']}"
            )
            sub["termDuration"] = product["termDuration"]
            sub["billingCycle"] = str(product["billingCycle"]).lower()
            sub["quantity"] = scheduled["quantity"]
            sub["friendlyName"] = catalog.BY_ID[sub["offerId"]].title
        natural = rules.term_end(start.date(), catalog.TERM_MONTHS[sub["termDuration"]])
        custom = (scheduled or {}).get("customTermEndDate")
        sub["commitmentEndDate"] = custom[:10] if custom else natural.isoformat()
        sub["effectiveStartDate"] = rules.iso(start)
        sub["cycleIndex"] = 0
        window = done_at + rules.CANCELLATION_WINDOW
        sub["cancellationAllowedUntil"] = rules.iso(window)
        sub["lots"] = [{"quantity": sub["quantity"], "until": rules.iso(window)}]
        sub["scheduled"] = None
        sub["renewalStartedAt"] = None
        self.ledger.charge(
            sub, self.customer(sub["customerId"]), "renew", sub["quantity"], start, start.date()
        )
        self.notifier.subscription_updated(sub, done_at)

    def simulate_event(self, event_name: str, customer_id: str, now: datetime) -> None:
        """Events born outside the API (a customer accepts an invitation, a GDAP
        relationship is approved) are triggered through the admin endpoint."""
        resource = EXTERNAL_EVENTS.get(event_name)
        if resource is None:
            raise invalid(
                "eventName", f"must be one of {', '.join(EXTERNAL_EVENTS)}, not {event_name}"
            )
        self.customer(customer_id)
        self.notifier.emit(
            event_name, resource, f"{self.notifier.base_url}/v1/customers/{customer_id}", now
        )


def _canon(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _etag(sub: Doc) -> str:
    return f'"{sub["id"][:8]}-{sub["etag"]}"'


def _link(uri: str) -> Doc:
    return {"uri": uri, "method": "GET", "headers": []}


def _catalog_links(offer: catalog.Offer) -> Doc:
    return {
        "product": _link(f"/products/{offer.product_id}?country=US"),
        "sku": _link(f"/products/{offer.product_id}/skus/{offer.sku_id}?country=US"),
        "availability": _link(
            f"/products/{offer.product_id}/skus/{offer.sku_id}/availabilities/"
            f"{offer.availability_id}?country=US"
        ),
    }


def _public(order: Doc) -> Doc:
    return {k: v for k, v in order.items() if k != "provisionedAt"}


def _obj(body: Any, field: str, name: str | None = None) -> Doc:
    value = body.get(field) if isinstance(body, dict) else None
    if not isinstance(value, dict):
        raise invalid(name or field, "is required and must be an object")
    return value


def _text(body: Doc, field: str, name: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "is required")
    return value.strip()


def _quantity(body: Doc, name: str, offer: catalog.Offer) -> int:
    value = body.get("quantity")
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, "must be an integer")
    if not offer.min_quantity <= value <= offer.max_quantity:
        raise PcError(
            400,
            QUANTITY_RANGE,
            f"{name} must be between {offer.min_quantity} and {offer.max_quantity}",
        )
    return value


def _datetime(body: Doc, field: str) -> datetime:
    value = body.get(field)
    try:
        return rules.parse_iso(str(value))
    except ValueError:
        raise invalid(field, "must be an ISO 8601 date-time") from None
