"""Webhook events cspflow has processed, so a duplicate delivery is processed once."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.models._base import DomainModel, UtcDateTime

EventSource = Literal["partner_center", "stripe"]


class ProcessedEvent(DomainModel):
    source: EventSource
    event_id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=200)
    received_at: UtcDateTime
    processed_at: UtcDateTime
    # What processing did, for an operator ("started renewal-sub-1", "ignored: unknown type").
    outcome: str | None = Field(default=None, max_length=500)
