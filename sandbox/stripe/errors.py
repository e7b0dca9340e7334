"""Stripe's error object and the HTTP status each kind of error carries.

Stripe answers every failure with `{"error": {type, code, decline_code, param, message, ...}}`;
the SDK picks its exception class from the status code (400/404 InvalidRequestError or
IdempotencyError, 401 AuthenticationError, 402 CardError, 429 RateLimitError).
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


class StripeError(Exception):
    """An error the sandbox answers with, shaped as Stripe's `error` object."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: JSON | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}

    def body(self) -> JSON:
        error: JSON = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, param=param, code=code)


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def unknown_parameter(name: str) -> StripeError:
    return invalid(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def required(name: str) -> StripeError:
    return invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
