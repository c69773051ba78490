"""Plain-HTTP helpers for the console tests: log in through the real form, read CSRF tokens."""

from __future__ import annotations

import re

import httpx

HTML = {"Accept": "text/html,application/xhtml+xml"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=False, headers=HTML, timeout=30)
    page = client.get("/console/login")
    assert page.status_code == 200
    answer = client.post("/console/login", data={"csrf": csrf_of(page.text), "key": key, "next": "/console/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/", answer.text
    return client
