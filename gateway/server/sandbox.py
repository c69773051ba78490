"""A per-request time budget for CPU-heavy work that must never freeze the hub.

Translating a legacy SOAP push (parse, schema checks, mapping) is the one piece of request work
whose cost is set by the caller's document: a hostile batch (thousands of junk attributes, a
pathological schema error report) could burn minutes of CPU. In a thread it would also starve
the event loop (much of that work holds the GIL in C code), so ``/healthz`` would stop answering.
The :class:`Sandbox` runs such work in separate, warm worker *processes* (``spawn``: a clean
interpreter, nothing inherited from the threaded server). The caller's thread only waits on a
pipe, holding neither the GIL nor any ledger lock. When the budget (``request_cpu_seconds``,
wall time of the worker, which has nothing else to do) runs out, that worker is killed and
replaced, and the request is refused with :class:`~gateway.errors.RequestBudgetError`; other
requests are unaffected.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from gateway.errors import GatewayError, RequestBudgetError, SandboxError

log = logging.getLogger("lienthong.sandbox")


def _child_main(conn: Connection, warmup: Callable[[], object] | None) -> None:  # pragma: no cover - child
    """Worker loop: warm up, say ``"ready"``, then receive ``(callable, args)`` and answer
    ``("ok", value)`` or ``("error", kind, text, retryable)``."""
    if warmup is not None:
        try:
            warmup()
        except Exception:
            log.exception("sandbox warm-up failed")
    conn.send(("ready",))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        fn, args = job
        try:
            conn.send(("ok", fn(*args)))
        except GatewayError as exc:
            conn.send(("error", type(exc).__name__, str(exc), exc.retryable))
        except Exception as exc:
            conn.send(("error", type(exc).__name__, "".join(traceback.format_exception_only(exc)).strip(), False))


READY_TIMEOUT_SECONDS = 120.0


class _Worker:
    """One worker process; ready (imports and warm-up done) when the constructor returns."""

    def __init__(self, ctx: Any, warmup: Callable[[], object] | None):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_child_main, args=(child, warmup), name="lienthong-sandbox", daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(READY_TIMEOUT_SECONDS) or self.conn.recv() != ("ready",):
            self.kill()
            raise SandboxError("a translation worker did not start; retry later", retryable=True)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class Sandbox:
    """A few warm worker processes; :meth:`run` is blocking (call it from a worker thread)."""

    def __init__(self, size: int = 2, budget_seconds: float = 20.0, warmup: Callable[[], object] | None = None):
        self.size = size
        self.warmup = warmup
        self.budget_seconds = budget_seconds
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._started = 0
        self._closed = False

    def _spawn(self) -> _Worker:
        """A new worker; the caller has counted it in ``_started`` (uncounted again if it fails)."""
        try:
            return _Worker(self._ctx, self.warmup)
        except BaseException:
            with self._lock:
                self._started -= 1
            raise

    def _take(self, deadline: float) -> _Worker:
        with self._lock:
            spawn = self._idle.empty() and self._started < self.size
            if spawn:
                self._started += 1
        if spawn:  # start-up time is not the document's: it does not count against the budget
            return self._spawn()
        try:
            return self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RequestBudgetError(
                "all translation workers are busy; retry later", retryable=True
            ) from None

    def prestart(self, count: int = 1) -> None:
        """Start up to ``count`` workers now (blocking; run it on a background thread at server start).

        A worker's start-up (a fresh interpreter, imports, schema compilation) costs about a second of
        CPU; paid on the first heavy request it lands, all at once, on the clients served beside it.
        """
        for _ in range(count):
            with self._lock:
                if self._closed or self._started >= self.size:
                    return
                self._started += 1
            try:
                worker = self._spawn()
            except Exception:
                log.warning("sandbox worker did not pre-start; it will start on first use")
                return
            if self._closed:
                worker.kill()
                return
            self._idle.put(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._started -= 1

    def run(self, fn: Callable[..., Any], *args: Any, budget_seconds: float | None = None) -> Any:
        """``fn(*args)`` in a worker process (``fn`` and the arguments must be picklable)."""
        budget = self.budget_seconds if budget_seconds is None else budget_seconds
        worker = self._take(time.monotonic() + budget)
        started = time.monotonic()
        try:
            worker.conn.send((fn, args))
            remaining = max(0.0, started + budget - time.monotonic())
            if not worker.conn.poll(remaining):
                self._replace(worker)
                raise RequestBudgetError(f"the document took more than its time budget of {budget:g} s; refused")
            answer = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            self._replace(worker)
            raise SandboxError("the translation worker died; retry later", retryable=True) from exc
        except RequestBudgetError:
            raise
        except BaseException:
            self._replace(worker)
            raise
        if self._closed:
            worker.kill()
        else:
            self._idle.put(worker)
        if answer[0] == "ok":
            return answer[1]
        _, kind, text, retryable = answer
        raise SandboxError(f"{kind}: {text}", retryable=retryable)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return


__all__ = ["Sandbox"]
