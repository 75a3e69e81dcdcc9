"""Media cases: a call that stays up, real H.264 streamed into it, the reported bitrate recorded.

`media` (:class:`MediaKit`) places a call from the raw caller (peers/raw_ua.py) to an
auto-answering account, reads the device's media address, port and payload type from its SDP
answer, streams an encoded test pattern there with decoder_conformance/media/, and polls
status.json's bitrate on a fixed cadence into a time series. Each case attaches a PNG of sent vs
reported bitrate and the series as CSV.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.device.accounts import SipAccount, SipAccounts
from decoder_conformance.device.client import ConformanceFailure, DeviceClient
from decoder_conformance.device.status_series import bitrate_error
from decoder_conformance.device.target import Target
from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import Impairments, RtpSender
from decoder_conformance.peers.capture import WireRecord, rtp_records
from decoder_conformance.peers.raw_ua import Leg, RawCaller
from decoder_conformance.plugin.stash import CaseEvidence
from decoder_conformance.plugin.status_trace import trace_every_case
from decoder_conformance.report.plot import bitrate_plot_png
from wire import sdp

#: How often status.json's bitrate is sampled while media flows (seconds).
SAMPLE_EVERY = 0.25
#: call_status while a call is up: one of the call states (in, out, calling). Which one an
#: established call shows is the reading call_status_meaning, observed only by SIP-CALL-STAT-001
#: (suites/calls/test_call_status.py); media cases judge only a call in progress.
ESTABLISHED = ("in", "out", "calling")


@dataclass
class MediaCall:
    """An established (or answered, not yet confirmed) call and where its media goes."""

    account: SipAccount
    leg: Leg
    host: str
    port: int
    payload_type: int
    tcp: bool
    answer: sdp.SessionDescription
    caller: RawCaller


@dataclass(repr=False)
class BitrateRecorder:
    """Samples status.json's bitrate on its own thread while media flows."""

    client: DeviceClient
    account_id: int
    samples: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bitrate-sampler", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            next_at = time.monotonic()
            while not self._stop.is_set():
                status = self.client.status(self.account_id)
                self.samples.append((time.monotonic(), status.bitrate))
                next_at += SAMPLE_EVERY
                # The sampling cadence, not a settle delay: stop() ends the wait at once.
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        except BaseException as exc:  # re-raised in the case by stop()
            self._error = exc

    def start(self) -> BitrateRecorder:
        """Begin sampling."""
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, float]]:
        """Stop sampling; re-raise what the sampler hit; the samples."""
        self._stop.set()
        self._thread.join(5)
        if self._error is not None:
            raise self._error
        return self.samples

    def __repr__(self) -> str:
        return f"BitrateRecorder(account {self.account_id}, {len(self.samples)} samples)"

    def between(self, start: float, end: float) -> list[float]:
        """Reported values sampled in [start, end]."""
        return [kbps for t, kbps in self.samples if start <= t <= end]


def video_offer(
    media_port: int,
    *,
    payload_type: int,
    tcp: bool,
    host: str = LOOPBACK,
    fmtp: str | None = sdp.H264_DEFAULT_FMTP,
) -> sdp.SessionDescription:
    """A sendonly H.264 offer from `host`; over TCP the caller is the active side (RFC 4145)."""
    return sdp.h264_offer(
        host=host,
        video_port=media_port,
        payload_type=payload_type,
        fmtp=fmtp,
        tcp=tcp,
        session_id=4243,
        session_version=1,
        username="conformance",
        session_name="conformance",
    )


@dataclass(repr=False)
class MediaKit:
    """The steps every media case repeats."""

    api: DeviceClient
    device_target: Target
    sip_account: SipAccounts
    raw_caller: Callable[..., RawCaller]
    suite_host: str = LOOPBACK
    device_hosts: tuple[str, ...] = ()
    senders: list[RtpSender] = field(default_factory=list)
    recorders: dict[int, BitrateRecorder] = field(default_factory=dict)  # by account id
    streams: list[tuple[RtpSender, BitrateRecorder, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"MediaKit({len(self.senders)} senders, {len(self.recorders)} samplers)"

    @property
    def timeout(self) -> float:
        """Seconds the profile allows for a state change."""
        return float(self.device_target.profile.timers.state_timeout)

    def call(
        self,
        *,
        payload_type: int = 96,
        tcp: bool = False,
        fmtp: str = sdp.H264_DEFAULT_FMTP,
        confirm: bool = True,
        edit_offer: Callable[[RawCaller, sdp.SessionDescription], None] | None = None,
    ) -> MediaCall:
        """A call answered by the device; ACKed (a call in progress) unless `confirm` is False.

        The offer is video_offer's, which `edit_offer(caller, offer)` may change in place first.
        """
        account = self.sip_account(call_cfg={"auto_aws": "true"})
        caller: RawCaller = self.raw_caller()
        offer = self.offer(caller, payload_type=payload_type, tcp=tcp, fmtp=fmtp)
        if edit_offer is not None:
            edit_offer(caller, offer)
        body = offer.to_bytes()
        leg = caller.call(account, body)
        ok = leg.response(timeout=self.timeout)
        if ok.status_code != 200:
            raise ConformanceFailure(
                self.api.req,
                "200 to an INVITE offering H.264 video (auto_aws 1)",
                f"{ok.status_code} {ok.reason}; offer:\n{body.decode(errors='replace')}"
                f"flow: {leg.flow()}",
            )
        answer = sdp.parse(ok.body)
        index, pt = sdp.find_h264_video(answer)
        connection = answer.media_connection(index)
        video = answer.media[index]
        if connection is None or video.port == 0:
            raise ConformanceFailure(
                self.api.req,
                "an answer accepting the video with an address and a port",
                ok.body.decode(errors="replace"),
            )
        if confirm:
            leg.ack()
            self.wait_established(account, "the device answered 200 and got its ACK")
        return MediaCall(account, leg, connection.address, video.port, pt, tcp, answer, caller)

    @staticmethod
    def offer(
        caller: RawCaller,
        *,
        payload_type: int = 96,
        tcp: bool = False,
        fmtp: str | None = sdp.H264_DEFAULT_FMTP,
    ) -> sdp.SessionDescription:
        """video_offer from `caller`'s media port, for a case that edits it or places its own call
        (a conftest is not importable by module name)."""
        return video_offer(
            caller.media_port, payload_type=payload_type, tcp=tcp, host=caller.host, fmtp=fmtp
        )

    #: The call states of a call that is up, for the cases (a conftest is not importable by
    #: module name).
    ESTABLISHED = ESTABLISHED

    def wait_established(self, account: SipAccount, why: str) -> None:
        """call_status shows a call in progress (any reading of call_status_meaning) within the
        state timeout."""
        self.api.wait_status(
            account.id,
            lambda s: s.call in ESTABLISHED,
            timeout=self.timeout,
            expected=f"call_status {' or '.join(ESTABLISHED)} ({why})",
        )

    def stream(
        self,
        call: MediaCall,
        stream: EncodedStream,
        *,
        sender_options: dict[str, Any] | None = None,
        **impairments: Any,
    ) -> RtpSender:
        """Start sending `stream` to the call's media address (stopped after the case), with
        RtpSender options of the case's (`sender_options`: packetization_mode).

        The call's reported bitrate is recorded from now on, and a sent-vs-reported plot of this
        stream is attached when the case ends.
        """
        recorder = self.record(call)
        options = sender_options or {}
        sender = RtpSender(
            stream,
            (call.host, call.port),
            call.payload_type,
            tcp=call.tcp,
            impairments=Impairments(**impairments) if impairments else Impairments(),
            bind_host=self.suite_host,
            allowed_hosts=self.device_hosts,
            **options,
        )
        self.senders.append(sender)
        kbps = stream.total_bytes * 8 / 1000 / stream.duration
        title = f"{stream.width}x{stream.height} {stream.fps} fps ~{kbps:.0f} kbit/s"
        if impairments or options:
            shown = {**options, **impairments}
            title += " " + ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
        self.streams.append((sender, recorder, title))
        sender.start()
        return sender

    def record(self, call: MediaCall) -> BitrateRecorder:
        """The sampler of the account's reported bitrate (started on first use)."""
        recorder = self.recorders.get(call.account.id)
        if recorder is None:
            client = self.device_target.client(req=self.api.req)
            recorder = BitrateRecorder(client, call.account.id).start()
            self.recorders[call.account.id] = recorder
        return recorder

    def wait_bitrate(self, call: MediaCall, accept: Any, expected: str, timeout: float) -> float:
        """Poll status.json until its bitrate satisfies `accept`; returns it."""
        status = self.api.wait_status(
            call.account.id, lambda s: accept(s.bitrate), timeout=timeout, expected=expected
        )
        return status.bitrate

    def check_bitrate(
        self,
        recorder: BitrateRecorder,
        sender: RtpSender,
        start: float,
        end: float,
        tolerance: float = 0.05,
    ) -> tuple[float, float]:
        """The median reported bitrate over [start, end] is within `tolerance` of what was sent."""
        reported = recorder.between(start, end)
        sent = sender.sent_kbps(start, end, ssrc=sender.ssrc)
        problem = bitrate_error(reported, sent, tolerance)
        if problem is not None:
            raise ConformanceFailure(
                self.api.req,
                f"status.json bitrate within {tolerance:.0%} of the {sent:.0f} kbit/s sent "
                "(at least 4 samples in the window)",
                problem,
            )
        value = median(reported)
        return value, sent

    def attach(self, recorder: BitrateRecorder, sender: RtpSender, title: str) -> None:
        """Attach the sent-vs-reported plot and the series (no-op without allure)."""
        try:
            import allure
        except ImportError:  # pragma: no cover - allure-pytest is a dependency
            return
        origin = sender.started_at or (recorder.samples[0][0] if recorder.samples else 0.0)
        sent = [(t, kbps) for t, kbps in sender.per_second(sender.ssrc, step=0.5)]
        reported = [(t - origin, float(kbps)) for t, kbps in recorder.samples]
        allure.attach(
            bitrate_plot_png(sent, reported, title),
            name=f"bitrate: {title} (blue sent, orange reported)",
            attachment_type=allure.attachment_type.PNG,
        )
        rows = ["t_s,source,kbps"]
        rows += [f"{t:.3f},sent,{k:.1f}" for t, k in sent]
        rows += [f"{t:.3f},reported,{k:.0f}" for t, k in reported]
        allure.attach(
            "\n".join(rows),
            name=f"bitrate series: {title}",
            attachment_type=allure.attachment_type.CSV,
        )

    def rtp_records(self) -> list[WireRecord]:
        """Every RTP packet the case's senders sent, as wire records (for the case's pcap)."""
        return [r for sender in self.senders for r in rtp_records(sender)]

    def roles(self) -> dict[str, str]:
        """Ladder names of the senders' and the device's media addresses."""
        roles = {f"{s.host}:{s.port}": "decoder (media)" for s in self.senders}
        for sender in self.senders:
            if sender.local_address is not None:
                host, port = sender.local_address
                roles[f"{host}:{port}"] = "media source"
        return roles

    def attach_all(self) -> None:
        """A sent-vs-reported plot (and CSV) for every stream the case sent."""
        for sender, recorder, title in self.streams:
            self.attach(recorder, sender, title)

    def close(self) -> None:
        """Stop every sender and sampler the case started."""
        for sender in self.senders:
            sender.stop()
        for recorder in self.recorders.values():
            recorder.stop()


@pytest.fixture
def media(
    api: DeviceClient,
    device_target: Target,
    sip_account: SipAccounts,
    raw_caller: Callable[..., RawCaller],
    *,
    evidence: CaseEvidence,
    suite_host: str,
    device_hosts: tuple[str, ...],
) -> Iterator[MediaKit]:
    """The media toolkit for this case; senders and samplers stop when the case ends.

    Media is sent from the suite host, and only to the device's host (or 127.0.0.1).
    """
    kit = MediaKit(api, device_target, sip_account, raw_caller, suite_host, device_hosts)
    evidence.add_records("RTP senders", kit.rtp_records, kit.roles)
    evidence.add_attacher(kit.attach_all)
    yield kit
    kit.close()


#: Every case here has its accounts' status.json traced and judged (plugin/status_trace.py).
_status_trace = trace_every_case()
