"""`python -m tests.activities.notify_runner POINT SEED PAYLOAD.json`: run the send_notice
activity once, as the Functions host would, and die by SIGKILL at POINT.

POINT is where the host is killed (tests/activities/test_notifications.py):
- `none`: not killed; prints the activity's envelope as JSON;
- `after_reserve`: the delivery is reserved, nothing was sent;
- `mid_data`: part of the message is on the wire (a seeded cut inside DATA), no end of data;
- `after_accept`: the server answered 250, the log was not marked;
- `after_mark`: the log was marked sent.
(`waiting_for_answer` is killed from outside, by the test, while the server holds its answer.)
"""

from __future__ import annotations

import json
import os
import random
import signal
import smtplib
import sys
from typing import Any

from activities.notifications import send_notice
from shared.notifications.log import TableNoticeLog


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, rng: random.Random) -> None:
    if point == "after_reserve":
        reserve = TableNoticeLog.reserve

        def reserve_then_die(self: TableNoticeLog, *args: Any, **kwargs: Any) -> Any:
            reserve(self, *args, **kwargs)
            die()

        TableNoticeLog.reserve = reserve_then_die  # type: ignore[method-assign]
    elif point == "mid_data":
        send = smtplib.SMTP.send

        def send_part_then_die(self: smtplib.SMTP, data: Any) -> None:
            if isinstance(data, bytes) and data.endswith(b"\r\n.\r\n"):
                send(self, data[: rng.randrange(1, len(data) - 3)])
                die()
            send(self, data)

        smtplib.SMTP.send = send_part_then_die  # type: ignore[method-assign,assignment]
    elif point in ("after_accept", "after_mark"):
        mark_sent = TableNoticeLog.mark_sent

        def mark_and_die(self: TableNoticeLog, *args: Any, **kwargs: Any) -> None:
            if point == "after_mark":
                mark_sent(self, *args, **kwargs)
            die()

        TableNoticeLog.mark_sent = mark_and_die  # type: ignore[method-assign]
    elif point not in ("none", "waiting_for_answer"):
        raise SystemExit(f"unknown point {point!r}")


def main(argv: list[str]) -> int:
    point, seed, path = argv[0], int(argv[1]), argv[2]
    install(point, random.Random(seed))
    with open(path) as f:
        payload = json.load(f)
    print("started", flush=True)
    print(json.dumps(send_notice.run(payload)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
