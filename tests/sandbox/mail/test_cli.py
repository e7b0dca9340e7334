"""`python -m sandbox mail` as a process: the ready line, connection.json, the remote clock,
and a clean stop."""

from __future__ import annotations

import json
import smtplib
import stat
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from tests.sandbox.mail.harness import Inbox
from tests.sandbox.stripe.test_cli import VIRTUAL_NOW, clock_server


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox", "mail", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_process_announces_itself_writes_its_connection_and_follows_the_clock(tmp_path: Path):
    with clock_server() as clock_url:
        proc = start(
            "--data", str(tmp_path), "--clock-url", clock_url, "--starttls", "--require-auth"
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("ready http://127.0.0.1:"), (
                proc.stderr.read() if proc.stderr else line
            )
            base_url = line.removeprefix("ready ")
            connection_file = tmp_path / "connection.json"
            assert stat.S_IMODE(connection_file.stat().st_mode) == 0o600
            c = json.loads(connection_file.read_text())
            assert c["inboxUrl"] == base_url and c["starttls"] and c["username"] == "cspflow"
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "b@cspflow.example", "ann@c.example", "Hi"
            msg.set_content("hi")
            with smtplib.SMTP(c["smtpHost"], c["smtpPort"], timeout=5) as smtp:
                import ssl

                smtp.starttls(context=ssl.create_default_context(cafile=c["caBundle"]))
                smtp.login(c["username"], c["password"])
                smtp.send_message(msg)
            [m] = Inbox(base_url).messages()
            assert m["received_at"] == VIRTUAL_NOW.isoformat()  # devhost's clock, not ours
        finally:
            proc.terminate()
            assert proc.wait(timeout=15) == 0


def test_the_credentials_are_made_once_and_kept(tmp_path: Path):
    passwords = []
    for _ in range(2):
        proc = start("--data", str(tmp_path), "--starttls", "--require-auth")
        try:
            assert proc.stdout is not None and proc.stdout.readline().startswith("ready ")
            passwords.append(json.loads((tmp_path / "connection.json").read_text())["password"])
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    assert passwords[0] == passwords[1] and len(passwords[0]) > 20


def test_auth_without_tls_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "mail", "--require-auth"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--require-auth needs --starttls" in result.stderr
