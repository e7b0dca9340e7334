"""The activity boundary: input validated, settings loaded, permanent failures returned as
typed results, transient and unexpected ones re-raised for the retry policy without secrets,
and write steps keyed for idempotency."""

from __future__ import annotations

import azure.durable_functions as df
import pytest
from pydantic import BaseModel, Field

from activities.boundary import ActivityContext, WriteInput, activity
from shared.errors import PermanentError, StepError, TransientError
from shared.models import DomainModel

bp = df.Blueprint()
SECRET = "sk_test_boundary_secret_42"


class Greeting(DomainModel):
    name: str = Field(min_length=1)
    mood: str = "fine"


class Reply(DomainModel):
    text: str


class Charge(WriteInput):
    amount_minor: int = Field(gt=0)


class Receipt(DomainModel):
    request_id: str
    step_key: str


@activity(bp)
def greet(greeting: Greeting, ctx: ActivityContext) -> Reply:
    if greeting.mood == "refused":
        raise PermanentError(f"no greetings for {greeting.name}")
    if greeting.mood == "busy":
        raise TransientError(f"try later with key {ctx.settings.stripe_api_key.get_secret_value()}")
    if greeting.mood == "buggy":
        raise KeyError(f"items (key {SECRET})")
    if greeting.mood == "malformed":
        return Reply.model_construct(text=42)  # type: ignore[arg-type]
    return Reply(text=f"hello {greeting.name}")


@activity(bp, name="charge_card")
def charge(request: Charge, ctx: ActivityContext) -> Receipt:
    return Receipt(request_id=ctx.request_id("charge"), step_key=request.step_key)


@pytest.fixture
def secret_key(configure):
    configure(CSPFLOW_STRIPE_API_KEY=SECRET)


def test_a_value_comes_back_in_the_ok_envelope_with_the_time_it_took(secret_key):
    envelope = greet.run({"name": "Ada"})
    assert envelope["ok"] is True
    assert envelope["value"] == {"text": "hello Ada"}
    assert isinstance(envelope["elapsed_ms"], int)


def test_the_activity_is_registered_under_its_function_name_or_the_one_given():
    app = df.DFApp()
    app.register_functions(bp)
    names = {f.get_function_name() for f in app.get_functions()}
    assert names == {"greet", "charge_card"}
    assert (greet.name, charge.name) == ("greet", "charge_card")
    assert (greet.input_model, greet.output_model) == (Greeting, Reply)


def test_a_permanent_failure_is_a_typed_result_not_an_exception(secret_key):
    envelope = greet.run({"name": "Ada", "mood": "refused"})
    assert envelope["ok"] is False
    assert envelope["failure"] == {
        "kind": "permanent",
        "error_type": "PermanentError",
        "code": "permanent",
        "message": "no greetings for Ada",
        "field": None,
    }


def test_a_transient_failure_is_raised_for_the_retry_policy_with_secrets_removed(secret_key):
    with pytest.raises(StepError) as raised:
        greet.run({"name": "Ada", "mood": "busy"})
    failure = raised.value.failure
    assert (failure.kind, failure.error_type) == ("transient", "TransientError")
    assert SECRET not in str(raised.value)
    assert failure.message == "try later with key ***"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_unexpected_exception_is_raised_as_unexpected_with_secrets_removed(secret_key):
    with pytest.raises(StepError) as raised:
        greet.run({"name": "Ada", "mood": "buggy"})
    assert (raised.value.failure.kind, raised.value.failure.error_type) == (
        "unexpected",
        "KeyError",
    )
    assert SECRET not in str(raised.value)


def test_a_result_that_breaks_the_output_model_is_a_bug_not_a_success(secret_key):
    with pytest.raises(ValueError, match="text"):
        greet.run({"name": "Ada", "mood": "malformed"})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "Ada", "extra": 1}, "extra"),
        (None, "(input)"),
        ("Ada", "(input)"),
    ],
)
def test_an_input_the_model_refuses_is_a_permanent_failure_naming_the_field(payload, field):
    envelope = greet.run(payload)
    assert envelope["ok"] is False
    assert envelope["failure"]["code"] == "invalid_input"
    assert envelope["failure"]["field"] == field
    assert envelope["elapsed_ms"] is None


def test_invalid_settings_are_a_permanent_failure_naming_each_setting(configure):
    with pytest.raises(ValueError, match="smtp_port"):
        configure(CSPFLOW_SMTP_PORT="not-a-port")
    envelope = greet.run({"name": "Ada"})
    assert envelope["failure"]["code"] == "configuration"
    assert envelope["failure"]["message"] == "invalid settings: smtp_port"


def test_a_write_step_gets_the_same_request_id_on_every_retry_and_another_per_step():
    first = charge.run({"step_key": "order-1/charge", "amount_minor": 100})
    again = charge.run({"step_key": "order-1/charge", "amount_minor": 100})
    other = charge.run({"step_key": "order-1/refund", "amount_minor": 100})
    assert first == {**again, "elapsed_ms": first["elapsed_ms"]}
    assert first["value"]["request_id"] != other["value"]["request_id"]


@pytest.mark.parametrize("step_key", ["", "no-slash", "a/b c"])
def test_a_write_without_a_proper_step_key_is_refused_before_it_runs(step_key):
    envelope = charge.run({"step_key": step_key, "amount_minor": 100})
    assert envelope["failure"]["field"] == "step_key"


def test_only_a_write_activity_can_ask_for_a_request_id(configure):
    ctx = ActivityContext(settings=configure())
    with pytest.raises(TypeError, match="write activity"):
        ctx.request_id("charge")


class NotAModel:
    pass


def test_a_body_must_take_a_model_and_return_one():
    with pytest.raises(TypeError, match="pydantic model"):

        @activity(df.Blueprint())  # type: ignore[type-var]  # mypy sees it too
        def bad(x: NotAModel, ctx: ActivityContext) -> Reply:
            return Reply(text="")

    with pytest.raises(TypeError, match="input model, ActivityContext"):

        @activity(df.Blueprint())  # type: ignore[arg-type]  # mypy sees it too
        def lonely(x: Greeting) -> Reply:
            return Reply(text="")


def test_models_are_pydantic_models():
    assert issubclass(Greeting, BaseModel)
