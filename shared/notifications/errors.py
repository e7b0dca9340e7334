"""How sending a notice fails, in the failure vocabulary of shared/errors.py.

Transient (the step runs again under its retry policy, with the same keys):
- `MailUnavailable`: the relay or service could not be reached, timed out before the message
  was handed over, or answered 4xx. The message was certainly not accepted.
- `DeliveryInDoubt`: the whole message was handed over and then the answer was lost (the
  connection dropped after SMTP DATA, an HTTP response that never came). It may have been
  accepted; the retry decides (docs/notifications.md, "Exactly once").
- `NoticeBusy`: another attempt holds this notice's reservation right now.
- `NoticeLogUnavailable`: the notice log (Azure Tables) could not be read or written.

Permanent (the activity returns the failure; the workflow decides):
- `RecipientRefused`: the server refused the address (SMTP 5xx on RCPT). The address is
  recorded as bounced and never tried again until ops clear it.
- `MailRefused`: the server refused the sender, the message, or our credentials.
- `NoRecipient`: nobody to send to (no contact in the role, every address bounced).
- `UnsafeNotice`: the rendered notice would carry a secret, a card number or a relative link.
"""

from __future__ import annotations

from shared.errors import PermanentError, TransientError


class MailUnavailable(TransientError):
    code = "mail_unavailable"


class DeliveryInDoubt(TransientError):
    code = "delivery_in_doubt"


class NoticeBusy(TransientError):
    code = "notice_busy"


class NoticeLogUnavailable(TransientError):
    code = "notice_log_unavailable"


class RecipientRefused(PermanentError):
    code = "recipient_refused"

    def __init__(self, address: str, reply: str, status: int | None = None) -> None:
        super().__init__(f"{address} refused: {reply}")
        self.address = address
        self.reply = reply
        self.status = status


class MailRefused(PermanentError):
    code = "mail_refused"


class NoRecipient(PermanentError):
    code = "no_recipient"


class UnsafeNotice(PermanentError):
    code = "unsafe_notice"
