"""The management API when the engine itself fails: JSON the SDK can read, never a bare 500."""

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from devhost.errors import EngineError
from devhost.http_auth import Level
from devhost.management_api import ManagementApi
from devhost.management_urls import WEBHOOK_PREFIX, Urls
from shared.clock import SystemClock


class CrashedEngine:
    """Stands in for an engine whose worker thread died: every call raises EngineError."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise EngineError("the Durable engine's worker stopped: disk I/O error")

        return fail


def test_a_crashed_engine_is_a_500_with_the_extensions_error_body():
    async def scenario() -> tuple[int, Any]:
        app = web.Application()
        api = ManagementApi(CrashedEngine(), Urls("Hub", None), None, SystemClock())
        api.install(app, WEBHOOK_PREFIX, Level.ANONYMOUS)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}{WEBHOOK_PREFIX}/instances/abc"
                async with session.get(url) as resp:
                    return resp.status, await resp.json()
        finally:
            await runner.cleanup()

    status, body = asyncio.run(scenario())
    assert status == 500
    assert body["ExceptionMessage"] == "the Durable engine's worker stopped: disk I/O error"
