"""wire.sip.stamp_received: the server transport's Via stamping (RFC 3261 §18.2.1, RFC 3581 §4)."""

from __future__ import annotations

import pytest

from wire import sip


def _request(via: str) -> sip.SipRequest:
    parsed = sip.parse(
        (
            "OPTIONS sip:device@127.0.0.1 SIP/2.0\r\n"
            f"Via: {via}\r\n"
            "From: <sip:suite@127.0.0.1>;tag=a\r\nTo: <sip:device@127.0.0.1>\r\n"
            "Call-ID: stamp@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(parsed, sip.SipRequest)
    return parsed


@pytest.mark.parametrize(
    ("via", "source", "top"),
    [
        # rport with no value: filled, and received added although sent-by is the same host.
        (
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa;rport",
            ("127.0.0.1", 40000),
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa;rport=40000;received=127.0.0.1",
        ),
        # No rport, sent-by differs from the source: received only.
        (
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKb",
            ("127.0.0.1", 40000),
            "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKb;received=127.0.0.1",
        ),
        # No rport, same host: untouched.
        (
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc",
            ("127.0.0.1", 40000),
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc",
        ),
    ],
)
def test_top_via_is_stamped(via: str, source: tuple[str, int], top: str) -> None:
    request = _request(f"{via}, SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKlower")
    sip.stamp_received(request, source)
    vias = request.vias
    assert str(vias[0]) == top
    assert str(vias[1]) == "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKlower"
    response = sip.make_response(request, 200)
    assert str(response.vias[0]) == top


def test_unparsable_via_is_left_alone() -> None:
    request = _request("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKd;rport")
    request.headers.replace_first("Via", "garbage")
    sip.stamp_received(request, ("127.0.0.1", 1))
    assert request.headers.get("Via") == "garbage"
