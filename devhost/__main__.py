"""`python -m devhost`: the local Functions + Durable host.

python -m devhost start [--port 7071] [--virtual-clock] [--enable-auth] [--app-dir .]
                       [--cors ORIGINS] [--cors-credentials]
python -m devhost durable start-new|get-instances|get-runtime-status|get-history|
                          raise-event|terminate|purge-history ...
python -m devhost run-stack [--port 7071] ...   (what `make run` calls)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="serve an app folder like `func start`")
    start.add_argument(
        "--port",
        type=int,
        default=None,
        help="HTTP port on 127.0.0.1 (0 = any free; default Host.LocalHttpPort, else 7071)",
    )
    start.add_argument(
        "--rpc-port", type=int, default=0, help="Durable client RPC port (0 = any free)"
    )
    start.add_argument(
        "--virtual-clock", action="store_true", help="simulated time (jumps when idle)"
    )
    start.add_argument("--enable-auth", action="store_true", help="require function/admin keys")
    start.add_argument(
        "--cors",
        default=None,
        help="comma-separated CORS origins, no spaces (default: local.settings.json Host.CORS)",
    )
    start.add_argument(
        "--cors-credentials",
        action="store_true",
        default=None,
        help="allow cross-origin requests with cookies or Authorization "
        "(default: Host.CORSCredentials)",
    )
    start.add_argument(
        "--app-dir", type=Path, default=Path.cwd(), help="the app folder (default: cwd)"
    )
    start.add_argument("--state-dir", type=Path, default=None, help="default: <app-dir>/.devhost")
    start.add_argument("--verbose", action="store_true", help="debug logging")

    from devhost import management_cli, stack

    management_cli.add_parser(sub)
    stack.add_parser(sub)
    return parser


def main(argv: list[str]) -> int:
    ns = _parser().parse_args(argv)
    if ns.command == "durable":
        from devhost import management_cli

        return management_cli.run(ns)
    if ns.command == "run-stack":
        from devhost import stack

        return stack.run(ns)
    return _start(ns)


def _start(ns: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if ns.verbose else logging.INFO,
        format="[%(asctime)s] %(message)s",
        stream=sys.stderr,
    )
    # Library chatter (HTTP access, Azure SDK request logs) would drown the host's own lines.
    for noisy in ("aiohttp.access", "azure", "urllib3", "stripe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if ns.port is not None and not 0 <= ns.port <= 65535:
        print(f"devhost: --port must be 0..65535, got {ns.port}", file=sys.stderr)
        return 2
    from devhost.app import AppLoadError
    from devhost.http_host import HostOptions, StartupError, serve
    from devhost.listeners.invoke import UnsupportedBinding
    from devhost.listeners.ncrontab import ScheduleError
    from devhost.listeners.storage import StorageConnectionError
    from devhost.settings import SettingsError

    options = HostOptions(
        app_dir=ns.app_dir,
        port=ns.port,
        rpc_port=ns.rpc_port,
        virtual_clock=ns.virtual_clock,
        enable_auth=ns.enable_auth,
        state_dir=ns.state_dir,
        cors=ns.cors,
        cors_credentials=ns.cors_credentials,
    )
    try:
        return asyncio.run(serve(options))
    except (
        AppLoadError,
        SettingsError,
        StartupError,
        UnsupportedBinding,
        ScheduleError,
        StorageConnectionError,
    ) as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
