"""No password in clear in what a run leaves behind: Allure results and attachments, the
conformance summary, the terminal output and the reference decoder's log.

One pytest run against the bundled decoder with login enforced under a canary password, over the
cases that send passwords: login (right, wrong and expired tokens), modify.json's password field,
and svcrack (a random account password, masked by suites/security/conftest.py). Every file is
searched for the canary, for the account password values the cases write, and for any
`"password": "<value>"` or `password=<value>` that is not the redacted `***`.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT, run_pytest

CANARY = "Pw-canary-7f3qZ"
#: Account passwords the selected cases write (suites/api/test_modify.py FIELD_VALUES).
WRITTEN = ("secret-one",)
CASES = (
    "suites/api/test_login.py",
    "suites/api/test_modify.py::test_modify_field_reads_back",
    "suites/security/test_svcrack.py",
)
#: A password value in JSON or in a query / form string that is not the redacted *** (%2A%2A%2A).
CLEAR = re.compile(
    r"""["']password["']\s*:\s*["'](?!\*\*\*["'])[^"']+["']"""
    r"""|\bpassword=(?!\*\*\*|%2A%2A%2A)[^&\s'"]+""",
    re.IGNORECASE,
)


def cleartext(text: str, secrets: tuple[str, ...]) -> list[str]:
    """What in `text` shows a password in clear: a known secret, or an unredacted value."""
    found = [s for s in secrets if s in text]
    return found + [m.group(0) for m in CLEAR.finditer(text)]


def test_the_search_finds_a_planted_leak() -> None:
    planted = '{"password": "hunter2"} curl x?user=a&password=hunter2 Pw-canary-7f3qZ'
    assert cleartext(planted, (CANARY,)) == [
        CANARY,
        '"password": "hunter2"',
        "password=hunter2",
    ]
    redacted = '{"password": "***"} curl x?password=%2A%2A%2A --data-urlencode password=***'
    assert cleartext(redacted, (CANARY,)) == []


def test_a_run_with_passwords_leaves_none_in_clear(tmp_path: Path) -> None:
    profile = tmp_path / "login.toml"
    text = (ROOT / "profiles" / "reference-login.toml").read_text("utf-8")
    assert 'password = "conformance"' in text
    profile.write_text(text.replace('password = "conformance"', f'password = "{CANARY}"'))
    alluredir, summary, basetemp = tmp_path / "allure", tmp_path / "summary.json", tmp_path / "b"
    run = run_pytest(
        *CASES,
        "--profile",
        str(profile),
        "--alluredir",
        str(alluredir),
        "--conformance-summary",
        str(summary),
        "--basetemp",
        str(basetemp),
        "-q",
    )
    assert run.returncode == 0, run.output[-3000:]
    # The run used the canary (login cases passed with it) and attached redacted exchanges.
    last = run.output.strip().splitlines()[-1]
    assert "passed" in last and "skipped" not in last, run.output[-500:]
    reports = [p for p in alluredir.rglob("*") if p.is_file()] + [summary]
    logs = [p for p in basetemp.rglob("*.log") if p.is_file()]
    attached = "".join(p.read_text("utf-8", "replace") for p in reports)
    assert "password=%2A%2A%2A" in attached, "no redacted password parameter was attached"
    leaks = {"terminal output": cleartext(run.output, (CANARY, *WRITTEN))}
    for path in reports + logs:
        leaks[str(path.relative_to(tmp_path))] = cleartext(
            path.read_text("utf-8", "replace"), (CANARY, *WRITTEN)
        )
    shown = {where: found for where, found in leaks.items() if found}
    assert not shown, f"passwords in clear: {shown}"
