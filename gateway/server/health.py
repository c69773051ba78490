"""``/healthz`` (database, blob store, free-space reserve, upstream reachability) and ``/metrics`` (Prometheus text).

Metrics are computed from the ledger at scrape time, so every worker process of a multi-process
server reports the same numbers: messages by state, queue depth, delivery failures by reason,
and a delivery latency histogram over the most recent deliveries. The per-process memory gauges
(:mod:`gateway.server.process_metrics`) are the exception: each worker reports its own, by ``pid``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from gateway.errors import GatewayError
from gateway.ledger.models import Attempt, Message
from gateway.server.hub import HubService
from gateway.server.process_metrics import ProcessMemoryCollector

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
LATENCY_WINDOW = 10_000
_UPSTREAM_CACHE_SECONDS = 15.0


class LedgerCollector:
    def __init__(self, hub: HubService):
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        with self.hub.ledger.reader() as s:
            by_state = s.execute(select(Message.state, func.count()).group_by(Message.state)).all()
            failures = s.execute(
                select(Attempt.reason, func.count())
                .where(Attempt.outcome != "delivered")
                .group_by(Attempt.reason)
            ).all()
            latencies = s.execute(
                select(Message.created_at, Message.delivered_at)
                .where(Message.delivered_at.is_not(None))
                .order_by(Message.id.desc())
                .limit(LATENCY_WINDOW)
            ).all()
        g = GaugeMetricFamily("lienthong_messages", "Messages in the ledger by state", labels=["state"])
        for state, count in by_state:
            g.add_metric([state], int(count))
        yield g
        depth = sum(int(c) for st, c in by_state if st in {"QUEUED", "FAILED"})
        yield GaugeMetricFamily(
            "lienthong_queue_depth", "Messages waiting for delivery or pickup", value=depth
        )
        c = CounterMetricFamily(
            "lienthong_delivery_failures", "Failed delivery attempts by reason", labels=["reason"]
        )
        for reason, count in failures:
            c.add_metric([reason or "unknown"], int(count))
        yield c
        refused = CounterMetricFamily(
            "lienthong_refusals",
            "Refused axis requests by system ('-' when unauthenticated) and reason",
            labels=["system", "reason"],
        )
        for system_id, reason, count in self.hub.refusals.totals():
            refused.add_metric([system_id, reason], count)
        yield refused
        counts = [0] * len(LATENCY_BUCKETS)
        total = 0.0
        for created, delivered in latencies:
            if delivered is None:
                continue
            seconds = max(0.0, (delivered - created).total_seconds())
            total += seconds
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
        buckets = [(str(b), n) for b, n in zip(LATENCY_BUCKETS, counts, strict=True)]
        buckets.append(("+Inf", len(latencies)))
        h = HistogramMetricFamily(
            "lienthong_delivery_latency_seconds",
            f"Acceptance to delivery, over the last {LATENCY_WINDOW} deliveries",
        )
        h.add_metric([], buckets, total)
        yield h
        disk = self.hub.diskguard.state()
        yield GaugeMetricFamily(
            "lienthong_disk_free_bytes", "Free bytes on the data filesystem (least over blob store and database)",
            value=disk.free_bytes,
        )
        yield GaugeMetricFamily(
            "lienthong_disk_reserve_bytes", "Free-space reserve below which new packages are refused (min_free_bytes)",
            value=disk.reserve_bytes,
        )
        yield GaugeMetricFamily(
            "lienthong_disk_full", "1 while new packages are refused for lack of space", value=int(disk.full)
        )
        if self.hub.asset_events is not None:
            events = CounterMetricFamily(
                "lienthong_airflow_asset_events", "Airflow asset events after legacy pushes, by outcome",
                labels=["outcome"],
            )
            counters = self.hub.asset_events.counters
            for outcome in ("queued", "sent", "retried", "failed", "dropped"):
                events.add_metric([outcome], getattr(counters, outcome))
            yield events


def _tcp_reachable(url: str, timeout: float = 2.0) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def build_health_router(hub: HubService) -> APIRouter:
    router = APIRouter(tags=["health"])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(hub))
    registry.register(ProcessMemoryCollector())
    upstream_cache: dict[str, tuple[float, bool]] = {}

    def check() -> tuple[bool, dict[str, Any]]:
        report: dict[str, Any] = {}
        healthy = True
        try:
            hub.ledger.ping()
            report["database"] = "ok"
        except GatewayError as exc:
            report["database"] = f"error: {exc}"
            healthy = False
        blob_ok = os.access(hub.blobs.root, os.W_OK) and (hub.blobs.root / "tmp").is_dir()
        report["blobstore"] = "ok" if blob_ok else "not writable"
        healthy = healthy and blob_ok
        disk = hub.diskguard.state()
        report["disk"] = (
            "ok" if not disk.full else "full (below the free-space reserve): new packages are refused"
        )
        report["disk_free_bytes"] = disk.free_bytes
        report["disk_reserve_bytes"] = disk.reserve_bytes
        healthy = healthy and not disk.full
        up = hub.settings.upstream
        if up is None:
            report["upstream"] = "not configured"
        else:
            hit = upstream_cache.get(up.url)
            if hit is None or hit[0] < time.monotonic():
                hit = (time.monotonic() + _UPSTREAM_CACHE_SECONDS, _tcp_reachable(up.url))
                upstream_cache[up.url] = hit
            report["upstream"] = "reachable" if hit[1] else "unreachable"
        report["status"] = "ok" if healthy else "failing"
        if healthy and report["upstream"] == "unreachable":
            report["status"] = "degraded"
        return healthy, report

    @router.get("/healthz", summary="Database, blob store and upstream reachability")
    async def healthz() -> JSONResponse:
        healthy, report = await run_in_threadpool(check)
        return JSONResponse(report, status_code=200 if healthy else 503)

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @router.get("/ping", summary="Trivial endpoint (the benchmark's floor)", include_in_schema=False)
    async def ping() -> dict[str, str]:
        return {"status": "OK"}

    return router


__all__ = ["build_health_router"]
