"""Media ports: one UDP socket per call, bound on the transport's host (port 0), kept open.

Nothing is decoded yet (a later issue); received datagrams are drained and counted so the socket
never fills, and the port in the SDP is a real, bound one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Final

log = logging.getLogger(__name__)

MAX_DATAGRAM: Final = 65535


class MediaPort:
    """A bound UDP socket for one call's video."""

    def __init__(self, host: str) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._sock.bind((host, 0))
        except OSError:
            self._sock.close()
            raise
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self.received_bytes = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._drain)
        self._closed = False
        log.info("media port %s:%d open", host, self.port)

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def _drain(self) -> None:
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.received_bytes += len(data)

    def close(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        log.info("media port %s:%d closed", self.host, self.port)
