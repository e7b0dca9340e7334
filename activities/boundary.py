"""The activity boundary: the one decorator every activity is registered with.

    @activity(bp)
    def check_stripe(probe: StripeProbe, ctx: ActivityContext) -> CheckResult:
        ...

The decorator reads the input and output models from the annotations and registers an
activity function named after the Python function. Around the body it:
1. validates the input into its model (an input the model refuses is a permanent
   `invalid_input` failure naming the field: the orchestrator sent it, so retrying cannot
   help);
2. loads the settings (invalid settings are a permanent `configuration` failure naming
   them);
3. runs the body with an `ActivityContext` (settings, the write step's key, a redactor);
4. turns a `PermanentError` into a typed result: the envelope `{"ok": false, "failure":
   Failure}`; the body's own value becomes `{"ok": true, "value": ...}`, validated against
   the output model on the way out;
5. re-raises a `TransientError` or an unexpected exception as `StepError`, whose message is
   the `Failure` (secrets removed, no chained cause that could quote one), so the Durable
   retry policy runs the step again and the orchestrator kit reads a typed value back.

Write activities take an input model derived from `WriteInput`: its `step_key` (the
orchestration instance id plus the step's name, made by `workflows.durable.step_key`) is what
each external write derives its idempotency key from (Stripe `Idempotency-Key`, Partner
Center `MS-RequestId`), so a retried or replayed step writes once.

The decorated name stays a plain, callable `Activity`: tests call `activity.run(payload)`
(exactly what the Functions host calls) or `activity.body(model, ctx)`; orchestrators pass the
object to the kit (`call(context, check_stripe, probe)`), never a string.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, get_type_hints

import azure.durable_functions as df
from pydantic import BaseModel, Field, ValidationError

from shared.config import Settings, get_settings
from shared.errors import Failure, PermanentError, StepError, TransientError
from shared.models import DomainModel
from shared.partner_center.ids import request_id_for

log = logging.getLogger("cspflow.activities")

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


class WriteInput(DomainModel):
    """Base of every write activity's input: the step it belongs to.

    `step_key` is `<instance id>/<step name>` (workflows.durable.step_key): stable across
    retries and replays of one step, distinct between steps."""

    step_key: str = Field(min_length=3, max_length=400, pattern=r"^\S+/\S+$")


@dataclass(frozen=True)
class ActivityContext:
    """What the boundary hands an activity body besides its input."""

    settings: Settings
    step_key: str | None = None
    log: logging.Logger = field(default=log)

    def request_id(self, operation: str) -> str:
        """The `MS-RequestId` of one Partner Center write of this step (the same on every
        retry of the step)."""
        if self.step_key is None:
            raise TypeError("only a write activity (a WriteInput) makes Partner Center writes")
        return request_id_for(self.step_key, operation)

    def redact(self, text: str) -> str:
        return self.settings.redact(text)


@dataclass(frozen=True)
class Activity(Generic[In, Out]):
    """A registered activity: its name, its models, its body, and the function the host
    calls."""

    name: str
    input_model: type[In]
    output_model: type[Out]
    body: Callable[[In, ActivityContext], Out]

    def run(self, payload: Any) -> dict[str, Any]:
        """What the Functions host invokes: the JSON input in, the JSON envelope out."""
        try:
            request = self.input_model.model_validate(payload)
        except ValidationError as exc:
            return _failed(_invalid("invalid_input", exc), None)
        try:
            settings = get_settings()
        except ValidationError as exc:
            return _failed(_invalid("configuration", exc, prefix="invalid settings: "), None)
        ctx = ActivityContext(settings=settings, step_key=getattr(request, "step_key", None))
        started = time.perf_counter()
        try:
            value = self.body(request, ctx)
        except PermanentError as exc:
            return _failed(Failure.of(exc, redact=settings.redact), started)
        except Exception as exc:
            failure = Failure.of(exc, redact=settings.redact)
            if isinstance(exc, TransientError):
                log.warning("activity %s: transient %s", self.name, failure.describe())
            else:
                log.error(
                    "activity %s: unexpected %s", self.name, failure.describe(), exc_info=False
                )
            # from None: the cause's text may quote a secret; the history keeps this one.
            raise StepError(failure) from None
        # Through JSON and back, as the value will travel: a model built without validation
        # (model_construct) or a different model is caught here, not in the orchestrator.
        data = (
            value.model_dump(mode="json", warnings=False) if isinstance(value, BaseModel) else value
        )
        checked = self.output_model.model_validate(data)
        return {"ok": True, "value": checked.model_dump(mode="json"), "elapsed_ms": _ms(started)}

    def __call__(self, payload: Any) -> dict[str, Any]:
        return self.run(payload)


def activity(
    bp: df.Blueprint, *, name: str | None = None
) -> Callable[[Callable[[In, ActivityContext], Out]], Activity[In, Out]]:
    """Register `fn(input: InModel, ctx: ActivityContext) -> OutModel` as an activity."""

    def register(fn: Callable[[In, ActivityContext], Out]) -> Activity[In, Out]:
        try:
            hints = get_type_hints(fn)
        except NameError as exc:  # an annotation the module cannot resolve
            raise TypeError(f"{fn.__name__}: {exc}; annotate with importable models") from exc
        params = list(inspect.signature(fn).parameters)
        if len(params) != 2:
            raise TypeError(f"{fn.__name__} takes (input model, ActivityContext)")
        input_model, output_model = hints.get(params[0]), hints.get("return")
        for what, model in (("input", input_model), ("return", output_model)):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"{fn.__name__}: the {what} annotation must be a pydantic model")
        handle: Activity[In, Out] = Activity(
            name=name or fn.__name__,
            input_model=input_model,  # type: ignore[arg-type]
            output_model=output_model,  # type: ignore[arg-type]
            body=fn,
        )

        # The worker binds the trigger by parameter name and the function by its own name.
        def entry(payload: Any) -> dict[str, Any]:
            return handle.run(payload)

        entry.__name__ = entry.__qualname__ = handle.name
        entry.__doc__ = fn.__doc__
        bp.activity_trigger(input_name="payload", activity=handle.name)(entry)
        return handle

    return register


def _invalid(code: str, exc: ValidationError, *, prefix: str = "") -> Failure:
    """A permanent failure naming the first field pydantic refused (`error_type` as the
    matching shared.errors class would name it)."""
    fields = sorted({".".join(str(p) for p in err["loc"]) or "(input)" for err in exc.errors()})
    first = exc.errors()[0]
    return Failure(
        kind="permanent",
        error_type="ConfigurationError" if code == "configuration" else "ValidationError",
        code=code,
        message=f"{prefix}{', '.join(fields)}" if prefix else f"{fields[0]}: {first['msg']}",
        field=fields[0],
    )


def _failed(failure: Failure, started: float | None) -> dict[str, Any]:
    return {
        "ok": False,
        "failure": failure.model_dump(mode="json"),
        "elapsed_ms": None if started is None else _ms(started),
    }


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


_PER_SETTINGS: dict[tuple[str, int], tuple[Settings, Any]] = {}
_PER_SETTINGS_LOCK = threading.Lock()
T = TypeVar("T")


def per_settings(kind: str, settings: Settings, make: Callable[[Settings], T]) -> T:
    """One `make(settings)` per Settings object and kind: the book, a Partner Center or Stripe
    client, whose connection pool and token cache every invocation on a worker shares. Keyed
    by identity, which is free (hashing Settings serialises them); the process has one
    Settings at a time (tests make more: the oldest are forgotten)."""
    with _PER_SETTINGS_LOCK:
        found = _PER_SETTINGS.get((kind, id(settings)))
        if found is None or found[0] is not settings:
            if len(_PER_SETTINGS) >= 32:
                _PER_SETTINGS.clear()
            found = (settings, make(settings))
            _PER_SETTINGS[(kind, id(settings))] = found
    value: T = found[1]
    return value
