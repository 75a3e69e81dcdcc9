"""The SDP side of a `gb28181` account's video call: what the decoder offers, answers and accepts.

A GB28181 platform gets video into a decoder in one of two ways (GB/T 28181 2016/2022 §9.2.2; in
both the decoder's SDP is ``recvonly`` and the source's ``sendonly``), and :class:`~.calls.Call`
uses this module for both when its owner's account is of type gb28181:

1. third-party call control (§9.2.2.2): a bodyless INVITE gets our offer in the 200
   (:func:`make_offer`); the ACK carries the answer (:func:`read_answer`): the media server's
   ``c=``/``m=``, ``a=sendonly`` and the SSRC in ``y=``;
2. an INVITE carrying a ``sendonly`` offer (:func:`read_offer`), answered ``recvonly``
   (:func:`make_answer`) with the offer's payload number and its ``y=`` echoed (2016 Annex F
   note 4); an offer without ``y=`` gets one the decoder chose (:func:`choose_ssrc`; field
   failure: WVP PR #620/#817).

What is accepted: video over ``RTP/AVP`` or ``TCP/RTP/AVP`` (RFC 4571, Annex L) carrying
``PS/90000`` (preferred) or ``H264/90000``, mapped by rtpmap whatever the payload number; anything
else is :class:`~wire.sdp.SdpNegotiationError` (488 on an INVITE, BYE on an ACK). Over TCP the
roles complement the offer's ``a=setup``: ``active`` (or none, RFC 4145 §4.1) -> we listen
(``passive``), ``passive`` -> we connect (``active``), ``actpass`` -> we listen; ``a=setup`` is
only ever written on TCP media. No ``f=`` is sent. Pure SDP: no sockets.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from wire import gb_sdp, sdp

#: What a decoder offers in third-party call control: PS (the GB payload), then raw H.264.
OFFER_PAYLOADS: Final = (gb_sdp.PS_PAYLOAD_TYPE, gb_sdp.H264_PAYLOAD_TYPE)
#: Encodings accepted, in order of preference.
ENCODINGS: Final = (gb_sdp.ENCODING_PS, gb_sdp.ENCODING_H264)
#: y= digits 2-6 when the device ID is no GB ID to take them from.
FALLBACK_DOMAIN: Final = "0000000000"
_GB_PROTOS: Final = (sdp.PROTO_RTP_AVP, sdp.PROTO_TCP_RTP_AVP)


@dataclass(frozen=True)
class GbMedia:
    """The video a platform's SDP (offer, or answer in the ACK) describes."""

    index: int
    payload_type: int
    #: ``PS`` or ``H264`` (the rtpmap's encoding name, upper case)
    encoding: str
    address: str
    port: int
    direction: str
    proto: str
    #: the peer's a=setup (TCP only; None when absent)
    setup: str | None
    #: the raw ``y=`` value that applies, None when there is none
    ssrc_text: str | None

    @property
    def tcp(self) -> bool:
        """RFC 4571 framing (``TCP/RTP/AVP``)."""
        return self.proto.upper().startswith("TCP/")

    @property
    def ssrc(self) -> int | None:
        """The ``y=`` value as the RTP SSRC (decimal per GB), None without one."""
        return None if self.ssrc_text is None else ssrc_value(self.ssrc_text)

    @property
    def we_connect(self) -> bool:
        """Over TCP: the peer listens (``a=setup:passive``), so the decoder connects."""
        return self.tcp and self.setup == sdp.SETUP_PASSIVE


def ssrc_value(text: str) -> int:
    """A ``y=`` value as the RTP SSRC integer (GbSdpError when it is not one)."""
    return gb_sdp.GbSsrc.parse(text.strip()).value


def _find(description: sdp.SessionDescription) -> tuple[int, int, str]:
    """(index, payload type, encoding) of the first usable video, by encoding preference."""
    usable = [
        m
        if m.proto.upper() in _GB_PROTOS
        else sdp.MediaDescription(m.media, 0, m.proto, list(m.formats))
        for m in description.media
    ]
    probe = sdp.SessionDescription(description.lines, usable, description.line_ending)
    for encoding in ENCODINGS:
        try:
            index, payload_type = sdp.find_video_payload(probe, (encoding,))
        except sdp.SdpNegotiationError:
            continue
        return index, payload_type, encoding
    offered = "; ".join(m.m_value() for m in description.media) or "no m= line"
    raise sdp.SdpNegotiationError(
        f"no PS/90000 or H264/90000 video over RTP/AVP or TCP/RTP/AVP ({offered})"
    )


def _media(description: sdp.SessionDescription) -> GbMedia:
    index, payload_type, encoding = _find(description)
    media = description.media[index]
    connection = description.media_connection(index)
    if connection is None or not connection.address:
        raise sdp.SdpNegotiationError(f"m={media.m_value()} has no c= address")
    ssrc_text = gb_sdp.ssrc_line_of(description, index)
    if ssrc_text is not None:
        ssrc_text = ssrc_text.strip()
        try:
            gb_sdp.GbSsrc.parse(ssrc_text)
        except ValueError as exc:
            raise sdp.SdpNegotiationError(f"y={ssrc_text[:20]!r}: {exc}") from None
    return GbMedia(
        index,
        payload_type,
        encoding,
        connection.address,
        media.port,
        description.media_direction(index),
        media.proto,
        gb_sdp.setup_of(media) if gb_sdp.is_tcp(media) else None,
        ssrc_text,
    )


def read_offer(description: sdp.SessionDescription) -> GbMedia:
    """The platform's INVITE offer: sendonly PS/H.264 video we can take (SdpNegotiationError)."""
    media = _media(description)
    if media.direction != sdp.DIRECTION_SENDONLY:
        raise sdp.SdpNegotiationError(
            f"the offer's video is {media.direction}: a platform sends (sendonly) to a decoder"
            f" ({gb_sdp.CITE_FLOW})"
        )
    if media.tcp and (media.setup or sdp.SETUP_ACTIVE) not in (
        sdp.SETUP_ACTIVE,
        sdp.SETUP_PASSIVE,
        sdp.SETUP_ACTPASS,
    ):
        raise sdp.SdpNegotiationError(f"TCP media with a=setup:{media.setup}")
    if media.we_connect and media.port == 0:
        raise sdp.SdpNegotiationError("a=setup:passive on port 0: nowhere to connect to")
    return media


def read_answer(description: sdp.SessionDescription) -> GbMedia:
    """The answer in the ACK to our offer (SdpNegotiationError: not usable, the call gets BYE).

    It must pick one of the payload types we offered with the encoding we mapped it to, over UDP
    (we offered ``RTP/AVP``), sending to us (``sendonly``)."""
    media = _media(description)
    expected = gb_sdp.GB_RTPMAPS.get(media.payload_type)
    if (
        media.payload_type not in OFFER_PAYLOADS
        or expected is None
        or expected.encoding_name.upper() != media.encoding.upper()
    ):
        raise sdp.SdpNegotiationError(
            f"the answer's payload type {media.payload_type} ({media.encoding}) is not one we"
            f" offered ({', '.join(str(n) for n in OFFER_PAYLOADS)})"
        )
    if media.tcp:
        raise sdp.SdpNegotiationError(f"the answer moves the media to {media.proto}")
    if media.direction != sdp.DIRECTION_SENDONLY:
        raise sdp.SdpNegotiationError(
            f"the answer's video is {media.direction}, not sendonly ({gb_sdp.CITE_FLOW})"
        )
    return media


def device_id_of(username: str) -> str:
    """The o= username: the device ID (localAccount), or ``-`` when it is no single token."""
    return username if username and " " not in username and "\n" not in username else "-"


def make_offer(
    host: str, port: int, *, device_id: str, session_id: int, session_version: int
) -> sdp.SessionDescription:
    """Our offer in the 200 to a bodyless INVITE (third-party call control, §9.2.2.2)."""
    return gb_sdp.gb_offer(
        host,
        port,
        username=device_id_of(device_id),
        payloads=OFFER_PAYLOADS,
        session_id=session_id,
        session_version=session_version,
    )


def make_answer(
    offer: sdp.SessionDescription,
    host: str,
    port: int,
    *,
    device_id: str,
    ssrc: str | None,
    session_id: int,
    session_version: int,
) -> sdp.SessionDescription:
    """Our recvonly answer to `offer`; ``y=`` is `ssrc` when given, else the offer's echoed."""
    return gb_sdp.gb_answer(
        offer,
        host,
        port,
        username=device_id_of(device_id),
        ssrc=ssrc,
        encodings=ENCODINGS,
        session_id=session_id,
        session_version=session_version,
    )


def choose_ssrc(device_id: str, *, avoid: str | None = None) -> str:
    """A ten-digit real-time ``y=`` of our own: digits 4-8 of the device ID's domain and a random
    sequence, never equal to `avoid`."""
    while True:
        sequence = secrets.randbelow(gb_sdp.SEQUENCE_MAX + 1)
        try:
            chosen = gb_sdp.make_ssrc(device_id, sequence=sequence)
        except ValueError:
            chosen = gb_sdp.make_ssrc(FALLBACK_DOMAIN, sequence=sequence)
        if avoid is None or int(chosen) != ssrc_value(avoid):
            return chosen
