"""The contract files in spec/: requirement catalogue and error-code catalogue, loaded once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from decoder_conformance import PROJECT_ROOT

#: libyaml's safe loader where PyYAML was built with it (about 10x faster: the catalogue and the
#: OpenAPI document load at the start of every run), the pure-Python one otherwise.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """`text` parsed as YAML with the safe loader (plain data only)."""
    return yaml.load(text, Loader=_SAFE_LOADER)


SPEC_DIR = PROJECT_ROOT / "spec"
REQUIREMENT_ID = re.compile(r"^(SIP|GB|LOCAL)-[A-Z0-9]+(-[A-Z0-9]+)*-[0-9]{3}$")
LEVELS = ("MUST", "SHOULD")
SEVERITY = {"MUST": "critical", "SHOULD": "normal"}
#: Where a requirement comes from. Only page, rfc, standard and reading requirements can fail a
#: device.
BASES = ("page", "rfc", "standard", "reading", "practice")
#: The fields each basis must give: the page's words, the RFC clause, the GB/T 28181 clause (of
#: either edition), the readings, the reason.
BASIS_FIELDS = {
    "page": ("quote",),
    "rfc": ("rfc",),
    "standard": ("gb2016", "gb2022"),
    "reading": ("point",),
    "practice": ("why",),
}
#: The GB/T 28181 editions a GB requirement may apply to.
EDITIONS = ("2016", "2022")
#: The catalogue files of a spec directory; the first is required, the others are optional.
REQUIREMENT_FILES = ("requirements.yaml", "requirements-gb28181.yaml")


class CatalogueError(Exception):
    """A spec file that does not load or breaks its own rules; the message names file and entry."""


@dataclass(frozen=True)
class Reading:
    """One way a device may read an ambiguous point of the page."""

    name: str
    means: str


@dataclass(frozen=True)
class Requirement:
    """One numbered requirement: what is checked, where it comes from, and how much it matters.

    `basis` says where it comes from: `page` (the vendor page states it; `quote` has its words),
    `rfc` (an RFC MUST/SHALL; `rfc` cites the section), `standard` (GB/T 28181 requires it;
    `gb2016` / `gb2022` cite the clause in each edition), `reading` (the page or the standard is
    ambiguous: `point` names the ambiguity and `readings` lists every reading a device may follow),
    `practice` (none says it; `why` gives the reason it is still worth checking). A GB28181
    requirement (GB-*) also names the `editions` it applies to ("2016 2022", "2022").
    """

    id: str
    area: str
    feature: str
    clause: str
    level: str
    check: str
    basis: str
    decision: str = ""
    quote: str = ""
    rfc: str = ""
    point: str = ""
    readings: tuple[Reading, ...] = ()
    why: str = ""
    gb2016: str = ""
    gb2022: str = ""
    editions: str = ""

    @property
    def edition_list(self) -> tuple[str, ...]:
        """The GB/T 28181 editions this requirement applies to (empty: not a GB requirement)."""
        return tuple(self.editions.split())

    def applies_to_edition(self, edition: str) -> bool:
        """True unless this is a GB requirement of other editions than `edition`."""
        return not self.edition_list or edition in self.edition_list

    @property
    def severity(self) -> str:
        """Allure severity: MUST -> critical, SHOULD -> normal."""
        return SEVERITY[self.level]

    @property
    def can_fail(self) -> bool:
        """True when a device that breaks it is failed, not given a finding (profile aside)."""
        return self.level == "MUST" and self.basis != "practice"

    def reading(self, name: str) -> Reading:
        """The listed reading `name`; KeyError naming the listed ones if it is not one."""
        for reading in self.readings:
            if reading.name == name:
                return reading
        listed = ", ".join(r.name for r in self.readings) or "none"
        raise KeyError(f"{self.id} ({self.point}) lists no reading {name!r} (listed: {listed})")


@dataclass(frozen=True)
class ErrorCode:
    """One entry of the error-code catalogue."""

    code: str
    name: str
    source: str
    meaning: str


def _load_yaml(path: Path) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path}: {exc}") from None


def _requirement(entry: dict[str, Any], where: str) -> Requirement:
    """One catalogue entry, validated: ID shape, level, basis and the fields the basis needs."""
    values = {k: v for k, v in entry.items() if k != "readings"}
    readings: list[Reading] = []
    for index, raw in enumerate(entry.get("readings") or []):
        if not isinstance(raw, dict) or set(raw) != {"name", "means"}:
            raise CatalogueError(f"{where}.readings[{index}] must be a mapping of name and means")
        if not isinstance(raw["name"], str):
            # YAML reads a bare off/on/yes/no as a boolean: the name must be quoted.
            raise CatalogueError(
                f"{where}.readings[{index}].name {raw['name']!r} is not a string (quote it)"
            )
        readings.append(Reading(str(raw["name"]), str(raw["means"])))
    try:
        req = Requirement(**{k: str(v) for k, v in values.items()}, readings=tuple(readings))
    except TypeError as exc:
        raise CatalogueError(f"{where} ({entry.get('id')}): {exc}") from None
    where = f"{where} ({req.id})"
    if not REQUIREMENT_ID.match(req.id):
        raise CatalogueError(f"{where}: id is not of the form SIP-AREA-FEAT-001")
    if req.level not in LEVELS:
        raise CatalogueError(f"{where}: level must be one of {LEVELS}")
    if req.basis not in BASES:
        raise CatalogueError(f"{where}: basis must be one of {BASES}, got {req.basis!r}")
    needed = BASIS_FIELDS[req.basis]
    if not any(getattr(req, name) for name in needed):
        raise CatalogueError(f"{where}: basis {req.basis} needs {' or '.join(needed)!r}")
    if req.id.startswith("GB-"):
        if not req.edition_list or not set(req.edition_list) <= set(EDITIONS):
            raise CatalogueError(
                f"{where}: a GB requirement names its editions, some of {EDITIONS}, "
                f"got {req.editions!r}"
            )
    elif req.editions or req.basis == "standard":
        raise CatalogueError(f"{where}: only a GB-* requirement has editions or basis standard")
    if req.basis == "practice" and req.level == "MUST":
        raise CatalogueError(f"{where}: a practice is a SHOULD (only a profile promotes it)")
    if req.basis == "reading":
        names = [r.name for r in req.readings]
        if len(names) < 2 or len(set(names)) != len(names):
            raise CatalogueError(f"{where}: a reading lists at least two distinct readings")
    elif req.readings or req.point:
        raise CatalogueError(f"{where}: only a reading requirement has point and readings")
    return req


@dataclass(frozen=True)
class Catalogue:
    """The requirement and error catalogues of one spec directory."""

    spec_dir: Path = SPEC_DIR

    @cached_property
    def requirements(self) -> dict[str, Requirement]:
        """Requirements by ID, validated (ID shape, level, no duplicates, required fields)."""
        result: dict[str, Requirement] = {}
        for number, name in enumerate(REQUIREMENT_FILES):
            path = self.spec_dir / name
            if number and not path.exists():
                continue
            raw = _load_yaml(path)
            entries = raw.get("requirements") if isinstance(raw, dict) else None
            if not isinstance(entries, list):
                raise CatalogueError(f"{path}: top-level key 'requirements' must be a list")
            for index, entry in enumerate(entries):
                where = f"{path}: requirements[{index}]"
                if not isinstance(entry, dict):
                    raise CatalogueError(f"{where} must be a mapping")
                req = _requirement(entry, where)
                if req.id in result:
                    raise CatalogueError(f"{where}: duplicate id {req.id}")
                result[req.id] = req
        path = self.spec_dir
        points = [r.point for r in result.values() if r.point]
        repeated = sorted({p for p in points if points.count(p) > 1})
        if repeated:
            raise CatalogueError(f"{path}: reading points named by more than one id: {repeated}")
        return result

    @cached_property
    def points(self) -> dict[str, Requirement]:
        """Reading requirements by the point they are about (e.g. "id_type")."""
        return {r.point: r for r in self.requirements.values() if r.basis == "reading"}

    @cached_property
    def errors(self) -> dict[str, ErrorCode]:
        """Error codes by catalogue name."""
        path = self.spec_dir / "errors.yaml"
        raw = _load_yaml(path)
        entries = raw.get("codes") if isinstance(raw, dict) else None
        if not isinstance(entries, list):
            raise CatalogueError(f"{path}: top-level key 'codes' must be a list")
        result: dict[str, ErrorCode] = {}
        for index, entry in enumerate(entries):
            try:
                code = ErrorCode(**{k: str(v) for k, v in entry.items()})
            except TypeError as exc:
                raise CatalogueError(f"{path}: codes[{index}]: {exc}") from None
            if code.name in result or code.code in {c.code for c in result.values()}:
                raise CatalogueError(f"{path}: codes[{index}]: duplicate {code.name}/{code.code}")
            if code.source not in ("vendor", "project"):
                raise CatalogueError(f"{path}: codes[{index}]: source must be vendor or project")
            result[code.name] = code
        return result

    def requirement(self, req_id: str) -> Requirement:
        """The requirement `req_id`; KeyError naming the catalogue if it is not there."""
        try:
            return self.requirements[req_id]
        except KeyError:
            raise KeyError(
                f"requirement {req_id} is not in {self.spec_dir}/{{{','.join(REQUIREMENT_FILES)}}}"
            ) from None
