"""`python -m sandbox mail [--port N] [--smtp-port N] [--data DIR] [--clock-url URL]
[--starttls [--require-auth]]`: the mail sandbox as a process.

`--port` is the inbox (HTTP, what `ready <url>` names); `--smtp-port` the SMTP server; both
on 127.0.0.1, 0 meaning any free port (connection.json in the data folder says which).
"""

from __future__ import annotations

import asyncio
import signal

from sandbox.common.cli import announce_ready, common_args, parser
from sandbox.common.clock import RemoteClock

from .server import Clock, Options, WallClock, serve


def main(argv: list[str]) -> int:
    p = parser("python -m sandbox mail", "A local SMTP server that keeps every message.")
    p.add_argument("--smtp-port", type=int, default=0, help="SMTP port on 127.0.0.1 (0 = any)")
    p.add_argument("--starttls", action="store_true", help="offer STARTTLS (generated root)")
    p.add_argument(
        "--require-auth", action="store_true", help="require AUTH after STARTTLS (generated)"
    )
    ns = p.parse_args(argv)
    args = common_args(ns, "mail")
    if not 0 <= ns.smtp_port <= 65535:
        p.error(f"--smtp-port must be 0..65535, got {ns.smtp_port}")
    if ns.require_auth and not ns.starttls:
        p.error("--require-auth needs --starttls (AUTH is only offered over TLS)")
    clock: Clock = RemoteClock(args.clock_url) if args.clock_url else WallClock()
    options = Options(
        data_dir=args.data_dir,
        clock=clock,
        port=args.port,
        smtp_port=ns.smtp_port,
        starttls=ns.starttls,
        require_auth=ns.require_auth,
    )
    asyncio.run(_run(options))
    return 0


async def _run(options: Options) -> None:
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stopped.set)
    await serve(options, announce_ready, stopped.wait())
