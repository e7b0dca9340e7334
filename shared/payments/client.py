"""cspflow's door to Stripe: the official SDK's StripeClient, typed results, derived keys.

Every write carries an `Idempotency-Key` derived from the caller's step key
(`idempotency.derive_key`), so an activity retried by Durable Functions replays Stripe's first
answer instead of charging again. Card declines come back as outcomes carrying their dunning
class; Stripe refusing a request raises `PaymentRejected`; Stripe being unreachable raises
`PaymentsUnavailable` (the activity's retry policy handles it).

Payment attempts are counted from what Stripe charged: the charges of the PaymentIntents
behind the invoice's payments (`payment_attempts`, `PaymentOutcome.attempts`), one per
attempt that reached the card, whether cspflow or Stripe made it. The invoice's
`attempt_count` is never used for that: it counts for Stripe's retry schedule, where "any
payment attempt counts as the first attempt, and subsequently only automatic retries
increment the attempt count", so cspflow's own `/pay` retries leave it at 1
(https://docs.stripe.com/api/invoices/object#invoice_object-attempt_count).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import requests
import stripe
from stripe import StripeClient
from stripe.params import (
    CreditNoteCreateParams,
    CustomerCreateParams,
    CustomerUpdateParams,
    InvoiceCreateParams,
    InvoiceItemCreateParams,
    InvoicePayParams,
    RefundCreateParams,
)
from stripe.params.checkout import SessionCreateParams

from shared.config import Settings
from shared.errors import ConfigurationError
from shared.models.money import CurrencyMismatchError, Money, currency_exponent
from shared.proxies import TRUST_ENVIRONMENT

from .errors import PaymentRejected, PaymentsUnavailable
from .idempotency import derive_key
from .models import (
    AttachOutcome,
    Card,
    CardUpdateLink,
    ChargeLine,
    CreditNote,
    Customer,
    Decline,
    Invoice,
    InvoiceItem,
    IssueLine,
    PaymentOutcome,
    Refund,
    expandable_id,
)

PARTNER_CUSTOMER_KEY = "cspflow_customer_id"  # metadata key linking a Stripe customer to ours
INVOICE_KEY = "cspflow_invoice_id"  # metadata key naming the invoice of ours a Stripe one is
LINE_KEY = "cspflow_line"  # metadata key numbering the lines of an invoice cspflow issues
TAX_RATE_KEY = "cspflow_tax_key"  # metadata key naming the tax rates cspflow made


class StripePayments:
    def __init__(
        self,
        api_key: str,
        api_base: str,
        *,
        max_network_retries: int = 2,
        timeout_s: float = 30.0,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        if not api_key:
            raise ConfigurationError("a Stripe API key is required")
        # The SDK retries connection errors, 409 and 5xx with the same Idempotency-Key. Its
        # default 80 s timeout would outlast an activity's patience; 30 s is ample for Stripe.
        self._client = StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=max_network_retries,
            http_client=http_client or stripe.RequestsClient(timeout=timeout_s, session=_session()),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StripePayments:
        return cls(settings.stripe_api_key.get_secret_value(), str(settings.stripe_api_base))

    # customers ---------------------------------------------------------------------------
    def create_customer(
        self,
        step_key: str,
        *,
        partner_customer_id: str,
        name: str,
        email: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Customer:
        params: CustomerCreateParams = {
            "name": name,
            "metadata": {**(metadata or {}), PARTNER_CUSTOMER_KEY: partner_customer_id},
        }
        if email:
            params["email"] = email
        with _errors():
            cus = self._client.v1.customers.create(params, _key(step_key, "customer.create"))
        return _customer(cus)

    def update_customer(
        self,
        step_key: str,
        customer_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Customer:
        params: CustomerUpdateParams = {}
        if name is not None:
            params["name"] = name
        if email is not None:
            params["email"] = email
        if metadata:
            params["metadata"] = metadata
        with _errors():
            cus = self._client.v1.customers.update(
                customer_id, params, _key(step_key, "customer.update")
            )
        return _customer(cus)

    def get_customer(self, customer_id: str) -> Customer:
        with _errors():
            return _customer(self._client.v1.customers.retrieve(customer_id))

    def list_customers(self, limit: int = 10) -> list[Customer]:
        """The newest customers, one page (at most `limit`, Stripe allows 1..100)."""
        with _errors():
            page = self._client.v1.customers.list({"limit": limit})
        return [_customer(cus) for cus in page.data]

    def all_customers(self, page_size: int = 100) -> Iterator[Customer]:
        """Every customer of the account, newest first, `page_size` (1..100) per request
        (https://docs.stripe.com/api/customers/list, paged with `starting_after`)."""
        with _errors():
            pages = self._client.v1.customers.list({"limit": page_size}).auto_paging_iter()
            for cus in pages:
                yield _customer(cus)

    # payment methods ---------------------------------------------------------------------
    def attach_payment_method(
        self, step_key: str, customer_id: str, payment_method_id: str, *, make_default: bool = True
    ) -> AttachOutcome:
        """Save a card for the customer (and make it the invoices' default); a refused card
        comes back as the decline."""
        with _errors():
            try:
                pm = self._client.v1.payment_methods.attach(
                    payment_method_id,
                    {"customer": customer_id},
                    _key(step_key, "payment_method.attach"),
                )
            except stripe.CardError as exc:
                return AttachOutcome(card=None, decline=_decline(exc))
            if make_default:
                self._client.v1.customers.update(
                    customer_id,
                    {"invoice_settings": {"default_payment_method": pm.id}},
                    _key(step_key, "customer.default_payment_method"),
                )
        return AttachOutcome(
            card=_card(pm.to_dict(), default_id=pm.id if make_default else None), decline=None
        )

    def card_update_link(
        self,
        step_key: str,
        customer_id: str,
        *,
        success_url: str,
        cancel_url: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> CardUpdateLink:
        """A Checkout page (setup mode) for a customer whose card was refused or expires.
        When it completes, `checkout.session.completed` arrives; then `complete_card_update`."""
        params: SessionCreateParams = {
            "mode": "setup",
            "customer": customer_id,
            "success_url": success_url,
            "allowed_payment_method_types": ["card"],
            "metadata": metadata or {},
            "setup_intent_data": {"metadata": metadata or {}},
        }
        if cancel_url:
            params["cancel_url"] = cancel_url
        with _errors():
            session = self._client.v1.checkout.sessions.create(
                params, _key(step_key, "checkout.session.create")
            )
        return CardUpdateLink.model_validate(
            {"session_id": session.id, "url": session.url, "expires_at": session.expires_at}
        )

    def setup_intent_of_session(self, session_id: str) -> str | None:
        """The SetupIntent a Checkout session in setup mode made (None until it completes)."""
        with _errors():
            session = self._client.v1.checkout.sessions.retrieve(session_id)
        return expandable_id(session.setup_intent)

    def complete_card_update(self, step_key: str, setup_intent_id: str) -> Card:
        """Make the card saved through a card update link the default for invoices."""
        with _errors():
            seti = self._client.v1.setup_intents.retrieve(setup_intent_id)
            pm_id = expandable_id(seti.payment_method)
            customer_id = expandable_id(seti.customer)
            if seti.status != "succeeded" or pm_id is None or customer_id is None:
                raise PaymentRejected(
                    f"setup intent {setup_intent_id} has not saved a card ({seti.status})",
                    status=None,
                    code="setup_intent_unexpected_state",
                    param="setup_intent",
                )
            self._client.v1.customers.update(
                customer_id,
                {"invoice_settings": {"default_payment_method": pm_id}},
                _key(step_key, "customer.default_payment_method"),
            )
            pm = self._client.v1.payment_methods.retrieve(pm_id)
        return _card(pm.to_dict(), default_id=pm_id)

    def set_default_card(self, step_key: str, customer_id: str, payment_method_id: str) -> None:
        """Make a card already saved for the customer the one its invoices are charged to
        (`invoice_settings.default_payment_method`)."""
        with _errors():
            self._client.v1.customers.update(
                customer_id,
                {"invoice_settings": {"default_payment_method": payment_method_id}},
                _key(step_key, "customer.default_payment_method"),
            )

    def list_cards(self, customer_id: str) -> list[Card]:
        """Every card saved for the customer, with expiry and which one invoices use."""
        with _errors():
            cus = self._client.v1.customers.retrieve(customer_id)
            default = cus.invoice_settings.default_payment_method if cus.invoice_settings else None
            default_id = default if isinstance(default, str) or default is None else default.id
            page = self._client.v1.customers.payment_methods.list(
                customer_id, {"type": "card", "limit": 100}
            )
            return [_card(pm.to_dict(), default_id=default_id) for pm in page.auto_paging_iter()]

    # invoices ----------------------------------------------------------------------------
    def create_invoice(
        self,
        step_key: str,
        customer_id: str,
        *,
        currency: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        days_until_due: int | None = None,
    ) -> Invoice:
        """A draft invoice. Charged automatically unless `days_until_due` makes it a sent one."""
        params: InvoiceCreateParams = {
            "customer": customer_id,
            "currency": _currency(currency),
            "auto_advance": False,  # cspflow decides when to finalize and collect
            "pending_invoice_items_behavior": "exclude",
            "metadata": metadata or {},
        }
        if description:
            params["description"] = description
        if days_until_due is not None:
            params["collection_method"] = "send_invoice"
            params["days_until_due"] = days_until_due
        with _errors():
            inv = self._client.v1.invoices.create(params, _key(step_key, "invoice.create"))
        return _invoice(inv)

    def add_invoice_item(
        self,
        step_key: str,
        customer_id: str,
        *,
        invoice_id: str | None,
        amount: Money | int,
        currency: str | None = None,
        description: str,
        period: tuple[datetime, datetime] | None = None,
        metadata: dict[str, str] | None = None,
        operation: str = "invoiceitem.create",
    ) -> InvoiceItem:
        """A line for the customer's invoice (`invoice_id`) or next one. `amount` is Money, or
        integer minor units with `currency` (negative for a discount or credit)."""
        minor, code = _amount(amount, currency)
        params: InvoiceItemCreateParams = {
            "customer": customer_id,
            "amount": minor,
            "currency": code,
            "description": description,
            "metadata": metadata or {},
        }
        if invoice_id:
            params["invoice"] = invoice_id
        if period is not None:
            params["period"] = {
                "start": int(period[0].timestamp()),
                "end": int(period[1].timestamp()),
            }
        with _errors():
            item = self._client.v1.invoice_items.create(params, _key(step_key, operation))
        return InvoiceItem.model_validate(
            {
                **item.to_dict(),
                "customer_id": expandable_id(item.customer),
                "invoice_id": expandable_id(item.invoice),
            }
        )

    def finalize_invoice(self, step_key: str, invoice_id: str) -> Invoice:
        with _errors():
            inv = self._client.v1.invoices.finalize_invoice(
                invoice_id, {"auto_advance": False}, _key(step_key, "invoice.finalize")
            )
        return _invoice(inv)

    def pay_invoice(
        self, step_key: str, invoice_id: str, *, payment_method_id: str | None = None
    ) -> PaymentOutcome:
        """Collect an open invoice now, off session. Use a new step key for each retry."""
        params: InvoicePayParams = {"off_session": True}
        if payment_method_id:
            params["payment_method"] = payment_method_id
        with _errors():
            try:
                inv = self._client.v1.invoices.pay(
                    invoice_id, params, _key(step_key, "invoice.pay")
                )
            except stripe.CardError as exc:
                decline = _decline(exc)
                invoice = _invoice(self._client.v1.invoices.retrieve(invoice_id))
                return PaymentOutcome(
                    invoice=invoice,
                    decline=decline,
                    payment_intent_id=decline.payment_intent_id,
                    attempts=self._count_attempts(invoice_id),
                )
            except stripe.InvalidRequestError:
                # Paid meanwhile (the customer used the pay link, or an earlier attempt whose
                # answer was lost succeeded): that is the outcome a retry wants, not an error.
                current = self._client.v1.invoices.retrieve(invoice_id)
                if current.status != "paid":
                    raise
                inv = current
            return PaymentOutcome(
                invoice=_invoice(inv),
                decline=None,
                payment_intent_id=self._payment_intent_of(inv.id),
                attempts=self._count_attempts(invoice_id),
            )

    def payment_attempts(self, invoice_id: str) -> int:
        """How many times payment of the invoice was attempted, by anyone: the charges of the
        PaymentIntents behind its payments (not Stripe's `attempt_count`, see above)."""
        with _errors():
            return self._count_attempts(invoice_id)

    def creditable_invoice(self, customer_id: str, amount: Money) -> Invoice | None:
        """The customer's most recent paid invoice in `amount`'s currency with at least
        `amount` not yet credited after payment (paid less its post-payment credit notes):
        where a decrease's credit note goes. None: no such invoice."""
        with _errors():
            page = self._client.v1.invoices.list(
                {"customer": customer_id, "status": "paid", "limit": 100}
            )
            for inv in page.auto_paging_iter():
                data = inv.to_dict()
                credited = int(data.get("post_payment_credit_notes_amount") or 0)
                if (
                    str(data.get("currency", "")).upper() == amount.currency
                    and int(data.get("amount_paid") or 0) - credited >= amount.amount_minor
                ):
                    return _invoice(inv)
        return None

    def get_invoice(self, invoice_id: str) -> Invoice:
        with _errors():
            return _invoice(self._client.v1.invoices.retrieve(invoice_id))

    def void_invoice(self, step_key: str, invoice_id: str) -> Invoice:
        with _errors():
            return _invoice(
                self._client.v1.invoices.void_invoice(
                    invoice_id, None, _key(step_key, "invoice.void")
                )
            )

    def send_invoice(self, step_key: str, invoice_id: str) -> Invoice:
        """Send a `send_invoice` invoice (a draft is finalized first) for the customer to pay
        by its due date (https://docs.stripe.com/api/invoices/send)."""
        with _errors():
            return _invoice(
                self._client.v1.invoices.send_invoice(
                    invoice_id, None, _key(step_key, "invoice.send")
                )
            )

    def mark_uncollectible(self, step_key: str, invoice_id: str) -> Invoice:
        """Write an open invoice off (https://docs.stripe.com/api/invoices/mark_uncollectible):
        it stays payable, so a late payment still lands."""
        with _errors():
            return _invoice(
                self._client.v1.invoices.mark_uncollectible(
                    invoice_id, None, _key(step_key, "invoice.mark_uncollectible")
                )
            )

    def last_decline(self, invoice_id: str) -> Decline | None:
        """Why the invoice's latest payment attempt failed (for `invoice.payment_failed`)."""
        with _errors():
            pi_id = self._payment_intent_of(invoice_id)
            if pi_id is None:
                return None
            pi = self._client.v1.payment_intents.retrieve(pi_id)
            error = pi.last_payment_error
            if error is None:
                return None
            return Decline.from_error({**error.to_dict(), "payment_intent": pi.id})

    def pay_link(self, invoice_id: str) -> str:
        """The hosted page where the customer pays an open invoice with any card."""
        invoice = self.get_invoice(invoice_id)
        if invoice.status != "open" or invoice.hosted_invoice_url is None:
            raise PaymentRejected(
                f"invoice {invoice_id} is {invoice.status}; only an open invoice has a pay link",
                status=None,
                code="invoice_not_open",
                param="invoice",
            )
        return invoice.hosted_invoice_url

    def charge_now(
        self,
        step_key: str,
        customer_id: str,
        *,
        currency: str,
        lines: list[ChargeLine],
        description: str,
        metadata: dict[str, str] | None = None,
    ) -> PaymentOutcome:
        """A one-off invoice (a prorated mid-term change, say) created, finalized and charged
        in one go. Each write has its own derived key, so a retry resumes where it stopped."""
        if not lines:
            raise ValueError("a charge needs at least one line")
        for line in lines:
            if line.currency is not None:
                _amount(Money(amount_minor=line.amount, currency=line.currency), currency)
        invoice = self.create_invoice(
            step_key, customer_id, currency=currency, description=description, metadata=metadata
        )
        for i, line in enumerate(lines):
            period = (
                (line.period_start, line.period_end)
                if line.period_start is not None and line.period_end is not None
                else None
            )
            self.add_invoice_item(
                step_key,
                customer_id,
                invoice_id=invoice.id,
                amount=line.amount,
                currency=currency,
                description=line.description,
                period=period,
                metadata=metadata,
                operation=f"invoiceitem.create.{i}",
            )
        self.finalize_invoice(step_key, invoice.id)
        return self.pay_invoice(step_key, invoice.id)

    # invoices cspflow issues (the billing run) -------------------------------------------
    def tax_rate(self, *, key: str, percentage: Decimal, display_name: str) -> str:
        """The id of the active exclusive tax rate cspflow made under `key`, made once: an
        existing one is found by its metadata (a tax rate cannot change its percentage, so
        the key names it: `NL-21`), else created with an idempotency key derived from `key`
        (https://docs.stripe.com/api/tax_rates/create)."""
        with _errors():
            for rate in self._client.v1.tax_rates.list(
                {"active": True, "limit": 100}
            ).auto_paging_iter():
                if _meta(rate).get(TAX_RATE_KEY) == key and not rate.inclusive:
                    return rate.id
            created = self._client.v1.tax_rates.create(
                {
                    "display_name": display_name,
                    "percentage": float(percentage),
                    "inclusive": False,
                    "metadata": {TAX_RATE_KEY: key},
                },
                _key(f"tax-rate/{key}", "tax_rate.create"),
            )
            return created.id

    def find_invoice(self, customer_id: str, invoice_key: str) -> Invoice | None:
        """The customer's Stripe invoice whose metadata names cspflow's `invoice_key`, if
        any (the customer's latest 100 invoices)."""
        with _errors():
            page = self._client.v1.invoices.list({"customer": customer_id, "limit": 100})
            for inv in page.data:
                if _meta(inv).get(INVOICE_KEY) == invoice_key:
                    return _invoice(inv)
        return None

    def issue_invoice(
        self,
        step_key: str,
        customer_id: str,
        *,
        invoice_key: str,
        currency: str,
        lines: list[IssueLine],
        description: str | None = None,
        footer: str | None = None,
        days_until_due: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Invoice:
        """cspflow's invoice `invoice_key` in Stripe, finalized: found by its metadata if an
        earlier attempt made it (whatever the age of its idempotency keys), else created;
        the lines it lacks added (numbered in their metadata), then finalized. Not paid or
        sent: `pay_invoice` or `send_invoice` collects it."""
        if not lines:
            raise ValueError("an invoice needs at least one line")
        tags = {**(metadata or {}), INVOICE_KEY: invoice_key}
        existing = self.find_invoice(customer_id, invoice_key)
        if existing is None:
            params: InvoiceCreateParams = {
                "customer": customer_id,
                "currency": _currency(currency),
                "auto_advance": False,
                "pending_invoice_items_behavior": "exclude",
                "metadata": tags,
            }
            if description:
                params["description"] = description[:5000]
            if footer:
                params["footer"] = footer[:5000]
            if days_until_due is not None:
                params["collection_method"] = "send_invoice"
                params["days_until_due"] = days_until_due
            with _errors():
                existing = _invoice(
                    self._client.v1.invoices.create(params, _key(step_key, "invoice.create"))
                )
        if existing.status != "draft":
            return existing
        with _errors():
            have = {
                _meta(line).get(LINE_KEY)
                for line in self._client.v1.invoices.line_items.list(
                    existing.id, {"limit": 100}
                ).auto_paging_iter()
            }
            for n, line in enumerate(lines):
                if str(n) in have:
                    continue
                item: InvoiceItemCreateParams = {
                    "customer": customer_id,
                    "invoice": existing.id,
                    "amount": _minor(line.amount),
                    "currency": _currency(currency),
                    "description": line.description,
                    "period": {
                        "start": int(line.period_start.timestamp()),
                        "end": int(line.period_end.timestamp()),
                    },
                    "metadata": {**line.metadata, INVOICE_KEY: invoice_key, LINE_KEY: str(n)},
                }
                if line.tax_rate_ids:
                    item["tax_rates"] = list(line.tax_rate_ids)
                self._client.v1.invoice_items.create(item, _key(step_key, f"invoiceitem.{n}"))
        return self.finalize_invoice(step_key, existing.id)

    # refunds and credits -----------------------------------------------------------------
    def credit_invoice(
        self,
        step_key: str,
        invoice_id: str,
        *,
        amount: Money | int,
        description: str,
        reason: Literal["order_change", "duplicate", "product_unsatisfactory"] = "order_change",
        refund: bool = True,
    ) -> CreditNote:
        """A credit note for a decrease: on an open invoice it lowers what is due; on a paid
        one it refunds the card (`refund=True`) or credits the customer's balance."""
        invoice = self.get_invoice(invoice_id)
        minor, _ = _amount(amount, invoice.currency)
        params: CreditNoteCreateParams = {
            "invoice": invoice_id,
            "lines": [
                {
                    "type": "custom_line_item",
                    "unit_amount": minor,
                    "quantity": 1,
                    "description": description,
                }
            ],
            "reason": reason,
        }
        if invoice.status == "paid":
            params["refund_amount" if refund else "credit_amount"] = minor
        with _errors():
            cn = self._client.v1.credit_notes.create(params, _key(step_key, "credit_note.create"))
        data = cn.to_dict()
        return CreditNote.model_validate(
            {
                **data,
                "invoice_id": expandable_id(cn.invoice),
                "refund_ids": tuple(expandable_id(r["refund"]) for r in data.get("refunds") or []),
            }
        )

    def refund_payment(
        self, step_key: str, payment_intent_id: str, *, amount: Money | int | None = None
    ) -> Refund:
        """Refund all of a payment, or `amount` of it (in the payment's currency)."""
        params: RefundCreateParams = {
            "payment_intent": payment_intent_id,
            "reason": "requested_by_customer",
        }
        with _errors():
            if isinstance(amount, Money):
                paid_in = self._client.v1.payment_intents.retrieve(payment_intent_id).currency
                params["amount"] = _amount(amount, paid_in)[0]
            elif amount is not None:
                params["amount"] = _minor(amount)
            re = self._client.v1.refunds.create(params, _key(step_key, "refund.create"))
        return Refund.model_validate(
            {
                **re.to_dict(),
                "payment_intent_id": expandable_id(re.payment_intent),
                "charge_id": expandable_id(re.charge),
            }
        )

    # events and charges (event intake) --------------------------------------------------
    def events_after(
        self, event_id: str | None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], bool]:
        """The events created after `event_id`, oldest first, at most `limit` (1..100), and
        whether more follow. Without `event_id`: the newest `limit` events. Stripe lists
        newest first; `ending_before` pages toward newer events
        (https://docs.stripe.com/api/pagination), so the next call passes the last one here."""
        params: dict[str, Any] = {"limit": limit}
        if event_id is not None:
            params["ending_before"] = event_id
        with _errors():
            page = self._client.v1.events.list(params)  # type: ignore[arg-type]
        return [evt.to_dict() for evt in reversed(page.data)], bool(page.has_more)

    def retrieve_event(self, event_id: str) -> dict[str, Any]:
        with _errors():
            return self._client.v1.events.retrieve(event_id).to_dict()

    def charge_customer(self, charge_id: str) -> str | None:
        """The Stripe customer a charge was made to (a dispute names only its charge)."""
        with _errors():
            charge = self._client.v1.charges.retrieve(charge_id)
        return expandable_id(charge.customer)

    def _count_attempts(self, invoice_id: str) -> int:
        payments = self._client.v1.invoice_payments.list({"invoice": invoice_id, "limit": 100})
        intents = {
            pi_id
            for payment in payments.auto_paging_iter()
            if (pi_id := expandable_id(payment.payment.payment_intent)) is not None
        }
        return sum(
            1
            for pi_id in sorted(intents)
            for _ in self._client.v1.charges.list(
                {"payment_intent": pi_id, "limit": 100}
            ).auto_paging_iter()
        )

    def _payment_intent_of(self, invoice_id: str) -> str | None:
        payments = self._client.v1.invoice_payments.list({"invoice": invoice_id, "limit": 1})
        for payment in payments.data:
            return expandable_id(payment.payment.payment_intent)
        return None


# helpers ---------------------------------------------------------------------------------
def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = TRUST_ENVIRONMENT  # proxies read once (shared/proxies.py)
    return session


def _meta(obj: stripe.StripeObject) -> dict[str, str]:
    return dict(obj.to_dict().get("metadata") or {})


def _key(step_key: str, operation: str) -> stripe.RequestOptions:
    return {"idempotency_key": derive_key(step_key, operation)}


def _minor(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amounts are integer minor units (or Money)")
    return amount


def _currency(code: str) -> str:
    """Stripe's lower-case spelling of an active ISO 4217 code; a typo fails before sending."""
    upper = code.strip().upper()
    currency_exponent(upper)  # ValueError naming the code when it is not one
    return upper.lower()


def _amount(amount: Money | int, currency: str | None) -> tuple[int, str]:
    """Minor units and Stripe's currency, from Money (whose currency must agree with
    `currency` when both are given) or from an int and its currency."""
    if isinstance(amount, Money):
        if currency is not None and _currency(currency) != amount.currency.lower():
            raise CurrencyMismatchError(f"{amount} where {currency.upper()} is expected")
        return amount.amount_minor, amount.currency.lower()
    if currency is None:
        raise ValueError("an amount in minor units needs its currency")
    return _minor(amount), _currency(currency)


@contextmanager
def _errors() -> Iterator[None]:
    """Stripe's exceptions become the adapter's: transient vs refused."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise PaymentsUnavailable(str(exc.user_message or exc)) from exc
    except stripe.CardError:
        raise
    except (
        stripe.InvalidRequestError,
        stripe.IdempotencyError,
        stripe.AuthenticationError,
        stripe.PermissionError,
    ) as exc:
        error = exc.error
        raise PaymentRejected(
            str(exc.user_message or exc),
            status=exc.http_status,
            code=exc.code or (error.type if error else None),
            param=getattr(error, "param", None) if error else None,
        ) from exc
    except stripe.StripeError as exc:  # APIError: Stripe's own failure, safe to retry
        raise PaymentsUnavailable(str(exc.user_message or exc)) from exc


def _decline(exc: stripe.CardError) -> Decline:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    return Decline.from_error(error if isinstance(error, dict) else {"message": str(exc)})


def _customer(cus: stripe.Customer) -> Customer:
    data = cus.to_dict()
    default = (data.get("invoice_settings") or {}).get("default_payment_method")
    return Customer.model_validate(
        {
            **data,
            "partner_customer_id": (data.get("metadata") or {}).get(PARTNER_CUSTOMER_KEY),
            "default_payment_method_id": expandable_id(default),
        }
    )


def _card(pm: dict[str, Any], *, default_id: str | None) -> Card:
    card = pm.get("card") or {}
    return Card(
        payment_method_id=pm["id"],
        customer_id=expandable_id(pm.get("customer")),
        brand=card.get("brand", "unknown"),
        last4=card.get("last4", ""),
        exp_month=card["exp_month"],
        exp_year=card["exp_year"],
        is_default=pm["id"] == default_id,
    )


def _invoice(inv: stripe.Invoice) -> Invoice:
    data = inv.to_dict()
    return Invoice.model_validate({**data, "customer_id": expandable_id(data.get("customer"))})
