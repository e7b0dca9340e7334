"""Tax rates (https://docs.stripe.com/api/tax_rates) and the tax they put on invoice lines.

A tax rate is a percentage, exclusive (added on top of the line) or inclusive (part of it).
An invoice item names its rates (`tax_rates[]`); its invoice line then carries one `taxes`
entry per rate, and the invoice's `total_taxes` sums them per rate. The tax on a line is its
amount times the percentage, rounded half up to the currency's minor unit, once per line and
rate (https://docs.stripe.com/billing/taxes/tax-rates); an inclusive rate's tax is the part of
the amount that is tax, and adds nothing to the total.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from . import forms, resources
from .context import Ctx
from .errors import invalid, required
from .listing import LIST_PARAMS, load, paginate

JSON = dict[str, Any]
P = forms.Params

_CREATE = {
    "display_name",
    "percentage",
    "inclusive",
    "active",
    "country",
    "state",
    "jurisdiction",
    "description",
    "tax_type",
    "metadata",
    "expand",
}


def create_tax_rate(ctx: Ctx, p: P) -> JSON:
    forms.only(p, _CREATE)
    name = forms.string(p, "display_name", max_length=50)
    if not name:
        raise required("display_name")
    raw = forms.string(p, "percentage")
    if raw is None:
        raise required("percentage")
    try:
        percentage = Decimal(raw)
    except InvalidOperation:
        raise invalid("Invalid decimal: percentage", param="percentage") from None
    if not Decimal(0) <= percentage <= Decimal(100) or percentage != percentage.quantize(
        Decimal("0.0001")
    ):
        raise invalid(
            "percentage must be between 0 and 100 with at most 4 decimals.", param="percentage"
        )
    inclusive = forms.boolean(p, "inclusive")
    if inclusive is None:
        raise required("inclusive")
    rate = {
        "id": resources.new_id("txr"),
        "object": "tax_rate",
        "active": forms.boolean(p, "active") is not False,
        "country": forms.string(p, "country"),
        "created": ctx.ts,
        "description": forms.string(p, "description"),
        "display_name": name,
        "effective_percentage": float(percentage),
        "flat_amount": None,
        "inclusive": inclusive,
        "jurisdiction": forms.string(p, "jurisdiction"),
        "jurisdiction_level": None,
        "livemode": False,
        "metadata": forms.metadata(p),
        "percentage": float(percentage),
        "rate_type": "percentage",
        "state": forms.string(p, "state"),
        "tax_type": forms.string(p, "tax_type"),
    }
    ctx.store.insert(rate, {"percentage": str(percentage)})
    return rate


def retrieve_tax_rate(ctx: Ctx, p: P, tax_rate: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "tax_rate", tax_rate)


def list_tax_rates(ctx: Ctx, p: P) -> JSON:
    forms.only(p, LIST_PARAMS | {"active", "inclusive"})
    where: JSON = {}
    for name in ("active", "inclusive"):
        if (value := forms.boolean(p, name)) is not None:
            where[name] = value
    return paginate(ctx, p, "tax_rate", "/v1/tax_rates", where)


def rates_param(ctx: Ctx, p: P) -> list[JSON]:
    """The active tax rates an invoice item names (`tax_rates[]`), loaded."""
    rates = []
    for n, rate_id in enumerate(forms.array(p, "tax_rates")):
        if not isinstance(rate_id, str) or not rate_id:
            raise invalid("Invalid tax rate id.", param=f"tax_rates[{n}]")
        rate = load(ctx, "tax_rate", rate_id, f"tax_rates[{n}]")
        if not rate["active"]:
            raise invalid(f"Tax rate {rate_id} is not active.", param=f"tax_rates[{n}]")
        rates.append(rate)
    return rates


def exact_percentage(ctx: Ctx, rate: JSON) -> Decimal:
    stored = ctx.store.extra(rate["id"]).get("percentage")
    return Decimal(str(stored if stored is not None else rate["percentage"]))


def line_taxes(ctx: Ctx, amount: int, rates: list[JSON]) -> list[JSON]:
    """A line's `taxes`: one entry per rate, its tax rounded half up to a minor unit."""
    taxes = []
    for rate in rates:
        pct = exact_percentage(ctx, rate) / 100
        if rate["inclusive"]:
            tax = Decimal(amount) - Decimal(amount) / (1 + pct)
        else:
            tax = Decimal(amount) * pct
        taxes.append(
            {
                "amount": int(tax.quantize(Decimal(1), rounding=ROUND_HALF_UP)),
                "tax_behavior": "inclusive" if rate["inclusive"] else "exclusive",
                "tax_rate_details": {"tax_rate": rate["id"]},
                "taxability_reason": "standard_rated",
                "taxable_amount": amount,
                "type": "tax_rate_details",
            }
        )
    return taxes


def total_taxes(lines: list[JSON]) -> tuple[list[JSON], int]:
    """The invoice's `total_taxes` (summed per rate and behaviour, in order of first use) and
    the exclusive tax the total adds."""
    totals: dict[tuple[str, str], JSON] = {}
    for line in lines:
        for tax in line.get("taxes") or []:
            key = (tax["tax_rate_details"]["tax_rate"], tax["tax_behavior"])
            entry = totals.setdefault(key, {**tax, "amount": 0, "taxable_amount": 0})
            entry["amount"] += tax["amount"]
            entry["taxable_amount"] += tax["taxable_amount"]
    added = sum(t["amount"] for t in totals.values() if t["tax_behavior"] == "exclusive")
    return list(totals.values()), added
