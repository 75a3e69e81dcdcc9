"""Accounts a case configures on the device, and where the device listens for SIP.

Pure data and factories over the device client (no pytest): the plugin wraps them in fixtures,
the peers and the benchmarks take them as arguments.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from decoder_conformance import LOOPBACK
from decoder_conformance.device.client import DeviceClient
from decoder_conformance.failures import NotExercised


@dataclass(frozen=True)
class DeviceSip:
    """Where the device listens for SIP: the first effective bind of get_binds.json."""

    host: str
    port: int
    bind: str  # as get_binds.json shows it, e.g. "127.0.0.1:40321" or "*:5060"

    @property
    def address(self) -> str:
        """HOST:PORT to send SIP to."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SipAccount:
    """An account the case configured on the device."""

    id: int
    local_account: str
    sip: DeviceSip

    @property
    def uri(self) -> str:
        """The SIP URI that reaches this account directly."""
        return f"sip:{self.local_account}@{self.sip.address}"


def device_host_of(api_url: str) -> str:
    """The device's host from its API URL (127.0.0.1 for the bundled reference decoder)."""
    return urlsplit(api_url).hostname or LOOPBACK


def parse_bind(bind: str) -> tuple[str, int] | None:
    """HOST and bound PORT of a get_binds.json entry; None when it is not HOST:PORT with a
    non-zero port (e.g. the page's own `*.2222`, or a port 0 the device did not resolve)."""
    host, sep, port = bind.strip().rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 0 < int(port) <= 65535:
        return None
    return host, int(port)


def device_sip_address(api: DeviceClient, api_url: str) -> DeviceSip:
    """The device's SIP address: its first usable bind; a `*` host means the device's host.

    Entries that are not HOST:PORT with a bound port are skipped. A device that shows no usable
    bind cannot be called, which is not a failure of the case's requirement: NotExercised.
    """
    binds = api.binds()
    for bind in binds:
        parsed = parse_bind(bind)
        if parsed is None:
            continue
        host, port = parsed
        if host in ("*", "0.0.0.0", ""):
            host = device_host_of(api_url)
        return DeviceSip(host, port, bind)
    raise NotExercised(
        f"device shows no usable SIP bind (HOST:PORT with a bound port) in get_binds.json: {binds}"
    )


class AccountFactory:
    """Creates accounts with unique names for one case and removes them afterwards."""

    def __init__(self, client: DeviceClient) -> None:
        self.client = client
        self.created: list[int] = []

    def name(self) -> str:
        """A fresh account name no other case uses."""
        return f"ct-{secrets.token_hex(4)}"

    def __call__(self, type_: str = "sip", **fields_: str) -> int:
        """Add an account (and modify it with `fields_`); returns its id."""
        account_id = self.client.add_account(self.name(), type_)
        self.created.append(account_id)
        if fields_:
            self.client.modify(account_id, **fields_)
        return account_id

    def adopt(self, account_id: int) -> None:
        """Remove `account_id` with the rest at the end (an account the case added itself)."""
        if account_id not in self.created:
            self.created.append(account_id)

    def cleanup(self) -> None:
        """Remove what this factory created and is still listed (each id once)."""
        listed = {a.id for a in self.client.accounts()}
        for account_id in dict.fromkeys(self.created):
            if account_id in listed:
                self.client.remove(account_id)


class SipServer(Protocol):
    """A registrar peer as an account setting sees it: the address the device registers to."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


@dataclass
class SipAccounts:
    """Factory of SIP accounts on the device (removed with the case's other scratch accounts)."""

    api: DeviceClient
    new_account: AccountFactory
    device_sip: DeviceSip
    numbers: Iterator[int]
    made: list[SipAccount] = field(default_factory=list)

    def __call__(
        self,
        *,
        registrar: SipServer | None = None,
        username: str = "alice",
        password: str = "secret",
        realm: str = "*",
        call_cfg: dict[str, str] | None = None,
        **fields_: str,
    ) -> SipAccount:
        """Add an account bound to the device's SIP address (and registering to `registrar`)."""
        local = str(next(self.numbers))
        settings = {"localAccount": local, "localAddress": self.device_sip.bind}
        if registrar is not None:
            settings |= {
                "registerServer": registrar.host,
                "registerPort": str(registrar.port),
                "username": username,
                "password": password,
                "realm": realm,
            }
        settings |= fields_
        if call_cfg:
            # Call settings first, so the account never takes a call under the defaults.
            account_id = self.new_account()
            self.api.modify_call_cfg(account_id, **call_cfg)
            self.api.modify(account_id, **settings)
        else:
            account_id = self.new_account(**settings)
        account = SipAccount(account_id, local, self.device_sip)
        self.made.append(account)
        return account


class GbServer(Protocol):
    """A GB28181 platform as a gb28181 account's settings see it."""

    @property
    def platform_id(self) -> str: ...

    @property
    def domain(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def password(self) -> str: ...


@dataclass(frozen=True)
class GbAccount:
    """A gb28181 account the case configured: its API id and its 20-digit device ID."""

    id: int
    device_id: str
    sip: DeviceSip


@dataclass
class GbAccounts:
    """Factory of gb28181 accounts registering to a GB platform (removed with the case's others).

    The fields are the page's: localAccount = the device ID, serverId = the platform ID, realm =
    the platform's domain, registerServer/registerPort = where the platform listens, username =
    the device ID (the digest username platforms expect), password = the platform's.
    """

    new_account: AccountFactory
    device_sip: DeviceSip
    device_ids: Iterator[str]
    made: list[GbAccount] = field(default_factory=list)

    def __call__(
        self,
        platform: GbServer,
        *,
        password: str | None = None,
        call_cfg: dict[str, str] | None = None,
        **fields_: str,
    ) -> GbAccount:
        """Add a gb28181 account bound to the device's SIP address, registering to `platform`."""
        device_id = next(self.device_ids)
        settings = {
            "localAccount": device_id,
            "localAddress": self.device_sip.bind,
            "serverId": platform.platform_id,
            "realm": platform.domain,
            "registerServer": platform.host,
            "registerPort": str(platform.port),
            "username": device_id,
            "password": platform.password if password is None else password,
        } | fields_
        client = self.new_account.client
        # Call settings first, so the account never takes a call under the defaults.
        account_id = self.new_account("gb28181")
        if call_cfg:
            client.modify_call_cfg(account_id, type="gb28181", **call_cfg)
        client.modify(account_id, type="gb28181", **settings)
        account = GbAccount(account_id, device_id, self.device_sip)
        self.made.append(account)
        return account
