"""Carts, checkout and orders: the NCE purchase path (cart -> checkout -> order ->
subscriptions)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sandbox.partner_center import audit, catalog, rules
from sandbox.partner_center.bodies import catalog_links, link, promotion, quantity
from sandbox.partner_center.context import Caller, Ctx
from sandbox.partner_center.customers import get_customer
from sandbox.partner_center.errors import (
    AVAILABILITY_NOT_FOUND,
    MCA_MISSING,
    PcError,
    invalid,
    not_found,
)
from sandbox.partner_center.store import Doc
from sandbox.partner_center.subscriptions import coterm_dates, new_subscription, save


def create_cart(ctx: Ctx, customer_id: str, body: Doc, now: datetime, caller: Caller) -> Doc:
    get_customer(ctx, customer_id)
    raw_lines = body.get("lineItems", body.get("LineItems"))
    if not isinstance(raw_lines, list) or not raw_lines:
        raise invalid("lineItems", "at least one line item is required")
    lines = [_cart_line(ctx, customer_id, i, line, now) for i, line in enumerate(raw_lines)]
    # An order has one billing cycle, so the server puts the lines of each billing cycle in
    # their own order group; checkout makes one order per group
    # (https://learn.microsoft.com/en-us/partner-center/developer/cart-resources, orderGroup).
    groups: dict[str, str] = {}
    for line in lines:
        line["orderGroup"] = groups.setdefault(line["billingCycle"], str(len(groups)))
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
    ctx.store.put("cart", cart["id"], cart, parent=customer_id)
    return cart


def _cart_line(ctx: Ctx, customer_id: str, index: int, line: object, now: datetime) -> Doc:
    where = f"lineItems[{index}]"
    if not isinstance(line, dict):
        raise invalid(where, "must be an object")
    offer = catalog.BY_ID.get(str(line.get("catalogItemId")))
    if offer is None:
        raise PcError(400, AVAILABILITY_NOT_FOUND, f"{where}.catalogItemId: availability not found")
    seats = quantity(line, f"{where}.quantity", offer)
    term = line.get("termDuration")
    if term not in offer.terms:
        raise invalid(f"{where}.termDuration", f"must be one of {', '.join(offer.terms)}")
    cycle = str(line.get("billingCycle", "")).lower()
    if cycle not in offer.billing_cycles(term):
        raise invalid(f"{where}.billingCycle", f"{cycle or 'none'} is not offered for {term}")
    custom_end = line.get("customTermEndDate")
    renews_to = _renews_to(line, where, offer)
    if custom_end is not None and offer.is_trial:
        # Coterminosity isn't available for trials
        # (https://learn.microsoft.com/en-us/partner-center/customers/align-subscription-end-dates).
        raise invalid(f"{where}.customTermEndDate", "is not available for trials")
    if custom_end is not None:
        allowed = {
            d["allowedCustomTermEndDate"][:10] for d in coterm_dates(ctx, customer_id, term, now)
        }
        if str(custom_end)[:10] not in allowed:
            raise invalid(f"{where}.customTermEndDate", "is not an allowed end date")
    promotion_id = promotion(line, f"{where}.promotionId", offer, term, cycle, now)
    list_price = catalog.price_per_cycle(offer, term, cycle)
    price = catalog.promoted(list_price, promotion_id)
    return {
        "id": index,
        "catalogItemId": offer.catalog_item_id,
        "friendlyName": line.get("friendlyName") or offer.title,
        "quantity": seats,
        "currencyCode": "USD",
        "billingCycle": cycle,
        "termDuration": term,
        "customTermEndDate": custom_end,
        **({"renewsTo": renews_to} if renews_to else {}),
        **({"promotionId": promotion_id} if promotion_id else {}),
        "provisioningContext": {},
        "pricing": {
            "listPrice": float(list_price),
            "discountedPrice": float(price),
            "proratedPrice": float(price),
            "price": float(price),
            "extendedPrice": float(price * seats),
        },
    }


def _renews_to(line: Doc, where: str, offer: catalog.Offer) -> Doc | None:
    """A trial line's renewsTo: the term of the paid subscription the trial becomes
    (https://learn.microsoft.com/en-us/partner-center/developer/cart-resources, P1M or P1Y;
    P1M when omitted, the sandbox's choice)."""
    raw = line.get("renewsTo")
    if not offer.is_trial:
        if raw is not None:
            raise invalid(f"{where}.renewsTo", "applies to trials only")
        return None
    if raw is None:
        return {"termDuration": "P1M"}
    term = raw.get("termDuration") if isinstance(raw, dict) else None
    if term not in ("P1M", "P1Y"):
        raise invalid(f"{where}.renewsTo.termDuration", "must be P1M or P1Y")
    return {"termDuration": term}


def trial_instructions(offer: catalog.Offer, seats: int, renews_to: Doc) -> Doc:
    """What a trial becomes at its term's end: its paid offer, monthly billing, on the
    renewsTo term. Every trial subscription carries such instructions
    (https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources)."""
    paid = catalog.BY_ID[str(offer.trial_of)]
    return {
        "product": {
            "productId": paid.product_id,
            "skuId": paid.sku_id,
            "availabilityId": paid.availability_id,
            "billingCycle": "monthly",
            "termDuration": renews_to["termDuration"],
        },
        "quantity": seats,
    }


def get_cart(ctx: Ctx, customer_id: str, cart_id: str) -> Doc:
    found = ctx.store.get("cart", cart_id)
    if found is None or not found["links"]["self"]["uri"].startswith(f"/customers/{customer_id}/"):
        raise not_found("cart")
    return found


def checkout(ctx: Ctx, customer_id: str, cart_id: str, now: datetime, caller: Caller) -> Doc:
    cart = get_cart(ctx, customer_id, cart_id)
    first = ctx.store.get("checkout", cart_id)
    if first is not None:
        # The API is idempotent per cart: a later checkout of a cart already checked out,
        # whatever its MS-RequestId, answers what the first checkout returned
        # (https://learn.microsoft.com/en-us/partner-center/developer/checkout-a-cart).
        return first
    if cart["status"] != "Active":
        raise invalid("cart", f"cart {cart_id} is {cart['status']}, not Active")
    if rules.parse_iso(cart["expirationTimestamp"]) <= now:
        raise invalid("cart", f"cart {cart_id} has expired")
    if not ctx.store.all("agreement", customer_id):
        raise PcError(
            403, MCA_MISSING, "The customer has not accepted the Microsoft Customer Agreement."
        )
    customer = get_customer(ctx, customer_id)
    groups: dict[str, list[Doc]] = {}
    for line in cart["lineItems"]:
        # Carts saved before order groups existed group by billing cycle, as the server does.
        groups.setdefault(line.get("orderGroup") or line["billingCycle"], []).append(line)
    orders = [_order(ctx, customer, lines, now, caller) for lines in groups.values()]
    ctx.changed()
    cart["status"] = "Ordered"
    cart["lastModifiedTimestamp"] = rules.iso(now)
    ctx.store.put("cart", cart_id, cart, parent=customer_id)
    result: Doc = {"orders": [_public(o) for o in orders], "orderErrors": []}
    ctx.store.put("checkout", cart_id, result, parent=customer_id)
    return result


def _order(ctx: Ctx, customer: Doc, lines: list[Doc], now: datetime, caller: Caller) -> Doc:
    """One order: the cart lines of one order group, which share a billing cycle."""
    customer_id = customer["id"]
    order_id = uuid.uuid4().hex[:12]
    provisioned = ctx.options.provisioning_delay <= timedelta(0)
    order_lines = []
    total = Decimal(0)
    for number, line in enumerate(lines):
        offer = catalog.BY_ID[line["catalogItemId"]]
        sub = new_subscription(
            ctx,
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
            status="active" if provisioned else "pending",
        )
        if offer.is_trial:
            sub["scheduled"] = trial_instructions(offer, line["quantity"], line["renewsTo"])
        sub["promotionId"] = line.get("promotionId")
        save(ctx, sub)
        if provisioned:
            ctx.ledger.charge(sub, customer, "new", line["quantity"], now, now.date())
        total += Decimal(str(line["pricing"]["extendedPrice"]))
        order_lines.append(
            {
                "lineItemNumber": number,
                "offerId": offer.catalog_item_id,
                "subscriptionId": sub["id"],
                "termDuration": line["termDuration"],
                "transactionType": "New",
                "friendlyName": line["friendlyName"],
                "quantity": line["quantity"],
                "pricing": line["pricing"],
                "links": catalog_links(offer),
            }
        )
    order: Doc = {
        "id": order_id,
        "alternateId": order_id,
        "referenceCustomerId": customer_id,
        "billingCycle": lines[0]["billingCycle"],
        "currencyCode": "USD",
        "currencySymbol": "$",
        "lineItems": order_lines,
        "creationDate": rules.iso(now),
        "status": "completed" if provisioned else "pending",
        "transactionType": "UserPurchase",
        "provisionedAt": rules.iso(now + ctx.options.provisioning_delay),
        "totalPrice": float(total),
        "links": {
            "self": link(f"/customers/{customer_id}/orders/{order_id}"),
            "provisioningStatus": link(
                f"/customers/{customer_id}/orders/{order_id}/provisioningstatus"
            ),
        },
        "attributes": {"objectType": "Order"},
    }
    ctx.store.put("order", order_id, order, parent=customer_id)
    audit.record(ctx, now, caller, "create_order", "Order", customer_id, order)
    return order


def _public(order: Doc) -> Doc:
    """The order as the API shows it. While it is pending its lines carry no subscriptionId:
    checkout returns one only for a subscription already provisioned; the others are read
    later from the order
    (https://learn.microsoft.com/en-us/partner-center/developer/checkout-a-cart)."""
    shown = {k: v for k, v in order.items() if k != "provisionedAt"}
    if order["status"] == "pending":
        shown["lineItems"] = [
            {k: v for k, v in line.items() if k != "subscriptionId"} for line in order["lineItems"]
        ]
    return shown


def provision(ctx: Ctx, order: Doc, when: datetime) -> None:
    """The order's provisioning completed at `when`: its pending subscriptions become active
    and are charged from then on."""
    order["status"] = "completed"
    ctx.store.put("order", order["id"], order, parent=order["referenceCustomerId"])
    customer = get_customer(ctx, order["referenceCustomerId"])
    for line in order["lineItems"]:
        sub = ctx.store.get("subscription", line["subscriptionId"])
        if sub is None or sub["status"] != "pending":
            continue
        sub.update(status="active", statusChangedAt=rules.iso(when))
        sub["etag"] += 1
        ctx.ledger.charge(sub, customer, "new", sub["quantity"], when, when.date())
        save(ctx, sub)
        ctx.notifier.subscription_updated(sub, when)


def list_orders(ctx: Ctx, customer_id: str) -> list[Doc]:
    get_customer(ctx, customer_id)
    return [_public(o) for o in ctx.store.all("order", customer_id)]


def get_order(ctx: Ctx, customer_id: str, order_id: str) -> Doc:
    found = ctx.store.get("order", order_id)
    if found is None or found["referenceCustomerId"] != customer_id:
        raise not_found("order")
    return _public(found)


def provisioning_status(ctx: Ctx, customer_id: str, order_id: str) -> list[Doc]:
    order = get_order(ctx, customer_id, order_id)
    fulfilled = order["status"] == "completed"
    return [
        {
            "lineItemNumber": line["lineItemNumber"],
            "status": "fulfilled" if fulfilled else "pending",
            "quantityProvisioningInformation": [],
            "subscriptionId": line.get("subscriptionId"),
        }
        for line in order["lineItems"]
    ]
