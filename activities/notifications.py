"""The notification activity: one notice, to the readers its kind and the customer's
preferences name, exactly once per reader.

    outcome = yield from run(
        context,
        send_notice,
        SendNotice(
            step_key=step_key(context, "notice-payment-failed"),
            notice=PaymentFailed(...),
            customer_id=customer.id,
            contacts=contacts,
        ),
        retry="standard",
    )

The step key is the notice's idempotency key: a retried or replayed step, or a host that
died mid-send and ran the step again, sends no second message (docs/notifications.md,
"Exactly once"). A reader whose address is refused is recorded as bounced; when nobody could
be reached the step fails permanently (`recipient_refused` / `no_recipient`).
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from shared.config import Settings
from shared.notifications import Addressee, Notice, NoticeResult, Notifier
from shared.notifications.kinds import Identifier

bp = df.Blueprint()


class SendNotice(WriteInput):
    """One notice. `contacts` are the customer's contacts with their roles, language and
    time zone (the book's, read by an earlier step); partner-side notices need none."""

    notice: Notice
    customer_id: Identifier | None = None
    contacts: tuple[Addressee, ...] = ()


def notifier(settings: Settings) -> Notifier:
    """The process's notifier for these settings: its notice log, book and their connection
    pools shared by every activity that mails (a new one per notice opened new connections
    to storage and parsed the settings again, each time)."""
    return per_settings("notifier", settings, Notifier.from_settings)


@activity(bp)
def send_notice(request: SendNotice, ctx: ActivityContext) -> NoticeResult:
    """Reserve, render, send and mark each delivery of one notice."""
    return notifier(ctx.settings).send(
        request.step_key,
        request.notice,
        customer_id=request.customer_id,
        contacts=request.contacts,
    )
