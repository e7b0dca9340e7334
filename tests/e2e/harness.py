"""The whole local stack for end-to-end tests: `devhost run-stack` on free ports in virtual
time, and the clients a test drives and inspects it with.

`start_stack(state_dir)` runs the stack's own supervisor (devhost/stack.py, what `make run`
runs) with `--virtual-clock --enable-auth --seed-data none --settings example`, its state in
`state_dir`, and reads every URL, key and app setting from its `--ready-file`. Nothing is
re-implemented here: the processes, their order and the sandboxes' wiring are the
supervisor's.

`LocalStack.stop()` ends it: stdin closed and SIGTERM (the supervisor stops its children in
reverse order); after 30 s the supervisor and every process still naming the state folder are
killed, and the stop fails saying so. The stop also kills and reports any process left behind.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from stripe import StripeClient

from shared.book import Book
from shared.book.errors import RecordExists
from shared.config import Settings
from shared.models import SubscriptionRecord
from shared.models.money import Money
from shared.models.subscription import Subscription
from shared.partner_center import PartnerCenterClient, request_id_for

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
DURABLE = "/runtime/webhooks/durabletask"
ACTIVE = ("Pending", "Running", "Suspended", "ContinuedAsNew")
DISABLED_TIMERS = (
    "partner_center_audit_poll",
    "stripe_events_poll",
    "poison_queue_watch",
)
# Settings of the caller's environment that would win over the stack's own (the environment
# wins over local.settings.json): dropped, so a developer's shell cannot bend the tests.
_APP_SETTING = re.compile(r"^(CSPFLOW_|DEVHOST_|AzureWebJobsStorage|TASKHUB_NAME$)")


class StackFailure(AssertionError):
    """The stack did not start, died, or did not stop; the message carries its log."""


@dataclass
class Supervisor:
    """The `run-stack` process and everything it printed (its children's lines included)."""

    process: subprocess.Popen[str]
    state_dir: Path
    lines: list[str] = field(default_factory=list)
    url: str = ""  # from its `ready <url>` line
    ready: threading.Event = field(default_factory=threading.Event)
    pump: threading.Thread | None = None

    def tail(self, n: int = 60, since: int = 0) -> str:
        return "\n".join(self.lines[since:][-n:])


# The nightly book sync's timer is off: on a virtual clock an idle stack jumps to its next
# occurrence, so it would leap from night to night (and sync every test's customers) between
# tests. Tests start the sync over HTTP. So are the daily renewal sweep and the monthly
# card-expiry sweep, the billing run and the reconciliation, for the same reason: tests
# start them over HTTP.
STACK_SETTINGS = {
    "CSPFLOW_BOOK_SYNC_SCHEDULE": "off",
    "CSPFLOW_RENEWAL_SWEEP_SCHEDULE": "off",
    "CSPFLOW_DUNNING_CARD_EXPIRY_SCHEDULE": "off",
    "CSPFLOW_DUNNING_PARKED_STARTS_SCHEDULE": "off",
    "CSPFLOW_BILLING_SCHEDULE": "off",
    "CSPFLOW_RECONCILIATION_SCHEDULE": "off",
}


def _launch(
    state_dir: Path, root: Path, *, seed_data: str = "none", virtual_clock: bool = True
) -> Supervisor:
    ready_file = state_dir / "ready.json"
    cmd = [
        sys.executable,
        "-m",
        "devhost",
        "run-stack",
        "--root",
        str(root),
        "--port",
        "0",
        "--azurite-ports",
        "0,0,0",
        "--partner-center-port",
        "0",
        "--stripe-port",
        "0",
        "--mail-port",
        "0",
        "--mail-smtp-port",
        "0",
        *(["--virtual-clock"] if virtual_clock else []),
        "--enable-auth",
        "--seed-data",
        seed_data,
        "--settings",
        "example",
        "--state-dir",
        str(state_dir),
        "--ready-file",
        str(ready_file),
        "--stop-on-stdin-eof",
    ]
    env = {k: v for k, v in os.environ.items() if not _APP_SETTING.match(k)}
    # The reconciliation polls are timers: on a virtual clock the host would jump to their
    # next occurrence whenever it is idle, moving the shared clock under every test. They
    # are disabled as any function is in Azure; their tests run them directly.
    env.update({f"AzureWebJobs.{name}.Disabled": "true" for name in DISABLED_TIMERS})
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env={**env, **STACK_SETTINGS, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.PIPE,  # closed (or this process gone): the stack stops
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    sup = Supervisor(proc, state_dir)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            sup.lines.append(line)
            if line.startswith("ready ") and not sup.url:
                sup.url = line.split(" ", 1)[1].strip()
                sup.ready.set()
        sup.ready.set()

    sup.pump = threading.Thread(target=pump, name="e2e-stack-output", daemon=True)
    sup.pump.start()
    return sup


@contextmanager
def start_stack(
    state_dir: Path, root: Path = ROOT, *, seed_data: str = "none", virtual_clock: bool = True
) -> Iterator[LocalStack]:
    """The whole stack serving `root`'s function_app.py, state in `state_dir`; stopped (and
    checked stopped) on exit. The tests' stack holds no data and runs on a virtual clock;
    a benchmark may seed the sandboxes (`--seed-data`) and keep the wall clock."""
    state_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    sup = _launch(state_dir, root, seed_data=seed_data, virtual_clock=virtual_clock)
    try:
        if not sup.ready.wait(START_TIMEOUT_S):
            raise StackFailure(
                f"the stack did not start within {START_TIMEOUT_S:.0f} s:\n{sup.tail()}"
            )
        if not sup.url:  # its output ended before `ready`: it exited
            if sup.pump is not None:
                sup.pump.join(timeout=10)
            raise StackFailure(f"the stack did not start:\n{sup.tail()}")
        info = json.loads((state_dir / "ready.json").read_text())
        stack = LocalStack(sup, info, start_seconds=time.monotonic() - started)
    except BaseException:
        _stop(sup)
        raise
    try:
        yield stack
    finally:
        stack.close()
        _stop(sup, must_stop_cleanly=True)


def _stop(sup: Supervisor, *, must_stop_cleanly: bool = False) -> None:
    problems = []
    if sup.process.poll() is None:
        assert sup.process.stdin is not None
        try:
            sup.process.stdin.close()
            os.killpg(sup.process.pid, signal.SIGTERM)
        except (OSError, ProcessLookupError):
            pass
        try:
            sup.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(sup.process.pid)
            sup.process.wait(timeout=10)
            problems.append(f"the stack did not stop within {STOP_TIMEOUT_S:.0f} s; killed")
    if sup.pump is not None:
        sup.pump.join(timeout=10)
    left = processes_naming(sup.state_dir)
    for pid, cmdline in left:
        _kill_group(pid)
        problems.append(f"left running, killed: {pid} {cmdline}")
    if problems and must_stop_cleanly:
        raise StackFailure("\n".join(problems) + "\n" + sup.tail())


def _kill_group(pid: int) -> None:
    """SIGKILL to `pid`'s process group when it leads one (every part of the stack runs in
    its own session), else to `pid` alone; never to this test process's group."""
    try:
        pgid = os.getpgid(pid)
        if pgid == pid and pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def processes_naming(state_dir: Path) -> list[tuple[int, str]]:
    """Live processes whose command line names `state_dir`: every part of the stack does
    (the supervisor's --state-dir, Azurite's --location, the sandboxes' --data, devhost's
    --state-dir)."""
    needle = re.compile(re.escape(str(state_dir)) + r"(/|\s|$)")
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            raw = (proc / "cmdline").read_bytes()  # empty for a zombie: it is dead
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if needle.search(cmdline):
            found.append((int(proc.name), cmdline))
    return found


class LocalStack:
    """A running stack and the clients to drive and read it (see tests/e2e/README.md)."""

    def __init__(self, sup: Supervisor, info: dict[str, Any], start_seconds: float) -> None:
        self._sup = sup
        self.info = info
        self.start_seconds = start_seconds
        self.url: str = info["devhost"]["url"]
        self.keys: dict[str, str] = info["devhost"]["keys"]
        self.app_settings: dict[str, str] = info["appSettings"]
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    # the app over HTTP ---------------------------------------------------------------------
    def api(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = "function",
        timeout: float = 30.0,
    ) -> requests.Response:
        """A request to devhost as a storefront sends it: `path` from the host root
        ("/api/...") or a whole URL (a statusQueryGetUri); `key` is the key presented in
        x-functions-key: "function", "master", "durabletask" or None (anonymous)."""
        url = path if path.startswith(("http://", "https://")) else self.url + path
        sent = dict(headers or {})
        if key is not None:
            sent["x-functions-key"] = self.keys[key]
        return self.http.request(
            method, url, json=json, params=params, headers=sent, timeout=timeout
        )

    # the shared virtual clock ----------------------------------------------------------------
    def now(self) -> datetime:
        """devhost's virtual time, which the sandboxes follow."""
        resp = self.api("GET", "/admin/clock", key=None)
        resp.raise_for_status()
        return datetime.fromisoformat(resp.json()["now"])

    def advance(self, delta: timedelta) -> datetime:
        """Move the shared clock forward by `delta`; returns the new time. Every part of the
        stack sees it on return: the app and the sandboxes read devhost's clock file
        (devhost/clock_file.py), or ask it over HTTP for every reading."""
        resp = self.api(
            "POST", "/admin/clock", json={"advance": delta.total_seconds()}, key="master"
        )
        assert resp.status_code == 200, resp.text
        return datetime.fromisoformat(resp.json()["now"])

    @contextmanager
    def clock_held(self) -> Iterator[None]:
        """The shared clock does not jump while inside (devhost's `{"hold": true}`): for a
        test playing a person who acts at once over several requests, between which an idle
        host would otherwise jump to the next due timer. Timers do not fire while held."""
        resp = self.api("POST", "/admin/clock", json={"hold": True}, key="master")
        assert resp.status_code == 200, resp.text
        token = resp.json()["hold"]
        try:
            yield
        finally:
            released = self.api("POST", "/admin/clock", json={"release": token}, key="master")
            assert released.status_code == 200, released.text

    # Durable instances, through the management API --------------------------------------------
    def instance(self, instance_id: str, *, history: bool = False) -> dict[str, Any] | None:
        """The instance's status (None if there is none)."""
        params = {"showHistory": "true", "showHistoryOutput": "true"} if history else None
        resp = self.api(
            "GET",
            f"{DURABLE}/instances/{quote(instance_id, safe='')}",
            params=params,
            key="durabletask",
        )
        if resp.status_code == 404:
            return None
        assert resp.status_code in (200, 202), resp.text
        status: dict[str, Any] = resp.json()
        return status

    def wait_for_instance(
        self,
        instance_id: str,
        status: str | Iterable[str] = "Completed",
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Poll until the instance's runtimeStatus is `status` (or one of them); fails at once
        if it ends otherwise, or after `timeout` real seconds, with the status and the log."""
        wanted = {status} if isinstance(status, str) else set(status)
        deadline = time.monotonic() + timeout
        since = len(self._sup.lines)
        seen: dict[str, Any] | None = None
        while True:
            seen = self.instance(instance_id)
            state = seen["runtimeStatus"] if seen else None
            if state in wanted:
                assert seen is not None
                return seen
            if state is not None and state not in ACTIVE:
                raise AssertionError(
                    f"{instance_id} ended {state}, not {sorted(wanted)}: {seen}\n{self.log(since)}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{instance_id} not {sorted(wanted)} within {timeout} s: {seen}\n"
                    f"{self.log(since)}"
                )
            self.check_alive()
            time.sleep(0.05)

    def instances(
        self, *, created_from: datetime | None = None, statuses: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Every instance created at or after `created_from` (stack time), in `statuses`."""
        params: dict[str, str] = {}
        if created_from is not None:
            params["createdTimeFrom"] = created_from.isoformat()
        if statuses:
            params["runtimeStatus"] = ",".join(statuses)
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            headers = {"x-ms-continuation-token": token} if token else None
            resp = self.api(
                "GET", f"{DURABLE}/instances", params=params, headers=headers, key="durabletask"
            )
            assert resp.status_code == 200, resp.text
            found += resp.json()
            token = resp.headers.get("x-ms-continuation-token", "")
            if not token:
                return found

    def terminate(self, instance_id: str, reason: str = "e2e test over") -> None:
        resp = self.api(
            "POST",
            f"{DURABLE}/instances/{quote(instance_id, safe='')}/terminate",
            params={"reason": reason},
            key="durabletask",
        )
        assert resp.status_code in (202, 404, 410), resp.text

    def purge(self, instance_id: str) -> bool:
        """Delete the instance and its history; False if there was none."""
        resp = self.api(
            "DELETE", f"{DURABLE}/instances/{quote(instance_id, safe='')}", key="durabletask"
        )
        assert resp.status_code in (200, 404), resp.text
        return resp.status_code == 200

    # the sandboxes' own state ------------------------------------------------------------------
    def slow_partner_center(self, ms: int) -> None:
        """Every Partner Center sandbox request answered `ms` later (its `latency_ms` fault):
        Partner Center's own pace, for benchmarks; 0 restores the sandbox's."""
        answer = self.http.post(
            self.sandbox_url("partner-center") + "/_sandbox/faults",
            json={"latency_ms": ms},
            verify=str(self.settings.partner_center_ca_bundle),
            timeout=10,
        )
        answer.raise_for_status()

    def slow_stripe(self, ms: int) -> None:
        """Every Stripe sandbox request answered `ms` later (`/_sandbox/latency`)."""
        answer = self.http.post(
            self.sandbox_url("stripe") + "/_sandbox/latency", data={"ms": str(ms)}, timeout=10
        )
        answer.raise_for_status()

    def sandbox_url(self, name: str) -> str:
        """A sandbox's base URL (every sandbox is part of the stack: one missing is a fault)."""
        sandbox = self.info["sandboxes"].get(name)
        if sandbox is None:
            raise AssertionError(
                f"the stack runs no {name} sandbox: {sorted(self.info['sandboxes'])}"
            )
        url: str = sandbox["url"]
        return url

    @cached_property
    def settings(self) -> Settings:
        """The app's Settings as devhost's functions read them (from the stack's environment,
        not this process's)."""
        fields: dict[str, Any] = {
            k.removeprefix("CSPFLOW_").lower(): v
            for k, v in self.app_settings.items()
            if k.startswith("CSPFLOW_")
        }
        fields["AzureWebJobsStorage"] = self.app_settings["AzureWebJobsStorage"]
        return Settings.model_validate(fields)

    @cached_property
    def partner_center(self) -> PartnerCenterClient:
        """The app's own Partner Center client (MSAL against the sandbox's token endpoint,
        HTTPS trusting its generated CA), with the app's credentials."""
        self.sandbox_url("partner-center")
        return PartnerCenterClient.from_settings(self.settings)

    def partner_center_state(self) -> dict[str, Any]:
        """The Partner Center sandbox's admin view: its clock, counts, ledger, outbox."""
        resp = self.http.get(
            self.sandbox_url("partner-center") + "/_sandbox/state",
            verify=str(self.settings.partner_center_ca_bundle),
            timeout=10,
        )
        resp.raise_for_status()
        state: dict[str, Any] = resp.json()
        return state

    @cached_property
    def stripe(self) -> StripeClient:
        """The official Stripe SDK pointed at the Stripe sandbox, with the app's key."""
        return StripeClient(
            self.settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": self.sandbox_url("stripe")},
            max_network_retries=0,
        )

    @property
    def mail(self) -> str:
        """The mail sandbox's base URL (its inbox)."""
        return self.sandbox_url("mail")

    # health and logs ---------------------------------------------------------------------------
    def log(self, since: int = 0, n: int = 80) -> str:
        """What the stack printed (every part's lines, prefixed with its name)."""
        return self._sup.tail(n, since)

    @property
    def log_position(self) -> int:
        return len(self._sup.lines)

    def check_alive(self) -> None:
        if self._sup.process.poll() is not None:
            raise StackFailure(f"the stack is down:\n{self._sup.tail()}")


@dataclass(frozen=True)
class Namespace:
    """One test's own corner of a shared stack: every name it creates carries `prefix`, so no
    two tests (or two runs) meet on an id, a domain, an email or an instance id."""

    prefix: str  # "e2e" + 8 hex digits: lower-case letters and digits, starts with a letter
    started_at: datetime  # stack time when the test began

    @classmethod
    def new(cls, started_at: datetime) -> Namespace:
        return cls(f"e2e{secrets.token_hex(4)}", started_at)

    def id(self, label: str) -> str:
        """An id for anything the test names itself (instance ids, idempotency keys)."""
        return f"{self.prefix}-{label}"

    def request_id(self, step: str) -> str:
        """A Partner Center MS-RequestId (a GUID) for one write of this test's."""
        return request_id_for(self.prefix, step)

    def domain_prefix(self, label: str = "") -> str:
        """A Partner Center domain prefix no other test uses ([a-z0-9], at most 27)."""
        value = f"{self.prefix}{re.sub(r'[^a-z0-9]', '', label.lower())}"
        assert len(value) <= 27, f"{value!r}: keep the label under {27 - len(self.prefix)}"
        return value

    def email(self, local: str = "billing") -> str:
        return f"{local}@{self.prefix}.example.com"

    def company(self, name: str) -> str:
        return f"{name} {self.prefix}"

    @property
    def metadata(self) -> dict[str, str]:
        """Stripe metadata that marks an object as this test's."""
        return {"e2e_namespace": self.prefix}


def subscription_in_book(
    book: Book, customer_id: str, read: Subscription, unit_price: Money
) -> None:
    """A test's subscription in the book at its price. Event intake may have put it there
    first: once the book has the customer's tenant, the sandbox's webhook for the customer's
    last write makes intake add the subscription as Partner Center has it (with no price)."""
    try:
        book.subscriptions.add(
            SubscriptionRecord(customer_id=customer_id, subscription=read, unit_price=unit_price)
        )
    except RecordExists:
        book.subscriptions.update(
            customer_id, read.id, lambda r: r.model_copy(update={"unit_price": unit_price})
        )
