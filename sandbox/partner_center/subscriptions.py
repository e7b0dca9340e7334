"""Subscriptions: their stored state, the resource Partner Center renders from it, PATCH
(quantity, suspend, reactivate, cancel, auto-renew, scheduled next-term and next-charge
instructions, friendly name) and the allowed coterminous end dates.

A stored subscription keeps what the rendering needs and what Microsoft does not show:
`lots` (seats with their own 7-day window), `scheduled` (next-term instructions),
`nextCharge` (next-charge instructions), `promotionId`, `renewalStartedAt`,
`statusChangedAt`, `cycleIndex` and `cycleAnchor` (the billing cycle within the term) and an
`etag` counter.

Microsoft Learn pages the comments below name:
- [resources] Subscription resources: https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources
- [manage] Manage customer subscriptions: https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription
- [lifecycle] Subscription lifecycle states: https://learn.microsoft.com/partner-center/subscription-lifecycle
- [update] Update a subscription by ID: https://learn.microsoft.com/en-us/partner-center/developer/update-a-subscription-by-id
- [quantity] Change the quantity of a subscription: https://learn.microsoft.com/en-us/partner-center/developer/change-the-quantity-of-a-subscription
- [cancel] Cancel a subscription: https://learn.microsoft.com/en-us/partner-center/developer/cancel-an-azure-marketplace-subscription
- [schedule] Schedule changes: https://learn.microsoft.com/en-us/partner-center/developer/create-scheduled-changes
- [coterm] Custom term end dates: https://learn.microsoft.com/en-us/partner-center/developer/custom-term-end-dates
- [frequency] Manage term duration and billing frequency: https://learn.microsoft.com/en-us/partner-center/customers/billing-frequency-changes
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta

from sandbox.partner_center import audit, catalog, rules
from sandbox.partner_center.bodies import canon, catalog_links, link, obj, promotion, quantity
from sandbox.partner_center.context import Caller, Ctx
from sandbox.partner_center.customers import get_customer
from sandbox.partner_center.errors import (
    CANNOT_DECREASE,
    DELETED_SUBSCRIPTION,
    ETAG_STALE,
    INVALID_INPUT,
    NOT_READY,
    PENDING_OPERATION,
    QUANTITY_RANGE,
    SUBSCRIPTION_NOT_FOUND,
    SUSPENDED_QUANTITY,
    PcError,
    invalid,
    not_found,
)
from sandbox.partner_center.store import Doc

PATCHABLE_STATUSES = ("active", "suspended", "deleted")


def new_subscription(
    ctx: Ctx,
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
    status: str = "active",
) -> Doc:
    sub = subscription_document(
        customer_id,
        order_id,
        offer,
        quantity=quantity,
        term=term,
        cycle=cycle,
        start=start,
        custom_end=custom_end,
        window_until=window_until,
        friendly_name=friendly_name,
        end=end,
        status=status,
    )
    save(ctx, sub)
    return sub


def subscription_document(
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
    status: str = "active",
    subscription_id: str | None = None,
) -> Doc:
    """A new subscription as the sandbox stores it (not saved)."""
    natural_end = rules.term_end(start.date(), catalog.TERM_MONTHS[term])
    commitment_end = end or (date.fromisoformat(custom_end[:10]) if custom_end else natural_end)
    sub: Doc = {
        "id": subscription_id or str(uuid.uuid4()),
        "customerId": customer_id,
        "orderId": order_id,
        "offerId": offer.catalog_item_id,
        "friendlyName": friendly_name,
        "quantity": quantity,
        "termDuration": term,
        "billingCycle": cycle,
        "status": status,
        "autoRenewEnabled": True,
        "creationDate": rules.iso(start),
        "effectiveStartDate": rules.iso(start),
        "commitmentEndDate": commitment_end.isoformat(),
        "cancellationAllowedUntil": rules.iso(window_until),
        "lots": [{"quantity": quantity, "until": rules.iso(window_until)}],
        "scheduled": None,
        "nextCharge": None,
        "renewalStartedAt": None,
        "statusChangedAt": rules.iso(start),
        "cycleIndex": 0,
        "etag": 1,
    }
    return sub


def save(ctx: Ctx, sub: Doc) -> None:
    ctx.store.put("subscription", sub["id"], sub, parent=sub["customerId"])
    ctx.changed()


def load(ctx: Ctx, customer_id: str, subscription_id: str) -> Doc:
    """The stored subscription of this customer (404 20003 otherwise)."""
    get_customer(ctx, customer_id)
    sub = ctx.store.get("subscription", subscription_id)
    if sub is None or sub["customerId"] != customer_id:
        raise not_found("subscription", SUBSCRIPTION_NOT_FOUND)
    return sub


def get_subscription(ctx: Ctx, customer_id: str, subscription_id: str, now: datetime) -> Doc:
    return render(ctx, load(ctx, customer_id, subscription_id), now)


def list_subscriptions(
    ctx: Ctx, customer_id: str, now: datetime, order_id: str | None
) -> list[Doc]:
    get_customer(ctx, customer_id)
    subs = ctx.store.all("subscription", customer_id)
    return [render(ctx, s, now) for s in subs if order_id is None or s["orderId"] == order_id]


def etag(sub: Doc) -> str:
    return f'"{sub["id"][:8]}-{sub["etag"]}"'


def render(ctx: Ctx, sub: Doc, now: datetime) -> Doc:
    offer = catalog.BY_ID[sub["offerId"]]
    end = date.fromisoformat(sub["commitmentEndDate"])
    cycle_end = ctx.ledger.cycle_end(sub)
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
        "billingCycleEndDateTime": rules.iso(rules.day_start(cycle_end) + timedelta(seconds=86399)),
        "status": sub["status"],
        "autoRenewEnabled": sub["autoRenewEnabled"],
        "isTrial": offer.is_trial,
        "billingType": "license",
        "billingCycle": sub["billingCycle"],
        "termDuration": sub["termDuration"],
        "renewalTermDuration": (sub["scheduled"] or {}).get("product", {}).get("termDuration", ""),
        "refundOptions": [{"type": "Full", "expiresAt": sub["cancellationAllowedUntil"]}]
        if now <= window
        else [],
        "refundableQuantity": {
            "totalQuantity": sum(lot["quantity"] for lot in lots),
            "details": [
                {"quantity": lot["quantity"], "allowedUntilDateTime": lot["until"]} for lot in lots
            ],
        },
        "scheduledNextTermInstructions": sub["scheduled"],
        "nextChargeInstructions": sub.get("nextCharge"),
        "promotionId": sub.get("promotionId"),
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
            **catalog_links(offer),
            "self": link(f"/customers/{sub['customerId']}/subscriptions/{sub['id']}"),
        },
        "attributes": {"etag": etag(sub), "objectType": "Subscription"},
    }


def patch_subscription(
    ctx: Ctx,
    customer_id: str,
    subscription_id: str,
    body: Doc,
    if_match: str | None,
    now: datetime,
    caller: Caller,
) -> Doc:
    sub = load(ctx, customer_id, subscription_id)
    if if_match is not None and if_match.strip('"') != etag(sub).strip('"'):
        raise PcError(412, ETAG_STALE, "The ETag is no longer valid; GET the subscription.")
    if sub["status"] == "deleted":
        raise PcError(400, DELETED_SUBSCRIPTION, "A deleted subscription cannot be updated.")
    if sub["status"] == "pending":
        raise PcError(409, NOT_READY, "The subscription is still being provisioned; retry later.")
    term_end_at = rules.renewal_instant(date.fromisoformat(sub["commitmentEndDate"]))
    if sub["renewalStartedAt"] is not None:
        raise PcError(409, NOT_READY, "The subscription is being renewed; retry in a few minutes.")
    before = json.dumps(render(ctx, sub, now), sort_keys=True)
    status = body.get("status", sub["status"])
    if status not in PATCHABLE_STATUSES and status != sub["status"]:
        raise invalid("status", f"must be one of {', '.join(PATCHABLE_STATUSES)}")
    new_quantity = body.get("quantity", sub["quantity"])
    if not isinstance(new_quantity, int) or isinstance(new_quantity, bool):
        raise invalid("quantity", "must be an integer")
    # Omitting autoRenewEnabled or scheduledNextTermInstructions in a PATCH resets them
    # [update]: clients must send the full resource, and the sandbox punishes those who don't.
    auto_renew = body.get("autoRenewEnabled", False)
    if not isinstance(auto_renew, bool):
        raise invalid("autoRenewEnabled", "must be a boolean")
    scheduled = body.get("scheduledNextTermInstructions")
    renewal_settings_change = auto_renew != sub["autoRenewEnabled"] or canon(scheduled) != canon(
        sub["scheduled"]
    )
    if (
        renewal_settings_change
        and ctx.options.pre_renewal_lock > timedelta(0)
        and term_end_at - ctx.options.pre_renewal_lock <= now < term_end_at
    ):
        raise PcError(
            409,
            PENDING_OPERATION,
            "Renewal settings are locked in the last 24 hours before the term ends.",
        )
    changed_status = status != sub["status"]
    # Omitted, next-charge instructions are deleted too [update], like scheduled ones.
    next_charge = body.get("nextChargeInstructions")
    _check_state_allows(sub, body, status, new_quantity, auto_renew, scheduled, next_charge)
    if changed_status and status == "deleted":
        _cancel(ctx, sub, now)
    elif changed_status and status == "suspended":
        # Suspension turns auto-renew off and drops scheduled changes [manage, lifecycle];
        # billing continues (NCE).
        sub.update(status="suspended", autoRenewEnabled=False, scheduled=None)
        sub["statusChangedAt"] = rules.iso(now)
    elif changed_status and status == "active":
        if sub["status"] != "suspended":
            raise invalid("status", f"a {sub['status']} subscription cannot be reactivated")
        sub.update(status="active", autoRenewEnabled=auto_renew, scheduled=None)
        sub["statusChangedAt"] = rules.iso(now)
    elif new_quantity != sub["quantity"]:
        _change_quantity(ctx, sub, new_quantity, now)
        # A quantity change deletes scheduled changes [manage].
        sub.update(autoRenewEnabled=auto_renew, scheduled=None)
    else:
        # New instructions are checked; turning auto-renew off deletes the ones already
        # scheduled [manage] rather than refusing them.
        if scheduled is not None and canon(scheduled) != canon(sub["scheduled"]):
            _validate_schedule(ctx, sub, scheduled, auto_renew, now)
        sub.update(autoRenewEnabled=auto_renew, scheduled=scheduled if auto_renew else None)
    if canon(next_charge) != canon(sub.get("nextCharge")):
        if next_charge is not None:
            _validate_next_charge(ctx, sub, next_charge)
        sub["nextCharge"] = next_charge
    if "friendlyName" in body and isinstance(body["friendlyName"], str):
        sub["friendlyName"] = body["friendlyName"]
    after = render(ctx, sub, now)
    if json.dumps(after, sort_keys=True) != before:
        sub["etag"] += 1
        save(ctx, sub)
        audit_id = audit.record(
            ctx, now, caller, "update_subscription", "Subscription", customer_id, after
        )
        ctx.notifier.subscription_updated(sub, now, audit_id)
    return render(ctx, sub, now)


def _check_state_allows(
    sub: Doc,
    body: Doc,
    status: str,
    new_quantity: int,
    auto_renew: bool,
    scheduled: object,
    next_charge: object,
) -> None:
    """What each lifecycle state lets a partner change
    (https://learn.microsoft.com/partner-center/subscription-lifecycle): an expired or
    disabled subscription can't be reactivated or changed at all; a suspended one can be
    reactivated, or cancelled inside its window, and nothing else (its quantity: 2001; its
    auto-renew stays off until it is reactivated). A PATCH that changes nothing is answered
    with the subscription as it is."""
    current = sub["status"]
    changes = [
        name
        for name, changed in (
            ("status", status != current),
            ("quantity", new_quantity != sub["quantity"]),
            ("autoRenewEnabled", auto_renew != sub["autoRenewEnabled"]),
            ("scheduledNextTermInstructions", canon(scheduled) != canon(sub["scheduled"])),
            ("nextChargeInstructions", canon(next_charge) != canon(sub.get("nextCharge"))),
            (
                "friendlyName",
                isinstance(body.get("friendlyName"), str)
                and body["friendlyName"] != sub["friendlyName"],
            ),
        )
        if changed
    ]
    if current in ("expired", "disabled") and changes:
        raise PcError(
            400,
            INVALID_INPUT,
            f"A subscription in the {current} state can't be changed or reactivated"
            f" ({', '.join(changes)}).",
        )
    if (
        current == "suspended"
        and status == current
        and auto_renew
        and "autoRenewEnabled" in changes
    ):
        raise PcError(
            400,
            INVALID_INPUT,
            "autoRenewEnabled: a suspended subscription renews only once reactivated;"
            " reactivate it with status active and autoRenewEnabled true.",
        )


def _change_quantity(ctx: Ctx, sub: Doc, new_quantity: int, now: datetime) -> None:
    if sub["status"] == "suspended":
        raise PcError(
            400, SUSPENDED_QUANTITY, "The quantity of a suspended subscription cannot change."
        )
    offer = catalog.BY_ID[sub["offerId"]]
    if not offer.min_quantity <= new_quantity <= offer.max_quantity:
        raise PcError(
            400,
            QUANTITY_RANGE,
            f"quantity must be between {offer.min_quantity} and {offer.max_quantity}",
        )
    customer = get_customer(ctx, sub["customerId"])
    delta = new_quantity - sub["quantity"]
    if delta > 0:
        sub["lots"].append({"quantity": delta, "until": rules.iso(now + rules.CANCELLATION_WINDOW)})
        ctx.ledger.charge(sub, customer, "addQuantity", delta, now, now.date())
    else:
        # Seats come off only while the seats being removed are inside their own 7-day
        # window ([manage], refundableQuantity [quantity]); the newest seats go first.
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
        ctx.ledger.charge(sub, customer, "removeQuantity", -delta, now, now.date())
    sub["quantity"] = new_quantity


def _cancel(ctx: Ctx, sub: Doc, now: datetime) -> None:
    if now > rules.parse_iso(sub["cancellationAllowedUntil"]):
        # Microsoft says only that "the API will throw an error" [cancel]; the sandbox
        # answers with the code it documents for the same window on seat reductions.
        raise PcError(
            400,
            CANNOT_DECREASE,
            "The subscription can no longer be cancelled: the cancellation window has passed.",
        )
    customer = get_customer(ctx, sub["customerId"])
    ctx.ledger.charge(sub, customer, "cancelImmediate", sub["quantity"], now, now.date())
    sub.update(status="deleted", autoRenewEnabled=False, scheduled=None, nextCharge=None, lots=[])
    sub["statusChangedAt"] = rules.iso(now)


def _validate_next_charge(ctx: Ctx, sub: Doc, next_charge: object) -> None:
    """Next-charge instructions change the billing frequency alone, from the next billing
    cycle (https://learn.microsoft.com/en-us/partner-center/customers/billing-frequency-changes):
    the same product, term and quantity, another billing cycle of the term, on an active
    subscription with a next billing cycle left in its term. Midterm billing frequency changes
    of triennial terms are blocked since 2025-04-01 (the same page); a term, product or
    quantity change is for scheduledNextTermInstructions or a transition."""
    name = "nextChargeInstructions"
    if not isinstance(next_charge, dict):
        raise invalid(name, "must be an object")
    if sub["status"] != "active":
        raise invalid(name, "requires an active subscription")
    product = obj(next_charge, "product", f"{name}.product")
    target = ":".join(str(product.get(k)) for k in ("productId", "skuId", "availabilityId"))
    if target != sub["offerId"]:
        raise invalid(f"{name}.product", "must be the subscription's own product")
    if product.get("termDuration") != sub["termDuration"]:
        raise invalid(f"{name}.product.termDuration", "must be the current term")
    if next_charge.get("quantity") != sub["quantity"]:
        raise invalid(f"{name}.quantity", "must be the current quantity")
    cycle = str(product.get("billingCycle", "")).lower()
    if cycle == sub["billingCycle"] or cycle not in catalog.BILLING_CYCLES[sub["termDuration"]]:
        raise invalid(f"{name}.product.billingCycle", "must be another billing cycle of the term")
    if sub["termDuration"] == "P3Y":
        raise invalid(f"{name}", "midterm billing frequency changes of triennial terms are blocked")
    if ctx.ledger.cycle_end(sub) >= date.fromisoformat(sub["commitmentEndDate"]):
        raise invalid(f"{name}", "no billing cycle is left in this term; schedule it for renewal")


def _validate_schedule(
    ctx: Ctx, sub: Doc, scheduled: object, auto_renew: bool, now: datetime
) -> None:
    # [schedule]: requires autoRenewEnabled true and an active subscription.
    if not isinstance(scheduled, dict):
        raise invalid("scheduledNextTermInstructions", "must be an object")
    if not auto_renew:
        raise invalid("scheduledNextTermInstructions", "requires autoRenewEnabled true")
    if sub["status"] != "active":
        raise invalid("scheduledNextTermInstructions", "requires an active subscription")
    product = obj(scheduled, "product", "scheduledNextTermInstructions.product")
    target = ":".join(str(product.get(k)) for k in ("productId", "skuId", "availabilityId"))
    # A trial renews only into its paid offer; a paid subscription into itself or upward.
    own = set() if catalog.BY_ID[sub["offerId"]].is_trial else {sub["offerId"]}
    allowed = own | {o.catalog_item_id for o in catalog.upgrade_targets(sub["offerId"])}
    if target not in allowed:
        raise invalid(
            "scheduledNextTermInstructions.product", f"{target} is not an eligible next term"
        )
    offer = catalog.BY_ID[target]
    quantity(scheduled, "scheduledNextTermInstructions.quantity", offer)
    term = product.get("termDuration")
    if term not in catalog.TERMS:
        raise invalid("scheduledNextTermInstructions.product.termDuration", "is not a term")
    cycle = str(product.get("billingCycle", "")).lower()
    if cycle not in catalog.BILLING_CYCLES[term]:
        raise invalid(
            "scheduledNextTermInstructions.product.billingCycle", f"is not offered for {term}"
        )
    start = rules.renewal_instant(date.fromisoformat(sub["commitmentEndDate"]))
    # A promotion for the next term (Learn, create scheduled changes: product.promotionId)
    # must run when that term starts.
    promotion(
        product, "scheduledNextTermInstructions.product.promotionId", offer, term, cycle, start
    )
    custom_end = scheduled.get("customTermEndDate")
    if custom_end:
        allowed_ends = {
            d["allowedCustomTermEndDate"][:10]
            for d in coterm_dates(ctx, sub["customerId"], term, start)
        }
        if str(custom_end)[:10] not in allowed_ends:
            raise invalid(
                "scheduledNextTermInstructions.customTermEndDate", "is not an allowed end date"
            )


def coterm_dates(
    ctx: Ctx, customer_id: str, term: str, start: datetime, target: str | None = None
) -> list[Doc]:
    """Allowed custom term end dates [coterm]: a calendar-month-aligned date and
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
    for sub in ctx.store.all("subscription", customer_id):
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
