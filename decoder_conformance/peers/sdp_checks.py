"""Checks of the device's SDP answers, as pure functions of a recorded offer and answer.

The cases call them on what their peer sent and got back; the project's tests feed them recorded
bad answers and see them fail (`@pytest.mark.negative_control`, tests/test_negative_controls.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from decoder_conformance.failures import DeviceFailure, NotExercised
from wire import sdp


@dataclass(frozen=True)
class ModeKept:
    """One offered H.264 payload type and what the answer did with it."""

    payload_type: int
    offered: int
    #: the packetization-mode the answer states for it; None when the answer removed it
    answered: int | None

    def __str__(self) -> str:
        answered = "removed" if self.answered is None else f"mode {self.answered}"
        return f"PT {self.payload_type}: offered mode {self.offered}, answered {answered}"


def _offered_h264_modes(offer: sdp.SessionDescription, index: int) -> dict[int, int]:
    media = offer.media[index]
    modes: dict[int, int] = {}
    for entry in media.rtpmaps():
        if entry.encoding_name.upper() != sdp.ENCODING_H264:
            continue
        try:
            modes[entry.payload_type] = sdp.h264_packetization_mode(media.fmtp(entry.payload_type))
        except ValueError as exc:
            raise NotExercised(f"harness: the suite's own offer is malformed: {exc}") from None
    return modes


def check_packetization_mode_kept(
    req: str, offer: sdp.SessionDescription, answer: sdp.SessionDescription
) -> list[ModeKept]:
    """RFC 6184 §8.2.2: each H.264 payload type of the offer is either answered with the
    packetization-mode offered (absent means 0, §8.1) or removed from the answer (not among the
    answer's formats, or its m-line at port 0). Answer m-lines match offer m-lines by position
    (RFC 3264 §6).

    Returns what the answer did with each offered H.264 payload type; raises DeviceFailure when
    one is kept with another mode (or one that does not parse).
    """
    kept: list[ModeKept] = []
    problems: list[str] = []
    for index, offered in enumerate(offer.media):
        modes = _offered_h264_modes(offer, index)
        if not modes:
            continue
        answered = answer.media[index] if index < len(answer.media) else None
        formats = set() if answered is None or answered.port == 0 else set(answered.formats)
        for payload_type, mode in modes.items():
            if answered is None or str(payload_type) not in formats:
                kept.append(ModeKept(payload_type, mode, None))
                continue
            fmtp = answered.fmtp(payload_type)
            try:
                answered_mode = sdp.h264_packetization_mode(fmtp)
            except ValueError as exc:
                problems.append(f"PT {payload_type}: a=fmtp {fmtp!r} ({exc})")
                continue
            kept.append(ModeKept(payload_type, mode, answered_mode))
            if answered_mode != mode:
                problems.append(
                    f"PT {payload_type}: offered packetization-mode {mode} "
                    f"(a=fmtp {offered.fmtp(payload_type)!r}), answered {answered_mode} "
                    f"(a=fmtp {fmtp!r})"
                )
    if not kept and not problems:
        raise NotExercised("harness: the offer holds no H.264 payload type to check")
    if problems:
        raise DeviceFailure(
            f"[{req}] expected each offered H.264 payload type answered with the offered "
            "packetization-mode (absent = 0) or removed (RFC 6184 §8.2.2: the answerer MUST "
            f"either maintain all configuration parameters or remove the media format); "
            f"observed {'; '.join(problems)}"
        )
    return kept


# -- the answer to a sendonly H.264 offer (SIP-CALL-SDP-003, SIP-CALL-SDP-004) ---------------------

#: The directions RFC 3264 §6.1 allows in the answer to a sendonly offered stream.
ANSWER_TO_SENDONLY = (sdp.DIRECTION_RECVONLY, sdp.DIRECTION_INACTIVE)


def h264_video(
    req: str, description: sdp.SessionDescription, where: str
) -> tuple[int, sdp.MediaDescription]:
    """(index, section) of the m=video that carries H.264 (the first, if several); a
    DeviceFailure naming `req` when `description` (`where` names it) has none."""
    for index, media in enumerate(description.media):
        if media.media == "video" and any(
            r.encoding_name.upper() == "H264" for r in media.rtpmaps()
        ):
            return index, media
    raise DeviceFailure(
        f"[{req}] expected an m=video with an H264 rtpmap in {where}, observed "
        f"{[m.m_value() for m in description.media]}"
    )


def same_m_lines(req: str, offer: sdp.SessionDescription, answer: sdp.SessionDescription) -> None:
    """One answer m-line per offered one, of the same media, in the same order (RFC 3264 §6);
    a DeviceFailure naming `req` otherwise."""
    offered = [m.media for m in offer.media]
    answered = [m.media for m in answer.media]
    if answered != offered:
        raise DeviceFailure(
            f"[{req}] expected one answer m-line per offered one, in order: {offered}; "
            f"observed {answered}"
        )


def accepted_video(
    req: str,
    description: sdp.SessionDescription,
    where: str,
    payload_type: int | None = None,
) -> sdp.MediaDescription:
    """The m=video of an answer to a sendonly H.264 offer, as RFC 3264 requires it: accepted
    (a non-zero port), its payload type mapped to H264 by an rtpmap, and recvonly or
    inactive (§6.1; a media-level attribute, else the session-level one). A DeviceFailure
    naming `req` otherwise.

    `payload_type`: the offer's, which the answer SHOULD reuse (§6.1; SIP-CALL-SDP-003 only).
    A single format and a c= of the SIP host are the device's choice, not checked here.
    """
    index, video = h264_video(req, description, where)
    if video.port == 0:
        raise DeviceFailure(
            f"[{req}] expected the video accepted (a non-zero port) in {where}: {video.m_value()}"
        )
    h264 = {r.payload_type for r in video.rtpmaps() if r.encoding_name.upper() == "H264"}
    usable = [pt for pt in video.formats if pt.isdigit() and int(pt) in h264]
    if not usable:
        raise DeviceFailure(
            f"[{req}] expected a format of the m=video mapped to H264 by an rtpmap in {where}: "
            f"{video.lines}"
        )
    if payload_type is not None and str(payload_type) not in usable:
        raise DeviceFailure(
            f"[{req}] expected payload type {payload_type} (the offer's) for H264 in {where}, "
            f"observed m={video.m_value()} rtpmap {video.rtpmaps()}"
        )
    direction = description.media_direction(index)
    if direction not in ANSWER_TO_SENDONLY:
        raise DeviceFailure(
            f"[{req}] expected the video of {where} answered recvonly or inactive (RFC 3264 "
            f"§6.1, the offer is sendonly), observed {direction}"
        )
    return video


# -- packetization-mode 0 (SIP-MED-H264-001) -------------------------------------------------------


def packetization_mode(fmtp: str | None) -> str:
    """The packetization-mode of an fmtp value as written (RFC 6184 §8.1: "0" when absent)."""
    for parameter in (fmtp or "").split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "packetization-mode":
            return value.strip()
    return "0"


def mode_0_answer_problem(offered: int, payload_type: int, fmtp: str | None) -> str | None:
    """SIP-MED-H264-001: the answer to an offer of H.264 packetization-mode 0 on payload type
    `offered` keeps it: the answer's H.264 `payload_type` is the offer's and its a=fmtp (`fmtp`,
    None when absent) states mode 0 or none. What was observed, None when nothing is wrong."""
    if payload_type == offered and packetization_mode(fmtp) == "0":
        return None
    return f"payload type {payload_type}, a=fmtp {fmtp!r}"
