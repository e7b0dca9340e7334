"""Signed, expiring links mailed to customers (a renewal decision): a JWT (HS256, PyJWT) in
the URL path, scoped to one action on one subject of one customer.

A link carries: `aud` (the action, `renewal-decision`), `sub` (the subject: the renewal's id),
`cus` (the customer), `jti` (the link's own id, so a link that was used can be refused), `iat`
and `exp`. It verifies only with the app's key, before its expiry, for its action; the page
then checks the subject and customer against the book (docs/renewals.md, "Decision links").

The key is `CSPFLOW_LINK_SIGNING_KEY`. Locally, when it is unset, a key derived from the
storage connection string is used (stable across restarts of one stack, different for
another); in Azure an unset key refuses to sign or verify anything.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import jwt

from shared.config import Settings
from shared.errors import ConfigurationError

ALGORITHM = "HS256"
Action = Literal["renewal-decision"]
Refusal = Literal["malformed", "tampered", "expired", "wrong_action"]
_LOCAL_SALT = b"cspflow local link key"


@dataclass(frozen=True)
class LinkClaims:
    action: Action
    subject_id: str
    customer_id: str
    link_id: str
    expires_at: datetime


class LinkRefused(Exception):
    """A link that does not verify: `reason` says which way (never anything it holds)."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason


def signing_key(settings: Settings) -> bytes:
    key = settings.link_signing_key.get_secret_value()
    if key:
        return key.encode()
    if settings.environment == "azure":
        raise ConfigurationError("link_signing_key must be set to mail signed links in Azure")
    connection = settings.storage_connection.get_secret_value().encode()
    return hmac.new(
        _LOCAL_SALT, connection + settings.table_prefix.encode(), hashlib.sha256
    ).digest()


def sign(settings: Settings, claims: LinkClaims, now: datetime) -> str:
    payload = {
        "aud": claims.action,
        "sub": claims.subject_id,
        "cus": claims.customer_id,
        "jti": claims.link_id,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    return jwt.encode(payload, signing_key(settings), algorithm=ALGORITHM)


def verify(settings: Settings, token: str, action: Action, now: datetime) -> LinkClaims:
    """The link's claims, or `LinkRefused` naming why not. Time is `now` (the app's clock,
    virtual in a simulation), not the machine's."""
    key = signing_key(settings)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise LinkRefused("malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise LinkRefused("tampered")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            # Times are checked against the app's clock below, not the machine's.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "require": ["exp", "aud", "sub"],
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise LinkRefused("tampered") from exc
    except jwt.InvalidTokenError as exc:
        raise LinkRefused("malformed") from exc
    if payload.get("aud") != action:
        raise LinkRefused("wrong_action")
    expires = payload.get("exp")
    if not isinstance(expires, int) or now.timestamp() >= expires:
        raise LinkRefused("expired")
    subject, customer, link_id = payload.get("sub"), payload.get("cus"), payload.get("jti")
    if not all(isinstance(v, str) and v for v in (subject, customer, link_id)):
        raise LinkRefused("malformed")
    return LinkClaims(
        action=action,
        subject_id=str(subject),
        customer_id=str(customer),
        link_id=str(link_id),
        expires_at=datetime.fromtimestamp(expires, tz=now.tzinfo),
    )
