"""A time budget for parsing sendEdoc packages: no package can stall the hub or burn its CPU for long.

The count limits of :class:`~gateway.limits.InputLimits` keep any one parse finite, but a package
that stays just under them (thousands of elements carrying 256 attributes each, an 8 MB body of
markup, a ZIP that inflates a hundredfold) still costs seconds of CPU, and part of that work runs
in C while holding the GIL: measured on this machine, one 10 MB body of 5,000 elements × 250
attributes parsed in a thread kept the event loop from running for ~950 ms, so ``/healthz`` and
every other request waited. A thread cannot be stopped, so a deadline there bounds nothing.

:class:`BudgetedParser` therefore sorts packages by what they can cost before parsing them:

* **light** — a body of at most ``IN_MEMORY_PARSE_LIMIT`` bytes with at most ``INLINE_MARKUP``
  markup bytes (``<``, ``=`` and ``&``, counted with ``bytes.count``, a few ms for 8 MB). Its cost is
  bounded by those two numbers (a clean package is a few hundred elements and one big base64 text
  node), so it is parsed in the calling (prepare) thread, as before: no inter-process copy on the
  hot path. Its ZIP attachments may inflate only ``INLINE_INFLATED_BYTES`` past the ratio floor
  there (so a zip bomb is still refused inline, by ``max_inflation_ratio``); a package that needs
  more is parsed again in the sandbox under the real limits.
* **heavy** — everything else is parsed in a warm worker *process* of a
  :class:`~gateway.server.sandbox.Sandbox`, with attachments only measured (nothing inflated into
  memory). The request thread waits on a pipe, holding neither the GIL nor a ledger lock. When
  ``max_parse_seconds`` runs out, the worker is killed (and replaced) and the request is refused
  with :class:`~gateway.errors.InputLimitError` naming ``max_parse_seconds`` — never retryable,
  the same package would burn the same budget again.

Errors raised in the worker come back with their own type, so the hub answers a heavy package's
refusal exactly as it would a light one's (422 for a schema or limit breach, 403, …).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.edxml import parse_package
from gateway.edxml.measure import DigestOnlyStore
from gateway.edxml.parse import ParseResult
from gateway.errors import GatewayError, InputLimitError, Location, RequestBudgetError
from gateway.limits import InputLimits, MiB
from gateway.server.sandbox import Sandbox

log = logging.getLogger("lienthong.hub.parse")

IN_MEMORY_PARSE_LIMIT = 8 * MiB
"""Bodies up to this size may be parsed in memory; larger ones always go to the sandbox."""
INLINE_MARKUP = 4096
"""At most this many ``<``, ``=`` and ``&`` bytes in a body parsed in the request thread."""
INLINE_INFLATED_BYTES = 16 * MiB
"""How far past ``ratio_floor_bytes`` one ZIP attachment may inflate in the request thread before the
sandbox takes over (the ratio is judged first: a bomb is refused inline)."""
SANDBOX_WORKERS = 2


def is_light(data: bytes) -> bool:
    """True when the package's parse cost is bounded by its size and markup count (see module doc)."""
    if len(data) > IN_MEMORY_PARSE_LIMIT:
        return False
    return data.count(b"<") + data.count(b"=") + data.count(b"&") <= INLINE_MARKUP


def _warm() -> None:  # pragma: no cover - runs in the worker
    """Import the parser and compile the schemas once per worker, not in the first request's budget."""
    from gateway.edxml.schema import load_schema

    load_schema("edoc")
    load_schema("status")


def _parse_in_worker(data: bytes, source: str, limits: InputLimits) -> tuple[str, Any, Any, Any]:  # pragma: no cover
    """Runs in the sandbox: parse with attachments measured only; errors are sent back whole."""
    try:
        return ("ok", parse_package(data, source_name=source, store=DigestOnlyStore(), input_limits=limits), None, None)
    except GatewayError as exc:
        return ("error", type(exc), exc.args, dict(exc.__dict__))


def _rebuild(cls: type[GatewayError], args: tuple[Any, ...], state: dict[str, Any]) -> GatewayError:
    """The worker's exception, of its own type (its ``__init__`` is not re-run: keyword-only fields)."""
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class BudgetedParser:
    """Parses sendEdoc bodies for :class:`~gateway.server.hub.HubService` under ``max_parse_seconds``.

    ``worker_fn`` is what a sandbox worker runs for a heavy package (tests swap it for a runaway).
    """

    worker_fn: Callable[[bytes, str, InputLimits], tuple[str, Any, Any, Any]] = staticmethod(_parse_in_worker)

    def __init__(self, limits: InputLimits, workers: int = SANDBOX_WORKERS):
        self.limits = limits
        self.sandbox = Sandbox(size=workers, budget_seconds=limits.max_parse_seconds, warmup=_warm)

    def parse(self, data: bytes, source: str) -> ParseResult:
        """The package's :class:`ParseResult`, or the typed error that refuses it."""
        if is_light(data):
            cap = min(self.limits.ratio_floor_bytes + INLINE_INFLATED_BYTES, self.limits.max_inflated_bytes)
            inline = self.limits.with_(max_inflated_bytes=cap)
            try:
                return parse_package(data, source_name=source, store=None, input_limits=inline)
            except InputLimitError as exc:
                if exc.limit != "max_inflated_bytes" or inline.max_inflated_bytes == self.limits.max_inflated_bytes:
                    raise
                log.info("package with a large ZIP attachment: parsed again in the sandbox", extra={"source": source})
        return self.parse_in_sandbox(data, source)

    def parse_in_sandbox(self, data: bytes, source: str) -> ParseResult:
        budget = self.limits.max_parse_seconds
        try:
            status, value, args, state = self.sandbox.run(type(self).worker_fn, data, source, self.limits)
        except RequestBudgetError as exc:
            if exc.retryable:  # every worker busy with other heavy packages: try again later
                raise
            log.warning("package parse over its time budget: refused", extra={"source": source})
            raise InputLimitError(
                "time spent parsing the package (seconds; stopped there)",
                limit="max_parse_seconds", value=float(budget), maximum=float(budget), location=Location(source),
            ) from None
        if status == "ok":
            assert isinstance(value, ParseResult)
            return value
        raise _rebuild(value, args, state)

    def close(self) -> None:
        self.sandbox.close()


__all__ = ["INLINE_MARKUP", "IN_MEMORY_PARSE_LIMIT", "BudgetedParser", "is_light"]
