"""House rules that review would otherwise have to catch, checked on every run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

CODE_DIRS = ("suites", "decoder_conformance", "reference_device", "wire", "tests", "benchmarks")


def sources(*dirs: str) -> list[Path]:
    return [p for d in dirs for p in sorted((ROOT / d).rglob("*.py")) if ".venv" not in p.parts]


def hits(pattern: str, *dirs: str, allow: tuple[str, ...] = ()) -> list[str]:
    regex = re.compile(pattern)
    found = []
    for path in sources(*dirs):
        rel = path.relative_to(ROOT).as_posix()
        if rel in allow:
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if regex.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_skips_come_only_from_the_profile_gate() -> None:
    found = hits(r"pytest\.skip\(|mark\.skipif|importorskip", "suites")
    assert not found, "suites may only skip through @needs (the profile gate):\n" + "\n".join(found)


def test_suites_and_harness_never_import_the_reference_decoder() -> None:
    found = hits(r"^\s*(from|import)\s+reference_device", "suites", "decoder_conformance")
    assert not found, (
        "start it as a process through decoder_conformance/device/target.py instead:\n"
        + "\n".join(found)
    )


def test_no_private_range_addresses_in_code() -> None:
    pattern = r"\b(192\.168\.\d+\.\d+|10\.\d+\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+)\b"
    found = hits(pattern, *CODE_DIRS, allow=("tests/test_house_rules.py",))
    assert not found, "tests may only target 127.0.0.1 or a --device URL:\n" + "\n".join(found)


@pytest.mark.parametrize("folder", ["suites", "decoder_conformance", "tests"])
def test_no_sleeps_outside_the_deadline_poller(folder: str) -> None:
    # Media pacing (frame i leaves at start + i/fps) is a schedule, not a settle delay: allowed
    # where the line says so.
    found = [
        hit
        for hit in hits(
            r"\b(time|asyncio)\.sleep\(", folder, allow=("decoder_conformance/waiting.py",)
        )
        if "pacing" not in hit
    ]
    assert not found, (
        "wait on an event or poll with decoder_conformance.waiting instead:\n" + "\n".join(found)
    )
