"""Errors the engine API raises; the front maps them onto the extension's HTTP statuses."""

from __future__ import annotations

from devhost.app import AppLoadError, FunctionNotFoundError

__all__ = [
    "AppLoadError",
    "EngineError",
    "FunctionNotFoundError",
    "InstanceExistsError",
    "InstanceGoneError",
    "InstanceNotFoundError",
    "InvalidRequestError",
]


class EngineError(Exception):
    """Base of the engine's own errors."""


class InstanceNotFoundError(EngineError, LookupError):
    """No instance with that id (HTTP 404)."""


class InstanceGoneError(EngineError):
    """The instance is in a state where the operation no longer applies (HTTP 410)."""


class InstanceExistsError(EngineError):
    """An instance with that id is still active and cannot be replaced (HTTP 409/400)."""


class InvalidRequestError(EngineError, ValueError):
    """A bad argument: an invalid instance id, a payload that is not JSON (HTTP 400)."""
