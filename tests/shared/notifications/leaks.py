"""What of the app's secrets, and what card number, appears in mail as received."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy

from shared.notifications.safety import card_numbers_in


def leaks(messages: list[bytes], secrets: list[str]) -> list[str]:
    """What of `secrets` (and any card number) appears in `messages`, read as a grep and as
    a mail client reads them: the raw bytes, every header decoded, and every text part
    decoded (a secret could hide in base64, quoted-printable or an encoded word)."""
    texts: list[str] = []
    for raw in messages:
        texts.append(raw.decode("utf-8", "replace"))
        message = message_from_bytes(raw, policy=email_policy.default)
        texts += [f"{name}: {value}" for name, value in message.items()]
        for part in message.walk():
            if part.get_content_maintype() == "text":
                texts.append(str(part.get_content()))
    found = [s for s in secrets if s and any(s in t for t in texts)]
    found += [f"card number ...{n[-4:]}" for t in texts for n in card_numbers_in(t)]
    return sorted(set(found))
