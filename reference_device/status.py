"""The page's status value sets and the per-account state machines behind status.json.

The SIP user agent (reference_device/sip/) drives them: every move goes through one
`transition()` per machine, which refuses illegal moves and logs the legal ones.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Generic, TypeVar

log = logging.getLogger(__name__)


class AccountStatus(StrEnum):
    """`account_status` states."""

    ERROR = "error"
    NOT_CREATED = "not_created"
    CREATED = "created"
    IDLE = "idle"


class RegisterStatus(StrEnum):
    """`register_status` states."""

    ERROR = "error"
    REGISTERED = "registered"
    UNREGISTERING = "unregistering"
    REGISTERING = "registering"
    CLOSED = "closed"
    ON = "on"
    OFF = "off"
    IDLE = "idle"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    CONNECTING = "connecting"


class CallStatus(StrEnum):
    """`call_status` states."""

    IDLE = "idle"
    OUT = "out"
    IN = "in"
    CALLING = "calling"
    ERROR = "error"
    CLOSE = "close"
    RECONNECTING = "reconnecting"


class IllegalTransitionError(RuntimeError):
    """A state machine was asked for a move its table does not allow."""


S = TypeVar("S", bound=StrEnum)


class StateMachine(Generic[S]):
    """A current state plus the table of allowed moves out of each state."""

    name: str = "state"

    def __init__(self, initial: S, allowed: Mapping[S, frozenset[S]], label: str = "") -> None:
        self._state = initial
        self._allowed = allowed
        self.label = label  # e.g. " [account 3]", for the log

    @property
    def state(self) -> S:
        """The current state."""
        return self._state

    def transition(self, to: S) -> None:
        """Move to `to`, or raise IllegalTransitionError naming the current state."""
        if to not in self._allowed.get(self._state, frozenset()):
            raise IllegalTransitionError(
                f"{self.name}: cannot go from {self._state.value!r} to {to.value!r}"
            )
        log.info("%s%s: %s -> %s", self.name, self.label, self._state.value, to.value)
        self._state = to


R = RegisterStatus
# The moves the SIP user agent makes (reference_device/sip/registration.py); ON/OFF and
# DISCONNECTED are in the page's value set but never used by a SIP account. CONNECTED takes
# REGISTERED's place (same moves in and out) under --reading register_status_granted=connected.
_REGISTER_MOVES: Final[Mapping[RegisterStatus, frozenset[RegisterStatus]]] = {
    R.IDLE: frozenset({R.REGISTERING, R.CONNECTING}),  # connecting: register_status_pending
    R.REGISTERING: frozenset(
        {
            R.REGISTERED,
            R.CONNECTED,
            R.ERROR,
            R.CONNECTING,
            R.RECONNECTING,
            R.IDLE,
            R.UNREGISTERING,
            R.CLOSED,
        }
    ),
    R.REGISTERED: frozenset({R.UNREGISTERING, R.RECONNECTING, R.ERROR, R.IDLE, R.CLOSED}),
    R.CONNECTING: frozenset(
        {R.REGISTERED, R.CONNECTED, R.ERROR, R.IDLE, R.UNREGISTERING, R.CLOSED}
    ),
    R.RECONNECTING: frozenset(
        {R.REGISTERED, R.CONNECTED, R.ERROR, R.IDLE, R.UNREGISTERING, R.CLOSED}
    ),
    # error -> registered: a lost binding's retry answered (register_status_refresh_lost=error)
    R.ERROR: frozenset(
        {R.REGISTERING, R.IDLE, R.UNREGISTERING, R.CLOSED, R.REGISTERED, R.CONNECTED}
    ),
    R.UNREGISTERING: frozenset({R.CLOSED, R.IDLE}),
    R.CLOSED: frozenset({R.IDLE, R.REGISTERING, R.CONNECTING}),
    R.ON: frozenset({R.OFF, R.ERROR}),
    R.OFF: frozenset({R.ON, R.IDLE}),
    R.CONNECTED: frozenset(
        {R.DISCONNECTED, R.UNREGISTERING, R.RECONNECTING, R.ERROR, R.IDLE, R.CLOSED}
    ),
    R.DISCONNECTED: frozenset({R.CONNECTING, R.RECONNECTING, R.IDLE}),
}

C = CallStatus
# call_status is the account-level view of its calls (reference_device/sip/agent.py projects it:
# calling > in > out > close > reconnecting > error > idle); these are the moves it can make.
# From idle: the auto_call dialer waits to re-dial (reconnecting) or fails to send (error) when
# the account shows no call, e.g. once the callee's BYE ended the last one.
_CALL_MOVES: Final[Mapping[CallStatus, frozenset[CallStatus]]] = {
    C.IDLE: frozenset({C.OUT, C.IN, C.RECONNECTING, C.ERROR}),
    C.IN: frozenset({C.CALLING, C.IDLE, C.CLOSE, C.OUT, C.RECONNECTING, C.ERROR}),
    C.OUT: frozenset({C.CALLING, C.CLOSE, C.ERROR, C.IDLE, C.IN, C.RECONNECTING}),
    C.CALLING: frozenset({C.CLOSE, C.IDLE, C.RECONNECTING, C.ERROR, C.IN, C.OUT}),
    C.CLOSE: frozenset({C.IDLE, C.RECONNECTING, C.IN, C.OUT, C.CALLING, C.ERROR}),
    C.ERROR: frozenset({C.OUT, C.IN, C.IDLE, C.RECONNECTING, C.CALLING}),
    C.RECONNECTING: frozenset({C.OUT, C.IN, C.IDLE, C.CALLING, C.ERROR}),
}


class RegisterMachine(StateMachine[RegisterStatus]):
    """Registration state of one account; starts `idle` (never claims `registered` unasked)."""

    name = "register_status"

    def __init__(self) -> None:
        super().__init__(RegisterStatus.IDLE, _REGISTER_MOVES)


class CallMachine(StateMachine[CallStatus]):
    """Call state of one account; starts `idle`."""

    name = "call_status"

    def __init__(self) -> None:
        super().__init__(CallStatus.IDLE, _CALL_MOVES)


def _no_bitrate() -> int:
    return 0


@dataclass
class AccountRuntime:
    """Live (unpersisted) state of one account: what status.json reports besides config.

    `bitrate` is read at every status.json: the SIP agent points it at its call's meter.
    """

    register: RegisterMachine = field(default_factory=RegisterMachine)
    call: CallMachine = field(default_factory=CallMachine)
    bitrate: Callable[[], int] = _no_bitrate
    register_extra_info: int = 0

    @property
    def bitrate_kbps(self) -> int:
        """status.json's `bitrate` state: integer kbit/s."""
        return self.bitrate()
