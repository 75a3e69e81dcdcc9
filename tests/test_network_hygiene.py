"""House rule: the suite writes no value that makes a device resolve a name or reach another host.

Every string literal in suites/ and decoder_conformance/ (docstrings and comments aside: they
quote the page and RFCs) is scanned for what a device could be pointed at:

* an IPv4 address outside 127.0.0.0/8 and other than 0.0.0.0 (another host), or a dotted quad
  that is no address at all (a resolver takes "256.0.0.1" for a name);
* a host name: `localhost`, a name under a special-use or common top-level domain
  (example.com, registrar.invalid, cam.local, ...), or the host of a sip:/http: URL that is not
  an IP literal or a placeholder.

Values the suite has a reason to carry (never written to a device as a destination, or a
negative case the device must refuse) are in ALLOWED with that reason; a line can also carry a
`# network-hygiene: <reason>` comment. An ALLOWED entry nothing matches any more fails too, so
the list cannot go stale.
"""

from __future__ import annotations

import ast
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("suites", "decoder_conformance")
MARKER = "# network-hygiene:"

DOTTED_QUAD = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
#: Top-level domains a test value plausibly uses: RFC 2606/6761 special-use names and the
#: common real ones. Dotted Python names ("plugin.session", "status.json") end in none of these.
TLDS = (
    "arpa|biz|cn|com|de|edu|example|gov|home|info|internal|invalid|io|jp|lan|local|localdomain"
    "|localhost|net|onion|org|test|uk"
)
HOST_NAME = re.compile(
    rf"(?<![\w.-])(localhost|(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+(?:{TLDS}))(?![\w-])",
    re.IGNORECASE,
)
#: The host of sip:, sips:, http(s): URLs ("sip:user@HOST", "http://HOST").
URL_HOST = re.compile(r"(?:\bsips?:[^@\s\"'<>]*@|\bhttps?://)([A-Za-z][A-Za-z0-9.-]*)")

#: (path, offending text) -> why it is fine.
ALLOWED: dict[tuple[str, str], str] = {
    ("decoder_conformance/plugin/options.py", "255.255.255.255"): (
        "--suite-host refuses the broadcast address: compared, never sent"
    ),
    ("decoder_conformance/peers/registrar.py", "conformance.test"): (
        "the suite registrar's digest realm: a protection-space name in its challenge, never "
        "a host the device is given"
    ),
    ("decoder_conformance/report/ladder.py", "www.w3.org"): (
        "the SVG XML namespace of a report chart: written to a file, never to a device"
    ),
    ("suites/api/test_binds.py", "256.1.1.1"): (
        "malformed set_binds value the device must refuse (SIP-API-SBIND-003); a bind, "
        "not a destination"
    ),
    ("suites/api/test_binds.py", "224.0.0.1"): (
        "multicast host written as a set_binds value the device should refuse "
        "(SIP-API-SBIND-005); a bind on the device, never a destination: nothing is sent to it"
    ),
    ("suites/api/test_binds.py", "239.255.255.250"): (
        "multicast host written as a set_binds value the device should refuse "
        "(SIP-API-SBIND-005); a bind on the device, never a destination: nothing is sent to it"
    ),
    ("suites/api/test_binds.py", "255.255.255.255"): (
        "broadcast host written as a set_binds value the device should refuse "
        "(SIP-API-SBIND-005); a bind on the device, never a destination: nothing is sent to it"
    ),
}


@dataclass(frozen=True)
class Finding:
    """One suspicious value: where, and the text that looks like a host."""

    path: str
    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text!r} ({self.why})"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that stand alone as statements: docstrings (module, class,
    function, attribute), which quote the page and RFCs rather than hold values."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def problems(text: str) -> Iterator[tuple[str, str]]:
    """(offending text, why) for each host-like value in one string."""
    for match in DOTTED_QUAD.finditer(text):
        quad = match.group(1)
        if text[: match.start()].rstrip().endswith("§"):
            continue  # a clause number: RFC 3261 §17.1.1.3
        try:
            address = ipaddress.IPv4Address(quad)
        except ValueError:
            yield quad, "not an IPv4 address: a resolver would look it up as a name"
            continue
        if not (address in ipaddress.IPv4Network("127.0.0.0/8") or address.is_unspecified):
            yield quad, "an IPv4 address outside 127.0.0.0/8"
    seen: set[str] = set()
    for match in HOST_NAME.finditer(text):
        seen.add(match.group(1))
        yield match.group(1), "a host name"
    for match in URL_HOST.finditer(text):
        host = match.group(1).rstrip(".")
        placeholder = host.isupper()  # "http://HOST/api" in help texts
        if host and host not in seen and not placeholder and not DOTTED_QUAD.fullmatch(host):
            yield host, "the host of a URL, not an IP literal"


def scan_source(source: str, path: str) -> list[Finding]:
    """The findings in one module's source (docstrings, comments and marked lines excepted)."""
    tree = ast.parse(source, path)
    lines = source.splitlines()
    skip = _docstrings(tree)
    findings = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in skip:
            continue
        if any(MARKER in lines[n - 1] for n in range(node.lineno, (node.end_lineno or 0) + 1)):
            continue
        findings += [Finding(path, node.lineno, t, why) for t, why in problems(node.value)]
    return findings


def _modules() -> Iterator[Path]:
    for top in SCANNED:
        yield from sorted((ROOT / top).rglob("*.py"))


def scan_tree() -> list[Finding]:
    """The findings in every scanned module."""
    findings: list[Finding] = []
    for module in _modules():
        findings += scan_source(module.read_text("utf-8"), module.relative_to(ROOT).as_posix())
    return findings


def test_suite_writes_no_host_name_or_foreign_address() -> None:
    findings = scan_tree()
    unexplained = [f for f in findings if (f.path, f.text) not in ALLOWED]
    assert not unexplained, (
        "values a device could resolve or use to reach another host (use a 127.0.0.0/8 literal "
        "or the suite host; else add to ALLOWED with a reason, or mark the line "
        f"'{MARKER} <reason>'):\n" + "\n".join(map(str, unexplained))
    )
    used = {(f.path, f.text) for f in findings}
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"ALLOWED entries nothing matches any more (remove them): {stale}"


@pytest.mark.parametrize(
    "value",
    [
        "registrar.invalid",
        "sip:1001@example.com:5060",
        "cam@localhost:5062",
        "198.51.100.7",
        "192.0.2.1:5060",
        "256.0.0.1:5",
        "http://device.lan/api",
        "sip:7001@decoder:5060",
        "CAM.LOCAL",
        "see §17.1.1.3 at 203.0.113.3",
    ],
)
def test_rule_catches(value: str) -> None:
    source = f"VALUE = {value!r}\n"
    assert scan_source(source, "x.py"), f"{value!r} not caught"


@pytest.mark.parametrize(
    "source",
    [
        "VALUE = '127.0.0.1'\n",
        "VALUE = '127.4.5.6:5060'\n",
        "VALUE = '0.0.0.0'\n",
        "VALUE = '*:5060'\n",
        "VALUE = f'sip:{user}@{host}:{port}'\n",
        "VALUE = 'decoder_conformance.plugin.session'\n",
        "VALUE = 'status.json'\n",
        "VALUE = 'live:0:0:0:0:0'\n",
        "VALUE = '1.2.3'\n",
        "VALUE = 'the ACK (RFC 3261 §17.1.1.3)'\n",
        "VALUE = 'e.g. http://HOST/api'\n",
        '"""A docstring may quote sip:1@192.0.2.1 from the page."""\n',
        "def f():\n    '''Nor here: example.com.'''\n",
        "VALUE = 1  # a comment may say 192.0.2.1\n",
        f"VALUE = '192.0.2.1'  {MARKER} quoted from the page\n",
    ],
)
def test_rule_lets_through(source: str) -> None:
    assert scan_source(source, "x.py") == []
