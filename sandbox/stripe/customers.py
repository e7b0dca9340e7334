"""Customers, payment methods (with Stripe's test tokens), SetupIntents, and each customer's
invoice balance with its ledger of balance transactions."""

from __future__ import annotations

import copy
from typing import Any

from . import cards, forms, resources
from .context import CardDeclined, Ctx
from .errors import invalid, missing, required
from .listing import LIST_PARAMS, load, paginate

JSON = dict[str, Any]
P = forms.Params

_CUSTOMER_FIELDS = {"name", "email", "description", "phone"}


def _apply_customer_fields(ctx: Ctx, cus: JSON, p: P) -> None:
    for name in _CUSTOMER_FIELDS:
        value = forms.string(p, name, max_length=512 if name == "email" else 5000)
        if value is not None:
            cus[name] = value or None
    if "email" in p and cus["email"] and "@" not in cus["email"]:
        raise invalid(f"Invalid email address: {cus['email']}", param="email", code="email_invalid")
    cus["metadata"] = forms.metadata(p, cus["metadata"])
    settings = forms.obj(p, "invoice_settings")
    if settings is not None:
        for key in settings:
            if key != "default_payment_method":
                raise invalid(
                    f"Received unknown parameter: invoice_settings[{key}]",
                    param=f"invoice_settings[{key}]",
                )
        pm_id = settings.get("default_payment_method")
        if pm_id == "":
            cus["invoice_settings"]["default_payment_method"] = None
        elif isinstance(pm_id, str):
            pm = payment_method_for(ctx, pm_id, "invoice_settings[default_payment_method]")
            if pm["customer"] != cus["id"]:
                raise invalid(
                    f"The customer does not have a payment method with the ID {pm_id}. The "
                    "payment method must be attached to the customer.",
                    param="invoice_settings[default_payment_method]",
                )
            cus["invoice_settings"]["default_payment_method"] = pm["id"]


def create_customer(ctx: Ctx, p: P) -> JSON:
    forms.only(p, _CUSTOMER_FIELDS | {"metadata", "invoice_settings", "payment_method", "expand"})
    cus = resources.customer(ctx.ts)
    ctx.store.insert(cus)
    pm_id = forms.string(p, "payment_method")
    if pm_id:
        try:
            attach(ctx, pm_id, cus, "payment_method")
        except CardDeclined as declined:  # no customer is created with a refused card
            raise declined.rolled_back() from None
    _apply_customer_fields(ctx, cus, p)
    ctx.store.save(cus)
    ctx.emit("customer.created", cus)
    return cus


def retrieve_customer(ctx: Ctx, p: P, customer: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "customer", customer)


def update_customer(ctx: Ctx, p: P, customer: str) -> JSON:
    forms.only(p, _CUSTOMER_FIELDS | {"metadata", "invoice_settings", "expand"})
    cus = load(ctx, "customer", customer)
    before = copy.deepcopy({k: cus[k] for k in ("metadata", "invoice_settings", *_CUSTOMER_FIELDS)})
    _apply_customer_fields(ctx, cus, p)
    ctx.store.save(cus)
    changed = {k: v for k, v in before.items() if cus[k] != v}
    if changed:
        ctx.emit("customer.updated", cus, changed)
    return cus


def list_customers(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"email"})
    email = forms.string(p, "email")
    return paginate(ctx, p, "customer", "/v1/customers", {"email": email} if email else None)


def list_customer_payment_methods(ctx: Ctx, p: P, customer: str) -> JSON:
    forms.only(p, LIST_PARAMS | {"type", "allow_redisplay"})
    load(ctx, "customer", customer)
    where: JSON = {"customer": customer}
    if redisplay := forms.string(p, "allow_redisplay"):
        where["allow_redisplay"] = redisplay
    if kind := forms.string(p, "type"):
        where["type"] = kind
    return paginate(ctx, p, "payment_method", f"/v1/customers/{customer}/payment_methods", where)


# payment methods -------------------------------------------------------------------------
def materialize(ctx: Ctx, token: str, param: str) -> JSON:
    """A test token (`pm_card_visa`, ...) becomes a new PaymentMethod on every use, as in Stripe."""
    card = cards.resolve(token, param)
    pm = resources.payment_method(ctx.ts, card, (card.exp_month, card.exp_year))
    ctx.store.insert(pm, {"token": token, "successes": 0})
    return pm


def payment_method_for(ctx: Ctx, pm_id: str, param: str) -> JSON:
    if cards.is_token(pm_id):
        return materialize(ctx, pm_id, param)
    return load(ctx, "payment_method", pm_id, param)


def test_card(ctx: Ctx, pm: JSON) -> cards.TestCard:
    return cards.resolve(ctx.store.extra(pm["id"])["token"], "payment_method")


def attach(ctx: Ctx, pm_id: str, cus: JSON, param: str) -> JSON:
    pm = payment_method_for(ctx, pm_id, param)
    if pm["customer"] is not None:
        if pm["customer"] == cus["id"]:
            return pm
        raise invalid(
            "The payment method you provided has already been attached to a customer.",
            param=param,
        )
    card = test_card(ctx, pm)
    decline = card.attach_decline
    if decline is None and cards.expired(card.exp_month, card.exp_year, ctx.now):
        decline = cards.EXPIRED
    if decline is not None:
        raise CardDeclined(
            402,
            "card_error",
            decline.message,
            code=decline.code,
            decline_code=decline.decline_code,
            extra={"advice_code": decline.advice_code} if decline.advice_code else None,
        )
    pm["customer"] = cus["id"]
    ctx.store.save(pm)
    ctx.emit("payment_method.attached", pm)
    return pm


def retrieve_payment_method(ctx: Ctx, p: P, payment_method: str) -> JSON:
    forms.only(p, {"expand"})
    return payment_method_for(ctx, payment_method, "payment_method")


def attach_payment_method(ctx: Ctx, p: P, payment_method: str) -> JSON:
    forms.only(p, {"customer", "expand"})
    customer = forms.string(p, "customer")
    if not customer:
        raise required("customer")
    cus = load(ctx, "customer", customer, "customer")
    return attach(ctx, payment_method, cus, "payment_method")


def detach_payment_method(ctx: Ctx, p: P, payment_method: str) -> JSON:
    forms.only(p, {"expand"})
    pm = load(ctx, "payment_method", payment_method)
    if pm["customer"] is None:
        raise invalid(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            param="payment_method",
        )
    cus = load(ctx, "customer", pm["customer"])
    if cus["invoice_settings"]["default_payment_method"] == pm["id"]:
        cus["invoice_settings"]["default_payment_method"] = None
        ctx.store.save(cus)
    previous = {"customer": pm["customer"]}
    pm["customer"] = None
    ctx.store.save(pm)
    ctx.emit("payment_method.detached", pm, previous)
    return pm


def list_payment_methods(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"customer", "type"})
    where: JSON = {}
    if customer := forms.string(p, "customer"):
        where["customer"] = customer
    if kind := forms.string(p, "type"):
        where["type"] = kind
    return paginate(ctx, p, "payment_method", "/v1/payment_methods", where)


def automatic_update(ctx: Ctx, p: P, payment_method: str) -> JSON:
    """Sandbox only: the card network reissued the card (Stripe's automatic card updater)."""
    forms.only(p, {"exp_month", "exp_year", "last4"})
    pm = load(ctx, "payment_method", payment_method)
    month = forms.integer(p, "exp_month")
    year = forms.integer(p, "exp_year")
    if month is None or year is None:
        raise required("exp_month" if month is None else "exp_year")
    if not 1 <= month <= 12:
        raise invalid("Invalid exp_month", param="exp_month")
    previous = {"card": {"exp_month": pm["card"]["exp_month"], "exp_year": pm["card"]["exp_year"]}}
    pm["card"]["exp_month"], pm["card"]["exp_year"] = month, year
    if last4 := forms.string(p, "last4"):
        previous["card"]["last4"] = pm["card"]["last4"]
        pm["card"]["last4"] = last4
    ctx.store.save(pm)
    ctx.emit("payment_method.automatically_updated", pm, previous)
    return pm


# setup intents ---------------------------------------------------------------------------
def create_setup_intent(ctx: Ctx, p: P) -> JSON:
    forms.only(
        p,
        {
            "customer",
            "payment_method",
            "confirm",
            "usage",
            "metadata",
            "description",
            "payment_method_types",
            "expand",
        },
    )
    forms.card_only(p)
    usage = forms.string(p, "usage") or "off_session"
    if usage not in ("off_session", "on_session"):
        raise invalid("Invalid usage: must be one of off_session, on_session", param="usage")
    seti = resources.setup_intent(
        ctx.ts,
        usage=usage,
        description=forms.string(p, "description") or None,
        metadata=forms.metadata(p),
    )
    if customer := forms.string(p, "customer"):
        seti["customer"] = load(ctx, "customer", customer, "customer")["id"]
    if pm_id := forms.string(p, "payment_method"):
        seti["payment_method"] = pm_id
        seti["status"] = "requires_confirmation"
    ctx.store.insert(seti)
    ctx.emit("setup_intent.created", seti)
    if forms.boolean(p, "confirm"):
        return confirm_setup(ctx, seti)
    return seti


def confirm_setup_intent(ctx: Ctx, p: P, setup_intent: str) -> JSON:
    forms.only(p, {"payment_method", "expand"})
    seti = load(ctx, "setup_intent", setup_intent)
    if seti["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise invalid(
            f"You cannot confirm this SetupIntent because it has a status of {seti['status']}.",
            code="setup_intent_unexpected_state",
        )
    if pm_id := forms.string(p, "payment_method"):
        seti["payment_method"] = pm_id
    return confirm_setup(ctx, seti)


def confirm_setup(ctx: Ctx, seti: JSON) -> JSON:
    pm_id = seti["payment_method"]
    if not pm_id:
        raise invalid(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            param="payment_method",
            code="setup_intent_unexpected_state",
        )
    pm = payment_method_for(ctx, pm_id, "payment_method")
    seti["payment_method"] = pm["id"]
    try:
        if seti["customer"] is not None:
            attach(ctx, pm["id"], load(ctx, "customer", seti["customer"]), "payment_method")
    except CardDeclined as declined:
        seti["status"] = "requires_payment_method"
        seti["last_setup_error"] = declined.body()["error"] | {"payment_method": pm}
        ctx.store.save(seti)
        ctx.emit("setup_intent.setup_failed", seti)
        declined.extra["setup_intent"] = seti
        raise
    seti["status"] = "succeeded"
    seti["last_setup_error"] = None
    ctx.store.save(seti)
    ctx.emit("setup_intent.succeeded", seti)
    return seti


def retrieve_setup_intent(ctx: Ctx, p: P, setup_intent: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "setup_intent", setup_intent)


# the customer's invoice balance ----------------------------------------------------------
def adjust_balance(
    ctx: Ctx, cus: JSON, amount: int, type_: str, *, currency: str, **fields: Any
) -> JSON:
    """Move the customer's balance by `amount` (negative: a credit the customer can spend,
    positive: a debit it owes) and record the move in its ledger. The balance is in one
    currency, the customer's (https://docs.stripe.com/billing/customer/balance)."""
    if cus["currency"] is None:
        cus["currency"] = currency
    elif cus["currency"] != currency:
        raise invalid(
            f"The customer's balance is in {cus['currency']}; it cannot take {currency}.",
            param="currency",
        )
    cus["balance"] += amount
    ctx.store.save(cus)
    txn = resources.customer_balance_transaction(ctx.ts, cus, amount, type=type_, **fields)
    ctx.store.insert(txn)
    # A draft's starting_balance is "the current customer balance" until it is finalized
    # (https://docs.stripe.com/api/invoices/object#invoice_object-starting_balance).
    for draft in ctx.store.query("invoice", {"customer": cus["id"], "status": "draft"}):
        if draft["currency"] == currency:
            draft["starting_balance"] = cus["balance"]
            ctx.store.save(draft)
    return txn


def create_balance_transaction(ctx: Ctx, p: P, customer: str) -> JSON:
    forms.only(p, {"amount", "currency", "description", "metadata", "expand"})
    cus = load(ctx, "customer", customer)
    amount = forms.integer(p, "amount")
    if amount is None:
        raise required("amount")
    currency = forms.string(p, "currency")
    if not currency:
        raise required("currency")
    return adjust_balance(
        ctx,
        cus,
        amount,
        "adjustment",
        currency=currency.lower(),
        description=forms.string(p, "description") or None,
        metadata=forms.metadata(p),
    )


def list_balance_transactions(ctx: Ctx, p: P, customer: str) -> JSON:
    forms.only(p, LIST_PARAMS)
    load(ctx, "customer", customer)
    url = f"/v1/customers/{customer}/balance_transactions"
    return paginate(ctx, p, "customer_balance_transaction", url, {"customer": customer})


def retrieve_balance_transaction(ctx: Ctx, p: P, customer: str, transaction: str) -> JSON:
    forms.only(p, {"expand"})
    txn = load(ctx, "customer_balance_transaction", transaction)
    if txn["customer"] != customer:
        raise missing("customer balance transaction", transaction)
    return txn
