"""device/probe.py: discovery measures the reference decoder's limits and leaves it as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.observations import CapabilityProbe, LimitProbe
from decoder_conformance.device.client import DeviceClient, Exchange, Reply
from decoder_conformance.device.probe import (
    PROBE_PREFIX,
    ProbeLeftover,
    longest_accepted,
    probe_max_accounts,
    probe_max_name_length,
    probe_max_value_length,
    probe_name,
    probe_policy_write,
    run_probes,
)
from decoder_conformance.device.target import ReferenceProcess, start_reference

CODES = {name: entry.code for name, entry in Catalogue().errors.items()}


def client_of(device: ReferenceProcess) -> DeviceClient:
    client = DeviceClient(device.api_url, CODES)
    client.add_account("kept1")  # an account the device had before: never touched
    return client


@pytest.fixture
def small(tmp_path: Path) -> Iterator[ReferenceProcess]:
    """A reference decoder that holds at most 3 accounts."""
    device = start_reference(tmp_path / "small", extra_args=("--max-accounts", "3"))
    yield device
    assert device.stop() == 0, device.log_tail()


@pytest.fixture
def sticky(tmp_path: Path) -> Iterator[ReferenceProcess]:
    """A reference decoder whose remove.json answers ok and keeps the account listed."""
    device = start_reference(tmp_path / "sticky", faults=("remove_keeps_listed",))
    yield device
    assert device.stop() == 0, device.log_tail()


def test_probes_find_the_reference_limits_and_change_nothing(
    reference: ReferenceProcess,
) -> None:
    client = client_of(reference)
    before = client.accounts()
    results = run_probes(client)
    assert {k: (p.value, p.at_least) for k, p in results.limits.items()} == {
        "max_accounts": (32, False),
        "max_name_length": (64, False),
        "max_value_length": (128, False),
    }
    assert results.capabilities == {
        "policy_write": CapabilityProbe(
            True, "modify_call_cfg.json took policy=2 and account.json showed it"
        )
    }
    assert "refused account 33 with 32 listed (error 1210)" in results.limits["max_accounts"].detail
    assert "refused 65 (error 1209)" in results.limits["max_name_length"].detail
    assert client.accounts() == before
    assert client.account(before[0].id)["username"] == ""


def test_a_ceiling_below_the_limit_gives_a_lower_bound(reference: ReferenceProcess) -> None:
    client = client_of(reference)
    before = client.accounts()
    assert probe_max_accounts(client, ceiling=5) == LimitProbe(
        5, "add.json took every account up to 5 listed", at_least=True
    )
    assert probe_max_name_length(client, ceiling=40) == LimitProbe(
        40, "add.json took a 40-character name", at_least=True
    )
    assert probe_max_value_length(client, ceiling=100).value == 100
    assert client.accounts() == before


def test_a_full_device_cannot_be_probed(small: ReferenceProcess) -> None:
    client = client_of(small)
    client.add_account("kept2")
    client.add_account("kept3")
    before = client.accounts()
    accounts = probe_max_accounts(client)
    assert accounts.value is None and not accounts.ran
    assert accounts.detail == (
        "add.json refused the first probe account with 3 listed (error 1210)"
    )
    names = probe_max_name_length(client)
    assert names.value is None
    assert names.detail == "add.json refused a 8-character probe name (error 1210)"
    policy = probe_policy_write(client)
    assert policy.value is None and "add.json refused the probe account" in policy.detail
    assert client.accounts() == before


def test_accounts_already_there_count_towards_the_limit(small: ReferenceProcess) -> None:
    client = client_of(small)
    assert probe_max_accounts(client).value == 3
    assert [a.name for a in client.accounts()] == ["kept1"]


class PolicyIgnored(DeviceClient):
    """The reference decoder, but modify_call_cfg.json refuses (or ignores) `policy`."""

    ignore = False

    def call(
        self, endpoint: str, params: Mapping[str, str] | None = None, method: str = ""
    ) -> Reply:
        if endpoint == "modify_call_cfg" and params and "policy" in params:
            body = {"result": "ok"} if self.ignore else {"result": "error", "msg": "1203"}
            text = json.dumps(body)
            return Reply(Exchange("GET", self.url_for("sip/x.json"), {}, 200, text, 1.0), body)
        return super().call(endpoint, params, method)


@pytest.mark.parametrize(
    ("ignore", "detail"),
    [
        (False, "modify_call_cfg.json refused policy=2 (error 1203)"),
        (True, "modify_call_cfg.json answered ok to policy=2, account.json showed 1"),
    ],
)
def test_policy_not_taken_is_not_writable(
    reference: ReferenceProcess, ignore: bool, detail: str
) -> None:
    client = PolicyIgnored(reference.api_url, CODES)
    client.ignore = ignore
    before = client.accounts()
    assert probe_policy_write(client) == CapabilityProbe(False, detail)
    assert client.accounts() == before


def test_an_account_the_device_keeps_is_named(sticky: ReferenceProcess) -> None:
    client = DeviceClient(sticky.api_url, CODES)
    with pytest.raises(ProbeLeftover, match=r"left 1 account\(s\) on the device: account 'ctp"):
        probe_policy_write(client)
    # The first leftover is now the device's own; max_accounts fills it up to 32 and stops.
    with pytest.raises(ProbeLeftover, match=r"left 31 account\(s\) on the device: .*\(id 32\)\. "):
        run_probes(client)


def test_probe_names_are_letters_and_digits_of_the_asked_length() -> None:
    for length in (1, 3, 8, 64, 4096):
        name = probe_name(length)
        assert len(name) == length and name.isascii() and name.isalnum()
    assert probe_name().startswith(PROBE_PREFIX)
    assert probe_name(20) != probe_name(20)


@pytest.mark.parametrize("limit", [8, 9, 15, 16, 17, 63, 64, 65, 1000, 4095])
def test_the_search_finds_any_limit_between_base_and_ceiling(limit: int) -> None:
    tried: list[int] = []

    def accepted(length: int) -> bool:
        tried.append(length)
        return length <= limit

    assert longest_accepted(accepted, 8, 4096) == (limit, False)
    assert len(tried) <= 2 * 10, tried


def test_the_search_stops_at_its_ceiling() -> None:
    assert longest_accepted(lambda _n: True, 8, 100) == (100, True)
    assert longest_accepted(lambda n: n <= 99, 8, 100) == (99, False)
