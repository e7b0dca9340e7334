"""What Microsoft charges the partner: the ledger, monthly invoices and their line items.

Charges follow the new commerce reconciliation file
(https://learn.microsoft.com/en-us/partner-center/billing/modern-invoice-reconciliation-file) and its charge types
(https://learn.microsoft.com/en-us/partner-center/billing/recon-file-charge-types): new, addQuantity,
removeQuantity, moveQuantity, cycleCharge, renew, cancelImmediate, convert and
changeBillingPlan, priced by the day against the billing cycle, subtotal =
ROUNDDOWN(effectiveUnitPrice, 2) x quantity (the exchange rate is 1: the sandbox bills in
its pricing currency). Trials are not charged.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sandbox.partner_center import catalog, rules
from sandbox.partner_center.errors import not_found
from sandbox.partner_center.notifications import Notifier
from sandbox.partner_center.store import Doc, Store

# Invoices and reconciliation files of a calendar month are published "between the sixth
# and eighth days of the following month"
# (https://learn.microsoft.com/en-us/partner-center/billing/common-billing-scenarios-onetime-recurring):
# by default the sandbox publishes on the 8th, the latest a client must be ready for.
DEFAULT_INVOICE_DAY = 8


class Ledger:
    def __init__(
        self, store: Store, partner_tenant_id: str, invoice_day: int = DEFAULT_INVOICE_DAY
    ) -> None:
        if not 1 <= invoice_day <= 28:
            raise ValueError("the invoice day is a day of the month, 1..28")
        self.store = store
        self.partner_tenant_id = partner_tenant_id
        self.invoice_day = invoice_day

    @staticmethod
    def cycle(sub: Doc) -> tuple[date, date, date]:
        """The current billing cycle: its start, its full inclusive end and its actual end
        (cut short by a coterminous term end). Cycles count from the term start (or from the
        cycle a billing-plan change began, `cycleAnchor`), so a term begun on the 31st keeps
        coming back to the 31st instead of drifting."""
        months = catalog.CYCLE_MONTHS[sub["billingCycle"]]
        anchor = sub.get("cycleAnchor")
        first = (
            date.fromisoformat(anchor)
            if anchor
            else rules.parse_iso(sub["effectiveStartDate"]).date()
        )
        start = rules.add_months(first, sub["cycleIndex"] * months)
        full_end = rules.add_months(first, (sub["cycleIndex"] + 1) * months) - timedelta(days=1)
        return start, full_end, min(full_end, date.fromisoformat(sub["commitmentEndDate"]))

    def cycle_end(self, sub: Doc) -> date:
        return self.cycle(sub)[2]

    def charge(
        self,
        sub: Doc,
        customer: Doc,
        charge_type: str,
        quantity: int,
        now: datetime,
        at: date,
        *,
        credit: bool = False,
    ) -> None:
        """Charge `quantity` seats of `sub` from `at` to the end of its billing cycle;
        removeQuantity and cancelImmediate (and any `credit`) are credits."""
        offer = catalog.BY_ID[sub["offerId"]]
        if offer.is_trial:
            return  # trials are free: Microsoft charges nothing for them
        price = catalog.price_per_cycle(offer, sub["termDuration"], sub["billingCycle"])
        # A promotion lowers the effective price; unitPrice stays the list price.
        paid = catalog.promoted(price, sub.get("promotionId"))
        cycle_start, full_end, cycle_end = self.cycle(sub)
        # A charge covers `at` to the cycle's end, priced by the day against the full cycle
        # (coterminous or upgraded terms get a shorter first cycle).
        effective = rules.prorate(
            paid, (full_end - cycle_start).days + 1, (cycle_end - at).days + 1
        )
        if credit or charge_type in ("removeQuantity", "cancelImmediate"):
            effective = -effective
        line = {
            "partnerId": self.partner_tenant_id,
            "customerId": sub["customerId"],
            "customerName": customer["companyProfile"]["companyName"],
            "customerDomainName": customer["companyProfile"]["domain"],
            "customerCountry": customer["billingProfile"]["defaultAddress"]["country"],
            "orderId": sub["orderId"],
            "orderDate": sub["creationDate"],
            "productId": offer.product_id,
            "skuId": offer.sku_id,
            "availabilityId": offer.availability_id,
            "productName": offer.title,
            "skuName": offer.title,
            "chargeType": charge_type,
            "unitPrice": str(price),
            "effectiveUnitPrice": str(effective),
            "unitType": "Licenses",
            "quantity": quantity,
            "billableQuantity": quantity,
            "subtotal": str(rules.subtotal(effective, quantity)),
            "taxTotal": "0.00",
            "totalForCustomer": str(rules.subtotal(effective, quantity)),
            "currency": "USD",
            "pricingCurrency": "USD",
            "pcToBCExchangeRate": "1",
            "subscriptionId": sub["id"],
            "subscriptionDescription": sub["friendlyName"],
            "subscriptionStartDate": sub["effectiveStartDate"],
            "subscriptionEndDate": rules.iso(
                rules.day_start(date.fromisoformat(sub["commitmentEndDate"]))
            ),
            "chargeStartDate": rules.iso(rules.day_start(at)),
            "chargeEndDate": rules.iso(rules.day_start(cycle_end)),
            "termAndBillingCycle": f"{catalog.TERM_DESCRIPTIONS[sub['termDuration']]} "
            f"for {sub['billingCycle']} billing",
            "billingFrequency": sub["billingCycle"].capitalize(),
            "publisherName": "Microsoft Corporation",
            "promotionId": sub.get("promotionId") or "",
            "invoiceLineItemType": "billing_line_items",
            "billingProvider": "one_time",
        }
        self.store.charge(rules.iso(now), line)

    def invoices(self) -> list[Doc]:
        return self.store.all("invoice")

    def invoice(self, invoice_id: str) -> Doc:
        found = self.store.get("invoice", invoice_id)
        if found is None:
            raise not_found("invoice")
        return found

    def line_items(self, invoice_id: str) -> list[Doc]:
        """The billed lines of one invoice."""
        self.invoice(invoice_id)
        return [{**line, "invoiceNumber": invoice_id} for line in self.store.ledger(invoice_id)]

    def period_lines(self, now: datetime, period: str) -> list[Doc]:
        """The lines of a billing period (a calendar month): `current` is this month's, not
        invoiced yet; `last` (`previous` in v1) is last month's, invoiced or not (between the
        1st and the invoice day it is not)."""
        this_month = rules.day_start(now.date().replace(day=1))
        if period == "current":
            return self.store.ledger_between(rules.iso(this_month), None)
        start = rules.day_start(rules.add_months(this_month.date(), -1))
        return self.store.ledger_between(rules.iso(start), rules.iso(this_month))

    def publish_at(self, month: date) -> datetime:
        """When the invoice of `month` (its first day) is published: the invoice day of the
        following month, 00:00 UTC."""
        return rules.day_start(rules.add_months(month, 1).replace(day=self.invoice_day))

    def _next_month(self, now: datetime) -> date:
        """The first month whose invoice is not published yet."""
        stored = self.store.meta("invoiced-through")
        if stored is not None:
            return date.fromisoformat(stored)
        this_month = now.date().replace(day=1)
        previous = rules.add_months(this_month, -1)
        first = previous if self.publish_at(previous) > now else this_month
        self.store.set_meta("invoiced-through", first.isoformat())
        return first

    def next_invoice_at(self, now: datetime) -> datetime:
        return self.publish_at(self._next_month(now))

    def close_months(self, now: datetime, notifier: Notifier) -> None:
        """Close each calendar month into an invoice on the invoice day of the next month and
        announce it (invoice-ready)."""
        month = self._next_month(now)
        while self.publish_at(month) <= now:
            following = rules.add_months(month, 1)
            issued = self.publish_at(month)
            number = self.store.next_number("invoice-number")
            invoice_id = f"G{number:09d}"
            count = self.store.bill(rules.iso(rules.day_start(following)), invoice_id)
            if count:
                lines = self.store.ledger(invoice_id)
                total = sum((Decimal(line["subtotal"]) for line in lines), Decimal(0))
                self.store.put(
                    "invoice",
                    invoice_id,
                    {
                        "id": invoice_id,
                        "invoiceDate": rules.iso(issued),
                        "billingPeriodStartDate": rules.iso(rules.day_start(month)),
                        "billingPeriodEndDate": rules.iso(
                            rules.day_start(following) - timedelta(seconds=1)
                        ),
                        "totalCharges": str(total),
                        "paidAmount": "0",
                        "currencyCode": "USD",
                        "currencySymbol": "$",
                        "documentType": "Invoice",
                        "invoiceType": "OneTime",
                        "invoiceDetails": [
                            {
                                "invoiceLineItemType": "BillingLineItems",
                                "billingProvider": "OneTime",
                                "links": {
                                    "self": _link(
                                        f"/invoices/{invoice_id}/lineitems/OneTime/BillingLineItems"
                                    )
                                },
                            }
                        ],
                        "links": {"self": _link(f"/invoices/{invoice_id}")},
                        "attributes": {"objectType": "Invoice"},
                    },
                )
                notifier.emit(
                    "invoice-ready",
                    "invoice",
                    f"{notifier.base_url}/v1/invoices/{invoice_id}",
                    issued,
                )
            self.store.set_meta("invoiced-through", following.isoformat())
            month = following


def _link(uri: str) -> Doc:
    return {"uri": uri, "method": "GET", "headers": []}
