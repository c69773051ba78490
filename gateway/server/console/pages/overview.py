"""``/console/``: the overview (today's documents, latency, failures, certificates, Airflow runs)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.server.console.airflow import AirflowReader
from gateway.server.console.certs import CertExpiry, certificate_expiry
from gateway.server.console.evidence import load_profiles
from gateway.server.console.overview import LATENCY_WINDOW, load_overview
from gateway.server.console.web import PREFIX, Console, redirect


def _certificates(console: Console) -> tuple[list[CertExpiry] | None, str | None]:
    profiles, problem = load_profiles(console.hub.settings)
    if profiles is None:
        return None, problem
    return certificate_expiry(profiles), None


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)
    airflow = AirflowReader(console.hub.settings.console)

    @r.get("")
    async def bare() -> Response:
        return redirect(f"{PREFIX}/")

    @r.get("/")
    async def overview(request: Request) -> Response:
        session = console.session(request)
        data = await run_in_threadpool(load_overview, console.hub.ledger)
        certs, certs_problem = await run_in_threadpool(_certificates, console)
        runs = await run_in_threadpool(airflow.status)
        return console.render(
            request,
            "overview.html",
            session=session,
            page="overview",
            o=data,
            certs=certs,
            certs_problem=certs_problem,
            airflow=runs,
            latency_window=LATENCY_WINDOW,
        )

    return r


__all__ = ["router"]
