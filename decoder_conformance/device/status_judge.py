"""Judge a recorded status.json series (device/status_series.py) against what the page makes
certain, so a case that only waits for end states still fails a device that lies on the way.

The table is built from the page's value sets and the readings the profile pins, nothing else:
the page lists the states of account_status, register_status and call_status without meanings
and forbids no move between them, so every move is allowed and only these facts are judged
(each under its own requirement):

- SIP-STAT-TRACE-001: every sampled state is in its object's value set as the page lists it;
- SIP-STAT-TRACE-002: no flicker mid-call: while a call of the case is established on the wire
  (from the ACK of its 2xx to its BYE or CANCEL), once call_status shows a call in progress (in,
  out or calling, under either reading of call_status_meaning) it does not show idle or error and
  then a call in progress again while no call event happened on the wire (an INVITE, BYE or
  CANCEL, or a final answer above 299 to an INVITE, of any call of the case). Under every reading
  idle is "no call" and error a failed attempt; a call that comes back without a new INVITE
  never left;
- SIP-STAT-TRACE-003: no register_status that claims a granted registration (registered,
  connected or on; only the pinned reading of register_status_granted when the profile pins one)
  in a sample answered before the first 200 a registrar of the case sent to a REGISTER
  (RFC 3261 §10.2: the binding exists once the registrar accepted it);
- SIP-STAT-TRACE-004: the series ends where the case left it: when every call of the case is
  over on the wire, call_status ends with no call in progress (within the state timeout, which
  the caller waits for before stopping the recorder).

Times are seconds on the suite's monotonic clock: the recorder, the registrar and the raw peers
run in the suite's process, and pjsua2's and SIPp's records are put on the same clock
(peers/pjsua/controller.py checks the worker's, peers/sipp/log.py maps SIPp's). A
sample counts only where it is certain: between two wire events means its request left after
the first and its answer came EVENT_MARGIN before the second (a device may change its state a
moment before the message that goes with it reaches the peer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from decoder_conformance.device.status_series import Sample

#: The page's value sets ("Gain SIP account working status", return instruction).
ACCOUNT_STATES = frozenset({"error", "not_created", "created", "idle"})
REGISTER_STATES = frozenset(
    {
        "error",
        "registered",
        "unregistering",
        "registering",
        "closed",
        "on",
        "off",
        "idle",
        "connected",
        "disconnected",
        "reconnecting",
        "connecting",
    }
)
CALL_STATES = frozenset({"idle", "out", "in", "calling", "error", "close", "reconnecting"})

#: The call states of a call that rings or is up, under any reading of call_status_meaning.
IN_PROGRESS = ("in", "out", "calling")
#: The call states that say "no call" or "the attempt failed" under every reading.
NOT_A_CALL = ("idle", "error")
#: The register states that can name a granted registration (register_status_granted).
GRANTED = ("registered", "connected", "on")

VALUES = "SIP-STAT-TRACE-001"
FLICKER = "SIP-STAT-TRACE-002"
EARLY_GRANT = "SIP-STAT-TRACE-003"
END = "SIP-STAT-TRACE-004"
REQUIREMENTS = (VALUES, FLICKER, EARLY_GRANT, END)
#: Seconds before a wire event in which a sample is not counted between events (see above).
EVENT_MARGIN = 0.2


@dataclass(frozen=True)
class Table:
    """What the judge allows: the page's value sets and the states the pinned readings name."""

    account: frozenset[str] = ACCOUNT_STATES
    register: frozenset[str] = REGISTER_STATES
    call: frozenset[str] = CALL_STATES
    #: register states that claim a granted registration
    granted: tuple[str, ...] = GRANTED
    in_progress: tuple[str, ...] = IN_PROGRESS

    @classmethod
    def from_readings(cls, pinned: Mapping[str, str]) -> Table:
        """The table under the profile's pinned readings (`[readings]`; unpinned: any).

        register_status_granted narrows the claiming states to the pinned one; call_status
        meaning leaves IN_PROGRESS whole (both readings name in, out and calling for a call that
        rings or is up), so it needs no narrowing.
        """
        granted = pinned.get("register_status_granted")
        return cls(granted=(granted,) if granted else GRANTED)


@dataclass(frozen=True)
class Expectations:
    """What the wire says about the case, on the monotonic clock."""

    #: when each call event (INVITE, BYE, CANCEL, an INVITE's final above 299) was recorded
    call_events: Sequence[float] = ()
    #: when a registrar of the case sent a 200 to a REGISTER
    grants: Sequence[float] = ()
    #: every call of the case ended on the wire by then (None: not every call is over)
    calls_over_at: float | None = None
    #: when a call was established on the wire: (its ACK, its BYE or CANCEL or None: still up)
    established: Sequence[tuple[float, float | None]] = ()

    def up_at(self, sample: Sample) -> bool:
        """Whether a call was established on the wire through the whole of `sample`."""
        return any(
            start <= sample.t and (end is None or sample.until <= end)
            for start, end in self.established
        )


@dataclass(frozen=True)
class TraceViolation:
    """A fact of the table the series broke, under its requirement."""

    requirement: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.requirement}] {self.detail}"


def _at(sample: Sample, origin: float) -> str:
    return f"{sample.t - origin:.2f} s"


def judge(
    series: Sequence[Sample], table: Table, wire: Expectations, *, origin: float | None = None
) -> tuple[list[TraceViolation], set[str]]:
    """(the violations, the requirements the series exercised) of one account's series.

    A requirement is exercised when the series held what it needs: a sample with states (001),
    a call in progress (002), a sample before a registrar's 200 or a registrar's 200 (003), a
    sample after every call was over (004). `origin` is where times in details count from.
    """
    samples = [s for s in series if s.status is not None]
    start = origin if origin is not None else (series[0].t if series else 0.0)
    found: list[TraceViolation] = []
    exercised: set[str] = set()
    if samples:
        exercised.add(VALUES)
    found += _values(samples, table, start)
    up = [s for s in samples if wire.up_at(s)]
    if any(s.status is not None and s.status.call in table.in_progress for s in up):
        exercised.add(FLICKER)
    found += _flickers(up, table, wire.call_events, start)
    if wire.grants:
        exercised.add(EARLY_GRANT)
    found += _early_grants(samples, table, wire.grants, start)
    if wire.calls_over_at is not None and any(s.t >= wire.calls_over_at for s in samples):
        exercised.add(END)
        found += _end(samples, table, wire.calls_over_at, start)
    return found, exercised


def _values(samples: Sequence[Sample], table: Table, origin: float) -> list[TraceViolation]:
    """Every state outside its set, once per (object, value), with its first time."""
    sets = {
        "account_status": table.account,
        "register_status": table.register,
        "call_status": table.call,
    }
    seen: dict[tuple[str, str], Sample] = {}
    for sample in samples:
        if sample.status is None:
            continue
        values = {
            "account_status": sample.status.account,
            "register_status": sample.status.register,
            "call_status": sample.status.call,
        }
        for name, value in values.items():
            if value not in sets[name]:
                seen.setdefault((name, value), sample)
    return [
        TraceViolation(
            VALUES,
            f"{name} {value!r} at {_at(sample, origin)} is not in the page's value set "
            f"{sorted(sets[name])}",
        )
        for (name, value), sample in seen.items()
    ]


def _segments(samples: Sequence[Sample], events: Sequence[float]) -> list[list[Sample]]:
    """The samples cut at every call event: a sample belongs to the stretch between two events
    only if its request left after the first and its answer came EVENT_MARGIN before the
    second."""
    bounds = sorted(events)
    segments: list[list[Sample]] = [[] for _ in range(len(bounds) + 1)]
    for sample in samples:
        index = sum(1 for b in bounds if b <= sample.t)
        if index < len(bounds) and sample.until > bounds[index] - EVENT_MARGIN:
            continue  # the event was close: the state may already be the event's
        segments[index].append(sample)
    return segments


def _flickers(
    samples: Sequence[Sample], table: Table, events: Sequence[float], origin: float
) -> list[TraceViolation]:
    """In progress -> idle/error -> in progress with no call event in between (`samples`: those
    taken while a call was established on the wire)."""
    found = []
    for segment in _segments(samples, events):
        up: Sample | None = None
        dropped: Sample | None = None
        for sample in segment:
            call = sample.status.call if sample.status else ""
            if call in table.in_progress:
                if up is not None and dropped is not None:
                    found.append(
                        TraceViolation(
                            FLICKER,
                            f"call_status {up.status.call if up.status else '?'} at "
                            f"{_at(up, origin)}, {dropped.status.call if dropped.status else '?'} "
                            f"at {_at(dropped, origin)}, {call} again at {_at(sample, origin)} "
                            "with no INVITE, BYE, CANCEL or refusal on the wire in between: "
                            "a call in progress does not show idle or error",
                        )
                    )
                    dropped = None
                up = sample
            elif call in NOT_A_CALL and up is not None and dropped is None:
                dropped = sample
    return found


def _early_grants(
    samples: Sequence[Sample], table: Table, grants: Sequence[float], origin: float
) -> list[TraceViolation]:
    """A claimed grant answered before the first registrar 200 (or with no 200 at all)."""
    first = min(grants, default=None)
    early = [
        s
        for s in samples
        if s.status is not None
        and s.status.register in table.granted
        and (first is None or s.until < first)
    ]
    if not early:
        return []
    sample = early[0]
    when = (
        "no registrar of the case answered 200 to a REGISTER"
        if first is None
        else f"the first 200 to a REGISTER was sent at {first - origin:.2f} s"
    )
    return [
        TraceViolation(
            EARLY_GRANT,
            f"register_status {sample.status.register if sample.status else '?'} answered at "
            f"{sample.until - origin:.2f} s ({len(early)} such samples), but {when}: a granted "
            f"state ({' or '.join(table.granted)}) only once the registrar granted the binding",
        )
    ]


def _end(
    samples: Sequence[Sample], table: Table, over_at: float, origin: float
) -> list[TraceViolation]:
    """Every call is over on the wire: the last sample shows no call in progress."""
    last = samples[-1]
    if last.status is None or last.status.call not in table.in_progress:
        return []
    return [
        TraceViolation(
            END,
            f"every call of the case was over on the wire at {over_at - origin:.2f} s, but the "
            f"series ends with call_status {last.status.call} at {_at(last, origin)}: expected "
            f"no call in progress (none of {', '.join(table.in_progress)})",
        )
    ]


def summary_line(violations: Sequence[TraceViolation], exercised: set[str]) -> str:
    """One line for the attachment: what was judged and what broke."""
    judged = ", ".join(sorted(exercised)) or "nothing (no sample with states)"
    broken = "; ".join(map(str, violations)) or "no violation"
    return f"judged {judged}: {broken}"
