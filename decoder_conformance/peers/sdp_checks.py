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
