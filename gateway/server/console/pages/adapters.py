"""``/console/adapters``: discovered adapters, their contract-kit results, and a translation try-out.

The contract kit (``lienthong adapters test``) can be run from here; its last result is kept in
``<data dir>/console/contract/<code>.json`` and shown beside the adapter ("not run" otherwise).
The try-out translates a pasted legacy document (at most ``console.max_translate_bytes``) with
the adapter and shows the edXML of each document, or its errors with their lines and legacy
paths. Nothing is sent anywhere. Both actions are audited with the operator's name.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.adapters.contract import run_contract
from gateway.adapters.discovery import AdapterRegistry, FoundAdapter, discover
from gateway.adapters.encodings import encode_cp1258, encode_tcvn3
from gateway.adapters.report import DocumentResult
from gateway.errors import GatewayError
from gateway.files import write_atomic
from gateway.server.console.pages import record_async
from gateway.server.console.web import PREFIX, Console, redirect

_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _legacy_bytes(text: str, encoding: str) -> bytes:
    """The pasted (Unicode) text in the adapter's legacy encoding, as the legacy system would send it."""
    if encoding == "windows-1258":
        return encode_cp1258(text)
    if encoding == "tcvn3":
        return encode_tcvn3(text, for_xml=True)
    return text.encode("utf-8")


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix=f"{PREFIX}/adapters", include_in_schema=False)
    settings = console.hub.settings
    results_dir = settings.data_dir / "console" / "contract"
    registry: dict[str, AdapterRegistry] = {}

    def adapters() -> AdapterRegistry:
        if "r" not in registry:
            registry["r"] = AdapterRegistry()
        return registry["r"]

    def last_result(code: str) -> dict[str, Any] | None:
        path = results_dir / f"{code}.json"
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def listing() -> list[tuple[FoundAdapter, dict[str, Any] | None]]:
        return [(f, last_result(f.code) if _CODE.match(f.code) else None) for f in discover()]

    def page(request: Request, session: Any, **values: Any) -> Response:
        values.setdefault("results", None)
        values.setdefault("pasted", "")
        values.setdefault("chosen", "")
        values.setdefault("problem", "")
        found = listing()
        return console.render(
            request,
            "adapters.html",
            session=session,
            page="adapters",
            found=found,
            max_kb=settings.console.max_translate_bytes // 1024,
            **values,
        )

    @r.get("")
    async def adapters_page(request: Request) -> Response:
        session = console.session(request)
        return await run_in_threadpool(page, request, session)

    @r.post("/translate")
    async def translate(request: Request) -> Response:
        session = console.session(request)
        form = await console.form(request, session)
        code = str(form.get("adapter") or "")
        text = form.get("document")
        text = text if isinstance(text, str) else ""
        if len(text.encode("utf-8")) > settings.console.max_translate_bytes:
            return await run_in_threadpool(page, request, session, problem="too_large", chosen=code)

        def run() -> list[DocumentResult] | str:
            try:
                adapter = adapters().get(code)
                data = _legacy_bytes(text, adapter.manifest.encoding)
            except GatewayError as exc:
                return str(exc)
            except UnicodeEncodeError as exc:
                return f"cannot encode the pasted text: {exc.reason}"
            return adapter.translate_bytes(data, source="pasted document")

        outcome = await run_in_threadpool(run)
        if isinstance(outcome, str):
            return await run_in_threadpool(page, request, session, problem=outcome, chosen=code, pasted=text)
        ok = sum(1 for d in outcome if d.ok)
        await record_async(
            console,
            "console.translate",
            session.operator,
            adapter=code,
            size=len(text),
            documents=len(outcome),
            translated=ok,
        )
        return await run_in_threadpool(page, request, session, results=outcome, chosen=code, pasted=text)

    @r.post("/{code}/contract")
    async def contract(request: Request, code: str) -> Response:
        session = console.session(request)
        await console.form(request, session)
        if not _CODE.match(code):
            return redirect(f"{PREFIX}/adapters")

        def run() -> dict[str, Any]:
            try:
                checks = run_contract(adapters().get(code))
            except GatewayError as exc:
                return {"ok": False, "passed": 0, "failed": 1, "failures": [str(exc)]}
            failures = [str(c) for c in checks if not c.ok]
            return {
                "ok": not failures,
                "passed": len(checks) - len(failures),
                "failed": len(failures),
                "failures": failures[:50],
            }

        result = await run_in_threadpool(run)
        result.update(at=datetime.now(UTC).replace(tzinfo=None).isoformat(), by=session.operator)
        target: Path = results_dir / f"{code}.json"
        results_dir.mkdir(parents=True, exist_ok=True)
        await run_in_threadpool(write_atomic, target, json.dumps(result, ensure_ascii=False).encode("utf-8"))
        await record_async(
            console,
            "console.contract_kit",
            session.operator,
            adapter=code,
            ok=result["ok"],
            passed=result["passed"],
            failed=result["failed"],
        )
        return redirect(f"{PREFIX}/adapters")

    return r


__all__ = ["router"]
