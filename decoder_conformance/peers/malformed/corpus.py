"""The malformed-SIP corpus: named groups of cases generated from templates (no I/O).

Written for this project in the spirit of PROTOS c07-sip and RFC 4475: every case is a
well-formed request to the account (message.request) with one thing broken, or a legal but
unusual form of one. A group is one requirement of spec/requirements.yaml: where RFC 3261 (or
RFC 3264) dictates the answer the group's `Expect` says which (420 with Unsupported, 415 with
Accept, 400, 481, 405/501 with Allow, 416, 500, a 2xx for a legal form); where it leaves the answer
open the group shares SIP-ROB-MALF-LIVE-001 and only liveness is judged (an OPTIONS answered after
every case, the API answering, no call left at the group's end).

Network hygiene: every host the corpus writes is the account's host or the suite's own address
(IP literals); no case carries a name a device could try to resolve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from decoder_conformance.peers.malformed import expect as ex
from decoder_conformance.peers.malformed.message import OFFER, Draft, Target, in_dialog, request

TRANSPORTS = ("udp", "tcp")
#: The largest UDP payload an IPv4 datagram carries (65535 - 20 - 8).
MAX_UDP_PAYLOAD = 65507
#: Between two writes of a fragmented case: the window in which an answer would be premature.
FRAGMENT_GAP = 0.01
UNKNOWN_TAG = "x-conformance-unknown"

Build = Callable[[Target], Sequence[bytes]]


@dataclass(frozen=True)
class Case:
    """One malformed (or unusual) request and what the device may answer to it.

    `build(target)` gives the bytes to write (several writes: a fragmented case). `framing`: over
    TCP the bytes end exactly where the message (per its Content-Length) ends, so the liveness
    OPTIONS can follow on the same connection; otherwise it goes on a new one. `tcp_expect`
    overrides `expect` over TCP. `gap`: seconds between writes, during which no answer may come.
    """

    id: str
    method: str
    build: Build
    expect: ex.Expect
    transports: tuple[str, ...] = TRANSPORTS
    framing: bool = True
    tcp_expect: ex.Expect | None = None
    gap: float = 0.0

    @property
    def group(self) -> str:
        """The group's name (the id's first part)."""
        return self.id.split("/", 1)[0]

    def expect_for(self, transport: str) -> ex.Expect:
        """What the case expects over `transport`."""
        if transport == "tcp" and self.tcp_expect is not None:
            return self.tcp_expect
        return self.expect

    def writes(self, target: Target) -> tuple[bytes, ...]:
        """The bytes to send to `target`, one item per write."""
        return tuple(self.build(target))


@dataclass(frozen=True)
class Group:
    """A named group of cases under one requirement."""

    name: str
    requirement: str
    title: str
    cases: tuple[Case, ...]
    #: The cases run inside a dialog the sender sets up first (Target.dialog).
    in_dialog: bool = False

    def for_transport(self, transport: str) -> tuple[Case, ...]:
        """The cases sent over `transport`."""
        return tuple(c for c in self.cases if transport in c.transports)


def _one(make: Callable[[Target, str], Draft], key: str) -> Build:
    return lambda target: (make(target, key).to_bytes(),)


def _case(
    group: str,
    name: str,
    method: str,
    make: Callable[[Target, str], Draft],
    expect: ex.Expect,
    *,
    transports: tuple[str, ...] = TRANSPORTS,
    framing: bool = True,
) -> Case:
    case_id = f"{group}/{name}"
    return Case(case_id, method, _one(make, case_id), expect, transports, framing)


def _replace_start(method: str, start: Callable[[Target], str | bytes]) -> Callable[..., Draft]:
    def make(target: Target, key: str) -> Draft:
        return request(method, target, key).with_start(start(target))

    return make


def _raw(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


# -- start line (liveness) -------------------------------------------------------------------------

BAD_METHODS: tuple[bytes, ...] = (
    b"INV@ITE",
    b"INV(ITE",
    b"INVITE;",
    b"INV:ITE",
    b'"INVITE"',
    b"<INVITE>",
    b"INV/ITE",
    b"INV,ITE",
    b"INV[ITE]",
    b"INV{ITE}",
    b"INV?ITE",
    b"INV=ITE",
    b"INV\\ITE",
    b"",
    b"INV\tITE",
    b"INVITE\x00",
    b"\x00INVITE",
    b"INV\x7fITE",
    "INVITÉ".encode(),
    b"I\xffNVITE",
    b"INV\x01ITE",
    b"INVITE" * 200,
)
SAMPLE_METHODS = ("INVITE", "OPTIONS", "BYE")


def start_line_method() -> list[Case]:
    cases = []
    for index, bad in enumerate(BAD_METHODS):
        for method in SAMPLE_METHODS:

            def start(target: Target, bad: bytes = bad) -> bytes:
                return bad + f" {target.uri} SIP/2.0".encode()

            cases.append(
                _case(
                    "start-line-method",
                    f"{method.lower()}-{index:02d}",
                    method,
                    _replace_start(method, start),
                    ex.OPEN,
                )
            )
    return cases


BAD_URIS: tuple[str, ...] = (
    "sip:",
    "sip:@{h}",
    "sip:{u}@",
    "sip:{u}@{h}:",
    "sip:{u}@{h}:abc",
    "sip:{u}@{h}:99999",
    "sip:{u}@{h}:-1",
    "sip:{u}@{h}:{p};;",
    "sip:{u}@{h}:{p};=x",
    "sip:{u}@{h}:{p}?",
    "sip:{u}@{h}:{p}?&&",
    "sip:{u}@{h}:{p}>",
    "<sip:{u}@{h}:{p}>",
    "sip:{u}@{h}:{p}%",
    "sip:{u}%zz@{h}:{p}",
    "sip:{u}@{h}:{p};transport=",
    "sip:{u}@@{h}:{p}",
    "sip:{u}@{h}:{p}:{p}",
    "sip::{u}@{h}:{p}",
    "sip:{u}@{h}:{p};lr;lr=;",
    "sip:{u}@{h}:{p}?Call-ID=x",
    "sip:" + "a" * 300 + "@{h}:{p}",
    "sip:{u}@{h}:{p};" + "p" * 500,
    "sip:%00@{h}:{p}",
    'sip:{u}@{h}:{p}"',
    "sip:{u}@{h}:{p};maddr",
    "sip:{u}@{h}:0",
    "sip:{u}@{h}:{p};transport=udp;transport=tcp",
)


def start_line_uri() -> list[Case]:
    cases = []
    for index, template in enumerate(BAD_URIS):
        for method in SAMPLE_METHODS:

            def start(target: Target, template: str = template, method: str = method) -> str:
                uri = template.format(u=target.user, h=target.host, p=target.port)
                return f"{method} {uri} SIP/2.0"

            cases.append(
                _case(
                    "start-line-uri",
                    f"{method.lower()}-{index:02d}",
                    method,
                    _replace_start(method, start),
                    ex.OPEN,
                )
            )
    return cases


BAD_VERSIONS: tuple[str, ...] = (
    "SIP/1.0",
    "SIP/3.0",
    "SIP/2.1",
    "SIP/2",
    "SIP/2.0.0",
    "SIP/20",
    "SIP /2.0",
    "SIP/ 2.0",
    "HTTP/1.1",
    "",
    "SIP/2.0x",
    "SIP-2.0",
    "SIP/7.0",
    "SIP/-2.0",
    "SIP/2.0/UDP",
)


def start_line_version() -> list[Case]:
    cases = []
    for index, version in enumerate(BAD_VERSIONS):
        for method in SAMPLE_METHODS:

            def start(target: Target, version: str = version, method: str = method) -> str:
                return f"{method} {target.uri} {version}"

            cases.append(
                _case(
                    "start-line-version",
                    f"{method.lower()}-{index:02d}",
                    method,
                    _replace_start(method, start),
                    ex.OPEN,
                )
            )
    return cases


SPACINGS: tuple[tuple[str, str], ...] = (
    ("double-sp-1", "{m}  {r} SIP/2.0"),
    ("double-sp-2", "{m} {r}  SIP/2.0"),
    ("leading-sp", " {m} {r} SIP/2.0"),
    ("trailing-sp", "{m} {r} SIP/2.0 "),
    ("tab-1", "{m}\t{r} SIP/2.0"),
    ("tab-2", "{m} {r}\tSIP/2.0"),
    ("no-version", "{m} {r}"),
    ("no-uri", "{m} SIP/2.0"),
    ("method-only", "{m}"),
    ("empty", ""),
    ("four-parts", "{m} {r} SIP/2.0 extra"),
    ("order", "SIP/2.0 {m} {r}"),
    ("uri-first", "{r} {m} SIP/2.0"),
    ("long-sp-run", "{m}" + " " * 1000 + "{r} SIP/2.0"),
    ("nbsp", "{m}\u00a0{r} SIP/2.0"),
)


def start_line_spacing() -> list[Case]:
    cases = []
    for name, template in SPACINGS:
        for method in SAMPLE_METHODS:

            def start(target: Target, template: str = template, method: str = method) -> str:
                return template.format(m=method, r=target.uri)

            cases.append(
                _case(
                    "start-line-spacing",
                    f"{method.lower()}-{name}",
                    method,
                    _replace_start(method, start),
                    ex.OPEN,
                )
            )
    # Line ends other than CRLF: a bare LF or CR throughout, or after the start line only.
    for name, eol in (("lf", b"\n"), ("cr", b"\r"), ("lfcr", b"\n\r")):
        for method in SAMPLE_METHODS:

            def make(target: Target, key: str, method: str = method, eol: bytes = eol) -> Draft:
                return request(method, target, key).with_eol(eol)

            cases.append(
                _case(
                    "start-line-spacing",
                    f"{method.lower()}-eol-{name}",
                    method,
                    make,
                    ex.OPEN,
                    framing=False,
                )
            )
    return cases


# -- unknown methods (405 or 501) ------------------------------------------------------------------

UNKNOWN_METHODS: tuple[str, ...] = (
    "XCONFORMANCE",
    "FOO",
    "invite",
    "Invite",
    "options",
    "INVITEX",
    "X-Y.Z",
    "A!%*_+`'~",
    "X",
    "X" * 64,
    "PROTOS",
    "SIP",
    "GET",
    "DO",
    "INVITE2",
    "Bye",
    "cancel",
    "ACKX",
    "M" + "1" * 200,
    "OPTION",
    "BYEBYE",
    "X-CONFORMANCE",
    "x.conformance",
    "ack",
    "REGISTERX",
    "NOTIFYX",
    "9",
    "~",
    "INFOX",
    "PRACKX",
)


def unknown_method() -> list[Case]:
    cases = []
    for index, method in enumerate(UNKNOWN_METHODS):
        for variant, body in (("plain", b""), ("sdp-body", OFFER)):

            def make(t: Target, key: str, method: str = method, body: bytes = body) -> Draft:
                return request(method, t, key, body=body)

            cases.append(
                _case("unknown-method", f"{variant}-{index:02d}", method, make, ex.METHOD_UNKNOWN)
            )
    return cases


# -- mandatory headers: missing, repeated, malformed -----------------------------------------------

MANDATORY = ("From", "To", "Call-ID", "CSeq")
MISSPELLED: dict[str, tuple[str, ...]] = {
    "From": ("Fromm", "Frm", "X-From"),
    "To": ("T0", "Too", "X-To"),
    "Call-ID": ("Call_ID", "CallID", "Call-IDs"),
    "CSeq": ("CSeq2", "C-Seq", "Seq"),
    "Via": ("Vai", "Via-", "Vias"),
}
RENDER_METHODS = ("INVITE", "OPTIONS")


def missing_mandatory() -> list[Case]:
    cases = []
    for method in RENDER_METHODS:
        for header in (*MANDATORY, "Via"):
            expect = ex.BAD_REQUEST_OR_SILENT if header == "Via" else ex.BAD_REQUEST
            for spelled in ("", *MISSPELLED[header]):

                def make(
                    t: Target, key: str, method: str = method, h: str = header, s: str = spelled
                ) -> Draft:
                    draft = request(method, t, key)
                    return draft.rename(h, s) if s else draft.drop(h)

                name = f"{method.lower()}-{header.lower()}-" + (spelled.lower() or "absent")
                cases.append(_case("missing-mandatory", name, method, make, expect))
        for first, second in (
            ("From", "To"),
            ("Call-ID", "CSeq"),
            ("From", "Call-ID"),
            ("To", "CSeq"),
            ("From", "CSeq"),
            ("To", "Call-ID"),
        ):

            def make_pair(
                t: Target, key: str, method: str = method, a: str = first, b: str = second
            ) -> Draft:
                return request(method, t, key).drop(a).drop(b)

            name = f"{method.lower()}-{first.lower()}-and-{second.lower()}"
            cases.append(_case("missing-mandatory", name, method, make_pair, ex.BAD_REQUEST))
    return cases


#: A second, well-formed but different value of each single-valued header.
SECOND: dict[str, str] = {
    "From": "<sip:second@{lh}>;tag=second",
    "To": "<sip:second@{lh}>",
    "Call-ID": "second-{lh}",
    "CSeq": "2 {m}",
}
COMPACT = {"From": "f", "To": "t", "Call-ID": "i", "CSeq": "cseq"}


def duplicate_mandatory() -> list[Case]:
    cases = []
    for method in RENDER_METHODS:
        for header in MANDATORY:
            for variant in ("identical", "different", "compact", "lowercase"):
                for where in ("adjacent", "last"):

                    def make(
                        t: Target,
                        key: str,
                        *,
                        method: str = method,
                        h: str = header,
                        v: str = variant,
                        w: str = where,
                    ) -> Draft:
                        draft = request(method, t, key)
                        value = draft.value(h) or b""
                        name: str = h
                        if v != "identical":
                            value = SECOND[h].format(lh=t.local[0], m=method).encode()
                        if v == "compact":
                            name = COMPACT[h]
                        elif v == "lowercase":
                            name = h.lower()
                        return draft.add(name, value, after=h if w == "adjacent" else None)

                    name = f"{method.lower()}-{header.lower()}-{variant}-{where}"
                    cases.append(_case("duplicate-mandatory", name, method, make, ex.BAD_REQUEST))
    return cases


BAD_VALUES: dict[str, tuple[str, ...]] = {
    "From": (
        "",
        "<sip:conformance@{lh}",
        "sip:conformance@{lh}>;tag=x1",
        "<>;tag=x2",
        "<sip:>;tag=x3",
        '"unterminated <sip:a@{lh}>;tag=x4',
        "<sip:a@{lh}>;tag=",
        "<sip:a@{lh}>;;tag=x5",
        "<sip:a@{lh}:abc>;tag=x6",
        "garbage",
        ";tag=x7",
        "<sip:a@{lh}> junk;tag=x8",
        "<<sip:a@{lh}>>;tag=x9",
    ),
    "To": (
        "",
        "<{uri}",
        "{uri}>",
        "<>",
        "<sip:>",
        '"unterminated <{uri}>',
        "<{uri}>;tag=",
        "<{uri}>;;",
        "garbage",
        "<{uri}> junk",
        "<<{uri}>>",
    ),
    "Call-ID": ("", "a b", "a,b", "@", "a@@b", "a;b", "a@", "\x01", "a\tb", "a=b c"),
    "Via": (
        "",
        "SIP/2.0/{T}",
        "SIP/2.0 {T} {lh}:{lp};branch={br}1",
        "SIP/2.0/{T} {lh}:abc;branch={br}2",
        "SIP/2.0/{T} {lh}:{lp};;branch={br}3",
        "SIP/2.0/ {lh}:{lp};branch={br}5",
        "SIP/2.0/{T} :{lp};branch={br}6",
        "SIP/2.0/{T} {lh}:{lp};branch={br}7,",
        "garbage",
        "SIP/2.0/{T} {lh}:{lp};branch={br}8;rport=abc",
        "SIP/2.0/{T} {lh}:70000;branch={br}9",
    ),
    "Max-Forwards": ("abc", "-1", "1.5", "", "0x46", "70 70", "+70", "99999999999"),
}


def mandatory_value() -> list[Case]:
    cases = []
    for method in RENDER_METHODS:
        for header, values in BAD_VALUES.items():
            for index, template in enumerate(values):

                def make(
                    t: Target, key: str, method: str = method, h: str = header, tpl: str = template
                ) -> Draft:
                    draft = request(method, t, key)
                    branch = t.ids(key).branch
                    value = tpl.format(
                        lh=t.local[0], lp=t.local[1], uri=t.uri, T=t.transport.upper(), br=branch
                    )
                    return draft.set(h, value)

                name = f"{method.lower()}-{header.lower()}-{index:02d}"
                cases.append(_case("mandatory-value", name, method, make, ex.BAD_REQUEST_OR_SILENT))
    return cases


# -- CSeq ------------------------------------------------------------------------------------------

CSEQ_MISMATCH: dict[str, tuple[str, ...]] = {
    "INVITE": ("BYE", "OPTIONS", "ACK", "CANCEL", "invite", "INVITEX", "REGISTER"),
    "OPTIONS": ("INVITE", "BYE", "options", "OPTIONSX", "ACK", "CANCEL", "REGISTER"),
}
CSEQ_BAD: tuple[str, ...] = (
    "abc {m}",
    "2147483648 {m}",
    "4294967295 {m}",
    "4294967296 {m}",
    "99999999999999999999 {m}",
    "-1 {m}",
    "1.0 {m}",
    "0x1 {m}",
    "",
    "{m}",
    "1",
    "1e3 {m}",
    "+1 {m}",
    "\uff11 {m}",
    "1 {m} extra",
)


def cseq() -> list[Case]:
    cases = []
    for method, others in CSEQ_MISMATCH.items():
        for other in others:

            def make(t: Target, key: str, method: str = method, other: str = other) -> Draft:
                return request(method, t, key).set("CSeq", f"1 {other}")

            name = f"{method.lower()}-says-{other}"
            cases.append(_case("cseq", name, method, make, ex.BAD_REQUEST))
        for index, template in enumerate(CSEQ_BAD):

            def make_bad(t: Target, key: str, method: str = method, tpl: str = template) -> Draft:
                return request(method, t, key).set("CSeq", tpl.format(m=method))

            name = f"{method.lower()}-number-{index:02d}"
            cases.append(_case("cseq", name, method, make_bad, ex.BAD_REQUEST_OR_SILENT))
    return cases


# -- Content-Length --------------------------------------------------------------------------------

JUNK: tuple[bytes, ...] = (
    b"x",
    b"xxxx",
    b"hello world",
    b"\x00\x00\x00",
    b"\xff\xfe",
    b"v=0\r\n",
    b"SIP/2.0 200 OK",
    b"garbage\r\n\r\n",
    b"\r\n",
    b" ",
    b"INVITE",
    b"x" * 1000,
    b"\r\n\r\n\r\n",
    b"\t",
    b"0123456789" * 10,
)


def content_length_short() -> list[Case]:
    """Octets after Content-Length's end: ignored over UDP, the next message over TCP."""
    cases = []
    for index, junk in enumerate(JUNK):

        def make(t: Target, key: str, junk: bytes = junk) -> Draft:
            draft = request("OPTIONS", t, key)
            return Draft(draft.start, draft.headers, junk)  # Content-Length: 0 stays

        cases.append(
            _case(
                "content-length-short",
                f"options-{index:02d}",
                "OPTIONS",
                make,
                ex.ANSWERED_2XX,
                framing=False,
            )
        )
    return cases


def content_length_long() -> list[Case]:
    """Over TCP: a Content-Length beyond what was sent; the message is not complete."""
    cases = []
    for extra in (1, 10, 100, 1000, 60000):
        for body in (b"", b"v=0\r\n"):

            def make(t: Target, key: str, extra: int = extra, body: bytes = body) -> Draft:
                return request("OPTIONS", t, key, body=b"").with_body(
                    body, "application/sdp" if body else None, length=str(len(body) + extra)
                )

            name = f"options-{'body' if body else 'empty'}-plus-{extra}"
            cases.append(
                _case(
                    "content-length-long",
                    name,
                    "OPTIONS",
                    make,
                    ex.NOT_2XX,
                    transports=("tcp",),
                    framing=False,
                )
            )
    return cases


BAD_LENGTHS: tuple[str, ...] = ("abc", "-1", "", "1.5", "0x0", "+0", "99999999999", "\uff10", "0 0")


def content_length_other() -> list[Case]:
    """Non-numeric or repeated Content-Length."""
    cases = []
    for index, value in enumerate(BAD_LENGTHS):

        def make(t: Target, key: str, value: str = value) -> Draft:
            return request("OPTIONS", t, key).set("Content-Length", value)

        cases.append(
            _case(
                "content-length-other",
                f"options-value-{index:02d}",
                "OPTIONS",
                make,
                ex.OPEN,
                framing=False,
            )
        )
    for name, values in (("same", ("0", "0")), ("differ", ("0", "5")), ("compact", ("0", "l:0"))):

        def make_twice(t: Target, key: str, values: tuple[str, str] = values) -> Draft:
            draft = request("OPTIONS", t, key).drop("Content-Length")
            first, second = values
            draft = draft.add("Content-Length", first)
            if second.startswith("l:"):
                return draft.add("l", second[2:])
            return draft.add("Content-Length", second)

        cases.append(
            _case(
                "content-length-other",
                f"options-twice-{name}",
                "OPTIONS",
                make_twice,
                ex.OPEN,
                framing=False,
            )
        )
    return cases


def content_length_beyond_datagram() -> list[Case]:
    """A UDP request whose datagram ends before its Content-Length (RFC 3261 §18.3: SHOULD 400)."""
    cases = []
    for extra in (1, 10, 1000):

        def make_long(t: Target, key: str, extra: int = extra) -> Draft:
            return request("OPTIONS", t, key).set("Content-Length", str(extra))

        cases.append(
            _case(
                "content-length-beyond-datagram",
                f"options-datagram-short-{extra}",
                "OPTIONS",
                make_long,
                ex.BAD_REQUEST,
                transports=("udp",),
            )
        )
    return cases


# -- Via and rport (legal forms) ------------------------------------------------------------------

VIA_FORMS: tuple[tuple[str, str], ...] = (
    ("rport", "SIP/2.0/{T} {lh}:{lp};branch={br};rport"),
    ("no-rport", "SIP/2.0/{T} {lh}:{lp};branch={br}"),
    ("rport-first", "SIP/2.0/{T} {lh}:{lp};rport;branch={br}"),
    ("received", "SIP/2.0/{T} {lh}:{lp};branch={br};received={lh}"),
    ("ttl", "SIP/2.0/{T} {lh}:{lp};branch={br};ttl=16;rport"),
    ("ext-param", "SIP/2.0/{T} {lh}:{lp};branch={br};x-conformance=1;rport"),
    ("ext-flag", "SIP/2.0/{T} {lh}:{lp};x-conformance;branch={br};rport"),
    ("branch-chars", "SIP/2.0/{T} {lh}:{lp};branch={br}-._!%*+`'~;rport"),
    ("lowercase-transport", "SIP/2.0/{t} {lh}:{lp};branch={br};rport"),
    ("lowercase-sip", "sip/2.0/{T} {lh}:{lp};branch={br};rport"),
    ("lws", "SIP / 2.0 / {T} {lh}:{lp} ; branch = {br} ; rport"),
    ("tab-lws", "SIP/2.0/{T}\t{lh}:{lp}\t;branch={br};rport"),
    ("long-branch", "SIP/2.0/{T} {lh}:{lp};branch={br}" + "a" * 200 + ";rport"),
    ("uppercase-params", "SIP/2.0/{T} {lh}:{lp};BRANCH={br};RPORT"),
    ("two-in-a-row", "SIP/2.0/{T} {lh}:{lp};branch={br};rport, SIP/2.0/UDP {lh}:9;branch={br}up"),
    (
        "three-in-a-row",
        "SIP/2.0/{T} {lh}:{lp};branch={br};rport,SIP/2.0/UDP {lh}:9;branch={br}a,"
        "SIP/2.0/TCP {lh}:9;branch={br}b",
    ),
    ("quoted-param", 'SIP/2.0/{T} {lh}:{lp};branch={br};x-q="a b";rport'),
)


def via_forms() -> list[Case]:
    cases = []
    for name, template in VIA_FORMS:

        def make(t: Target, key: str, tpl: str = template) -> Draft:
            lh, lp = t.local
            branch = t.ids(key).branch
            value = tpl.format(
                T=t.transport.upper(), t=t.transport.lower(), lh=lh, lp=lp, br=branch
            )
            return request("OPTIONS", t, key).set("Via", value)

        cases.append(_case("via-forms", name, "OPTIONS", make, ex.ANSWERED_2XX))
    for name, header in (("compact", "v"), ("lowercase", "via"), ("uppercase", "VIA")):

        def make_name(t: Target, key: str, header: str = header) -> Draft:
            return request("OPTIONS", t, key).rename("Via", header)

        cases.append(_case("via-forms", f"name-{name}", "OPTIONS", make_name, ex.ANSWERED_2XX))
    for count in (2, 5, 20):

        def make_rows(t: Target, key: str, count: int = count) -> Draft:
            draft = request("OPTIONS", t, key)
            lh = t.local[0]
            branch = t.ids(key).branch
            for hop in range(1, count):
                draft = draft.add("Via", f"SIP/2.0/UDP {lh}:9;branch={branch}h{hop}")
            return draft

        cases.append(_case("via-forms", f"rows-{count}", "OPTIONS", make_rows, ex.ANSWERED_2XX))
    return cases


# -- legal but unusual forms (a 2xx like the plain OPTIONS) ---------------------------------------


def _fold(draft: Draft, name: str, at: bytes, fold: bytes = b"\r\n ") -> Draft:
    """The first `name` row folded just before `at` (where the grammar allows LWS: before a
    SEMI or a LAQUOT, between CSeq's number and method)."""
    wanted = name.lower().encode()
    rows = []
    for n, v in draft.headers:
        folded = v.replace(at, fold + at, 1) if n.lower() == wanted and at in v else v
        rows.append((n, folded))
    return draft.raw_rows(rows)


def _valid_edits() -> list[tuple[str, Callable[[Draft, Target], Draft]]]:
    edits: list[tuple[str, Callable[[Draft, Target], Draft]]] = [
        ("fold-via", lambda d, t: _fold(d, "Via", b";branch")),
        ("fold-from", lambda d, t: _fold(d, "From", b";tag")),
        ("fold-to-tab", lambda d, t: _fold(d, "To", b"<", b"\r\n\t")),
        ("fold-cseq", lambda d, t: _fold(d, "CSeq", b" ")),
        ("fold-twice", lambda d, t: _fold(_fold(d, "Via", b";branch"), "Via", b";rport")),
        ("fold-many-spaces", lambda d, t: _fold(d, "Contact", b"<", b"\r\n        ")),
        (
            "compact-all",
            lambda d, t: (
                d.rename("Via", "v")
                .rename("From", "f")
                .rename("To", "t")
                .rename("Call-ID", "i")
                .rename("Contact", "m")
                .rename("Content-Length", "l")
            ),
        ),
        ("lower-names", lambda d, t: d.raw_rows((n.lower(), v) for n, v in d.headers)),
        ("upper-names", lambda d, t: d.raw_rows((n.upper(), v) for n, v in d.headers)),
        ("space-before-colon", lambda d, t: d.raw_rows((n + b" ", v) for n, v in d.headers)),
        ("tab-before-colon", lambda d, t: d.raw_rows((n + b"\t", v) for n, v in d.headers)),
        ("no-space-after-colon", lambda d, t: d.with_colon(b":")),
        ("spaces-around-colon", lambda d, t: d.with_colon(b"  :  ")),
        ("cseq-lws", lambda d, t: d.set("CSeq", "1  OPTIONS")),
        ("cseq-tab", lambda d, t: d.set("CSeq", "1\tOPTIONS")),
        ("cseq-max", lambda d, t: d.set("CSeq", "2147483647 OPTIONS")),
        ("cseq-zero", lambda d, t: d.set("CSeq", "0 OPTIONS")),
        ("cseq-leading-zeros", lambda d, t: d.set("CSeq", "0000001 OPTIONS")),
        ("max-forwards-255", lambda d, t: d.set("Max-Forwards", "255")),
        ("max-forwards-zeros", lambda d, t: d.set("Max-Forwards", "0070")),
        ("version-lowercase", lambda d, t: d.with_start(f"OPTIONS {t.uri} sip/2.0")),
        ("supported-unknown", lambda d, t: d.add("Supported", UNKNOWN_TAG)),
        ("supported-many", lambda d, t: d.add("Supported", "x-a, x-b, x-c").add("k", "x-d")),
        ("extension-headers", lambda d, t: d.add("X-Conformance", "1").add("X-Empty", "")),
        ("empty-subject", lambda d, t: d.add("Subject", "")),
        ("utf8-subject", lambda d, t: d.add("Subject", "Gr\u00fc\u00dfe \u4f60\u597d")),
        (
            "utf8-display",
            lambda d, t: d.set(
                "From",
                f'"J\u00fcrgen \u00e9" <sip:conformance@{t.local[0]}>;'
                f"tag={t.ids('valid').from_tag}",
            ),
        ),
        (
            "quoted-escapes",
            lambda d, t: d.set(
                "From",
                f'"a \\"b\\" \\\\c" <sip:conformance@{t.local[0]}>;tag={t.ids("valid").from_tag}',
            ),
        ),
        ("addr-spec-to", lambda d, t: d.set("To", t.uri)),
        (
            "addr-spec-from",
            lambda d, t: d.set(
                "From", f"sip:conformance@{t.local[0]};tag={t.ids('valid').from_tag}"
            ),
        ),
        (
            "from-params",
            lambda d, t: d.set(
                "From", f"<sip:conformance@{t.local[0]};x=1>;tag={t.ids('valid').from_tag};x-p=2"
            ),
        ),
        ("to-params", lambda d, t: d.set("To", f"<{t.uri};x=1>;x-p=2")),
        (
            "escaped-user",
            lambda d, t: d.with_start(
                f"OPTIONS sip:%{ord(t.user[0]):02X}{t.user[1:]}@{t.host}:{t.port} SIP/2.0"
            ),
        ),
        (
            "uri-params",
            lambda d, t: d.with_start(f"OPTIONS {t.uri};x-conformance=1;user=ip SIP/2.0"),
        ),
        (
            "uri-transport",
            lambda d, t: d.with_start(f"OPTIONS {t.uri};transport={t.transport} SIP/2.0"),
        ),
        (
            "accept",
            lambda d, t: d.add("Accept", "application/sdp, application/x-conformance;q=0.5"),
        ),
        ("allow", lambda d, t: d.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")),
        (
            "date-timestamp",
            lambda d, t: d.add("Date", "Sat, 13 Nov 2010 23:29:00 GMT").add(
                "Timestamp", "54.3 0.1"
            ),
        ),
        (
            "organization",
            lambda d, t: d.add("Organization", "conformance").add(
                "User-Agent", "conformance/1.0 (test)"
            ),
        ),
        ("long-header", lambda d, t: d.add("X-Long", "a" * 1000)),
        (
            "call-id-chars",
            lambda d, t: d.set("Call-ID", f"a-.!%*_+`'~()<>:\\\"/[]?{{}}-{t.ids('valid').branch}"),
        ),
        ("call-id-no-host", lambda d, t: d.set("Call-ID", t.ids("x").branch)),
        ("header-order", lambda d, t: d.raw_rows(reversed(d.headers))),
        (
            "contact-star-params",
            lambda d, t: d.set(
                "Contact",
                f'"conformance" <sip:conformance@{t.local[0]}:{t.local[1]};'
                f"transport={t.transport}>;expires=60;q=0.5",
            ),
        ),
    ]
    return edits


def valid_forms() -> list[Case]:
    cases = []
    for name, edit in _valid_edits():

        def make(t: Target, key: str, edit: Callable[[Draft, Target], Draft] = edit) -> Draft:
            return edit(request("OPTIONS", t, key), t)

        cases.append(_case("valid-forms", name, "OPTIONS", make, ex.ANSWERED_2XX))

    def no_length(t: Target, key: str) -> Draft:
        return request("OPTIONS", t, key).drop("Content-Length")

    cases.append(
        _case(
            "valid-forms",
            "udp-no-content-length",
            "OPTIONS",
            no_length,
            ex.ANSWERED_2XX,
            transports=("udp",),
        )
    )

    def leading_crlf(t: Target) -> Sequence[bytes]:
        return (b"\r\n\r\n" + request("OPTIONS", t, "valid-forms/tcp-leading-crlf").to_bytes(),)

    cases.append(
        Case(
            "valid-forms/tcp-leading-crlf",
            "OPTIONS",
            leading_crlf,
            ex.ANSWERED_2XX,
            transports=("tcp",),
        )
    )
    return cases


# -- Require (420) and content (415) ---------------------------------------------------------------

REQUIRE_SHAPES: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]], ...] = (
    ("single", (("Require", "x-conformance-a"),), ("x-conformance-a",)),
    (
        "two-in-row",
        (("Require", "x-conformance-a, x-conformance-b"),),
        ("x-conformance-a", "x-conformance-b"),
    ),
    (
        "two-rows",
        (("Require", "x-conformance-a"), ("Require", "x-conformance-b")),
        ("x-conformance-a", "x-conformance-b"),
    ),
    (
        "three-mixed",
        (("Require", "x-conformance-a,x-conformance-b"), ("Require", "x-conformance-c")),
        ("x-conformance-a", "x-conformance-b", "x-conformance-c"),
    ),
    ("uppercase", (("Require", "X-Conformance-Upper"),), ("X-Conformance-Upper",)),
    ("dotted", (("Require", "x.conformance.dotted"),), ("x.conformance.dotted",)),
    ("long", (("Require", "x-" + "c" * 100),), ("x-" + "c" * 100,)),
    (
        "lws",
        (("Require", "  x-conformance-a  ,   x-conformance-b "),),
        ("x-conformance-a", "x-conformance-b"),
    ),
    (
        "also-supported",
        (("Supported", "x-conformance-a"), ("Require", "x-conformance-a")),
        ("x-conformance-a",),
    ),
    (
        "with-proxy-require",
        (("Proxy-Require", "x-conformance-p"), ("Require", "x-conformance-a")),
        ("x-conformance-a",),
    ),
    ("lowercase-name", (("require", "x-conformance-a"),), ("x-conformance-a",)),
    ("token-chars", (("Require", "x-a.b!c%d*e_f+g`h'i~j"),), ("x-a.b!c%d*e_f+g`h'i~j",)),
)


def require() -> list[Case]:
    cases = []
    for method in ("INVITE", "OPTIONS", "BYE"):
        for name, rows, tags in REQUIRE_SHAPES:

            def make(
                t: Target, key: str, method: str = method, rows: tuple[tuple[str, str], ...] = rows
            ) -> Draft:
                draft = request(method, t, key)
                for header, value in rows:
                    draft = draft.add(header, value, after="CSeq")
                return draft

            cases.append(
                _case(
                    "require", f"{method.lower()}-{name}", method, make, ex.require_unknown(*tags)
                )
            )
    return cases


UNKNOWN_TYPES: tuple[str, ...] = (
    "application/x-conformance-unknown",
    "text/x-conformance",
    "image/x-conformance",
    "application/x-conformance+xml",
    "x-conformance/x-sub",
    "application/x-conformance-unknown; charset=utf-8",
    "APPLICATION/X-CONFORMANCE-UPPER",
    "application/x-conformance ; p=1",
    "message/x-conformance",
    "video/x-conformance",
    "audio/x-conformance",
    "application/x-sdp-like",
)
UNKNOWN_ENCODINGS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("unknown", (("Content-Encoding", "x-conformance-unknown"),)),
    ("uppercase", (("Content-Encoding", "X-CONFORMANCE-UPPER"),)),
    ("identity-then-unknown", (("Content-Encoding", "identity, x-conformance-second"),)),
    ("two-unknown", (("Content-Encoding", "x-conformance-a, x-conformance-b"),)),
    ("two-rows", (("Content-Encoding", "identity"), ("Content-Encoding", "x-conformance-row"))),
    ("compact", (("e", "x-conformance-compact"),)),
)
BODIES_WITHOUT_TYPE: tuple[tuple[str, bytes], ...] = (
    ("sdp", OFFER),
    ("text", b"hello"),
    ("binary", bytes(range(256))),
    ("one-byte", b"x"),
)


def content_type() -> list[Case]:
    cases = []
    for method in RENDER_METHODS:
        for index, media_type in enumerate(UNKNOWN_TYPES):

            def make(t: Target, key: str, method: str = method, mt: str = media_type) -> Draft:
                return request(method, t, key, body=b"conformance body\r\n", content_type=mt)

            cases.append(
                _case(
                    "content-type",
                    f"{method.lower()}-type-{index:02d}",
                    method,
                    make,
                    ex.TYPE_UNKNOWN,
                )
            )
        for name, rows in UNKNOWN_ENCODINGS:

            def make_enc(
                t: Target, key: str, method: str = method, rows: tuple[tuple[str, str], ...] = rows
            ) -> Draft:
                draft = request(method, t, key, body=OFFER)
                for header, value in rows:
                    draft = draft.add(header, value, after="Content-Type")
                return draft

            cases.append(
                _case(
                    "content-type",
                    f"{method.lower()}-encoding-{name}",
                    method,
                    make_enc,
                    ex.ENCODING_UNKNOWN,
                )
            )
        for name, body in BODIES_WITHOUT_TYPE:

            def make_untyped(
                t: Target, key: str, method: str = method, body: bytes = body
            ) -> Draft:
                return request(method, t, key, body=b"").with_body(body)

            cases.append(
                _case(
                    "content-type",
                    f"{method.lower()}-untyped-{name}",
                    method,
                    make_untyped,
                    ex.NO_CONTENT_TYPE,
                )
            )
    return cases


# -- SDP -------------------------------------------------------------------------------------------

SDP_HEAD = "v=0\r\no=conformance 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
SDP_UNUSABLE: tuple[tuple[str, str], ...] = (
    ("no-media", SDP_HEAD),
    ("audio-only", SDP_HEAD + "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"),
    ("no-rtpmap", SDP_HEAD + "m=video 40000 RTP/AVP 96\r\n"),
    ("vp8-only", SDP_HEAD + "m=video 40000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"),
    ("unknown-codec", SDP_HEAD + "m=video 40000 RTP/AVP 96\r\na=rtpmap:96 X-CONFORMANCE/90000\r\n"),
    (
        "unknown-proto",
        SDP_HEAD + "m=video 40000 X-CONFORMANCE/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
    ),
    ("pt-mismatch", SDP_HEAD + "m=video 40000 RTP/AVP 97\r\na=rtpmap:96 H264/90000\r\n"),
    ("port-text", SDP_HEAD + "m=video abc RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"),
    ("no-proto", SDP_HEAD + "m=video 40000\r\na=rtpmap:96 H264/90000\r\n"),
    ("bare-m", SDP_HEAD + "m=video\r\n"),
    ("empty-m", SDP_HEAD + "m=\r\n"),
    ("port-too-big", SDP_HEAD + "m=video 70000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"),
    ("port-negative", SDP_HEAD + "m=video -1 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"),
    ("no-format", SDP_HEAD + "m=video 40000 RTP/AVP\r\na=rtpmap:96 H264/90000\r\n"),
    ("port-count-text", SDP_HEAD + "m=video 40000/abc RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"),
    ("not-sdp", "hello, this is not a session description\r\n"),
    ("binary", "\x00\x01\x02\x03\xfe"),
    ("version-only", "v=0\r\n"),
    ("blank-lines", "\r\n\r\n\r\n"),
    ("offered-port-zero", SDP_HEAD + "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"),
    ("h265-only", SDP_HEAD + "m=video 40000 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\n"),
    ("format-text", SDP_HEAD + "m=video 40000 RTP/AVP abc\r\na=rtpmap:96 H264/90000\r\n"),
)
_M = "m=video 40000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\n"
SDP_GRAMMAR: tuple[tuple[str, str], ...] = (
    ("no-v", SDP_HEAD.replace("v=0\r\n", "") + _M),
    ("v1", SDP_HEAD.replace("v=0", "v=1") + _M),
    ("no-o", SDP_HEAD.replace("o=conformance 1 1 IN IP4 127.0.0.1\r\n", "") + _M),
    ("o-garbage", SDP_HEAD.replace("o=conformance 1 1 IN IP4 127.0.0.1", "o=garbage") + _M),
    ("no-s", SDP_HEAD.replace("s=-\r\n", "") + _M),
    ("no-t", SDP_HEAD.replace("t=0 0\r\n", "") + _M),
    ("line-without-equals", SDP_HEAD + "garbage\r\n" + _M),
    ("unknown-letter", SDP_HEAD + "x=conformance\r\n" + _M),
    (
        "m-before-c",
        "v=0\r\no=conformance 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        + _M
        + "c=IN IP4 127.0.0.1\r\n",
    ),
    ("a-before-v", "a=recvonly\r\n" + SDP_HEAD + _M),
    ("two-v", "v=0\r\n" + SDP_HEAD + _M),
    ("lf-only", (SDP_HEAD + _M).replace("\r\n", "\n")),
    ("trailing-space", (SDP_HEAD + _M).replace("\r\n", " \r\n")),
    ("nul-in-a", SDP_HEAD + _M + "a=x-conformance:\x00\r\n"),
    ("c-no-address", SDP_HEAD.replace("c=IN IP4 127.0.0.1", "c=IN IP4") + _M),
    ("c-ttl-text", SDP_HEAD.replace("c=IN IP4 127.0.0.1", "c=IN IP4 127.0.0.1/abc") + _M),
    ("c-ip5", SDP_HEAD.replace("IP4 127.0.0.1\r\nt", "IP5 127.0.0.1\r\nt") + _M),
    ("c-net-xx", SDP_HEAD.replace("c=IN", "c=XX") + _M),
    ("rtpmap-empty", SDP_HEAD + _M + "a=rtpmap:96\r\n"),
    ("fmtp-garbage", SDP_HEAD + _M + "a=fmtp:96 ;;;==;\r\n"),
    ("b-text", SDP_HEAD + "b=AS:abc\r\n" + _M),
    ("direction-twice", SDP_HEAD + _M + "a=sendonly\r\na=recvonly\r\n"),
    ("huge-attribute", SDP_HEAD + _M + "a=x-conformance:" + "a" * 8000 + "\r\n"),
    (
        "many-attributes",
        SDP_HEAD + _M + "".join(f"a=x-conformance-{n}:{n}\r\n" for n in range(100)),
    ),
    ("space-after-letter", SDP_HEAD.replace("s=-", "s =-") + _M),
    ("no-final-crlf", (SDP_HEAD + _M).rstrip("\r\n")),
)


def sdp_unusable() -> list[Case]:
    cases = []
    for name, body in SDP_UNUSABLE:

        def make(t: Target, key: str, body: str = body) -> Draft:
            return request("INVITE", t, key, body=body.encode("latin-1"))

        cases.append(_case("sdp-unusable", name, "INVITE", make, ex.VIDEO_NOT_TAKEN))
    return cases


def sdp_grammar() -> list[Case]:
    cases = []
    for name, body in SDP_GRAMMAR:

        def make(t: Target, key: str, body: str = body) -> Draft:
            return request("INVITE", t, key, body=body.encode("latin-1"))

        cases.append(_case("sdp-grammar", name, "INVITE", make, ex.OPEN))
    return cases


# -- encodings -------------------------------------------------------------------------------------

BAD_UTF8: tuple[tuple[str, bytes], ...] = (
    ("ff", b"\xff"),
    ("c3-28", b"\xc3\x28"),
    ("e2-28-a1", b"\xe2\x28\xa1"),
    ("f0-28-8c-bc", b"\xf0\x28\x8c\xbc"),
    ("overlong", b"\xc0\xaf"),
    ("surrogate", b"\xed\xa0\x80"),
    ("latin1", b"M\xfcller"),
    ("truncated", b"\xe4\xbd"),
    ("f8", b"\xf8\x88\x80\x80\x80"),
)


def _with_display(t: Target, key: str, method: str, raw: bytes) -> Draft:
    draft = request(method, t, key)
    tag = t.ids(key).from_tag
    return draft.set(
        "From", b'"' + raw + b'" <sip:conformance@' + t.local[0].encode() + b">;tag=" + tag.encode()
    )


ENCODING_PLACES: tuple[tuple[str, Callable[[Target, str, str, bytes], Draft]], ...] = (
    ("display", _with_display),
    ("subject", lambda t, k, m, raw: request(m, t, k).add(b"Subject", b"a " + raw + b" b")),
    ("extension", lambda t, k, m, raw: request(m, t, k).add(b"X-Conformance", raw)),
    (
        "uri-user",
        lambda t, k, m, raw: request(m, t, k).with_start(
            m.encode() + b" sip:" + raw + f"@{t.host}:{t.port} SIP/2.0".encode()
        ),
    ),
    ("header-name", lambda t, k, m, raw: request(m, t, k).add(b"X-" + raw, b"1")),
)
CONTROLS: tuple[tuple[str, Callable[[Target, str, str], Draft]], ...] = (
    ("nul-in-value", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\x00b")),
    ("nul-in-name", lambda t, k, m: request(m, t, k).add(b"Sub\x00ject", b"a")),
    ("nul-in-start", lambda t, k, m: request(m, t, k).with_start(f"{m} {t.uri}\x00 SIP/2.0")),
    (
        "nul-in-call-id",
        lambda t, k, m: request(m, t, k).set("Call-ID", b"a\x00b@" + t.local[0].encode()),
    ),
    (
        "nul-body",
        lambda t, k, m: request(m, t, k, body=b"\x00" * 16, content_type="application/sdp"),
    ),
    (
        "nul-after",
        lambda t, k, m: Draft(
            request(m, t, k).start, request(m, t, k).headers, request(m, t, k).body + b"\x00"
        ),
    ),
    ("ctrl-01", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\x01b")),
    ("ctrl-7f", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\x7fb")),
    ("ctrl-esc", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\x1b[31mb")),
    ("bare-cr", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\rb")),
    ("bare-lf", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\nb")),
    ("bare-cr-in-max-forwards", lambda t, k, m: request(m, t, k).set("Max-Forwards", b"70\r")),
    ("bare-lf-before-crlf", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\n")),
    (
        "bom",
        lambda t, k, m: request(m, t, k).with_start(
            b"\xef\xbb\xbf" + f"{m} {t.uri} SIP/2.0".encode()
        ),
    ),
    (
        "fold-first",
        lambda t, k, m: request(m, t, k).with_start(f"{m} {t.uri} SIP/2.0\r\n continued".encode()),
    ),
    ("fold-empty", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\r\n \r\n b")),
    ("fold-into-blank", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\r\n ")),
    ("fold-tab-only", lambda t, k, m: request(m, t, k).add(b"Subject", b"\r\n\t")),
    ("header-no-colon", lambda t, k, m: request(m, t, k).add(b"Subject", b"a\r\nNoColonHere")),
    ("utf16", lambda t, k, m: request(m, t, k).add(b"Subject", "conformance".encode("utf-16"))),
)


def encodings() -> list[Case]:
    cases = []
    for method in SAMPLE_METHODS:
        for place, render in ENCODING_PLACES:
            for name, raw in BAD_UTF8:

                def make(
                    t: Target,
                    key: str,
                    method: str = method,
                    render: Callable[[Target, str, str, bytes], Draft] = render,
                    raw: bytes = raw,
                ) -> Draft:
                    return render(t, key, method, raw)

                cases.append(
                    _case("encodings", f"{method.lower()}-{place}-{name}", method, make, ex.OPEN)
                )
        for name, control in CONTROLS:

            def make_control(
                t: Target,
                key: str,
                method: str = method,
                control: Callable[[Target, str, str], Draft] = control,
            ) -> Draft:
                return control(t, key, method)

            cases.append(
                _case(
                    "encodings",
                    f"{method.lower()}-{name}",
                    method,
                    make_control,
                    ex.OPEN,
                    framing=False,
                )
            )
    return cases


# -- sizes -----------------------------------------------------------------------------------------

SIZES = (1000, 1500, 4096, 8192, 16384, 32768, 49152, 60000, 65000, MAX_UDP_PAYLOAD, 65535)


def _pad_to(draft: Draft, size: int, how: str) -> Draft:
    base = len(draft.to_bytes())
    room = size - base
    if room <= 0:
        return draft
    if how == "one-header":
        return draft.add("Subject", "x" * max(room - len(b"Subject: \r\n"), 0))
    if how == "many-headers":
        row = len(b"X-Pad-0000: ") + 2
        count = 0
        while room > row + 64:
            value = "y" * 50
            draft = draft.add(f"X-Pad-{count:04d}", value)
            room -= row + 50
            count += 1
        return draft.add("X-Pad-End", "z" * max(room - len(b"X-Pad-End: \r\n"), 0))
    body = b"a=x-conformance:" + b"p" * 0
    filler = room - len(b"\r\n")
    lines = []
    while filler > 0:
        chunk = min(filler, 1000)
        line = b"a=x-conformance-pad:" + b"p" * max(chunk - 22, 0) + b"\r\n"
        lines.append(line)
        filler -= len(line)
    body = OFFER + b"".join(lines)
    return draft.with_body(body, "application/sdp")


def sizes() -> list[Case]:
    cases = []
    for size in SIZES:
        transports = TRANSPORTS if size <= MAX_UDP_PAYLOAD else ("tcp",)
        for how, method in (
            ("one-header", "OPTIONS"),
            ("many-headers", "OPTIONS"),
            ("sdp-body", "INVITE"),
        ):

            def make(
                t: Target, key: str, size: int = size, how: str = how, method: str = method
            ) -> Draft:
                return _pad_to(request(method, t, key), size, how)

            cases.append(
                _case("sizes", f"{how}-{size}", method, make, ex.OPEN, transports=transports)
            )
    return cases


# -- TCP fragments ---------------------------------------------------------------------------------


def _split_at(data: bytes, cuts: Iterable[int]) -> tuple[bytes, ...]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    pieces = []
    last = 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return tuple(pieces)


def _marker_cut(marker: bytes, offset: int = 0) -> Callable[[bytes], list[int]]:
    return lambda data: [data.index(marker) + offset] if marker in data else []


FRAGMENT_CUTS: tuple[tuple[str, Callable[[bytes], list[int]]], ...] = (
    ("after-1-byte", lambda d: [1]),
    ("mid-method", lambda d: [3]),
    ("after-method", _marker_cut(b" ", 1)),
    ("mid-uri", _marker_cut(b"@", 0)),
    ("before-start-crlf", _marker_cut(b" SIP/2.0\r\n", 8)),
    ("between-cr-lf", _marker_cut(b"\r\n", 1)),
    ("mid-header-name", _marker_cut(b"Call-ID", 4)),
    ("at-colon", _marker_cut(b"CSeq:", 4)),
    ("before-blank-line", _marker_cut(b"\r\n\r\n", 0)),
    ("inside-blank-line", _marker_cut(b"\r\n\r\n", 2)),
    ("inside-blank-line-3", _marker_cut(b"\r\n\r\n", 3)),
    ("mid-content-length", _marker_cut(b"Content-Length: ", 15)),
    ("mid-body", lambda d: [d.index(b"\r\n\r\n") + 10] if d.endswith(b"\r\n") else []),
    ("last-byte", lambda d: [len(d) - 1]),
    ("in-3", lambda d: [len(d) // 3, 2 * len(d) // 3]),
    ("in-5", lambda d: [len(d) * n // 5 for n in range(1, 5)]),
    ("in-10", lambda d: [len(d) * n // 10 for n in range(1, 10)]),
    ("bytes-32", lambda d: list(range(1, 33))),
    ("every-line", lambda d: [i + 2 for i in range(len(d)) if d[i : i + 2] == b"\r\n"]),
)


def tcp_fragments() -> list[Case]:
    cases = []
    for body in (b"", OFFER):
        for name, cut in FRAGMENT_CUTS:
            case_id = f"tcp-fragments/{'sdp' if body else 'empty'}-{name}"

            def build(
                t: Target,
                key: str = case_id,
                cut: Callable[[bytes], list[int]] = cut,
                body: bytes = body,
            ) -> tuple[bytes, ...]:
                data = request("OPTIONS", t, key, body=body).to_bytes()
                return _split_at(data, cut(data))

            cases.append(
                Case(
                    case_id,
                    "OPTIONS",
                    build,
                    ex.ANSWERED_2XX,
                    transports=("tcp",),
                    gap=FRAGMENT_GAP,
                )
            )

    def two_in_one(t: Target) -> tuple[bytes, ...]:
        first = request("OPTIONS", t, "tcp-fragments/two-in-one-write").to_bytes()
        second = request("OPTIONS", t, "tcp-fragments/two-in-one-write/2").to_bytes()
        return (first + second,)

    def half_of_next(t: Target) -> tuple[bytes, ...]:
        # The case's own message is the second: the first is whole in write 1 and may be
        # answered during the gap, the second must not be before its last write.
        first = request("OPTIONS", t, "tcp-fragments/with-half-of-next/1").to_bytes()
        second = request("OPTIONS", t, "tcp-fragments/with-half-of-next").to_bytes()
        middle = len(second) // 2
        return (first + second[:middle], second[middle:])

    cases.append(
        Case(
            "tcp-fragments/two-in-one-write",
            "OPTIONS",
            two_in_one,
            ex.ANSWERED_2XX,
            transports=("tcp",),
        )
    )
    cases.append(
        Case(
            "tcp-fragments/with-half-of-next",
            "OPTIONS",
            half_of_next,
            ex.ANSWERED_2XX,
            transports=("tcp",),
            gap=FRAGMENT_GAP,
        )
    )

    def require_split(t: Target) -> tuple[bytes, ...]:
        draft = request("INVITE", t, "tcp-fragments/invite-require-split").add(
            "Require", UNKNOWN_TAG, after="CSeq"
        )
        data = draft.to_bytes()
        return _split_at(data, [len(data) * n // 4 for n in range(1, 4)])

    cases.append(
        Case(
            "tcp-fragments/invite-require-split",
            "INVITE",
            require_split,
            ex.require_unknown(UNKNOWN_TAG),
            transports=("tcp",),
            gap=FRAGMENT_GAP,
        )
    )
    return cases


# -- dialogs --------------------------------------------------------------------------------------


def dialog_unknown() -> list[Case]:
    """Requests naming a dialog the device does not have (To tag, §12.2.2)."""
    cases = []
    shapes: tuple[tuple[str, Callable[[Target, str], Draft]], ...] = (
        ("bye", lambda t, k: request("BYE", t, k, to_tag="x-conformance-nodialog", cseq=2)),
        ("bye-long-tag", lambda t, k: request("BYE", t, k, to_tag="n" * 100, cseq=2)),
        ("bye-token-tag", lambda t, k: request("BYE", t, k, to_tag="a.b!c%d*e_f+g`h'i~j", cseq=2)),
        ("bye-cseq-1", lambda t, k: request("BYE", t, k, to_tag="x-conformance-1", cseq=1)),
        (
            "bye-cseq-max",
            lambda t, k: request("BYE", t, k, to_tag="x-conformance-2", cseq=2**31 - 1),
        ),
        ("bye-cseq-0", lambda t, k: request("BYE", t, k, to_tag="x-conformance-3", cseq=0)),
        (
            "bye-max-forwards-0",
            lambda t, k: request("BYE", t, k, to_tag="x-conformance-4", cseq=2).set(
                "Max-Forwards", "0"
            ),
        ),
        (
            "bye-with-route",
            lambda t, k: request("BYE", t, k, to_tag="x-conformance-5", cseq=2).add(
                "Route", f"<sip:{t.host}:{t.port};lr>", after="Max-Forwards"
            ),
        ),
        (
            "bye-compact",
            lambda t, k: (
                request("BYE", t, k, to_tag="x-conformance-6", cseq=2)
                .rename("To", "t")
                .rename("From", "f")
                .rename("Call-ID", "i")
            ),
        ),
        (
            "bye-with-body",
            lambda t, k: request("BYE", t, k, to_tag="x-conformance-7", cseq=2, body=OFFER),
        ),
        (
            "bye-reason",
            lambda t, k: request("BYE", t, k, to_tag="x-conformance-8", cseq=2).add(
                "Reason", 'SIP;cause=200;text="conformance"'
            ),
        ),
        (
            "bye-no-contact",
            lambda t, k: request("BYE", t, k, to_tag="x-conformance-9", cseq=2).drop("Contact"),
        ),
    )
    for name, make in shapes:
        cases.append(_case("dialog-unknown", name, "BYE", make, ex.NOT_FOUND_DIALOG))
    return cases


def dialog_should() -> list[Case]:
    """Out-of-dialog BYE without a To tag and CANCEL matching no transaction (SHOULD 481)."""
    cases = []
    for index in range(6):

        def make_bye(t: Target, key: str, index: int = index) -> Draft:
            return request("BYE", t, key, cseq=index + 1)

        cases.append(
            _case("dialog-should", f"bye-no-tag-{index}", "BYE", make_bye, ex.NOT_FOUND_DIALOG)
        )
    for index in range(8):

        def make_cancel(t: Target, key: str, index: int = index) -> Draft:
            draft = request("CANCEL", t, key, cseq=index + 1)
            return draft.set("CSeq", f"{index + 1} CANCEL")

        cases.append(
            _case(
                "dialog-should",
                f"cancel-no-transaction-{index}",
                "CANCEL",
                make_cancel,
                ex.NOT_FOUND_DIALOG,
            )
        )
    return cases


def dialog_existing() -> list[Case]:
    """Requests in the dialog the sender set up (Target.dialog), each leaving it up."""

    def wrong(field: str) -> Callable[[Target, str], Draft]:
        def make(t: Target, key: str) -> Draft:
            draft = in_dialog("BYE", t, key)
            if field == "to":
                return draft.set("To", f"<{t.uri}>;tag=x-conformance-wrong")
            if field == "from":
                return draft.set("From", f"<sip:conformance@{t.local[0]}>;tag=x-conformance-wrong")
            return draft.set("Call-ID", f"x-conformance-wrong@{t.local[0]}")

        return make

    def lower(method: str, by: int) -> Callable[[Target, str], Draft]:
        def make(t: Target, key: str) -> Draft:
            if t.dialog is None:
                raise ValueError("an in-dialog case needs a target with a dialog")
            return in_dialog(method, t, key, cseq=t.dialog.cseq - by)

        return make

    def refused(kind: str) -> Callable[[Target, str], Draft]:
        def make(t: Target, key: str) -> Draft:
            draft = in_dialog("BYE", t, key)
            if kind == "require":
                return draft.add("Require", UNKNOWN_TAG)
            if kind == "type":
                return draft.with_body(b"conformance\r\n", "application/x-conformance-unknown")
            return draft.drop("Call-ID")

        return make

    cases = [
        _case("dialog-existing", "bye-wrong-to-tag", "BYE", wrong("to"), ex.NOT_FOUND_DIALOG),
        _case("dialog-existing", "bye-wrong-from-tag", "BYE", wrong("from"), ex.NOT_FOUND_DIALOG),
        _case("dialog-existing", "bye-wrong-call-id", "BYE", wrong("call-id"), ex.NOT_FOUND_DIALOG),
        _case("dialog-existing", "bye-cseq-lower", "BYE", lower("BYE", 1), ex.OUT_OF_ORDER),
        _case("dialog-existing", "bye-cseq-much-lower", "BYE", lower("BYE", 99), ex.OUT_OF_ORDER),
        _case(
            "dialog-existing", "options-cseq-lower", "OPTIONS", lower("OPTIONS", 1), ex.OUT_OF_ORDER
        ),
        _case(
            "dialog-existing",
            "bye-require-unknown",
            "BYE",
            refused("require"),
            ex.require_unknown(UNKNOWN_TAG),
        ),
        _case("dialog-existing", "bye-unknown-type", "BYE", refused("type"), ex.TYPE_UNKNOWN),
        _case("dialog-existing", "bye-no-call-id", "BYE", refused("call-id"), ex.BAD_REQUEST),
    ]
    return cases


# -- Request-URI scheme, Max-Forwards --------------------------------------------------------------

SCHEMES: tuple[str, ...] = (
    "x-conformance:{u}@{h}",
    "http://{h}:{p}/",
    "mailto:{u}@{h}",
    "urn:x-conformance:{u}",
    "im:{u}@{h}",
    "pres:{u}@{h}",
    "h323:{u}@{h}",
    "x:y",
)


def uri_scheme() -> list[Case]:
    cases = []
    for index, template in enumerate(SCHEMES):
        for method in RENDER_METHODS:

            def make(t: Target, key: str, tpl: str = template, method: str = method) -> Draft:
                uri = tpl.format(u=t.user, h=t.host, p=t.port)
                return request(method, t, key).with_start(f"{method} {uri} SIP/2.0")

            cases.append(
                _case(
                    "uri-scheme", f"{method.lower()}-{index:02d}", method, make, ex.SCHEME_UNKNOWN
                )
            )
    return cases


def max_forwards() -> list[Case]:
    cases = []
    for name, value in (("zero", "0"), ("zeros", "00"), ("zero-lws", " 0 "), ("zero-tab", "\t0")):

        def make(t: Target, key: str, value: str = value) -> Draft:
            return request("OPTIONS", t, key).set("Max-Forwards", value)

        cases.append(
            _case("max-forwards", f"options-{name}", "OPTIONS", make, ex.MAX_FORWARDS_ZERO)
        )
    return cases


def max_forwards_other() -> list[Case]:
    """Max-Forwards absent or repeated: RFC 3261 names no answer for a UAS."""
    cases = []
    for method in SAMPLE_METHODS:

        def absent(t: Target, key: str, method: str = method) -> Draft:
            return request(method, t, key).drop("Max-Forwards")

        def twice(t: Target, key: str, method: str = method) -> Draft:
            return request(method, t, key).add("Max-Forwards", "10", after="Max-Forwards")

        cases.append(
            _case("max-forwards-other", f"{method.lower()}-absent", method, absent, ex.OPEN)
        )
        cases.append(_case("max-forwards-other", f"{method.lower()}-twice", method, twice, ex.OPEN))
    return cases


# -- the corpus ------------------------------------------------------------------------------------

LIVE = "SIP-ROB-MALF-LIVE-001"
GROUPS: tuple[tuple[str, str, str, Callable[[], list[Case]]], ...] = (
    ("start-line-method", LIVE, "method tokens that are not tokens", start_line_method),
    ("start-line-uri", LIVE, "Request-URIs that do not parse", start_line_uri),
    ("start-line-version", LIVE, "SIP-Versions other than SIP/2.0", start_line_version),
    (
        "start-line-spacing",
        LIVE,
        "start lines with extra, missing or other separators",
        start_line_spacing,
    ),
    (
        "unknown-method",
        "SIP-ROB-MALF-METHOD-001",
        "well-formed methods the device cannot know",
        unknown_method,
    ),
    (
        "missing-mandatory",
        "SIP-ROB-MALF-MISSING-001",
        "From, To, Call-ID, CSeq or Via missing",
        missing_mandatory,
    ),
    (
        "duplicate-mandatory",
        "SIP-ROB-MALF-DUP-001",
        "From, To, Call-ID or CSeq twice",
        duplicate_mandatory,
    ),
    (
        "mandatory-value",
        "SIP-ROB-MALF-VALUE-001",
        "From, To, Call-ID, Via or Max-Forwards values that do not parse",
        mandatory_value,
    ),
    ("cseq", "SIP-ROB-MALF-CSEQ-001", "CSeq method mismatch, non-numeric or above 2**31", cseq),
    (
        "content-length-short",
        "SIP-ROB-MALF-CLEN-001",
        "octets beyond Content-Length",
        content_length_short,
    ),
    (
        "content-length-long",
        "SIP-ROB-MALF-CLEN-001",
        "a Content-Length beyond the bytes sent (TCP)",
        content_length_long,
    ),
    (
        "content-length-other",
        LIVE,
        "Content-Length not a number or repeated",
        content_length_other,
    ),
    (
        "content-length-beyond-datagram",
        "SIP-ROB-MALF-CLEN-002",
        "a UDP datagram that ends before its Content-Length",
        content_length_beyond_datagram,
    ),
    (
        "via-forms",
        "SIP-ROB-MALF-VIA-001",
        "legal Via forms: rport, received, parameters, several hops",
        via_forms,
    ),
    (
        "valid-forms",
        "SIP-ROB-MALF-VALID-001",
        "legal but unusual forms: folding, compact names, LWS, case",
        valid_forms,
    ),
    ("require", "SIP-ROB-MALF-REQUIRE-001", "Require naming option tags the device lacks", require),
    (
        "content-type",
        "SIP-ROB-MALF-CTYPE-001",
        "bodies of unknown type or encoding, or untyped",
        content_type,
    ),
    (
        "sdp-unusable",
        "SIP-ROB-MALF-SDP-001",
        "INVITE offers with no H.264 video the device can take",
        sdp_unusable,
    ),
    (
        "sdp-grammar",
        LIVE,
        "INVITE offers breaking RFC 4566 grammar around a usable video line",
        sdp_grammar,
    ),
    ("encodings", LIVE, "bad UTF-8, NUL and control bytes, bare CR/LF, odd folding", encodings),
    ("sizes", LIVE, "messages from 1 KB to 64 KB", sizes),
    (
        "tcp-fragments",
        "SIP-ROB-MALF-FRAG-001",
        "a message split over several TCP writes",
        tcp_fragments,
    ),
    (
        "dialog-unknown",
        "SIP-ROB-MALF-DIALOG-001",
        "BYE with a To tag naming no dialog",
        dialog_unknown,
    ),
    (
        "dialog-should",
        "SIP-ROB-MALF-DIALOG-002",
        "BYE without To tag, CANCEL matching no transaction",
        dialog_should,
    ),
    ("uri-scheme", "SIP-ROB-MALF-SCHEME-001", "Request-URI schemes other than sip", uri_scheme),
    ("max-forwards", "SIP-ROB-MALF-MAXFWD-001", "OPTIONS with Max-Forwards 0", max_forwards),
    ("max-forwards-other", LIVE, "Max-Forwards absent or twice", max_forwards_other),
)
DIALOG_GROUP = (
    "dialog-existing",
    "SIP-ROB-MALF-DIALOG-001",
    "requests in an existing dialog with wrong tags, CSeq or content",
    dialog_existing,
)


@cache
def corpus() -> tuple[Group, ...]:
    """Every group, in order (the same objects on every call)."""
    groups = [Group(name, req, title, tuple(make())) for name, req, title, make in GROUPS]
    name, req, title, make = DIALOG_GROUP
    groups.append(Group(name, req, title, tuple(make()), in_dialog=True))
    return tuple(groups)


def group(name: str) -> Group:
    """The group called `name`."""
    for found in corpus():
        if found.name == name:
            return found
    raise KeyError(name)


def all_cases() -> tuple[Case, ...]:
    """Every case of every group."""
    return tuple(case for g in corpus() for case in g.cases)
