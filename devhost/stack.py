"""`make run` (`python -m devhost run-stack`): Azurite, the sandboxes and devhost, supervised.

Start order: Azurite (data in `.azurite/`), then each sandbox that exists in this checkout
(`python -m sandbox NAME` exits 2 when it does not: skipped with a note), then devhost serving
the checkout's `function_app.py`. Partner Center and Stripe start with `--seed-data demo`
(the demo partner's customers, created once); the mail sandbox with STARTTLS and AUTH
required. Once a sandbox is ready, devhost's environment gets the settings that connect the
app to it (devhost/sandbox_wiring.py); the environment wins over local.settings.json, and no
secret is printed.

Each child is in its own process group, so Ctrl-C reaches only this supervisor, which stops
them in reverse order (SIGTERM, then SIGKILL after a grace period). If any child dies, the
others are stopped and the exit status is 1.

Ports are options (`make run RUN_ARGS="--port 0 --azurite-ports 0,0,0 ..."`), 0 meaning any
free port, so a test can run a whole stack beside a developer's. The last line printed once
everything is up is `ready <devhost url>`.

For a supervising program (tests/e2e's fixture) there is more: `--state-dir` keeps every part's
state out of the checkout, `--settings example` gives devhost local.settings.json.example's
values through its environment (the checkout's local.settings.json, which it does not create,
cannot change them), `--ready-file` writes every URL, key and app setting of the running stack
to a JSON file (mode 0600) before `ready` is printed, and `--stop-on-stdin-eof` stops the stack
when its stdin closes, so it does not outlive a supervisor that died.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devhost import sandbox_wiring
from devhost.azurite import Azurite, AzuriteError, start_azurite
from devhost.http_auth import (
    DURABLETASK_KEY_SETTING,
    FUNCTION_KEY_SETTING,
    MASTER_KEY_SETTING,
    KeyRing,
)
from devhost.settings import SettingsError, read_local_settings
from sandbox.common.demo import SEED_CHOICES, seed_data

LOOPBACK = "127.0.0.1"
NOT_IN_CHECKOUT = 2  # `python -m sandbox NAME` exit status when NAME is not there yet
GRACE_S = 15.0


@dataclass(frozen=True)
class SandboxSpec:
    name: str
    port: int
    args: list[str]  # its own options beyond --port/--data/--clock-url
    settings: Callable[[str, Path], dict[str, str]]  # (its URL, its data dir) -> app settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run-stack", help="Azurite + sandboxes + devhost (what `make run` runs)")
    p.add_argument("--port", type=int, default=7071, help="devhost port (0 = any free)")
    p.add_argument(
        "--azurite-ports", default="10000,10001,10002", help="blob,queue,table (0 = any free)"
    )
    p.add_argument("--partner-center-port", type=int, default=7443)
    p.add_argument("--stripe-port", type=int, default=12111)
    p.add_argument("--mail-port", type=int, default=8025, help="the mail sandbox's inbox (HTTP)")
    p.add_argument("--mail-smtp-port", type=int, default=2525, help="the mail sandbox's SMTP")
    p.add_argument("--no-sandboxes", action="store_true", help="start Azurite and devhost only")
    p.add_argument(
        "--seed-data",
        type=seed_data,
        metavar="|".join(SEED_CHOICES),
        default="demo",
        help="what the sandboxes hold on first start (default: the demo partner's customers; "
        "book:N: a partner's book of N customers, sandbox/common/book.py)",
    )
    p.add_argument("--virtual-clock", action="store_true", help="devhost's simulated clock")
    p.add_argument("--enable-auth", action="store_true", help="devhost requires keys")
    p.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout (default: cwd)")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep all state here: azurite/, sandbox/NAME/, devhost/ "
        "(default: .azurite/, .sandbox/NAME/ and .devhost/ in the checkout)",
    )
    p.add_argument(
        "--settings",
        choices=("local", "example"),
        default="local",
        help="local: the checkout's local.settings.json (created from the example if missing); "
        "example: local.settings.json.example's values, given through devhost's environment",
    )
    p.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="once up, write every URL, key and app setting of the stack here (JSON, 0600)",
    )
    p.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes (the supervising process is gone)",
    )


class StackError(RuntimeError):
    """What is wrong and what to do; printed as is."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    url: str = ""
    output: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    pump: threading.Thread | None = None  # echoes its output; may lag behind its exit

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                print(
                    f"[stack] {self.name} did not stop within {GRACE_S:.0f} s; killing it",
                    flush=True,
                )
                self.process.kill()
                self.process.wait()
        if self.pump is not None:
            # Its last lines (say a shutdown error) are echoed before the stack says stopped.
            self.pump.join(timeout=5)


def _port_free(port: int) -> bool:
    if port == 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _reserve_port() -> socket.socket:
    """A socket bound (not listening) to a free port: while it is open, Azurite and the
    sandboxes (also on "any free port") cannot be given that port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    return s


def _require_free(port: int, what: str, option: str) -> None:
    if not _port_free(port):
        raise StackError(
            f"port {port} ({what}) is in use: stop whatever holds it (`lsof -i :{port}` shows it; "
            f"an earlier `make run` still running?) or choose another with {option}"
        )


def _spawn(name: str, cmd: list[str], cwd: Path, env: dict[str, str], echo: bool) -> Child:
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    child = Child(name, proc)
    ready = child.ready

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            child.output.append(line)
            if line.startswith("ready ") and not child.url:
                child.url = line.split(" ", 1)[1].strip()
                ready.set()
            elif echo:
                print(f"[{name}] {line}", flush=True)
        ready.set()

    child.pump = threading.Thread(target=pump, name=f"{name}-output", daemon=True)
    child.pump.start()
    return child


class Interrupted(Exception):
    """Ctrl-C while the stack was still starting."""


def _wait_ready(child: Child, timeout_s: float, abort: threading.Event) -> bool:
    deadline = time.monotonic() + timeout_s
    while not child.ready.wait(0.1):
        if abort.is_set():
            raise Interrupted
        if time.monotonic() > deadline:
            return False
    return bool(child.url)


class Stack:
    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns
        self.root: Path = ns.root.resolve()
        self.state_dir: Path | None = ns.state_dir.resolve() if ns.state_dir else None
        self.azurite: Azurite | None = None
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.reserved: socket.socket | None = None  # devhost's port while "any free port"
        # The settings devhost's app sees from its settings file (--settings example: given
        # through its environment instead), and those the stack adds (storage, sandboxes).
        self.file_values: dict[str, str] = {}
        self.stack_values: dict[str, str] = {}
        self.sandboxes: dict[str, Child] = {}
        self.skipped: list[str] = []
        self.keys: KeyRing | None = None

    def prepare(self) -> None:
        if not (self.root / "function_app.py").exists():
            raise StackError(
                f"{self.root} has no function_app.py: run `make run` from the checkout"
            )
        settings = self.root / "local.settings.json"
        example = self.root / "local.settings.json.example"
        if self.ns.settings == "example":
            if not example.exists():
                raise StackError(f"--settings example: {example} is missing")
            self.file_values = self._read_settings(example)
        else:
            if not settings.exists():
                if not example.exists():
                    raise StackError(f"{settings} is missing and there is no example to copy")
                shutil.copyfile(example, settings)
                print(
                    f"[stack] created {settings.name} from {example.name} "
                    "(edit it to change settings)"
                )
            self.file_values = self._read_settings(settings)
        try:
            ports = tuple(int(p) for p in self.ns.azurite_ports.split(","))
        except ValueError:
            ports = ()
        if len(ports) != 3:
            raise StackError("--azurite-ports takes three ports: blob,queue,table")
        self.azurite_ports: tuple[int, int, int] = (ports[0], ports[1], ports[2])
        _require_free(self.ns.port, "devhost", "--port")
        # The sandboxes start first and must know devhost's URL (its clock, the webhook
        # routes), so "any free port" is chosen here rather than by devhost.
        self.port: int = self.ns.port
        if not self.port:
            self.reserved = _reserve_port()
            self.port = self.reserved.getsockname()[1]
        for port, what in zip(self.azurite_ports, ("blob", "queue", "table"), strict=True):
            _require_free(port, f"Azurite {what}", "--azurite-ports")

    @staticmethod
    def _read_settings(path: Path) -> dict[str, str]:
        try:
            return read_local_settings(path).values
        except SettingsError as exc:
            raise StackError(str(exc)) from exc

    def _state(self, part: str, default: str) -> Path:
        """Where `part` keeps its state: under --state-dir, else `default` in the checkout."""
        return self.state_dir / part if self.state_dir else self.root / default

    def start(self) -> str:
        env = dict(os.environ)
        if self.ns.settings == "example":
            # Through the environment, which wins over local.settings.json (the caller's own
            # environment still wins over the example, as it wins over the file).
            env = {**self.file_values, **env}
        env.setdefault("PYTHONUNBUFFERED", "1")
        devhost_url = f"http://{LOOPBACK}:{self.port}"
        clock_url = f"{devhost_url}/admin/clock" if self.ns.virtual_clock else None
        # The sandboxes and Azurite need nothing of each other: they start side by side.
        started: list[tuple[SandboxSpec, Child]] = []
        if not self.ns.no_sandboxes:
            try:
                specs = self._sandbox_specs(devhost_url)
            except sandbox_wiring.WiringError as exc:
                raise StackError(str(exc)) from exc
            started = [(spec, self._spawn_sandbox(spec, env, clock_url)) for spec in specs]
        azurite_dir = self._state("azurite", ".azurite")
        print(f"[stack] starting Azurite (data in {self._show(azurite_dir)})", flush=True)
        try:
            self.azurite = start_azurite(self.root, azurite_dir, self.azurite_ports)
        except AzuriteError as exc:
            raise StackError(str(exc)) from exc
        self.stack_values["AzureWebJobsStorage"] = self.azurite.connection_string
        for spec, child in started:
            self.stack_values.update(self._await_sandbox(spec, child))
        env.update(self.stack_values)
        cmd = [
            sys.executable,
            "-m",
            "devhost",
            "start",
            "--port",
            str(self.port),
            "--app-dir",
            str(self.root),
        ]
        if self.state_dir is not None:
            cmd += ["--state-dir", str(self._state("devhost", ".devhost"))]
        if self.ns.virtual_clock:
            cmd.append("--virtual-clock")
        if self.ns.enable_auth:
            cmd.append("--enable-auth")
            if self.ns.ready_file is not None:
                # The keys go into the ready file, so the stack settles them: the caller's,
                # else the settings file's, else new ones (devhost would make and print them).
                self.keys = KeyRing.from_environ({**self.file_values, **env})
                env[MASTER_KEY_SETTING] = self.keys.master
                env[FUNCTION_KEY_SETTING] = self.keys.function
                env[DURABLETASK_KEY_SETTING] = self.keys.durabletask
        print("[stack] starting devhost", flush=True)
        if self.reserved is not None:
            self.reserved.close()  # devhost binds it next
        devhost = _spawn("devhost", cmd, self.root, env, echo=True)
        self.children.append(devhost)
        if not _wait_ready(devhost, 120, self.stopping):
            devhost.stop()
            detail = "\n".join(devhost.output[-15:])
            raise StackError(
                f"devhost did not start:\n{detail}\n"
                "Fix what it reports (a broken function_app.py names the file and the error) "
                "and run `make run` again."
            )
        if self.ns.ready_file is not None:
            self._write_ready_file(self.ns.ready_file, devhost, clock_url, env)
        return devhost.url

    def _show(self, path: Path) -> str:
        return f"{path.relative_to(self.root)}/" if path.is_relative_to(self.root) else str(path)

    def _sandbox_specs(self, devhost_url: str) -> list[SandboxSpec]:
        seed = ["--seed-data", self.ns.seed_data]
        stripe = sandbox_wiring.stripe_credentials(self._data_dir("stripe"))
        return [
            SandboxSpec(
                "partner-center",
                self.ns.partner_center_port,
                [*seed, *sandbox_wiring.partner_center_args(devhost_url)],
                lambda _url, data: sandbox_wiring.partner_center_settings(data),
            ),
            SandboxSpec(
                "stripe",
                self.ns.stripe_port,
                [*seed, *sandbox_wiring.stripe_args(stripe, devhost_url)],
                lambda url, _data: sandbox_wiring.stripe_settings(url, stripe),
            ),
            SandboxSpec(
                "mail",
                self.ns.mail_port,
                sandbox_wiring.mail_args(self.ns.mail_smtp_port),
                lambda _url, data: sandbox_wiring.mail_settings(data),
            ),
        ]

    def _data_dir(self, sandbox: str) -> Path:
        return self._state(f"sandbox/{sandbox}", f".sandbox/{sandbox}")

    def _spawn_sandbox(
        self, spec: SandboxSpec, env: dict[str, str], clock_url: str | None
    ) -> Child:
        _require_free(spec.port, f"{spec.name} sandbox", f"--{spec.name}-port")
        if spec.name == "mail":
            _require_free(self.ns.mail_smtp_port, "mail sandbox SMTP", "--mail-smtp-port")
        cmd = [
            sys.executable,
            "-m",
            "sandbox",
            spec.name,
            "--port",
            str(spec.port),
            "--data",
            str(self._data_dir(spec.name)),
            *spec.args,
        ]
        if clock_url:
            cmd += ["--clock-url", clock_url]
        child = _spawn(spec.name, cmd, self.root, env, echo=True)
        self.children.append(child)  # from now on, stopping the stack stops it too
        return child

    def _await_sandbox(self, spec: SandboxSpec, child: Child) -> dict[str, str]:
        """The settings that reach a started sandbox once it is ready; none when it is not
        in this checkout."""
        if _wait_ready(child, 60, self.stopping):
            print(f"[stack] {spec.name} sandbox ready at {child.url}", flush=True)
            self.sandboxes[spec.name] = child
            try:
                return spec.settings(child.url, self._data_dir(spec.name))
            except sandbox_wiring.WiringError as exc:
                raise StackError(str(exc)) from exc
        self.children.remove(child)
        try:
            child.process.wait(timeout=5)  # its output ended: it is exiting
        except subprocess.TimeoutExpired:
            child.stop()  # alive but never ready
        if child.process.returncode == NOT_IN_CHECKOUT:
            print(
                f"[stack] note: the {spec.name} sandbox is not in this checkout yet; skipped",
                flush=True,
            )
            self.skipped.append(spec.name)
            return {}
        detail = "\n".join(child.output[-15:])
        raise StackError(f"the {spec.name} sandbox did not start:\n{detail}")

    def _write_ready_file(
        self, path: Path, devhost: Child, clock_url: str | None, env: dict[str, str]
    ) -> None:
        """Everything a supervising program needs to use the stack (secrets included: the
        file is created 0600, then renamed into place so a reader never sees half of it)."""
        assert self.azurite is not None
        # What the app reads: its settings file's values as its environment overrides them.
        settings = {**self.file_values, **{k: env[k] for k in self.file_values if k in env}}
        settings.update(self.stack_values)
        for name in (MASTER_KEY_SETTING, FUNCTION_KEY_SETTING, DURABLETASK_KEY_SETTING):
            settings.pop(name, None)
        doc = {
            "root": str(self.root),
            "stateDir": str(self.state_dir) if self.state_dir else None,
            "devhost": {
                "url": devhost.url,
                "pid": devhost.process.pid,
                "virtualClock": bool(self.ns.virtual_clock),
                "clockUrl": clock_url or f"{devhost.url}/admin/clock",
                "keys": None
                if self.keys is None
                else {
                    "master": self.keys.master,
                    "function": self.keys.function,
                    "durabletask": self.keys.durabletask,
                },
            },
            "azurite": {
                "pid": self.azurite.process.pid,
                **self.azurite.endpoints,
                "connectionString": self.azurite.connection_string,
            },
            "sandboxes": {
                name: {"url": c.url, "pid": c.process.pid, "data": str(self._data_dir(name))}
                for name, c in self.sandboxes.items()
            },
            "skipped": self.skipped,
            "appSettings": settings,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
        os.replace(tmp, path)

    def watch(self) -> int:
        """Wait for a stop signal or a child's death; 0 on a requested stop."""
        while not self.stopping.wait(0.5):
            for child in self.children:
                if child.process.poll() is not None:
                    print(
                        f"[stack] {child.name} exited unexpectedly (status {child.process.returncode});"
                        " stopping the stack",
                        flush=True,
                    )
                    return 1
            if self.azurite is not None and self.azurite.process.poll() is not None:
                print("[stack] Azurite exited unexpectedly; stopping the stack", flush=True)
                return 1
        return 0

    def stop(self) -> None:
        if self.reserved is not None:
            self.reserved.close()
        for child in reversed(self.children):
            child.stop()
        if self.azurite is not None:
            self.azurite.stop()


def _stop_on_stdin_eof(stopping: threading.Event) -> None:
    """Set `stopping` once stdin reaches its end: the process holding its other end (a
    test session, say) has closed it or died."""

    def read() -> None:
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass
        print("[stack] stdin closed; stopping", flush=True)
        stopping.set()

    threading.Thread(target=read, name="stdin-eof", daemon=True).start()


def run(ns: argparse.Namespace) -> int:
    stack = Stack(ns)

    def on_signal(signum: int, _frame: object) -> None:
        stack.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if ns.stop_on_stdin_eof:
        _stop_on_stdin_eof(stack.stopping)
    try:
        stack.prepare()
        url = stack.start()
        print(f"[stack] up: devhost {url} (Ctrl-C stops everything)", flush=True)
        print(f"ready {url}", flush=True)
        code = stack.watch()
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        code = 1
    except Interrupted:
        code = 0
    finally:
        print("[stack] stopping", flush=True)
        stack.stop()
        print("[stack] stopped", flush=True)
    return code
