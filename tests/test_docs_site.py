"""The built documentation site, read as a reader would: in headless Chromium.

Serves ``docs/_build/html`` on a loopback port and opens the landing page, a
user-guide page with maths, a gallery example and an API page; each must load
without a console error, a failed request or a broken image, show the theme's
navigation, and (where the page has them) rendered maths and gallery figures.
Screenshots go to ``docs/_build/screenshots/``. The link check, limited to
internal links (no network here), reads every built page without a browser.

Needs the built site (``sphinx-build -W -b html docs docs/_build/html``),
playwright (the ``docs`` extra) and a Chromium: Debian's ``chromium`` package
(``SKAE_CHROMIUM`` names another executable) or playwright's own browser.
Skipped, with the reason, when one of them is missing.
"""

import ast
import functools
import html.parser
import http.server
import importlib
import inspect
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
SHOTS = ROOT / "docs" / "_build" / "screenshots"

# page -> what it must show besides the theme's navigation
PAGES = {
    "index.html": (),
    "user_guide/vae.html": ("maths",),
    "auto_examples/plot_realnvp_moons.html": ("gallery figure",),
    "api/generated/skae.VAE.html": ("api signature",),
}
CHECKS = {
    "maths": "mjx-container",
    "gallery figure": "img.sphx-glr-single-img, img.sphx-glr-multi-img",
    "api signature": "dl.py.class dt.sig",
}


def _chromium() -> str | None:
    """A Chromium executable: SKAE_CHROMIUM, else Debian's, else None."""
    named = os.environ.get("SKAE_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.skip(
            f"no built site at {SITE}: run "
            "`python -m sphinx -W -b html docs docs/_build/html` first"
        )
    handler = functools.partial(
        _QuietHandler, directory=str(SITE)
    )  # serves only the built site
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (docs extra)"
    )
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                args=["--no-sandbox", "--disable-gpu"],
            )
        except Exception as error:  # no browser: say which and why
            pytest.skip(
                f"no headless Chromium ({executable or 'playwright bundled'}): "
                f"{str(error).splitlines()[0]}"
            )
        yield browser
        browser.close()


@pytest.mark.slow
@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_in_chromium(browser, site_url, page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on(
        "console",
        lambda m: (
            errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        ),
    )
    tab.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    tab.on(
        "requestfailed",
        lambda r: errors.append(f"request failed: {r.url} ({r.failure})"),
    )
    tab.on(
        "response",
        lambda r: (
            errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
        ),
    )
    url = urljoin(site_url, page)
    response = tab.goto(url, wait_until="networkidle")
    assert response is not None and response.ok, f"{url}: {response}"

    # The theme and its navigation.
    assert tab.locator("nav.bd-header, header.bd-header").count() == 1, "no navbar"
    assert tab.locator(".navbar-nav a").count() >= 5, "navigation links missing"
    for need in PAGES[page]:
        selector = CHECKS[need]
        if need == "maths":
            tab.wait_for_selector(selector, timeout=15_000)
        assert tab.locator(selector).count() > 0, f"{page}: no {need} ({selector})"

    # Every image loaded and has a size.
    broken = tab.evaluate(
        """() => Array.from(document.images)
                .filter(i => !i.complete || i.naturalWidth === 0)
                .map(i => i.src)"""
    )
    assert broken == [], f"{page}: images that did not load: {broken}"

    # Internal links from this page lead to existing files (the link check).
    hrefs = tab.evaluate(
        "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
    )
    base = urlparse(site_url)
    missing = []
    for href in set(hrefs):
        parsed = urlparse(href)
        if parsed.netloc != base.netloc:
            continue
        target = SITE / parsed.path.lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            missing.append(href)
    assert missing == [], f"{page}: internal links to missing files: {missing}"

    if "gallery figure" in PAGES[page]:  # the screenshot shows the figure
        tab.locator(CHECKS["gallery figure"]).first.scroll_into_view_if_needed()
    shot = SHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")
    tab.screenshot(path=str(shot), full_page=False)
    context.close()
    assert errors == [], f"{page}: {errors}"
    assert shot.stat().st_size > 10_000


def _skae_docs():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        return importlib.import_module("skae_docs")
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))


def test_api_reference_lists_every_public_name():
    """Every name of skae.__all__ and of the public submodules gets an API page."""
    import skae

    docs = _skae_docs()
    text = docs.api_index()
    entries = set(re.findall(r"^   (\w+)$", text, flags=re.MULTILINE))
    entries |= set(re.findall(r"^\.\. autodata:: [\w.]+\.(\w+)$", text, re.M))
    expected = {
        name
        for name in skae.__all__
        if not name.startswith("__") and not inspect.ismodule(getattr(skae, name))
    }
    for module in docs.public_modules(skae):
        expected |= set(docs.module_members(importlib.import_module(module)))
    assert {"skae.io", "skae.metrics", "skae.onnx", "skae.noise", "skae.losses"} <= set(
        docs.public_modules(skae)
    )
    assert "AutoencoderImputer" in entries and "tukey_lower_fence" in entries
    assert expected - entries == set()


@pytest.mark.parametrize("script", sorted((ROOT / "examples").glob("plot_*.py")))
def test_example_docstring_is_a_gallery_title(script):
    """sphinx-gallery needs a reST title: a line and a row of '=' under it."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    lines = doc.splitlines()
    assert len(lines) >= 2 and lines[0].strip(), f"{script.name}: no title line"
    assert re.fullmatch(r"=+", lines[1]) and len(lines[1]) >= len(lines[0]), (
        f"{script.name}: underline the docstring's first line with '=' "
        "(sphinx-gallery's title)"
    )


class _Anchors(html.parser.HTMLParser):
    """The ids and the link targets of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def test_internal_links_resolve():
    """The link check, limited to internal links: every relative link of every
    built page reaches a file, and its #fragment an id of that file."""
    if not (SITE / "index.html").exists():
        pytest.skip(f"no built site at {SITE}")
    pages = {}
    for path in SITE.rglob("*.html"):
        parser = _Anchors()
        parser.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = parser
    broken = []
    for path, parser in pages.items():
        for link in parser.links:
            parsed = urlparse(link)
            if parsed.scheme or parsed.netloc or link.startswith("javascript:"):
                continue  # external: not checked (no network here)
            target = (
                (path.parent / unquote(parsed.path)).resolve() if parsed.path else path
            )
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(SITE)}: {link}")
            elif parsed.fragment and target.suffix == ".html":
                if parsed.fragment not in pages[target].ids:
                    broken.append(f"{path.relative_to(SITE)}: {link} (no such anchor)")
    assert len(pages) > 40
    assert broken == [], "\n".join(broken[:20])
