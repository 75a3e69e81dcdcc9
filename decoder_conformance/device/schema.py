"""Response-body validation against the schemas of spec/openapi.yaml (JSON Schema 2020-12).

Schemas are named by their OpenAPI component ("ListOk", "AccountOk", ...), so the document stays
the one source of field names and types. Two families: the strict reference schemas (`ListOk`,
`AccountOk`, `StatusOk`, ...: the reference decoder's exact shapes) and the `Page*` schemas, which
hold only what the vendor's page guarantees and accept every reading it allows (an `id` as a JSON
integer or a decimal string, ...). The client's read helpers use the `Page*` ones, so a device's
choice on an ambiguous point never fails a case about something else.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from decoder_conformance.contract.catalogue import SPEC_DIR, load_yaml

_BASE = "urn:decoder-sip-openapi"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"{_BASE}#/components/schemas/{name}"}


#: Schemas composed here; every other name is a component of the document.
WRAPPERS: dict[str, dict[str, Any]] = {
    "Envelope": {"oneOf": [_ref("OkBody"), _ref("ErrorBody")]},
}


@cache
def openapi() -> dict[str, Any]:
    """spec/openapi.yaml, parsed."""
    loaded: dict[str, Any] = load_yaml((SPEC_DIR / "openapi.yaml").read_text("utf-8"))
    return loaded


@cache
def _validator(name: str) -> Draft202012Validator:
    doc = openapi()
    registry: Registry[Any] = Registry().with_resource(
        _BASE, Resource.from_contents(doc, default_specification=_draft())
    )
    schema = WRAPPERS.get(name) or _ref(name)
    return Draft202012Validator(schema, registry=registry)


def _draft() -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


def errors(instance: Any, name: str) -> list[str]:
    """Messages for every way `instance` breaks schema `name` (a wrapper or a component)."""
    found = sorted(_validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [_describe(e) for e in found]


#: The four objects of status.json, by id, and the page-level schema each must match.
STATUS_ITEMS = {
    "account_status": "AccountStatusItem",
    "register_status": "PageRegisterStatusItem",
    "call_status": "CallStatusItem",
    "bitrate": "PageBitrateItem",
}


def status_items(data: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """status.json's data as the page guarantees it: the four objects found by their `id`.

    Any order, and more objects than the four ("return includes multi objects") are allowed;
    each of the four must match its page-level item schema. Returns the items by id (the first
    one of each id) and the messages for what is missing or malformed.
    """
    if not isinstance(data, list):
        return {}, [f"<data>: {data!r} is not an array"]
    found: dict[str, dict[str, Any]] = {}
    for item in data:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            found.setdefault(item["id"], item)
    problems = []
    for item_id, name in STATUS_ITEMS.items():
        if item_id not in found:
            problems.append(f"<data>: no object with id {item_id!r}")
            continue
        problems += [f"{item_id}: {e}" for e in errors(found[item_id], name)]
    return {k: found[k] for k in STATUS_ITEMS if k in found}, problems


def _where(error: ValidationError) -> str:
    return "/".join(map(str, error.absolute_path)) or "<body>"


def _describe(error: ValidationError) -> str:
    """The error, and for oneOf/anyOf the closest alternative's own complaint."""
    text = f"{_where(error)}: {error.message}"
    if error.context:
        closest = best_match(error.context)
        text += f" (closest: {_where(closest)}: {closest.message})"
    return text
