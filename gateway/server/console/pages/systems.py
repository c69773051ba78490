"""``/console/systems``: connected systems, their organisation ids, last activity, inbox, refusals."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.server.console.overview import load_systems
from gateway.server.console.web import PREFIX, Console


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    @r.get("/systems")
    async def systems(request: Request) -> Response:
        session = console.session(request)
        rows = await run_in_threadpool(load_systems, console.hub.ledger)
        return console.render(request, "systems.html", session=session, page="systems", rows=rows)

    return r


__all__ = ["router"]
