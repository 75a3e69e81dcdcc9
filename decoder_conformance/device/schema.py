"""Response-body validation against the schemas of spec/openapi.yaml (JSON Schema 2020-12).

Schemas are named by their OpenAPI component ("ListOk", "AccountOk", ...), so the document stays
the one source of field names and types.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from decoder_conformance.contract.catalogue import SPEC_DIR

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
    loaded: dict[str, Any] = yaml.safe_load((SPEC_DIR / "openapi.yaml").read_text("utf-8"))
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


def _where(error: ValidationError) -> str:
    return "/".join(map(str, error.absolute_path)) or "<body>"


def _describe(error: ValidationError) -> str:
    """The error, and for oneOf/anyOf the closest alternative's own complaint."""
    text = f"{_where(error)}: {error.message}"
    if error.context:
        closest = best_match(error.context)
        text += f" (closest: {_where(closest)}: {closest.message})"
    return text
