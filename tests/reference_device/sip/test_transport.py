"""Binds, transports, OPTIONS and request routing of the reference decoder."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.reference_device.sip.peer import LOCAL, Device, Dialog, Peer, device
from wire import sip


def _options(dev_port: int, peer: Peer, method: str = "OPTIONS") -> sip.SipResponse:
    dialog = Dialog(peer, dev_port)
    peer.send(dialog.make(method, cseq=1), dev_port)
    got = peer.expect(lambda m: isinstance(m, sip.SipResponse), f"a response to {method}")
    assert isinstance(got.message, sip.SipResponse)
    return got.message


def _free_to_bind(port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((LOCAL, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def test_ready_line_binds_and_options(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        binds = dev.binds()
        assert dev.process.ready["sip"] == {"binds": binds}
        assert binds[0].startswith("127.0.0.1:") and not binds[0].endswith(":0")
        assert dev.ok("server_port")["data"] == [{"name": binds[0], "value": binds[0]}]
        ok = _options(dev.sip_port(), peer)  # no account needed
        assert ok.status_code == 200
        assert ok.headers.get("Allow") == "INVITE, ACK, BYE, CANCEL, OPTIONS"
        assert ok.headers.get("Accept") == "application/sdp"
        refused = _options(dev.sip_port(), peer, "SUBSCRIBE")
        assert refused.status_code == 405 and refused.headers.get("Allow") is not None
    peer.close()


def test_options_over_tcp(tmp_path: Path) -> None:
    peer = Peer(tcp=True)
    with device(tmp_path) as dev:
        peer.connect(dev.sip_port())
        assert _options(dev.sip_port(), peer).status_code == 200
    peer.close()


def test_set_binds_in_use_is_1207_and_changes_nothing(tmp_path: Path) -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind((LOCAL, 0))
    taken = squatter.getsockname()[1]
    with device(tmp_path) as dev:
        before = dev.binds()
        reply = dev.call("set_binds", binds=f"127.0.0.1:0,127.0.0.1:{taken}")
        assert reply == {"result": "error", "msg": "1207"}
        assert dev.binds() == before
        reply = dev.call("set_binds", binds="203.0.113.1:5060")  # TEST-NET-3: not a local address
        assert reply == {"result": "error", "msg": "1207"}
        assert dev.binds() == before
    squatter.close()


def test_set_binds_reopens_only_what_changed(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        before = dev.binds()
        dev.ok("set_binds", binds=",".join(before))  # writing back get_binds is a no-op
        assert dev.binds() == before
        assert _options(int(before[0].rpartition(":")[2]), peer).status_code == 200
        dev.ok("set_binds", binds="*:0")
        after = dev.binds()
        assert after[0].startswith("*:") and after != before
        old_port = int(before[0].rpartition(":")[2])
        assert _free_to_bind(old_port), "the removed bind's socket must be closed"
        assert _options(int(after[0].rpartition(":")[2]), peer).status_code == 200
    peer.close()


def test_local_address_selects_or_opens_a_transport(tmp_path: Path) -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind((LOCAL, 0))
    taken = squatter.getsockname()[1]
    with device(tmp_path) as dev:
        dev.ok("add", name="a", type="sip")
        dev.ok("modify", id="1", localAccount="dec", localAddress="127.0.0.1:0")
        assert dev.state("account_status") == "created"
        reply = dev.call("modify", id="1", localAddress=f"127.0.0.1:{taken}", realm="changed")
        assert reply == {"result": "error", "msg": "1207"}
        account = dev.ok("account", id="1")["data"]
        assert (account["localAddress"], account["realm"]) == ("127.0.0.1:0", "*")
    squatter.close()


def test_requests_route_by_user_then_404(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        _two_accounts(dev)
        dialog = Dialog(peer, dev.sip_port(), user="nobody")
        dialog.invite(b"")
        peer.response(404)
        dialog = Dialog(peer, dev.sip_port(), user="second")
        dialog.invite(b"")
        peer.response(180)  # account 2 rings (auto_aws off)
        assert dev.state("call_status", 2) == "in"
        assert dev.state("call_status", 1) == "idle"
    peer.close()


def _two_accounts(dev: Device) -> None:
    dev.account("one", localAccount="first")
    dev.account("two", localAccount="second")
