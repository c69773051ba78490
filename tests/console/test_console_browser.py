"""The console in a real browser: headless Debian Chromium driven by Playwright, against a real hub.

Screenshots of every page (1,366 px wide and phone width) are written to
var/test-artifacts/console/ (gitignored) for people to look at; the assertions are on the DOM.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from console_kit import ARTIFACTS, XSS_SUBJECT
from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = [pytest.mark.db, pytest.mark.slow]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser(console_hub) -> Iterator[Browser]:  # the hub first: pyHanko signs with asyncio.run
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, console_hub) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=console_hub.url)
    pg = context.new_page()
    yield pg
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: Page, key: str, start: str = "/console/") -> None:
    page.goto(start)
    assert "/console/login" in page.url
    page.fill("#key", key)
    page.click("#login")
    page.wait_for_load_state()


def test_unauthenticated_pages_redirect_to_login(page: Page) -> None:
    page.goto("/console/documents?number=7101")
    assert page.url.endswith("/console/login?next=%2Fconsole%2Fdocuments%3Fnumber%3D7101")
    shot(page, "login")


def test_find_a_document_open_its_journey_see_status_03_and_signatures(page: Page, console_hub) -> None:
    log_in(page, console_hub.key)
    assert page.locator("#operator").inner_text() == "operator:alice"
    shot(page, "overview")
    assert page.locator("#certs").is_visible() and "ubnd-thu-nghiem" in page.locator("#certs").inner_text()
    assert page.locator("#airflow-none").is_visible()
    page.click("text=Văn bản")
    page.fill("#f-number", console_hub.signed_code)
    page.click("#search-go")
    rows = page.locator("#results tbody tr")
    assert rows.count() == 1
    shot(page, "documents")
    page.click("#results a.doc-link")
    assert page.locator("#doc-code").inner_text() == console_hub.signed_code
    statuses = page.locator("#statuses").inner_text()
    assert "03" in statuses and "Đã tiếp nhận" in statuses and "000.00.00.G22" in statuses
    assert "S03_ACCEPTED" in page.locator("#deliveries").inner_text()
    signatures = page.locator("#signatures")
    assert signatures.locator(".verdict").count() == 2
    assert signatures.locator(".verdict").first.inner_text() == "hợp lệ"
    assert "UBND tỉnh Thử Nghiệm" in signatures.inner_text()
    assert page.locator("#audit tbody tr").count() >= 4 and "băm đúng" in page.locator("#audit").inner_text()
    with page.expect_download() as dl:
        page.click("#downloads a.dl-att >> nth=0")
    assert dl.value.suggested_filename == "7101-QD-UBND.pdf"
    shot(page, "journey")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "journey-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the phone layout scrolls sideways ({width}px)"


def test_retry_a_dead_letter_with_a_reason_and_see_it_in_the_audit(page: Page, console_hub) -> None:
    log_in(page, console_hub.key, "/console/failures")
    shot(page, "failures")
    row = page.locator("#dead tbody tr", has_text=console_hub.dead_code).first
    reason = "Trục quốc gia đã sửa định tuyến"
    row.locator("input[name=reason]").fill(reason)
    row.locator("button").click()
    page.wait_for_load_state()
    assert page.locator("#notice").is_visible()
    page.goto(f"/console/documents?number={console_hub.dead_code}&type=")
    page.click("#results a.doc-link")
    audit = page.locator("#audit").inner_text()
    assert reason in audit and "operator:alice" in audit and "requeue" in audit
    assert reason in page.locator("#state-changes").inner_text()
    shot(page, "journey-retried")


def test_translate_a_pasted_document_on_the_adapters_page(page: Page, console_hub) -> None:
    from pathlib import Path

    legacy = (Path(__file__).resolve().parents[2] / "adapters/qlvb_soap/fixtures/cong_van.in.xml").read_text("utf-8")
    log_in(page, console_hub.key, "/console/adapters")
    assert "qlvb_soap" in page.locator("#adapters").inner_text()
    page.select_option("#t-adapter", "qlvb_soap")
    page.fill("#t-document", legacy)
    page.click("#t-go")
    xml = page.locator("#edxml-1").inner_text()
    assert "edXMLEnvelope" in xml and "1234/UBND-VX" in xml
    shot(page, "adapters-translated")
    page.select_option("#t-adapter", "qlvb_soap")
    page.fill("#t-document", legacy.replace("<NgayBanHanh>2024-05-06</NgayBanHanh>", "<NgayBanHanh>06/05/20x4</NgayBanHanh>"))
    page.click("#t-go")
    errors = page.locator("#result-1 table.errors").inner_text()
    assert "NgayBanHanh" in errors and "\t5\t" in "\t" + errors.replace("\n", "\t") + "\t"
    shot(page, "adapters-errors")


def test_switch_language_and_systems_page(page: Page, console_hub) -> None:
    log_in(page, console_hub.key, "/console/systems")
    assert page.locator("html").get_attribute("lang") == "vi"
    assert "Hệ thống kết nối" in page.locator("h1").inner_text()
    page.click("#lang-en")
    assert page.url.endswith("/console/systems")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Systems"
    assert "sys-h41" in page.locator("#systems").inner_text()
    shot(page, "systems-en")
    page.click("#lang-vi")
    assert page.locator("h1").inner_text() == "Hệ thống kết nối"


def test_xss_subject_renders_as_text(page: Page, console_hub) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    log_in(page, console_hub.key, f"/console/documents?number={console_hub.xss_code}")
    assert page.locator("#results td.subject").inner_text() == XSS_SUBJECT
    page.click("#results a.doc-link")
    assert page.locator("#doc-subject").inner_text() == XSS_SUBJECT
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert alerts == []
    shot(page, "journey-xss")


def test_a_form_without_its_csrf_token_is_refused(page: Page, console_hub) -> None:
    log_in(page, console_hub.key, "/console/failures")
    form = page.locator("#dead form.retry").first
    form.locator("input[name=csrf]").evaluate("e => e.remove()")
    form.locator("input[name=reason]").fill("forged without a token")
    form.locator("button").click()
    page.wait_for_load_state()
    assert page.locator("#error").is_visible()
    shot(page, "csrf-refused")
