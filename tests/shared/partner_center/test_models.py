"""Reconciliation lines read the same whatever the casing of their keys: the v1 line-item API
answers in camelCase, Graph's partner billing exports name attributes in PascalCase (Learn,
partner billing "attributeSet enum type": `ChargeType`, `AvailabilityId`, ...)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.partner_center.models import ReconLineItem

CAMEL = {
    "customerId": "c1",
    "subscriptionId": "s1",
    "chargeType": "addQuantity",
    "unitPrice": Decimal("36.00"),
    "effectiveUnitPrice": Decimal("14.40"),
    "quantity": 2,
    "billableQuantity": Decimal("0.4"),
    "subtotal": Decimal("28.80"),
    "currency": "USD",
    "chargeStartDate": "2026-03-10T00:00:00Z",
    "chargeEndDate": "2026-04-09T00:00:00Z",
    "invoiceNumber": "G000773581",
    "pcToBCExchangeRate": "1",  # not a field: ignored in any casing
}
PASCAL = {k[:1].upper() + k[1:]: v for k, v in CAMEL.items()}
LOWER = {k.lower(): v for k, v in CAMEL.items()}


@pytest.mark.parametrize("row", [CAMEL, PASCAL, LOWER], ids=["camelCase", "PascalCase", "lower"])
def test_a_reconciliation_line_reads_the_same_in_any_key_casing(row):
    line = ReconLineItem.model_validate(row)
    assert line.customer_id == "c1"
    assert line.charge_type == "addQuantity"
    assert (line.effective_unit_price, line.billable_quantity, line.subtotal) == (
        Decimal("14.40"),
        Decimal("0.4"),
        Decimal("28.80"),
    )
    assert line.charge_start_date == datetime(2026, 3, 10, tzinfo=UTC)
    assert line.invoice_number == "G000773581"


def test_a_line_missing_a_required_attribute_names_it():
    row = {k: v for k, v in PASCAL.items() if k != "ChargeType"}
    with pytest.raises(ValueError, match="chargeType"):
        ReconLineItem.model_validate(row)
