"""The axis client and the HMAC scheme: SDK quirks, retry policy, outcomes (the national axis is mocked)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest

from gateway.errors import AuthorizationError, RemoteRefusalError
from gateway.transport.axis import AxisClient
from gateway.transport.hmac_auth import (
    format_sdk_timestamp,
    parse_sdk_timestamp,
    sdk_file_hash,
    sign_headers,
    verify_headers,
)


def test_hash_file_has_no_zero_padding() -> None:
    data = b"abc"
    digest = hashlib.sha256(data).digest()
    assert sdk_file_hash(data) == "".join(f"{b:x}" for b in digest)
    assert any(b < 16 for b in digest) and len(sdk_file_hash(data)) < 64


def test_timestamp_is_vietnam_time_with_millis_after_plus() -> None:
    moment = datetime(2026, 11, 27, 9, 54, 11, 683000, tzinfo=UTC)
    text = format_sdk_timestamp(moment)
    assert text == "27112026T165411+0683"
    assert parse_sdk_timestamp(text) == moment
    with pytest.raises(AuthorizationError, match="ddMMyyyyTHHmmss"):
        parse_sdk_timestamp("2026-11-27T16:54:11")


def test_signature_round_trip_and_case_preserved() -> None:
    headers = sign_headers("sys-a", "k", {"docId": "42"})
    assert json.loads(headers["XroadVnpt-sign-header"])["XroadVnpt-docId"] == "42"
    verified = verify_headers(headers, lambda s: "k" if s == "sys-a" else None)
    assert verified.system_id == "sys-a" and verified.get("docid") == "42"
    with pytest.raises(AuthorizationError, match="bad signature"):
        verify_headers(headers, lambda s: "other")


class Axis:
    """A scripted stand-in for the national axis: answers from a list, records every request."""

    def __init__(self, *answers: object):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        verify_headers(request.headers, lambda s: "secret", window_seconds=60)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer


def _client(axis: Axis, retries: int = 3) -> AxisClient:
    return AxisClient("http://axis.invalid", "sys-a", "secret", retries=retries, transport=httpx.MockTransport(axis),
                      sleep=lambda _s: None)


def test_retryable_failures_are_retried_with_the_same_body() -> None:
    axis = Axis(httpx.ReadTimeout("slow"), httpx.Response(502), httpx.RemoteProtocolError("dropped"),
                httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "DocId": "D1"}))
    outcome = _client(axis).deliver(b"<edXML/>")
    assert (outcome.result, outcome.doc_id, outcome.tries) == ("delivered", "D1", 4)
    bodies = {r.content for r in axis.requests}
    assert bodies == {b"<edXML/>\r\n"}
    assert {r.headers["XroadVnpt-hash-file"] for r in axis.requests} == {sdk_file_hash(b"<edXML/>")}


def test_refusal_is_not_retried() -> None:
    axis = Axis(httpx.Response(200, json={"status": "FAIL", "ErrorCode": "E01", "ErrorDesc": "Don vi gui sai"}))
    outcome = _client(axis).deliver(b"<edXML/>")
    assert outcome.result == "refused" and outcome.reason == "refused:E01" and len(axis.requests) == 1
    with pytest.raises(RemoteRefusalError, match="Don vi gui sai"):
        _client(Axis(httpx.Response(200, json={"status": "FAIL", "ErrorCode": "E01",
                                                "ErrorDesc": "Don vi gui sai"}))).send_edoc(b"x")


def test_exhausted_retries_give_unknown() -> None:
    axis = Axis(*[httpx.ConnectError("refused")] * 3)
    outcome = _client(axis, retries=2).deliver(b"<edXML/>")
    assert outcome.result == "unknown" and outcome.reason == "connection" and len(axis.requests) == 3


def test_receive_operations_use_sdk_header_names() -> None:
    axis = Axis(
        httpx.Response(200, json={"status": "OK", "data": [{"docId": "7"}]}),
        httpx.Response(200, json={"status": "OK", "data": "PGVkWE1MLz4="}),
        httpx.Response(200, json={"status": "OK"}),
    )
    client = _client(axis)
    assert client.received_list("edoc") == [{"docId": "7"}]
    assert client.get_edoc("7") == b"<edXML/>"
    client.update_status("7", "done")
    assert "XroadVnpt-docId" in json.loads(axis.requests[1].headers["XroadVnpt-sign-header"])
    assert "XroadVnpt-docid" in json.loads(axis.requests[2].headers["XroadVnpt-sign-header"])
    assert [r.url.path for r in axis.requests] == ["/getReceivedEdocList", "/getEdoc", "/updateStatus"]
