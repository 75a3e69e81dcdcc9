"""HTTP Digest authentication for SIP (RFC 2617, RFC 7616 syntax, RFC 3261 §22): MD5 only.

Hand-written on purpose: the Python digest helpers live inside HTTP clients (requests, httpx,
aiohttp) and only answer a challenge; a SIP conformance suite also plays the server (registrar,
platform), so it needs to parse both ``WWW-Authenticate``/``Proxy-Authenticate`` challenges and
``Authorization``/``Proxy-Authorization`` credentials, compute responses, and verify them.
Standard library only, no I/O.

Supported: algorithm MD5 and MD5-sess, qop absent (RFC 2069 compatibility) or ``auth``.
``auth-int`` and the SHA-256 algorithms of RFC 7616 are refused with a ValueError.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

SCHEME_DIGEST = "Digest"
ALGORITHM_MD5 = "MD5"
ALGORITHM_MD5_SESS = "MD5-sess"
SUPPORTED_ALGORITHMS = (ALGORITHM_MD5, ALGORITHM_MD5_SESS)
QOP_AUTH = "auth"
QOP_AUTH_INT = "auth-int"

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_NC_RE = re.compile(r"[0-9A-Fa-f]{8}")
_HEX32_RE = re.compile(r"[0-9A-Fa-f]{32}")

_CHALLENGE_KNOWN = ("realm", "nonce", "opaque", "algorithm", "qop", "stale", "domain")
_CREDENTIAL_KNOWN = (
    "username",
    "realm",
    "nonce",
    "uri",
    "response",
    "algorithm",
    "cnonce",
    "opaque",
    "qop",
    "nc",
)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_auth_params(header_value: str) -> tuple[str, dict[str, str]]:
    """Split ``Scheme name=value, name="quoted", ...`` into the scheme and unquoted params.

    Parameter names are lower-cased. Raises ValueError on a missing scheme, a duplicate
    parameter, an unterminated quoted string or anything else that is not ``name=value``.
    """
    text = header_value.strip(" \t")
    match = _TOKEN_RE.match(text)
    if match is None:
        raise ValueError(f"auth header {text[:40]!r}: no scheme token")
    scheme = match.group(0)
    i = match.end()
    if i < len(text) and text[i] not in " \t":
        raise ValueError(f"auth header {text[:40]!r}: scheme must be followed by whitespace")
    params: dict[str, str] = {}
    n = len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        match = _TOKEN_RE.match(text, i)
        if match is None:
            raise ValueError(f"auth header: expected a parameter name at offset {i}")
        name = match.group(0).lower()
        i = match.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            raise ValueError(f"auth header: parameter {name!r} has no '=' (offset {i})")
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            start = i
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise ValueError(
                        f"auth header: unterminated quoted value of {name!r} (offset {start})"
                    )
                if text[i] == "\\" and i + 1 < n:
                    chars.append(text[i + 1])
                    i += 2
                elif text[i] == '"':
                    i += 1
                    break
                else:
                    chars.append(text[i])
                    i += 1
            value = "".join(chars)
        else:
            match = _TOKEN_RE.match(text, i)
            if match is None:
                raise ValueError(f"auth header: parameter {name!r} has no value (offset {i})")
            value = match.group(0)
            i = match.end()
        if name in params:
            raise ValueError(f"auth header: parameter {name!r} appears twice")
        params[name] = value
        while i < n and text[i] in " \t":
            i += 1
        if i < n:
            if text[i] != ",":
                raise ValueError(f"auth header: expected ',' at offset {i}, got {text[i]!r}")
            i += 1
    return scheme, params


def _require_digest(scheme: str) -> None:
    if scheme.lower() != SCHEME_DIGEST.lower():
        raise ValueError(f"auth scheme {scheme!r} is not Digest")


def _required(params: dict[str, str], name: str, what: str) -> str:
    value = params.get(name)
    if value is None:
        raise ValueError(f"{what} has no {name} parameter")
    return value


@dataclass
class Challenge:
    """A Digest challenge from ``WWW-Authenticate`` or ``Proxy-Authenticate``.

    `algorithm` and `qop` are None when the parameter was absent (MD5, RFC 2069 mode).
    """

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str | None = None
    qop: list[str] | None = None
    stale: bool = False
    domain: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, header_value: str) -> Challenge:
        """Parse a challenge header value."""
        scheme, params = parse_auth_params(header_value)
        _require_digest(scheme)
        qop_text = params.get("qop")
        qop = None if qop_text is None else [q.strip() for q in qop_text.split(",") if q.strip()]
        stale_text = params.get("stale")
        if stale_text is not None and stale_text.lower() not in ("true", "false"):
            raise ValueError(f"challenge stale={stale_text!r} is neither true nor false")
        return cls(
            realm=_required(params, "realm", "challenge"),
            nonce=_required(params, "nonce", "challenge"),
            opaque=params.get("opaque"),
            algorithm=params.get("algorithm"),
            qop=qop,
            stale=stale_text is not None and stale_text.lower() == "true",
            domain=params.get("domain"),
            extra={k: v for k, v in params.items() if k not in _CHALLENGE_KNOWN},
        )

    def to_header(self) -> str:
        """The header value: ``Digest realm="...", nonce="..."[, ...]``."""
        parts = [f"realm={_quote(self.realm)}"]
        if self.domain is not None:
            parts.append(f"domain={_quote(self.domain)}")
        parts.append(f"nonce={_quote(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.stale:
            parts.append("stale=TRUE")
        if self.algorithm is not None:
            parts.append(f"algorithm={self.algorithm}")
        if self.qop is not None:
            parts.append(f"qop={_quote(','.join(self.qop))}")
        parts.extend(f"{k}={_quote(v)}" for k, v in self.extra.items())
        return f"{SCHEME_DIGEST} " + ", ".join(parts)


@dataclass
class Credentials:
    """Digest credentials from ``Authorization`` or ``Proxy-Authorization``."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, header_value: str) -> Credentials:
        """Parse a credentials header value (qop requires nc and cnonce)."""
        scheme, params = parse_auth_params(header_value)
        _require_digest(scheme)
        credentials = cls(
            username=_required(params, "username", "credentials"),
            realm=_required(params, "realm", "credentials"),
            nonce=_required(params, "nonce", "credentials"),
            uri=_required(params, "uri", "credentials"),
            response=_required(params, "response", "credentials"),
            algorithm=params.get("algorithm"),
            cnonce=params.get("cnonce"),
            opaque=params.get("opaque"),
            qop=params.get("qop"),
            nc=params.get("nc"),
            extra={k: v for k, v in params.items() if k not in _CREDENTIAL_KNOWN},
        )
        if _HEX32_RE.fullmatch(credentials.response) is None:
            raise ValueError(f"credentials response {credentials.response[:40]!r} is not 32 hex")
        if credentials.qop is not None:
            if credentials.nc is None or credentials.cnonce is None:
                raise ValueError(f"credentials with qop={credentials.qop} need nc and cnonce")
            if _NC_RE.fullmatch(credentials.nc) is None:
                raise ValueError(f"credentials nc={credentials.nc!r} is not 8 hex digits")
        return credentials

    def to_header(self) -> str:
        """The header value, RFC 2617 style (qop, nc and algorithm unquoted)."""
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"uri={_quote(self.uri)}",
            f"response={_quote(self.response)}",
        ]
        if self.algorithm is not None:
            parts.append(f"algorithm={self.algorithm}")
        if self.cnonce is not None:
            parts.append(f"cnonce={_quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        parts.extend(f"{k}={_quote(v)}" for k, v in self.extra.items())
        return f"{SCHEME_DIGEST} " + ", ".join(parts)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _algorithm(algorithm: str | None) -> str:
    if algorithm is None:
        return ALGORITHM_MD5
    for known in SUPPORTED_ALGORITHMS:
        if algorithm.lower() == known.lower():
            return known
    raise ValueError(f"digest algorithm {algorithm!r} is not supported (MD5, MD5-sess only)")


def format_nc(nc: int | str) -> str:
    """The nonce count as 8 lower-case hex digits (``1`` -> ``00000001``)."""
    if isinstance(nc, str):
        if _NC_RE.fullmatch(nc) is None:
            raise ValueError(f"nonce count {nc!r} is not 8 hex digits")
        return nc
    if not 0 < nc <= 0xFFFFFFFF:
        raise ValueError(f"nonce count {nc} is not 1-0xffffffff")
    return f"{nc:08x}"


def compute_response(  # noqa: PLR0917 - the RFC 2617 inputs, in the RFC's order
    username: str,
    password: str,
    realm: str,
    method: str,
    uri: str,
    nonce: str,
    *,
    qop: str | None = None,
    nc: int | str = 1,
    cnonce: str | None = None,
    algorithm: str | None = ALGORITHM_MD5,
) -> str:
    """The request-digest (32 lower-case hex digits) of RFC 2617 §3.2.2.1.

    Without `qop` this is the RFC 2069 form ``H(HA1:nonce:HA2)``; with ``qop="auth"`` it is
    ``H(HA1:nonce:nc:cnonce:qop:HA2)``. MD5-sess needs `cnonce`. ``auth-int`` is a ValueError.
    """
    algo = _algorithm(algorithm)
    if qop is not None and qop != QOP_AUTH:
        raise ValueError(f"qop {qop!r} is not supported (only 'auth')")
    if (qop is not None or algo == ALGORITHM_MD5_SESS) and cnonce is None:
        raise ValueError(f"cnonce is required with qop={qop} algorithm={algo}")
    ha1 = _md5(f"{username}:{realm}:{password}")
    if algo == ALGORITHM_MD5_SESS:
        ha1 = _md5(f"{ha1}:{nonce}:{cnonce}")
    ha2 = _md5(f"{method}:{uri}")
    if qop is None:
        return _md5(f"{ha1}:{nonce}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{format_nc(nc)}:{cnonce}:{qop}:{ha2}")


def new_cnonce() -> str:
    """A fresh client nonce (64 random bits as hex)."""
    return secrets.token_hex(8)


def build_authorization(
    challenge: Challenge | str,
    method: str,
    uri: str,
    username: str,
    password: str,
    *,
    nc: int | str = 1,
    cnonce: str | None = None,
) -> Credentials:
    """Credentials answering `challenge` for a request `method` to `uri`.

    Uses qop=auth when the challenge offers it; a challenge offering only ``auth-int`` is a
    ValueError. A cnonce is generated when needed and not given.
    """
    if isinstance(challenge, str):
        challenge = Challenge.parse(challenge)
    algo = _algorithm(challenge.algorithm)
    qop: str | None = None
    if challenge.qop is not None:
        if QOP_AUTH not in challenge.qop:
            raise ValueError(f"challenge qop {','.join(challenge.qop)!r} does not offer 'auth'")
        qop = QOP_AUTH
    if (qop is not None or algo == ALGORITHM_MD5_SESS) and cnonce is None:
        cnonce = new_cnonce()
    response = compute_response(
        username,
        password,
        challenge.realm,
        method,
        uri,
        challenge.nonce,
        qop=qop,
        nc=nc,
        cnonce=cnonce,
        algorithm=algo,
    )
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        cnonce=cnonce,
        opaque=challenge.opaque,
        qop=qop,
        nc=format_nc(nc) if qop is not None else None,
    )


def verify(
    authorization: Credentials | str,
    password: str,
    method: str,
    *,
    challenge: Challenge | None = None,
) -> bool:
    """True when the credentials' response matches `password` (constant-time compare).

    With `challenge`, the realm, nonce and opaque must also be the ones issued. Unsupported
    algorithms or qop values raise ValueError rather than returning False.
    """
    if isinstance(authorization, str):
        authorization = Credentials.parse(authorization)
    if challenge is not None and (
        authorization.realm != challenge.realm
        or authorization.nonce != challenge.nonce
        or authorization.opaque != challenge.opaque
    ):
        return False
    expected = compute_response(
        authorization.username,
        password,
        authorization.realm,
        method,
        authorization.uri,
        authorization.nonce,
        qop=authorization.qop,
        nc=authorization.nc or 1,
        cnonce=authorization.cnonce,
        algorithm=authorization.algorithm,
    )
    return hmac.compare_digest(expected, authorization.response.lower())
