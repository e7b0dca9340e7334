"""docs/api.md's worked example is true: each request it shows is sent, in order, to the
example API, and the answer must be the one shown (status, each header shown, the body)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.triggers.api.example_api import ExampleClient, make_example_app
from triggers.api.commands import CommandLedger

pytestmark = pytest.mark.slow  # Azurite

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
BLOCK = re.compile(r"<!-- example (request|response) -->\s*```http\n(.*?)\n```", re.DOTALL)
BASE = "https://func-cspflow.azurewebsites.net"
NOT_SENT = {"host", "x-functions-key"}


def split(block: str) -> tuple[str, dict[str, str], str]:
    head, _, body = block.partition("\n\n")
    first, *lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in lines)
    return first, headers, body.strip()


def examples() -> list[tuple[str, str]]:
    blocks = BLOCK.findall(DOC.read_text())
    kinds = [kind for kind, _ in blocks]
    assert kinds == ["request", "response"] * (len(blocks) // 2), kinds
    return [(blocks[i][1], blocks[i + 1][1]) for i in range(0, len(blocks), 2)]


def test_the_worked_example_is_what_the_kit_answers(ledger: CommandLedger):
    client = ExampleClient(make_example_app(lambda: ledger).app, base=BASE)
    pairs = examples()
    assert len(pairs) >= 6
    for request, response in pairs:
        line, headers, body = split(request)
        method, target, _ = line.split(" ")
        url = urlsplit(target)
        answer = client.request(
            method,
            url.path,
            body=body or None,
            headers={k: v for k, v in headers.items() if k.lower() not in NOT_SENT},
            params=dict(parse_qsl(url.query)) or None,
        )
        status_line, expected_headers, expected_body = split(response)
        where = f"{line} -> {status_line}"
        assert status_line.split(" ")[1] == str(answer.status), f"{where}: {answer.text}"
        for name, value in expected_headers.items():
            assert answer.headers.get(name.lower()) == value, f"{where}: {name}"
        assert json.loads(expected_body) == answer.json, where
