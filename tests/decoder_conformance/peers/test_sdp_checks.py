"""peers.sdp_checks against recorded offers and answers: good answers pass, bad ones fail."""

from __future__ import annotations

import pytest

from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.sdp_checks import (
    ModeKept,
    accepted_video,
    check_packetization_mode_kept,
    mode_0_answer_problem,
    same_m_lines,
)
from wire import sdp

REQ = "SIP-CALL-SDP-006"


def text(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode()


def offer(fmtp: str | None) -> sdp.SessionDescription:
    """The offer of the suite's case: PCMU audio and H.264 on PT 109 with `fmtp`."""
    video = ["m=video 40000 RTP/AVP 109", "a=rtpmap:109 H264/90000"]
    if fmtp is not None:
        video.append(f"a=fmtp:109 {fmtp}")
    return sdp.parse(
        text(
            "v=0",
            "o=conformance 4244 4244 IN IP4 127.0.0.1",
            "s=conformance",
            "c=IN IP4 127.0.0.1",
            "t=0 0",
            "m=audio 40002 RTP/AVP 0",
            "a=rtpmap:0 PCMU/8000",
            "a=sendrecv",
            *video,
            "a=sendonly",
        )
    )


def answer(*video: str, port: int = 41000) -> sdp.SessionDescription:
    """A decoder's answer: audio rejected, then the video section's lines after its m= line."""
    return sdp.parse(
        text(
            "v=0",
            "o=- 77 78 IN IP4 127.0.0.1",
            "s=-",
            "c=IN IP4 127.0.0.1",
            "t=0 0",
            "m=audio 0 RTP/AVP 0",
            f"m=video {port} RTP/AVP 109",
            "a=rtpmap:109 H264/90000",
            *video,
        )
    )


MODE_1 = "profile-level-id=42e01f;packetization-mode=1"

#: The reference decoder's answer to a mode 1 offer before the fix (the defect of issue 10, and
#: what the packetization_mode_dropped fault sends): no a=fmtp, which is mode 0.
RECORDED_NO_FMTP = answer("a=recvonly")


@pytest.mark.negative_control("SIP-CALL-SDP-006")
@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        pytest.param(MODE_1, RECORDED_NO_FMTP, id="mode-1-answered-without-fmtp"),
        pytest.param(
            MODE_1, answer("a=fmtp:109 profile-level-id=42e01f", "a=recvonly"), id="mode-1-to-0"
        ),
        pytest.param(None, answer(f"a=fmtp:109 {MODE_1}", "a=recvonly"), id="absent-to-1"),
        pytest.param(
            "profile-level-id=42e01f",
            answer("a=fmtp:109 packetization-mode=1", "a=recvonly"),
            id="mode-absent-to-1",
        ),
        pytest.param(
            MODE_1, answer("a=fmtp:109 packetization-mode=one", "a=recvonly"), id="unparsable"
        ),
    ],
)
def test_a_changed_packetization_mode_fails(
    offered: str | None, answered: sdp.SessionDescription
) -> None:
    with pytest.raises(DeviceFailure, match=r"\[SIP-CALL-SDP-006\] .*RFC 6184 §8.2.2") as caught:
        check_packetization_mode_kept(REQ, offer(offered), answered)
    assert "PT 109" in str(caught.value)


@pytest.mark.parametrize(
    ("offered", "answered", "mode"),
    [
        (MODE_1, answer(f"a=fmtp:109 {MODE_1}", "a=recvonly"), 1),
        (MODE_1, answer("a=fmtp:109 PACKETIZATION-MODE=1", "a=recvonly"), 1),
        (None, RECORDED_NO_FMTP, 0),
        ("profile-level-id=42e01f", answer("a=fmtp:109 packetization-mode=0", "a=recvonly"), 0),
    ],
)
def test_the_offered_mode_kept_passes(
    offered: str | None, answered: sdp.SessionDescription, mode: int
) -> None:
    assert check_packetization_mode_kept(REQ, offer(offered), answered) == [
        ModeKept(109, mode, mode)
    ]


def test_the_payload_type_removed_passes() -> None:
    """§8.2.2's other branch: the media format removed (port 0, or not among the formats)."""
    rejected = answer("a=recvonly", port=0)
    assert check_packetization_mode_kept(REQ, offer(MODE_1), rejected) == [ModeKept(109, 1, None)]
    other = sdp.parse(bytes(RECORDED_NO_FMTP).replace(b"RTP/AVP 109", b"RTP/AVP 109 110"))
    other.media[1].formats = ["110"]
    assert check_packetization_mode_kept(REQ, offer(MODE_1), other) == [ModeKept(109, 1, None)]


def test_an_offer_without_h264_is_not_exercised() -> None:
    audio_only = sdp.parse(text("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0"))
    with pytest.raises(NotExercised, match=r"no H\.264"):
        check_packetization_mode_kept(REQ, audio_only, RECORDED_NO_FMTP)


# -- the answer to a sendonly H.264 offer (accepted_video, same_m_lines: SIP-CALL-SDP-004) -------


def test_an_answer_receiving_the_video_passes() -> None:
    """The audio rejected, the video recvonly (or inactive, or recvonly at session level)."""
    for answered in (
        RECORDED_NO_FMTP,
        answer("a=inactive"),
        sdp.parse(bytes(answer()).replace(b"t=0 0\r\n", b"t=0 0\r\na=recvonly\r\n")),
    ):
        same_m_lines("SIP-CALL-SDP-004", offer(MODE_1), answered)
        assert accepted_video("SIP-CALL-SDP-004", answered, "the answer", 109).port == 41000


@pytest.mark.negative_control("SIP-CALL-SDP-004")
@pytest.mark.parametrize(
    ("answered", "expected"),
    [
        pytest.param(answer("a=recvonly", port=0), "a non-zero port", id="video-rejected"),
        pytest.param(answer(), "recvonly or inactive", id="no-direction-sendrecv"),
        pytest.param(answer("a=sendrecv"), "recvonly or inactive", id="sendrecv"),
        pytest.param(answer("a=sendonly"), "recvonly or inactive", id="sendonly"),
        pytest.param(
            sdp.parse(bytes(answer("a=recvonly")).replace(b"RTP/AVP 109", b"RTP/AVP 96")),
            "mapped to H264",
            id="format-without-its-rtpmap",
        ),
        pytest.param(
            sdp.parse(bytes(answer("a=recvonly")).replace(b"H264/90000", b"VP8/90000")),
            "an H264 rtpmap",
            id="no-h264",
        ),
    ],
)
def test_an_answer_not_receiving_the_video_fails(
    answered: sdp.SessionDescription, expected: str
) -> None:
    with pytest.raises(DeviceFailure, match=rf"\[SIP-CALL-SDP-004\] expected .*{expected}"):
        accepted_video("SIP-CALL-SDP-004", answered, "the answer")


@pytest.mark.negative_control("SIP-CALL-SDP-004")
def test_an_answer_with_other_m_lines_fails() -> None:
    """Recorded: the audio m-line dropped (the video alone answered), and the m-lines swapped."""
    video_only = sdp.parse(bytes(answer("a=recvonly")).replace(b"m=audio 0 RTP/AVP 0\r\n", b""))
    swapped = sdp.parse(bytes(answer("a=recvonly")))
    swapped.media.reverse()
    for answered in (video_only, swapped):
        with pytest.raises(DeviceFailure, match=r"one answer m-line per offered one"):
            same_m_lines("SIP-CALL-SDP-004", offer(MODE_1), answered)


# -- packetization-mode 0 offered (mode_0_answer_problem: SIP-MED-H264-001) ----------------------


@pytest.mark.negative_control("SIP-MED-H264-001")
def test_a_mode_0_offer_answered_otherwise_fails() -> None:
    """test_media_depth.py offers mode 0 on payload type 97 and judges the answer's H.264
    payload type and its a=fmtp."""
    for fmtp in (None, "profile-level-id=42e01f", "profile-level-id=42e01f;packetization-mode=0"):
        assert mode_0_answer_problem(97, 97, fmtp) is None
    # Recorded: mode 1 answered (the decoder's default fmtp copied), the payload type renumbered.
    problem = mode_0_answer_problem(97, 97, MODE_1)
    assert problem == f"payload type 97, a=fmtp {MODE_1!r}"
    assert mode_0_answer_problem(97, 96, "packetization-mode=0") is not None
