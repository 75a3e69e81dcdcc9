"""The register_status life cycle of the reference decoder against a registrar played by the test:
a refresh that goes unanswered, a registerServer cleared on a live account, a REGISTER pending;
each with the faults and the readings that change it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference_device.sip.peer import Device, Peer, device, respond
from wire import sip

#: T1 10 ms: a REGISTER nobody answers times out (timer F) after 0.64 s.
SHORT_T1 = ("--sip-t1-ms", "10", "--sip-t2-ms", "80")


def _registered(dev: Device, registrar: Peer, grant: int) -> sip.SipRequest:
    """Account 1 registered to `registrar` (no challenge), granted `grant` s."""
    dev.account(registerServer="127.0.0.1", registerPort=str(registrar.port), realm="*")
    first = registrar.register()
    respond(registrar, first, 200, dev.sip_port(), Expires=str(grant))
    dev.wait_state("register_status", "registered")
    return first


@pytest.mark.parametrize(
    ("args", "faults", "lost"),
    [
        ((), (), "reconnecting"),
        (("--reading", "register_status_refresh_lost=error"), (), "error"),
        ((), ("registered_while_registrar_silent",), "registered"),
    ],
    ids=["default", "reading_error", "fault"],
)
def test_unanswered_refresh(
    tmp_path: Path, args: tuple[str, ...], faults: tuple[str, ...], lost: str
) -> None:
    """The refresh times out: reconnecting (error under the reading) through the next retry,
    registered under registered_while_registrar_silent; registered again once answered."""
    registrar = Peer()
    with device(tmp_path, *SHORT_T1, *args, faults=faults) as dev:
        first = _registered(dev, registrar, 1)
        refresh = registrar.register()  # due 0.75 s after the grant; never answered
        assert refresh.call_id == first.call_id
        branch = refresh.vias[0].branch
        # The retry after timer F (a new transaction) shows the refresh has failed.
        retry = registrar.expect(
            lambda m: (
                isinstance(m, sip.SipRequest)
                and m.method == "REGISTER"
                and m.vias[0].branch != branch
            ),
            "the retry REGISTER after the refresh timed out",
        )
        assert dev.state("register_status") == lost
        assert dev.status()["register_status"]["extra_info"] == 408
        assert isinstance(retry.message, sip.SipRequest)
        respond(registrar, retry.message, 200, dev.sip_port(), Expires="30")
        dev.wait_state("register_status", "registered")
    registrar.close()


@pytest.mark.parametrize(
    ("args", "faults", "after"),
    [
        ((), (), "idle"),
        (("--reading", "register_status_after_unregister=closed"), (), "closed"),
        ((), ("clear_server_keeps_binding",), "idle"),
        ((), ("cleared_server_shows_registering",), "registering"),
    ],
    ids=["default", "reading_closed", "fault_no_unregister", "fault_registering"],
)
def test_clearing_register_server(
    tmp_path: Path, args: tuple[str, ...], faults: tuple[str, ...], after: str
) -> None:
    """modify.json with registerServer "" sends Expires: 0 (none under clear_server_keeps_binding),
    then register_status is idle (closed under the reading, registering under
    cleared_server_shows_registering)."""
    registrar = Peer()
    with device(tmp_path, *args, faults=faults) as dev:
        first = _registered(dev, registrar, 30)
        dev.ok("modify", id="1", registerServer="")
        if faults == ("clear_server_keeps_binding",):
            registrar.nothing(lambda m: isinstance(m, sip.SipRequest), 1.0)
        else:
            unregister = registrar.register(expires="0")
            assert unregister.call_id == first.call_id
            respond(registrar, unregister, 200, dev.sip_port())
        dev.wait_state("register_status", after)
    registrar.close()


@pytest.mark.parametrize(
    ("args", "faults", "pending"),
    [
        ((), (), "registering"),
        (("--reading", "register_status_pending=connecting"), (), "connecting"),
        ((), ("register_status_idle_while_pending",), "idle"),
    ],
    ids=["default", "reading_connecting", "fault"],
)
def test_pending_register(
    tmp_path: Path, args: tuple[str, ...], faults: tuple[str, ...], pending: str
) -> None:
    """While the first REGISTER has no answer: registering (connecting under the reading, idle
    under register_status_idle_while_pending)."""
    registrar = Peer()
    with device(tmp_path, *args, faults=faults) as dev:
        dev.account(registerServer="127.0.0.1", registerPort=str(registrar.port), realm="*")
        first = registrar.register()
        assert dev.state("register_status") == pending
        respond(registrar, first, 200, dev.sip_port(), Expires="30")
        dev.wait_state("register_status", "registered")
    registrar.close()
