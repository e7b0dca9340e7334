"""PaymentIntents, the charge engine behind them, charges, refunds and disputes."""

from __future__ import annotations

from typing import Any

from . import cards, forms, resources
from .context import CardDeclined, Ctx
from .customers import payment_method_for, test_card
from .errors import invalid, required
from .listing import LIST_PARAMS, load, paginate

JSON = dict[str, Any]
P = forms.Params

# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts (minor units)
_MIN_AMOUNT = {"gbp": 30, "dkk": 250, "nok": 300, "sek": 300, "pln": 200, "czk": 1500}
_MIN_AMOUNT_DEFAULT = 50  # USD, EUR, CHF, AUD, CAD, JPY and most others: 0.50 (or 50 units)


def currency_param(p: P, name: str = "currency") -> str | None:
    value = forms.string(p, name)
    if value is None:
        return None
    if len(value) != 3 or not value.isalpha():
        raise invalid(
            f"Invalid currency: {value}. Stripe currently supports ISO codes.", param=name
        )
    return value.lower()


def attempt(ctx: Ctx, pi: JSON, pm: JSON, *, off_session: bool) -> JSON:
    """Try to charge `pm` for `pi`; update both, emit events, raise CardDeclined on failure.

    Returns the succeeded charge, or the PaymentIntent itself when it now requires action
    (3-D Secure on session).
    """
    card = test_card(ctx, pm)
    extra = ctx.store.extra(pm["id"])
    if card.attach_decline is not None:  # a decline card used without attaching it
        decline: cards.Decline | None = card.charge_decline
    else:
        decline = cards.charge_outcome(
            card,
            int(extra.get("successes", 0)),
            off_session=off_session,
            now=ctx.now,
            exp=(pm["card"]["exp_month"], pm["card"]["exp_year"]),
        )
    pi["payment_method"] = pm["id"]
    if decline is None and card.requires_authentication and not off_session:
        pi["status"] = "requires_action"
        pi["next_action"] = {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": ctx.base_url},
        }
        ctx.store.save(pi)
        ctx.emit("payment_intent.requires_action", pi)
        return pi
    ch = resources.charge(ctx.ts, pi, pm, base_url=ctx.base_url)
    pi["latest_charge"] = ch["id"]
    if decline is not None:
        ch.update(
            status="failed",
            failure_code=decline.code,
            failure_message=decline.message,
            outcome=_outcome(decline),
        )
        error = {
            "type": "card_error",
            "advice_code": decline.advice_code,
            "code": decline.code,
            "decline_code": decline.decline_code,
            "message": decline.message,
            "charge": ch["id"],
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
            "payment_method": pm,
        }
        pi.update(status="requires_payment_method", last_payment_error=error, next_action=None)
        ctx.store.insert(ch)
        ctx.store.save(pi)
        ctx.emit("charge.failed", ch)
        ctx.emit("payment_intent.payment_failed", pi)
        raise CardDeclined(
            402,
            "card_error",
            decline.message,
            code=decline.code,
            decline_code=decline.decline_code,
            extra={
                "advice_code": decline.advice_code,
                "charge": ch["id"],
                "payment_intent": pi,
                "payment_method": pm,
            },
        )
    ch.update(
        status="succeeded",
        paid=True,
        captured=True,
        amount_captured=ch["amount"],
        balance_transaction=resources.new_id("txn"),
        outcome=_outcome(None),
    )
    pi.update(
        status="succeeded", amount_received=pi["amount"], last_payment_error=None, next_action=None
    )
    extra["successes"] = int(extra.get("successes", 0)) + 1
    ctx.store.set_extra(pm["id"], extra)
    ctx.store.insert(ch)
    ctx.store.save(pi)
    ctx.emit("charge.succeeded", ch)
    ctx.emit("payment_intent.succeeded", pi)
    if card.disputed:
        dp = resources.dispute(ctx.ts, ch)
        ctx.store.insert(dp)
        ch["disputed"] = True
        ctx.store.save(ch)
        ctx.emit("charge.dispute.created", dp)
    return ch


def _outcome(decline: cards.Decline | None) -> JSON:
    if decline is None:
        return {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "advice_code": decline.advice_code,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "declined_by_network",
        "reason": decline.decline_code or decline.code,
        "risk_level": "normal",
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


# payment intents -------------------------------------------------------------------------
_PI_PARAMS = {
    "amount",
    "currency",
    "customer",
    "payment_method",
    "confirm",
    "off_session",
    "description",
    "metadata",
    "payment_method_types",
    "receipt_email",
    "statement_descriptor_suffix",
    "expand",
}


def create_payment_intent(ctx: Ctx, p: P) -> JSON:
    forms.only(p, _PI_PARAMS)
    forms.card_only(p)
    amount = forms.integer(p, "amount")
    if amount is None:
        raise required("amount")
    currency = currency_param(p)
    if currency is None:
        raise required("currency")
    minimum = _MIN_AMOUNT.get(currency, _MIN_AMOUNT_DEFAULT)
    if amount < minimum:
        raise invalid(
            f"Amount must be at least {minimum} in the currency's minor unit",
            param="amount",
            code="amount_too_small",
        )
    confirm = forms.boolean(p, "confirm") or False
    off_session = forms.boolean(p, "off_session")
    if off_session is not None and not confirm:
        raise invalid(
            "You may only specify `off_session` when confirming the PaymentIntent (confirm=true).",
            param="off_session",
        )
    pi = resources.payment_intent(
        ctx.ts,
        amount,
        currency,
        description=forms.string(p, "description") or None,
        metadata=forms.metadata(p),
        receipt_email=forms.string(p, "receipt_email") or None,
        statement_descriptor_suffix=forms.string(p, "statement_descriptor_suffix", max_length=22)
        or None,
    )
    if customer := forms.string(p, "customer"):
        pi["customer"] = load(ctx, "customer", customer, "customer")["id"]
    pm = None
    if pm_id := forms.string(p, "payment_method"):
        pm = payment_method_for(ctx, pm_id, "payment_method")
        if pm["customer"] is not None and pm["customer"] != pi["customer"]:
            raise invalid(
                f"The provided PaymentMethod {pm['id']} belongs to another customer.",
                param="payment_method",
            )
        pi["payment_method"] = pm["id"]
        pi["status"] = "requires_confirmation"
    ctx.store.insert(pi)
    ctx.emit("payment_intent.created", pi)
    if confirm:
        if pm is None:
            raise invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                param="payment_method",
                code="payment_intent_unexpected_state",
            )
        attempt(ctx, pi, pm, off_session=bool(off_session))
    return pi


def confirm_payment_intent(ctx: Ctx, p: P, payment_intent: str) -> JSON:
    forms.only(p, {"payment_method", "off_session", "expand"})
    pi = load(ctx, "payment_intent", payment_intent)
    if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise invalid(
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}.",
            code="payment_intent_unexpected_state",
        )
    pm_id = forms.string(p, "payment_method") or pi["payment_method"]
    if not pm_id:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    pm = payment_method_for(ctx, pm_id, "payment_method")
    attempt(ctx, pi, pm, off_session=bool(forms.boolean(p, "off_session")))
    return pi


def retrieve_payment_intent(ctx: Ctx, p: P, payment_intent: str) -> JSON:
    forms.only(p, {"expand", "client_secret"})
    return load(ctx, "payment_intent", payment_intent)


def list_payment_intents(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"customer"})
    customer = forms.string(p, "customer")
    where = {"customer": customer} if customer else None
    return paginate(ctx, p, "payment_intent", "/v1/payment_intents", where)


# charges, refunds, disputes --------------------------------------------------------------
def retrieve_charge(ctx: Ctx, p: P, charge: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "charge", charge)


def list_charges(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"customer", "payment_intent"})
    where: JSON = {}
    for name in ("customer", "payment_intent"):
        if value := forms.string(p, name):
            where[name] = value
    return paginate(ctx, p, "charge", "/v1/charges", where)


def refund_charge(
    ctx: Ctx, ch: JSON, amount: int | None, param: str = "amount", **fields: Any
) -> JSON:
    if ch["status"] != "succeeded":
        raise invalid(
            f"Charge {ch['id']} has not succeeded and cannot be refunded.", param="charge"
        )
    remaining = ch["amount"] - ch["amount_refunded"]
    if amount is None:
        amount = remaining
    if amount <= 0:
        raise invalid("Refund amount must be positive.", param=param)
    if amount > remaining:
        raise invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param=param,
            code="amount_too_large",
        )
    re = resources.refund(ctx.ts, ch, amount, **fields)
    ctx.store.insert(re)
    ch["amount_refunded"] += amount
    ch["refunded"] = ch["amount_refunded"] == ch["amount"]
    ch["refunds"]["data"].insert(0, re)
    ctx.store.save(ch)
    ctx.emit("refund.created", re)
    ctx.emit("charge.refunded", ch)
    return re


def create_refund(ctx: Ctx, p: P) -> JSON:
    forms.only(p, {"charge", "payment_intent", "amount", "reason", "metadata", "expand"})
    charge_id = forms.string(p, "charge")
    pi_id = forms.string(p, "payment_intent")
    if bool(charge_id) == bool(pi_id):
        raise invalid("You must pass either `charge` or `payment_intent`.", param="charge")
    if pi_id:
        pi = load(ctx, "payment_intent", pi_id, "payment_intent")
        if pi["status"] != "succeeded" or pi["latest_charge"] is None:
            raise invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable",
            )
        charge_id = pi["latest_charge"]
    assert charge_id is not None
    ch = load(ctx, "charge", charge_id, "charge")
    reason = forms.string(p, "reason")
    if reason is not None and reason not in ("duplicate", "fraudulent", "requested_by_customer"):
        raise invalid(f"Invalid reason: {reason}", param="reason")
    return refund_charge(
        ctx, ch, forms.integer(p, "amount"), reason=reason, metadata=forms.metadata(p)
    )


def retrieve_refund(ctx: Ctx, p: P, refund: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "refund", refund)


def list_refunds(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"charge", "payment_intent"})
    where: JSON = {}
    for name in ("charge", "payment_intent"):
        if value := forms.string(p, name):
            where[name] = value
    return paginate(ctx, p, "refund", "/v1/refunds", where)


def retrieve_dispute(ctx: Ctx, p: P, dispute: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "dispute", dispute)
