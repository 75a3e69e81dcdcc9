"""RTP and RTCP over connection-oriented transport (RFC 4571): 2-octet length framing, no I/O.

Hand-written on purpose: the framing is two octets, but a receiver has to get the stream
reassembly right (a TCP read may hold half a length field, several frames, or one frame spread
over many reads) and must refuse a peer that announces frames larger than it is willing to buffer.
None of the RTP packages offers this apart from its own socket code. Standard library only.

``frame(packet)`` prefixes a packet with its length; :class:`Deframer` turns the chunks a stream
socket delivers into the packets they carry. GB28181 media over TCP (``TCP/RTP/AVP`` in SDP)
uses the same framing.
"""

from __future__ import annotations

LENGTH_SIZE = 2
MAX_FRAME = 0xFFFF


class FrameTooLarge(ValueError):
    """A frame announced more octets than the deframer accepts; framing is lost from here on.

    ``packets`` holds the packets completed by the same :meth:`Deframer.feed` call before it.
    """

    def __init__(self, message: str, packets: list[bytes]) -> None:
        super().__init__(message)
        self.packets = packets


def frame(packet: bytes) -> bytes:
    """``packet`` with its RFC 4571 length prefix; ``ValueError`` above 65535 octets."""
    if len(packet) > MAX_FRAME:
        raise ValueError(
            f"packet of {len(packet)} octets does not fit an RFC 4571 frame (at most {MAX_FRAME})"
        )
    return len(packet).to_bytes(LENGTH_SIZE, "big") + bytes(packet)


class Deframer:
    """Stream chunks to packets. Zero-length frames are skipped (and counted in ``empty``).

    A frame longer than ``max_length`` raises :class:`FrameTooLarge` (a ``ValueError``) with its
    length and stream offset; the stream has then lost its framing and every later :meth:`feed`
    raises it again.
    """

    def __init__(self, max_length: int = MAX_FRAME) -> None:
        """``max_length``: the largest frame accepted (1-65535 octets)."""
        if not 1 <= max_length <= MAX_FRAME:
            raise ValueError(f"max_length {max_length} is outside 1-{MAX_FRAME}")
        self.max_length = max_length
        self.frames = 0
        self.empty = 0
        self.octets = 0  # stream octets consumed into complete frames (prefixes included)
        self._buffer = bytearray()
        self._error: str | None = None

    @property
    def pending(self) -> int:
        """Octets received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add a chunk of the stream; returns the packets it completed, in order."""
        if self._error is not None:
            raise FrameTooLarge(self._error, [])
        self._buffer += data
        packets: list[bytes] = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= LENGTH_SIZE:
            length = int.from_bytes(buffer[offset : offset + LENGTH_SIZE], "big")
            if length > self.max_length:
                self._error = (
                    f"RFC 4571 frame at stream octet {self.octets} announces {length} octets,"
                    f" more than max_length {self.max_length}"
                    f" (length prefix {bytes(buffer[offset : offset + LENGTH_SIZE]).hex()},"
                    f" after {self.frames} good frames)"
                )
                del buffer[:offset]
                raise FrameTooLarge(self._error, packets)
            end = offset + LENGTH_SIZE + length
            if end > len(buffer):
                break
            if length:
                packets.append(bytes(buffer[offset + LENGTH_SIZE : end]))
                self.frames += 1
            else:
                self.empty += 1
            self.octets += end - offset
            offset = end
        del buffer[:offset]
        return packets
