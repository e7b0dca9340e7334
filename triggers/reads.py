"""What the read routes share: the book and the clock of the app's settings, the ids a path
may name, the query types, and the book's refusals as problems.

- `book()`: the `Book` on the app's storage (one per Settings, shared by the requests of a
  worker; its table clients are thread-safe), stamping with the app's clock.
- `now()`: the app's clock (devhost's virtual clock in a simulation). Routes that read it are
  sync, so a clock read over HTTP from the host serving them never blocks its event loop.
- `customer_or_404` and `subscription_or_404`: a path id is looked up as it is; one that is
  not there, whatever its spelling (too long, characters no id has), is a 404 naming it.
- `Country`, `Currency`, `CustomerKey`: query and body types whose schema is exactly what
  they accept.
- `storage()`: the book's permanent refusals as problems. Storage that does not answer is a
  `TransientError`, which the kit already answers 503 with `Retry-After`; storage that
  refuses the app's credentials is a 503 too (`storage_refused`: an operator must fix the
  settings, the client can only retry later).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import Field

from shared.book import Book, BookRefused, InvalidKey, Stored
from shared.clock import app_clock
from shared.config import Settings, get_settings
from shared.models import Customer, SubscriptionRecord
from shared.models.money import CURRENCY_EXPONENTS
from shared.partner_center import PartnerCenterClient
from triggers.api import NotFound, Unavailable

RETRY_AFTER_S = 5
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # Customer.id
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")  # Subscription.id: 1..64 characters


# Query and body types whose JSON Schema says exactly what they accept (schemathesis holds the
# routes to it: a value the schema allows is never refused as malformed).
Country = Annotated[
    str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code, e.g. US")
]
Currency = Annotated[
    str,
    Field(
        pattern="^(" + "|".join(sorted(CURRENCY_EXPONENTS)) + ")$",
        description="An active ISO 4217 code with minor units, upper case, e.g. USD",
    ),
]
CustomerKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="A customer id")]


T = TypeVar("T")


class PerSettings(Generic[T]):
    """`make(settings)` once per Settings: the book or a Partner Center client whose
    connection pool (and token cache) every request on this worker shares, not one per
    request (activities have the same: activities/boundary.py `per_settings`)."""

    def __init__(self, make: Callable[[Settings], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._for: tuple[Settings, T] | None = None

    def __call__(self) -> T:
        settings = get_settings()
        with self._lock:
            if self._for is None or self._for[0] is not settings:
                self._for = (settings, self._make(settings))
            return self._for[1]


book: PerSettings[Book] = PerSettings(lambda s: Book(s, clock=app_clock(s)))
partner_center: PerSettings[PartnerCenterClient] = PerSettings(PartnerCenterClient.from_settings)


def now() -> datetime:
    return app_clock(get_settings()).now()


@contextmanager
def storage() -> Iterator[None]:
    """The book's refusals as problems (see the module docstring)."""
    try:
        yield
    except BookRefused as exc:
        raise Unavailable(
            "storage_refused",
            f"storage refused the app's request ({exc.code}); an operator must fix it",
            retry_after_s=RETRY_AFTER_S,
        ) from exc


def valid_id(value: str, pattern: re.Pattern[str]) -> bool:
    if pattern.fullmatch(value) is None:
        return False
    try:
        value.encode("utf-8")  # a lone surrogate is no id
    except UnicodeEncodeError:
        return False
    return True


def customer_or_404(customer_id: str) -> Stored[Customer]:
    """The customer a path names, or 404 naming `customer_id`."""
    stored = None
    if valid_id(customer_id, _CUSTOMER_ID):
        stored = book().customers.find(customer_id)
    if stored is None:
        raise NotFound(f"there is no customer {customer_id[:100]!r}", field="customer_id")
    return stored


def subscription_or_404(customer_id: str, subscription_id: str) -> SubscriptionRecord:
    """The customer's subscription a path names, or 404 naming `subscription_id`."""
    stored = None
    if valid_id(subscription_id, _PRINTABLE):
        try:
            stored = book().subscriptions.find(customer_id, subscription_id)
        except InvalidKey:
            stored = None
    if stored is None:
        raise NotFound(
            f"customer {customer_id!r} has no subscription {subscription_id[:100]!r}",
            field="subscription_id",
        )
    return stored.record
