"""The axis request signature (gateway.transport.hmac_auth), checked rule by rule.

Each test names the rule of the SDK's scheme it protects; a verifier that drops or weakens one of
them (found by ``make mutation``) lets a forged or replayed request through, so every refusal is
asserted with its reason and every acceptance with what the signature vouches for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from gateway.errors import AuthorizationError
from gateway.transport.hmac_auth import (
    HASH_HEADER,
    SIGN_HEADER,
    SIGN_HEADER_KEY,
    VerifiedRequest,
    format_sdk_timestamp,
    hmac_hex,
    parse_sdk_timestamp,
    sdk_hex,
    sign_headers,
    verify_headers,
)

SECRET = "s3cret"
MOMENT = datetime(2026, 11, 27, 9, 54, 11, 683000, tzinfo=UTC)  # 27112026T165411+0683 in Vietnam
STAMP = "27112026T165411+0683"


def _secret(system: str) -> str | None:
    return SECRET if system == "sys" else None


def _signed(**values: str) -> dict[str, str]:
    return sign_headers("sys", SECRET, {"docId": "d1", **values}, timestamp=STAMP)


def _verify(headers: dict[str, str], **kw) -> VerifiedRequest:
    kw.setdefault("now", MOMENT)
    return verify_headers(headers, _secret, **kw)


def _refused(headers: dict[str, str], reason: str, **kw) -> None:
    """The request is refused with exactly ``reason`` (the words the SDK hands to agency software)."""
    with pytest.raises(AuthorizationError, match=f"^{re.escape(reason)}$"):
        _verify(headers, **kw)


def _forge(entries: dict[str, object], *, key_list: str | None = None, raw: str | None = None,
           extra: dict[str, str] | None = None) -> dict[str, str]:
    """Headers with a correct HMAC over an arbitrary sign-header (what a holder of the secret could send)."""
    sign = raw if raw is not None else json.dumps(entries, separators=(",", ":"), ensure_ascii=False)
    names = ";".join(k.removeprefix("XroadVnpt-") for k in entries) if key_list is None else key_list
    headers = {SIGN_HEADER: sign.encode("utf-8").decode("latin-1"), SIGN_HEADER_KEY: names,
               HASH_HEADER: hmac.new(SECRET.encode(), sign.encode("utf-8"), hashlib.sha256).hexdigest()}
    return {**headers, **(extra or {})}


BASE = {"XroadVnpt-timestamp": STAMP, "XroadVnpt-systemid": "sys"}


# -- hashing ----------------------------------------------------------------------------------

def test_hmac_is_hmac_sha256_in_lowercase_hex_over_the_utf8_secret() -> None:
    # known answer (the classic HMAC-SHA256 example), not recomputed with the code under test
    assert hmac_hex("key", b"The quick brown fox jumps over the lazy dog") == (
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
    assert hmac_hex("khóa", b"x") == hmac.new("khóa".encode(), b"x", hashlib.sha256).hexdigest()


def test_sdk_hex_writes_each_byte_unpadded_like_integer_tohexstring() -> None:
    assert sdk_hex(bytes([0, 1, 15, 16, 171, 255])) == "01f10abff"


# -- timestamps -------------------------------------------------------------------------------

def test_timestamp_written_in_the_given_zone_with_four_digit_millis() -> None:
    assert format_sdk_timestamp(MOMENT) == STAMP
    assert format_sdk_timestamp(MOMENT, utc_offset_minutes=0) == "27112026T095411+0683"
    assert format_sdk_timestamp(datetime(2026, 1, 2, 3, 4, 5, 7000)) == "02012026T030405+0007"  # naive: as is


def test_timestamp_read_in_the_configured_zone() -> None:
    assert parse_sdk_timestamp(STAMP) == MOMENT
    assert parse_sdk_timestamp(f"  {STAMP} ") == MOMENT
    assert parse_sdk_timestamp("27112026T095411+0683", utc_offset_minutes=0) == MOMENT
    # the SDK's millisecond field has four digits; of a longer one only the last four count
    assert parse_sdk_timestamp("27112026T165411+10683") == MOMENT
    at = parse_sdk_timestamp("27112026T165411")  # no milliseconds part
    assert at == MOMENT.replace(microsecond=0) and at.utcoffset() == timedelta(hours=7)
    with pytest.raises(AuthorizationError, match="ddMMyyyyTHHmmss"):
        parse_sdk_timestamp("27112026T165411+abc")


# -- signing (client side) --------------------------------------------------------------------

def test_signed_headers_are_the_sdk_set_in_the_sdk_order() -> None:
    headers = sign_headers("sys", SECRET, {"docId": "d1"}, content_type="text/xml", timestamp=STAMP)
    sign = ('{"XroadVnpt-timestamp":"' + STAMP + '","XroadVnpt-systemid":"sys","XroadVnpt-Content-Type":"text/xml",'
            '"XroadVnpt-docId":"d1"}')
    assert headers[SIGN_HEADER] == sign
    assert headers[SIGN_HEADER_KEY] == "timestamp;systemid;Content-Type;docId"
    assert headers[HASH_HEADER] == hmac.new(SECRET.encode(), sign.encode(), hashlib.sha256).hexdigest()
    assert headers["XroadVnpt-docId"] == "d1" and headers["XroadVnpt-timestamp"] == STAMP
    assert headers["XroadVnpt-version"] == "3.0.201608"
    assert headers["Content-Type"] == "text/xml" and headers["XroadVnpt-Content-Type"] == "text/xml"
    assert headers["User-Agent"] == "JAVASDKAgent/1.0.0 XRoad/VPCP"


def test_signing_without_a_timestamp_stamps_the_current_vietnam_time() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    stamp = sign_headers("sys", SECRET, {})["XroadVnpt-timestamp"]
    assert before <= parse_sdk_timestamp(stamp) <= datetime.now(UTC) + timedelta(seconds=1)


def test_non_ascii_values_travel_as_utf8_and_verify() -> None:
    headers = sign_headers("sys", SECRET, {"docId": "Công văn số 1"}, timestamp=STAMP)
    assert '"XroadVnpt-docId":"Công văn số 1"' in headers[SIGN_HEADER].encode("latin-1").decode("utf-8")
    assert headers["XroadVnpt-docId"].encode("latin-1") == "Công văn số 1".encode()
    assert _verify(headers).get("docid") == "Công văn số 1"


# -- verification (server side) -----------------------------------------------------------------

def test_a_good_request_yields_the_system_its_values_its_time_and_its_hmac() -> None:
    headers = _signed()
    verified = _verify(headers)
    assert verified.system_id == "sys"
    assert verified.values == {"timestamp": STAMP, "systemid": "sys", "content-type": "application/json",
                               "docid": "d1"}
    assert verified.get("DocId") == "d1" and verified.get("absent") is None and verified.get("x", "dflt") == "dflt"
    assert verified.timestamp == MOMENT
    assert verified.signature == headers[HASH_HEADER]


@pytest.mark.parametrize("drop", [SIGN_HEADER, HASH_HEADER])
def test_a_request_missing_the_signed_json_or_its_hmac_is_refused(drop: str) -> None:
    headers = _signed()
    _refused({k: v for k, v in headers.items() if k != drop}, "missing XroadVnpt-sign-header or XroadVnpt-hash-header")
    _refused({**headers, drop: ""}, "missing XroadVnpt-sign-header or XroadVnpt-hash-header")


def test_header_names_are_matched_case_insensitively() -> None:
    headers = {k.lower(): v for k, v in _signed().items()}
    assert _verify(headers).system_id == "sys"


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"'])
def test_a_sign_header_that_is_not_a_json_object_is_refused(raw: str) -> None:
    _refused(_forge({}, raw=raw, key_list=""), "XroadVnpt-sign-header is not a JSON object")


def test_a_sign_header_with_characters_no_http_header_can_carry_is_a_bad_signature() -> None:
    # received headers are latin-1 text; a value outside latin-1 (a caller passing str headers)
    # is replaced, so it can only fail the HMAC, never crash the verifier
    headers = _signed()
    forged = headers[SIGN_HEADER].replace('"d1"', '"đ1"')
    _refused({**headers, SIGN_HEADER: forged}, "bad signature (XroadVnpt-hash-header) for system 'sys'")


def test_a_sign_header_that_is_not_utf8_is_refused() -> None:
    headers = _forge(BASE)
    headers[SIGN_HEADER] = b'{"XroadVnpt-systemid":"\xff"}'.decode("latin-1")
    _refused(headers, "XroadVnpt-sign-header is not a JSON object")


@pytest.mark.parametrize("entry", [{"systemid2": "x"}, {"X-systemid": "x"}, {"XroadVnpt-n": 1},
                                   {"XroadVnpt-n": None}, {"XroadVnpt-n": ["a"]}])
def test_a_signed_entry_that_is_not_an_xroadvnpt_string_is_refused(entry: dict[str, object]) -> None:
    with pytest.raises(AuthorizationError, match="is not an XroadVnpt-\\* string"):
        _verify(_forge({**BASE, **entry}))


def test_the_prefix_of_signed_names_is_matched_case_insensitively() -> None:
    verified = _verify(_forge({"xroadvnpt-timestamp": STAMP, "XROADVNPT-SYSTEMID": "sys"}))
    assert verified.system_id == "sys" and verified.get("timestamp") == STAMP


@pytest.mark.parametrize("system", [None, ""])
def test_signed_headers_without_a_systemid_are_refused(system: str | None) -> None:
    entries = {"XroadVnpt-timestamp": STAMP} | ({} if system is None else {"XroadVnpt-systemid": system})
    _refused(_forge(entries), "the signed headers carry no systemid")


def test_an_unknown_system_is_refused_by_name() -> None:
    headers = sign_headers("stranger", SECRET, {}, timestamp=STAMP)
    with pytest.raises(AuthorizationError, match="unknown system 'stranger'"):
        _verify(headers)


def test_the_hmac_is_checked_with_the_systems_own_secret() -> None:
    headers = sign_headers("sys", "another-secret", {}, timestamp=STAMP)
    with pytest.raises(AuthorizationError, match=r"bad signature .* for system 'sys'"):
        _verify(headers)


def test_the_signature_check_compares_the_whole_hmac() -> None:
    headers = _signed()
    real = headers[HASH_HEADER]
    for position in (0, 8, 32, 63):  # one wrong hex digit anywhere is a forgery
        forged = real[:position] + ("0" if real[position] != "0" else "1") + real[position + 1:]
        with pytest.raises(AuthorizationError, match="bad signature"):
            _verify({**headers, HASH_HEADER: forged})
    with pytest.raises(AuthorizationError, match="bad signature"):
        _verify({**headers, HASH_HEADER: real[:8]})


def test_the_hmac_may_arrive_in_uppercase_or_padded() -> None:
    headers = _signed()
    assert _verify({**headers, HASH_HEADER: f" {headers[HASH_HEADER].upper()} "}).system_id == "sys"


def test_the_hmac_covers_the_exact_sign_header_bytes() -> None:
    headers = _signed()
    respaced = headers[SIGN_HEADER].replace(",", ", ")  # same JSON, other bytes
    with pytest.raises(AuthorizationError, match="bad signature"):
        _verify({**headers, SIGN_HEADER: respaced})


def test_names_differing_only_in_case_must_agree() -> None:
    same = _forge({**BASE, "XroadVnpt-docId": "d1", "XroadVnpt-docid": "d1"}, key_list="timestamp;systemid;docId")
    assert _verify(same).get("docid") == "d1"
    clash = _forge({**BASE, "XroadVnpt-docId": "d2", "XroadVnpt-docid": "d1"}, key_list="timestamp;systemid;docId")
    _refused(clash, "the signed headers carry 'docid' twice with different values (names differing only in case, "
                    "as a reused SDK instance sends them): refused as ambiguous")


def test_a_case_conflict_is_only_reported_after_the_hmac_checks_out() -> None:
    clash = _forge({**BASE, "XroadVnpt-docId": "d2", "XroadVnpt-docid": "d1"}, key_list="timestamp;systemid;docId")
    with pytest.raises(AuthorizationError, match="bad signature"):
        _verify({**clash, HASH_HEADER: "0" * 64})


def test_sign_header_key_is_required_and_checked() -> None:
    headers = _signed()
    missing = {k: v for k, v in headers.items() if k != SIGN_HEADER_KEY}
    _refused(missing, "missing XroadVnpt-sign-header-key (the SDK always sends it)")
    for wrong in ("timestamp;systemid", "timestamp;systemid;Content-Type;docId;extra", ""):
        _refused({**headers, SIGN_HEADER_KEY: wrong}, "XroadVnpt-sign-header-key does not list exactly the signed names")


def test_sign_header_key_names_may_carry_the_prefix_spaces_case_and_empty_parts() -> None:
    headers = _signed()
    listed = " XroadVnpt-timestamp ;SYSTEMID;; content-type;docid;"
    assert _verify({**headers, SIGN_HEADER_KEY: listed}).get("docid") == "d1"


def test_a_plain_header_differing_from_its_signed_value_is_refused() -> None:
    headers = _signed()
    with pytest.raises(AuthorizationError, match="header XroadVnpt-docid differs from its signed value"):
        _verify({**headers, "XroadVnpt-docId": "d2"})


def test_only_the_signed_json_is_trusted_when_plain_headers_are_absent() -> None:
    headers = {k: v for k, v in _signed().items() if k in (SIGN_HEADER, SIGN_HEADER_KEY, HASH_HEADER)}
    assert _verify(headers).get("docid") == "d1"


@pytest.mark.parametrize("window", [900, 0, None])
@pytest.mark.parametrize("stamp", [None, ""])
def test_a_request_without_timestamp_is_refused(window: int | None, stamp: str | None) -> None:
    entries = {"XroadVnpt-systemid": "sys", "XroadVnpt-docId": "d1"}
    if stamp is not None:
        entries["XroadVnpt-timestamp"] = stamp
    _refused(_forge(entries), "the signed headers carry no timestamp", window_seconds=window)


def test_an_unreadable_signed_timestamp_is_refused() -> None:
    headers = sign_headers("sys", SECRET, {}, timestamp="2026-11-27 16:54")
    with pytest.raises(AuthorizationError, match="not in the SDK format"):
        _verify(headers, window_seconds=0)


def test_the_timestamp_window_refuses_old_and_future_requests_and_keeps_its_edge() -> None:
    headers = _signed()
    assert _verify(headers, now=MOMENT + timedelta(seconds=900)).timestamp == MOMENT  # exactly at the edge
    assert _verify(headers, now=MOMENT - timedelta(seconds=900)).timestamp == MOMENT
    with pytest.raises(AuthorizationError, match=r"is 901 s away from the hub clock \(window 900 s, read as UTC\+7\)"):
        _verify(headers, now=MOMENT + timedelta(seconds=901))
    with pytest.raises(AuthorizationError, match="is 61 s away"):
        _verify(headers, now=MOMENT - timedelta(seconds=61), window_seconds=60)


def test_the_timestamp_is_read_in_the_configured_zone() -> None:
    headers = _signed()  # 16:54 Vietnam time = 09:54 UTC
    assert _verify(headers, utc_offset_minutes=420).timestamp == MOMENT
    with pytest.raises(AuthorizationError, match=r"25200 s away .* read as UTC\+0"):
        _verify(headers, utc_offset_minutes=0)
    utc = _verify(headers, utc_offset_minutes=0, window_seconds=None).timestamp
    assert utc == MOMENT + timedelta(hours=7) and utc.utcoffset() == timedelta(0)


def test_without_now_the_window_is_measured_from_the_current_clock() -> None:
    stale = sign_headers("sys", SECRET, {}, timestamp=format_sdk_timestamp(datetime.now(UTC) - timedelta(seconds=1000)))
    with pytest.raises(AuthorizationError, match="s away from the hub clock"):
        verify_headers(stale, _secret)
    fresh = sign_headers("sys", SECRET, {})
    assert verify_headers(fresh, _secret).system_id == "sys"


@pytest.mark.parametrize("window", [0, None])
def test_no_window_leaves_the_age_to_the_caller(window: int | None) -> None:
    old = sign_headers("sys", SECRET, {}, timestamp=format_sdk_timestamp(datetime(2001, 1, 1, tzinfo=UTC)))
    verified = verify_headers(old, _secret, window_seconds=window)
    assert verified.timestamp == datetime(2001, 1, 1, tzinfo=UTC)
