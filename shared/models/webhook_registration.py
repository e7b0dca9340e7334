"""Registering cspflow's Partner Center webhook: what the registration workflow reports."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from shared.models._base import DomainModel

RegistrationAction = Literal["created", "updated", "unchanged"]


class WebhookRegistered(DomainModel):
    """Partner Center's registration after the write, and the test event it was sent."""

    action: RegistrationAction
    webhook_url: str
    events: tuple[str, ...]
    correlation_id: str = Field(min_length=1, description="The test event's id")


class ValidationEventQuery(DomainModel):
    correlation_id: str = Field(min_length=1, max_length=100)


class ValidationEventResult(DomainModel):
    """What Partner Center says of the test event: `pending`, `completed` (delivered: the
    callback answered 2xx) or `failed`, and each delivery attempt's answer."""

    correlation_id: str
    status: str
    results: tuple[dict[str, JsonValue], ...] = ()

    @property
    def settled(self) -> bool:
        return self.status.lower() in ("completed", "failed")


class WebhookRegistrationReport(DomainModel):
    """The registration workflow's output."""

    ok: bool
    webhook_url: str
    action: RegistrationAction | None = None
    events: tuple[str, ...] = ()
    test_event: ValidationEventResult | None = None
    problem: str | None = None
