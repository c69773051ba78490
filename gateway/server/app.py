"""The hub's FastAPI application: axis API, operator API, health and metrics, delivery worker.

``create_app(settings)`` builds one app (tests call it directly); ``app_from_env()`` is the
factory ``lienthong serve`` hands to uvicorn, so every worker process builds its own from the
environment. Migrations are *not* run here: ``lienthong serve`` runs them once before starting
workers (``lienthong db upgrade`` does it by hand).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway import __version__
from gateway.blobstore import BlobStore
from gateway.config import HubSettings, load_settings
from gateway.edxml.directory import Directory
from gateway.edxml.schema import load_schema
from gateway.ledger import Ledger
from gateway.server.axis_api import build_router
from gateway.server.compat import FailAs200Middleware, axis_paths
from gateway.server.console import install_console
from gateway.server.delivery import DeliveryWorker
from gateway.server.errors_handler import CatchAllMiddleware
from gateway.server.health import build_health_router
from gateway.server.hub import HubService
from gateway.server.legacy_push import build_legacy_router
from gateway.server.malloc_trim import MallocTrimmer, limit_arenas
from gateway.server.operator_api import build_operator_router


def create_app(
    settings: HubSettings, *, migrate: bool = False, deliver: bool = True, prestart_workers: bool = False
) -> FastAPI:
    """The hub's ASGI app. ``prestart_workers`` (``lienthong serve``) starts one parse-sandbox worker at
    start-up, so the first heavy package does not pay a worker's start-up on the request path."""
    limit_arenas(settings.malloc_arena_max)  # before this process starts its threads
    for kind in ("edoc", "status"):  # a missing or broken schema stops the start, not every package later
        load_schema(kind)
    ledger = Ledger.open(settings, migrate=migrate, pool_size=20)
    blobs = BlobStore(settings.blob_dir, fsync=False)  # durability by HubService's group sync
    directory = Directory.from_json(settings.directory_file) if settings.directory_file else Directory()
    hub = HubService(settings, ledger, blobs, directory)
    worker = DeliveryWorker(settings, ledger, blobs, wake=hub.work_available) if deliver else None
    trimmer = MallocTrimmer(settings.malloc_trim_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        trimmer.start()
        if prestart_workers:
            threading.Thread(target=hub.parser.sandbox.prestart, name="lienthong-sandbox-prestart", daemon=True).start()
        try:
            yield
        finally:
            trimmer.stop()
            if worker is not None:
                worker.stop()
            hub.close()
            ledger.close()

    app = FastAPI(
        title="lienthong hub",
        version=__version__,
        lifespan=lifespan,
        description="Axis-compatible (VDXP) document exchange hub with an operator API.",
    )
    app.state.hub = hub
    app.state.worker = worker
    app.state.trimmer = trimmer
    axis_router = build_router(hub)
    app.include_router(axis_router)
    app.include_router(build_operator_router(hub))
    app.include_router(build_health_router(hub))
    app.include_router(build_legacy_router(hub))
    if settings.console.enabled:
        install_console(app, hub)  # /console: the operator's web console (docs/console.md)
    app.add_middleware(CatchAllMiddleware, axis_paths=axis_paths(axis_router.routes))
    if settings.fail_with_http_200:
        app.add_middleware(FailAs200Middleware, paths=axis_paths(axis_router.routes))
    return app


def app_from_env() -> FastAPI:
    """Uvicorn factory: settings from the environment (set by ``lienthong serve``)."""
    from gateway.server.logs import configure_json_logging

    configure_json_logging()
    return create_app(load_settings(), prestart_workers=True)


__all__ = ["app_from_env", "create_app"]
