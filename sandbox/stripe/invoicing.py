"""Invoice items, invoices (draft -> open -> paid / uncollectible / void), invoice payments,
and the customer balance each invoice takes at finalization. Credit notes are in
credit_notes.py.

Collection: `/pay` charges at once (a manual attempt). With `auto_advance=true` Stripe
collects by itself: automation.py runs those attempts on the sandbox clock, schedule.py says
when; both kinds go through `collect`, which keeps `attempt_count` and `next_payment_attempt`
as Stripe's retry schedule does. `invoice.updated` carries `previous_attributes` whenever an
invoice's fields change outside an event of their own.
"""

from __future__ import annotations

import copy
from typing import Any

from . import forms, resources, tax_rates
from .context import CardDeclined, Ctx
from .customers import adjust_balance, payment_method_for
from .errors import invalid, required
from .listing import LIST_PARAMS, load, paginate
from .payments import attempt, currency_param
from .schedule import NON_RETRYABLE

JSON = dict[str, Any]
P = forms.Params


def recompute(inv: JSON) -> None:
    """Totals from the lines; `amount_due` also takes the customer balance applied at
    finalization (starting_balance - ending_balance: negative for a credit) and the
    pre-payment credit notes."""
    subtotal = sum(int(line["amount"]) for line in inv["lines"]["data"])
    taxes, added = tax_rates.total_taxes(inv["lines"]["data"])
    included = sum(t["amount"] for t in taxes if t["tax_behavior"] == "inclusive")
    inv["total_taxes"] = taxes
    inv["subtotal"] = subtotal
    inv["subtotal_excluding_tax"] = inv["total_excluding_tax"] = subtotal - included
    inv["total"] = subtotal + added
    applied = (
        0 if inv["ending_balance"] is None else inv["starting_balance"] - inv["ending_balance"]
    )
    inv["amount_due"] = max(inv["total"] + applied - inv["pre_payment_credit_notes_amount"], 0)
    inv["amount_remaining"] = max(inv["amount_due"] - inv["amount_paid"], 0)


def _balance_for(cus: JSON, currency: str) -> int:
    """The customer's balance as it applies to an invoice in `currency` (it is kept in the
    customer's currency and applies to invoices in that currency only)."""
    return int(cus["balance"]) if cus["currency"] in (None, currency) else 0


def _apply_balance(ctx: Ctx, inv: JSON, cus: JSON) -> None:
    """At finalization Stripe applies the customer's balance: a credit (negative) lowers the
    amount due down to zero and what is left of it stays on the customer, a debit (positive)
    is added to it; `starting_balance` and `ending_balance` record the balance before and
    after (https://docs.stripe.com/billing/customer/balance,
    https://docs.stripe.com/api/invoices/object#invoice_object-starting_balance)."""
    balance = _balance_for(cus, inv["currency"])
    due = max(inv["total"] - inv["pre_payment_credit_notes_amount"], 0)
    applied = max(balance, -due)  # a credit covers at most what is due; a debit all of it
    inv["starting_balance"] = balance
    inv["ending_balance"] = balance - applied
    if applied:
        adjust_balance(
            ctx, cus, -applied, "applied_to_invoice", currency=inv["currency"], invoice=inv["id"]
        )
    recompute(inv)


def _period(p: P, default: int) -> dict[str, int]:
    period = forms.obj(p, "period")
    if period is None:
        return {"start": default, "end": default}
    start = forms.integer(period, "start")
    end = forms.integer(period, "end")
    if start is None or end is None:
        raise required("period[start]" if start is None else "period[end]")
    if end < start:
        raise invalid("The period end must be after the period start.", param="period[end]")
    return {"start": start, "end": end}


# invoice items ---------------------------------------------------------------------------
def create_invoice_item(ctx: Ctx, p: P) -> JSON:
    forms.only(
        p,
        {
            "customer",
            "amount",
            "currency",
            "description",
            "invoice",
            "metadata",
            "period",
            "discountable",
            "tax_rates",
            "expand",
        },
    )
    customer = forms.string(p, "customer")
    if not customer:
        raise required("customer")
    cus = load(ctx, "customer", customer, "customer")
    amount = forms.integer(p, "amount")
    if amount is None:
        raise required("amount")
    currency = currency_param(p) or cus["currency"]
    if currency is None:
        raise required("currency")
    item = resources.invoice_item(
        ctx.ts,
        customer=cus["id"],
        amount=amount,
        net_amount=amount,
        currency=currency,
        description=forms.string(p, "description") or None,
        metadata=forms.metadata(p),
        period=_period(p, ctx.ts),
    )
    item["pricing"]["unit_amount_decimal"] = str(amount)
    item["tax_rates"] = tax_rates.rates_param(ctx, p)
    if (discountable := forms.boolean(p, "discountable")) is not None:
        item["discountable"] = discountable
    invoice_id = forms.string(p, "invoice")
    inv = None
    if invoice_id:
        inv = load(ctx, "invoice", invoice_id, "invoice")
        if inv["customer"] != cus["id"]:
            raise invalid("The invoice belongs to another customer.", param="invoice")
        if inv["status"] != "draft":
            raise invalid(
                f"You can only add invoice items to draft invoices; {inv['id']} is "
                f"{inv['status']}.",
                param="invoice",
                code="invoice_not_editable",
            )
        if inv["currency"] != currency:
            raise invalid(
                f"The currency {currency} does not match the invoice currency {inv['currency']}.",
                param="currency",
            )
        item["invoice"] = inv["id"]
    ctx.store.insert(item)
    if cus["currency"] is None:
        cus["currency"] = currency
        ctx.store.save(cus)
    if inv is not None:
        _add_line(ctx, inv, item)
    ctx.emit("invoiceitem.created", item)
    return item


def _add_line(ctx: Ctx, inv: JSON, item: JSON) -> None:
    before = snapshot(inv)
    inv["lines"]["data"].append(_line(ctx, item, inv["id"]))
    recompute(inv)
    ctx.store.save(inv)
    emit_updated(ctx, inv, before)


def _line(ctx: Ctx, item: JSON, invoice_id: str) -> JSON:
    """The invoice line of an item, with the taxes of its tax rates."""
    line = resources.line_item(item, invoice_id)
    line["taxes"] = tax_rates.line_taxes(ctx, int(item["amount"]), item.get("tax_rates") or [])
    return line


def retrieve_invoice_item(ctx: Ctx, p: P, invoiceitem: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "invoiceitem", invoiceitem)


def list_invoice_items(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"customer", "invoice", "pending"})
    where: JSON = {}
    for name in ("customer", "invoice"):
        if value := forms.string(p, name):
            where[name] = value
    if forms.boolean(p, "pending"):
        where["invoice"] = None
    return paginate(ctx, p, "invoiceitem", "/v1/invoiceitems", where)


# invoices --------------------------------------------------------------------------------
_INVOICE_CREATE = {
    "customer",
    "auto_advance",
    "collection_method",
    "currency",
    "description",
    "metadata",
    "pending_invoice_items_behavior",
    "default_payment_method",
    "days_until_due",
    "footer",
    "expand",
}


def create_invoice(ctx: Ctx, p: P) -> JSON:
    forms.only(p, _INVOICE_CREATE)
    customer = forms.string(p, "customer")
    if not customer:
        raise required("customer")
    cus = load(ctx, "customer", customer, "customer")
    method = forms.string(p, "collection_method") or "charge_automatically"
    if method not in ("charge_automatically", "send_invoice"):
        raise invalid(f"Invalid collection_method: {method}", param="collection_method")
    days = forms.integer(p, "days_until_due", minimum=0)
    if days is not None and method != "send_invoice":
        raise invalid(
            "You can only set `days_until_due` if `collection_method` is `send_invoice`.",
            param="days_until_due",
        )
    if method == "send_invoice" and days is None:
        raise invalid(
            "Invoices with `collection_method=send_invoice` need `days_until_due` or `due_date`.",
            param="days_until_due",
        )
    behavior = forms.string(p, "pending_invoice_items_behavior") or "exclude"
    if behavior not in ("exclude", "include"):
        raise invalid(
            f"Invalid pending_invoice_items_behavior: {behavior}",
            param="pending_invoice_items_behavior",
        )
    currency = currency_param(p) or cus["currency"] or "usd"
    inv = resources.invoice(
        ctx.ts,
        cus,
        currency,
        auto_advance=forms.boolean(p, "auto_advance") or False,
        collection_method=method,
        description=forms.string(p, "description") or None,
        footer=forms.string(p, "footer") or None,
        metadata=forms.metadata(p),
        # Until finalization, "the current customer balance" (API reference).
        starting_balance=_balance_for(cus, currency),
    )
    if pm_id := forms.string(p, "default_payment_method"):
        pm = payment_method_for(ctx, pm_id, "default_payment_method")
        if pm["customer"] != cus["id"]:
            raise invalid(
                f"The PaymentMethod {pm['id']} is not attached to customer {cus['id']}.",
                param="default_payment_method",
            )
        inv["default_payment_method"] = pm["id"]
    _schedule(ctx, inv)
    ctx.store.insert(inv, {"days_until_due": days})
    if behavior == "include":
        for item in ctx.store.query(
            "invoiceitem", {"customer": cus["id"], "invoice": None}, newest_first=False
        ):
            if item["currency"] == currency:
                item["invoice"] = inv["id"]
                ctx.store.save(item)
                inv["lines"]["data"].append(_line(ctx, item, inv["id"]))
        recompute(inv)
        ctx.store.save(inv)
    ctx.emit("invoice.created", inv)
    return inv


def retrieve_invoice(ctx: Ctx, p: P, invoice: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "invoice", invoice)


def update_invoice(ctx: Ctx, p: P, invoice: str) -> JSON:
    forms.only(p, {"description", "metadata", "auto_advance", "footer", "expand"})
    inv = load(ctx, "invoice", invoice)
    before = snapshot(inv)
    if inv["status"] != "draft" and ({"description", "footer"} & set(p)):
        raise invalid(
            "Only metadata and auto_advance can be changed once an invoice is finalized.",
            code="invoice_not_editable",
        )
    for name in ("description", "footer"):
        if (value := forms.string(p, name)) is not None:
            inv[name] = value or None
    if (auto := forms.boolean(p, "auto_advance")) is not None:
        if auto and inv["status"] not in ("draft", "open"):
            raise invalid(
                f"Automatic advancement is always off for {inv['status']} invoices.",
                param="auto_advance",
            )
        inv["auto_advance"] = auto
        _schedule(ctx, inv)
    inv["metadata"] = forms.metadata(p, inv["metadata"])
    ctx.store.save(inv)
    emit_updated(ctx, inv, before)
    return inv


def snapshot(inv: JSON) -> JSON:
    """The invoice's fields as they are now (its lines aside), to tell later what changed."""
    return copy.deepcopy({k: v for k, v in inv.items() if k != "lines"})


def emit_updated(ctx: Ctx, inv: JSON, before: JSON) -> None:
    """`invoice.updated` when something changed, its old values in `previous_attributes`
    (https://docs.stripe.com/api/events/types#event_types-invoice.updated)."""
    previous = {k: v for k, v in before.items() if inv.get(k) != v}
    if previous:
        ctx.emit("invoice.updated", inv, previous)


def _schedule(ctx: Ctx, inv: JSON) -> None:
    """Set or clear what automatic advancement will do next: finalize a draft
    (`automatically_finalizes_at`) or attempt payment of an open, automatically charged
    invoice (`next_payment_attempt`)."""
    auto = bool(inv["auto_advance"])
    if inv["status"] == "draft":
        at = inv["created"] + int(ctx.schedule.finalize_after.total_seconds())
        inv["automatically_finalizes_at"] = max(at, ctx.ts) if auto else None
    elif inv["status"] == "open" and inv["collection_method"] == "charge_automatically":
        if not auto:
            inv["next_payment_attempt"] = None
        elif not inv["attempted"]:
            at = inv["status_transitions"]["finalized_at"] or ctx.ts
            inv["next_payment_attempt"] = at + int(ctx.schedule.first_attempt_after.total_seconds())
        else:
            inv["next_payment_attempt"] = _next_retry(ctx, ctx.store.extra(inv["id"]))


def _next_retry(ctx: Ctx, extra: JSON) -> int | None:
    first_failed_at = extra.get("first_failed_at")
    if first_failed_at is None:
        return None
    return ctx.schedule.retry_at(int(first_failed_at), int(extra.get("retries_done", 0)) + 1)


def list_invoices(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"customer", "status", "collection_method"})
    where: JSON = {}
    for name in ("customer", "status", "collection_method"):
        if value := forms.string(p, name):
            where[name] = value
    return paginate(ctx, p, "invoice", "/v1/invoices", where)


def list_lines(ctx: Ctx, p: P, invoice: str) -> JSON:
    forms.only(p, LIST_PARAMS)
    inv = load(ctx, "invoice", invoice)
    return inv["lines"]  # type: ignore[no-any-return]


def finalize_invoice(ctx: Ctx, p: P, invoice: str) -> JSON:
    forms.only(p, {"auto_advance", "expand"})
    inv = load(ctx, "invoice", invoice)
    if inv["status"] != "draft":
        raise invalid(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_not_editable",
        )
    finalize(ctx, inv, auto_advance=forms.boolean(p, "auto_advance"))
    return inv


def finalize(ctx: Ctx, inv: JSON, *, auto_advance: bool | None = None) -> None:
    """draft -> open: number, due date, customer balance; with automatic advancement, the
    first payment attempt scheduled (charged automatically) or the invoice sent (sent ones)."""
    cus = load(ctx, "customer", inv["customer"])
    inv["number"] = f"{cus['invoice_prefix']}-{cus['next_invoice_sequence']:04d}"
    cus["next_invoice_sequence"] += 1
    ctx.store.save(cus)
    inv["status"] = "open"
    inv["status_transitions"]["finalized_at"] = ctx.ts
    inv["effective_at"] = ctx.ts
    inv["automatically_finalizes_at"] = None
    inv["hosted_invoice_url"] = f"{ctx.base_url}/i/{inv['id']}"
    inv["invoice_pdf"] = f"{ctx.base_url}/i/{inv['id']}/pdf"
    if auto_advance is not None:
        inv["auto_advance"] = auto_advance
    days = ctx.store.extra(inv["id"]).get("days_until_due")
    if days is not None:
        inv["due_date"] = ctx.ts + int(days) * 86400
    _apply_balance(ctx, inv, cus)
    _schedule(ctx, inv)
    ctx.store.save(inv)
    ctx.emit("invoice.finalized", inv)
    if inv["amount_due"] == 0:  # Stripe marks zero-amount invoices paid on finalization
        mark_paid(ctx, inv)
    elif inv["auto_advance"] and inv["collection_method"] == "send_invoice":
        ctx.emit("invoice.sent", inv)  # automatic advancement emails it to the customer


def mark_paid(ctx: Ctx, inv: JSON, amount: int = 0, *, out_of_band: bool = False) -> None:
    inv["amount_paid"] += amount
    inv["status"] = "paid"
    inv["status_transitions"]["paid_at"] = ctx.ts
    _close(inv)
    recompute(inv)
    ctx.store.save(inv)
    ctx.emit("invoice.paid", inv)
    if not out_of_band:
        ctx.emit("invoice.payment_succeeded", inv)


def _close(inv: JSON) -> None:
    """Paid, void and uncollectible invoices "always have automatic advancement turned off"
    (https://docs.stripe.com/invoicing/integration/automatic-advancement-collection)."""
    inv["auto_advance"] = False
    inv["next_payment_attempt"] = None
    inv.pop("status_details", None)  # present while uncollectible only


def pay_invoice(ctx: Ctx, p: P, invoice: str) -> JSON:
    forms.only(
        p, {"payment_method", "off_session", "paid_out_of_band", "forgive", "source", "expand"}
    )
    for name in ("forgive", "source"):  # Stripe's params, whose effects are not simulated
        if name in p:
            raise invalid(f"The sandbox does not simulate `{name}` on invoice payment.", param=name)
    inv = load(ctx, "invoice", invoice)
    if inv["status"] == "paid":
        raise invalid("Invoice is already paid")
    if inv["status"] not in ("open", "uncollectible"):
        raise invalid(
            f"You can only pay an open or uncollectible invoice; this invoice is {inv['status']}.",
            code="invoice_not_editable" if inv["status"] == "draft" else None,
        )
    if forms.boolean(p, "paid_out_of_band"):
        mark_paid(ctx, inv, inv["amount_remaining"], out_of_band=True)
        return inv
    if inv["amount_remaining"] == 0:
        mark_paid(ctx, inv)
        return inv
    cus = load(ctx, "customer", inv["customer"])
    pm_id = forms.string(p, "payment_method") or default_payment_method(inv, cus)
    if not pm_id:
        raise invalid(
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method.",
        )
    pm = payment_method_for(ctx, pm_id, "payment_method")
    if pm["customer"] not in (None, cus["id"]):
        raise invalid(
            f"The PaymentMethod {pm['id']} does not belong to customer {cus['id']}.",
            param="payment_method",
        )
    off_session = forms.boolean(p, "off_session")
    collect(ctx, inv, cus, pm, off_session=True if off_session is None else off_session)
    return inv


def default_payment_method(inv: JSON, cus: JSON) -> str | None:
    """What an invoice is charged with when nothing else is said: its own default, then the
    customer's invoice default (https://docs.stripe.com/billing/revenue-recovery/smart-retries#payment-method-ordering)."""
    pm_id = inv["default_payment_method"] or cus["invoice_settings"]["default_payment_method"]
    return str(pm_id) if pm_id else None


def collect(
    ctx: Ctx, inv: JSON, cus: JSON, pm: JSON, *, off_session: bool, automatic: bool = False
) -> None:
    """One payment attempt on the invoice, by the caller (`/pay`) or by Stripe's automatic
    collection; a decline is recorded on the invoice, then raised."""
    before = snapshot(inv)
    first = not inv["attempted"]
    pi = _invoice_payment_intent(ctx, inv, cus)
    try:
        result = attempt(ctx, pi, pm, off_session=off_session)
    except CardDeclined as declined:
        record_failure(ctx, inv, first=first, automatic=automatic, hard_pm=_hard(ctx, declined, pm))
        ctx.store.save(inv)
        ctx.emit("invoice.payment_failed", inv)
        emit_updated(ctx, inv, before)
        if declined.code == "authentication_required":
            ctx.emit("invoice.payment_action_required", inv)
            raise _requires_action(declined.extra) from None
        raise
    if result.get("object") == "payment_intent":  # waiting for 3-D Secure on session
        record_failure(ctx, inv, first=first, automatic=automatic, hard_pm=None)
        ctx.store.save(inv)
        ctx.emit("invoice.payment_action_required", inv)
        emit_updated(ctx, inv, before)
        raise _requires_action({"payment_intent": pi})
    _settle_invoice_payment(ctx, inv, pi)
    inv["attempted"] = True
    inv["attempt_count"] = inv["attempt_count"] + 1 if automatic or first else inv["attempt_count"]
    mark_paid(ctx, inv, pi["amount"])


def _hard(ctx: Ctx, declined: CardDeclined, pm: JSON) -> str | None:
    """The payment method, when its decline stops Stripe's retries until another one is
    available (a non-retryable decline code or a Radar block)."""
    charge = ctx.store.get(str(declined.extra.get("charge", "")))
    reason = (charge or {}).get("outcome", {}).get("reason")
    codes = {declined.decline_code, declined.code, reason}
    return str(pm["id"]) if codes & NON_RETRYABLE else None


def record_failure(
    ctx: Ctx, inv: JSON, *, first: bool, automatic: bool, hard_pm: str | None
) -> None:
    """Count a failed attempt as Stripe's retry schedule does: "Any payment attempt counts as
    the first attempt, and subsequently only automatic retries increment the attempt count"
    (https://docs.stripe.com/api/invoices/object#invoice_object-attempt_count). The first
    failure starts the retry schedule, each automatic retry moves it on; a manual attempt
    after the first changes neither."""
    extra = ctx.store.extra(inv["id"])
    inv["attempted"] = True
    if first:
        inv["attempt_count"] = 1
        extra["first_failed_at"] = ctx.ts
        extra["retries_done"] = 0
    elif automatic:
        inv["attempt_count"] += 1
        extra["retries_done"] = int(extra.get("retries_done", 0)) + 1
    if hard_pm is not None:
        extra["hard_declined"] = hard_pm
    ctx.store.set_extra(inv["id"], extra)
    if (first or automatic) and inv["status"] == "open":
        _schedule(ctx, inv)


def _requires_action(extra: JSON) -> CardDeclined:
    """Stripe's answer when an invoice's payment needs the customer (3-D Secure)."""
    return CardDeclined(
        402,
        "card_error",
        "This payment requires additional user action before it can be completed "
        "successfully. Payment can be completed using the PaymentIntent associated with the "
        "invoice.",
        code="invoice_payment_intent_requires_action",
        extra=extra,
    )


def _invoice_payment_intent(ctx: Ctx, inv: JSON, cus: JSON) -> JSON:
    """One PaymentIntent per invoice, reused by every attempt (as Stripe Billing does)."""
    extra = ctx.store.extra(inv["id"])
    if pi_id := extra.get("payment_intent"):
        pi = load(ctx, "payment_intent", pi_id)
        pi["amount"] = inv["amount_remaining"]
        return pi
    pi = resources.payment_intent(
        ctx.ts,
        inv["amount_remaining"],
        inv["currency"],
        customer=cus["id"],
        description=f"Invoice {inv['number']}",
    )
    ctx.store.insert(pi)
    ctx.emit("payment_intent.created", pi)
    ctx.store.insert(resources.invoice_payment(ctx.ts, inv, pi["id"]))
    extra["payment_intent"] = pi["id"]
    ctx.store.set_extra(inv["id"], extra)
    return pi


def _settle_invoice_payment(ctx: Ctx, inv: JSON, pi: JSON) -> None:
    for payment in ctx.store.query("invoice_payment", {"invoice": inv["id"]}):
        payment["status"] = "paid"
        payment["amount_paid"] = pi["amount"]
        payment["status_transitions"]["paid_at"] = ctx.ts
        ctx.store.save(payment)


def void_invoice(ctx: Ctx, p: P, invoice: str) -> JSON:
    forms.only(p, {"expand"})
    inv = load(ctx, "invoice", invoice)
    if inv["status"] not in ("open", "uncollectible"):
        raise invalid(
            f"You can only void open or uncollectible invoices; this invoice is {inv['status']}.",
            code="invoice_not_editable",
        )
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = ctx.ts
    _close(inv)
    ending = inv["ending_balance"]
    if ending is not None and (applied := inv["starting_balance"] - ending):
        # The balance it took at finalization goes back to the customer.
        cus = load(ctx, "customer", inv["customer"])
        adjust_balance(
            ctx, cus, applied, "unapplied_from_invoice", currency=inv["currency"], invoice=inv["id"]
        )
    ctx.store.save(inv)
    ctx.emit("invoice.voided", inv)
    return inv


def mark_uncollectible(ctx: Ctx, p: P, invoice: str) -> JSON:
    """A bad debt written off (https://docs.stripe.com/api/invoices/mark_uncollectible). It
    can still be paid or voided. `status_details.uncollectible.reason` says why, present
    only while the invoice is uncollectible
    (https://docs.stripe.com/changelog/endive/2026-09-30/invoice-uncollectible-status-detail)."""
    forms.only(p, {"expand"})
    inv = load(ctx, "invoice", invoice)
    if inv["status"] != "open":
        raise invalid(
            f"You can only mark open invoices uncollectible; this invoice is {inv['status']}.",
            code="invoice_not_editable",
        )
    inv["status"] = "uncollectible"
    inv["status_transitions"]["marked_uncollectible_at"] = ctx.ts
    _close(inv)
    inv["status_details"] = {"uncollectible": {"reason": "user_forgiven"}}
    ctx.store.save(inv)
    ctx.emit("invoice.marked_uncollectible", inv)
    return inv


def send_invoice(ctx: Ctx, p: P, invoice: str) -> JSON:
    """Email a sent (`send_invoice`) invoice to the customer now
    (https://docs.stripe.com/api/invoices/send): "Requests made in test-mode result in no
    emails being sent, despite sending an invoice.sent event". A draft is finalized first."""
    forms.only(p, {"expand"})
    inv = load(ctx, "invoice", invoice)
    if inv["collection_method"] != "send_invoice":
        raise invalid(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
            code="invoice_not_editable",
        )
    if inv["status"] == "void":
        raise invalid("You cannot send a voided invoice.", code="invoice_not_editable")
    if inv["status"] == "draft":
        finalize(ctx, inv)
        if inv["auto_advance"]:
            return inv  # finalizing an automatically advanced invoice already sent it
    ctx.emit("invoice.sent", inv)
    return inv


def list_invoice_payments(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"invoice"})
    invoice = forms.string(p, "invoice")
    where = {"invoice": invoice} if invoice else None
    return paginate(ctx, p, "invoice_payment", "/v1/invoice_payments", where)


def retrieve_invoice_payment(ctx: Ctx, p: P, invoice_payment: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "invoice_payment", invoice_payment)
