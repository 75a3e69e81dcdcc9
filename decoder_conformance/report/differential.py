"""Differential report: two runs' observation records compared per requirement.

Each side of a `--differential` run records, per case, what it observed of its decoder
(plugin/differential.py): the HTTP exchanges, the SIP responses and requests the peers got from
the decoder, a few timings, and the case's verdict; per session, the readings the decoder was
seen to follow. This module normalises what is volatile in those records (ids, ports, addresses,
names and tokens the run made up, timestamps, measured counters) and compares the two sides case
by case, then requirement by requirement:

- **same**: every compared observation agrees;
- **differs**: what differs is named by kind (`verdict`, `code`, `value`, `flow`, `sip`,
  `timing`, `duty`, `reading`), with both sides' observation;
- **not compared**: a side did not run the case (skipped, deselected) or recorded nothing.

How a difference is treated follows the requirement's basis (spec/requirements*.yaml): on a
`page`, `rfc` or `standard` requirement it is **flagged** (the page or the RFC says what a
decoder must do, so two decoders that disagree cannot both be right; look at it); on a `reading`
requirement it is **expected** and listed (the page allows both); on a `practice` it is listed
(neither the page nor an RFC says it).

Representation is normalised away (`"3"` and `3`, `true` and `1`, `buffer` and `buffer_option`):
how a decoder writes a value is a reading of the page, compared through the readings each side
followed, so one representation choice is one expected difference on its own requirement, not a
difference in every case that reads the value.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decoder_conformance.contract.catalogue import Catalogue, Requirement
from decoder_conformance.device.client import (
    PAGE_FLAG_FORMS,
    Exchange,
    as_number,
    flag_meaning,
)

#: The observation file format written by the recorder and read here.
FORMAT = "decoder-conformance-observations/1"
#: The two sides of a differential run, in report order.
SIDES = ("reference", "device")
#: Bases whose differences are flagged: the page or a standard says what a decoder must do.
FLAGGED_BASES = ("page", "rfc", "standard")
#: Kinds of difference, in report order.
KINDS = ("verdict", "code", "value", "flow", "sip", "timing", "duty", "reading")

#: A number at or above this in a port field, or after a colon, is an ephemeral port.
EPHEMERAL_PORT = 10000
#: SIP timings (seconds) differ only beyond both: an absolute and a relative margin.
SIP_TIMING_ABS_S = 1.0
SIP_TIMING_REL = 0.5
#: HTTP answer times (median per case, ms) differ only beyond both margins.
HTTP_TIMING_ABS_MS = 250.0
HTTP_TIMING_REL = 2.0

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
#: The suite's scratch account names: ct-<8 hex> (cases) and ctp<hex> (discovery probes).
_SCRATCH = re.compile(r"\b(ct-|ctp)[0-9a-f]{6,8}")
_HEX = re.compile(r"\b[0-9a-fA-F]{8,}\b")
_ISO_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_PORT_AFTER_COLON = re.compile(r":(\d{5})\b")
#: Any port after an address: the suite's peers' ports (SIPp takes 5060 or the next free one).
_ADDR_PORT = re.compile(r"<addr>:\d+")
_ID_KEY = re.compile(r"(^id$|_id$|Id$|^sn$|^ssrc$)", re.IGNORECASE)
_PORT_KEY = re.compile(r"port", re.IGNORECASE)
_TIME_KEY = re.compile(r"(time|date|uptime|expires_at|since)", re.IGNORECASE)
_MEASURED_KEY = re.compile(r"(bitrate|frames?|bytes|packets|lost|fps|kbps)", re.IGNORECASE)
_SECRET_KEY = re.compile(r"(token|password|nonce|cnonce)", re.IGNORECASE)
#: A key another reading of the page spells differently: normalised to one spelling.
_KEY_ALIASES = {"buffer_option": "buffer"}


def normalise_text(text: str) -> str:
    """A string with the run's made-up parts replaced: addresses, ephemeral ports, scratch
    names, long hex tokens and timestamps."""
    text = _ISO_TIME.sub("<time>", text)
    text = _IPV4.sub("<addr>", text)
    text = _SCRATCH.sub(r"\1<hex>", text)
    text = _HEX.sub("<hex>", text)
    text = _ADDR_PORT.sub("<addr>:<port>", text)
    return _PORT_AFTER_COLON.sub(
        lambda m: ":<port>" if int(m.group(1)) >= EPHEMERAL_PORT else m.group(0), text
    )


def normalise_value(value: Any, key: str = "") -> Any:
    """A JSON value (an answer body or a parameter) in a form comparable across two decoders.

    Ids, tokens, timestamps and ephemeral ports become placeholders; measured counters become 0
    or `<nonzero>`; a decimal string becomes its number and a call flag its meaning (the
    representation is a reading, compared apart); strings lose the run's made-up parts.
    """
    if isinstance(value, Mapping):
        named = value.get("id") if isinstance(value.get("id"), str) else None
        return {
            _KEY_ALIASES.get(str(k), str(k)): normalise_value(
                v,
                # status.json's {"id": "bitrate", "state": 1834}: the state is named by the id.
                named if named and k == "state" else _KEY_ALIASES.get(str(k), str(k)),
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [normalise_value(v, key) for v in value]
    if key and _SECRET_KEY.search(key):
        return "<secret>" if value else value
    if key in PAGE_FLAG_FORMS:
        meaning = flag_meaning(value)
        if meaning is not None:
            return meaning
    number = as_number(value)
    if key and _ID_KEY.search(key) and number is not None:
        return "<id>"
    if key and _TIME_KEY.search(key) and (number is not None or isinstance(value, float)):
        return "<time>"
    if key and _MEASURED_KEY.search(key) and isinstance(value, int | float | str):
        measured = as_number(value) if not isinstance(value, float) else value
        if measured is not None:
            return 0 if measured == 0 else "<nonzero>"
    if number is not None:
        if key and _PORT_KEY.search(key) and number >= EPHEMERAL_PORT:
            return "<port>"
        return number
    if isinstance(value, str):
        return normalise_text(value)
    return value


def endpoint_of(url: str) -> str:
    """The endpoint of an exchange URL: the path after /api/ ("sip/list.json")."""
    path = url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url
    marker = path.find("api/")
    return path[marker + 4 :] if marker >= 0 else path


def case_names(exchanges: Iterable[Exchange]) -> set[str]:
    """The account names a case added (the `name` parameters of its add.json requests)."""
    return {
        e.params["name"]
        for e in exchanges
        if e.params.get("name") and endpoint_of(e.url).endswith("add.json")
    }


def _own_entries(body: Any, names: set[str]) -> Any:
    """list.json's data without the accounts the case did not add: a lab decoder holds accounts
    of its own that a bundled decoder lacks, and an account an earlier case failed to remove
    is that case's difference, not this one's."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return body
    kept = [
        entry
        for entry in body["data"]
        if not isinstance(entry, dict) or str(entry.get("name", "")) in names
    ]
    return {**body, "data": kept}


def normalise_exchange(exchange: Exchange, names: set[str]) -> dict[str, Any]:
    """One HTTP exchange as an observation: endpoint, parameters, status, result and msg, and
    the answer with what is volatile normalised (`names`: the accounts the case wrote)."""
    endpoint = normalise_text(endpoint_of(exchange.url))
    try:
        body: Any = json.loads(exchange.body)
    except ValueError:
        body = {"<not json>": normalise_text(exchange.body[:200])}
    if endpoint.endswith("list.json"):
        body = _own_entries(body, names)
    result = body.get("result") if isinstance(body, dict) else None
    msg = body.get("msg") if isinstance(body, dict) and result == "error" else None
    return {
        "method": exchange.method,
        "endpoint": endpoint,
        "params": normalise_value(exchange.params),
        "status": exchange.status,
        "result": result,
        "msg": msg,
        "body": normalise_value(body),
        "elapsed_ms": round(exchange.elapsed_ms, 1),
    }


@dataclass(frozen=True)
class Difference:
    """One thing two sides observed differently in one case."""

    kind: str
    what: str
    reference: Any
    device: Any

    def as_json(self) -> dict[str, Any]:
        """The difference as a JSON object."""
        return {
            "kind": self.kind,
            "what": self.what,
            "reference": self.reference,
            "device": self.device,
        }


@dataclass(frozen=True)
class CaseComparison:
    """One case compared: both verdicts and the differences (None: not compared, and why)."""

    nodeid: str
    requirement: str
    verdicts: Mapping[str, str]
    differences: tuple[Difference, ...]
    not_compared: str = ""


def _http_answers(case: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Endpoint + parameters -> the distinct answers in order (repeats of one answer collapsed)."""
    answers: dict[str, list[Any]] = {}
    for exchange in case.get("http", []):
        params = json.dumps(exchange.get("params", {}), sort_keys=True)
        key = f"{exchange.get('method', 'GET')} {exchange.get('endpoint')} {params}"
        answer = {
            "status": exchange.get("status"),
            "result": exchange.get("result"),
            "msg": exchange.get("msg"),
            "body": exchange.get("body"),
        }
        seen = answers.setdefault(key, [])
        if not seen or seen[-1] != answer:
            seen.append(answer)
    return answers


def _compare_http(ref: Mapping[str, Any], dev: Mapping[str, Any]) -> list[Difference]:
    """Compare the answers per request: the settled (last) one. The answers on the way to it
    depend on the moment a poll landed (calling or out on the way to idle), so they are not
    compared; the case's own checks judge them, and its verdict is compared."""
    a, b = _http_answers(ref), _http_answers(dev)
    found: list[Difference] = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            found.append(
                Difference("flow", f"request {key} sent to one side only", key in a, key in b)
            )
            continue
        last_a, last_b = a[key][-1], b[key][-1]
        if (last_a["result"], last_a["msg"], last_a["status"]) != (
            last_b["result"],
            last_b["msg"],
            last_b["status"],
        ):
            found.append(
                Difference(
                    "code",
                    f"{key}: result/msg",
                    f"HTTP {last_a['status']} {last_a['result']} {last_a['msg']}",
                    f"HTTP {last_b['status']} {last_b['result']} {last_b['msg']}",
                )
            )
        elif last_a["body"] != last_b["body"]:
            found.append(Difference("value", f"{key}: answer", last_a["body"], last_b["body"]))
    return found


def _compare_sip(ref: Mapping[str, Any], dev: Mapping[str, Any]) -> list[Difference]:
    found: list[Difference] = []
    for part, what in (("responses", "SIP responses to"), ("requests", "SIP requests")):
        a, b = ref.get("sip", {}).get(part, {}), dev.get("sip", {}).get(part, {})
        for method in sorted(set(a) | set(b)):
            if a.get(method) != b.get(method):
                found.append(Difference("sip", f"{what} {method}", a.get(method), b.get(method)))
    return found


def timing_differs(a: float, b: float, abs_margin: float, rel_margin: float) -> bool:
    """True when `a` and `b` differ beyond both the absolute and the relative margin."""
    gap = abs(a - b)
    return gap > abs_margin and gap > rel_margin * max(min(abs(a), abs(b)), 1e-9)


def _compare_timing(ref: Mapping[str, Any], dev: Mapping[str, Any]) -> list[Difference]:
    found: list[Difference] = []
    a, b = ref.get("timing", {}), dev.get("timing", {})
    for name in sorted(set(a) & set(b)):
        x, y = a[name], b[name]
        if x is None or y is None:
            if (x is None) != (y is None):
                found.append(Difference("timing", f"{name} (seen on one side only)", x, y))
            continue
        if name.endswith("_ms"):
            margins = (HTTP_TIMING_ABS_MS, HTTP_TIMING_REL)
        else:
            margins = (SIP_TIMING_ABS_S, SIP_TIMING_REL)
        if timing_differs(float(x), float(y), *margins):
            found.append(Difference("timing", name, x, y))
    return found


def compare_case(nodeid: str, ref: Mapping[str, Any], dev: Mapping[str, Any]) -> CaseComparison:
    """Compare one case's two records (both ran it)."""
    verdicts = {"reference": str(ref.get("verdict")), "device": str(dev.get("verdict"))}
    found: list[Difference] = []
    if verdicts["reference"] != verdicts["device"]:
        found.append(
            Difference("verdict", "case verdict", verdicts["reference"], verdicts["device"])
        )
    found += _compare_http(ref, dev)
    found += _compare_sip(ref, dev)
    found += _compare_timing(ref, dev)
    return CaseComparison(nodeid, str(ref.get("requirement")), verdicts, tuple(found))


#: Verdicts that mean the case did not run against the decoder.
_NOT_RUN = ("skipped", "deselected", None)


@dataclass
class RequirementComparison:
    """One requirement: its basis, its cases compared, and how its differences are treated."""

    requirement: str
    basis: str
    level: str
    cases: list[CaseComparison] = field(default_factory=list)
    readings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def readings_compared(self) -> bool:
        """True when both sides were seen following some reading of the point."""
        return bool(self.readings.get("reference")) and bool(self.readings.get("device"))

    @property
    def differences(self) -> list[Difference]:
        """Every difference of every case, and a reading difference."""
        found = [d for case in self.cases for d in case.differences]
        if self.readings_compared and self.readings["reference"] != self.readings["device"]:
            found.append(
                Difference(
                    "reading",
                    "reading followed",
                    self.readings.get("reference"),
                    self.readings.get("device"),
                )
            )
        return found

    @property
    def status(self) -> str:
        """same, differs or not_compared."""
        if self.differences:
            return "differs"
        if any(not case.not_compared for case in self.cases) or self.readings_compared:
            return "same"
        return "not_compared"

    @property
    def treatment(self) -> str:
        """flagged (page/rfc/standard, other than timing), expected (reading), listed
        (practice, or timing only), or "" if same."""
        if self.status != "differs":
            return ""
        # Timing alone is never flagged: neither the page nor an RFC MUST sets an answer time.
        if self.basis in FLAGGED_BASES and any(d.kind != "timing" for d in self.differences):
            return "flagged"
        return "expected" if self.basis == "reading" else "listed"


def _compare_duties(
    nodeid: str, ref: Mapping[str, Any], dev: Mapping[str, Any]
) -> list[tuple[str, CaseComparison]]:
    """Device duties checked through a case (a peer's RFC checks, the status trace) that held on
    one side and broke on the other, each under the duty's own requirement."""
    a, b = ref.get("duties", {}), dev.get("duties", {})
    found = []
    for duty in sorted(set(a) & set(b)):
        if a[duty] != b[duty]:
            verdicts = {"reference": a[duty], "device": b[duty]}
            diff = Difference("duty", f"duty checked through {nodeid}", a[duty], b[duty])
            found.append((duty, CaseComparison(f"{nodeid} (duty)", duty, verdicts, (diff,))))
    return found


def load_observations(path: Path) -> dict[str, Any]:
    """An observation file written by the recorder; ValueError naming the file if it is not."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not an observation file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not an observation file (format is not {FORMAT})")
    return data


def _readings_by_requirement(session: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        str(entry["requirement"]): sorted(entry["readings"])
        for entry in session.get("readings", {}).values()
    }


def compare(
    reference: Mapping[str, Any], device: Mapping[str, Any], catalogue: Catalogue
) -> list[RequirementComparison]:
    """Compare two observation records, one entry per requirement either side exercised."""
    ref_cases = {c["nodeid"]: c for c in reference.get("cases", [])}
    dev_cases = {c["nodeid"]: c for c in device.get("cases", [])}
    by_req: dict[str, RequirementComparison] = {}

    def entry(req_id: str) -> RequirementComparison:
        if req_id not in by_req:
            requirement: Requirement | None = catalogue.requirements.get(req_id)
            basis = requirement.basis if requirement else "unknown"
            level = requirement.level if requirement else ""
            by_req[req_id] = RequirementComparison(req_id, basis, level)
        return by_req[req_id]

    for nodeid in sorted(set(ref_cases) | set(dev_cases)):
        ref, dev = ref_cases.get(nodeid), dev_cases.get(nodeid)
        req_id = str((ref or dev or {}).get("requirement"))
        verdicts = {
            "reference": str(ref.get("verdict")) if ref else "not run",
            "device": str(dev.get("verdict")) if dev else "not run",
        }
        missing = [side for side, case in (("reference", ref), ("device", dev)) if case is None]
        skipped = [
            side
            for side, case in (("reference", ref), ("device", dev))
            if case is not None and case.get("verdict") in _NOT_RUN
        ]
        if ref is None or dev is None or skipped:
            why = (
                f"not run on {' and '.join(missing)}"
                if missing
                else f"skipped on {' and '.join(skipped)}"
            )
            entry(req_id).cases.append(CaseComparison(nodeid, req_id, verdicts, (), why))
            continue
        entry(req_id).cases.append(compare_case(nodeid, ref, dev))
    for nodeid in sorted(set(ref_cases) & set(dev_cases)):
        for duty, comparison in _compare_duties(nodeid, ref_cases[nodeid], dev_cases[nodeid]):
            entry(duty).cases.append(comparison)
    ref_readings = _readings_by_requirement(reference.get("session", {}))
    dev_readings = _readings_by_requirement(device.get("session", {}))
    for req_id in sorted(set(ref_readings) | set(dev_readings)):
        entry(req_id).readings = {
            "reference": ref_readings.get(req_id, []),
            "device": dev_readings.get(req_id, []),
        }
    return [by_req[k] for k in sorted(by_req)]


def counts(results: Iterable[RequirementComparison]) -> dict[str, int]:
    """How many requirements are same, flagged, expected, listed and not compared."""
    tally = {"same": 0, "flagged": 0, "expected": 0, "listed": 0, "not_compared": 0}
    for result in results:
        key = result.treatment or result.status
        tally[key] += 1
    return tally


def as_json(
    results: Sequence[RequirementComparison],
    sides: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The whole comparison as one JSON document."""
    return {
        "sides": {name: dict(info) for name, info in sides.items()},
        "counts": counts(results),
        "requirements": [
            {
                "id": r.requirement,
                "basis": r.basis,
                "level": r.level,
                "status": r.status,
                "treatment": r.treatment,
                "readings": r.readings,
                "differences": [d.as_json() for d in r.differences],
                "cases": [
                    {
                        "nodeid": c.nodeid,
                        "verdicts": dict(c.verdicts),
                        "not_compared": c.not_compared,
                        "differences": [d.as_json() for d in c.differences],
                    }
                    for c in r.cases
                ],
            }
            for r in results
        ],
    }


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SECTIONS = (
    (
        "flagged",
        "Flagged: the page or an RFC/standard says what a decoder must do",
        "A `page` requirement quotes the vendor's page, an `rfc`/`standard` one cites a MUST of "
        "the RFC or GB/T 28181: two decoders that disagree there cannot both conform. Look at "
        "each one; the verdicts show which side the suite failed.",
    ),
    (
        "expected",
        "Expected: the page allows both (reading requirements)",
        "The page is ambiguous here; each decoder follows one of the listed readings.",
    ),
    (
        "listed",
        "Listed: neither the page nor an RFC says it (practice)",
        "Device choices worth knowing; none is a conformance question.",
    ),
)


def markdown(
    results: Sequence[RequirementComparison], sides: Mapping[str, Mapping[str, Any]]
) -> str:
    """The comparison as Markdown: counts, then flagged, expected and listed differences."""
    tally = counts(results)
    lines = ["# Differential run: the bundled reference decoder against the device", ""]
    for name in SIDES:
        info = sides.get(name, {})
        lines.append(
            f"- **{name}**: {info.get('target', '?')}; profile {info.get('profile', '?')}; "
            f"exit code {info.get('exit_code', '?')}; {info.get('cases', 0)} cases recorded"
        )
    lines += [
        "",
        f"**{tally['flagged']} flagged**, {tally['expected']} expected (reading), "
        f"{tally['listed']} listed (practice), {tally['same']} same, "
        f"{tally['not_compared']} not compared.",
        "",
    ]
    for treatment, title, why in _SECTIONS:
        chosen = [r for r in results if r.treatment == treatment]
        lines += [f"## {title} ({len(chosen)})", "", why, ""]
        if not chosen:
            lines += ["None.", ""]
            continue
        lines += [
            "| requirement | basis | case | kind | what | reference | device |",
            "|---|---|---|---|---|---|---|",
        ]
        for result in chosen:
            rows = [(c.nodeid, d) for c in result.cases for d in c.differences]
            rows += [("(session)", d) for d in result.differences if d.kind == "reading"]
            for nodeid, diff in rows:
                lines.append(
                    f"| {result.requirement} | {result.basis} {result.level} | "
                    f"`{nodeid.rsplit('::', 1)[-1]}` | {diff.kind} | {_short(diff.what, 90)} | "
                    f"{_short(diff.reference)} | {_short(diff.device)} |"
                )
        lines.append("")
    skipped = [(r.requirement, c) for r in results for c in r.cases if c.not_compared]
    lines += [f"## Not compared ({len(skipped)} cases)", ""]
    lines += [f"- {req} `{case.nodeid}`: {case.not_compared}" for req, case in skipped] or ["None."]
    lines.append("")
    return "\n".join(lines)


def write(
    path: Path,
    results: Sequence[RequirementComparison],
    sides: Mapping[str, Mapping[str, Any]],
) -> Path:
    """Write `path` (JSON) and the Markdown beside it (same name, .md); returns the .md path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_json(results, sides), indent=2, sort_keys=False) + "\n", "utf-8")
    md = path.with_suffix(".md")
    md.write_text(markdown(results, sides), "utf-8")
    return md


def median(values: Sequence[float]) -> float | None:
    """The median of `values`, None when there are none."""
    return float(statistics.median(values)) if values else None


def main(argv: Sequence[str] | None = None) -> int:
    """Compare two observation files recorded earlier (`--record-observations`), e.g. two
    firmware versions of one lab decoder: exit code 1 when a difference is flagged."""
    parser = argparse.ArgumentParser(
        prog="python -m decoder_conformance.report.differential",
        description="compare two observation files per requirement (reference, then device)",
    )
    parser.add_argument("reference", type=Path, help="observation file of the reference side")
    parser.add_argument("device", type=Path, help="observation file of the device side")
    parser.add_argument(
        "--out", type=Path, default=Path("differential.json"), help="JSON report (and .md beside)"
    )
    args = parser.parse_args(argv)
    records: dict[str, dict[str, Any]] = {}
    for name, path in (("reference", args.reference), ("device", args.device)):
        try:
            records[name] = load_observations(path)
        except ValueError as exc:
            parser.error(str(exc))
    sides = {
        name: {
            "target": record.get("session", {}).get("target", ""),
            "profile": record.get("session", {}).get("profile", ""),
            "cases": len(record.get("cases", [])),
            "observations": str(path),
        }
        for (name, record), path in zip(records.items(), (args.reference, args.device), strict=True)
    }
    results = compare(records["reference"], records["device"], Catalogue())
    markdown_path = write(args.out, results, sides)
    tally = counts(results)
    sys.stdout.write(
        f"{tally['flagged']} flagged, {tally['expected']} expected (reading), "
        f"{tally['listed']} listed (practice), {tally['same']} same, "
        f"{tally['not_compared']} not compared: {markdown_path}\n"
    )
    return 1 if tally["flagged"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
