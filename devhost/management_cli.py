"""`python -m devhost durable ...`: the `func durable` commands, against a running devhost.

Core Tools' `func durable` reads the task hub's storage directly; devhost's store belongs to
the running host (one SQLite writer), so these commands go through its management webhooks
instead (`--url`, default http://127.0.0.1:7071; `--key` or DEVHOST_MASTER_KEY when the host
runs with --enable-auth). Option names follow `func durable`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any
from urllib.parse import quote

import requests

from devhost.management_urls import WEBHOOK_PREFIX


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    durable = sub.add_parser("durable", help="manage orchestration instances (like func durable)")
    durable.add_argument("--url", default="http://127.0.0.1:7071", help="the running devhost")
    durable.add_argument("--key", default=None, help="master or durabletask key (auth on)")
    cmds = durable.add_subparsers(dest="durable_command", required=True)

    p = cmds.add_parser("start-new", help="start an orchestration")
    p.add_argument("--function-name", required=True)
    p.add_argument("--id", default=None)
    p.add_argument("--input", default=None, help="JSON input, or @file.json")
    p.add_argument("--version", default=None)

    p = cmds.add_parser("get-instances", help="list instances")
    p.add_argument("--created-after", default=None)
    p.add_argument("--created-before", default=None)
    p.add_argument("--runtime-status", default=None, help="comma-separated statuses")
    p.add_argument("--top", type=int, default=None)
    p.add_argument("--continuation-token", default=None)

    p = cmds.add_parser("get-runtime-status", help="one instance's status")
    p.add_argument("--id", required=True)
    p.add_argument("--show-input", action="store_true")
    p.add_argument("--show-output", action="store_true")

    p = cmds.add_parser("get-history", help="one instance's history")
    p.add_argument("--id", required=True)

    p = cmds.add_parser("raise-event", help="send an event to an instance")
    p.add_argument("--id", required=True)
    p.add_argument("--event-name", required=True)
    p.add_argument("--event-data", default="null", help="JSON data, or @file.json")

    p = cmds.add_parser("terminate", help="terminate an instance")
    p.add_argument("--id", required=True)
    p.add_argument("--reason", default="Terminated from the command line")

    p = cmds.add_parser("purge-history", help="purge finished instances")
    p.add_argument("--id", default=None, help="one instance; else the filters below")
    p.add_argument("--created-after", default="0001-01-01T00:00:00Z")
    p.add_argument("--created-before", default=None)
    p.add_argument("--runtime-status", default=None)


def _json_arg(text: str | None, option: str) -> Any:
    if text is None:
        return None
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as fh:
            text = fh.read()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"{option} is not valid JSON: {exc}") from exc


def run(ns: argparse.Namespace) -> int:
    base = ns.url.rstrip("/") + WEBHOOK_PREFIX
    key = ns.key or os.environ.get("DEVHOST_MASTER_KEY")
    headers = {"x-functions-key": key} if key else {}
    cmd = ns.durable_command
    try:
        resp = _request(base, headers, cmd, ns)
    except requests.ConnectionError:
        print(
            f"no devhost answers at {ns.url}: start it with `python -m devhost start`",
            file=sys.stderr,
        )
        return 1
    if resp.status_code == 401:
        print(
            "devhost runs with --enable-auth: pass --key or set DEVHOST_MASTER_KEY", file=sys.stderr
        )
        return 1
    if resp.status_code == 404 and cmd == "purge-history" and not ns.id:
        # The extension answers 404 when no instance matched; for a filter that is no error.
        print(json.dumps({"instancesDeleted": 0}, indent=2))
        return 0
    if resp.status_code == 404:
        print("not found", file=sys.stderr)
        return 1
    body: Any = resp.json() if resp.content else None
    if resp.status_code >= 400:
        message = body.get("ExceptionMessage") if isinstance(body, dict) else body
        print(f"error {resp.status_code}: {message}", file=sys.stderr)
        return 1
    if cmd == "get-history" and isinstance(body, dict):
        body = body.get("historyEvents", [])
    if body is not None:
        print(json.dumps(body, indent=2))
    elif cmd in {"raise-event", "terminate"}:
        print(f"{cmd}: accepted for instance {ns.id}")
    token = resp.headers.get("x-ms-continuation-token")
    if token:
        print(f"continuation token: {token}", file=sys.stderr)
    return 0


def _request(
    base: str, headers: dict[str, str], cmd: str, ns: argparse.Namespace
) -> requests.Response:
    timeout = 30
    if cmd == "start-new":
        url = f"{base}/orchestrators/{quote(ns.function_name)}"
        if ns.id:
            url += f"/{quote(ns.id)}"
        params = {"version": ns.version} if ns.version else {}
        data = _json_arg(ns.input, "--input")
        return requests.post(
            url,
            params=params,
            headers=headers,
            timeout=timeout,
            data=None if data is None else json.dumps(data),
        )
    if cmd == "get-instances":
        params = _instance_filters(ns, top=str(ns.top) if ns.top else None)
        if ns.continuation_token:
            headers = {**headers, "x-ms-continuation-token": ns.continuation_token}
        return requests.get(f"{base}/instances/", params=params, headers=headers, timeout=timeout)
    if cmd in {"get-runtime-status", "get-history"}:
        history = cmd == "get-history"
        params = {
            "showInput": str(history or ns.show_input).lower(),
            "showHistory": str(history).lower(),
            "showHistoryOutput": str(history or getattr(ns, "show_output", False)).lower(),
        }
        return requests.get(
            f"{base}/instances/{quote(ns.id)}", params=params, headers=headers, timeout=timeout
        )
    if cmd == "raise-event":
        data = _json_arg(ns.event_data, "--event-data")
        return requests.post(
            f"{base}/instances/{quote(ns.id)}/raiseEvent/{quote(ns.event_name)}",
            data=json.dumps(data),
            headers={**headers, "Content-Type": "application/json"},
            timeout=timeout,
        )
    if cmd == "terminate":
        return requests.post(
            f"{base}/instances/{quote(ns.id)}/terminate",
            params={"reason": ns.reason},
            headers=headers,
            timeout=timeout,
        )
    if cmd == "purge-history":
        if ns.id:
            return requests.delete(
                f"{base}/instances/{quote(ns.id)}", headers=headers, timeout=timeout
            )
        params = _instance_filters(ns)
        return requests.delete(
            f"{base}/instances/", params=params, headers=headers, timeout=timeout
        )
    raise SystemExit(f"unknown durable command {cmd!r}")


def _instance_filters(ns: argparse.Namespace, **extra: str | None) -> dict[str, str]:
    """The instance-list query parameters the given filters set (unset ones are left out)."""
    given = {
        "createdTimeFrom": ns.created_after,
        "createdTimeTo": ns.created_before,
        "runtimeStatus": ns.runtime_status,
        **extra,
    }
    return {k: v for k, v in given.items() if v}
