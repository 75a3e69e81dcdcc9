"""The reference decoder's answer keeps the offered H.264 packetization-mode (RFC 6184 §8.2.2),
refuses a mode it cannot depacketize, and the `packetization_mode_dropped` fault breaks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference_device.sip.peer import Device, Dialog, Peer, device, video_of
from wire import sdp, sip

MODE_1 = "profile-level-id=42e01f;packetization-mode=1"


def _offer(fmtp: str | None) -> bytes:
    return sdp.h264_offer(
        host="127.0.0.1", video_port=40000, audio_port=40002, payload_type=109, fmtp=fmtp
    ).to_bytes()


def _final(dev: Device, peer: Peer, fmtp: str | None) -> sip.SipResponse:
    """The final answer of an auto-answering account to an offer with `fmtp`; a 200 is ACKed
    and hung up."""
    dialog = Dialog(peer, dev.sip_port())
    dialog.invite(_offer(fmtp))
    final = peer.expect(
        lambda m: isinstance(m, sip.SipResponse) and m.status_code >= 200, "a final answer"
    ).message
    assert isinstance(final, sip.SipResponse)
    if final.status_code == 200:
        dialog.confirm_and_hang_up(final, dev)
    return final


@pytest.mark.parametrize(
    ("fault", "fmtp", "answered"),
    [
        ((), MODE_1, MODE_1),
        ((), "profile-level-id=42e01f", "profile-level-id=42e01f"),
        ((), None, None),
        (("packetization_mode_dropped",), MODE_1, None),
    ],
)
def test_answer_keeps_the_offered_packetization_mode_unless_faulty(
    tmp_path: Path, fault: tuple[str, ...], fmtp: str | None, answered: str | None
) -> None:
    """Clean, the answer's a=fmtp of PT 109 keeps the offered configuration (none offered, none
    answered: mode 0 both ways); under packetization_mode_dropped a mode 1 offer is answered
    with no a=fmtp, which is mode 0."""
    peer = Peer()
    try:
        with device(tmp_path, faults=fault) as dev:
            dev.account()
            dev.ok("modify_call_cfg", id="1", auto_aws="1")
            ok = _final(dev, peer, fmtp)
    finally:
        peer.close()
    assert ok.status_code == 200
    video = video_of(ok.body)
    assert video.formats == ["109"]
    assert video.fmtp(109) == answered
    kept = sdp.h264_packetization_mode(video.fmtp(109)) == sdp.h264_packetization_mode(fmtp)
    assert kept is not bool(fault)


def test_interleaved_mode_offer_is_refused(tmp_path: Path) -> None:
    """Mode 2 (interleaved) is not depacketized here, so it cannot be kept: 488, not an answer
    claiming another mode."""
    peer = Peer()
    try:
        with device(tmp_path) as dev:
            dev.account()
            dev.ok("modify_call_cfg", id="1", auto_aws="1")
            final = _final(dev, peer, "packetization-mode=2;sprop-deint-buf-req=32000")
            assert final.status_code == 488, final.status_code
            dev.wait_state("call_status", "idle")
    finally:
        peer.close()
