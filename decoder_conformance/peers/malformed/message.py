"""The raw request a malformed-SIP case starts from, and the edits that break it.

Written by hand on purpose: wire/sip.py builds only well-formed messages (it refuses a bad token,
a repeated header or a wrong Content-Length), and a corpus must write exactly the bytes it means,
including ones no codec would produce (bare CR, NUL, bad UTF-8, a Content-Length that lies).

A `Draft` is a start line, header rows and a body, all bytes, rendered with CRLF (or the draft's
own line end). Every value that identifies the request (branch, Call-ID, tags) comes from a
`Target` and the case's key, so one target renders one case to the same bytes every time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

CRLF = b"\r\n"
BRANCH_COOKIE = "z9hG4bK"
#: A minimal H.264 offer: an INVITE an auto-answering account takes when nothing else is wrong.
OFFER = (
    b"v=0\r\no=conformance 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=video 40000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\n"
)


@dataclass(frozen=True)
class Dialog:
    """A dialog the sender set up with the device: what in-dialog requests must carry."""

    call_id: str
    local_tag: str
    remote_tag: str
    cseq: int
    remote_target: str


@dataclass(frozen=True)
class Target:
    """Where one case goes and where it comes from: everything a template needs.

    `uri` is the account's URI (sip:user@host:port), `local` the suite's socket address (the Via
    sent-by and Contact), `transport` "udp" or "tcp", `nonce` makes the identifiers of one run
    differ from another's (a device keeps transactions for 32 s).
    """

    user: str
    host: str
    port: int
    local: tuple[str, int]
    transport: str
    nonce: str
    dialog: Dialog | None = None

    @property
    def uri(self) -> str:
        """The account's Request-URI."""
        return f"sip:{self.user}@{self.host}:{self.port}"

    def ids(self, key: str) -> Ids:
        """The branch, Call-ID and From tag of the request `key` names (deterministic)."""
        digest = hashlib.sha256(f"{self.nonce}/{key}".encode()).hexdigest()
        return Ids(
            branch=f"{BRANCH_COOKIE}{digest[:20]}",
            call_id=f"{digest[20:44]}@{self.local[0]}",
            from_tag=digest[44:56],
        )


@dataclass(frozen=True)
class Ids:
    """The identifiers of one request."""

    branch: str
    call_id: str
    from_tag: str


def _b(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


@dataclass(frozen=True)
class Draft:
    """A request as bytes: start line, header rows (name, value) and body."""

    start: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes = b""
    eol: bytes = CRLF
    #: Between a header's name and value (RFC 3261 allows any LWS around the colon).
    colon: bytes = b": "

    def to_bytes(self) -> bytes:
        """The message on the wire."""
        lines = [self.start, *(name + self.colon + value for name, value in self.headers)]
        return self.eol.join(lines) + self.eol + self.eol + self.body

    # -- edits (each returns a new draft) --------------------------------------------------------

    def _match(self, name: bytes | str) -> bytes:
        return _b(name).lower()

    def value(self, name: str) -> bytes | None:
        """The first value of `name` (exact name, any case), if present."""
        wanted = self._match(name)
        return next((v for n, v in self.headers if n.lower() == wanted), None)

    def drop(self, name: str) -> Draft:
        """Without every row named `name`."""
        wanted = self._match(name)
        return replace(self, headers=tuple((n, v) for n, v in self.headers if n.lower() != wanted))

    def set(self, name: str, value: str | bytes) -> Draft:
        """Every row named `name` gets `value` (added at the end when there is none)."""
        wanted = self._match(name)
        if not any(n.lower() == wanted for n, _ in self.headers):
            return self.add(name, value)
        return replace(
            self,
            headers=tuple((n, _b(value) if n.lower() == wanted else v) for n, v in self.headers),
        )

    def rename(self, name: str, new: str | bytes) -> Draft:
        """The rows named `name` under the name `new` (same values)."""
        wanted = self._match(name)
        return replace(
            self, headers=tuple((_b(new) if n.lower() == wanted else n, v) for n, v in self.headers)
        )

    def add(self, name: str | bytes, value: str | bytes, *, after: str | None = None) -> Draft:
        """With one more row, at the end or right after the first row named `after`."""
        row = (_b(name), _b(value))
        if after is None:
            return replace(self, headers=(*self.headers, row))
        wanted = self._match(after)
        index = next(
            (i + 1 for i, (n, _) in enumerate(self.headers) if n.lower() == wanted),
            len(self.headers),
        )
        return replace(self, headers=(*self.headers[:index], row, *self.headers[index:]))

    def raw_rows(self, rows: Iterable[tuple[bytes, bytes]]) -> Draft:
        """With these rows in place of the current ones."""
        return replace(self, headers=tuple(rows))

    def with_start(self, start: str | bytes) -> Draft:
        """With another start line."""
        return replace(self, start=_b(start))

    def with_body(
        self, body: bytes, content_type: str | None = None, *, length: str | None = None
    ) -> Draft:
        """With `body` (Content-Type set when given) and Content-Length its size or `length`."""
        draft = replace(self, body=body)
        if content_type is not None:
            draft = draft.drop("Content-Length").set("Content-Type", content_type)
        return draft.drop("Content-Length").add(
            "Content-Length", length if length is not None else str(len(body))
        )

    def with_colon(self, colon: bytes) -> Draft:
        """With another separator between header names and values."""
        return replace(self, colon=colon)

    def with_eol(self, eol: bytes) -> Draft:
        """With another line end (LF only, CR only)."""
        return replace(self, eol=eol)


def request(
    method: str,
    target: Target,
    key: str,
    *,
    uri: str | None = None,
    cseq: int = 1,
    to_tag: str | None = None,
    rport: bool = True,
    body: bytes | None = None,
    content_type: str = "application/sdp",
) -> Draft:
    """A well-formed request from the suite to the account; an INVITE carries OFFER by default.

    Its Via names the suite's socket (with rport unless told not to), so a UDP answer comes back
    to the socket that sent it however the device reads RFC 3261 §18.2.2 and RFC 3581.
    """
    ids = target.ids(key)
    host, port = target.local
    via = f"SIP/2.0/{target.transport.upper()} {host}:{port};branch={ids.branch}"
    if rport:
        via += ";rport"
    to = f"<{target.uri}>" + (f";tag={to_tag}" if to_tag else "")
    rows = [
        ("Via", via),
        ("Max-Forwards", "70"),
        ("From", f"<sip:conformance@{host}>;tag={ids.from_tag}"),
        ("To", to),
        ("Call-ID", ids.call_id),
        ("CSeq", f"{cseq} {method}"),
        ("Contact", f"<sip:conformance@{host}:{port}>"),
    ]
    draft = Draft(
        _b(f"{method} {uri or target.uri} SIP/2.0"),
        tuple((_b(n), _b(v)) for n, v in rows),
    )
    if body is None:
        body = OFFER if method == "INVITE" else b""
    if body:
        return draft.with_body(body, content_type)
    return draft.with_body(b"")


def in_dialog(method: str, target: Target, key: str, *, cseq: int | None = None) -> Draft:
    """A request inside the target's dialog (its Call-ID, tags and next CSeq)."""
    dialog = target.dialog
    if dialog is None:
        raise ValueError("in_dialog needs a target with a dialog")
    draft = request(
        method,
        target,
        key,
        uri=dialog.remote_target,
        cseq=dialog.cseq + 1 if cseq is None else cseq,
        to_tag=dialog.remote_tag,
        body=b"",
    )
    host = target.local[0]
    return draft.set("Call-ID", dialog.call_id).set(
        "From", f"<sip:conformance@{host}>;tag={dialog.local_tag}"
    )
