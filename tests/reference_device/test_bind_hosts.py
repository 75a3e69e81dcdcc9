"""Bind hosts a SIP UA cannot listen and answer on (multicast, broadcast) are refused before
anything is opened (SIP-API-SBIND-005); the wildcard `*` and 0.0.0.0 are taken."""

import asyncio
from pathlib import Path

import pytest

from reference_device.auth import Authenticator
from reference_device.errors import ApiError, ErrorCode
from reference_device.faults import Faults
from reference_device.handlers import Api
from reference_device.params import Params
from reference_device.sip.agent import SipSettings
from reference_device.sip.stack import SipStack
from reference_device.store import Store
from reference_device.validation import is_listening_host, parse_binds, parse_local_address

NON_UNICAST = ("224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1")


@pytest.mark.parametrize("host", NON_UNICAST)
def test_non_unicast_hosts_are_not_listening_hosts(host: str) -> None:
    assert not is_listening_host(host)
    with pytest.raises(ApiError) as refused:
        parse_binds(f"*:5060,{host}:5060")
    assert refused.value.code is ErrorCode.BAD_BINDS
    with pytest.raises(ApiError) as bad_local:
        parse_local_address(f"{host}:5060")
    assert bad_local.value.code is ErrorCode.BAD_VALUE


# Parsed only: nothing is opened on (or sent to) the documentation and link-local addresses.
@pytest.mark.parametrize("host", ["*", "0.0.0.0", "127.0.0.1", "198.51.100.7", "169.254.1.1"])
def test_wildcard_and_unicast_hosts_are_taken(host: str) -> None:
    assert is_listening_host(host)
    assert parse_binds(f"{host}:5060") == [f"{host}:5060"]
    assert parse_local_address(f"{host}:5060") == f"{host}:5060"


def test_the_fault_switch_lets_them_through() -> None:
    assert parse_binds("224.0.0.1:0", listening_only=False) == ["224.0.0.1:0"]


def _with_sip(
    tmp_path: Path, faults: list[str], binds: str
) -> tuple[str | None, set[str], list[str]]:
    """set_binds `binds` on an API with a SIP layer: (error code or None, the hosts of the open
    transports, the stored binds). Sockets are bound only; nothing is sent."""

    async def main() -> tuple[str | None, set[str], list[str]]:
        store = Store.open(tmp_path / "state", ["127.0.0.1:0"])
        sip = SipStack(SipSettings(), Faults(faults))
        sip.start(store.state.binds, [])
        api = Api(store, Faults(faults), Authenticator(None), sip=sip)
        code = None
        try:
            api.set_binds(Params({"binds": binds}))
        except ApiError as exc:
            code = exc.code.value
        hosts = {host for host, _ in sip.transports}
        await sip.close()
        return code, hosts, list(store.state.binds)

    return asyncio.run(main())


@pytest.mark.parametrize("host", NON_UNICAST[:3])
def test_refused_bind_opens_no_socket(tmp_path: Path, host: str) -> None:
    code, hosts, stored = _with_sip(tmp_path, [], f"{host}:0")
    assert (code, hosts, stored) == ("1206", {"127.0.0.1"}, ["127.0.0.1:0"])


def test_fault_opens_the_multicast_bind(tmp_path: Path) -> None:
    code, hosts, stored = _with_sip(tmp_path, ["binds_accept_multicast"], "224.0.0.1:0")
    assert (code, hosts, stored) == (None, {"224.0.0.1"}, ["224.0.0.1:0"])
