"""Error codes of the SIP-module API.

Mirrors spec/errors.yaml; a project test checks they match.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class ErrorCode(StrEnum):
    """One error code; the member name upper-cases the catalogue's `name`."""

    NOT_IMPLEMENTED = "0000"
    MISSING_PARAMETER = "1201"
    UNKNOWN_ID = "1202"
    BAD_VALUE = "1203"
    UNKNOWN_TYPE = "1204"
    BAD_BUFFER = "1205"
    BAD_BINDS = "1206"
    BIND_FAILED = "1207"
    DUPLICATE_NAME = "1208"
    TOO_LONG = "1209"
    LIMIT_REACHED = "1210"
    NO_CALL = "1211"
    BAD_CREDENTIALS = "1511"
    NOT_LOGGED_IN = "1512"


# Catalogue name -> code, the shape spec/errors.yaml uses.
CODES_BY_NAME: Final[Mapping[str, str]] = {m.name.lower(): m.value for m in ErrorCode}


class ApiError(Exception):
    """A refused request; answered as HTTP 200 `{"result": "error", "msg": code}`."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(f"{code.value} ({code.name.lower()}){': ' + detail if detail else ''}")
        self.code = code
        self.detail = detail
