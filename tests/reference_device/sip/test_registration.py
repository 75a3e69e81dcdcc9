"""Registration of the reference decoder against a tiny registrar played by the test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reference_device.sip.peer import Device, Peer, device, respond
from wire import digest, sip

PASSWORD = "secret"


def _challenge_and_grant(registrar: Peer, port: int, grant: int, nonce: str) -> sip.SipRequest:
    """401 with qop=auth, check the authenticated REGISTER, grant `grant` s on the Contact."""
    first = registrar.register()
    challenge = digest.Challenge(realm="lab", nonce=nonce, qop=["auth"])
    respond(registrar, first, 401, port, WWW_Authenticate=challenge.to_header())
    second = registrar.register()
    authorization = second.headers.get("Authorization")
    assert authorization is not None
    assert digest.verify(authorization, PASSWORD, "REGISTER", challenge=challenge)
    assert second.call_id == first.call_id and second.cseq.number == first.cseq.number + 1
    contact = second.headers.get("Contact")
    respond(registrar, second, 200, port, Contact=f"{contact};expires={grant}")
    return second


def _registered_device(dev: Device, registrar: Peer) -> None:
    dev.account(
        registerServer="127.0.0.1",
        registerPort=str(registrar.port),
        username="u1",
        password=PASSWORD,
        realm="*",
    )


def _stop_answering_unregister(dev: Device, registrar: Peer, port: int) -> None:
    """SIGTERM the device and answer the Expires: 0 it sends on the way out."""
    dev.process.process.terminate()
    respond(registrar, registrar.register(expires="0"), 200, port)
    assert dev.process.process.wait(5) == 0


def test_register_challenge_refresh_on_granted_expiry_and_unregister(tmp_path: Path) -> None:
    registrar = Peer()
    with device(tmp_path, "--register-expires", "60") as dev:
        port = dev.sip_port()
        _registered_device(dev, registrar)
        first = _challenge_and_grant(registrar, port, 2, "n1")
        assert first.headers.get("Expires") == "60"
        assert first.to_addr.uri == "sip:dec@127.0.0.1"
        assert first.contacts[0].uri == f"sip:dec@127.0.0.1:{port}"
        granted_at = registrar.seen[-1].t
        dev.wait_state("register_status", "registered")
        assert dev.status()["register_status"]["extra_info"] == 200
        refresh = _challenge_and_grant(registrar, port, 2, "n2")
        delay = registrar.seen[-2].t - granted_at  # the refresh's first REGISTER
        assert 1.2 < delay < 1.9, f"refresh {delay:.2f} s after a 2 s grant (expected 1.5 s)"
        assert refresh.call_id == first.call_id and refresh.cseq.number > first.cseq.number
        dev.ok("remove", id="1")
        unregister = registrar.register(expires="0")
        assert unregister.call_id == first.call_id
        respond(registrar, unregister, 200, port)
    registrar.close()


def test_fault_refresh_requested_expiry(tmp_path: Path) -> None:
    registrar = Peer()
    with device(tmp_path, "--register-expires", "3", faults=("refresh_requested_expiry",)) as dev:
        port = dev.sip_port()
        _registered_device(dev, registrar)
        _challenge_and_grant(registrar, port, 1, "n1")
        granted_at = registrar.seen[-1].t
        registrar.nothing(lambda m: isinstance(m, sip.SipRequest), 1.2)  # due at 0.75 s
        respond(registrar, registrar.register(), 200, port, Expires="1")
        assert registrar.seen[-1].t - granted_at > 2.0  # refreshed on the 3 s requested
        _stop_answering_unregister(dev, registrar, port)
    registrar.close()


@pytest.mark.parametrize("fault", [(), ("no_unregister_on_remove",)])
def test_remove_unregisters_unless_faulty(tmp_path: Path, fault: tuple[str, ...]) -> None:
    registrar = Peer()
    with device(tmp_path, faults=fault) as dev:
        port = dev.sip_port()
        _registered_device(dev, registrar)
        request = registrar.register()
        respond(registrar, request, 200, port, Expires="30")
        dev.wait_state("register_status", "registered")
        dev.ok("remove", id="1")
        if fault:
            registrar.nothing(lambda m: isinstance(m, sip.SipRequest), 1.0)
        else:
            unregister = registrar.register(expires="0")
            respond(registrar, unregister, 200, port)
    registrar.close()


def test_modify_registrar_unregisters_old_then_registers_new(tmp_path: Path) -> None:
    old, new = Peer(), Peer()
    with device(tmp_path) as dev:
        port = dev.sip_port()
        _registered_device(dev, old)
        respond(old, old.register(), 200, port, Expires="30")
        dev.wait_state("register_status", "registered")
        dev.ok("modify", id="1", registerPort=str(new.port))
        unregister = old.register(expires="0")
        dev.wait_state("register_status", "unregistering")
        respond(old, unregister, 200, port)
        respond(new, new.register(expires="3600"), 200, port, Expires="30")
        dev.wait_state("register_status", "registered")
        _stop_answering_unregister(dev, new, port)
    old.close()
    new.close()


def test_forbidden_is_error_and_wrong_password_loop_is_error(tmp_path: Path) -> None:
    registrar = Peer()
    with device(tmp_path) as dev:
        port = dev.sip_port()
        _registered_device(dev, registrar)
        respond(registrar, registrar.register(), 403, port)
        dev.wait_state("register_status", "error")
        assert dev.status()["register_status"]["extra_info"] == 403
        # The retry (200 ms base) is challenged twice with the same nonce: wrong credentials.
        challenge = digest.Challenge(realm="lab", nonce="same").to_header()
        retry = registrar.register()
        dev.wait_state("register_status", "registering")
        respond(registrar, retry, 401, port, WWW_Authenticate=challenge)
        respond(registrar, registrar.register(), 401, port, WWW_Authenticate=challenge)
        dev.wait_state("register_status", "error")
        assert dev.status()["register_status"]["extra_info"] == 401
    registrar.close()


def test_silent_registrar_is_connecting_408(tmp_path: Path) -> None:
    registrar = Peer()
    with device(tmp_path, "--sip-t1-ms", "10") as dev:
        _registered_device(dev, registrar)
        dev.wait_state("register_status", "registering")
        dev.wait_state("register_status", "connecting")
        assert dev.status()["register_status"]["extra_info"] == 408
        retransmissions = [r for r in registrar.seen if r.message.start_line().startswith("REG")]
        assert not retransmissions or len({r.message.call_id for r in retransmissions}) == 1
    registrar.close()


def test_realm_mismatch_is_error(tmp_path: Path) -> None:
    registrar = Peer()
    with device(tmp_path) as dev:
        port = dev.sip_port()
        dev.account(
            registerServer="127.0.0.1",
            registerPort=str(registrar.port),
            username="u1",
            password=PASSWORD,
            realm="mine",
        )
        challenge = digest.Challenge(realm="theirs", nonce="n").to_header()
        respond(registrar, registrar.register(), 401, port, WWW_Authenticate=challenge)
        dev.wait_state("register_status", "error")
    registrar.close()


def _same_transaction(request: sip.SipRequest) -> Callable[[sip.SipMessage], bool]:
    """Accepts a retransmission of `request` (a REGISTER on the same Via branch)."""
    branch = request.vias[0].branch

    def accept(m: sip.SipMessage) -> bool:
        return (
            isinstance(m, sip.SipRequest) and m.method == "REGISTER" and m.vias[0].branch == branch
        )

    return accept


@pytest.mark.parametrize("fault", [(), ("registered_before_ok",)])
def test_registered_only_once_the_200_comes_unless_faulty(
    tmp_path: Path, fault: tuple[str, ...]
) -> None:
    """While the registrar holds its 200 to the authenticated REGISTER, status.json shows
    registering; under registered_before_ok it already shows registered."""
    registrar = Peer()
    with device(tmp_path, faults=fault) as dev:
        port = dev.sip_port()
        _registered_device(dev, registrar)
        first = registrar.register()
        challenge = digest.Challenge(realm="lab", nonce="held", qop=["auth"])
        respond(registrar, first, 401, port, WWW_Authenticate=challenge.to_header())
        got = registrar.expect(
            lambda m: (
                isinstance(m, sip.SipRequest)
                and m.method == "REGISTER"
                and m.headers.get("Authorization") is not None
            ),
            "the authenticated REGISTER",
        )
        held = got.message
        assert isinstance(held, sip.SipRequest)
        # The 200 is held: sample status.json now and after each of the first two
        # retransmissions of the held REGISTER (the device is still waiting for its answer).
        samples = [dev.status()["register_status"]]
        for _ in range(2):
            registrar.expect(_same_transaction(held), "a retransmission of the held REGISTER")
            samples.append(dev.status()["register_status"])
        states = [s["state"] for s in samples]
        if fault:
            assert states == ["registered"] * 3, samples
        else:
            assert states == ["registering"] * 3, samples
        contact = held.headers.get("Contact")
        respond(registrar, held, 200, port, Contact=f"{contact};expires=30")
        dev.wait_state("register_status", "registered")
        assert dev.status()["register_status"]["extra_info"] == 200
        _stop_answering_unregister(dev, registrar, port)
    registrar.close()


def test_fault_digest_uri_without_port(tmp_path: Path) -> None:
    registrar = Peer()
    with device(tmp_path, faults=("digest_uri_without_port",)) as dev:
        _registered_device(dev, registrar)
        first = registrar.register()
        challenge = digest.Challenge(realm="lab", nonce="n1", qop=["auth"])
        respond(registrar, first, 401, dev.sip_port(), WWW_Authenticate=challenge.to_header())
        second = registrar.register()
        credentials = digest.Credentials.parse(second.headers.get("Authorization") or "")
        assert second.uri == f"sip:127.0.0.1:{registrar.port}"
        assert credentials.uri == "sip:127.0.0.1"  # the port left out
        respond(registrar, second, 200, dev.sip_port(), Expires="30")
        _stop_answering_unregister(dev, registrar, dev.sip_port())
    registrar.close()


def test_fault_register_cseq_restarts(tmp_path: Path) -> None:
    registrar = Peer()
    with device(tmp_path, faults=("register_cseq_restarts",)) as dev:
        port = dev.sip_port()
        _registered_device(dev, registrar)
        first = _challenge_and_grant(registrar, port, 1, "n1")
        refresh = registrar.register()  # the refresh's first REGISTER, on the same Call-ID
        assert refresh.call_id == first.call_id
        assert refresh.cseq.number == 1 < first.cseq.number
        respond(registrar, refresh, 200, port, Expires="30")
        _stop_answering_unregister(dev, registrar, port)
    registrar.close()
