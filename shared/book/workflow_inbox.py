"""Events for workflows that are not deployed yet: the list each future workflow reads.

Event intake routes every event to the workflow it concerns (docs/intake.md). When that
workflow's orchestrator is not registered in this deployment, what it would have been told
(start an instance, or signal one) is kept here instead, once per event.

Table `WorkflowInbox`
    PartitionKey = `<workflow>|<instance id>`, RowKey = the event's business key; columns
    Workflow, Action, CustomerId.
    Serves: whether an event was kept for an instance (point read); an instance's events
    (one partition); a workflow's events, every instance (a PartitionKey range
    `<workflow>|` .. `<workflow>}`), paged: what the workflow reads when it is deployed.
"""

from __future__ import annotations

from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Facts, Keys, Page
from shared.book.keys import key, unkey
from shared.models.intake import PendingWorkflowEvent

TABLE = "WorkflowInbox"


class WorkflowInbox(Facts[PendingWorkflowEvent]):
    model = PendingWorkflowEvent
    table_name = TABLE
    noun = "pending workflow event"

    def keys(self, record: PendingWorkflowEvent) -> Keys:
        return key(f"{record.workflow}|{record.instance_id}"), key(record.event_key)

    def columns(self, record: PendingWorkflowEvent) -> dict[str, Any]:
        return {
            "Workflow": record.workflow,
            "Action": record.action,
            "CustomerId": record.customer_id or "",
        }

    def describe(self, keys: Keys) -> str:
        return f"event {unkey(keys[1])} for {unkey(keys[0])} (table {self.table.name})"

    def find(self, workflow: str, instance_id: str, event_key: str) -> PendingWorkflowEvent | None:
        return self._find_fact((key(f"{workflow}|{instance_id}"), key(event_key)))

    def of_instance(
        self,
        workflow: str,
        instance_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[PendingWorkflowEvent]:
        """The events kept for one instance, in event key order."""
        pk = key(f"{workflow}|{instance_id}")
        return self._page("PartitionKey eq @pk", {"pk": pk}, limit, next)

    def of_workflow(
        self, workflow: str, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[PendingWorkflowEvent]:
        """The events kept for every instance of `workflow`, by instance id."""
        return self._page(
            "PartitionKey ge @start and PartitionKey lt @end",
            {"start": key(f"{workflow}|"), "end": key(f"{workflow}}}")},
            limit,
            next,
        )
