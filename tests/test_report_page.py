"""The HTML report as a page: plots beside their tables, sortable columns, nothing outside its
folder; and the published study report opened in headless Chromium."""

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.report import write_report
from bench.report.display import PLOT_PLACES

pytestmark = pytest.mark.xdist_group("test_report_page")

ROOT = Path(__file__).resolve().parents[1]
STUDY_REPORT = ROOT / "results" / "cpu-amd-epyc-avx2" / "study-lucic-narrow"
CONVERGED_REPORT = ROOT / "results" / "cpu-intel-xeon-processor-avx512" / "converged"


class PageParts(HTMLParser):
    """Headings, images, links and sortable tables of a page, in document order."""

    def __init__(self):
        super().__init__()
        self.order: list[tuple[str, str]] = []  # ("h2", title) / ("img", src) / ("table", classes)
        self.links: list[str] = []
        self.scripts = 0
        self.h2 = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self.h2 = ""
        elif tag == "img":
            self.order.append(("img", attrs["src"]))
            self.links.append(attrs["src"])
        elif tag == "table":
            self.order.append(("table", attrs.get("class", "")))
        elif tag in ("a", "link", "script") and (attrs.get("href") or attrs.get("src")):
            self.links.append(attrs.get("href") or attrs.get("src"))
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        if self.h2 is not None:
            self.h2 += data

    def handle_endtag(self, tag):
        if tag == "h2":
            self.order.append(("h2", self.h2))
            self.h2 = None


def parse(path: Path) -> PageParts:
    parts = PageParts()
    parts.feed(path.read_text())
    return parts


def heading_of_each_image(parts: PageParts) -> dict[str, str]:
    heading, placed = None, {}
    for kind, value in parts.order:
        if kind == "h2":
            heading = value
        elif kind == "img":
            placed[value] = heading
    return placed


@pytest.fixture(scope="module")
def study_page(tmp_path_factory) -> Path:
    """The published study's report written again into a fresh folder, HTML and Markdown."""
    out = tmp_path_factory.mktemp("study-report")
    write_report(STUDY_REPORT, formats="html,md", out_dir=out)
    return out


def test_each_plot_sits_right_after_the_table_it_illustrates(study_page):
    parts = parse(study_page / "report.html")
    placed = heading_of_each_image(parts)
    assert set(placed) == {p.name for p in study_page.glob("*.png")} and placed
    for image, heading in placed.items():
        assert any(heading == place or heading.endswith(f": {place}") for place in PLOT_PLACES[image]), (image, heading)
    # Beside it: between the table and the next heading, not in a gallery at the end.
    kinds = [kind for kind, _ in parts.order]
    for i, (kind, value) in enumerate(parts.order):
        if kind == "img":
            assert "table" in kinds[kinds.index("h2", max(j for j in range(i) if kinds[j] == "h2")):i]
    assert "Plots" not in [v for k, v in parts.order if k == "h2"]


def test_markdown_shows_each_plot_after_its_table_too(study_page):
    text = (study_page / "report.md").read_text()
    for image in (p.name for p in study_page.glob("*.png")):
        line = text.index(f"]({image})")
        heading = text.rindex("\n## ", 0, line)
        assert "|---|" in text[heading:line], image  # a table between the heading and the plot


def test_every_table_sorts_and_the_page_needs_nothing_outside_its_folder(study_page):
    page = study_page / "report.html"
    parts = parse(page)
    tables = [v for k, v in parts.order if k == "table"]
    assert tables and all("sortable" in v.split() for v in tables)
    assert parts.scripts == 1 and "aria-sort" in page.read_text()
    for link in parts.links:
        if link.startswith(("#", "data:")):
            continue
        assert not re.match(r"^[a-z]+:", link) and "/" not in link, link  # no server, no other folder
        assert (study_page / link).is_file(), link


def test_a_report_without_a_table_for_a_plot_shows_it_after_the_tables(tmp_path):
    """A plot whose table the report lacks (a study plot beside an ordinary set's tables) goes
    to the Plots section after the tables; the others still sit beside theirs."""
    from bench.report.writers import build_report
    report = build_report(CONVERGED_REPORT, out_dir=tmp_path)
    report.plots = [tmp_path / "study_expected_best.png", tmp_path / "systems.png"]
    sections, unplaced = report.sections()
    assert [p.name for p in unplaced] == ["study_expected_best.png"]
    assert [p.name for s in sections for p in s.plots] == ["systems.png"]
    assert next(s for s in sections if s.plots).title == "Systems"


# --- the published study report in a real browser -------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# `.ci/run` installs Debian's chromium and sets this, so that in CI a missing browser fails the
# test instead of skipping it.
REQUIRED = os.environ.get("GAN_BENCH_REQUIRE_BROWSER") == "1"
# Chromium as root, on a machine with no network: no sandbox, and none of its background calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]

BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(img => !img.complete || img.naturalWidth === 0).map(img => img.getAttribute("src"))"""
COLUMN = """([title, column]) => {
    const table = document.getElementById(title).nextElementSibling.nextElementSibling.querySelector("table");
    return Array.from(table.tBodies[0].rows).map(row => row.cells[column].textContent.trim());
}"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        message = "needs Debian's chromium (apt-get install chromium) to open the report in a browser"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright  # the dev extra's; it drives the system's chromium
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, path: Path):
    """The page at `path` once loaded, with the console's errors, the page's exceptions and
    failed requests collected in `page.problems`."""
    page = browser.new_page()
    page.problems = []
    page.on("console", lambda message: message.type == "error" and page.problems.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: page.problems.append(f"exception: {error}"))
    page.on("requestfailed", lambda request: page.problems.append(f"request failed: {request.url}"))
    page.goto(path.as_uri(), wait_until="load")
    return page


def leading_number(text: str) -> float:
    return float(re.match(r"[-+]?\d+\.?\d*", text.replace(",", "")).group())


@pytest.mark.slow  # starts a browser
def test_the_published_study_report_loads_every_image_and_sorts_in_chromium(browser):
    page = open_page(browser, STUDY_REPORT / "report.html")
    try:
        images = page.evaluate("() => document.images.length")
        assert images == len(list(STUDY_REPORT.glob("*.png"))) and images >= 4
        assert page.evaluate(BROKEN_IMAGES) == []

        # Every configuration's FID: click once, ascending; again, descending; empties last.
        title, column = "every-configuration", 4
        header = page.locator(f"#{title} ~ section.pair table").first.locator("th").nth(column)
        assert header.inner_text().strip() == "fid_mnist"
        before = page.evaluate(COLUMN, [title, column])
        header.click()
        ascending = page.evaluate(COLUMN, [title, column])
        numbers = [leading_number(v) for v in ascending if v]
        assert numbers == sorted(numbers) and ascending != before and sorted(ascending) == sorted(before)
        assert ascending[len(numbers):] == [""] * (len(ascending) - len(numbers))
        assert header.get_attribute("aria-sort") == "ascending"
        header.click()
        descending = [leading_number(v) for v in page.evaluate(COLUMN, [title, column]) if v]
        assert descending == sorted(numbers, reverse=True)
        assert header.get_attribute("aria-sort") == "descending"

        # A text column sorts too, and whole rows move: each variant keeps its own FID.
        pairs = set(zip(page.evaluate(COLUMN, [title, 0]), page.evaluate(COLUMN, [title, column])))
        page.locator(f"#{title} ~ section.pair table").first.locator("th").nth(0).click()
        variants = page.evaluate(COLUMN, [title, 0])
        assert variants == sorted(variants)
        assert set(zip(variants, page.evaluate(COLUMN, [title, column]))) == pairs
        assert page.problems == []
    finally:
        page.close()


@pytest.mark.slow  # starts a browser
def test_the_browser_check_catches_a_missing_image_and_a_script_error(browser, tmp_path):
    """The checks above would fail on a broken page: a plot gone from the folder, a script error."""
    copy = tmp_path / "report"
    shutil.copytree(STUDY_REPORT, copy, ignore=shutil.ignore_patterns("runs"))
    (copy / "systems.png").unlink()
    page_file = copy / "report.html"
    page_file.write_text(page_file.read_text().replace("</body>", "<script>undefinedFunction()</script></body>"))
    page = open_page(browser, page_file)
    try:
        assert page.evaluate(BROKEN_IMAGES) == ["systems.png"]
        assert any("undefinedFunction" in p for p in page.problems)
    finally:
        page.close()
