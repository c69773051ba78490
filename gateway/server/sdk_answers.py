"""The axis answers exactly as the official SDK (SDKVXP 2.0.1) reads them: one shape per operation.

The SDK's result parsers (``com.vpcp.services.KnobstickServiceImp`` / ``AgencyServiceImp``, public
JD-Core decompilation, see docs/hub.md "What the SDK reads") call
``get(name).getAsString()`` without a null check on every key they read *before* looking at
``status``; a missing key is a NullPointerException that the SDK swallows, returning ``null`` to
the agency software, which then never sees the reason. So every answer, OK or FAIL, carries every
key the SDK reads for that operation, as a string (``count``: a number), empty when there is
nothing:

=====================================================  ===========================================
operation                                              keys read (besides status/ErrorCode/ErrorDesc)
=====================================================  ===========================================
sendEdoc                                               ``DocId`` (always, even on FAIL)
getReceivedEdocList, getSentEdocList, getAgencies*,    ``data`` (array; only read when ErrorCode is
getSynchronizeUnit                                     ``"0"``)
getEdoc                                                ``data`` (base64; read unless status is FAIL)
countReceiveEdoc, countReceiveStatus                   ``count`` (``getAsInt``; unless FAIL)
updateStatus, registerAgency, deleteAgency             none
=====================================================  ===========================================

``downloadEdoc`` is different: the SDK writes the response body to ``<docId>.edxml`` and reports
success whenever that file is not empty, so a FAIL JSON body would be saved as the document. A
refused downloadEdoc is therefore answered with an **empty** body (the SDK then reports FAIL,
ErrorCode 100) and the reason in the ``X-Lienthong-Status``/``-ErrorCode``/``-ErrorDesc``
headers for other clients.

Answers are written with ASCII escapes (``\\u1ea1``): the SDK's upload path reads a 200 answer as
US-ASCII and an error answer in the platform charset, so only escaped JSON reaches it intact.

:func:`fail_answer` is the one place that shapes a FAIL answer; the catch-all error handler of the
server calls it too (``fail_answer(path, 500, ...)``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse, Response

#: Extra keys (with their empty value) the SDK reads from each operation's answer.
SDK_FIELDS: dict[str, dict[str, Any]] = {
    "sendEdoc": {"DocId": ""},
    "getReceivedEdocList": {"data": []},
    "getSentEdocList": {"data": []},
    "getAgenciesList": {"data": []},
    "getAgenciesListQD20": {"data": []},
    "getSynchronizeUnit": {"data": []},
    "getEdoc": {"data": ""},
    "countReceiveEdoc": {"count": 0},
    "countReceiveStatus": {"count": 0},
    "updateStatus": {},
    "registerAgency": {},
    "deleteAgency": {},
}
RAW_BODY_OPERATIONS = frozenset({"downloadEdoc"})


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped, so any charset the client reads it in gives the same text."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def operation_of(path: str) -> str:
    """``/sendEdoc`` → ``sendEdoc`` (the axis paths are the operation names)."""
    return path.strip("/").split("/")[-1]


def ok_answer(operation: str, **fields: Any) -> JSONResponse:
    body: dict[str, Any] = {"status": "OK", "ErrorCode": "0", "ErrorDesc": ""}
    body.update(SDK_FIELDS.get(operation, {}))
    body.update(fields)
    return AsciiJSONResponse(body)


def fail_answer(operation: str, http_status: int, message: str, code: str | None = None) -> Response:
    """The FAIL answer of ``operation`` (a name or a path): every key the SDK reads, empty values."""
    op = operation_of(operation)
    error_code = code or str(http_status)
    if error_code == "0":  # "0" means success to the SDK, which would then read the data
        error_code = str(http_status)
    if op in RAW_BODY_OPERATIONS:
        return Response(
            content=b"",
            status_code=http_status,
            headers={
                "X-Lienthong-Status": "FAIL",
                "X-Lienthong-ErrorCode": error_code,
                "X-Lienthong-ErrorDesc": json.dumps(message, ensure_ascii=True)[1:-1][:500],
            },
        )
    body: dict[str, Any] = {"status": "FAIL", "ErrorCode": error_code, "ErrorDesc": message}
    body.update(SDK_FIELDS.get(op, {}))
    return AsciiJSONResponse(body, status_code=http_status)


__all__ = ["SDK_FIELDS", "AsciiJSONResponse", "fail_answer", "ok_answer", "operation_of"]
