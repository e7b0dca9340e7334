"""Checkout Sessions in setup mode: the hosted page where a customer saves a new card.

cspflow sends this link when a card is refused for good or about to expire. Completing the
page confirms the session's SetupIntent (attaching the card to the customer) and emits
`checkout.session.completed`; making the card the default is the merchant's next step, as in
Stripe's "set up future payments" guide. Payment and subscription modes are not simulated.
"""

from __future__ import annotations

from typing import Any

from . import forms, resources
from .context import CardDeclined, Ctx
from .customers import confirm_setup, payment_method_for
from .errors import invalid, required
from .listing import load

JSON = dict[str, Any]
P = forms.Params

_PARAMS = {
    "mode",
    "customer",
    "success_url",
    "cancel_url",
    "currency",
    "allowed_payment_method_types",
    "payment_method_types",
    "metadata",
    "client_reference_id",
    "setup_intent_data",
    "expand",
}


def create_session(ctx: Ctx, p: P) -> JSON:
    forms.only(p, _PARAMS)
    forms.card_only(p)
    forms.card_only(p, "allowed_payment_method_types")
    mode = forms.string(p, "mode")
    if not mode:
        raise required("mode")
    if mode != "setup":
        raise invalid(
            f"The sandbox simulates Checkout in setup mode only, not {mode!r}.", param="mode"
        )
    if not (
        p.get("currency") or p.get("allowed_payment_method_types") or p.get("payment_method_types")
    ):
        raise invalid(
            "`currency` is required in setup mode when `allowed_payment_method_types` is not set.",
            param="currency",
        )
    success_url = forms.string(p, "success_url")
    if not success_url:
        raise required("success_url")
    customer = forms.string(p, "customer")
    if not customer:
        raise required("customer")
    cus = load(ctx, "customer", customer, "customer")
    data = forms.obj(p, "setup_intent_data") or {}
    for key in data:
        if key not in ("metadata", "description"):
            raise invalid(
                f"Received unknown parameter: setup_intent_data[{key}]",
                param=f"setup_intent_data[{key}]",
            )
    seti = resources.setup_intent(
        ctx.ts,
        customer=cus["id"],
        description=forms.string(data, "description") or None,
        metadata=forms.metadata(data),
    )
    ctx.store.insert(seti)
    ctx.emit("setup_intent.created", seti)
    session = resources.checkout_session(
        ctx.ts,
        base_url=ctx.base_url,
        customer=cus["id"],
        customer_email=cus["email"],
        success_url=success_url,
        cancel_url=forms.string(p, "cancel_url") or None,
        currency=(forms.string(p, "currency") or "").lower() or None,
        client_reference_id=forms.string(p, "client_reference_id") or None,
        metadata=forms.metadata(p),
        setup_intent=seti["id"],
    )
    ctx.store.insert(session)
    return session


def retrieve_session(ctx: Ctx, p: P, session: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "checkout.session", session)


def expire_if_due(ctx: Ctx, session_id: str) -> JSON:
    """Sessions expire 24 hours after creation (Stripe's default), on the shared clock."""
    session = load(ctx, "checkout.session", session_id)
    if session["status"] == "open" and ctx.ts >= session["expires_at"]:
        session["status"] = "expired"
        ctx.store.save(session)
        ctx.emit("checkout.session.expired", session)
    return session


def complete(ctx: Ctx, session_id: str, payment_method: str) -> JSON:
    """The customer submits the hosted page with a card (a test token)."""
    session = load(ctx, "checkout.session", session_id)
    if session["status"] != "open":
        raise invalid(f"This Checkout Session is {session['status']}.", param="session")
    if not payment_method:
        raise required("payment_method")
    seti = load(ctx, "setup_intent", session["setup_intent"])
    seti["payment_method"] = payment_method_for(ctx, payment_method, "payment_method")["id"]
    try:
        confirm_setup(ctx, seti)
    except CardDeclined as declined:  # the page shows the decline; the session stays open
        raise declined.rolled_back() from None
    session["status"] = "complete"
    ctx.store.save(session)
    ctx.emit("checkout.session.completed", session)
    return session
