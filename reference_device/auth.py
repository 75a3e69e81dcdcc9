"""Login tokens: issued by users/login.json, required by every endpoint when credentials are set.

Tokens live in memory only: neither the page nor the login chapter defines a lifetime or a
logout, so a token expires when the process that issued it stops (a restart), or when MAX_TOKENS
newer ones push it out (SIP-API-LOGIN-005).
"""

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from reference_device.errors import ApiError, ErrorCode

TOKEN_HEADER: Final = "X-Auth-Token"
TOKEN_NAME: Final = "token"
# Bound the memory a client looping on login can take; the oldest tokens expire first.
MAX_TOKENS: Final = 1024


@dataclass(frozen=True)
class Credentials:
    """The user name and password the device was started with."""

    username: str
    password: str


class Authenticator:
    """Issues tokens and checks them; without credentials every request is let through."""

    def __init__(self, credentials: Credentials | None) -> None:
        self._credentials = credentials
        self._tokens: OrderedDict[str, None] = OrderedDict()

    @property
    def required(self) -> bool:
        """Whether endpoints other than login need a token."""
        return self._credentials is not None

    def login(self, username: str | None, password: str | None) -> str:
        """A fresh 32-hex-digit token, or ApiError 1511 on a wrong user name or password."""
        if self._credentials is not None and not (
            _same(username, self._credentials.username)
            and _same(password, self._credentials.password)
        ):
            raise ApiError(ErrorCode.BAD_CREDENTIALS)
        token = secrets.token_hex(16)
        self._tokens[token] = None
        while len(self._tokens) > MAX_TOKENS:
            self._tokens.popitem(last=False)
        return token

    def check(self, candidates: list[str | None]) -> None:
        """Raise ApiError 1512 unless a token is required-and-issued among `candidates`."""
        if not self.required:
            return
        if not any(token is not None and token in self._tokens for token in candidates):
            raise ApiError(ErrorCode.NOT_LOGGED_IN)


def _same(given: str | None, expected: str) -> bool:
    # Constant-time compare so the answer time does not leak how much of a guess was right.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
