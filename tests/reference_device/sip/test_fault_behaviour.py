"""Built-in SIP faults of the reference decoder, each against the behaviour without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference_device.sip.peer import LOCAL, Dialog, Peer, device
from wire import sip


def _options_status(port: int) -> int:
    """The status code of the device's answer to an OPTIONS over UDP to `port`."""
    peer = Peer()
    try:
        dialog = Dialog(peer, port)
        peer.send(dialog.make("OPTIONS", cseq=1), port)
        got = peer.expect(lambda m: isinstance(m, sip.SipResponse), "a response to OPTIONS")
        assert isinstance(got.message, sip.SipResponse)
        return got.message.status_code
    finally:
        peer.close()


@pytest.mark.parametrize("fault", [(), ("binds_show_requested_port",)])
def test_port_zero_bind_shows_the_bound_port_unless_faulty(
    tmp_path: Path, fault: tuple[str, ...]
) -> None:
    """A bind written 127.0.0.1:0 shows the ephemeral port bound; under
    binds_show_requested_port get_binds.json shows 127.0.0.1:0 although a port was bound."""
    with device(tmp_path, "--sip-bind", f"{LOCAL}:0", faults=fault) as dev:
        (bound,) = dev.process.ready["sip"]["binds"]  # the ready line: what was really opened
        host, _, port = bound.rpartition(":")
        assert host == LOCAL and int(port) > 0, bound
        assert _options_status(int(port)) == 200  # SIP is answered on the bound port
        shown = dev.binds()
        if fault:
            assert shown == [f"{LOCAL}:0"]
        else:
            assert shown == [bound]
