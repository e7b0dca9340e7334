"""Credit notes: lower what an open invoice still asks for, or give back what a paid one took.

Stripe's rule (https://docs.stripe.com/api/credit_notes/create): a credit note "will first
reduce the invoice's amount_remaining (and amount_due), but not below zero. This amount is
indicated by the credit note's pre_payment_amount. The excess amount is indicated by
post_payment_amount", which must be settled in full by refunds (`refund_amount`), customer
balance credit (`credit_amount`, spent on the next invoice finalized) and credit outside
Stripe (`out_of_band_amount`). A note with both parts is of type `mixed`. The most an invoice
can be credited is its total less what earlier credit notes credited.

Lines are `custom_line_item` (an amount of the sandbox's choosing, described) or
`invoice_line_item` (all of an invoice line, a `quantity` of it, or an `amount` of it, never
more than what earlier notes left uncredited on that line).
"""

from __future__ import annotations

from typing import Any

from . import forms, resources
from .context import Ctx
from .customers import adjust_balance
from .errors import invalid, required, unknown_parameter
from .invoicing import emit_updated, mark_paid, recompute, snapshot
from .listing import LIST_PARAMS, load, paginate
from .payments import refund_charge

JSON = dict[str, Any]
P = forms.Params

_PARAMS = {
    "invoice",
    "amount",
    "lines",
    "refund_amount",
    "credit_amount",
    "out_of_band_amount",
    "reason",
    "memo",
    "metadata",
    "expand",
}
_REASONS = {"duplicate", "fraudulent", "order_change", "product_unsatisfactory"}
_LINE_PARAMS = {
    "type",
    "amount",
    "description",
    "invoice_line_item",
    "quantity",
    "unit_amount",
    "metadata",
}


def _custom_line(raw: JSON, i: int) -> JSON:
    for name in ("amount", "invoice_line_item"):
        if name in raw:
            raise invalid(
                f"`{name}` is only valid when the line's type is invoice_line_item.",
                param=f"lines[{i}][{name}]",
            )
    unit = forms.integer(raw, "unit_amount", minimum=0)
    if unit is None:
        raise required(f"lines[{i}][unit_amount]")
    quantity = forms.integer(raw, "quantity", minimum=1) or 1
    description = forms.string(raw, "description")
    if not description:
        raise required(f"lines[{i}][description]")
    return resources.credit_note_line(
        unit * quantity, description, quantity, unit, metadata=forms.metadata(raw)
    )


def _invoice_line(raw: JSON, i: int, inv: JSON, credited: dict[str, int]) -> JSON:
    for name in ("unit_amount", "description"):
        if name in raw:
            raise invalid(
                f"`{name}` is only valid when the line's type is custom_line_item.",
                param=f"lines[{i}][{name}]",
            )
    line_id = forms.string(raw, "invoice_line_item")
    if not line_id:
        raise required(f"lines[{i}][invoice_line_item]")
    line = next((li for li in inv["lines"]["data"] if li["id"] == line_id), None)
    if line is None:
        raise invalid(
            f"The invoice line item {line_id} is not on invoice {inv['id']}.",
            param=f"lines[{i}][invoice_line_item]",
        )
    amount = forms.integer(raw, "amount", minimum=0)
    quantity = forms.integer(raw, "quantity", minimum=1)
    if amount is None:
        if quantity is None:
            amount, quantity = int(line["amount"]), int(line["quantity"])
        else:
            if quantity > line["quantity"]:
                raise invalid(
                    f"You cannot credit {quantity} of the line's quantity of {line['quantity']}.",
                    param=f"lines[{i}][quantity]",
                )
            amount = int(line["amount"]) * quantity // int(line["quantity"])
    left = int(line["amount"]) - credited.get(line_id, 0)
    if amount > left:
        raise invalid(
            f"The amount to credit on line {line_id} ({amount}) exceeds what is left to credit "
            f"on it ({left}).",
            param=f"lines[{i}][amount]",
        )
    credited[line_id] = credited.get(line_id, 0) + amount
    return resources.credit_note_line(
        amount,
        line["description"],
        quantity or 1,
        None,
        invoice_line_item=line_id,
        metadata=forms.metadata(raw),
    )


def _lines(p: P, inv: JSON, credited: dict[str, int]) -> list[JSON]:
    lines = []
    for i, raw in enumerate(forms.array(p, "lines")):
        if not isinstance(raw, dict):
            raise invalid("Invalid array", param=f"lines[{i}]")
        for name in raw:
            if name not in _LINE_PARAMS:
                raise unknown_parameter(f"lines[{i}][{name}]")
        kind = raw.get("type")
        if kind == "custom_line_item":
            lines.append(_custom_line(raw, i))
        elif kind == "invoice_line_item":
            lines.append(_invoice_line(raw, i, inv, credited))
        elif kind is None:
            raise required(f"lines[{i}][type]")
        else:
            raise invalid(
                f"Invalid lines[{i}][type]: must be one of custom_line_item, invoice_line_item",
                param=f"lines[{i}][type]",
            )
    return lines


def create_credit_note(ctx: Ctx, p: P) -> JSON:
    forms.only(p, _PARAMS)
    invoice = forms.string(p, "invoice")
    if not invoice:
        raise required("invoice")
    inv = load(ctx, "invoice", invoice, "invoice")
    if inv["status"] not in ("open", "paid"):
        raise invalid(
            f"Credit notes can only be issued for open or paid invoices; this one is "
            f"{inv['status']}.",
            param="invoice",
        )
    extra = ctx.store.extra(inv["id"])
    credited_lines: dict[str, int] = dict(extra.get("credited_lines", {}))
    lines = _lines(p, inv, credited_lines)
    amount = forms.integer(p, "amount", minimum=1)
    if lines and amount is not None:
        raise invalid("You may pass either `amount` or `lines`, not both.", param="amount")
    if lines:
        amount = sum(line["amount"] for line in lines)
    if amount is None:
        raise required("lines")
    reason = forms.string(p, "reason")
    if reason is not None and reason not in _REASONS:
        raise invalid(f"Invalid reason: {reason}", param="reason")
    refund_amount = forms.integer(p, "refund_amount", minimum=0) or 0
    credit_amount = forms.integer(p, "credit_amount", minimum=0) or 0
    out_of_band = forms.integer(p, "out_of_band_amount", minimum=0) or 0

    creditable = (
        inv["total"]
        - inv["pre_payment_credit_notes_amount"]
        - inv["post_payment_credit_notes_amount"]
    )
    if amount > creditable:
        raise invalid(
            f"The credit note amount ({amount}) exceeds what is left to credit on the invoice "
            f"({creditable}).",
            param="amount",
        )
    pre = min(amount, inv["amount_remaining"]) if inv["status"] == "open" else 0
    post = amount - pre
    if refund_amount + credit_amount + out_of_band != post:
        raise invalid(
            f"The sum of credit amount, refund amount and out of band amount "
            f"({refund_amount + credit_amount + out_of_band}) must equal the credit note amount "
            f"({amount}) less what it takes off the invoice's amount remaining ({pre}): {post}.",
            param="refund_amount" if post else "credit_amount",
        )

    number = f"{inv['number']}-CN-{ctx.store.next_number('cn:' + inv['id']):02d}"
    cn = resources.credit_note(
        ctx.ts,
        inv,
        number,
        base_url=ctx.base_url,
        amount=amount,
        subtotal=amount,
        subtotal_excluding_tax=amount,
        total=amount,
        total_excluding_tax=amount,
        memo=forms.string(p, "memo") or None,
        metadata=forms.metadata(p),
        reason=reason,
        type="pre_payment" if post == 0 else "post_payment" if pre == 0 else "mixed",
        pre_payment_amount=pre,
        post_payment_amount=post,
        out_of_band_amount=out_of_band or None,
    )
    cn["lines"]["data"] = lines or [resources.credit_note_line(amount, None, 1, amount)]
    if refund_amount:
        pi_id = extra.get("payment_intent")
        pi = load(ctx, "payment_intent", pi_id) if pi_id else None
        if pi is None or pi["latest_charge"] is None:
            raise invalid(
                "This invoice was not paid by card; nothing to refund.", param="refund_amount"
            )
        ch = load(ctx, "charge", pi["latest_charge"])
        re = refund_charge(ctx, ch, refund_amount, param="refund_amount")
        cn["refunds"] = [
            {
                "amount_refunded": refund_amount,
                "payment_record_refund": None,
                "refund": re["id"],
                "type": "refund",
            }
        ]
    if credit_amount:
        cus = load(ctx, "customer", inv["customer"])
        txn = adjust_balance(
            ctx,
            cus,
            -credit_amount,
            "credit_note",
            currency=inv["currency"],
            credit_note=cn["id"],
            invoice=inv["id"],
        )
        cn["customer_balance_transaction"] = txn["id"]
    before = snapshot(inv)
    inv["pre_payment_credit_notes_amount"] += pre
    inv["post_payment_credit_notes_amount"] += post
    recompute(inv)
    ctx.store.save(inv)
    ctx.store.set_extra(inv["id"], ctx.store.extra(inv["id"]) | {"credited_lines": credited_lines})
    ctx.store.insert(cn)
    ctx.emit("credit_note.created", cn)
    emit_updated(ctx, inv, before)
    if inv["status"] == "open" and inv["amount_remaining"] == 0:
        mark_paid(ctx, inv, out_of_band=True)
    return cn


def retrieve_credit_note(ctx: Ctx, p: P, credit_note: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "credit_note", credit_note)


def list_credit_notes(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"invoice", "customer"})
    where: JSON = {}
    for name in ("invoice", "customer"):
        if value := forms.string(p, name):
            where[name] = value
    return paginate(ctx, p, "credit_note", "/v1/credit_notes", where)
