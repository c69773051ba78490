"""The console's security properties over plain HTTP (httpx) against a real hub on 127.0.0.1."""

from __future__ import annotations

import re
import time
from html import unescape

import httpx
import pytest
from console_kit import XSS_SUBJECT
from helpers import HTML, csrf_of, login

from gateway.ledger import verify_chain
from gateway.ledger.models import AuditEntry
from gateway.ledger.operators import add_key, revoke_key
from gateway.server.console.auth import SessionSigner
from gateway.server.console.downloads import content_disposition, safe_filename
from gateway.server.console.web import safe_next

pytestmark = pytest.mark.db

PAGES = ["/console/", "/console/documents", "/console/documents?number=7101", "/console/failures",
         "/console/adapters", "/console/systems"]


def _dead_doc_id(hub) -> str:
    from gateway.ledger.queries import list_messages

    return next(m["docId"] for m in list_messages(hub.ledger, state="DEAD"))


def test_nothing_is_reachable_without_login(console_hub) -> None:
    with httpx.Client(base_url=console_hub.url, follow_redirects=False, timeout=30) as c:
        for path in [*PAGES, f"/console/documents/{console_hub.signed_doc_id}"]:
            page = c.get(path, headers=HTML)
            assert page.status_code == 303, path
            assert page.headers["location"].startswith("/console/login?next=%2Fconsole"), page.headers["location"]
            api = c.get(path, headers={"Accept": "application/json"})
            assert api.status_code == 401, path
        for path in [f"/console/documents/{console_hub.signed_doc_id}/edxml",
                     f"/console/documents/{console_hub.signed_doc_id}/attachments/0"]:
            assert c.get(path).status_code == 401
        assert c.post(f"/console/documents/{_dead_doc_id(console_hub.hub)}/retry",
                      data={"reason": "no session"}).status_code == 401
        assert c.get("/console/login").status_code == 200
        assert c.get("/healthz").status_code == 200
    with httpx.Client(base_url=console_hub.url, follow_redirects=False, cookies={"lt_session": "e30.AAAA"}) as c:
        assert c.get("/console/", headers=HTML).status_code == 303


def test_session_cookie_flags_headers_and_audit(console_hub) -> None:
    c = login(console_hub.url, console_hub.key)
    page = c.get("/console/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in page.text.lower()
    # the Set-Cookie of a fresh login
    fresh = httpx.Client(base_url=console_hub.url, follow_redirects=False, headers=HTML)
    form = fresh.get("/console/login")
    answer = fresh.post("/console/login", data={"csrf": csrf_of(form.text), "key": console_hub.key})
    set_cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("lt_session="))
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Path=/console" in set_cookie
    assert "Secure" not in set_cookie  # plain http on 127.0.0.1; https or console.cookie_secure adds it
    assert console_hub.key not in set_cookie
    with console_hub.hub.ledger.reader() as s:
        logins = s.query(AuditEntry).filter(AuditEntry.event == "console.login").all()
        assert logins and all(e.actor == "operator:alice" for e in logins)
        assert verify_chain(s).ok


def test_wrong_key_and_missing_login_csrf_are_refused(console_hub) -> None:
    c = httpx.Client(base_url=console_hub.url, follow_redirects=False, headers=HTML)
    form = c.get("/console/login")
    bad = c.post("/console/login", data={"csrf": csrf_of(form.text), "key": "lto_not-a-key-at-all"})
    assert bad.status_code == 401 and "lt_session" not in bad.headers.get("set-cookie", "")
    no_csrf = c.post("/console/login", data={"key": console_hub.key})
    assert no_csrf.status_code == 403
    other = httpx.Client(base_url=console_hub.url, follow_redirects=False, headers=HTML)
    stolen_token = csrf_of(c.get("/console/login").text)
    assert other.post("/console/login", data={"csrf": stolen_token, "key": console_hub.key}).status_code == 403


def test_forms_without_their_csrf_token_are_refused(console_hub) -> None:
    c = login(console_hub.url, console_hub.key)
    dead = _dead_doc_id(console_hub.hub)
    for data in ({"reason": "no token at all"}, {"reason": "wrong token", "csrf": "x" * 32}):
        refused = c.post(f"/console/documents/{dead}/retry", data=data)
        assert refused.status_code == 403
    assert c.post("/console/logout", data={}).status_code == 403
    assert c.post("/console/adapters/translate", data={"adapter": "qlvb_soap", "document": "<a/>"}).status_code == 403
    with console_hub.hub.ledger.reader() as s:
        from gateway.ledger.models import Message

        assert s.query(Message).filter(Message.doc_id == dead).one().state == "DEAD"


def test_retry_needs_a_reason_and_is_audited_with_the_operator(console_hub) -> None:
    c = login(console_hub.url, console_hub.key)
    dead = _dead_doc_id(console_hub.hub)
    journey = c.get(f"/console/documents/{dead}")
    token = csrf_of(journey.text)
    empty = c.post(f"/console/documents/{dead}/retry", data={"csrf": token, "reason": "  "})
    assert empty.status_code == 303 and "error=reason_required" in empty.headers["location"]
    reason = "upstream fixed its <b>routing</b>"
    done = c.post(f"/console/documents/{dead}/retry", data={"csrf": token, "reason": reason})
    assert done.status_code == 303 and done.headers["location"].endswith("notice=retried")
    with console_hub.hub.ledger.reader() as s:
        entries = s.query(AuditEntry).filter(AuditEntry.event == "message.state").all()
        requeue = [e for e in entries if '"operator_action":"requeue"' in e.detail]
        assert requeue and requeue[-1].actor == "operator:alice" and "routing" in requeue[-1].detail
    page = c.get(f"/console/documents/{dead}").text
    assert "upstream fixed its &lt;b&gt;routing&lt;/b&gt;" in page and "<b>routing" not in page


def test_xss_subject_is_escaped_everywhere(console_hub) -> None:
    c = login(console_hub.url, console_hub.key)
    listing = c.get("/console/documents", params={"number": console_hub.xss_code})
    assert listing.status_code == 200
    assert "<script>alert" not in listing.text and "<img src=x" not in listing.text
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in listing.text
    link = re.search(r'href="(/console/documents/[^"]+)" class="doc-link"', listing.text).group(1)
    journey = c.get(link)
    assert "<script>alert" not in journey.text and "onerror=alert(1)>" not in journey.text.replace("&gt;", "")
    subject = re.search(r'id="doc-subject">([^<]*)<', journey.text).group(1)
    assert unescape(subject) == XSS_SUBJECT


def test_search_filters_and_journey_downloads(console_hub) -> None:
    c = login(console_hub.url, console_hub.key)
    by_number = c.get("/console/documents", params={"number": console_hub.signed_code}).text
    assert by_number.count('class="doc-link"') == 1 and console_hub.signed_code in by_number
    by_prefix = c.get("/console/documents", params={"number": console_hub.signed_code.split("/")[0]}).text
    assert by_prefix.count('class="doc-link"') == 1
    by_subject = c.get("/console/documents", params={"subject": "LIÊN THÔNG văn bản"}).text
    assert by_subject.count('class="doc-link"') >= 2
    none = c.get("/console/documents", params={"subject": "100%_"}).text
    assert 'id="no-results"' in none
    limited = c.get("/console/documents", params={"limit": 1, "type": ""}).text
    assert limited.count('class="doc-link"') == 1 and 'id="next-page"' in limited
    nxt = re.search(r'href="([^"]+)" id="next-page"', limited).group(1)
    second = c.get(unescape(nxt)).text
    assert second.count('class="doc-link"') == 1
    journey = c.get(f"/console/documents/{console_hub.signed_doc_id}").text
    assert 'class="status-code">03<' in journey
    assert journey.count("verdict") == 2 and "UBND tỉnh Thử Nghiệm" in journey
    pkg = c.get(f"/console/documents/{console_hub.signed_doc_id}/edxml")
    assert pkg.status_code == 200 and pkg.content.startswith(b"<?xml")
    assert pkg.headers["content-disposition"].startswith("attachment; filename=")
    pdf = c.get(f"/console/documents/{console_hub.signed_doc_id}/attachments/0")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''7101-QD-UBND.pdf" in pdf.headers["content-disposition"]
    assert c.get(f"/console/documents/{console_hub.signed_doc_id}/attachments/9").status_code == 404


def test_revoking_the_key_ends_its_sessions(console_hub) -> None:
    key = add_key(console_hub.hub.ledger, "bob")
    c = login(console_hub.url, key)
    assert c.get("/console/systems").status_code == 200
    revoke_key(console_hub.hub.ledger, "bob")
    deadline = time.monotonic() + 15
    while c.get("/console/systems").status_code == 200:
        assert time.monotonic() < deadline, "a revoked key still has a session"
        time.sleep(0.5)
    assert c.get("/console/systems").status_code == 303


def test_session_tokens_are_signed_and_expire() -> None:
    signer = SessionSigner(b"k" * 32, lifetime_seconds=60)
    token, session = signer.issue("operator:alice", "f" * 32)
    assert signer.check(token) == session
    body, mac = token.split(".")
    assert signer.check(body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")) is None
    assert SessionSigner(b"x" * 32, lifetime_seconds=60).check(token) is None
    expired, _ = SessionSigner(b"k" * 32, lifetime_seconds=-1).issue("operator:alice", "f" * 32)
    assert signer.check(expired) is None
    assert signer.check("garbage") is None and signer.check(None) is None


def test_file_names_and_redirect_targets_are_sanitised() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename('a"b\r\nContent-Type: x.pdf') == "a_bContent-Type_ x.pdf"
    assert safe_filename("...") == "download"
    header = content_disposition("Quyết định số 1.pdf")
    assert header == "attachment; filename=\"Quyet dinh so 1.pdf\"; filename*=UTF-8''Quy%E1%BA%BFt%20%C4%91%E1%BB%8Bnh%20s%E1%BB%91%201.pdf"
    assert "\n" not in content_disposition("x\n\ry.pdf")
    for target in ["//evil.example/", "https://evil.example/", "/console\\..\\x", "/other", None, "/console/\r\nX: y"]:
        assert safe_next(target) == "/console/"
    assert safe_next("/console/documents?number=1") == "/console/documents?number=1"


def test_open_redirect_after_login_is_refused(console_hub) -> None:
    c = httpx.Client(base_url=console_hub.url, follow_redirects=False, headers=HTML)
    form = c.get("/console/login", params={"next": "//evil.example/"})
    answer = c.post("/console/login", data={"csrf": csrf_of(form.text), "key": console_hub.key,
                                            "next": "//evil.example/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"


def test_date_range_pages_follow_time_order(console_hub) -> None:
    from datetime import date

    c = login(console_hub.url, console_hub.key)
    today = date.today().isoformat()
    params = {"since": "2020-01-01", "until": "2100-01-01", "type": "", "limit": 2}
    seen: list[str] = []
    page = c.get("/console/documents", params=params).text
    while True:
        seen += re.findall(r'href="/console/documents/([^"]+)" class="doc-link"', page)
        nxt = re.search(r'href="([^"]+)" id="next-page"', page)
        if not nxt:
            break
        page = c.get(unescape(nxt.group(1))).text
    everything = re.findall(r'href="/console/documents/([^"]+)" class="doc-link"',
                            c.get("/console/documents", params={"type": "", "limit": 200}).text)
    assert len(seen) == len(set(seen)) == len(everything) >= 4 and set(seen) == set(everything)
    assert today and 'id="no-results"' in c.get("/console/documents", params={"until": "2001-01-01"}).text


def test_overview_shows_requests_the_hub_refused_by_system_and_reason(console_hub) -> None:
    from hubkit import sdk_call

    # a request signed with the wrong secret: the hub refuses it and counts it for that system
    refused = sdk_call(console_hub.url, "getReceivedEdocList", "sys-h41", "not-the-secret",
                       {"servicetype": "eDoc", "messagetype": "edoc"}, body=b"")
    assert refused.json()["status"] == "FAIL"
    c = login(console_hub.url, console_hub.key)
    try:
        page = c.get("/console/").text  # Vietnamese, the default
    finally:
        c.close()
    section = page[page.index("Yêu cầu hub từ chối"):]
    section = section[: section.index("</section>")]
    assert "sys-h41" in section and re.search(r'class="n">\d+<', section), section


def test_journey_lists_the_ledgers_business_operations(console_hub) -> None:
    from pathlib import Path

    from hubkit import sdk_send

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "edxml"
    answers = [sdk_send(console_hub.url, "sys-h41", "secret-h41", (fixtures / f"{n}.edxml").read_bytes()).json()
               for n in ("valid_edoc_new", "valid_edoc_revoke")]  # fmt: skip
    assert [a["status"] for a in answers] == ["OK", "OK"], answers
    c = login(console_hub.url, console_hub.key)
    try:
        page = unescape(c.get(f"/console/documents/{answers[1]['DocId']}").text)
    finally:
        c.close()
    # the row only the ledger's business_operations table gives: operation, sender and its recipients
    assert re.search(r"revoke.*?000\.00\.00\.H41.*?recipients [0-9A-Z.]+", page, re.S), page[:4000]
