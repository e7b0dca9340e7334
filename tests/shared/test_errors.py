"""The failure vocabulary: every adapter error means retry or answer, and a Failure survives
the trip through the Durable host's failure text."""

from __future__ import annotations

import pytest

from shared.errors import (
    ConfigurationError,
    Failure,
    PermanentError,
    StepError,
    TransientError,
    failure_from_reason,
)
from shared.partner_center.errors import (
    AuthError,
    BusinessError,
    DomainUnavailableError,
    ExportPendingError,
    NotFoundError,
    RenewalProcessingError,
    RetryableError,
    ThrottledError,
)
from shared.payments.errors import PaymentRejected, PaymentsUnavailable, WebhookRejected


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (RetryableError("503 from Partner Center", 503), "transient", "503"),
        (ThrottledError("429", 429, retry_after_s=2.0), "transient", "429"),
        (RenewalProcessingError("renewal being processed", 409), "transient", "409"),
        (ExportPendingError("still running", "https://x/op", 5.0), "transient", "transient"),
        (BusinessError(400, "800090", "cannot decrease", "rid"), "permanent", "800090"),
        (NotFoundError(404, "20003", "no such subscription", "rid"), "permanent", "20003"),
        (AuthError("Entra ID refused the token request"), "permanent", "auth"),
        (DomainUnavailableError("contoso.onmicrosoft.com"), "permanent", "domain_unavailable"),
        (PaymentsUnavailable("connection refused"), "transient", "transient"),
        (
            PaymentRejected("No such customer", status=404, code="resource_missing", param="id"),
            "permanent",
            "resource_missing",
        ),
        (WebhookRejected("bad signature"), "permanent", "permanent"),
        (ConfigurationError("a Stripe API key is required"), "permanent", "configuration"),
        (KeyError("items"), "unexpected", "unexpected"),
    ],
)
def test_every_adapter_error_is_transient_or_permanent(error, kind, code):
    failure = Failure.of(error)
    assert (failure.kind, failure.code, failure.error_type) == (kind, code, type(error).__name__)
    assert failure.retryable is (kind != "permanent")


def test_a_stripe_refusal_names_the_parameter_as_the_field():
    error = PaymentRejected("Invalid email", status=400, code="email_invalid", param="email")
    assert Failure.of(error).field == "email"


def test_a_failure_keeps_only_the_first_line_and_redacts_it():
    error = TransientError("GET https://x?key=sk_test_123 failed\n  Traceback ...")
    failure = Failure.of(error, redact=lambda text: text.replace("sk_test_123", "***"))
    assert failure.message == "GET https://x?key=*** failed"
    assert failure.describe() == "TransientError: GET https://x?key=*** failed"


def test_a_message_of_any_length_fits_the_failure():
    assert len(Failure.of(PermanentError("x" * 5000)).message) == 500


def test_a_step_error_round_trips_through_the_hosts_failure_text():
    failure = Failure(
        kind="transient", error_type="ThrottledError", code="429", message="slow down"
    )
    reason = f"Activity function 'charge' failed: {StepError(failure)} \n Traceback (most ..."
    assert failure_from_reason(reason) == failure


@pytest.mark.parametrize(
    "reason",
    [
        "Activity function 'charge' failed: boom \n Traceback",
        "Activity function 'charge' failed: {not json",
        'Activity function \'charge\' failed: {"kind": "sideways"}',
        "Orchestrator function 'child' failed: ValueError: bad",
        "",
    ],
)
def test_text_that_is_not_a_step_error_reads_as_an_unexpected_failure(reason):
    failure = failure_from_reason(reason)
    assert (failure.kind, failure.error_type) == ("unexpected", "StepFailed")
    assert "\n" not in failure.message
