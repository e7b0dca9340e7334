"""What time alone triggers: order provisioning, billing cycles, renewals at term end,
expiry and deletion, and the monthly invoice.

`advance(ctx, now)` is safe to call often and from anywhere (the background loop, every
request): it does everything `now` makes due, and remembers when the next thing falls due
so that calls before then cost nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sandbox.partner_center import catalog, orders, rules
from sandbox.partner_center.context import Ctx
from sandbox.partner_center.customers import get_customer
from sandbox.partner_center.store import Doc
from sandbox.partner_center.subscriptions import save

# Expired for 30 days, disabled for 90, then deleted
# (https://learn.microsoft.com/partner-center/subscription-lifecycle).
EXPIRED_DAYS, DISABLED_DAYS = 30, 90


def advance(ctx: Ctx, now: datetime) -> None:
    """Do everything that `now` makes due. Safe to call often and from any request."""
    if ctx.due_at is not None and now < ctx.due_at:
        return
    with ctx.store.transaction():
        due: list[datetime] = [ctx.ledger.next_invoice_at(now)]
        for order in ctx.store.all("order"):
            if order["status"] == "pending":
                ready = rules.parse_iso(order["provisionedAt"])
                if ready <= now:
                    orders.provision(ctx, order, ready)
                else:
                    due.append(ready)
        for sub in ctx.store.all("subscription"):
            if sub["status"] != "deleted":
                _advance_subscription(ctx, sub, now)
                due.extend(t for t in _next_times(ctx, sub) if t > now)
        ctx.ledger.close_months(now, ctx.notifier)
        due.append(ctx.ledger.next_invoice_at(now))
    ctx.due_at = min(due)


def _next_times(ctx: Ctx, sub: Doc) -> list[datetime]:
    """The instants at which `_advance_subscription` will next have work."""
    term_over = rules.renewal_instant(date.fromisoformat(sub["commitmentEndDate"]))
    changed_at = rules.parse_iso(sub["statusChangedAt"])
    times = [
        term_over,
        rules.day_start(ctx.ledger.cycle_end(sub) + timedelta(days=1)),
        changed_at + timedelta(days=EXPIRED_DAYS),
        changed_at + timedelta(days=DISABLED_DAYS),
    ]
    if sub["renewalStartedAt"] is not None:
        times.append(rules.parse_iso(sub["renewalStartedAt"]) + ctx.options.renewal_processing)
    return times


def _advance_subscription(ctx: Ctx, sub: Doc, now: datetime) -> None:
    changed = False
    while True:
        end = date.fromisoformat(sub["commitmentEndDate"])
        term_over = rules.renewal_instant(end)
        cycle_next = rules.day_start(ctx.ledger.cycle_end(sub) + timedelta(days=1))
        if (
            sub["status"] in ("active", "suspended")
            and cycle_next < term_over
            and cycle_next <= now
        ):
            # A new billing cycle inside the term; NCE bills suspended seats too.
            charge_type = "cycleCharge"
            next_charge = sub.get("nextCharge")
            if next_charge:
                # Next-charge instructions change the billing plan from this cycle on.
                sub["billingCycle"] = str(next_charge["product"]["billingCycle"]).lower()
                sub.update(cycleAnchor=cycle_next.date().isoformat(), cycleIndex=0)
                sub["nextCharge"] = None
                charge_type = "changeBillingPlan"
            else:
                sub["cycleIndex"] += 1
            ctx.ledger.charge(
                sub,
                get_customer(ctx, sub["customerId"]),
                charge_type,
                sub["quantity"],
                cycle_next,
                cycle_next.date(),
            )
            changed = True
            continue
        if now < term_over:
            break
        status = sub["status"]
        is_trial = catalog.BY_ID[sub["offerId"]].is_trial
        # A trial renews only by converting, which its scheduled instructions describe.
        if status == "active" and sub["autoRenewEnabled"] and (sub["scheduled"] or not is_trial):
            if sub["renewalStartedAt"] is None:
                sub["renewalStartedAt"] = rules.iso(term_over)
                changed = True
            done_at = term_over + ctx.options.renewal_processing
            if now < done_at:
                break
            _renew(ctx, sub, term_over, done_at)
            changed = True
            continue
        changed_at = rules.parse_iso(sub["statusChangedAt"])
        if status in ("active", "suspended"):
            # Auto-renew off, or still suspended by the term's end: expired for 30 days, then
            # disabled for 90, then deleted
            # (https://learn.microsoft.com/partner-center/subscription-lifecycle).
            _set_status(ctx, sub, "expired", term_over)
        elif status == "expired" and now >= changed_at + timedelta(days=EXPIRED_DAYS):
            _set_status(ctx, sub, "disabled", changed_at + timedelta(days=EXPIRED_DAYS))
        elif status == "disabled" and now >= changed_at + timedelta(days=DISABLED_DAYS):
            _set_status(ctx, sub, "deleted", changed_at + timedelta(days=DISABLED_DAYS))
        else:
            break
        changed = True
    if changed:
        sub["etag"] += 1
        save(ctx, sub)


def _set_status(ctx: Ctx, sub: Doc, status: str, when: datetime) -> None:
    sub["status"] = status
    sub["statusChangedAt"] = rules.iso(when)
    sub["autoRenewEnabled"] = False
    ctx.notifier.subscription_updated(sub, when)


def _renew(ctx: Ctx, sub: Doc, start: datetime, done_at: datetime) -> None:
    """A new term starts the day after the old one ended, with the scheduled next-term
    instructions applied; the new 7-day window runs from when renewal completed."""
    scheduled = sub["scheduled"]
    was_trial = catalog.BY_ID[sub["offerId"]].is_trial
    if scheduled:
        product = scheduled["product"]
        sub["offerId"] = f"{product['productId']}:{product['skuId']}:{product['availabilityId']}"
        sub["termDuration"] = product["termDuration"]
        sub["billingCycle"] = str(product["billingCycle"]).lower()
        sub["quantity"] = scheduled["quantity"]
        sub["friendlyName"] = catalog.BY_ID[sub["offerId"]].title
    # A promotion holds for one term; the next one has the scheduled promotion, if any.
    sub["promotionId"] = ((scheduled or {}).get("product") or {}).get("promotionId")
    natural = rules.term_end(start.date(), catalog.TERM_MONTHS[sub["termDuration"]])
    custom = (scheduled or {}).get("customTermEndDate")
    sub["commitmentEndDate"] = custom[:10] if custom else natural.isoformat()
    sub["effectiveStartDate"] = rules.iso(start)
    sub.update(cycleIndex=0, cycleAnchor=None, nextCharge=None)
    window = done_at + rules.CANCELLATION_WINDOW
    sub["cancellationAllowedUntil"] = rules.iso(window)
    sub["lots"] = [{"quantity": sub["quantity"], "until": rules.iso(window)}]
    sub["scheduled"] = None
    sub["renewalStartedAt"] = None
    # A trial converting to its paid offer at term end is billed as a conversion.
    ctx.ledger.charge(
        sub,
        get_customer(ctx, sub["customerId"]),
        "convert" if was_trial else "renew",
        sub["quantity"],
        start,
        start.date(),
    )
    ctx.notifier.subscription_updated(sub, done_at)
