"""bin/report --screenshots: which cases it shows, and the summary page it renders (the browser
run itself is checked by hand: the PNGs in docs/screenshots/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance.report import screenshots


def write(results: Path, name: str, status: str, epic: str, *attachments: dict[str, str]) -> None:
    labels = [
        {"name": "epic", "value": epic},
        {"name": "feature", "value": "flow"},
        {"name": "story", "value": "REQ-1"},
    ]
    document: dict[str, Any] = {
        "name": name,
        "status": status,
        "labels": labels,
        "attachments": list(attachments),
    }
    (results / f"{name}-result.json").write_text(json.dumps(document))


LADDER = {"name": "SIP ladder", "source": "l.svg", "type": "image/svg+xml"}
PCAP = {"name": "SIP and RTP capture (9 packets)", "source": "c.pcap"}
PLOT = {"name": "bitrate: 1280x720 (blue sent)", "source": "p.png", "type": "image/png"}


def test_picks_a_failed_call_with_ladder_and_pcap_and_a_passed_bitrate_plot(
    tmp_path: Path,
) -> None:
    write(tmp_path, "test_api", "failed", "api", LADDER, PCAP)  # not a call case
    write(tmp_path, "test_call_no_pcap", "failed", "calls", LADDER)
    write(tmp_path, "test_call", "failed", "calls", LADDER, PCAP)
    write(tmp_path, "test_rate_failed", "failed", "media", PLOT)
    write(tmp_path, "test_rate", "passed", "media", PLOT)
    picked = screenshots.pick(tmp_path)
    assert picked.failed_call == ("calls", "flow", "REQ-1", "test_call")
    assert picked.bitrate == ("media", "flow", "REQ-1", "test_rate")
    assert picked.bitrate_attachment == PLOT["name"]


def test_says_what_the_run_lacks(tmp_path: Path) -> None:
    write(tmp_path, "test_rate", "passed", "media", PLOT)
    with pytest.raises(screenshots.ScreenshotError, match="no failed calls case"):
        screenshots.pick(tmp_path)


def test_summary_tables_render_as_html() -> None:
    page = screenshots.render_summary("# S\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h1>S</h1>" in page and "<td>1</td>" in page and "<style>" in page
