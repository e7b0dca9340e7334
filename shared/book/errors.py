"""What the book raises, in the project's failure vocabulary (shared/errors.py).

Permanent (the answer; retrying the same request cannot change it): a record that is not
there, an id already used for another record, a record too large for Azure Tables, a cursor
that is not one of ours, storage refusing the request. Transient (retry the step): a
concurrent writer got there first (the step's retry re-reads, so it succeeds), storage
unreachable or busy.

Every message names the record (kind, keys and table), never a secret.
"""

from __future__ import annotations

from shared.errors import PermanentError, TransientError


class RecordNotFound(PermanentError):
    """No record under these keys."""

    code = "not_found"


class RecordExists(PermanentError):
    """The id is taken by a different record (a command id reused with another body)."""

    code = "conflict"


class RecordTooLarge(PermanentError):
    """A property over 64 KiB or an entity over 1 MiB: Azure Tables would refuse it (or, in
    Azurite, keep what Azure would refuse), so nothing is written."""

    code = "record_too_large"


class InvalidKey(PermanentError, ValueError):
    """An id that cannot be a key: over Azure Tables' 1 KiB once escaped."""

    code = "invalid_key"


class InvalidPaging(PermanentError, ValueError):
    """A `limit` out of range, or a `next` cursor that this listing did not hand out."""

    code = "invalid_paging"


class ConcurrencyConflict(TransientError):
    """Another writer changed the record since it was read (its ETag no longer matches).

    Transient on purpose: the write was not lost, it was refused, and the step that made it
    succeeds when it runs again, because it reads the record afresh. `update()` retries in
    place first; only a record under sustained contention lets this escape, and then the
    Durable retry policy runs the step again."""

    code = "concurrency_conflict"


class BookUnavailable(TransientError):
    """Azure Tables did not answer, timed out, throttled (503/500) or failed the request."""

    code = "storage_unavailable"


class BookRefused(PermanentError):
    """Azure Tables refused the request (credentials, permissions, a request it calls
    invalid). `code` carries the service's error code when it gave one."""

    code = "storage_refused"
