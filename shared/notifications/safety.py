"""What a rendered notice may not contain, checked on every notice before it leaves.

The models already keep secrets out by construction (a card is its last four digits, a link
is an `ActionUrl`); this is the second line, on the text that would actually be mailed:
- no configured secret (`Settings.redact` finds none);
- nothing that reads as a payment card number (13 to 19 digits, spaces or dashes allowed
  between groups, passing the Luhn check, as PCI DSS scanners look for a PAN);
- every link and image in the HTML absolute (http or https), since a relative link in a mail
  client points nowhere, or somewhere else.
A notice that fails is refused as `UnsafeNotice` (the failure names the kind and the reason,
never the text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit

from shared.notifications.errors import UnsafeNotice

# 13-19 digits, optionally grouped by single spaces or dashes (4-4-4-4, 4-6-5, ...).
_PAN_CANDIDATE = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")
_LINK_ATTRIBUTES = {"href", "src", "action", "background", "poster"}


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def card_numbers_in(text: str) -> list[str]:
    """Digit runs in `text` that could be a card number (Luhn-valid, 13-19 digits)."""
    found = []
    for match in _PAN_CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(digits)
    return found


def mask_card_numbers(text: str) -> str:
    """`text` with every card-number-like run replaced (for free text an operator wrote)."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return f"[card number ending {digits[-4:]} removed]"
        return match.group()

    return _PAN_CANDIDATE.sub(mask, text)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k in _LINK_ATTRIBUTES and v is not None]

    handle_startendtag = handle_starttag


def links_in(html: str) -> list[str]:
    """Every URL an HTML part points at (href, src, ...), unescaped."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.links


def is_absolute(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "mailto":
        return bool(parts.path)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_safe(kind: str, parts: dict[str, str], redact: Callable[[str], str]) -> None:
    """Refuse the rendered `parts` ({"subject": ..., "text": ..., "html": ...}) if any of
    them carries a secret or a card number, or the HTML a relative link."""
    for name, text in parts.items():
        if redact(text) != text:
            raise UnsafeNotice(f"{kind}: the {name} part contains a configured secret")
        if card_numbers_in(text):
            raise UnsafeNotice(f"{kind}: the {name} part contains a card number")
    relative = [link for link in links_in(parts.get("html", "")) if not is_absolute(link)]
    if relative:
        raise UnsafeNotice(f"{kind}: the html part has {len(relative)} relative link(s)")
