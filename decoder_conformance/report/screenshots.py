"""Screenshots of the HTML report and of summary.md, made with headless Chromium.

`bin/report --screenshots` runs `python -m decoder_conformance.report.screenshots REPORTS OUT`:
it serves REPORTS/html on 127.0.0.1 (port 0), drives Debian's Chromium (/usr/bin/chromium)
through Playwright (the PyPI package; no browser download) and writes into OUT:

- report-overview.png: the report's overview (statistics, the metadata unfolded: device,
  executor and the reading followed on each ambiguous point, the tree by area);
- report-failed-call.png: one failed call case, its SIP ladder opened and its pcap listed;
- report-bitrate-plot.png: one media case with its bitrate plot opened;
- summary.png: summary.md rendered as HTML.

The cases are picked from REPORTS/allure-results (a failed `calls` case with a ladder and a
pcap; a case with a bitrate plot). Every request the page makes to a host other than 127.0.0.1
is refused: the report must not call out, and this machine has no network besides.
"""

from __future__ import annotations

import functools
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

CHROMIUM = "/usr/bin/chromium"
#: The flags this machine's Chromium needs headless, without a network (see the env notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Tall enough for a case's error, its ladder and its pcap row in one picture.
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1400, 1500
#: Playwright's own deadline for each wait (page load, an element to appear), milliseconds.
WAIT_MS = 30_000
LADDER = "SIP ladder"
PCAP = "SIP and RTP capture"
SUMMARY_CSS = """
body { font-family: sans-serif; margin: 24px; font-size: 14px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f0f0f0; }
"""


class ScreenshotError(RuntimeError):
    """The report lacks what a screenshot must show (no failed call case, no bitrate plot)."""


@dataclass(frozen=True)
class Picked:
    """The cases the screenshots show, by their names in the report."""

    failed_call: tuple[str, ...]
    bitrate: tuple[str, ...]
    bitrate_attachment: str


def _results(results: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(results.glob("*-result.json")):
        try:
            yield json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue


def _label(result: dict[str, Any], name: str) -> str:
    return next((lb["value"] for lb in result.get("labels", []) if lb.get("name") == name), "")


def pick(results: Path) -> Picked:
    """A failed calls case with a ladder and a pcap, and a case with a bitrate plot, each as
    its path in the report's tree (area, endpoint or flow, requirement, case)."""
    failed_call: tuple[str, ...] = ()
    bitrate: tuple[str, ...] = ()
    attachment = ""
    for result in _results(results):
        names = [a.get("name", "") for a in result.get("attachments", [])]
        pcap = any(a.get("source", "").endswith(".pcap") for a in result.get("attachments", []))
        if (
            not failed_call
            and result.get("status") == "failed"
            and _label(result, "epic") == "calls"
            and pcap
            and any(n.startswith(LADDER) for n in names)
        ):
            failed_call = _tree_path(result)
        plots = [
            a["name"]
            for a in result.get("attachments", [])
            if "bitrate" in a.get("name", "").lower() and a.get("type") == "image/png"
        ]
        if plots and (not bitrate or result.get("status") == "passed"):
            bitrate, attachment = _tree_path(result), plots[0]
    if not failed_call:
        raise ScreenshotError(f"{results}: no failed calls case with a SIP ladder and a pcap")
    if not bitrate:
        raise ScreenshotError(f"{results}: no case with a bitrate plot attached")
    return Picked(failed_call, bitrate, attachment)


def _tree_path(result: dict[str, Any]) -> tuple[str, ...]:
    """The result's path in the tree bin/report groups by (epic > feature > story > name)."""
    return (*(_label(result, k) for k in ("epic", "feature", "story")), result["name"])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1, an ephemeral port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _loopback_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


def _open_case(page: Page, base: str, path: tuple[str, ...]) -> None:
    """Show one case, its fixtures folded away so its error and attachments come first."""
    page.goto(f"{base}/index.html")
    page.wait_for_load_state("networkidle")
    case = page.get_by_text(path[-1], exact=True).first
    for level in path[:-1]:  # the tree opens only its failed branches: open the case's own
        if not case.is_visible():
            page.get_by_text(level, exact=True).first.click()
    case.click()
    page.get_by_text("Test body").first.wait_for()
    page.get_by_text("Set up", exact=True).first.click()
    page.get_by_text("Tear down", exact=True).first.click()


def _case_shot(page: Page, path: Path, anchor: str = "Overview") -> None:
    """The case from `anchor` down (the report scrolls inside its own pane)."""
    page.get_by_text(anchor, exact=True).first.scroll_into_view_if_needed()
    page.screenshot(path=path)


def _expand(page: Page, attachment: str) -> None:
    """Open one attachment of the case shown (its row in the test body)."""
    page.get_by_text(attachment).first.click()
    page.wait_for_load_state("networkidle")


def render_summary(markdown: str) -> str:
    """summary.md as a standalone HTML page."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    return f"<!doctype html><meta charset=utf-8><style>{SUMMARY_CSS}</style>{body}"


def take(reports: Path, out: Path) -> list[Path]:
    """Make the four screenshots of REPORTS into OUT; returns the files written."""
    from playwright.sync_api import sync_playwright

    html, summary = reports / "html", reports / "summary.md"
    for needed in (html / "index.html", summary):
        if not needed.is_file():
            raise ScreenshotError(f"{needed} missing: run bin/conformance (or bin/report) first")
    picked = pick(reports / "allure-results")
    out.mkdir(parents=True, exist_ok=True)
    (html / "summary-screenshot.html").write_text(
        render_summary(summary.read_text("utf-8")), "utf-8"
    )
    written = []
    with serve(html) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT}
            )  # a new, empty profile
            context.set_default_timeout(WAIT_MS)
            context.route("**/*", _loopback_only)
            page = context.new_page()

            page.goto(f"{base}/index.html")
            page.wait_for_load_state("networkidle")
            # Every metadata entry: the device, the executor and the readings it follows.
            more = page.get_by_text("Show more", exact=True).first
            if more.is_visible():  # only when there are more entries than fit
                more.click()
            written.append(out / "report-overview.png")
            page.screenshot(path=written[-1], full_page=True)

            _open_case(page, base, picked.failed_call)
            _expand(page, LADDER)
            _expand(page, PCAP)
            written.append(out / "report-failed-call.png")
            _case_shot(page, written[-1])

            _open_case(page, base, picked.bitrate)
            _expand(page, picked.bitrate_attachment)
            written.append(out / "report-bitrate-plot.png")
            _case_shot(page, written[-1], "Test body")

            page.goto(f"{base}/summary-screenshot.html")
            page.wait_for_load_state("networkidle")
            written.append(out / "summary.png")
            page.screenshot(path=written[-1])  # the top: verdicts, MUST failures, readings
        finally:
            browser.close()
            (html / "summary-screenshot.html").unlink(missing_ok=True)
    return written


def main(argv: list[str]) -> int:
    """`python -m decoder_conformance.report.screenshots REPORTS_DIR OUT_DIR`."""
    if len(argv) != 2:
        sys.stderr.write("usage: python -m decoder_conformance.report.screenshots REPORTS OUT\n")
        return 2
    from playwright.sync_api import Error as PlaywrightError

    try:
        written = take(Path(argv[0]), Path(argv[1]))
    except ScreenshotError as exc:
        sys.stderr.write(f"screenshots: {exc}\n")
        return 1
    except PlaywrightError as exc:  # the browser did not start, or the page lacked an element
        sys.stderr.write(f"screenshots: Chromium ({CHROMIUM}): {exc}\n")
        return 1
    sys.stdout.write("".join(f"screenshot: {path}\n" for path in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
