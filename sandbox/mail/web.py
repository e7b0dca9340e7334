"""The inbox over HTTP: what tests, `make run` users and the future ops page read.

| route | what |
|---|---|
| `GET /` | the inbox as a page: newest first, duplicates marked |
| `GET /messages/{id}` | one message as a page: headers, the text part, the HTML part framed |
| `GET /api/messages?to=&subject=&message_id=&distinct=1` | messages as JSON (oldest first) |
| `GET /api/messages/{id}` | one message: envelope, headers, text and HTML parts |
| `GET /api/messages/{id}/raw` | as received (message/rfc822) |
| `GET /api/messages/{id}/html` | its HTML part, served with a CSP that runs nothing |
| `DELETE /api/messages` | forget every message |
| `GET`, `POST`, `DELETE /api/faults` | the faults in force (faults.py) |
| `GET /api/server` | where the SMTP side listens and what it requires |
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from sandbox.mail.faults import Faults
from sandbox.mail.store import MailStore, Stored

# The HTML part is someone else's markup: shown, never run, never fetching our origin.
HTML_PART_CSP = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; sandbox"


class Inbox:
    def __init__(self, store: MailStore, faults: Faults, server_info: Callable[[], dict[str, Any]]):
        self.store = store
        self.faults = faults
        self.server_info = server_info

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_get("/messages/{id}", self.message_page)
        app.router.add_get("/api/messages", self.list)
        app.router.add_delete("/api/messages", self.delete_all)
        app.router.add_get("/api/messages/{id}", self.read)
        app.router.add_get("/api/messages/{id}/raw", self.raw)
        app.router.add_get("/api/messages/{id}/html", self.html_part)
        app.router.add_get("/api/faults", self.get_faults)
        app.router.add_post("/api/faults", self.add_faults)
        app.router.add_delete("/api/faults", self.clear_faults)
        app.router.add_get("/api/server", self.server)
        return app

    # JSON ----------------------------------------------------------------------------------
    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        found = self.store.find(
            to=q.get("to"),
            subject=q.get("subject"),
            message_id=q.get("message_id"),
            distinct=q.get("distinct", "").lower() in ("1", "true", "yes"),
        )
        return web.json_response(
            {
                "messages": [m.summary() for m in found],
                "count": len(found),
                "duplicates": sum(1 for m in found if m.duplicate_of is not None),
            }
        )

    async def read(self, request: web.Request) -> web.Response:
        return web.json_response(self._message(request).detail())

    async def raw(self, request: web.Request) -> web.Response:
        return web.Response(body=self._message(request).raw, content_type="message/rfc822")

    async def html_part(self, request: web.Request) -> web.Response:
        part = self._message(request).detail()["html"]
        if part is None:
            raise web.HTTPNotFound(text="this message has no HTML part")
        return web.Response(
            text=part,
            content_type="text/html",
            headers={"Content-Security-Policy": HTML_PART_CSP},
        )

    async def delete_all(self, request: web.Request) -> web.Response:
        return web.json_response({"deleted": self.store.delete_all()})

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.describe())

    async def add_faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON object")
            self.faults.apply(body)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": f"faults: {exc}"}), content_type="application/json"
            ) from exc
        return web.json_response(self.faults.describe())

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response(self.faults.describe())

    async def server(self, request: web.Request) -> web.Response:
        return web.json_response(self.server_info())

    def _message(self, request: web.Request) -> Stored:
        try:
            found = self.store.get(int(request.match_info["id"]))
        except ValueError:
            found = None
        if found is None:
            raise web.HTTPNotFound(text="no such message")
        return found

    # Pages ---------------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        rows = []
        for m in reversed(self.store.find()):
            mark = f" (duplicate of #{m.duplicate_of})" if m.duplicate_of else ""
            error = " (sender saw an error)" if m.sender_saw_error else ""
            rows.append(
                "<tr>"
                f"<td>{m.id}</td><td>{_e(m.received_at)}</td><td>{_e(', '.join(m.rcpt_to))}</td>"
                f'<td><a href="/messages/{m.id}">{_e(m.subject) or "(no subject)"}</a>'
                f"{_e(mark)}{_e(error)}</td></tr>"
            )
        body = (
            "<h1>Mail sandbox</h1>"
            f"<p>{len(rows)} message(s). SMTP on {_e(_smtp_line(self.server_info()))}.</p>"
            "<table><tr><th>#</th><th>received</th><th>to</th><th>subject</th></tr>"
            + "".join(rows)
            + "</table>"
        )
        return _page("Mail sandbox", body)

    async def message_page(self, request: web.Request) -> web.Response:
        m = self._message(request)
        detail = m.detail()
        headers = "".join(
            f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>" for name, value in detail["headers"]
        )
        parts = f"<h2>Text</h2><pre>{_e(detail['text'] or '(none)')}</pre>"
        if detail["html"] is not None:
            parts += (
                f'<h2>HTML</h2><iframe sandbox src="/api/messages/{m.id}/html"'
                ' style="width:100%;height:900px;border:1px solid #ccc"></iframe>'
            )
        body = (
            f'<p><a href="/">inbox</a> | <a href="/api/messages/{m.id}/raw">raw</a></p>'
            f"<h1>{_e(m.subject)}</h1><table>{headers}</table>{parts}"
        )
        return _page(m.subject or "message", body)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _smtp_line(info: dict[str, Any]) -> str:
    smtp = info["smtp"]
    extras = [x for x, on in (("STARTTLS", smtp["starttls"]), ("AUTH", smtp["auth"])) if on]
    return f"{smtp['host']}:{smtp['port']}" + (f" ({', '.join(extras)})" if extras else "")


def _page(title: str, body: str) -> web.Response:
    text = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td,th{padding:4px 8px;text-align:left;vertical-align:top}"
        "pre{white-space:pre-wrap;background:#f6f8fa;padding:1em}</style></head>"
        f"<body>{body}</body></html>"
    )
    return web.Response(
        text=text,
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'"},
    )
