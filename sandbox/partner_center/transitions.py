"""NCE upgrades and trial conversions (transitions): eligibilities, the transition itself,
and its record.

Microsoft Learn pages the comments below name:
- [transition] Transition a new commerce subscription:
  https://learn.microsoft.com/en-us/partner-center/developer/transition-a-new-commerce-subscription
- [manage] Manage customer subscriptions: https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription
- [cancellation] New commerce cancellation policy:
  https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy
- [charges] Recon file charge types: https://learn.microsoft.com/en-us/partner-center/billing/recon-file-charge-types
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sandbox.partner_center import audit, bodies, catalog, rules
from sandbox.partner_center.bodies import text
from sandbox.partner_center.context import Caller, Ctx
from sandbox.partner_center.customers import get_customer
from sandbox.partner_center.errors import NOT_READY, PcError, invalid
from sandbox.partner_center.store import Doc
from sandbox.partner_center.subscriptions import load, new_subscription, save


def eligibilities(
    ctx: Ctx, customer_id: str, subscription_id: str, kind: str, now: datetime
) -> list[Doc]:
    if kind not in ("immediate", "scheduled"):
        raise invalid("eligibilityType", "must be immediate or scheduled")
    sub = load(ctx, customer_id, subscription_id)
    items = []
    for offer in catalog.upgrade_targets(sub["offerId"]):
        errors = (
            []
            if sub["status"] == "active"
            else [{"code": 1, "description": "SubscriptionNotActive"}]
        )
        destinations = []
        # A trial converts in place (the sandbox offers no existing destination for it).
        if kind == "immediate" and not catalog.BY_ID[sub["offerId"]].is_trial:
            destinations = [
                _destination_eligibility(sub, other, now)
                for other in ctx.store.all("subscription", customer_id)
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


def _destination_eligibility(source: Doc, dest: Doc, now: datetime) -> Doc:
    # [transition] destination rules: active, out of its cancellation window, a term at
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


def create_transition(
    ctx: Ctx, customer_id: str, subscription_id: str, body: Doc, now: datetime, caller: Caller
) -> Doc:
    source = load(ctx, customer_id, subscription_id)
    if source["renewalStartedAt"] is not None:
        raise PcError(409, NOT_READY, "The subscription is being renewed; retry later.")
    to_id = text(body, "toCatalogItemId", "toCatalogItemId")
    transition_type = text(body, "transitionType", "transitionType")
    if transition_type not in ("transition_only", "transition_with_license_transfer"):
        raise invalid(
            "transitionType", "must be transition_only or transition_with_license_transfer"
        )
    eligible = {
        item["catalogItemId"]: item
        for item in eligibilities(ctx, customer_id, subscription_id, "immediate", now)
    }
    item = eligible.get(to_id)
    if item is None:
        raise invalid("toCatalogItemId", f"{to_id} is not an eligible upgrade (no downgrades)")
    if not item["eligibilities"][0]["isEligible"]:
        raise invalid("fromSubscriptionId", "upgrades start only from active subscriptions")
    target = catalog.BY_ID[to_id]
    if catalog.BY_ID[source["offerId"]].is_trial:
        return _convert_trial(ctx, source, target, body, transition_type, now, caller)
    quantity = body.get("quantity")
    if not isinstance(quantity, int) or not 1 <= quantity <= source["quantity"]:
        raise invalid("quantity", f"must be 1..{source['quantity']}")
    from_offer = source["offerId"]
    customer = get_customer(ctx, customer_id)
    to_sub_id = body.get("toSubscriptionId")
    if to_sub_id:
        dest_item = next(
            (d for d in item["subscriptionEligibilities"] if d["subscriptionId"] == to_sub_id),
            None,
        )
        if dest_item is None or not dest_item["isEligible"]:
            raise invalid("toSubscriptionId", "is not an eligible destination")
        dest = load(ctx, customer_id, to_sub_id)
        # Seats moved into an existing subscription are billed as moveQuantity [charges]:
        # a credit on the source and a charge on the destination, each for the rest of its
        # own billing cycle.
        ctx.ledger.charge(source, customer, "moveQuantity", quantity, now, now.date(), credit=True)
        dest["quantity"] += quantity
        ctx.ledger.charge(dest, customer, "moveQuantity", quantity, now, now.date())
        dest["etag"] += 1
        save(ctx, dest)
        source["quantity"] -= quantity
        if source["quantity"] == 0:
            # A full transition into an existing subscription leaves nothing behind
            # (sandbox reading; Microsoft does not document the source's final state).
            source.update(status="deleted", autoRenewEnabled=False, lots=[])
    elif quantity == source["quantity"]:
        # Full upgrade: in place, same subscription id [manage].
        ctx.ledger.charge(source, customer, "removeQuantity", quantity, now, now.date())
        source["offerId"] = to_id
        source["friendlyName"] = target.title
        source["promotionId"] = None  # it was for the old product
        ctx.ledger.charge(source, customer, "convert", quantity, now, now.date())
        to_sub_id = source["id"]
    else:
        # Partial upgrade: a new coterminous subscription that inherits the parent's
        # cancellation window [manage, cancellation].
        ctx.ledger.charge(source, customer, "removeQuantity", quantity, now, now.date())
        source["quantity"] -= quantity
        new = new_subscription(
            ctx,
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
        save(ctx, new)
        ctx.ledger.charge(new, customer, "convert", quantity, now, now.date())
        to_sub_id = new["id"]
    # A midterm upgrade removes scheduled changes [manage]; no window reopens.
    source["scheduled"] = None
    if source["offerId"] != from_offer:  # instructions and promotion named the old product
        source.update(nextCharge=None, promotionId=None)
    source["lots"] = [lot for lot in source["lots"] if lot["quantity"] <= source["quantity"]]
    source["etag"] += 1
    save(ctx, source)
    return _record(
        ctx, source, from_offer, to_id, to_sub_id, quantity, transition_type, now, caller
    )


def _convert_trial(
    ctx: Ctx,
    trial: Doc,
    paid: catalog.Offer,
    body: Doc,
    transition_type: str,
    now: datetime,
    caller: Caller,
) -> Doc:
    """Convert a trial to its paid offer now: the transition API "convert[s] an NCE trial to
    a paid subscription"
    (https://learn.microsoft.com/en-us/partner-center/developer/transition-a-new-commerce-subscription).
    The subscription keeps its id and starts a paid term today on the body's termDuration and
    billingCycle, with the quantity asked for (more seats than the trial's are fine), a new
    7-day window and auto-renew on; scheduled changes are deleted (a trial conversion
    deletes them [manage]). Billed as convert."""
    seats = bodies.quantity(body, "quantity", paid)
    term = body.get("termDuration")
    if term not in paid.terms:
        raise invalid("termDuration", f"must be one of {', '.join(paid.terms)}")
    cycle = str(body.get("billingCycle", "")).lower()
    if cycle not in paid.billing_cycles(term):
        raise invalid("billingCycle", f"{cycle or 'none'} is not offered for {term}")
    from_offer = trial["offerId"]
    window = now + rules.CANCELLATION_WINDOW
    trial.update(
        offerId=paid.catalog_item_id,
        friendlyName=paid.title,
        quantity=seats,
        termDuration=term,
        billingCycle=cycle,
        effectiveStartDate=rules.iso(now),
        commitmentEndDate=rules.term_end(now.date(), catalog.TERM_MONTHS[term]).isoformat(),
        cancellationAllowedUntil=rules.iso(window),
        lots=[{"quantity": seats, "until": rules.iso(window)}],
        autoRenewEnabled=True,
        scheduled=None,
        nextCharge=None,
        cycleIndex=0,
        cycleAnchor=None,
    )
    trial["etag"] += 1
    ctx.ledger.charge(
        trial, get_customer(ctx, trial["customerId"]), "convert", seats, now, now.date()
    )
    save(ctx, trial)
    return _record(
        ctx,
        trial,
        from_offer,
        paid.catalog_item_id,
        trial["id"],
        seats,
        transition_type,
        now,
        caller,
    )


def _record(
    ctx: Ctx,
    source: Doc,
    from_offer: str,
    to_id: str,
    to_sub_id: object,
    quantity: int,
    transition_type: str,
    now: datetime,
    caller: Caller,
) -> Doc:
    """Keep the transition's record, audit it and announce the subscriptions it changed."""
    customer_id = source["customerId"]
    subscription_id = source["id"]
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
    ctx.store.put("transition", operation_id, record, parent=subscription_id)
    audit_id = audit.record(
        ctx, now, caller, "upgrade_subscription", "Subscription", customer_id, record
    )
    ctx.notifier.subscription_updated(source, now, audit_id)
    if to_sub_id != source["id"]:
        ctx.notifier.subscription_updated(load(ctx, customer_id, str(to_sub_id)), now, audit_id)
    return {**record, "status": "Started", "events": record["events"][:1]}


def list_transitions(
    ctx: Ctx, customer_id: str, subscription_id: str, operation_id: str | None
) -> list[Doc]:
    load(ctx, customer_id, subscription_id)
    return [
        t
        for t in ctx.store.all("transition", subscription_id)
        if operation_id is None or t["operationId"] == operation_id
    ]
