"""The activities both versions of the worked example share (docs/architecture.md,
"Changing a workflow that is running")."""

from __future__ import annotations

import azure.durable_functions as df

from activities.boundary import ActivityContext, activity
from shared.models import DomainModel

bp = df.Blueprint()


class Customer(DomainModel):
    customer_id: str


class Done(DomainModel):
    step: str


@activity(bp)
def send_welcome(customer: Customer, ctx: ActivityContext) -> Done:
    return Done(step="welcome")


@activity(bp)
def create_mailbox(customer: Customer, ctx: ActivityContext) -> Done:
    return Done(step="mailbox")


@activity(bp)
def record_activation(customer: Customer, ctx: ActivityContext) -> Done:
    return Done(step="recorded")
