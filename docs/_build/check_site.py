"""Open every page of the built site in headless Chromium and say what is wrong with it.

`make docs-check` runs this after `make docs`. For each page of site/ (served over HTTP on an ephemeral
port, as a reader would get it) it checks that:

- the page logged no error to the browser console (a missing script, a failed request);
- every Mermaid diagram rendered to an SVG, and none shows Mermaid's syntax-error box;
- every image loaded.

It prints one line a page and exits 1 if any page failed. `--shots DIR` also saves a screenshot of the
pages named by `--shot` (default: the home page, a concept page with its diagram, an API page), and
`--diagram FILE` the home page's first diagram alone (the README's picture, `docs/assets/question-path.png`).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.by import By

DEFAULT_SHOTS = ("index.html", "concepts/question-path/index.html", "reference/api/index.html")
_RENDER_WAIT_S = 10.0


@contextmanager
def serving(root: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # one line a page is enough
        pass


@contextmanager
def browser() -> Iterator[Any]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        sys.exit("docs-check needs the Debian packages chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def problems_of(driver: Any, url: str) -> list[str]:
    """What is wrong with the page at ``url``, once its diagrams had time to render."""
    driver.get(url)
    found: list[str] = []
    deadline = time.monotonic() + _RENDER_WAIT_S
    diagrams = rendered = 0
    while True:
        # The theme swaps each <pre class="mermaid"> for a <div class="mermaid"> holding the drawing in a
        # closed shadow root once Mermaid has rendered it; a diagram Mermaid cannot parse stays a <pre>.
        diagrams, rendered = driver.execute_script(
            "const d = [...document.querySelectorAll('.mermaid')];"
            "return [d.length, d.filter(e => e.tagName === 'DIV' && e.getBoundingClientRect().height > 0).length];"
        )
        if rendered == diagrams or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if rendered < diagrams:
        found.append(f"{diagrams - rendered} of {diagrams} Mermaid diagrams did not render")
    broken = driver.execute_script(
        "return [...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.src);"
    )
    found.extend(f"image did not load: {src}" for src in broken)
    found.extend(
        f"console: {entry['message'][:200]}"
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
    )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=Path("site"))
    parser.add_argument("--shots", type=Path, help="save screenshots of the --shot pages here")
    parser.add_argument("--shot", action="append", help="a page to screenshot, relative to the site")
    parser.add_argument("--diagram", type=Path, help="save the home page's first diagram here (PNG)")
    args = parser.parse_args(argv)
    pages = sorted(p.relative_to(args.site).as_posix() for p in args.site.rglob("*.html"))
    pages = [p for p in pages if p != "404.html"]
    if not pages:
        sys.exit(f"no pages under {args.site}: run `make docs` first")
    shots = set(args.shot or DEFAULT_SHOTS)
    failed = 0
    with serving(args.site) as base, browser() as driver:
        for page in pages:
            problems = problems_of(driver, base + page)
            failed += bool(problems)
            print(f"{'FAIL' if problems else 'ok  '} {page}", *(f"\n     {p}" for p in problems), sep="")
            if args.diagram and page == "index.html":
                driver.find_element(By.CSS_SELECTOR, "div.mermaid").screenshot(str(args.diagram))
            if args.shots and page in shots:
                args.shots.mkdir(parents=True, exist_ok=True)
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(1280, min(int(height), 4000))
                name = page.removesuffix("index.html").strip("/").replace("/", "-") or "home"
                driver.save_screenshot(str(args.shots / f"{name}.png"))
                driver.set_window_size(1280, 1600)
    print(f"{len(pages)} pages opened in headless Chromium, {failed} with problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
