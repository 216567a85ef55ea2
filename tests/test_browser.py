"""The report and its Data Docs in a real browser: the system's headless Chromium, driven by
Playwright, with the network off. Screenshots go to test-artifacts/screenshots/ (README,
"Tests")."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Route, sync_playwright

from pipeline.paths import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ON_CI = bool(os.environ.get("CI"))
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
WIDTHS = {"desktop": 1300, "phone": 400}
HEIGHT = 900
# Playwright adds --headless and a fresh --user-data-dir (the profile folder below)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists() and not ON_CI,
                       reason=f"no Chromium at {CHROMIUM} (apt-get install chromium); "
                              "on CI its absence fails"),
    # one worker runs the module, so one browser serves all its tests
    pytest.mark.xdist_group("browser"),
]


@dataclass
class Visit:
    """What a page did while it loaded: requests that left file://, and errors it logged."""
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"), executable_path=str(CHROMIUM),
            headless=True, args=FLAGS, viewport={"width": WIDTHS["desktop"], "height": HEIGHT})
        try:
            yield context
        finally:
            context.close()


def visit(context: BrowserContext, url: str, width: int) -> tuple[Page, Visit]:
    """A new page of `width` that has loaded `url`, every request but file:// aborted."""
    seen = Visit()

    def only_files(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            seen.requests.append(route.request.url)
            route.abort()

    page = context.new_page()
    page.set_viewport_size({"width": width, "height": HEIGHT})
    page.route("**/*", only_files)
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.goto(url, wait_until="load")
    return page, seen


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


# elements whose right edge passes the viewport's, outermost only: what makes a page scroll
WIDER_THAN_VIEWPORT = """() => [...document.body.querySelectorAll('*')]
  .filter(e => e.checkVisibility() && e.getBoundingClientRect().right > innerWidth + 0.5
               && !(e.parentElement.getBoundingClientRect().right > innerWidth + 0.5))
  .map(e => {
    const where = e.closest('details')?.querySelector('summary')?.textContent.trim().split(' ')[0]
                  || e.parentElement.closest('[id]')?.id || 'body';
    return `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} in ${where}: `
           + `right edge ${Math.round(e.getBoundingClientRect().right)} px`; })"""

CHART = """figure => {
  const box = figure.getBoundingClientRect();
  const drawing = figure.querySelector('svg, canvas');
  if (!drawing) return {figure: [box.width, box.height], drawing: null};
  const size = drawing.getBoundingClientRect();
  const blank = document.createElement('canvas');
  [blank.width, blank.height] = [drawing.width, drawing.height];
  const marks = drawing.tagName === 'svg'
    ? drawing.querySelectorAll('path, rect, line, text, circle, symbol, use').length
    : Number(drawing.toDataURL() !== blank.toDataURL());
  return {figure: [box.width, box.height], drawing: [size.width, size.height], marks};
}"""


@pytest.mark.parametrize("name", WIDTHS)
def test_report_renders_at_desktop_and_phone_widths(browser: BrowserContext, name: str,
                                                    sample_build: tuple[Path, Path]) -> None:
    reports = sample_build[1]
    charted = sorted(p.stem for p in (reports / "charts").glob("*.svg"))
    assert charted, "the build drew no chart"
    page, seen = visit(browser, (reports / "index.html").as_uri(), WIDTHS[name])
    try:
        screenshot(page, f"report-{name}")
        for chart in charted:
            figure = page.query_selector(f"figure#chart-{chart}")
            assert figure is not None, f"chart {chart} is not in the report"
            drawn = figure.evaluate(CHART)
            assert drawn["drawing"] is not None, f"chart {chart}: no SVG or canvas"
            assert min(drawn["figure"]) > 0 and min(drawn["drawing"]) > 0, (chart, drawn)
            assert drawn["marks"] > 0, f"chart {chart}: its drawing is empty"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= WIDTHS[name], (
            f"the report is {width} px wide in a {WIDTHS[name]} px window: "
            f"{page.evaluate(WIDER_THAN_VIEWPORT)}")
        assert seen.requests == [], "the report asked the network"
        assert seen.errors == [], "the report logged errors"
    finally:
        page.close()


def test_data_docs_render_styled_offline(browser: BrowserContext,
                                         sample_build: tuple[Path, Path]) -> None:
    site = sample_build[1] / "data-docs" / "items"
    result = next((site / "validations").rglob("*.html"))
    for name, path in (("data-docs-index", site / "index.html"),
                       ("data-docs-validation", result)):
        page, seen = visit(browser, path.as_uri(), WIDTHS["desktop"])
        try:
            screenshot(page, name)
            logo = page.query_selector(".navbar-brand img")
            assert logo is not None and logo.evaluate("i => i.complete && i.naturalWidth") > 0
            # the local stylesheet applies: Bootstrap's grid and a character for each status
            assert page.evaluate("getComputedStyle(document.querySelector('.row')).display") \
                == "flex"
            icons = page.query_selector_all(".fa-check-circle, .fa-times")
            glyphs = {i.evaluate("i => getComputedStyle(i, '::before').content") for i in icons}
            assert glyphs and not glyphs & {"none", "normal", '""'}, (name, glyphs)
            shown = [box for icon in icons if (box := icon.bounding_box()) is not None]
            assert shown and all(box["width"] > 0 for box in shown), name
            assert seen.requests == [], f"{name} asked the network"
            assert seen.errors == [], f"{name} logged errors"
        finally:
            page.close()
