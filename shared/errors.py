"""One failure vocabulary for every adapter, activity and workflow.

Two meanings, and every error an adapter raises derives from one of them:
- `TransientError`: try again. The network, a timeout, a 5xx, a 429, a service still busy,
  a concurrent writer that changed a record first (the retry re-reads it).
  An activity lets it escape so the Durable retry policy runs the step again after a durable
  timer (never a sleeping worker), with the same idempotency key.
- `PermanentError`: this is the answer. Refused (credentials, forbidden), declined, invalid,
  not found, a state that forbids the request, not allowed by policy. Retrying the same request cannot change it,
  so the activity boundary (activities/boundary.py) returns it as a typed `Failure` and the
  orchestrator decides what it means for the business.

Anything else escaping an activity is a bug (`kind="unexpected"`): it is retried like a
transient failure (the Durable retry policy cannot tell them apart), logged, and reported
with its type.

`Failure` is the value that crosses the Durable boundary: the activity boundary writes it,
the orchestrator kit (workflows/durable.py) reads it back, so no workflow ever parses an
exception's text. See docs/architecture.md ("Failures").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FailureKind = Literal["permanent", "transient", "unexpected"]
RedactFn = Callable[[str], str]

# Detail is for an operator: one line, bounded (SDK messages can run to pages).
MAX_MESSAGE = 500


class CspflowError(Exception):
    """Base of every error cspflow's own code raises on purpose.

    `code` is a short machine-readable reason (an upstream error code where there is one,
    e.g. Partner Center's "800090" or Stripe's "resource_missing"); `field` names the input
    that caused it, when one did."""

    code: str = "error"
    field: str | None = None


class TransientError(CspflowError):
    """Technical and temporary: retry the step. `retry_after_s` is the wait the service
    asked for, when it said."""

    code = "transient"
    retry_after_s: float | None = None


class PermanentError(CspflowError):
    """The service (or a rule) gave its answer: retrying the same request cannot help."""

    code = "permanent"


class ConfigurationError(PermanentError, ValueError):
    """A setting is missing or unusable: fix the configuration, then run the step again.
    (A ValueError too, so callers that validate input the standard way still catch it.)"""

    code = "configuration"


class Failure(BaseModel):
    """Why a step did not produce its value, as data.

    kind: permanent (the answer), transient (retries spent), unexpected (a bug).
    error_type: the exception's class name; code: its `code` (or the kind);
    message: its first line, secrets removed; field: the input it names, if any."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FailureKind
    error_type: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=200)
    message: str = Field(max_length=MAX_MESSAGE)
    field: str | None = None

    @property
    def retryable(self) -> bool:
        return self.kind != "permanent"

    def describe(self) -> str:
        """`ErrorType: message`, the line an operator reads."""
        return f"{self.error_type}: {self.message}" if self.message else self.error_type

    @classmethod
    def of(cls, exc: BaseException, *, redact: RedactFn | None = None) -> Failure:
        """The failure `exc` stands for; `redact` removes secrets from its message."""
        if isinstance(exc, PermanentError):
            kind: FailureKind = "permanent"
        elif isinstance(exc, TransientError):
            kind = "transient"
        else:
            kind = "unexpected"
        message = first_line(exc)
        if redact is not None:
            message = redact(message)
        code = exc.code if isinstance(exc, CspflowError) else kind
        field = exc.field if isinstance(exc, CspflowError) else None
        return cls(
            kind=kind,
            error_type=type(exc).__name__,
            code=str(code)[:200] or kind,
            message=message[:MAX_MESSAGE],
            field=field,
        )


class StepError(Exception):
    """Raised by the activity boundary for a transient or unexpected failure, so the Durable
    retry policy runs the step again. Its message is the `Failure` as one line of JSON: the
    Durable extension reports a failed activity to the orchestrator as
    `Activity function '<name>' failed: <message>` followed by the stack trace, and
    `failure_from_reason` reads the JSON back."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.model_dump_json())
        self.failure = failure


def failure_from_reason(reason: str) -> Failure:
    """The `Failure` inside the text the Durable SDK raises for a failed activity or
    sub-orchestration (`<Activity|Orchestrator> function '<name>' failed: <message> \\n
    <details>`). A message that is not a `StepError`'s (the host gave up on the function, a
    sub-orchestrator raised) is an unexpected failure with its first line as the message."""
    line = first_line_of(reason)
    _, sep, message = line.partition(" failed: ")
    body = message.strip() if sep else line
    if body.startswith("{"):
        try:
            return Failure.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            pass
    return Failure(
        kind="unexpected",
        error_type="StepFailed",
        code="unexpected",
        message=line[:MAX_MESSAGE],
    )


def first_line(exc: BaseException) -> str:
    """The first non-empty line of `exc`'s message, or its class name."""
    return first_line_of(str(exc)) or type(exc).__name__


def first_line_of(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
