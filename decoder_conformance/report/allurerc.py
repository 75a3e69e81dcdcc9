"""Report time: Allure 3's config for one run or for several devices' runs merged.

`bin/report` runs `python -m decoder_conformance.report.allurerc CONFIG OUTPUT RESULTS...`
before `allure generate`. For each allure-results folder it gives every result the `device`
label (the folder's `device.name`, see `allure.write_run_metadata`) and adds the readings of
the `summary.json` beside it: `reading.<point>` entries in environment.properties (the report's
overview) and the readings table as a global attachment. Then it writes `allurerc.mjs`: the
grouping for sign-off, the four categories (Allure 3 takes them from its config, not from
categories.json) and, with more than one device, one Allure environment per device. Allure
keeps one environment.properties, the last it reads: for a merged report a `fleet-metadata`
folder beside the config holds every device's entries, prefixed with its name, to be read last.

Standard library only, so `bin/report` runs it without the project's virtual environment.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from decoder_conformance.report.allure import (
    CATEGORIES,
    DEVICE_LABEL,
    read_properties,
    write_properties,
)

#: The folder, beside the config, of a merged report's combined environment.properties.
FLEET_METADATA = "fleet-metadata"
#: environment.properties keys for the readings the device follows (one per ambiguous point).
READING_PREFIX = "reading."


def reading_entries(summary: Mapping[str, Any]) -> dict[str, str]:
    """environment.properties entries for the readings in a summary.json document:
    `reading.<point>` = the reading(s) seen, "(pinned)" when the profile pins it."""
    found = {}
    for point, entry in sorted(summary.get("readings", {}).items()):
        seen = ", ".join(entry.get("seen") or []) or "not observed"
        pinned = entry.get("pinned")
        found[f"{READING_PREFIX}{point}"] = f"{seen} (pinned: {pinned})" if pinned else seen
    return found


def readings_markdown(summary: Mapping[str, Any]) -> str:
    """The readings of a summary.json document as a Markdown table (a global attachment)."""
    device = summary.get("device", {})
    lines = [
        f"# Readings {device.get('model', '?')} {device.get('firmware', '')} follows",
        "",
        "Where the vendor's page is ambiguous, the reading the device was seen to follow.",
        "",
        "| point | requirement | reading seen | pinned by the profile |",
        "|---|---|---|---|",
    ]
    for point, entry in sorted(summary.get("readings", {}).items()):
        seen = ", ".join(entry.get("seen") or []) or "not observed"
        lines.append(
            f"| {point} | {entry.get('requirement', '')} | {seen} | {entry.get('pinned') or '-'} |"
        )
    return "\n".join(lines) + "\n"


def add_readings(results: Path, summary_path: Path, device: str = "") -> bool:
    """Put the readings of `summary_path` into the results: `reading.*` entries in
    environment.properties (the report's overview) and the table as a global attachment named
    after `device` (default: the summary's model and firmware). Idempotent; False when there is
    no summary."""
    if not summary_path.is_file():
        return False
    summary = json.loads(summary_path.read_text("utf-8"))
    properties = results / "environment.properties"
    values = {
        k: v for k, v in read_properties(properties).items() if not k.startswith(READING_PREFIX)
    }
    write_properties(properties, values | reading_entries(summary))
    # Fixed names, so a second run of bin/report replaces them instead of adding more.
    source = "readings-attachment.md"
    (results / source).write_text(readings_markdown(summary), "utf-8")
    name = f"Readings the device follows ({device or device_of_summary(summary)})"
    globals_doc = {"attachments": [{"name": name, "source": source, "type": "text/markdown"}]}
    (results / "decoder-readings-globals.json").write_text(json.dumps(globals_doc), "utf-8")
    return True


def device_of_summary(summary: Mapping[str, Any]) -> str:
    """The device's name as a summary.json document gives it."""
    device = summary.get("device", {})
    return f"{device.get('model', '?')} {device.get('firmware', '')}".strip()


def label_device(results: Path) -> str:
    """Give every result in `results` that has no device label the folder's device: its
    environment.properties `device.name` (else model and firmware, else the folder's name).
    Returns that name. The label names the device in a report merged from several devices."""
    properties = read_properties(results / "environment.properties")
    model, firmware = properties.get("device.model", ""), properties.get("device.firmware", "")
    name = properties.get("device.name") or f"{model} {firmware}".strip() or results.name
    for path in sorted(results.glob("*-result.json")):
        try:
            document = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # a torn or foreign file: Allure itself reports it
        found = document.setdefault("labels", [])
        if not any(label.get("name") == DEVICE_LABEL for label in found):
            found.append({"name": DEVICE_LABEL, "value": name})
            path.write_text(json.dumps(document), "utf-8")
    return name


def devices(results_dirs: Sequence[Path]) -> list[str]:
    """The device labels found on the results, in first-seen order."""
    found: dict[str, None] = {}
    for results in results_dirs:
        for path in sorted(results.glob("*-result.json")):
            try:
                document = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                continue  # a torn or foreign file: Allure itself reports it
            for label in document.get("labels", []):
                if label.get("name") == DEVICE_LABEL and label.get("value"):
                    found.setdefault(str(label["value"]), None)
    return list(found)


def environment_id(name: str, taken: set[str]) -> str:
    """An Allure 3 environment id for a device name: latin letters, digits, _ and - only."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "device"
    found, n = base, 2
    while found in taken:
        found, n = f"{base}-{n}", n + 1
    taken.add(found)
    return found


def allurerc(output: str, device_names: Sequence[str], name: str) -> str:
    """Allure 3's config (allurerc.mjs): the report's grouping, the four categories and, when
    the results come from more than one device, one environment per device."""
    rules = [
        {
            "name": c["name"],
            "matchedStatuses": c["matchedStatuses"],
            **({"messageRegex": c["messageRegex"]} if "messageRegex" in c else {}),
        }
        for c in CATEGORIES
    ]
    lines = [
        "// Written by bin/report (decoder_conformance/report/allure.py): do not edit.",
        "export default {",
        f"  name: {json.dumps(name)},",
        f"  output: {json.dumps(output)},",
        f"  categories: {{ rules: {json.dumps(rules, indent=2)} }},",
    ]
    if len(device_names) > 1:
        taken: set[str] = set()
        lines.append("  environments: {")
        for device in device_names:
            key = environment_id(device, taken)
            value = json.dumps(device)
            lines += [
                f"    {json.dumps(key)}: {{",
                f"      name: {value},",
                f"      matcher: ({{ labels }}) => labels.some((l) => l.name === "
                f"{json.dumps(DEVICE_LABEL)} && l.value === {value}),",
                "    },",
            ]
        lines.append("  },")
    lines += [
        "  plugins: {",
        "    awesome: {",
        "      options: {",
        f"        reportName: {json.dumps(name)},",
        '        reportLanguage: "en",',
        '        groupBy: ["epic", "feature", "story"],',
        "      },",
        "    },",
        "  },",
        "};",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m decoder_conformance.report.allurerc CONFIG OUTPUT RESULTS...`: add each results
    folder's readings (from summary.json beside it) and write Allure 3's config to CONFIG."""
    parser = argparse.ArgumentParser(prog="python -m decoder_conformance.report.allurerc")
    parser.add_argument("config", type=Path, help="allurerc.mjs to write")
    parser.add_argument("output", help="the report's folder, relative to the config's folder")
    parser.add_argument("results", type=Path, nargs="+", help="allure-results folders")
    parser.add_argument("--name", default="Decoder SIP-module conformance")
    args = parser.parse_args(argv)
    merged: dict[str, str] = {}
    for results in args.results:
        if not results.is_dir():
            parser.error(f"no such allure-results folder: {results}")
        device = label_device(results)
        add_readings(results, results.parent / "summary.json", device)
        properties = read_properties(results / "environment.properties")
        merged |= {f"{device} | {key}": value for key, value in properties.items()}
    names = devices(args.results)
    args.config.write_text(allurerc(args.output, names, args.name), "utf-8")
    # Allure keeps one environment.properties (the last read): a merged report gets one more
    # folder, read last, whose entries are every device's, prefixed with its name.
    fleet = args.config.parent / FLEET_METADATA
    if len(args.results) > 1:
        fleet.mkdir(exist_ok=True)
        write_properties(fleet / "environment.properties", merged)
    if len(names) > 1:
        sys.stderr.write(f"report environments (one per device): {', '.join(names)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
