"""Paged lists: `limit` and an opaque, tamper-evident `next` cursor.

    GET /api/orders?limit=50            -> {"items": [...50], "next": "eyJw...Q.3k9x..."}
    GET /api/orders?limit=50&next=eyJw...   -> the following page; "next": null on the last

A list route is declared `paged=Paging(...)`; its handler reads `call.page` (a `PageRequest`:
the `limit` and the position the previous page ended `after`, None on the first page) and
answers `call.page.page(items, after=<position of the last item>)`, or `after=None` on the
last page. The position is whatever the list needs to resume (a last key, a storage
continuation token): any JSON value, opaque to clients.

A cursor is `base64url(JSON position) . base64url(HMAC-SHA256)`, the MAC over the position
and the list it belongs to (the route and the filters of the query). A cursor that was edited,
truncated, or issued for another list or other filters is a 400 naming `next`; so is a
`limit` outside 1..max (the maximum is in the OpenAPI document). The MAC makes a cursor
tamper-evident, not secret: it carries a position in a list the caller may read anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from triggers.api.parsing import canonical_json
from triggers.api.problems import BadRequest

T = TypeVar("T")

MAX_CURSOR_CHARS = 2048
_MAC_BYTES = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
# The key the cursors' MAC is made with. Not a secret (see above); one constant, so every
# instance of the app reads every other's cursors. A new version retires all cursors.
DEFAULT_CURSOR_KEY = b"cspflow api cursor v1"


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: list[T]
    next: str | None = Field(
        description="Pass as `next` for the following page; null on the last page"
    )


@dataclass(frozen=True)
class Paging:
    """How a list route pages: the `limit` it uses when none is given, and the most it
    allows."""

    default_limit: int = 50
    max_limit: int = 200

    def __post_init__(self) -> None:
        if not 1 <= self.default_limit <= self.max_limit:
            raise ValueError("paging needs 1 <= default_limit <= max_limit")


class CursorCodec:
    """Makes and reads cursors for one key."""

    def __init__(self, key: bytes = DEFAULT_CURSOR_KEY) -> None:
        self._key = key

    def encode(self, binding: str, position: Any) -> str:
        payload = canonical_json(position)
        mac = self._mac(binding, payload)
        cursor = f"{_b64(payload)}.{_b64(mac)}"
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError(f"a cursor position is too big ({len(cursor)} characters)")
        return cursor

    def decode(self, binding: str, cursor: str) -> Any:
        """The position in `cursor`, or 400 naming `next`."""
        if len(cursor) > MAX_CURSOR_CHARS:
            raise _bad_cursor("it is too long")
        payload_text, dot, mac_text = cursor.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (ValueError, binascii.Error):
            raise _bad_cursor("it is not a cursor this API issued") from None
        if not dot or not hmac.compare_digest(mac, self._mac(binding, payload)):
            raise _bad_cursor(
                "it was changed, or it belongs to another list or to other filters; "
                "start again without `next`"
            )
        return json.loads(payload)

    def _mac(self, binding: str, payload: bytes) -> bytes:
        message = binding.encode("utf-8") + b"\n" + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_MAC_BYTES]


@dataclass(frozen=True)
class PageRequest:
    """What a list handler is asked for: `limit` items `after` a position (None: the first
    page)."""

    limit: int
    after: Any
    binding: str
    codec: CursorCodec

    def page(self, items: Sequence[Any], *, after: Any) -> Page[Any]:
        """The page of `items`; `after` is the position the next page starts after (None:
        this is the last page). The route kit checks the items against the route's
        declared `Page[Item]`."""
        cursor = None if after is None else self.codec.encode(self.binding, after)
        return Page[Any](items=list(items), next=cursor)


def page_request(
    params: dict[str, str], paging: Paging, binding: str, codec: CursorCodec
) -> PageRequest:
    """`limit` and `next` read from the query: 400 naming the parameter when refused."""
    raw_limit = params.get("limit")
    if raw_limit is None or raw_limit == "":
        limit = paging.default_limit
    else:
        text = raw_limit.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise _bad_limit(paging)
        limit = int(text)
        if not 1 <= limit <= paging.max_limit:
            raise _bad_limit(paging)
    cursor = params.get("next")
    after = None if cursor is None or cursor == "" else codec.decode(binding, cursor)
    return PageRequest(limit=limit, after=after, binding=binding, codec=codec)


def list_binding(operation: str, filters: Any) -> str:
    """What a cursor is bound to: the list's operation and its query's filters."""
    digest = hashlib.sha256(canonical_json(filters)).hexdigest()[:32]
    return f"{operation}:{digest}"


def _bad_limit(paging: Paging) -> BadRequest:
    return BadRequest(
        "invalid_parameter",
        f"limit is a whole number from 1 to {paging.max_limit}",
        field="limit",
    )


def _bad_cursor(why: str) -> BadRequest:
    return BadRequest("invalid_cursor", f"next is not a valid cursor: {why}", field="next")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if _BASE64URL.fullmatch(text) is None:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # unused trailing bits set: another spelling of the same bytes
        raise ValueError("not canonical base64url")
    return data
