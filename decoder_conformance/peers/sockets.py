"""Sockets from the suite host to a device's SIP bind, for the peers that write raw bytes.

One opener for the malformed-SIP sender and the RFC-refusal cases: a UDP socket bound to the
suite host on an ephemeral port, or a TCP connection from it to the device.
"""

from __future__ import annotations

import socket

from decoder_conformance.peers.capture import Address


def open_to_device(
    transport: str, host: str, remote: Address, timeout: float
) -> tuple[socket.socket, Address]:
    """A UDP socket bound to `host` (port 0) or a TCP connection from `host` to `remote`, and
    its local address. ConnectionError names `remote` when TCP cannot connect."""
    if transport == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
    else:
        try:
            sock = socket.create_connection(remote, timeout=timeout, source_address=(host, 0))
        except OSError as exc:
            raise ConnectionError(f"TCP connection to {remote[0]}:{remote[1]}: {exc}") from exc
    name = sock.getsockname()
    return sock, (str(name[0]), int(name[1]))
