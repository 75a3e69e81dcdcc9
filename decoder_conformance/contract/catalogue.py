"""The contract files in spec/: requirement catalogue and error-code catalogue, loaded once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from decoder_conformance import PROJECT_ROOT

SPEC_DIR = PROJECT_ROOT / "spec"
REQUIREMENT_ID = re.compile(r"^(SIP|GB|LOCAL)-[A-Z0-9]+(-[A-Z0-9]+)*-[0-9]{3}$")
LEVELS = ("MUST", "SHOULD")
SEVERITY = {"MUST": "critical", "SHOULD": "normal"}


class CatalogueError(Exception):
    """A spec file that does not load or breaks its own rules; the message names file and entry."""


@dataclass(frozen=True)
class Requirement:
    """One numbered requirement: what is checked, where it comes from, and how much it matters."""

    id: str
    area: str
    feature: str
    clause: str
    level: str
    check: str
    decision: str = ""

    @property
    def severity(self) -> str:
        """Allure severity: MUST -> critical, SHOULD -> normal."""
        return SEVERITY[self.level]


@dataclass(frozen=True)
class ErrorCode:
    """One entry of the error-code catalogue."""

    code: str
    name: str
    source: str
    meaning: str


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Catalogue:
    """The requirement and error catalogues of one spec directory."""

    spec_dir: Path = SPEC_DIR

    @cached_property
    def requirements(self) -> dict[str, Requirement]:
        """Requirements by ID, validated (ID shape, level, no duplicates, required fields)."""
        path = self.spec_dir / "requirements.yaml"
        raw = _load_yaml(path)
        entries = raw.get("requirements") if isinstance(raw, dict) else None
        if not isinstance(entries, list):
            raise CatalogueError(f"{path}: top-level key 'requirements' must be a list")
        result: dict[str, Requirement] = {}
        for index, entry in enumerate(entries):
            where = f"{path}: requirements[{index}]"
            if not isinstance(entry, dict):
                raise CatalogueError(f"{where} must be a mapping")
            try:
                req = Requirement(**{k: str(v) for k, v in entry.items()})
            except TypeError as exc:
                raise CatalogueError(f"{where} ({entry.get('id')}): {exc}") from None
            if not REQUIREMENT_ID.match(req.id):
                raise CatalogueError(f"{where}: id {req.id!r} is not of the form SIP-AREA-FEAT-001")
            if req.level not in LEVELS:
                raise CatalogueError(f"{where} ({req.id}): level must be one of {LEVELS}")
            if req.id in result:
                raise CatalogueError(f"{where}: duplicate id {req.id}")
            result[req.id] = req
        return result

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
                f"requirement {req_id} is not in {self.spec_dir / 'requirements.yaml'}"
            ) from None
