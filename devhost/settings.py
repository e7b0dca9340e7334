"""What `func start` reads from an app folder: local.settings.json and host.json.

`local.settings.json` `Values` become environment variables, but a variable already set in
the environment wins (Core Tools logs "Skipping 'X' from local settings as it's already defined
in current environment variables"). host.json gives the HTTP route prefix, the Durable task
hub name (with `%SETTING%` references resolved from the environment) and the queue options.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

DEFAULT_HUB_NAME = "TestHubName"  # Durable extension's local default (DurableTaskOptions.cs)
STORAGE_SETTING = "AzureWebJobsStorage"


class SettingsError(ValueError):
    """A settings file that cannot be used; the message says which file and what to fix."""


@dataclass(frozen=True)
class LocalSettings:
    values: dict[str, str] = field(default_factory=dict)
    local_http_port: int | None = None  # Host.LocalHttpPort: the default for --port
    cors: str | None = None  # Host.CORS: the default for --cors
    cors_credentials: bool = False  # Host.CORSCredentials: the default for --cors-credentials


def load_local_settings(app_dir: Path) -> LocalSettings:
    """Read `local.settings.json` (absent = empty); reject what Core Tools would reject."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return LocalSettings()
    return read_local_settings(path)


def read_local_settings(path: Path) -> LocalSettings:
    """Read a file shaped like `local.settings.json` (its `.example`, say)."""
    doc = _read_json(path)
    if doc.get("IsEncrypted") is True:
        raise SettingsError(f"{path}: encrypted settings are not supported; set IsEncrypted false")
    values = doc.get("Values") or {}
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: 'Values' must be an object of strings")
    bad = sorted(k for k, v in values.items() if not isinstance(v, str | int | float | bool))
    if bad:
        raise SettingsError(f"{path}: Values.{bad[0]} must be a string")
    host = doc.get("Host")
    host = {} if host is None else host
    if not isinstance(host, dict):
        raise SettingsError(f"{path}: 'Host' must be an object")
    port = host.get("LocalHttpPort")
    cors = host.get("CORS")
    if cors is not None and not isinstance(cors, str):
        raise SettingsError(f"{path}: Host.CORS must be a string of comma-separated origins")
    credentials = host.get("CORSCredentials", False)
    if not isinstance(credentials, bool):
        raise SettingsError(f"{path}: Host.CORSCredentials must be true or false")
    return LocalSettings(
        values={k: _as_setting(v) for k, v in values.items()},
        local_http_port=int(port) if isinstance(port, int | str) and str(port).isdigit() else None,
        cors=cors,
        cors_credentials=credentials,
    )


def apply_values(values: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Put `values` into `environ` unless already there; returns the names skipped."""
    skipped = []
    for name, value in values.items():
        if name in environ:
            skipped.append(name)
        else:
            environ[name] = value
    return skipped


WORKER_PROCESS_COUNT = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_WORKER_PROCESSES = 10  # the Functions host's own limit for the setting


def worker_process_count(environ: Mapping[str, str]) -> int:
    """How many worker processes run the app's activities: the app setting
    `FUNCTIONS_WORKER_PROCESS_COUNT` (1 to 10, as in Azure:
    https://learn.microsoft.com/en-us/azure/azure-functions/functions-app-settings#functions_worker_process_count).
    Unset: 0, devhost's own default, every activity on the host's threads."""
    raw = environ.get(WORKER_PROCESS_COUNT, "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WORKER_PROCESSES:
        raise SettingsError(
            f"{WORKER_PROCESS_COUNT} must be a whole number from 1 to {MAX_WORKER_PROCESSES}, "
            f"not {raw!r}"
        )
    return int(raw)


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues` with the documented defaults (WebJobs QueuesOptions)."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: timedelta = timedelta(0)
    # The real default is 1 minute; Core Tools runs in development mode, where it is 2 s.
    max_polling_interval: timedelta = timedelta(seconds=2)
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    hub_name: str = DEFAULT_HUB_NAME
    durable_task: dict[str, Any] = field(default_factory=dict)
    queues: QueueOptions = field(default_factory=QueueOptions)


def load_host_config(app_dir: Path, environ: Mapping[str, str] | None = None) -> HostConfig:
    """Read host.json (absent = defaults). `environ` resolves `%NAME%` in the hub name."""
    env = os.environ if environ is None else environ
    path = app_dir / "host.json"
    if not path.exists():
        return HostConfig()
    doc = _read_json(path)
    ext = doc.get("extensions") or {}
    http = ext.get("http") or {}
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise SettingsError(f"{path}: extensions.http.routePrefix must be a string")
    durable = ext.get("durableTask") or {}
    hub = durable.get("hubName") or DEFAULT_HUB_NAME
    hub = resolve_refs(str(hub), env, str(path))
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,49}", hub):
        raise SettingsError(
            f"{path}: durableTask hubName {hub!r} must be 3-50 letters or digits, "
            "starting with a letter"
        )
    return HostConfig(
        route_prefix=prefix.strip("/"),
        hub_name=hub,
        durable_task=dict(durable),
        queues=_queue_options(ext.get("queues") or {}, path),
    )


def _queue_options(raw: Mapping[str, Any], path: Path) -> QueueOptions:
    def number(name: str, default: int) -> int:
        value = raw.get(name, default)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SettingsError(
                f"{path}: extensions.queues.{name} must be a whole number, got {value!r}"
            ) from None

    def timespan(name: str, default: str) -> timedelta:
        try:
            return parse_timespan(str(raw.get(name, default)))
        except SettingsError as exc:
            raise SettingsError(f"{path}: extensions.queues.{name}: {exc}") from None

    batch = number("batchSize", 16)
    if not 1 <= batch <= 32:
        raise SettingsError(f"{path}: extensions.queues.batchSize must be 1..32, got {batch}")
    threshold = number("newBatchThreshold", batch // 2)
    max_dequeue = number("maxDequeueCount", 5)
    if max_dequeue < 1:
        raise SettingsError(f"{path}: extensions.queues.maxDequeueCount must be at least 1")
    encoding = str(raw.get("messageEncoding", "base64")).lower()
    if encoding not in {"base64", "none"}:
        raise SettingsError(f"{path}: extensions.queues.messageEncoding must be base64 or none")
    return QueueOptions(
        batch_size=batch,
        new_batch_threshold=max(0, threshold),
        max_dequeue_count=max_dequeue,
        visibility_timeout=timespan("visibilityTimeout", "00:00:00"),
        max_polling_interval=timespan("maxPollingInterval", "00:00:02"),
        message_encoding=encoding,
    )


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")


def parse_timespan(text: str) -> timedelta:
    """A .NET TimeSpan string (`[d.]hh:mm:ss[.fffffff]`), as host.json writes durations."""
    m = _TIMESPAN.match(text.strip())
    if m is None:
        raise SettingsError(f"{text!r} is not a TimeSpan like 00:00:30")
    days, hours, minutes, seconds, frac = m.groups()
    return timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((frac or "0").ljust(7, "0")[:6]),
    )


def is_disabled(function_name: str, env: Mapping[str, str]) -> bool:
    """Whether the app setting `AzureWebJobs.<name>.Disabled` turns the function off, as the
    Functions host reads it (`true` or `1`, any case;
    https://learn.microsoft.com/en-us/azure/azure-functions/disable-function). Linux app
    settings cannot hold dots, so `AzureWebJobs__<name>__Disabled` is read too."""
    for name in (
        f"AzureWebJobs.{function_name}.Disabled",
        f"AzureWebJobs__{function_name}__Disabled",
    ):
        if env.get(name, "").strip().lower() in ("true", "1"):
            return True
    return False


def resolve_refs(text: str, env: Mapping[str, str], where: str) -> str:
    """Replace `%Name%` with the app setting Name, as the host does in bindings and host.json."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise SettingsError(f"{where}: %{name}% is not set in local.settings.json Values")
        return env[name]

    return re.sub(r"%([^%]+)%", sub, text)


def _as_setting(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise SettingsError(f"{path}: expected a JSON object")
    return doc
