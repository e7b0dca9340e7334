"""PaymentIntents, the charge engine behind them, charges, refunds and disputes.

A charge's fate: a decline scripted for the payment method or its customer
(`POST /_sandbox/declines`, below) comes first; otherwise the test card's own behaviour
(cards.py). A decline fills the error and the charge's `outcome` as Stripe does: the
`advice_code` only when there is one, `outcome.type` `issuer_declined`, `blocked` (Radar) or
`invalid`, with the matching `network_status`
(https://docs.stripe.com/api/charges/object#charge_object-outcome).
"""

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
    scripted = _scripted_decline(ctx, pm, pi["customer"] or pm["customer"])
    if scripted is not None:
        decline: cards.Decline | None = scripted
    elif card.attach_decline is not None:  # a decline card used without attaching it
        decline = card.charge_decline
    else:
        decline = cards.charge_outcome(
            card,
            int(extra.get("successes", 0)),
            off_session=off_session,
            now=ctx.now,
            exp=(pm["card"]["exp_month"], pm["card"]["exp_year"]),
            failures_so_far=int(extra.get("failures", 0)),
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
            **decline_details(decline),
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
        extra["failures"] = int(extra.get("failures", 0)) + 1
        ctx.store.set_extra(pm["id"], extra)
        ctx.emit("charge.failed", ch)
        ctx.emit("payment_intent.payment_failed", pi)
        raise CardDeclined(
            402,
            "card_error",
            decline.message,
            code=decline.code,
            decline_code=decline.decline_code,
            extra={
                **decline_details(decline),
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
        "network_advice_code": decline.network_advice_code,
        "network_decline_code": decline.network_decline_code,
        "network_status": decline.network_status,
        "reason": decline.outcome_reason or decline.decline_code or decline.code,
        "risk_level": decline.risk_level,
        "seller_message": decline.seller_message,
        "type": decline.outcome_type,
    }


def decline_details(decline: cards.Decline) -> JSON:
    """The error object's optional fields a decline has: the advice and network codes, each
    only when given (https://docs.stripe.com/api/errors#errors-advice_code)."""
    details = {
        "advice_code": decline.advice_code,
        "network_advice_code": decline.network_advice_code,
        "network_decline_code": decline.network_decline_code,
    }
    return {k: v for k, v in details.items() if v is not None}


# scripted declines (sandbox only) ---------------------------------------------------------
_SCRIPT = "sandbox.decline"


def create_decline_script(ctx: Ctx, p: P) -> JSON:
    """`POST /_sandbox/declines`: make the next charges of a payment method, or of any card of
    a customer, decline as asked. `customer` or `payment_method`; `decline_code` (default
    generic_decline) and/or `code` (default card_declined, or the code Stripe pairs with a
    known decline reason: expired_card, incorrect_cvc, processing_error); `advice_code`;
    `outcome_type` issuer_declined (default), blocked or invalid; `message`;
    `network_decline_code`, `network_advice_code`; `times` (default: until cancelled with
    `POST /_sandbox/declines/{id}/cancel`). The newest matching script wins; one for the
    payment method wins over one for its customer."""
    forms.only(
        p,
        {
            "customer",
            "payment_method",
            "code",
            "decline_code",
            "advice_code",
            "outcome_type",
            "message",
            "network_decline_code",
            "network_advice_code",
            "times",
        },
    )
    customer = forms.string(p, "customer")
    pm_id = forms.string(p, "payment_method")
    if bool(customer) == bool(pm_id):
        raise invalid("Pass either `customer` or `payment_method`.", param="customer")
    if customer:
        load(ctx, "customer", customer, "customer")
    if pm_id:
        load(ctx, "payment_method", pm_id, "payment_method")
    reason = forms.string(p, "decline_code")
    known = cards.SCRIPTABLE.get(reason or "")
    code = forms.string(p, "code") or (known.code if known else "card_declined")
    decline_code = known.decline_code if known and not forms.string(p, "code") else reason
    if decline_code is None and code == "card_declined":
        decline_code = "generic_decline"
    advice = forms.string(p, "advice_code")
    if advice is not None and advice not in cards.ADVICE_CODES:
        raise invalid(
            f"Invalid advice_code: must be one of {', '.join(cards.ADVICE_CODES)}",
            param="advice_code",
        )
    outcome = forms.string(p, "outcome_type") or "issuer_declined"
    if outcome not in cards.OUTCOME_TYPES:
        raise invalid(
            f"Invalid outcome_type: must be one of {', '.join(cards.OUTCOME_TYPES)}",
            param="outcome_type",
        )
    times = forms.integer(p, "times", minimum=1)
    script = {
        "id": resources.new_id("sbdecl"),
        "object": _SCRIPT,
        "created": ctx.ts,
        "customer": customer or None,
        "payment_method": pm_id or None,
        "code": code,
        "decline_code": decline_code,
        "advice_code": advice,
        "outcome_type": outcome,
        "message": forms.string(p, "message")
        or (known.message if known else "Your card was declined."),
        "network_decline_code": forms.string(p, "network_decline_code"),
        "network_advice_code": forms.string(p, "network_advice_code"),
        "times_left": times,
        "active": True,
    }
    ctx.store.insert(script)
    return script


def cancel_decline_script(ctx: Ctx, p: P, script: str) -> JSON:
    forms.only(p, set())
    found = load(ctx, _SCRIPT, script)
    found["active"] = False
    ctx.store.save(found)
    return found


def _scripted_decline(ctx: Ctx, pm: JSON, customer: str | None) -> cards.Decline | None:
    """The decline a script holds for this charge, counting it; None when none applies."""
    candidates = ctx.store.query(_SCRIPT, {"payment_method": pm["id"], "active": True})
    if not candidates and customer is not None:
        candidates = ctx.store.query(_SCRIPT, {"customer": customer, "active": True})
    if not candidates:
        return None
    script = candidates[0]  # the newest
    if script["times_left"] is not None:
        script["times_left"] -= 1
        script["active"] = script["times_left"] > 0
        ctx.store.save(script)
    return cards.Decline(
        script["code"],
        script["decline_code"],
        script["message"],
        advice_code=script["advice_code"],
        outcome_type=script["outcome_type"],
        network_decline_code=script["network_decline_code"],
        network_advice_code=script["network_advice_code"],
    )


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
