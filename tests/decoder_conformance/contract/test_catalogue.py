"""The contract files agree with each other, with the suites and with the reference decoder."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from decoder_conformance.contract.catalogue import Catalogue, CatalogueError
from decoder_conformance.device import schema
from decoder_conformance.device.client import SIP_ENDPOINTS
from tests.conftest import ROOT

CATALOGUE = Catalogue()
ENTRY = {"created": True, "type": "sip", "name": "a"}
REQ_USE = re.compile(r"""mark\.req\(\s*["']([A-Z0-9-]+)["']""")


def suite_requirement_uses() -> Counter[str]:
    """Every requirement ID named in a req mark under suites/, with how often."""
    uses: Counter[str] = Counter()
    for path in (ROOT / "suites").rglob("*.py"):
        uses.update(REQ_USE.findall(path.read_text("utf-8")))
    return uses


def test_requirements_load_and_are_well_formed() -> None:
    reqs = CATALOGUE.requirements
    assert len(reqs) >= 40
    for req in reqs.values():
        assert req.clause and req.check, f"{req.id}: clause and check are required"


def test_catalogue_rejects_duplicates(tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    entry = dict(ENTRY_BASE)
    (spec / "requirements.yaml").write_text(yaml.safe_dump({"requirements": [entry, entry]}))
    with pytest.raises(CatalogueError, match="duplicate id SIP-API-X-001"):
        Catalogue(spec).requirements  # noqa: B018


ENTRY_BASE = {
    "id": "SIP-API-X-001",
    "area": "api",
    "feature": "f",
    "clause": "c",
    "level": "MUST",
    "check": "k",
    "basis": "page",
    "quote": "URL: sip/list.json",
}
READINGS = [{"name": "a", "means": "one way"}, {"name": "b", "means": "another"}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"basis": "folklore"}, "basis must be one of"),
        ({"quote": ""}, "basis page needs 'quote'"),
        ({"basis": "rfc", "quote": ""}, "basis rfc needs 'rfc'"),
        ({"basis": "practice", "why": "w", "level": "MUST"}, "a practice is a SHOULD"),
        ({"basis": "reading", "point": "p", "readings": READINGS[:1]}, "at least two distinct"),
        ({"basis": "reading", "point": "p", "readings": [READINGS[0]] * 2}, "two distinct"),
        ({"readings": READINGS}, "only a reading requirement has point and readings"),
        ({"basis": "standard", "quote": ""}, "basis standard needs 'gb2016 or gb2022'"),
        ({"basis": "standard", "gb2016": "§9.6"}, "only a GB-\\* requirement"),
        ({"editions": "2016"}, "only a GB-\\* requirement"),
        ({"id": "GB-KA-001", "basis": "standard", "gb2016": "§9.6"}, "names its editions"),
        ({"id": "GB-KA-001", "editions": "2016 2019"}, "names its editions"),
    ],
)
def test_catalogue_rejects_a_basis_without_its_fields(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    entry = {**ENTRY_BASE, **change}
    (spec / "requirements.yaml").write_text(yaml.safe_dump({"requirements": [entry]}))
    with pytest.raises(CatalogueError, match=message):
        Catalogue(spec).requirements  # noqa: B018


def test_a_reading_point_belongs_to_one_requirement(tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    reading = {**ENTRY_BASE, "basis": "reading", "point": "p", "readings": READINGS, "quote": ""}
    second = {**reading, "id": "SIP-API-X-002"}
    (spec / "requirements.yaml").write_text(yaml.safe_dump({"requirements": [reading, second]}))
    with pytest.raises(CatalogueError, match=r"reading points named by more than one id: \['p'\]"):
        Catalogue(spec).requirements  # noqa: B018


def _words(text: str) -> str:
    return " ".join(text.split())


def test_every_page_requirement_quotes_the_vendor_page() -> None:
    page = _words((ROOT / "spec" / "sip-module-api.txt").read_text("utf-8"))
    missing = [
        f"{req.id}: {fragment!r}"
        for req in CATALOGUE.requirements.values()
        if req.basis == "page"
        for fragment in req.quote.split(" / ")
        if _words(fragment) not in page
    ]
    assert not missing, "quotes not found in spec/sip-module-api.txt:\n" + "\n".join(missing)


def test_only_page_rfc_and_reading_requirements_are_musts() -> None:
    wrong = [r.id for r in CATALOGUE.requirements.values() if r.level == "MUST" and not r.can_fail]
    assert not wrong, f"MUST requirements that cannot fail a device: {wrong}"
    practices = [r.id for r in CATALOGUE.requirements.values() if r.basis == "practice"]
    assert practices and all(not CATALOGUE.requirements[r].can_fail for r in practices)


def test_every_suite_requirement_is_catalogued_and_every_entry_checked() -> None:
    uses = suite_requirement_uses()
    unknown = sorted(set(uses) - set(CATALOGUE.requirements))
    unchecked = sorted(set(CATALOGUE.requirements) - set(uses))
    assert not unknown, f"suites name requirements missing from spec/requirements.yaml: {unknown}"
    assert not unchecked, f"catalogue entries no suite case checks: {unchecked}"


def test_decisions_are_recorded() -> None:
    decided = " ".join(r.decision for r in CATALOGUE.requirements.values())
    for topic in ("Ssip", "SDI", "*.2222", "policy", "registerPort", "server_port", "not_created"):
        assert topic in decided, f"no catalogue decision mentions {topic!r}"


def test_error_codes_match_the_reference_decoder() -> None:
    from reference_device import errors as device_errors

    catalogue = {entry.code for entry in CATALOGUE.errors.values()}
    device = {
        value
        for name, value in vars(device_errors).items()
        if not name.startswith("_") and isinstance(value, str) and re.fullmatch(r"[0-9]{4}", value)
    } or {str(getattr(m, "value", m)) for m in getattr(device_errors, "ErrorCode", [])}
    assert device == catalogue, (
        f"device-only {device - catalogue}, catalogue-only {catalogue - device}"
    )


def test_openapi_covers_every_endpoint_with_catalogued_codes() -> None:
    doc = schema.openapi()
    paths = set(doc["paths"])
    assert {f"/sip/{name}.json" for name in SIP_ENDPOINTS} | {"/users/login.json"} <= paths
    codes = {entry.code for entry in CATALOGUE.errors.values()}
    for path, item in doc["paths"].items():
        assert set(item) >= {"get", "post"}, f"{path}: GET and POST must both be documented"
        for method in ("get", "post"):
            operation = item[method]
            stray = set(operation.get("x-error-codes", [])) - codes
            assert not stray, f"{method.upper()} {path}: codes {stray} not in spec/errors.yaml"


@pytest.mark.parametrize(
    ("name", "body", "valid"),
    [
        ("ListOk", {"result": "ok", "data": [{**ENTRY, "id": 1}]}, True),
        ("ListOk", {"result": "ok", "data": [{**ENTRY, "id": "1"}]}, False),
        ("Envelope", {"result": "error", "msg": "1211"}, True),
        ("Envelope", {"result": "maybe"}, False),
    ],
)
def test_schemas_accept_and_refuse(name: str, body: object, valid: bool) -> None:
    assert (not schema.errors(body, name)) is valid, schema.errors(body, name)


def test_gb_requirements_load_from_their_own_file_with_editions(tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "requirements.yaml").write_text(yaml.safe_dump({"requirements": [ENTRY_BASE]}))
    gb = {**ENTRY_BASE, "id": "GB-REG-007", "basis": "standard", "quote": "", "editions": "2022"}
    gb["gb2022"] = "Annex I"
    (spec / "requirements-gb28181.yaml").write_text(yaml.safe_dump({"requirements": [gb]}))
    loaded = Catalogue(spec).requirements["GB-REG-007"]
    assert loaded.edition_list == ("2022",)
    assert loaded.can_fail
    assert not loaded.applies_to_edition("2016") and loaded.applies_to_edition("2022")
    assert Catalogue(spec).requirements["SIP-API-X-001"].applies_to_edition("2016")


def test_every_gb_requirement_cites_a_clause_of_an_edition_it_applies_to() -> None:
    for req in CATALOGUE.requirements.values():
        if not req.id.startswith("GB-"):
            continue
        cited = [e for e in req.edition_list if getattr(req, f"gb{e}")]
        assert cited, f"{req.id}: applies to {req.edition_list} but cites no clause of them"
