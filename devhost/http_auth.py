"""Function keys, as the Functions host checks them when `--enable-auth` is on.

Core Tools does not enforce `auth_level` locally, and neither does devhost by default. With
`--enable-auth`, a `function`-level route needs a function key or the master key and an
`admin`-level one needs the master key, presented in the `x-functions-key` header or the
`code` query parameter; anything else is 401. The Durable management webhooks need the
extension's system key (or the master key), which devhost writes into the URLs it hands out,
as Azure does.

Keys come from the environment (local.settings.json `Values`): `DEVHOST_MASTER_KEY`,
`DEVHOST_FUNCTION_KEY`, `DEVHOST_DURABLETASK_KEY`. A missing key is generated at startup and
printed once, like the keys `func azure functionapp list-functions` shows.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
DURABLETASK_KEY_SETTING = "DEVHOST_DURABLETASK_KEY"


class Level(Enum):
    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"
    SYSTEM = "system"  # extension webhooks (/runtime/webhooks/durabletask)


@dataclass(frozen=True)
class KeyRing:
    master: str
    function: str
    durabletask: str
    generated: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> KeyRing:
        generated = []
        values = {}
        for setting in (MASTER_KEY_SETTING, FUNCTION_KEY_SETTING, DURABLETASK_KEY_SETTING):
            value = environ.get(setting, "")
            if not value:
                value = secrets.token_urlsafe(32)
                generated.append(setting)
            values[setting] = value
        return cls(
            master=values[MASTER_KEY_SETTING],
            function=values[FUNCTION_KEY_SETTING],
            durabletask=values[DURABLETASK_KEY_SETTING],
            generated=tuple(generated),
        )

    def allows(self, level: Level, presented: str | None) -> bool:
        if level is Level.ANONYMOUS:
            return True
        if not presented:
            return False
        accepted = {
            Level.FUNCTION: (self.function, self.master),
            Level.ADMIN: (self.master,),
            Level.SYSTEM: (self.durabletask, self.master),
        }[level]
        # Constant-time comparison: a key check must not leak how much of a guess matched.
        return any(hmac.compare_digest(presented.encode(), key.encode()) for key in accepted)


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key a request carries: the `x-functions-key` header wins over `?code=`."""
    return headers.get("x-functions-key") or query.get("code") or None
