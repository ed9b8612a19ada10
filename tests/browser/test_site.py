"""The public site and the editors' pages in a real browser (Debian's Chromium, driven by
Playwright), against a real server holding the founding case."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _need_browser() -> None:
    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (make test installs it with apt)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    _need_browser()
    folder = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": f"sqlite:///{folder}/ledger.db",
        "LEDGER_WATCH_EVERY": "3600",
    }
    demo = ROOT / "ledger" / "demo" / "louisville-2017.jsonl"
    subprocess.run(
        [str(BIN / "ledger"), "import", str(demo)], env=env, check=True, capture_output=True
    )
    key = subprocess.run(
        [str(BIN / "ledger"), "keys", "create", "--name", "browser", "--scope", "editor"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(BIN / "ledger"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield base, key
    finally:
        server.terminate()
        server.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()


PAGES = {
    "home": "/?at=2017-09-23",
    "board": "/commitments?at=2017-09-23",
    "commitment": "/commitments/warren-recommendations?at=2017-09-23",
    "actor": "/actors/bryan-warren?at=2017-09-23",
    "claim": "/claims/conrad-19-of-23",
    "follow-ups": "/follow-ups?at=2017-09-23",
    "topic": "/topics/lmpd-ice-cooperation",
    "search": "/search?q=sanctuary",
    "events": "/events",
    "integrity": "/integrity?leaf=3",
}

# Checks run in the page: what an accessibility audit would flag first.
AUDIT = (Path(__file__).parent / "audit.js").read_text()


def _rgb(css: str) -> tuple[int, int, int]:
    """An rgb()/rgba() colour; a transparent one is the page's white."""
    numbers = [float(x) for x in re.findall(r"[\d.]+", css)]
    if len(numbers) == 4 and numbers[3] == 0:
        return (255, 255, 255)
    r, g, b = (int(n) for n in numbers[:3])
    return (r, g, b)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_loads_passes_the_audit_and_is_photographed(
    site: tuple[str, str], browser: object, name: str
) -> None:
    base, _ = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    DOCS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
        errors: list[str] = []

        def console(message: object, errors: list[str] = errors) -> None:
            if message.type == "error":  # type: ignore[attr-defined]
                errors.append(message.text)  # type: ignore[attr-defined]

        page.on("console", console)
        response = page.goto(base + PAGES[name])
        assert response is not None and response.status == 200
        assert page.evaluate(AUDIT) == []
        assert errors == []
        # Body text against its background meets WCAG AA (4.5:1).
        colours = page.evaluate("""() => { const s = getComputedStyle(document.body);
            return [s.color, s.backgroundColor]; }""")
        ink, paper = (_rgb(c) for c in colours)
        light, dark = sorted((_luminance(ink), _luminance(paper)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5
        shot = ARTIFACTS / f"{name}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        if name in ("board", "commitment", "actor", "follow-ups"):
            shutil.copy(shot, DOCS / shot.name)
        page.close()


def test_the_board_filters_and_time_travels(site: tuple[str, str], browser: object) -> None:
    base, _ = site
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(base + "/commitments")
    page.select_option("select[name=kind]", "directive")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"kind=directive"))
    kinds = page.locator("table.board tbody tr td:nth-child(2)").all_inner_texts()
    assert kinds and set(kinds) == {"directive"}
    page.goto(base + "/commitments")
    page.fill("form.travel input[name=at]", "2017-09-23")
    page.click("form.travel button")
    page.wait_for_url(re.compile(r"at=2017-09-23"))
    assert "world as of 2017-09-23" in page.locator(".banner").inner_text()
    row = page.locator("tr", has_text="Bryan Warren promised recommendations")
    assert "1 day overdue" in row.inner_text()
    page.close()


def test_an_editor_records_a_follow_up_through_the_forms(
    site: tuple[str, str], browser: object
) -> None:
    base, key = site
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(base + "/editor/sign-in")
    page.fill("input[name=key]", "lk_wrong")
    page.click("form.editor button[type=submit]")
    assert "not an active editor key" in page.inner_text("main")
    page.fill("input[name=key]", key)
    page.click("form.editor button[type=submit]")
    page.wait_for_url(base + "/editor")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["ledger_session"]["httpOnly"] is True
    page.goto(base + "/editor/commitments/warren-recommendations/status")
    page.select_option("select[name=status]", "fulfilled")
    page.fill("input[name=occurred_at]", "2017-09-29")
    page.fill("textarea[name=sources]", "source/kycir-louisville-sanctuary-push-2017-09-15")
    page.click("form.editor button[type=submit]")  # no reason: refused, nothing written
    assert "Nothing was recorded" in page.inner_text("main")
    assert page.locator("#e-3").inner_text()  # the error sits beside the reason field
    page.fill("textarea[name=reason]", "Recommendations delivered to the mayor.")
    page.click("form.editor button[type=submit]")
    page.wait_for_url(re.compile(r"/commitments/"))
    assert "fulfilled" in page.inner_text("main")
    page.goto(base + "/commitments?at=2017-10-01")
    row = page.locator("tr", has_text="Bryan Warren promised recommendations")
    assert "kept late" in row.inner_text()
    # A form without the session's token is refused.
    forged = httpx.post(
        base + "/editor/commitments/warren-recommendations/status",
        data={
            "status": "broken",
            "occurred_at": "2017-10-02",
            "reason": "x",
            "sources": "source/kycir-lmpd-ice-2017",
            "csrf": "forged",
        },
        cookies={"ledger_session": cookies["ledger_session"]["value"]},
    )
    assert forged.status_code == 403
    page.close()
