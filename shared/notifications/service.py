"""Sending one notice: resolve the readers, then for each one reserve, render, send, mark.

    notifier = Notifier.from_settings(settings)
    result = notifier.send(step_key, notice, customer_id="cust-42", contacts=contacts)

For each addressee the delivery key is `<step_key>|<address>` and the Message-ID is derived
from it, so every attempt of a step sends the same message to the same person, and a second
step (another notice) sends another. Per delivery:

1. an address that bounced before is skipped (`suppressed`): never retried forever;
2. the notice is rendered for the reader (refused if unsafe: nothing was reserved yet);
3. the log reserves the delivery (record before send). Found `sent`: done before, skipped.
   Found `in_doubt`: the transport is asked; accepted -> marked sent, not sent again;
   absent -> sent again; unknown (SMTP) -> left `unconfirmed` for ops, not sent again;
4. the transport sends; the log marks it `sent` (mark after send). A refusal records the
   bounce; a failure before the message was handed over marks it `failed` (the retry sends);
   one after marks it `in_doubt` (the retry asks, step 3).

Transient failures escape (the activity's retry policy runs the step again; deliveries done
are skipped). The result lists each delivery; when no reader could be reached at all (each
refused or bounced before), the notice fails permanently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import EmailStr

from shared.book import Book
from shared.clock import Clock, app_clock
from shared.config import Settings
from shared.models._base import DomainModel
from shared.models.notice import Notice as BookNotice
from shared.notifications.errors import (
    DeliveryInDoubt,
    MailRefused,
    MailUnavailable,
    NoRecipient,
    RecipientRefused,
)
from shared.notifications.kinds import (
    KINDS,
    ApprovalDecided,
    LicenceChangeNotApplied,
    NoticeKind,
    NoticeModel,
    OpsAlert,
    RecipientRole,
)
from shared.notifications.log import Delivery, NoticeLog, PreferenceStore, TableNoticeLog
from shared.notifications.recipients import Addressee, PartnerAudience, resolve
from shared.notifications.render import Brand, render
from shared.notifications.safety import mask_card_numbers
from shared.notifications.transport import (
    OutgoingMessage,
    Transport,
    message_id_for,
    transport_from_settings,
)

log = logging.getLogger("cspflow.notifications")

DeliveryStatus = Literal["sent", "already_sent", "unconfirmed", "refused", "suppressed"]


class DeliveryResult(DomainModel):
    to: EmailStr
    role: RecipientRole
    message_id: str
    status: DeliveryStatus
    detail: str = ""
    subject: str = ""  # as rendered for this reader (empty when nothing was rendered)


class NoticeResult(DomainModel):
    """What became of one notice: one delivery per reader; `muted` when the customer turned
    this (non-essential) kind off."""

    key: str
    kind: NoticeKind
    muted: bool = False
    deliveries: tuple[DeliveryResult, ...] = ()


@dataclass
class Notifier:
    settings: Settings
    log: NoticeLog
    preferences: PreferenceStore
    transport: Transport
    clock: Clock
    book: Book | None = None  # where sent notices are recorded (None: not recorded)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Notifier:
        clock = clock or app_clock(settings)
        table_log = TableNoticeLog(settings, clock=clock)
        return cls(
            settings,
            table_log,
            table_log,
            transport_from_settings(settings),
            clock,
            Book(settings, clock=clock),
        )

    @property
    def brand(self) -> Brand:
        return Brand.from_settings(self.settings)

    def partner_audience(self) -> PartnerAudience:
        s = self.settings

        def people(entries: tuple[object, ...], role: RecipientRole) -> tuple[Addressee, ...]:
            return tuple(
                Addressee(
                    name=getattr(e, "name", "") or str(getattr(e, "email", e)).split("@")[0],
                    email=str(getattr(e, "email", e)),
                    role=role,
                    locale=s.notify_partner_locale,
                    time_zone=s.notify_partner_time_zone,
                )
                for e in entries
            )

        return PartnerAudience(
            approvers=people(s.notify_approvers_to, "approver"),
            ops=people(s.notify_ops_to, "ops"),
        )

    def send(
        self,
        step_key: str,
        notice: NoticeModel,
        *,
        customer_id: str | None = None,
        contacts: tuple[Addressee, ...] = (),
    ) -> NoticeResult:
        info = KINDS[notice.kind]
        preferences = None
        if customer_id is not None and not info.partner_side:
            preferences = self.preferences.get(customer_id)
        resolution = resolve(notice.kind, contacts, preferences, self.partner_audience())
        if resolution.muted:
            return NoticeResult(key=step_key, kind=notice.kind, muted=True)
        if not resolution.addressees:
            raise NoRecipient(
                f"{notice.kind}: nobody in the roles {', '.join(info.roles)}"
                + (f" of customer {customer_id}" if customer_id else " in the settings")
            )
        notice = self._without_free_text_secrets(notice)
        results: list[DeliveryResult] = []
        refused: list[RecipientRefused] = []
        for to in resolution.addressees:
            try:
                results.append(self._deliver(step_key, notice, customer_id, to))
            except RecipientRefused as exc:
                refused.append(exc)
                results.append(self._result(step_key, to, "refused", exc.reply))
        if all(r.status in ("refused", "suppressed") for r in results):
            if refused:
                raise refused[0]
            raise NoRecipient(
                f"{notice.kind}: every address bounced before: " + ", ".join(r.to for r in results)
            )
        self._record(step_key, notice, customer_id, results)
        return NoticeResult(key=step_key, kind=notice.kind, deliveries=tuple(results))

    def _record(
        self,
        step_key: str,
        notice: NoticeModel,
        customer_id: str | None,
        results: list[DeliveryResult],
    ) -> None:
        """The notice in the book, once, with its entry on the customer's timeline: a fact
        recorded after a delivery went out (a retry finds it there and writes nothing)."""
        sent = [r for r in results if r.status in ("sent", "already_sent")]
        if customer_id is None or not sent or self.book is None:
            return
        self.book.notices.record(
            BookNotice(
                key=step_key,
                customer_id=customer_id,
                kind=notice.kind,
                to=tuple(r.to for r in sent),
                subject=next((r.subject for r in sent if r.subject), notice.kind)[:300],
                sent_at=self.clock.now(),
                subject_id=getattr(notice, "subject_id", None),
            )
        )

    def _deliver(
        self, step_key: str, notice: NoticeModel, customer_id: str | None, to: Addressee
    ) -> DeliveryResult:
        bounce = self.log.bounce_of(to.address)
        if bounce is not None:
            return self._result(step_key, to, "suppressed", bounce.reason)
        rendered = render(notice, to, self.brand, redact=self.settings.redact)
        delivery = self._delivery(step_key, notice.kind, customer_id, to)
        message = OutgoingMessage(
            key=delivery.key,
            message_id=delivery.message_id,
            sender=str(self.settings.mail_from),
            sender_name=self.settings.mail_from_name or self.settings.partner_name,
            to=to.email,
            to_name=to.name,
            reply_to=str(self.settings.partner_support_email),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            date=self.clock.now(),
            headers={"X-Cspflow-Notice": notice.kind},
        )
        reservation = self.log.reserve(delivery)
        if reservation.state == "sent":
            return self._result(step_key, to, "already_sent", subject=rendered.subject)
        if reservation.state == "refused":
            raise RecipientRefused(to.address, "refused before")
        if reservation.state == "in_doubt":
            found = self.transport.lookup(message)
            if found == "accepted":
                self.log.mark_sent(delivery, message.operation_id)
                return self._result(
                    step_key, to, "already_sent", "confirmed by the service", rendered.subject
                )
            if found == "unknown":
                log.warning(
                    "notice %s to %s: delivery in doubt, not sent again (ops: in_doubt)",
                    notice.kind,
                    to.address,
                )
                return self._result(
                    step_key, to, "unconfirmed", "handed over, answer lost; not sent again"
                )
            self.log.reopen(delivery)
        try:
            provider_id = self.transport.send(message)
        except RecipientRefused as exc:
            self.log.record_bounce(to.address, exc.reply, code=exc.status, delivery=delivery)
            log.warning("notice %s: %s refused (%s)", notice.kind, to.address, exc.reply)
            raise
        except DeliveryInDoubt as exc:
            self.log.mark_failed(delivery, str(exc), in_doubt=True)
            raise
        except (MailUnavailable, MailRefused) as exc:
            self.log.mark_failed(delivery, str(exc), in_doubt=False)
            raise
        self.log.mark_sent(delivery, provider_id)
        return self._result(step_key, to, "sent", subject=rendered.subject)

    def _delivery(
        self, step_key: str, kind: NoticeKind, customer_id: str | None, to: Addressee
    ) -> Delivery:
        key = delivery_key(step_key, to.address)
        return Delivery(
            key=key,
            notice_key=step_key,
            kind=kind,
            customer_id=customer_id,
            to=to.email,
            role=to.role,
            message_id=message_id_for(key, str(self.settings.mail_from)),
        )

    def _result(
        self,
        step_key: str,
        to: Addressee,
        status: DeliveryStatus,
        detail: str = "",
        subject: str = "",
    ) -> DeliveryResult:
        key = delivery_key(step_key, to.address)
        return DeliveryResult(
            to=to.email,
            role=to.role,
            message_id=message_id_for(key, str(self.settings.mail_from)),
            status=status,
            detail=detail[:200],
            subject=subject[:300],
        )

    def _without_free_text_secrets(self, notice: NoticeModel) -> NoticeModel:
        """Free text someone wrote (an ops failure line, an approver's note) is redacted and
        card numbers in it masked, rather than the notice refused."""
        if isinstance(notice, OpsAlert):
            clean = mask_card_numbers(self.settings.redact(notice.failure))
            return notice.model_copy(update={"failure": clean})
        if isinstance(notice, ApprovalDecided | LicenceChangeNotApplied) and notice.note:
            clean = mask_card_numbers(self.settings.redact(notice.note))
            return notice.model_copy(update={"note": clean})
        return notice


def delivery_key(step_key: str, address: str) -> str:
    """The idempotency key of one notice to one address."""
    return f"{step_key}|{address.strip().lower()}"
