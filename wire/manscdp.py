"""MANSCDP XML bodies of GB/T 28181 (2016/2022 Annex A.2): model, builder and parser, no I/O.

A GB28181 MESSAGE carries ``Content-Type: Application/MANSCDP+xml`` and a small XML document: a root
element ``Query``, ``Response``, ``Notify`` or ``Control`` whose first children are ``CmdType``,
``SN`` and ``DeviceID``, then the fields of that command. This module models one such document as a
:class:`Message` (root, CmdType, SN, DeviceID and the remaining children as an ordered :class:`Node`
tree), builds bytes from it and parses bytes into it. Typed views convert to and from a
:class:`Message` for the commands a decoder meets: :class:`Keepalive`, :class:`DeviceInfo`,
:class:`DeviceStatus`, :class:`Catalog` (with :func:`split_catalog` / :func:`collect_catalog`) and
:class:`BasicParam` (the ConfigDownload answer); queries come from :func:`make_query` and
:func:`config_download_query`.

Encoding (2016 §6.10 "should" GB2312, 2022 §6.10 "shall" GB18030; platforms mis-decode otherwise,
WVP #1344/#1461): :func:`build` writes GB2312 unless asked for GB18030 or UTF-8, and the XML
declaration names the codec actually used. :func:`parse` accepts GB2312, GBK, GB18030 and UTF-8,
honours the declaration, and *reports* what does not match it in
:attr:`ParseResult.detected_problems` instead of repairing it, so a conformance check can see a
UTF-8 body sent under a GB2312 declaration. Structural gaps a lenient peer would tolerate (no
declaration, unknown root, missing SN, non-numeric SN, ...) are problems too; only XML that cannot
be read at all raises :class:`ManscdpError`.

Safety: the stdlib expat parser is driven directly and any DOCTYPE is refused
(:class:`UnsafeXmlError`), so no entity can be declared, let alone expanded; MANSCDP has no DTD.
"""

from __future__ import annotations

import codecs
import re
import xml.parsers.expat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "Application/MANSCDP+xml"  # as the standard writes it (notes §6.6: send exactly)

ROOT_QUERY = "Query"
ROOT_RESPONSE = "Response"
ROOT_NOTIFY = "Notify"
ROOT_CONTROL = "Control"
ROOTS = (ROOT_QUERY, ROOT_RESPONSE, ROOT_NOTIFY, ROOT_CONTROL)

CMD_KEEPALIVE = "Keepalive"
CMD_CATALOG = "Catalog"
CMD_DEVICE_INFO = "DeviceInfo"
CMD_DEVICE_STATUS = "DeviceStatus"
CMD_CONFIG_DOWNLOAD = "ConfigDownload"
CMD_DEVICE_CONTROL = "DeviceControl"
CONFIG_BASIC_PARAM = "BasicParam"

RESULT_OK = "OK"
RESULT_ERROR = "ERROR"
STATUS_OK = "OK"
STATUS_ERROR = "ERROR"
ONLINE = "ONLINE"
OFFLINE = "OFFLINE"

ENCODING_GB2312 = "GB2312"
ENCODING_GB18030 = "GB18030"
ENCODING_UTF8 = "UTF-8"
#: Codecs :func:`build` writes, by Python codec name -> the name put in the declaration.
BUILD_ENCODINGS = {"gb2312": ENCODING_GB2312, "gb18030": ENCODING_GB18030, "utf-8": ENCODING_UTF8}
#: Codecs :func:`parse` reads (Python codec names); ASCII is a subset every peer may declare.
PARSE_CODECS = ("gb2312", "gbk", "gb18030", "utf-8", "ascii")
_GB_CODECS = ("gb2312", "gbk", "gb18030")

#: Annex N (2016) / Annex M (2022): at most this many records in one Response.
MAX_RECORDS_PER_MESSAGE = 10_000

#: Catalog item fields 2016 requires (A.2.6); 2022 drops Owner (and SafetyWay, certificates).
CATALOG_ITEM_REQUIRED_2016 = (
    "DeviceID",
    "Name",
    "Manufacturer",
    "Model",
    "Owner",
    "CivilCode",
    "Address",
    "Parental",
    "ParentID",
    "RegisterWay",
    "Secrecy",
    "Status",
)

# --- problem codes (ParseResult.detected_problems) ------------------------------------------------

PROBLEM_UTF8_UNDER_GB = "utf8-under-gb"
PROBLEM_NOT_DECLARED_CHARSET = "not-declared-charset"
PROBLEM_NO_DECLARATION = "no-declaration"
PROBLEM_NO_ENCODING = "declaration-without-encoding"
PROBLEM_UNKNOWN_ROOT = "unknown-root"
PROBLEM_MISSING_FIELD = "missing-field"
PROBLEM_DUPLICATE_FIELD = "duplicate-field"
PROBLEM_ATTRIBUTE_FIELD = "field-as-attribute"
PROBLEM_BAD_SN = "bad-sn"
PROBLEM_BAD_DEVICE_ID = "bad-device-id"

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_SN_RE = re.compile(r"[0-9]+\Z")
_ID20_RE = re.compile(r"[0-9]{20}\Z")
# XML 1.0 Char minus the surrogates Python str cannot hold anyway.
_BAD_XML_CHAR_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The declaration is ASCII in every codec we read, so it can be read off the raw bytes.
_DECL_RE = re.compile(rb"\A[ \t\r\n]*<\?xml([ \t\r\n][^?]*)?\?>")
_PSEUDO_ATTR_RE = re.compile(rb"""([A-Za-z]+)[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')""")
_UTF8_BOM = b"\xef\xbb\xbf"
_TEXT_DECL_RE = re.compile(r"[ \t\r\n]*<\?xml[ \t\r\n?]")


class ManscdpError(ValueError):
    """A MANSCDP body cannot be built or read; the message says what and where."""


class UnsafeXmlError(ManscdpError):
    """The body has a DOCTYPE (and so could declare entities); MANSCDP never needs one."""


# --- tree -----------------------------------------------------------------------------------------


@dataclass
class Node:
    """One XML element: tag, text (stripped of surrounding whitespace), attributes, children."""

    tag: str
    text: str = ""
    children: list[Node] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)

    def find(self, tag: str) -> Node | None:
        """The first direct child named `tag`."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Node]:
        """Every direct child named `tag`, in order."""
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag: str) -> str | None:
        """The text of the first direct child named `tag`, or None when there is none."""
        child = self.find(tag)
        return None if child is None else child.text


def leaf(tag: str, value: str | int) -> Node:
    """A text-only element."""
    return Node(tag, str(value))


def _leaves(pairs: Iterable[tuple[str, str | int | None]]) -> list[Node]:
    return [leaf(tag, value) for tag, value in pairs if value is not None]


# --- message --------------------------------------------------------------------------------------


@dataclass
class Message:
    """One MANSCDP document: ``<root><CmdType/><SN/><DeviceID/>body...</root>``."""

    root: str
    cmd_type: str
    sn: int
    device_id: str
    body: list[Node] = field(default_factory=list)

    def find(self, tag: str) -> Node | None:
        """The first body element named `tag`."""
        return next((n for n in self.body if n.tag == tag), None)

    def findall(self, tag: str) -> list[Node]:
        """Every body element named `tag`."""
        return [n for n in self.body if n.tag == tag]

    def get(self, tag: str) -> str | None:
        """The text of the first body element named `tag`, or None."""
        node = self.find(tag)
        return None if node is None else node.text

    def require(self, tag: str) -> str:
        """The text of body element `tag`; ManscdpError when it is absent."""
        value = self.get(tag)
        if value is None:
            raise ManscdpError(f"{self.root}/{self.cmd_type} SN={self.sn} has no <{tag}>")
        return value

    def to_node(self) -> Node:
        """The whole document as a tree."""
        head = [
            leaf("CmdType", self.cmd_type),
            leaf("SN", self.sn),
            leaf("DeviceID", self.device_id),
        ]
        return Node(self.root, children=head + list(self.body))


def _expect(msg: Message, root: str | tuple[str, ...], cmd_type: str) -> None:
    roots = (root,) if isinstance(root, str) else root
    if msg.root not in roots or msg.cmd_type != cmd_type:
        raise ManscdpError(
            f"expected {'/'.join(roots)} {cmd_type}, got {msg.root} {msg.cmd_type} (SN={msg.sn})"
        )


def _int_field(msg: Message, tag: str) -> int | None:
    """The integer in body element `tag`, None when absent; ManscdpError when not decimal."""
    text = msg.get(tag)
    if text is None:
        return None
    if not _SN_RE.match(text):
        raise ManscdpError(f"{msg.root}/{msg.cmd_type} <{tag}> {text!r} is not a decimal integer")
    return int(text)


def _require_int(msg: Message, tag: str) -> int:
    value = _int_field(msg, tag)
    if value is None:
        raise ManscdpError(f"{msg.root}/{msg.cmd_type} SN={msg.sn} has no <{tag}>")
    return value


# --- build ----------------------------------------------------------------------------------------


def _escape(text: str, *, attr: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if attr else text


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ManscdpError(f"{name!r} is not a usable XML element or attribute name")


def _check_chars(text: str, where: str) -> None:
    bad = _BAD_XML_CHAR_RE.search(text)
    if bad is not None:
        raise ManscdpError(f"{where}: character U+{ord(bad.group(0)):04X} is not allowed in XML")


def _serialize(node: Node, out: list[str]) -> None:
    _check_name(node.tag)
    attrs = ""
    for name, value in node.attrs.items():
        _check_name(name)
        _check_chars(value, f"<{node.tag} {name}>")
        attrs += f' {name}="{_escape(value, attr=True)}"'
    _check_chars(node.text, f"<{node.tag}>")
    if node.children:
        if node.text:
            raise ManscdpError(f"<{node.tag}> has both text and children (mixed content)")
        out.append(f"<{node.tag}{attrs}>")
        for child in node.children:
            _serialize(child, out)
        out.append(f"</{node.tag}>")
    else:
        out.append(f"<{node.tag}{attrs}>{_escape(node.text)}</{node.tag}>")


def _build_codec(encoding: str) -> tuple[str, str]:
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        codec = ""
    if codec not in BUILD_ENCODINGS:
        raise ManscdpError(
            f"cannot build MANSCDP in {encoding!r}: use GB2312 (2016), GB18030 (2022) or UTF-8"
        )
    return codec, BUILD_ENCODINGS[codec]


def build(message: Message | Node, encoding: str = ENCODING_GB2312) -> bytes:
    """Serialize to bytes in `encoding`, behind ``<?xml version="1.0" encoding="..."?>``.

    One element per line (CRLF). A character the codec cannot represent (a GB18030-only ideograph
    in GB2312, say) raises ManscdpError naming the element, instead of writing ``?``.
    """
    codec, declared = _build_codec(encoding)
    node = message.to_node() if isinstance(message, Message) else message
    lines = [f'<?xml version="1.0" encoding="{declared}"?>']
    _serialize(node, lines)
    text = "\r\n".join(lines) + "\r\n"
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        char = exc.object[exc.start : exc.end]
        line = text[: exc.start].rsplit("\r\n", 1)[-1] + text[exc.start :].split("\r\n", 1)[0]
        raise ManscdpError(
            f"{char!r} cannot be encoded in {declared} (in {line.strip()!r}); "
            f"build with encoding={ENCODING_GB18030!r}"
        ) from None


# --- parse ----------------------------------------------------------------------------------------


@dataclass
class Problem:
    """Something a tolerant reader can get past but a conformance check should see."""

    code: str  # one of the PROBLEM_* constants
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass
class ParseResult:
    """What :func:`parse` read: the tree, the encodings, the problems and, if usable, the message.

    `message` is None when the root, CmdType, SN or DeviceID cannot be read (each is then in
    `detected_problems`). `encoding_used` is the Python codec the text was decoded with: the
    declared one whenever the bytes decode in it, as a GB2312 platform would read them.
    """

    tree: Node
    declared_encoding: str | None
    encoding_used: str
    detected_problems: list[Problem]
    message: Message | None

    @property
    def ok(self) -> bool:
        """True when a message was read and nothing was wrong with it."""
        return self.message is not None and not self.detected_problems

    def has(self, code: str) -> bool:
        """True when a problem with this PROBLEM_* code was detected."""
        return any(p.code == code for p in self.detected_problems)

    def require(self) -> Message:
        """The message; ManscdpError listing the problems when none could be read."""
        if self.message is None:
            raise ManscdpError(
                "no usable MANSCDP message: " + "; ".join(map(str, self.detected_problems))
            )
        return self.message


def _declaration(data: bytes) -> tuple[int, str | None, bool]:
    """(end of the declaration or 0, declared encoding or None, whether a declaration exists)."""
    match = _DECL_RE.match(data)
    if match is None:
        return 0, None, False
    attrs = {
        m.group(1).decode("ascii"): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PSEUDO_ATTR_RE.finditer(match.group(1) or b"")
    }
    encoding = attrs.get("encoding")
    return match.end(), None if encoding is None else encoding.decode("ascii", "replace"), True


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _decode(data: bytes, declared: str | None, problems: list[Problem]) -> tuple[str, str]:
    """Decode per the declaration; report (not repair) a body that does not match it."""
    if declared is None:
        # XML 1.0 §4.3.3: no encoding declaration means UTF-8.
        text = _try(data, "utf-8")
        if text is not None:
            return text, "utf-8"
        text = _try(data, "gb18030")
        if text is None:
            raise ManscdpError("body declares no encoding and is neither UTF-8 nor GB18030")
        problems.append(
            Problem(PROBLEM_NOT_DECLARED_CHARSET, "GB body with no declared encoding (XML: UTF-8)")
        )
        return text, "gb18030"
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        raise ManscdpError(f"declared encoding {declared!r} is unknown") from None
    if codec not in PARSE_CODECS:
        raise ManscdpError(
            f"declared encoding {declared!r} is not one MANSCDP uses (GB2312, GBK, GB18030, UTF-8)"
        )
    text = _try(data, codec)
    non_ascii = not data.isascii()
    as_utf8 = _try(data, "utf-8") if non_ascii and codec != "utf-8" else None
    if as_utf8 is not None and codec in _GB_CODECS:
        # Valid multibyte UTF-8 under a GB declaration: either the GB decoding fails or it yields
        # different (mojibake) text. Either way the declaration lies about the bytes (notes §6.7).
        problems.append(
            Problem(
                PROBLEM_UTF8_UNDER_GB,
                f"UTF-8 body under a {declared} declaration"
                + ("" if text is None else f" (it decodes as {declared} to different text)"),
            )
        )
        return (text, codec) if text is not None else (as_utf8, "utf-8")
    if text is not None:
        return text, codec
    for fallback in ("utf-8", "gb18030"):
        other = None if fallback == codec else _try(data, fallback)
        if other is not None:
            problems.append(
                Problem(
                    PROBLEM_NOT_DECLARED_CHARSET,
                    f"body is not valid {declared} but decodes as {fallback.upper()}",
                )
            )
            return other, fallback
    raise ManscdpError(f"body is not valid {declared}, nor UTF-8 or GB18030")


class _TreeBuilder:
    """Expat callbacks building :class:`Node` trees; any DOCTYPE aborts the parse."""

    def __init__(self) -> None:
        self.stack: list[Node] = []
        self.texts: list[list[str]] = []
        self.root: Node | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, attrs=dict(attrs))
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)
        self.texts.append([])

    def end(self, tag: str) -> None:
        node = self.stack.pop()
        node.text = "".join(self.texts.pop()).strip()

    def data(self, text: str) -> None:
        if self.texts:
            self.texts[-1].append(text)

    def doctype(self, name: str, *_: object) -> None:
        raise UnsafeXmlError(
            f"DOCTYPE {name!r} refused: MANSCDP has no DTD and entity declarations are not "
            "accepted (entity expansion)"
        )

    # Unreachable without a DOCTYPE; kept so a future expat change cannot open the door.
    def entity(self, name: str, *_: object) -> None:
        raise UnsafeXmlError(f"entity declaration {name!r} refused")


def parse_tree(text: str) -> Node:
    """Parse XML text (no XML declaration: it has been read already) into a :class:`Node` tree.

    Raises UnsafeXmlError for a DOCTYPE and ManscdpError for anything expat cannot read.
    """
    if _TEXT_DECL_RE.match(text):
        # parse() has consumed the real declaration; expat would take a second one for the first.
        raise ManscdpError("malformed XML: an XML declaration where the content should start")
    builder = _TreeBuilder()
    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = builder.doctype
    parser.EntityDeclHandler = builder.entity
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        raise ManscdpError(
            f"malformed XML: {xml.parsers.expat.errors.messages[exc.code]} "
            f"at line {exc.lineno}, column {exc.offset}"
        ) from None
    if builder.root is None:
        raise ManscdpError("malformed XML: no root element")
    return builder.root


def _message_of(tree: Node, problems: list[Problem]) -> Message | None:
    usable = True
    if tree.tag not in ROOTS:
        problems.append(
            Problem(PROBLEM_UNKNOWN_ROOT, f"unknown root <{tree.tag}> (expected {'/'.join(ROOTS)})")
        )
        usable = False
    head: dict[str, str] = {}
    for tag in ("CmdType", "SN", "DeviceID"):
        found = tree.findall(tag)
        if len(found) > 1:
            problems.append(Problem(PROBLEM_DUPLICATE_FIELD, f"<{tag}> appears {len(found)} times"))
        if not found:
            # A device once sent <Query CmdType="..."> (notes §6.8): name that case plainly.
            how = " (given as an attribute of the root instead)" if tag in tree.attrs else ""
            code = PROBLEM_ATTRIBUTE_FIELD if how else PROBLEM_MISSING_FIELD
            problems.append(Problem(code, f"<{tree.tag}> has no <{tag}> element{how}"))
            usable = False
        else:
            head[tag] = found[0].text
    sn = head.get("SN")
    if sn is not None and not _SN_RE.match(sn):
        problems.append(Problem(PROBLEM_BAD_SN, f"SN {sn!r} is not a decimal integer"))
        usable = False
    device_id = head.get("DeviceID")
    if device_id is not None and not _ID20_RE.match(device_id):
        problems.append(Problem(PROBLEM_BAD_DEVICE_ID, f"DeviceID {device_id!r} is not 20 digits"))
    if not usable:
        return None
    first = {id(tree.find(tag)) for tag in ("CmdType", "SN", "DeviceID")}
    return Message(
        root=tree.tag,
        cmd_type=head["CmdType"],
        sn=int(head["SN"]),
        device_id=head["DeviceID"],
        body=[child for child in tree.children if id(child) not in first],
    )


def parse(data: bytes) -> ParseResult:
    """Read a MANSCDP body.

    Raises ManscdpError only when no XML tree can be read (bad bytes, malformed XML, an
    encoding outside GB2312/GBK/GB18030/UTF-8) and UnsafeXmlError for a DOCTYPE. Everything else
    that is wrong is listed in :attr:`ParseResult.detected_problems`.
    """
    raw = bytes(data)
    if not raw.strip():
        raise ManscdpError("empty MANSCDP body")
    problems: list[Problem] = []
    bom = raw.startswith(_UTF8_BOM)
    if bom:
        raw = raw[len(_UTF8_BOM) :]
    end, declared, has_decl = _declaration(raw)
    if not has_decl:
        problems.append(Problem(PROBLEM_NO_DECLARATION, "no XML declaration"))
    elif declared is None:
        problems.append(Problem(PROBLEM_NO_ENCODING, "XML declaration names no encoding"))
    text, used = _decode(raw[end:], declared, problems)
    if bom and declared is not None and codecs.lookup(declared).name != "utf-8":
        raise ManscdpError(f"UTF-8 byte order mark under a {declared} declaration")
    tree = parse_tree(text)
    message = _message_of(tree, problems)
    return ParseResult(tree, declared, used, problems, message)


def parse_message(data: bytes) -> Message:
    """Parse and return the message, ignoring encoding problems; ManscdpError if none is usable."""
    return parse(data).require()


def is_manscdp_content_type(value: str) -> bool:
    """True for ``Application/MANSCDP+xml`` in any case, parameters allowed (notes §6.6)."""
    return value.split(";", 1)[0].strip().lower() == CONTENT_TYPE.lower()


# --- requests and request/response matching -------------------------------------------------------


def make_query(
    cmd_type: str, sn: int, device_id: str, fields: Iterable[tuple[str, str | int]] = ()
) -> Message:
    """A ``<Query>`` (A.2.4); `fields` are extra children such as StartTime/EndTime."""
    return Message(ROOT_QUERY, cmd_type, sn, device_id, _leaves(fields))


def config_download_query(sn: int, device_id: str, *config_types: str) -> Message:
    """ConfigDownload query; several config types are joined with ``/`` (A.2.4)."""
    types = config_types or (CONFIG_BASIC_PARAM,)
    return make_query(CMD_CONFIG_DOWNLOAD, sn, device_id, [("ConfigType", "/".join(types))])


def config_types(message: Message) -> list[str]:
    """The config types a ConfigDownload query asks for."""
    _expect(message, ROOT_QUERY, CMD_CONFIG_DOWNLOAD)
    return [t for t in message.require("ConfigType").split("/") if t]


def response_mismatches(query: Message, response: Message) -> list[str]:
    """What makes `response` not the answer to `query` (empty when it is).

    The answer is a Response with the query's CmdType, SN and DeviceID (2016 §9.5.2).
    """
    found = []
    if response.root != ROOT_RESPONSE:
        found.append(f"root is <{response.root}>, not <{ROOT_RESPONSE}>")
    if response.cmd_type != query.cmd_type:
        found.append(f"CmdType {response.cmd_type!r} does not match the query's {query.cmd_type!r}")
    if response.sn != query.sn:
        found.append(f"SN {response.sn} does not match the query's SN {query.sn}")
    if response.device_id != query.device_id:
        found.append(f"DeviceID {response.device_id} is not the queried {query.device_id}")
    return found


def answers(query: Message, response: Message) -> bool:
    """True when `response` answers `query` (see :func:`response_mismatches`)."""
    return not response_mismatches(query, response)


# --- typed bodies ---------------------------------------------------------------------------------


@dataclass
class Keepalive:
    """Notify/Keepalive (A.2.5): Status OK/ERROR, optional Info listing faulty sub-devices."""

    status: str = STATUS_OK
    faulty_devices: list[str] = field(default_factory=list)

    def to_message(self, sn: int, device_id: str) -> Message:
        """The Notify message."""
        body = [leaf("Status", self.status)]
        if self.faulty_devices:
            body.append(Node("Info", children=[leaf("DeviceID", d) for d in self.faulty_devices]))
        return Message(ROOT_NOTIFY, CMD_KEEPALIVE, sn, device_id, body)

    @classmethod
    def from_message(cls, message: Message) -> Keepalive:
        """Read a Notify/Keepalive; ManscdpError without Status."""
        _expect(message, ROOT_NOTIFY, CMD_KEEPALIVE)
        info = message.find("Info")
        faulty = [] if info is None else [n.text for n in info.findall("DeviceID")]
        return cls(message.require("Status"), faulty)


@dataclass
class DeviceInfo:
    """Response/DeviceInfo (A.2.6): Result, then the optional identity fields."""

    result: str = RESULT_OK
    device_name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    channel: int | None = None

    def to_message(self, sn: int, device_id: str) -> Message:
        """The Response, fields in the standard's order (DeviceName before Result)."""
        body = _leaves(
            [
                ("DeviceName", self.device_name),
                ("Result", self.result),
                ("Manufacturer", self.manufacturer),
                ("Model", self.model),
                ("Firmware", self.firmware),
                ("Channel", self.channel),
            ]
        )
        return Message(ROOT_RESPONSE, CMD_DEVICE_INFO, sn, device_id, body)

    @classmethod
    def from_message(cls, message: Message) -> DeviceInfo:
        """Read a Response/DeviceInfo; ManscdpError without Result or with a bad Channel."""
        _expect(message, ROOT_RESPONSE, CMD_DEVICE_INFO)
        return cls(
            result=message.require("Result"),
            device_name=message.get("DeviceName"),
            manufacturer=message.get("Manufacturer"),
            model=message.get("Model"),
            firmware=message.get("Firmware"),
            channel=_int_field(message, "Channel"),
        )


@dataclass
class DeviceStatus:
    """Response/DeviceStatus (A.2.6): Result, Online, Status, then optional fields.

    `alarms` is the Alarmstatus list as (DeviceID, DutyStatus) pairs; None leaves it out.
    """

    result: str = RESULT_OK
    online: str = ONLINE
    status: str = STATUS_OK
    reason: str | None = None
    encode: str | None = None
    record: str | None = None
    device_time: str | None = None
    alarms: list[tuple[str, str]] | None = None

    def to_message(self, sn: int, device_id: str) -> Message:
        """The Response message."""
        body = _leaves(
            [
                ("Result", self.result),
                ("Online", self.online),
                ("Status", self.status),
                ("Reason", self.reason),
                ("Encode", self.encode),
                ("Record", self.record),
                ("DeviceTime", self.device_time),
            ]
        )
        if self.alarms is not None:
            items = [
                Node("Item", children=[leaf("DeviceID", d), leaf("DutyStatus", s)])
                for d, s in self.alarms
            ]
            body.append(Node("Alarmstatus", children=items, attrs={"Num": str(len(items))}))
        return Message(ROOT_RESPONSE, CMD_DEVICE_STATUS, sn, device_id, body)

    @classmethod
    def from_message(cls, message: Message) -> DeviceStatus:
        """Read a Response/DeviceStatus; ManscdpError without Result, Online or Status."""
        _expect(message, ROOT_RESPONSE, CMD_DEVICE_STATUS)
        node = message.find("Alarmstatus")
        alarms = None
        if node is not None:
            alarms = [
                (item.findtext("DeviceID") or "", item.findtext("DutyStatus") or "")
                for item in node.findall("Item")
            ]
        return cls(
            result=message.require("Result"),
            online=message.require("Online"),
            status=message.require("Status"),
            reason=message.get("Reason"),
            encode=message.get("Encode"),
            record=message.get("Record"),
            device_time=message.get("DeviceTime"),
            alarms=alarms,
        )


@dataclass
class CatalogItem:
    """One ``<Item>`` of a Catalog DeviceList: its leaf fields in order, plus nested elements."""

    fields: dict[str, str]
    nested: list[Node] = field(default_factory=list)  # e.g. <Info> (PTZType, ...)

    @property
    def device_id(self) -> str | None:
        """The item's DeviceID."""
        return self.fields.get("DeviceID")

    def missing_2016(self) -> list[str]:
        """The fields 2016 A.2.6 requires that this item lacks (2022 no longer requires Owner)."""
        return [name for name in CATALOG_ITEM_REQUIRED_2016 if name not in self.fields]

    def to_node(self) -> Node:
        """The ``<Item>`` element."""
        return Node("Item", children=_leaves(self.fields.items()) + list(self.nested))

    @classmethod
    def from_node(cls, node: Node) -> CatalogItem:
        """Read an ``<Item>``; a repeated leaf keeps its first value."""
        fields: dict[str, str] = {}
        nested = []
        for child in node.children:
            if child.children or child.attrs:
                nested.append(child)
            else:
                fields.setdefault(child.tag, child.text)
        return cls(fields, nested)


@dataclass
class Catalog:
    """Response/Catalog (A.2.6): SumNum and this message's items (``DeviceList Num=...``).

    An empty result is SumNum 0 with no DeviceList (Annex N).
    """

    sum_num: int
    items: list[CatalogItem] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when the items are all SumNum records (as after :func:`collect_catalog`)."""
        return len(self.items) == self.sum_num

    def to_message(self, sn: int, device_id: str) -> Message:
        """The Response message."""
        body = [leaf("SumNum", self.sum_num)]
        if self.items:
            body.append(
                Node(
                    "DeviceList",
                    children=[item.to_node() for item in self.items],
                    attrs={"Num": str(len(self.items))},
                )
            )
        return Message(ROOT_RESPONSE, CMD_CATALOG, sn, device_id, body)

    @classmethod
    def from_message(cls, message: Message) -> Catalog:
        """Read one Response/Catalog; ManscdpError when SumNum or Num disagree with the items."""
        _expect(message, ROOT_RESPONSE, CMD_CATALOG)
        sum_num = _require_int(message, "SumNum")
        lists = message.findall("DeviceList")
        if len(lists) > 1:
            raise ManscdpError(f"Catalog SN={message.sn} has {len(lists)} <DeviceList> elements")
        items = [] if not lists else [CatalogItem.from_node(n) for n in lists[0].findall("Item")]
        if lists:
            num = lists[0].attrs.get("Num")
            if num is None or not _SN_RE.match(num):
                raise ManscdpError(
                    f"Catalog SN={message.sn}: DeviceList Num={num!r} is not a count"
                )
            if int(num) != len(items):
                raise ManscdpError(
                    f"Catalog SN={message.sn}: DeviceList Num={num} "
                    f"but {len(items)} <Item> elements"
                )
        if len(items) > sum_num:
            raise ManscdpError(
                f"Catalog SN={message.sn}: {len(items)} items in one message "
                f"exceed SumNum {sum_num}"
            )
        return cls(sum_num, items)


def split_catalog(
    sn: int,
    device_id: str,
    items: Sequence[CatalogItem],
    *,
    max_items: int = MAX_RECORDS_PER_MESSAGE,
    max_bytes: int | None = None,
    encoding: str = ENCODING_GB2312,
) -> list[Message]:
    """The Responses answering one Catalog query (2016 Annex N, 2022 Annex M).

    Every message carries the same SN and SumNum = len(items); each holds at most `max_items`
    items and, when `max_bytes` is given, builds (in `encoding`) to at most that many bytes, so a
    catalog fits UDP datagrams (exosip caps SIP messages at 4000 bytes, notes §6.16). No items
    gives one message with SumNum 0 and no DeviceList. The sender must await each 200 before the
    next message; that is the caller's part.
    """
    if max_items < 1:
        raise ManscdpError(f"max_items {max_items} must be at least 1")
    if max_items > MAX_RECORDS_PER_MESSAGE:
        raise ManscdpError(f"max_items {max_items} exceeds Annex N's {MAX_RECORDS_PER_MESSAGE}")
    total = len(items)
    if total == 0:
        return [Catalog(0).to_message(sn, device_id)]
    messages: list[Message] = []
    chunk: list[CatalogItem] = []
    for item in items:
        trial = [*chunk, item]
        too_big = max_bytes is not None and (
            len(build(Catalog(total, trial).to_message(sn, device_id), encoding)) > max_bytes
        )
        if len(trial) > max_items or too_big:
            if not chunk:
                raise ManscdpError(
                    f"catalog item {item.device_id} alone builds to more than {max_bytes} bytes"
                )
            messages.append(Catalog(total, chunk).to_message(sn, device_id))
            chunk = [item]
        else:
            chunk = trial
    messages.append(Catalog(total, chunk).to_message(sn, device_id))
    return messages


def collect_catalog(responses: Sequence[Message]) -> Catalog:
    """Merge the Responses of one Catalog query into one Catalog, checking their consistency.

    All must have the same SN, DeviceID and SumNum, and together no more than SumNum items; the
    result's :attr:`Catalog.complete` says whether all have arrived. ManscdpError otherwise.
    """
    if not responses:
        raise ManscdpError("no Catalog responses to collect")
    first = responses[0]
    merged: list[CatalogItem] = []
    sum_num: int | None = None
    for message in responses:
        part = Catalog.from_message(message)
        if message.sn != first.sn or message.device_id != first.device_id:
            raise ManscdpError(
                f"Catalog part SN={message.sn} DeviceID={message.device_id} does not belong to "
                f"SN={first.sn} DeviceID={first.device_id}"
            )
        if sum_num is not None and part.sum_num != sum_num:
            raise ManscdpError(f"Catalog SN={message.sn}: SumNum {part.sum_num} after {sum_num}")
        sum_num = part.sum_num
        merged.extend(part.items)
    if sum_num is None or len(merged) > sum_num:
        raise ManscdpError(f"Catalog SN={first.sn}: {len(merged)} items exceed SumNum {sum_num}")
    return Catalog(sum_num, merged)


@dataclass
class BasicParam:
    """The BasicParam answer to ConfigDownload (A.2.6): name, registration expiry, heartbeat.

    `extra` holds the other BasicParam children (DeviceID, SIPServerID, ...) in order.
    """

    name: str
    expiration: int
    heartbeat_interval: int
    heartbeat_count: int
    extra: dict[str, str] = field(default_factory=dict)

    def to_message(self, sn: int, device_id: str, result: str = RESULT_OK) -> Message:
        """The Response/ConfigDownload message carrying ``<BasicParam>``."""
        param = Node(
            CONFIG_BASIC_PARAM,
            children=_leaves(
                [
                    ("Name", self.name),
                    ("Expiration", self.expiration),
                    ("HeartBeatInterval", self.heartbeat_interval),
                    ("HeartBeatCount", self.heartbeat_count),
                    *self.extra.items(),
                ]
            ),
        )
        return Message(
            ROOT_RESPONSE, CMD_CONFIG_DOWNLOAD, sn, device_id, [leaf("Result", result), param]
        )

    @classmethod
    def from_message(cls, message: Message) -> BasicParam:
        """Read a Response/ConfigDownload's BasicParam; ManscdpError for a missing field."""
        _expect(message, ROOT_RESPONSE, CMD_CONFIG_DOWNLOAD)
        node = message.find(CONFIG_BASIC_PARAM)
        if node is None:
            raise ManscdpError(f"ConfigDownload SN={message.sn} has no <BasicParam>")
        inner = Message(
            message.root, message.cmd_type, message.sn, message.device_id, node.children
        )
        known = ("Name", "Expiration", "HeartBeatInterval", "HeartBeatCount")
        return cls(
            name=inner.require("Name"),
            expiration=_require_int(inner, "Expiration"),
            heartbeat_interval=_require_int(inner, "HeartBeatInterval"),
            heartbeat_count=_require_int(inner, "HeartBeatCount"),
            extra={n.tag: n.text for n in node.children if n.tag not in known and not n.children},
        )
