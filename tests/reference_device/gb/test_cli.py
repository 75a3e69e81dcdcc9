"""The --gb-* flags: defaults, accepted values, and bad values refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_device.__main__ import parse_args
from reference_device.gb.settings import Edition


def test_defaults(tmp_path: Path) -> None:
    args = parse_args(["--state", str(tmp_path)])
    assert (args.gb_edition, args.gb_keepalive_interval) == (Edition.GB2016, 60.0)
    assert (args.gb_keepalive_count, args.gb_channels) == (3, 16)


def test_values(tmp_path: Path) -> None:
    args = parse_args(
        [
            *("--state", str(tmp_path), "--gb-edition", "2022", "--gb-channels", "0"),
            *("--gb-keepalive-interval", "0.25", "--gb-keepalive-count", "5"),
        ]
    )
    assert (args.gb_edition, args.gb_keepalive_interval) == (Edition.GB2022, 0.25)
    assert (args.gb_keepalive_count, args.gb_channels) == (5, 0)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--gb-edition", "2011", "expected one of 2016, 2022"),
        ("--gb-keepalive-interval", "0", "positive number of seconds"),
        ("--gb-keepalive-interval", "inf", "positive number of seconds"),
        ("--gb-keepalive-interval", "soon", "positive number of seconds"),
        ("--gb-keepalive-count", "0", "positive integer"),
        ("--gb-channels", "-1", "expected 0 to 10000"),
        ("--gb-channels", "10001", "expected 0 to 10000"),
    ],
)
def test_bad_values_stop_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, says: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--state", str(tmp_path), flag, value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {flag}" in error and says in error
