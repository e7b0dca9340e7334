"""A notice sent to a customer: one templated email, recorded once under its idempotency key
(so a retried activity never mails twice)."""

from __future__ import annotations

from typing import Literal

from pydantic import EmailStr, Field

from shared.models._base import DomainModel, UtcDateTime

# Every notice the notifications adapter sends (one model each in shared/notifications/kinds.py).
NoticeKind = Literal[
    "welcome",
    "order_provisioned",
    "order_failed",
    "approval_requested",
    "approval_decided",
    "licence_change_applied",
    "licence_change_scheduled",
    "renewal_reminder",
    "renewal_decision_confirmed",
    "renewal_outcome",
    "payment_failed",
    "payment_retry_scheduled",
    "card_expiring",
    "suspension_warning",
    "suspended",
    "reactivated",
    "written_off",
    "sla_at_risk",
    "sla_breached",
    "sla_escalated",
    "ops_alert",
    "payment_method_requested",
    "invoice_issued",
    "invoice_overdue",
    "auto_renew_off_unpaid",
    "card_expiring_reminder",
    "licence_change_not_applied",
    "renewal_decision_not_applied",
]


class Notice(DomainModel):
    # Derived from the workflow step that sends it (activities/boundary.WriteInput.step_key).
    key: str = Field(min_length=1, max_length=400)
    customer_id: str = Field(min_length=1, max_length=64)
    kind: NoticeKind
    to: tuple[EmailStr, ...] = Field(min_length=1)
    subject: str = Field(min_length=1, max_length=300)
    sent_at: UtcDateTime
    # What it is about: an order, a subscription, an invoice, a renewal.
    subject_id: str | None = Field(default=None, max_length=200)
    provider_message_id: str | None = Field(default=None, max_length=500)
