"""A burst of incoming calls placed by uac_invite_load.xml, read back from SIPp's message log and
judged against call_in_options.policy 1 with allow_in_num 1.

Pure functions of recorded messages, so the project's tests feed them a recorded bad burst
(`@pytest.mark.negative_control`). The intervals hold whatever the transit time: a call the
device answered was surely up from the moment SIPp got its 200 to the moment SIPp sent its BYE,
and at most from SIPp's INVITE to the 200 to its BYE; an INVITE reached the device between SIPp
sending it and SIPp getting its final answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from decoder_conformance.failures import DeviceFailure
from decoder_conformance.peers.capture import WireRecord

#: The refusals uac_invite_load.xml ACKs and ends the call on (any other is unexpected to SIPp).
REFUSALS = (403, 480, 486, 488, 500, 503, 600, 603)
#: Calls shown in a failure message (SIPp's whole ladder is attached to the case).
SHOWN_CALLS = 8

Interval = tuple[float, float]


@dataclass(frozen=True)
class BurstCall:
    """One call of the burst as SIPp saw it (times on the suite's monotonic clock)."""

    call_id: str
    invite_sent: float
    final: int | None
    final_at: float | None
    bye_sent: float | None = None
    bye_ok_at: float | None = None

    @property
    def answered(self) -> bool:
        """The INVITE got 200."""
        return self.final == 200

    def surely_up(self) -> Interval | None:
        """When the device surely held the call: from its 200 arriving to our BYE leaving."""
        if not self.answered or self.final_at is None or self.bye_sent is None:
            return None
        return self.final_at, self.bye_sent

    def maybe_up(self) -> Interval | None:
        """When the device may have held the call: from our INVITE to the 200 to our BYE."""
        if not self.answered:
            return None
        return self.invite_sent, self.bye_ok_at if self.bye_ok_at is not None else float("inf")

    def arrival(self) -> Interval:
        """When the INVITE reached the device: between sending it and its final answer."""
        return self.invite_sent, self.final_at if self.final_at is not None else float("inf")

    def describe(self, start: float) -> str:
        """One line of the ladder, times relative to `start`."""
        final = "no final answer" if self.final is None else str(self.final)
        text = f"{self.call_id}: INVITE +{self.invite_sent - start:.3f} s -> {final}"
        if self.final_at is not None:
            text += f" +{self.final_at - start:.3f}"
        if self.bye_sent is not None:
            text += f", BYE +{self.bye_sent - start:.3f}"
        if self.bye_ok_at is not None:
            text += f" -> 200 +{self.bye_ok_at - start:.3f}"
        return text


def overlap(a: Interval, b: Interval) -> bool:
    """The two intervals share a moment."""
    return a[0] < b[1] and b[0] < a[1]


def inside(inner: Interval, outer: Interval) -> bool:
    """`inner` lies wholly within `outer`."""
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def burst_calls(records: Iterable[WireRecord]) -> list[BurstCall]:
    """Each call SIPp placed (the Call-IDs of its INVITEs), from its records, in order sent."""
    seen: dict[str, dict[str, float]] = {}
    finals: dict[str, int] = {}
    for record in records:
        if record.direction == "TX" and not record.is_request:
            continue
        message = record.message
        call = seen.setdefault(message.call_id or "", {})
        method = message.cseq.method
        if record.direction == "TX":
            call.setdefault(f"{method}_sent", record.t)
            continue
        code = record.status_of(method)
        if code is None or code < 200:
            continue
        if method == "INVITE" and (message.call_id or "") not in finals:
            finals[message.call_id or ""] = code
            call["final_at"] = record.t
        elif method == "BYE":
            call.setdefault("bye_ok_at", record.t)
    made = [
        BurstCall(
            call_id,
            call["INVITE_sent"],
            finals.get(call_id),
            call.get("final_at"),
            call.get("BYE_sent"),
            call.get("bye_ok_at"),
        )
        for call_id, call in seen.items()
        if "INVITE_sent" in call
    ]
    return sorted(made, key=lambda c: c.invite_sent)


def unexpected_messages(errors_text: str) -> list[str]:
    """SIPp's reports of a message its scenario did not allow (from its error log)."""
    return [
        line.strip()
        for line in errors_text.splitlines()
        if "unexpected" in line.lower() and "message" in line.lower()
    ]


def ladder(burst: Sequence[BurstCall]) -> str:
    """The first SHOWN_CALLS calls, one line each, for a failure message."""
    start = burst[0].invite_sent if burst else 0.0
    shown = [c.describe(start) for c in burst[:SHOWN_CALLS]]
    return "; ".join(shown + (["..."] if len(burst) > SHOWN_CALLS else []))


def check_policy_1(req: str, burst: Sequence[BurstCall]) -> list[BurstCall]:
    """A burst judged by call_in_options.policy 1 ("Only one incoming call is allowed, other
    incoming calls are rejected") with allow_in_num 1 and auto answer on: never two answered
    calls surely up at once, and no refused call that arrived while no answered call can have
    been up. Raises DeviceFailure; returns the contested calls, those that surely arrived while
    another was up (where the policy decided), for the case to prove it was exercised.
    """
    start = burst[0].invite_sent if burst else 0.0
    answered = [c for c in burst if c.answered]
    for index, one in enumerate(answered):
        for two in answered[index + 1 :]:
            first, second = one.surely_up(), two.surely_up()
            if first is not None and second is not None and overlap(first, second):
                raise DeviceFailure(
                    f"[{req}] expected never two calls up at once (policy 1, allow_in_num 1); "
                    f"observed both up: {one.describe(start)} and {two.describe(start)}; "
                    f"calls: {ladder(burst)}"
                )
    for call in burst:
        if call.answered or call.final is None:
            continue
        busy = [a for a in answered if (up := a.maybe_up()) and overlap(call.arrival(), up)]
        if not busy:
            raise DeviceFailure(
                f"[{req}] expected a call arriving while no other call is up answered (auto "
                f"answer, policy 1); observed {call.describe(start)} refused with no call up; "
                f"calls: {ladder(burst)}"
            )
    return [
        c
        for c in burst
        if any((up := a.surely_up()) and inside(c.arrival(), up) for a in answered if a is not c)
    ]
