"""The connectivity check's inputs and report: what crosses its Durable boundaries.

One probe model per activity (its typed input), one result shape for all of them, and the
report the orchestrator returns. Details are written for an operator and never carry a
secret (the activities redact every configured secret before a message leaves them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from shared.models._base import DomainModel, UtcDateTime

CheckName = Literal["partner_center", "stripe", "storage"]


class PartnerCenterProbe(DomainModel):
    """Acquire an app-only token and read the first page of customers."""

    page_size: int = Field(default=5, ge=1, le=100)


class StripeProbe(DomainModel):
    """An authenticated read: the first page of customers."""

    page_size: int = Field(default=5, ge=1, le=100)


class StorageProbe(DomainModel):
    """Create, if missing, a table and a queue cspflow uses (shared/storage.py)."""

    table: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    queue: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")

    @field_validator("queue")
    @classmethod
    def _no_double_hyphen(cls, value: str) -> str:
        if "--" in value:
            raise ValueError("a queue name has no consecutive hyphens")
        return value


class CheckResult(DomainModel):
    name: CheckName
    ok: bool
    latency_ms: int | None = Field(default=None, ge=0)  # None: it never answered
    detail: str = Field(max_length=2000)
    # refused: the service answered no (bad credentials, forbidden), retrying cannot help;
    # unreachable: every attempt failed technically (network, timeouts, 5xx).
    failure: Literal["refused", "unreachable"] | None = None


class ConnectivityReport(DomainModel):
    instance_id: str
    started_at: UtcDateTime
    finished_at: UtcDateTime
    ok: bool
    checks: list[CheckResult]
