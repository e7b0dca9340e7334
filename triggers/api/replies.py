"""What a handler answers: a model (the route's success status), or a `Reply` for another
declared status or extra headers.

    return OrderStatus(...)                                   # 200 (the route's first 2xx)
    return Reply.accepted(OrderAccepted(...), location=call.url_for("orders", order_id))
    return check_status_reply(client, call, instance_id)      # Durable's 202 + Location

Long work answers 202 with `Location` pointing to a status resource (and `Retry-After`, the
seconds a poller should wait): no request handler waits on Partner Center or Stripe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from triggers.api.routes import Call

POLL_AFTER_S = 10  # what Durable's own check-status response says


class TextBody(BaseModel):
    """A body that is not JSON: its text, sent with the class's `media_type` (a CSV export).
    Declare the subclass as the route's response; the OpenAPI document shows it as a string
    of that media type."""

    media_type: ClassVar[str] = "text/plain"
    text: str


class CsvBody(TextBody):
    media_type: ClassVar[str] = "text/csv"


@dataclass(frozen=True)
class Reply:
    """A status, a body (a model of the route's declared response, or None) and headers."""

    status: int
    body: BaseModel | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # A page for a browser: sent as text/html instead of the body's JSON (a mailed link
    # opened by a person). The body is still the declared model (what the schema documents).
    html: str | None = None

    @classmethod
    def accepted(
        cls, body: BaseModel | None, *, location: str, retry_after_s: int = POLL_AFTER_S
    ) -> Reply:
        """202: the work runs on; poll `location`."""
        return cls(202, body, {"Location": location, "Retry-After": str(retry_after_s)})

    @classmethod
    def created(cls, body: BaseModel | None, *, location: str) -> Reply:
        """201: the resource exists now, at `location`."""
        return cls(201, body, {"Location": location})


class DurableCheckStatus(BaseModel):
    """Durable Functions' check-status links for an orchestration instance, named as the
    Durable extension names them (camelCase: its shape, not ours). `statusQueryGetUri` is the
    status resource; the others (`sendEventPostUri`, `terminatePostUri`, `rewindPostUri`,
    `purgeHistoryDeleteUri`, `restartPostUri`, `suspendPostUri`, `resumePostUri`) manage the
    instance and carry its system key."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)
    __pydantic_extra__: dict[str, str] = Field(init=False)

    id: str = Field(description="The orchestration instance id")
    status_query_get_uri: str = Field(alias="statusQueryGetUri")


def check_status_reply(
    client: df.DurableOrchestrationClient, call: Call[Any], instance_id: str
) -> Reply:
    """Durable's check-status response for `instance_id` (what
    `client.create_check_status_response` answers): 202, `Location` the status query URL,
    `Retry-After` 10, the management links as the body."""
    links = DurableCheckStatus.model_validate(
        client.get_client_response_links(call.req, instance_id)
    )
    return Reply.accepted(links, location=links.status_query_get_uri)
