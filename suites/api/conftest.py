"""Local fixtures of the API suites: state snapshots, unknown ids, named adds, token-less clients.

Everything here talks to the device through the case's `api` client (so every exchange is
recorded and attached), and everything a fixture creates is removed by the `new_account` factory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from decoder_conformance.contract.profile import Limits
from decoder_conformance.device.client import (
    AccountSummary,
    ConformanceFailure,
    DeviceClient,
    Reply,
    binds_match,
)
from decoder_conformance.device.target import Target
from decoder_conformance.plugin.stash import SUITE_CONFIG


@dataclass(frozen=True)
class DeviceState:
    """What a client can read of the device: the list, the binds, and two views per account.

    Built from raw answers (not the schema-checked helpers) so a schema defect in one read does
    not hide the comparison this snapshot is taken for.
    """

    listed: tuple[tuple[Any, ...], ...]
    binds: Any
    accounts: tuple[tuple[int, Any, Any], ...]

    def diff(self, other: DeviceState) -> str:
        """A short description of what differs between two snapshots ("" when equal)."""
        parts = []
        if self.listed != other.listed:
            parts.append(f"list.json {list(self.listed)} -> {list(other.listed)}")
        if self.binds != other.binds:
            parts.append(f"get_binds.json {self.binds} -> {other.binds}")
        pairs = zip(self.accounts, other.accounts, strict=True)
        for (aid, acc_a, cfg_a), (_, acc_b, cfg_b) in pairs:
            if acc_a != acc_b:
                parts.append(f"account.json id {aid}: {_changed(acc_a, acc_b)}")
            if cfg_a != cfg_b:
                parts.append(f"call_cfg.json id {aid}: {_changed(cfg_a, cfg_b)}")
        return "; ".join(parts)

    def view(self, account_id: int, name: str) -> Any:
        """The raw answer of one per-account view in this snapshot: `name` is "account"
        (account.json) or "call_cfg" (call_cfg.json)."""
        for aid, account, call_cfg in self.accounts:
            if aid == account_id:
                return account if name == "account" else call_cfg
        raise KeyError(f"account {account_id} is not in this snapshot")


def _changed(before: Any, after: Any) -> str:
    """The keys whose values differ, when both are ok bodies with dict data; else both bodies."""
    a = before.get("data") if isinstance(before, dict) else None
    b = after.get("data") if isinstance(after, dict) else None
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys)
    return f"{before!r} -> {after!r}"


def read_state(api: DeviceClient, ids: Iterable[int]) -> DeviceState:
    """Snapshot list.json, get_binds.json and account.json + call_cfg.json of `ids`."""
    listed = api.call("list")
    api.expect_ok(listed)
    entries = tuple(
        sorted(
            (e.get("id"), e.get("name"), e.get("type"), e.get("created"))
            for e in listed.data or []
            if isinstance(e, dict)
        )
    )
    binds = api.call("get_binds").body
    views = tuple(
        (
            aid,
            api.call("account", {"id": str(aid)}).body,
            api.call("call_cfg", {"id": str(aid)}).body,
        )
        for aid in sorted(ids)
    )
    return DeviceState(entries, binds, views)


class StateGuard:
    """Snapshots before a request and the check that a refused request changed none of it."""

    def __init__(self, api: DeviceClient) -> None:
        self.api = api

    def snap(self, *ids: int) -> DeviceState:
        """A DeviceState snapshot including the accounts `ids`."""
        return read_state(self.api, ids)

    def read_views(self, account_id: int, views: Iterable[str]) -> dict[str, Reply]:
        """The answers of the account's `views` ("account", "call_cfg"): the targeted reads that
        show what a modify.json or modify_call_cfg.json could have written, without a whole
        snapshot (the property-based cases' cheap path)."""
        return {v: self.api.call(v, {"id": str(account_id)}) for v in views}

    @staticmethod
    def views_changed(account_id: int, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
        """What differs between two sets of raw view answers (by view name, as `read_views`
        and `DeviceState.view` give them); "" when equal."""
        return "; ".join(
            f"{view}.json id {account_id}: {_changed(before[view], body)}"
            for view, body in after.items()
            if before[view] != body
        )

    def unchanged(self, before: DeviceState, reply: Reply) -> None:
        """Read the same state again; fail naming what the refused request `reply` changed."""
        after = read_state(self.api, [aid for aid, _, _ in before.accounts])
        changed = before.diff(after)
        if changed:
            raise ConformanceFailure(
                self.api.req,
                "the refused request to leave the device's state unchanged",
                f"it changed {changed}",
                reply.exchange,
            )


@pytest.fixture
def guard(api: DeviceClient) -> StateGuard:
    """State snapshots and the "a refused request changes nothing" check, for this case."""
    return StateGuard(api)


@pytest.fixture
def limits(device_target: Target) -> Limits:
    """The profile's [limits] (max_accounts, max_name_length, max_value_length)."""
    return device_target.profile.limits


@pytest.fixture
def unknown_id(api: DeviceClient) -> int:
    """An id no listed account has (well beyond the largest listed one)."""
    ids = [a.id for a in api.accounts()]
    return max(ids, default=0) + 1000


@pytest.fixture
def add_named(api: DeviceClient, new_account: Any) -> Callable[[str, str], Reply]:
    """`add_named(name, type)`: add.json with a chosen name; a listed result is removed after."""

    def add(name: str, type_: str = "sip") -> Reply:
        reply = api.call("add", {"name": name, "type": type_})
        found = api.find(name)
        if found is not None:
            new_account.adopt(found.id)
        return reply

    return add


@pytest.fixture
def credentials(request: pytest.FixtureRequest, device_target: Target) -> tuple[str, str]:
    """The login user and password the session uses (options over the profile)."""
    user, password = device_target.user, device_target.password
    if not user:
        raise pytest.UsageError(
            f"profile {device_target.profile.source} declares capability login but gives no "
            "[device].user (or --device-user)"
        )
    return user, password


@pytest.fixture
def bare_client(api: DeviceClient, device_target: Target) -> Callable[..., DeviceClient]:
    """`bare_client(token=None)`: a client without the session's token, recording into the case."""

    def make(token: str | None = None) -> DeviceClient:
        return DeviceClient(
            device_target.api_url,
            device_target.error_codes,
            timeout=device_target.profile.timers.http_timeout,
            token=token,
            req=api.req,
            on_exchange=api.on_exchange,
            read_only=device_target.read_only,
        )

    return make


@pytest.fixture
def catalogue_codes(request: pytest.FixtureRequest, device_target: Target) -> set[str]:
    """Every error code this device may answer: spec/errors.yaml's and the profile's own.

    `device_target.error_codes` holds only the pinned codes (the page's, the profile's
    remaps); an unpinned refusal may answer any catalogue code.
    """
    catalogue = request.config.stash[SUITE_CONFIG].catalogue
    return {e.code for e in catalogue.errors.values()} | set(device_target.error_codes.values())


@pytest.fixture
def saved_binds(api: DeviceClient) -> Iterator[list[str]]:
    """The binds as the case found them; put back after the case if it changed them."""
    before = api.binds()
    try:
        yield before
    finally:
        if before and api.binds() != before:
            api.set_binds(before)


@pytest.fixture
def trial_binds(saved_binds: list[str], spare_binds: list[str]) -> list[str]:
    """Binds to write that differ from the ones the case found: only the profile's spare binds.

    The whole spare list, or its first entry alone when the device already shows the whole list
    (so writing it visibly changes get_binds.json). The `saved_binds` fixture puts the binds back.
    """
    return spare_binds[:1] if binds_match(spare_binds, saved_binds) else list(spare_binds)


@pytest.fixture
def listed(api: DeviceClient) -> Callable[[int], AccountSummary]:
    """`listed(id)`: the list.json entry of `id`; a failure naming the case's req if absent."""

    def entry(account_id: int) -> AccountSummary:
        found = next((a for a in api.accounts() if a.id == account_id), None)
        if found is None:
            raise ConformanceFailure(api.req, f"id {account_id} listed by list.json", "not listed")
        return found

    return entry
