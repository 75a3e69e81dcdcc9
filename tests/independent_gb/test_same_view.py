"""The independent platform and the suite's GbPlatform see the reference decoder the same way.

One reference decoder (short GB timers), one gb28181 account. First it registers with the
independent platform (platform.py, written from the notes alone), which collects its view:
registration shape, keepalives, Catalog/DeviceInfo/DeviceStatus answers, a third-party-call-
control play with PS over RTP and the decoder's status.json bitrate meanwhile. Then the account
is pointed at the suite's GbPlatform, and the same facts are read from that platform's public API
(binding, keepalives, query_state/wait_response, play/send/bye, records). The two views must
agree field by field; the bitrate must be within 5% of what was sent on both.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance.device.target import ReferenceProcess, start_reference
from decoder_conformance.peers.gb_platform import GbPlatform
from tests.independent_gb import platform as gb

pytestmark = pytest.mark.xdist_group("independent_gb")

DEVICE = "34020000001140000001"  # type 114: decoder
PASSWORD = "12345678"
KEEPALIVE_S = 1.0
CHANNELS = 2
GB_ARGS = (
    "--gb-keepalive-interval",
    str(KEEPALIVE_S),
    "--gb-keepalive-count",
    "3",
    "--gb-channels",
    str(CHANNELS),
)
KBPS = 1000
FPS = 25
SECONDS = 4.0
KEEPALIVES = 4  # three intervals
QUERIES = ("Catalog", "DeviceInfo", "DeviceStatus")
#: third-party call control (bodyless INVITE, answer in the ACK) and INVITE with an offer
STYLES = ("third_party", "offer")
BITRATE_TOLERANCE = 0.05
INTERVAL_TOLERANCE_S = 0.2
#: status.json samples from this long after media starts are the decoder's steady reading.
WARMUP_S = 1.5


class Api:
    """The decoder's HTTP API (the vendor page's sip/*.json), GET with a query string."""

    def __init__(self, device: ReferenceProcess) -> None:
        self.base = device.api_url.rstrip("/")

    def call(self, endpoint: str, **params: str) -> dict[str, Any]:
        url = f"{self.base}/sip/{endpoint}.json?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            body: dict[str, Any] = json.loads(answer.read())
        assert body.get("result") == "ok", f"{endpoint} {params}: {body}"
        return body

    def status(self, account_id: str) -> dict[str, Any]:
        return {e["id"]: e for e in self.call("status", id=account_id)["data"]}

    def wait_status(self, account_id: str, which: str, state: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        idle = threading.Event()
        while (seen := self.status(account_id)[which]["state"]) != state:
            if time.monotonic() > deadline:
                raise AssertionError(f"{which} stayed {seen!r}, expected {state!r}")
            idle.wait(0.05)  # poll interval on a monotonic deadline


class Sampler:
    """status.json's bitrate and call_status every 0.25 s from a thread, while in the block."""

    def __init__(self, api: Api, account_id: str) -> None:
        self.api, self.account_id = api, account_id
        self.samples: list[tuple[float, int, str]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-sampler", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(0.25):
            status = self.api.status(self.account_id)
            self.samples.append(
                (time.monotonic(), int(status["bitrate"]["state"]), status["call_status"]["state"])
            )

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)

    def steady_kbps(self, media_start: float, media_end: float) -> float | None:
        """Median bitrate over the samples from `WARMUP_S` after `media_start` to `media_end`."""
        values = [k for t, k, _ in self.samples if media_start + WARMUP_S <= t <= media_end]
        return statistics.median(values) if values else None

    def call_states(self, media_start: float, media_end: float) -> list[str]:
        return sorted({s for t, _, s in self.samples if media_start <= t <= media_end})


@contextmanager
def reference(tmp_path: Path, edition: str) -> Iterator[ReferenceProcess]:
    device = start_reference(tmp_path / "state", extra_args=(*GB_ARGS, "--gb-edition", edition))
    try:
        yield device
    finally:
        device.stop()


def point_account(
    api: Api, account_id: str, device: ReferenceProcess, port: int, platform_id: str
) -> None:
    api.call(
        "modify",
        id=account_id,
        type="gb28181",
        localAccount=DEVICE,
        localAddress=device.ready["sip"]["binds"][0],
        serverId=platform_id,
        realm=platform_id[:10],
        registerServer="127.0.0.1",
        registerPort=str(port),
        username=DEVICE,
        password=PASSWORD,
    )


def bitrate_view(
    sent_kbps: float, sampler: Sampler, start: float, end: float, after: dict[str, Any]
) -> dict[str, Any]:
    decoder = sampler.steady_kbps(start, end)
    return {
        "decoder_kbps_within_5pct_of_sent": decoder is not None
        and abs(decoder - sent_kbps) <= BITRATE_TOLERANCE * sent_kbps,
        "sent_within_5pct_of_target": abs(sent_kbps - KBPS) <= BITRATE_TOLERANCE * KBPS,
        "call_status_during": sampler.call_states(start + WARMUP_S, end),
        "call_status_after_bye": after["call_status"]["state"],
        "bitrate_after_bye": after["bitrate"]["state"],
    }


# --- the independent platform's view -------------------------------------------------------------


def independent_view(
    platform: gb.Platform, api: Api, account_id: str, frames: list[gb.Frame]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(view, numbers): the view is compared; the numbers are reported."""
    platform.wait_registered(DEVICE, timeout=10)
    api.wait_status(account_id, "register_status", "registered", timeout=5)
    exchanges = [(s.msg, s.answered) for s in platform.registers]
    exchanges = [(m, code) for m, code in exchanges if m.get("Expires") != "0"]
    registration = gb.registration_view(exchanges, platform.platform_id, platform.domain)
    granted_register, granted = platform.bindings[DEVICE]
    registration |= {
        "granted_expires": granted,
        "binding_call_id_is_the_registers": granted_register.msg.call_id == exchanges[0][0].call_id,
    }
    kept = platform.wait_keepalives(KEEPALIVES, timeout=KEEPALIVES * KEEPALIVE_S * 3)
    keepalive = gb.keepalive_view(
        [
            (
                k.t,
                k.body.fields.get("SN"),
                k.body.fields.get("DeviceID"),
                k.body.fields.get("Status"),
            )
            for k in kept
        ],
        encoding=kept[0].body.declared,
        decodes=all(k.body.decodes for k in kept),
        content_type=kept[0].content_type,
    )
    keepalive["answered"] = sorted({k.answered for k in kept})
    queries = {}
    for cmd in QUERIES:
        sn = platform.query(DEVICE, cmd)
        query = platform.wait_response(sn, timeout=5)
        queries[cmd] = gb.response_view(
            cmd, sn, query.answer, [r.body for r in query.responses], DEVICE
        )
    play, numbers = {}, {"keepalive_interval_s": keepalive["interval_median_s"]}
    for style in STYLES:
        play[style], numbers[style] = independent_play(platform, api, account_id, frames, style)
    platform.check()
    return {
        "registration": registration,
        "keepalive": keepalive,
        "queries": queries,
        "play": play,
    }, numbers


def independent_play(
    platform: gb.Platform, api: Api, account_id: str, frames: list[gb.Frame], style: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    with Sampler(api, account_id) as sampler:
        played = platform.play(DEVICE, frames, style=style, fps=FPS, seconds=SECONDS)
    media_start = played.started_at
    media_end = media_start + played.seconds
    after = api.status(account_id)
    sdp = played.offer or gb.Sdp()
    platform_y = gb.parse_sdp(played.answer_raw).y
    play = {
        "invite_code": played.invite_code,
        "contact_in_200": played.contact is not None,
        "device_sdp_direction": sdp.direction,
        "device_sdp_ps_payload_type": gb.ps_payload_type(sdp),
        "device_sdp_rtpmap": sdp.rtpmap,
        "device_sdp_media": sdp.media,
        "device_sdp_proto": sdp.proto,
        "device_sdp_port_set": sdp.port > 0,
        "device_sdp_address": sdp.address,
        "device_sdp_y": "absent" if sdp.y is None else "echoes" if sdp.y == platform_y else "own",
        "rtp_ssrc_is_platform_y": platform_y is not None and int(played.ssrc) == int(platform_y),
        "bye_code": played.bye_code,
        "ended_by_device": played.device_bye,
    } | bitrate_view(played.ps_kbps, sampler, media_start, media_end, after)
    numbers = {
        "sent_ps_kbps": round(played.ps_kbps, 1),
        "sent_rtp_kbps": round(played.rtp_kbps, 1),
        "decoder_kbps": sampler.steady_kbps(media_start, media_end),
        "samples": [(round(t - media_start, 2), k, s) for t, k, s in sampler.samples],
    }
    return play, numbers


# --- the suite platform's view, from its public API ----------------------------------------------


def suite_registers(suite: GbPlatform) -> list[tuple[gb.SipMsg, int | None]]:
    """The device's REGISTERs as the suite platform recorded them, each with the suite's answer."""
    records = suite.records()
    out: list[tuple[gb.SipMsg, int | None]] = []
    for index, record in enumerate(records):
        if record.direction != "RX" or not record.is_request_of("REGISTER"):
            continue
        request = gb.parse_sip(record.raw)
        code = next(
            (
                gb.parse_sip(later.raw).status
                for later in records[index + 1 :]
                if later.direction == "TX"
                and later.status_of("REGISTER") is not None
                and gb.parse_sip(later.raw).branch == request.branch
            ),
            None,
        )
        out.append((request, code))
    return out


def answers_on_wire(suite: GbPlatform, sn: int) -> dict[str, Any]:
    """Query `sn` in the suite's own records: how often it went out (a retransmission means the
    platform's transaction took no final answer) and the device's answers (matched by Via
    branch), as evidence beside `query_state(sn).answer` when the two disagree."""
    records = suite.records()
    marker = f"<SN>{sn}</SN>".encode()
    sent = [
        r for r in records if r.direction == "TX" and r.is_request_of("MESSAGE") and marker in r.raw
    ]
    branches = {gb.parse_sip(r.raw).branch for r in sent}
    answers = [
        r
        for r in records
        if r.direction == "RX" and r.status_of("MESSAGE") and gb.parse_sip(r.raw).branch in branches
    ]
    start = sent[0].t if sent else 0.0
    return {
        "query_sent_at_ms": [round((r.t - start) * 1000, 1) for r in sent],
        "answers_at_ms": [
            (gb.parse_sip(r.raw).status, round((r.t - start) * 1000, 1)) for r in answers
        ],
    }


def wait_suite_unregister(suite: GbPlatform) -> list[tuple[gb.SipMsg, int | None]]:
    """The suite's REGISTER exchanges once one with Expires: 0 was answered 200 (or 5 s)."""
    deadline = time.monotonic() + 5
    idle = threading.Event()
    while True:
        exchanges = suite_registers(suite)
        done = any(m.get("Expires") == "0" and code == 200 for m, code in exchanges)
        if done or time.monotonic() > deadline:
            return exchanges
        idle.wait(0.05)  # poll interval on a monotonic deadline


def suite_view(
    suite: GbPlatform, api: Api, account_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    binding = suite.wait_registered(DEVICE, timeout=10)
    api.wait_status(account_id, "register_status", "registered", timeout=5)
    exchanges = suite_registers(suite)
    exchanges = [(m, code) for m, code in exchanges if m.get("Expires") != "0"]
    registration = gb.registration_view(exchanges, suite.platform_id, suite.domain)
    registration |= {
        "granted_expires": binding.expires,
        "binding_call_id_is_the_registers": binding.call_id == exchanges[0][0].call_id,
    }
    suite.wait_keepalive(DEVICE, timeout=KEEPALIVES * KEEPALIVE_S * 3, since=KEEPALIVES - 1)
    kept = suite.keepalives(DEVICE)
    first = kept[0].incoming.parsed
    keepalive = gb.keepalive_view(
        [(k.t, None if k.sn is None else str(k.sn), k.device_id, k.status) for k in kept],
        encoding=first.declared_encoding if first else None,
        decodes=all(
            k.incoming.parsed is not None
            and k.incoming.parsed.encoding_used.lower().replace("-", "")
            == (k.incoming.parsed.declared_encoding or "utf-8").lower().replace("-", "")
            and not k.problems
            for k in kept
        ),
        content_type=kept[0].incoming.request.headers.get("Content-Type"),
    )
    keepalive["answered"] = sorted({k.answered for k in kept})
    queries = {}
    sns = {}
    for cmd in QUERIES:
        sn = sns[cmd] = suite.query(DEVICE, cmd)
        responses = suite.wait_response(sn, timeout=5)
        state = suite.query_state(sn)
        catalog = suite.catalog(sn, timeout=5) if cmd == "Catalog" else None
        queries[cmd] = suite_response_view(cmd, sn, state.answer, responses, catalog)
    play, numbers = {}, {"keepalive_interval_s": keepalive["interval_median_s"]}
    for style in STYLES:
        play[style], numbers[style] = suite_play(suite, api, account_id, style)
    numbers |= {
        "violations": [str(v) for v in suite.violations()],
        "query_answers_on_the_wire": {cmd: answers_on_wire(suite, sn) for cmd, sn in sns.items()},
    }
    return {
        "registration": registration,
        "keepalive": keepalive,
        "queries": queries,
        "play": play,
    }, numbers


def suite_play(
    suite: GbPlatform, api: Api, account_id: str, style: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    with Sampler(api, account_id) as sampler, suite.play(DEVICE, style=style) as call:
        sender = call.send(KBPS, SECONDS, width=320, height=180, fps=FPS)
        sender.wait(SECONDS + 5)
        media_start = sender.started_at
        sent = sender.sent_kbps(media_start, media_start + SECONDS)
        media_end = time.monotonic()
        bye_code = call.bye()
    after = api.status(account_id)
    sdp = call.device_sdp
    video = next((m for m in sdp.media if m.media == "video"), None) if sdp else None
    lines = video.lines if video else []
    attributes = [v for k, v in lines if k == "a"]
    rtpmap = dict(a[7:].split(" ", 1) for a in attributes if a.startswith("rtpmap:"))
    directions = [a for a in attributes if a in ("sendonly", "recvonly", "sendrecv", "inactive")]
    session_c = next((v for k, v in sdp.lines if k == "c"), "") if sdp else ""
    media_c = next((v for k, v in lines if k == "c"), "")
    ps_pt = next((pt for pt, enc in rtpmap.items() if enc.upper() == "PS/90000"), None)
    device_y = next((v for k, v in [*lines, *(sdp.lines if sdp else [])] if k == "y"), None)
    platform_video = call.platform_sdp.media[0] if call.platform_sdp else None
    platform_y = next((v for k, v in (platform_video.lines if platform_video else []) if k == "y"))
    play = {
        "invite_code": call.code,
        "contact_in_200": call.response is not None
        and call.response.headers.get("Contact") is not None,
        "device_sdp_direction": directions[0] if directions else "sendrecv",
        "device_sdp_ps_payload_type": ps_pt,
        "device_sdp_rtpmap": rtpmap,
        "device_sdp_media": video.media if video else "",
        "device_sdp_proto": video.proto if video else "",
        "device_sdp_port_set": bool(video and video.port > 0),
        "device_sdp_address": (media_c or session_c).split(" ")[-1],
        "device_sdp_y": "absent"
        if device_y is None
        else "echoes"
        if device_y == platform_y
        else "own",
        "rtp_ssrc_is_platform_y": call.ssrc == int(platform_y),
        "bye_code": bye_code,
        "ended_by_device": call.ended_by_device,
    } | bitrate_view(sent, sampler, media_start, media_end, after)
    numbers = {
        "sent_ps_kbps": round(sent, 1),
        "decoder_kbps": sampler.steady_kbps(media_start, media_end),
        "samples": [(round(t - media_start, 2), k, s) for t, k, s in sampler.samples],
        "media_address": call.media_address,
        "ssrc_from": call.ssrc_from,
    }
    return play, numbers


def suite_response_view(
    cmd: str, sn: int, answer: int | None, responses: list[Any], catalog: Any
) -> dict[str, Any]:
    """response_view's fields, read from the suite's parsed Responses (wire.manscdp objects)."""
    parsed = [r.parsed for r in responses]
    messages = [p.message for p in parsed if p is not None and p.message is not None]
    first = messages[0] if messages else None
    view: dict[str, Any] = {
        "answer_to_query": answer,
        "parts": len(responses),
        "root": first.root if first else "",
        "cmd_type": first.cmd_type if first else "",
        "sn_matches": bool(messages) and all(m.sn == sn for m in messages),
        "device_id": first.device_id if first else None,
        "device_id_is_device": bool(first) and first.device_id == DEVICE,
        "encoding": parsed[0].declared_encoding if parsed and parsed[0] else None,
        "decodes": bool(parsed)
        and all(
            p is not None
            and p.encoding_used.lower().replace("-", "")
            == (p.declared_encoding or "utf-8").lower().replace("-", "")
            for p in parsed
        ),
    }
    if first is None:
        return view
    if catalog is not None:
        view |= {
            "sum_num": catalog.sum_num,
            "items": len(catalog.items),
            "item_ids": sorted(item.fields.get("DeviceID", "") for item in catalog.items),
            "item_statuses": sorted({item.fields.get("Status", "") for item in catalog.items}),
        }
    elif cmd == "DeviceInfo":
        view |= {
            "result": first.get("Result"),
            "fields": sorted(["CmdType", "SN", "DeviceID", *(n.tag for n in first.body)]),
        }
    elif cmd == "DeviceStatus":
        view |= {
            "result": first.get("Result"),
            "online": first.get("Online"),
            "status": first.get("Status"),
        }
    return view


# --- the comparison -------------------------------------------------------------------------------


def differences(ours: dict[str, Any], theirs: dict[str, Any], path: str = "") -> list[str]:
    """Field-by-field differences; keepalive intervals compare within INTERVAL_TOLERANCE_S."""
    found = []
    for key in sorted(set(ours) | set(theirs)):
        where = f"{path}.{key}" if path else key
        a, b = ours.get(key, "<absent>"), theirs.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            found += differences(a, b, where)
        elif key == "interval_median_s" and isinstance(a, float) and isinstance(b, float):
            if abs(a - b) > INTERVAL_TOLERANCE_S:
                found.append(f"{where}: independent {a:.3f} s, suite {b:.3f} s")
        elif a != b:
            found.append(f"{where}: independent {a!r}, suite {b!r}")
    return found


@pytest.mark.parametrize("edition", ["2016", "2022"])
def test_independent_platform_sees_what_the_suite_platform_sees(
    tmp_path: Path, edition: str
) -> None:
    frames = gb.cbr_frames(gb.encode_h264(2 * FPS, fps=FPS), KBPS, FPS)
    with reference(tmp_path, edition) as device:
        api = Api(device)
        api.call("add", name="gb", type="gb28181")
        account_id = str(max(e["id"] for e in api.call("list")["data"]))
        api.call("modify_call_cfg", id=account_id, auto_aws="1")
        with gb.Platform(password=PASSWORD) as platform:
            point_account(api, account_id, device, platform.port, platform.platform_id)
            ours, our_numbers = independent_view(platform, api, account_id, frames)
            with GbPlatform(
                password=PASSWORD, keepalive_interval=KEEPALIVE_S, keepalive_count=3
            ) as suite:
                point_account(api, account_id, device, suite.port, suite.platform_id)
                # leaving the independent platform: REGISTER Expires: 0 (notes §1 "Unregister")
                platform.wait_register(lambda m: m.get("Expires") == "0", timeout=5)
                platform.wait_register(
                    lambda m: m.get("Expires") == "0" and bool(m.get("Authorization")), timeout=5
                )
                ours["unregister"] = gb.unregister_view(
                    [(s.msg, s.answered) for s in platform.registers]
                )
                theirs, their_numbers = suite_view(suite, api, account_id)
                # leaving the suite platform: the account is removed
                api.call("remove", id=account_id)
                theirs["unregister"] = gb.unregister_view(wait_suite_unregister(suite))
    report = json.dumps(
        {"independent": ours, "suite": theirs, "numbers": [our_numbers, their_numbers]},
        indent=1,
        ensure_ascii=False,
        default=str,
    )
    (tmp_path / "views.json").write_text(report, "utf-8")
    assert ours["keepalive"]["interval_median_s"] is not None
    for view in (ours, theirs):
        interval = view["keepalive"]["interval_median_s"]
        assert abs(interval - KEEPALIVE_S) <= INTERVAL_TOLERANCE_S, report
        for style in STYLES:
            assert view["play"][style]["invite_code"] == 200, report
            assert view["play"][style]["decoder_kbps_within_5pct_of_sent"], report
    found = differences(ours, theirs)
    assert not found, (
        "the two platforms saw the decoder differently:\n" + "\n".join(found) + ("\n" + report)
    )
