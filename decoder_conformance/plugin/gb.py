"""Fixtures for GB28181 cases: a platform on the suite host, gb28181 accounts, status series.

The platform takes the device's keepalive settings from the profile's [gb28181] table (the page
has no field for them) and sends the edition's X-GB-ver when the profile declares 2022. Every
platform and recorder a case starts is stopped when it ends; the platform's records go into the
case's ladder and pcap, the status series is attached as a table and a bitrate plot.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from decoder_conformance.device.accounts import AccountFactory, DeviceSip, GbAccounts
from decoder_conformance.device.status_series import StatusRecorder
from decoder_conformance.device.target import Target
from decoder_conformance.peers.gb_platform import GbPlatform
from decoder_conformance.plugin.peer_duties import gb_platform_duties
from decoder_conformance.plugin.peers import track_server
from decoder_conformance.plugin.stash import add_duty, case_evidence, item_req
from decoder_conformance.report.plot import bitrate_plot_png
from wire import gb_id

#: The X-GB-ver a 2022 platform sends (2022 Annex I's example); a 2016 platform sends none.
GB_VERSION = {"2016": None, "2022": "3.0"}
DEVICE_IDS = pytest.StashKey[Iterator[str]]()


@pytest.fixture
def gb_platform(
    request: pytest.FixtureRequest, suite_host: str, device_target: Target
) -> Iterator[Callable[..., GbPlatform]]:
    """`gb_platform(grant=..., qop=False, ...)`: a started GB28181 platform on the suite host."""
    started: list[GbPlatform] = []
    gb = device_target.profile.gb28181

    def start(**kwargs: Any) -> GbPlatform:
        kwargs.setdefault("host", suite_host)
        kwargs.setdefault("keepalive_interval", gb.keepalive_interval)
        kwargs.setdefault("keepalive_count", gb.keepalive_count)
        kwargs.setdefault("gb_version", GB_VERSION[gb.edition])
        platform = track_server(request, started, GbPlatform(**kwargs).start(), "GB platform")
        # Its REGISTER and MESSAGE duties fail any case that saw them broken (peer_duties.py).
        add_duty(request.node, f"GB platform {platform.address}", gb_platform_duties(platform))
        return platform

    yield start
    for platform in started:
        platform.stop()


@pytest.fixture
def gb_account(
    request: pytest.FixtureRequest, new_account: AccountFactory, device_sip: DeviceSip
) -> GbAccounts:
    """`gb_account(platform, call_cfg={...})`: a gb28181 account registering to `platform`."""
    ids = request.config.stash.setdefault(
        DEVICE_IDS,
        (
            gb_id.make_id(gb_id.TYPE_DECODER, serial)
            for serial in itertools.count(100_000 + secrets.randbelow(800_000))
        ),
    )
    factory = GbAccounts(new_account, device_sip, ids)
    case_evidence(request.node).add_roles(
        "device accounts", lambda: {a.sip.address: "decoder" for a in factory.made}
    )
    return factory


@pytest.fixture
def status_series(
    request: pytest.FixtureRequest, device_target: Target
) -> Iterator[Callable[[int], StatusRecorder]]:
    """`status_series(account_id)`: sample status.json through the case; attached at its end."""
    recorders: list[StatusRecorder] = []

    def start(account_id: int) -> StatusRecorder:
        client = device_target.client(req=item_req(request.node))
        recorder = StatusRecorder(client, account_id).start()
        recorders.append(recorder)
        case_evidence(request.node).add_attacher(lambda: _attach(recorder))
        return recorder

    yield start
    for recorder in recorders:
        recorder.stop()


def _attach(recorder: StatusRecorder) -> None:
    import allure

    recorder.stop()
    name = f"status.json series (account {recorder.account_id})"
    allure.attach(recorder.changes_text(), name=name, attachment_type=allure.attachment_type.TEXT)
    points = recorder.bitrate_points()
    if points:
        allure.attach(
            bitrate_plot_png([], points, f"status.json bitrate, account {recorder.account_id}"),
            name=f"{name}: bitrate",
            attachment_type=allure.attachment_type.PNG,
        )
