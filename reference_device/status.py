"""The page's status value sets and the per-account state machines behind status.json.

Nothing drives the machines yet (no SIP user agent); they exist so a later issue can make real
transitions through one `transition()` per machine that refuses illegal moves.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Generic, TypeVar


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

    def __init__(self, initial: S, allowed: Mapping[S, frozenset[S]]) -> None:
        self._state = initial
        self._allowed = allowed

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
        self._state = to


R = RegisterStatus
_REGISTER_MOVES: Final[Mapping[RegisterStatus, frozenset[RegisterStatus]]] = {
    R.IDLE: frozenset({R.REGISTERING, R.CONNECTING, R.ON, R.ERROR}),
    R.REGISTERING: frozenset({R.REGISTERED, R.ERROR, R.IDLE, R.CLOSED}),
    R.REGISTERED: frozenset({R.UNREGISTERING, R.REGISTERING, R.RECONNECTING, R.ERROR}),
    R.UNREGISTERING: frozenset({R.CLOSED, R.IDLE, R.ERROR}),
    R.RECONNECTING: frozenset({R.REGISTERED, R.CONNECTED, R.ERROR, R.CLOSED}),
    R.CONNECTING: frozenset({R.CONNECTED, R.ERROR, R.CLOSED}),
    R.CONNECTED: frozenset({R.DISCONNECTED, R.RECONNECTING, R.CLOSED}),
    R.DISCONNECTED: frozenset({R.CONNECTING, R.RECONNECTING, R.IDLE}),
    R.ON: frozenset({R.OFF, R.ERROR}),
    R.OFF: frozenset({R.ON, R.IDLE}),
    R.CLOSED: frozenset({R.IDLE, R.REGISTERING}),
    R.ERROR: frozenset({R.IDLE, R.REGISTERING, R.RECONNECTING}),
}

C = CallStatus
_CALL_MOVES: Final[Mapping[CallStatus, frozenset[CallStatus]]] = {
    C.IDLE: frozenset({C.OUT, C.IN}),
    C.OUT: frozenset({C.CALLING, C.CLOSE, C.ERROR}),
    C.IN: frozenset({C.CALLING, C.CLOSE, C.ERROR}),
    C.CALLING: frozenset({C.CLOSE, C.RECONNECTING, C.ERROR}),
    C.RECONNECTING: frozenset({C.CALLING, C.CLOSE, C.ERROR}),
    C.CLOSE: frozenset({C.IDLE}),
    C.ERROR: frozenset({C.IDLE}),
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


@dataclass
class AccountRuntime:
    """Live (unpersisted) state of one account: what status.json reports besides config."""

    register: RegisterMachine = field(default_factory=RegisterMachine)
    call: CallMachine = field(default_factory=CallMachine)
    bitrate_kbps: int = 0
    register_extra_info: int = 0
