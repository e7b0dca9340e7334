"""What Stripe does to invoices on its own as time passes, run on the sandbox clock.

Every `poll_s` the runner reads the clock and advances each invoice that has something due
(schedule.py says when): a draft with `auto_advance` is finalized at
`automatically_finalizes_at`; an open, automatically charged invoice with `auto_advance` is
charged at `next_payment_attempt` (the first attempt, then the retries); an open invoice with a
due date gets `invoice.will_be_due` before it and `invoice.overdue` after it. Each invoice is
advanced in its own transaction, with no request behind it (the events' `request.id` is null,
as for Stripe's own actions). A virtual clock that jumps past several due moments is caught up
one step per round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

import requests

from sandbox.common.clock import Clock

from . import invoicing
from .context import CardDeclined, Ctx
from .errors import StripeError
from .listing import load
from .schedule import BillingSchedule
from .store import JSON, Store

log = logging.getLogger(__name__)


def due_invoices(store: Store, now: int, schedule: BillingSchedule) -> list[str]:
    """The ids of the invoices with something to do at `now` (Unix seconds)."""
    ids = []
    for inv, _ in store.query_with_extra("invoice", {"status": "draft", "auto_advance": True}):
        at = inv["automatically_finalizes_at"]
        if at is not None and at <= now:
            ids.append(inv["id"])
    for inv, extra in store.query_with_extra("invoice", {"status": "open"}):
        if _attempt_due(inv, now) or _reminder_due(inv, extra, now, schedule) is not None:
            ids.append(inv["id"])
    return ids


def _attempt_due(inv: JSON, now: int) -> bool:
    at = inv["next_payment_attempt"]
    return (
        at is not None
        and at <= now
        and bool(inv["auto_advance"])
        and inv["collection_method"] == "charge_automatically"
    )


def _reminder_due(inv: JSON, extra: JSON, now: int, schedule: BillingSchedule) -> str | None:
    """The reminder event due for the invoice at `now`, if any."""
    due = inv["due_date"]
    if due is None:
        return None
    before = int(schedule.will_be_due_before.total_seconds())
    if before and "will_be_due" not in extra and now >= due - before:
        return "invoice.will_be_due"
    if "overdue" not in extra and now >= due + int(schedule.overdue_after.total_seconds()):
        return "invoice.overdue"
    return None


def advance(ctx: Ctx, invoice_id: str) -> None:
    """Do what is due for one invoice at `ctx.now`."""
    inv = ctx.store.get(invoice_id)
    if inv is None or inv.get("object") != "invoice":
        return
    if inv["status"] == "draft":
        at = inv["automatically_finalizes_at"]
        if inv["auto_advance"] and at is not None and at <= ctx.ts:
            invoicing.finalize(ctx, inv)
        return
    if inv["status"] != "open":
        return
    if _attempt_due(inv, ctx.ts):
        _automatic_attempt(ctx, inv)
    if inv["status"] == "open":
        _remind(ctx, inv)


def _automatic_attempt(ctx: Ctx, inv: JSON) -> None:
    cus = load(ctx, "customer", inv["customer"])
    pm_id = invoicing.default_payment_method(inv, cus)
    first = not inv["attempted"]
    if pm_id is None or pm_id == ctx.store.extra(inv["id"]).get("hard_declined"):
        # Nothing Stripe may charge: no payment method, or only the one a hard decline
        # refused. The attempt counts; a retry is skipped until a new method is there.
        before = invoicing.snapshot(inv)
        invoicing.record_failure(ctx, inv, first=first, automatic=True, hard_pm=None)
        ctx.store.save(inv)
        if first:
            ctx.emit("invoice.payment_failed", inv)
        invoicing.emit_updated(ctx, inv, before)
        return
    pm = load(ctx, "payment_method", pm_id)
    # A decline is recorded on the invoice, which says when the next retry comes.
    with contextlib.suppress(CardDeclined):
        invoicing.collect(ctx, inv, cus, pm, off_session=True, automatic=True)


def _remind(ctx: Ctx, inv: JSON) -> None:
    extra = ctx.store.extra(inv["id"])
    changed = False
    while (kind := _reminder_due(inv, extra, ctx.ts, ctx.schedule)) is not None:
        key = kind.removeprefix("invoice.")
        finalized_at = inv["status_transitions"]["finalized_at"] or 0
        reminder_at = inv["due_date"] - int(ctx.schedule.will_be_due_before.total_seconds())
        if kind == "invoice.will_be_due" and (
            ctx.ts >= inv["due_date"] or reminder_at < finalized_at
        ):
            extra[key] = "skipped"  # the due date is here, or was that close when sent
        else:
            ctx.emit(kind, inv)
            extra[key] = ctx.ts
        changed = True
    if changed:
        ctx.store.set_extra(inv["id"], extra)


class Automation:
    """The runner: one task beside the HTTP server, stopped by cancelling it."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        make_ctx: Callable[[datetime], Ctx],
        *,
        poll_s: float = 0.1,
    ) -> None:
        self._store = store
        self._clock = clock
        self._make_ctx = make_ctx
        self._poll_s = poll_s

    def tick(self, now: datetime) -> int:
        """Advance every invoice with something due at `now`; how many there were."""
        ctx = self._make_ctx(now)
        ids = due_invoices(self._store, ctx.ts, ctx.schedule)
        for invoice_id in ids:
            try:
                with self._store.transaction():
                    advance(self._make_ctx(now), invoice_id)
            except StripeError as exc:  # a state this invoice cannot leave: say so, go on
                log.warning("stripe sandbox: invoice %s not advanced: %s", invoice_id, exc)
        return len(ids)

    async def run(self) -> None:
        clock_down = False
        while True:
            try:
                now = await asyncio.to_thread(self._clock.now)
                clock_down = False
                self.tick(now)
            except asyncio.CancelledError:
                raise
            except requests.RequestException as exc:
                if not clock_down:
                    log.warning("stripe sandbox: waiting for the clock (%s)", exc)
                clock_down = True
            except Exception:  # keep going: one bad round must not stop automatic collection
                log.exception("stripe sandbox: invoice automation round failed")
            await asyncio.sleep(self._poll_s)
