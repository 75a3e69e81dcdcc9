"""Host names: the reference decoder looks none up unless started with `--resolve-names`.

A conformance run must not make anything leave the suite host, and a name lookup is traffic
(DNS, or whatever nsswitch says). So a registerServer, sip_out_url host, in-dialog target or GB
media address that is not an IP literal is treated as unresolvable: the registration takes its
"cannot resolve" error path, the dial and the media connect fail as for an unreachable address,
an in-dialog request goes back where the dialog came from; each logs the host and the option.
`--http` refuses a name. The switch is process-wide, set once by `python -m reference_device`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Final

RESOLVE_OPTION: Final = "--resolve-names"

_resolve = False


class NameLookupRefusedError(OSError):
    """A host that is not an IP literal, while name lookups are off."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"{host!r} is not an IP address and names are not looked up "
            f"(start the reference decoder with {RESOLVE_OPTION} to allow it)"
        )
        self.host = host


def configure(*, resolve_names: bool) -> None:
    """Set the process-wide switch (the command line does, before anything is sent)."""
    global _resolve  # noqa: PLW0603 - one process-wide switch, like the command line it mirrors
    _resolve = resolve_names


def resolve_names() -> bool:
    """Whether names are looked up."""
    return _resolve


@contextlib.contextmanager
def resolving(on: bool) -> Iterator[None]:
    """Set the switch for a `with` block (tests), then put it back."""
    before = _resolve
    configure(resolve_names=on)
    try:
        yield
    finally:
        configure(resolve_names=before)


def is_ip_literal(host: str) -> bool:
    """Whether `host` is an IPv4 or IPv6 address (an IPv6 one bracketed or not)."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check(host: str) -> None:
    """Raise NameLookupRefusedError when `host` is a name and lookups are off."""
    if not _resolve and not is_ip_literal(host):
        raise NameLookupRefusedError(host)


async def address(host: str, port: int, *, family: int = 0) -> tuple[str, int]:
    """`host:port` as a UDP socket address; NameLookupRefusedError (an OSError) for a name while
    lookups are off, the resolver's OSError when lookups are on and it fails."""
    check(host)
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, family=family, type=socket.SOCK_DGRAM
    )
    found, found_port = infos[0][4][:2]
    return str(found), int(found_port)
