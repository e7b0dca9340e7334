"""Notifications: every notice a customer, an approver or the partner's ops team gets.

- `kinds`: one typed model per notice kind (`Notice` is their union), who gets each by
  default and whether it is essential (`KINDS`);
- `recipients`: addressees, per-customer preferences, who gets what (`resolve`);
- `render`: Jinja2 templates (text + HTML, English and Dutch), money and times by Babel;
- `transport`: SMTP (smtplib) or Azure Communication Services Email;
- `log`: the notice log on Azure Tables (record before send, mark after; bounces;
  preferences), behind the `NoticeLog` protocol;
- `service`: `Notifier.send`, what the `send_notice` activity runs.

docs/notifications.md describes them together.
"""

from shared.notifications.errors import (
    DeliveryInDoubt,
    MailRefused,
    MailUnavailable,
    NoRecipient,
    NoticeBusy,
    NoticeLogUnavailable,
    RecipientRefused,
    UnsafeNotice,
)
from shared.notifications.kinds import KINDS, CardRef, Notice, NoticeKind, RecipientRole
from shared.notifications.log import Bounce, DeliveryRecord, NoticeLog, TableNoticeLog
from shared.notifications.recipients import Addressee, NoticePreferences
from shared.notifications.service import DeliveryResult, NoticeResult, Notifier

__all__ = [
    "KINDS",
    "Addressee",
    "Bounce",
    "CardRef",
    "DeliveryInDoubt",
    "DeliveryRecord",
    "DeliveryResult",
    "MailRefused",
    "MailUnavailable",
    "NoRecipient",
    "Notice",
    "NoticeBusy",
    "NoticeKind",
    "NoticeLog",
    "NoticeLogUnavailable",
    "NoticePreferences",
    "NoticeResult",
    "Notifier",
    "RecipientRefused",
    "RecipientRole",
    "TableNoticeLog",
    "UnsafeNotice",
]
