"""SIP ladder diagrams: valid standalone SVG, one arrow per message, escaped labels, text form."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from decoder_conformance.report.ladder import (
    ARROW_CLASS,
    LIFELINE_CLASS,
    LadderMessage,
    attach_ladder,
    ladder_rows,
    parties,
    render_svg,
    render_text,
    sip_label,
)

SVG = "{http://www.w3.org/2000/svg}"
CALLER, DECODER, REGISTRAR = "127.0.0.1:5060", "127.0.0.1:5071", "127.0.0.1:5080"
ROLES = {CALLER: "caller", DECODER: "decoder", REGISTRAR: "registrar"}


def invite_flow() -> list[LadderMessage]:
    """INVITE/100/180/200/ACK/BYE/200 between caller and decoder; the INVITE has <sip:a@b>."""
    rows = [
        (0.000, CALLER, DECODER, 'INVITE sip:decoder@127.0.0.1:5071 "x" <sip:a@b> & more'),
        (0.001, DECODER, CALLER, "100 Trying"),
        (0.003, DECODER, CALLER, "180 Ringing"),
        (0.010, DECODER, CALLER, "200 OK"),
        (0.011, CALLER, DECODER, "ACK sip:decoder@127.0.0.1:5071"),
        (0.511, CALLER, DECODER, "BYE sip:decoder@127.0.0.1:5071"),
        (0.512, DECODER, CALLER, "200 OK"),
    ]
    return [
        LadderMessage(100.0 + t, src, dst, label, f"{label}\r\nTo: <sip:a@b>\r\n\r\n")
        for t, src, dst, label in rows
    ]


def three_party_flow() -> list[LadderMessage]:
    """The decoder registers (401 challenge), then a caller's audio-only INVITE is refused."""
    rows = [
        (0.000, DECODER, REGISTRAR, "REGISTER sip:127.0.0.1:5080"),
        (0.002, REGISTRAR, DECODER, "401 Unauthorized"),
        (0.004, DECODER, REGISTRAR, "REGISTER sip:127.0.0.1:5080"),
        (0.005, REGISTRAR, DECODER, "200 OK"),
        (1.000, CALLER, DECODER, "INVITE sip:decoder@127.0.0.1:5071"),
        (1.002, DECODER, CALLER, "488 Not Acceptable Here"),
        (1.003, CALLER, DECODER, "ACK sip:decoder@127.0.0.1:5071"),
    ]
    return [LadderMessage(t, src, dst, label) for t, src, dst, label in rows]


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_invite_flow_svg_is_valid_with_one_arrow_per_message() -> None:
    svg = render_svg(invite_flow(), ROLES, title="INVITE <flow> & co")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("width") == "1000"
    arrows = by_class(root, ARROW_CLASS)
    assert len(arrows) == 7 and all(a.tag in (f"{SVG}line", f"{SVG}path") for a in arrows)
    assert len(by_class(root, LIFELINE_CLASS)) == 2
    texts = ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]
    assert 'INVITE sip:decoder@127.0.0.1:5071 "x" <sip:a@b> & more' in texts
    assert "INVITE <flow> & co" in texts
    assert {"caller", "decoder", CALLER, DECODER} <= set(texts)
    # Relative time in ms in the left column, from the first message.
    assert {"0.0", "1.0", "511.0", "512.0"} <= set(texts)
    # Requests point from the caller's lifeline to the decoder's, responses back.
    lifeline_x = [float(e.get("x1", "nan")) for e in by_class(root, LIFELINE_CLASS)]
    first, second = arrows[0], arrows[1]
    assert (float(first.get("x1", "nan")), float(first.get("x2", "nan"))) == tuple(lifeline_x)
    assert (float(second.get("x1", "nan")), float(second.get("x2", "nan"))) == tuple(
        reversed(lifeline_x)
    )
    assert "response" in (second.get("class") or "")


def test_three_parties_in_first_seen_order() -> None:
    messages = three_party_flow()
    assert parties(messages) == [DECODER, REGISTRAR, CALLER]
    root = ET.fromstring(render_svg(messages, ROLES))
    lifelines = by_class(root, LIFELINE_CLASS)
    assert len(lifelines) == 3
    xs = [float(e.get("x1", "nan")) for e in lifelines]
    assert xs == sorted(xs)
    arrows = by_class(root, ARROW_CLASS)
    assert len(arrows) == 7
    assert [("error" in (a.get("class") or "")) for a in arrows] == [
        False,
        True,
        False,
        False,
        False,
        True,
        False,
    ]


def test_a_message_to_itself_is_a_loop() -> None:
    messages = [LadderMessage(0.0, DECODER, DECODER, "timer fired"), *invite_flow()]
    root = ET.fromstring(render_svg(messages))
    arrows = by_class(root, ARROW_CLASS)
    assert len(arrows) == 8 and arrows[0].tag == f"{SVG}path"


def test_long_labels_are_cut_to_the_arrow_with_the_full_line_as_tooltip() -> None:
    label = "INVITE sip:" + "x" * 300 + "@127.0.0.1:5071"
    root = ET.fromstring(render_svg([LadderMessage(0.0, CALLER, DECODER, label)]))
    shown = [t for t in ("".join(e.itertext()) for e in root.iter(f"{SVG}text")) if "xxx" in t]
    assert len(shown) == 1 and shown[0].endswith("…") and len(shown[0]) < 120
    assert [e.text for e in root.iter(f"{SVG}title")] == [label]


def test_text_ladder_has_rows_and_full_messages() -> None:
    text = render_text(invite_flow(), ROLES)
    lines = text.splitlines()
    assert "caller" in lines[0] and "decoder" in lines[0]
    assert CALLER in lines[1] and DECODER in lines[1]
    rows = [line for line in lines if " ms " in line and "|" in line]
    assert len(rows) == 7
    assert "->|" in rows[0] and "#1 INVITE" in rows[0]
    assert "|<-" in rows[1] and "#2 100 Trying" in rows[1]
    assert "511.0 ms" in rows[5]
    assert "#7 +512.0 ms  decoder (127.0.0.1:5071) -> caller (127.0.0.1:5060)" in text
    assert text.count("To: <sip:a@b>") == 7


def test_empty_input_renders() -> None:
    root = ET.fromstring(render_svg([]))
    assert by_class(root, ARROW_CLASS) == [] and by_class(root, LIFELINE_CLASS) == []
    assert "Messages" in render_text([])


def test_sip_label() -> None:
    assert sip_label("SIP/2.0 200 OK") == "200 OK"
    assert sip_label("INVITE sip:a@b SIP/2.0\r\n") == "INVITE sip:a@b"
    assert sip_label("garbage") == "garbage"


def test_attach_outside_an_allure_run_is_a_no_op() -> None:
    attach_ladder(invite_flow(), ROLES, "INVITE flow")
    attach_ladder([], ROLES, "nothing")


def test_render_png_when_rsvg_convert_is_available(tmp_path: Path) -> None:
    """Optional: the SVG renders with librsvg (what image viewers use) when it is installed."""
    tool = shutil.which("rsvg-convert")
    if tool is None:
        pytest.skip("rsvg-convert (Debian librsvg2-bin) not installed; PNG rendering is optional")
    source = tmp_path / "ladder.svg"
    source.write_text(render_svg(three_party_flow() + invite_flow(), ROLES, title="ladder"))
    png = tmp_path / "ladder.png"
    subprocess.run([tool, "-w", "1000", str(source), "-o", str(png)], check=True, timeout=30)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ladder_rows_merge_the_records_of_several_peers() -> None:
    """The one adapter: wire records of two peers (and an RTP record, left out) in time order,
    arrows from sender to receiver, labels from the start line; bytes that are not SIP still get
    a row (their start line) instead of breaking the ladder."""
    from decoder_conformance.peers.capture import WireRecord, merged, sip_only

    caller, decoder, registrar = (("127.0.0.1", p) for p in (5060, 5071, 5080))
    register = b"REGISTER sip:x SIP/2.0\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n\r\n"
    challenge = b"SIP/2.0 401 Unauthorized\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n\r\n"
    invite = b"INVITE sip:7001@127.0.0.1:5071 SIP/2.0\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"
    at_registrar = [
        WireRecord(1.0, "RX", "udp", registrar, decoder, register),
        WireRecord(2.0, "TX", "tcp", registrar, decoder, challenge),
    ]
    at_caller = [
        WireRecord(1.5, "TX", "udp", caller, decoder, invite),
        WireRecord(3.0, "RX", "udp", caller, decoder, b"garbage\r\n\r\n"),
        WireRecord(3.5, "TX", "udp", caller, decoder, b"\x80" * 12, protocol="rtp"),
    ]
    rows = ladder_rows(sip_only(merged(at_registrar, at_caller)))
    assert [(r.t, r.src, r.dst, r.label) for r in rows] == [
        (1.0, "127.0.0.1:5071", "127.0.0.1:5080", "REGISTER sip:x"),
        (1.5, "127.0.0.1:5060", "127.0.0.1:5071", "INVITE sip:7001@127.0.0.1:5071"),
        (2.0, "127.0.0.1:5080", "127.0.0.1:5071", "401 Unauthorized (REGISTER)"),
        (3.0, "127.0.0.1:5071", "127.0.0.1:5060", "garbage"),
    ]
    assert rows[0].detail == register.decode()
    text = render_text(rows, {"127.0.0.1:5071": "decoder", "127.0.0.1:5080": "registrar"})
    assert "decoder" in text.splitlines()[0] and "registrar" in text.splitlines()[0]
