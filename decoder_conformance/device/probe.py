"""Discovery probes: measure the device's limits and whether it takes `policy`, change nothing.

`--discover` drafts a profile from what a run saw; the cases see a device's limits only through
the profile they are given, so discovery measures them itself, once, at the end of the run:

- `probe_max_accounts`: add accounts until add.json refuses one (or a ceiling is reached); the
  limit is the number listed at the refusal, accounts the device already had included;
- `probe_max_name_length`: the longest name add.json takes (exponential, then binary search);
- `probe_max_value_length`: the longest `username` modify.json takes and account.json shows;
- `probe_policy_write`: whether modify_call_cfg.json takes `policy` (the page documents no way to
  write it) and account.json's call_in_options then shows it.

Everything written is harmless: account names of ASCII letters and digits (`ctp` and random hex),
values of one repeated letter, and no address at all. Every probe removes each account it added,
also when it fails (try/finally), and checks list.json afterwards; an account the device keeps
raises `ProbeLeftover`, naming it. A probe that cannot measure (the device refuses its first
account, say) returns a result with no value and the reason, instead of guessing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

from decoder_conformance.contract.observations import CapabilityProbe, LimitProbe
from decoder_conformance.device.client import DeviceClient, Reply, as_number
from decoder_conformance.failures import DeviceFailure, NotExercised

#: The most accounts `probe_max_accounts` lets the device hold before it stops adding.
ACCOUNT_CEILING = 256
#: The longest name or value the length probes try.
LENGTH_CEILING = 4096
#: A length every device is assumed to take: if it is refused, the length probes do not run.
BASE_LENGTH = 8
#: Probe account names start with this (the suite's own scratch accounts are `ct-<hex>`).
PROBE_PREFIX = "ctp"
#: The modify.json field `probe_max_value_length` writes.
VALUE_FIELD = "username"
#: The account type of every probe account.
PROBE_TYPE = "sip"
#: call_in_options.policy values the page lists.
POLICIES = (1, 2, 3)


class ProbeLeftover(NotExercised):
    """A probe could not undo what it did: the message names every account it left."""


def probe_name(length: int = 12) -> str:
    """A fresh account name of exactly `length` ASCII letters and digits (`ctp` + random hex)."""
    return (PROBE_PREFIX + secrets.token_hex(8)).ljust(length, "n")[:length]


def _answer(reply: Reply) -> str:
    """A refusal as a short phrase for a probe's detail."""
    if reply.msg is not None:
        return f"error {reply.msg}"
    return f"HTTP {reply.exchange.status} {reply.exchange.body[:80]!r}"


@dataclass
class ProbeAccounts:
    """The accounts one probe added (id -> name), to be taken off the device again."""

    client: DeviceClient
    #: Ids listed before the probe added anything: never touched.
    known: frozenset[int]
    added: dict[int, str] = field(default_factory=dict)

    @classmethod
    def start(cls, client: DeviceClient) -> ProbeAccounts:
        """Remember what the device lists now."""
        return cls(client, frozenset(a.id for a in client.accounts()))

    @property
    def listed(self) -> int:
        """How many accounts the device lists, as far as this probe knows."""
        return len(self.known) + len(self.added)

    def add(self, name: str) -> tuple[Reply, int | None]:
        """add.json of a sip account `name`; returns the answer and the id listed under `name`.

        Every account that appears in list.json afterwards is tracked for removal, whatever the
        answer and the name it is listed under (a device may truncate a name, or add and refuse).
        """
        reply = self.client.call("add", {"name": name, "type": PROBE_TYPE})
        exact: int | None = None
        for entry in self.client.accounts():
            if entry.id in self.known:
                continue
            self.added.setdefault(entry.id, entry.name)
            if entry.name == name:
                exact = entry.id
        return reply, exact

    def remove(self, account_id: int) -> None:
        """remove.json of one probe account; ProbeLeftover if the device refuses."""
        reply = self.client.call("remove", {"id": str(account_id)})
        if not reply.ok:
            raise ProbeLeftover(
                f"discovery probe: the device refused to remove probe account "
                f"{self.added.get(account_id)!r} (id {account_id}): {_answer(reply)}"
            )
        self.added.pop(account_id, None)

    def remove_all(self) -> None:
        """Remove every probe account still listed; ProbeLeftover naming any the device keeps."""
        refused: dict[int, str] = {}
        for account_id in list(self.added):
            reply = self.client.call("remove", {"id": str(account_id)})
            if not reply.ok:
                refused[account_id] = _answer(reply)
        still = {a.id: a.name for a in self.client.accounts() if a.id not in self.known}
        self.added = {i: n for i, n in self.added.items() if i in still}
        if still:
            left = "; ".join(
                f"account {name!r} (id {account_id}"
                + (f", remove.json: {refused[account_id]})" if account_id in refused else ")")
                for account_id, name in sorted(still.items())
            )
            raise ProbeLeftover(
                f"discovery probe left {len(still)} account(s) on the device: {left}. "
                "Remove them by hand (remove.json with their id)."
            )


@contextmanager
def probe_accounts(client: DeviceClient) -> Iterator[ProbeAccounts]:
    """A `ProbeAccounts` whose accounts are all removed when the block ends, however it ends."""
    accounts = ProbeAccounts.start(client)
    try:
        yield accounts
    finally:
        accounts.remove_all()


def longest_accepted(accepted: Callable[[int], bool], base: int, ceiling: int) -> tuple[int, bool]:
    """The longest length `accepted` takes, knowing it takes `base`: doubling, then bisecting.

    Returns (length, False), or (ceiling, True) when the ceiling itself was taken.
    """
    longest = base
    while True:
        length = min(longest * 2, ceiling)
        if length <= longest:
            return ceiling, True
        if not accepted(length):
            refused = length
            break
        longest = length
    while refused - longest > 1:
        middle = (longest + refused) // 2
        if accepted(middle):
            longest = middle
        else:
            refused = middle
    return longest, False


def probe_max_accounts(client: DeviceClient, ceiling: int = ACCOUNT_CEILING) -> LimitProbe:
    """How many accounts the device holds: add probe accounts until add.json refuses one.

    The limit is the number listed when it refuses (accounts that were there before count).
    Every probe account is removed afterwards.
    """
    with probe_accounts(client) as scratch:
        if scratch.listed >= ceiling:
            return LimitProbe(
                scratch.listed,
                f"{scratch.listed} accounts were already listed, at least the probe's ceiling",
                at_least=True,
            )
        while scratch.listed < ceiling:
            before = scratch.listed
            reply, new_id = scratch.add(probe_name())
            if reply.ok and new_id is not None:
                continue
            if not reply.ok and before == len(scratch.known):
                return LimitProbe(
                    None,
                    f"add.json refused the first probe account with {before} listed "
                    f"({_answer(reply)})",
                )
            if reply.ok:
                return LimitProbe(
                    None, "add.json answered ok but list.json did not show the probe account"
                )
            return LimitProbe(
                scratch.listed,
                f"add.json refused account {scratch.listed + 1} with {scratch.listed} listed "
                f"({_answer(reply)})",
            )
        return LimitProbe(
            ceiling, f"add.json took every account up to {ceiling} listed", at_least=True
        )


def probe_max_name_length(client: DeviceClient, ceiling: int = LENGTH_CEILING) -> LimitProbe:
    """The longest account name add.json takes and list.json shows unchanged.

    Each probe account is removed as soon as it is seen. A name listed under another spelling
    (truncated, say) counts as refused.
    """
    refusals: dict[int, str] = {}
    with probe_accounts(client) as scratch:

        def accepted(length: int) -> bool:
            reply, new_id = scratch.add(probe_name(length))
            for account_id in list(scratch.added):
                scratch.remove(account_id)
            if reply.ok and new_id is not None:
                return True
            refusals[length] = (
                _answer(reply) if not reply.ok else "answered ok, listed under another name"
            )
            return False

        if not accepted(BASE_LENGTH):
            return LimitProbe(
                None,
                f"add.json refused a {BASE_LENGTH}-character probe name ({refusals[BASE_LENGTH]})",
            )
        longest, at_least = longest_accepted(accepted, BASE_LENGTH, ceiling)
    if at_least:
        return LimitProbe(longest, f"add.json took a {longest}-character name", at_least=True)
    return LimitProbe(
        longest,
        f"add.json took a {longest}-character name and refused {longest + 1} "
        f"({refusals[longest + 1]})",
    )


def _one_probe_account(scratch: ProbeAccounts) -> tuple[int | None, str]:
    """Add one probe account: (its id, "") or (None, why it could not be added)."""
    reply, account_id = scratch.add(probe_name())
    if account_id is not None and reply.ok:
        return account_id, ""
    why = _answer(reply) if not reply.ok else "answered ok but did not list it"
    return None, f"add.json refused the probe account ({why})"


def probe_max_value_length(
    client: DeviceClient, ceiling: int = LENGTH_CEILING, field_: str = VALUE_FIELD
) -> LimitProbe:
    """The longest `field_` (modify.json) a probe account takes and account.json shows unchanged.

    The field is written back as it was, and the probe account is removed.
    """
    refusals: dict[int, str] = {}
    with probe_accounts(client) as scratch:
        account_id, why = _one_probe_account(scratch)
        if account_id is None:
            return LimitProbe(None, why)
        original = client.account(account_id).get(field_)

        def accepted(length: int) -> bool:
            value = "u" * length
            reply = client.call("modify", {"id": str(account_id), field_: value})
            if not reply.ok:
                refusals[length] = _answer(reply)
                return False
            shown = client.account(account_id).get(field_)
            if shown != value:
                refusals[length] = f"answered ok, account.json showed {len(str(shown))} characters"
                return False
            return True

        try:
            if not accepted(BASE_LENGTH):
                return LimitProbe(
                    None,
                    f"modify.json refused a {BASE_LENGTH}-character {field_} "
                    f"({refusals[BASE_LENGTH]})",
                )
            longest, at_least = longest_accepted(accepted, BASE_LENGTH, ceiling)
        finally:
            if isinstance(original, str):
                client.call("modify", {"id": str(account_id), field_: original})
    if at_least:
        return LimitProbe(
            longest, f"modify.json took a {longest}-character {field_}", at_least=True
        )
    return LimitProbe(
        longest,
        f"modify.json took a {longest}-character {field_} and refused {longest + 1} "
        f"({refusals[longest + 1]})",
    )


def _policy(client: DeviceClient, account_id: int) -> int | None:
    """account.json call_in_options.policy as a number (a JSON integer or decimal string)."""
    options = client.account(account_id).get("call_in_options")
    return as_number(options.get("policy")) if isinstance(options, dict) else None


def probe_policy_write(client: DeviceClient) -> CapabilityProbe:
    """Whether modify_call_cfg.json takes `policy` and account.json then shows it.

    Written on a probe account, to a listed value other than its current one, then written back;
    the probe account is removed.
    """
    with probe_accounts(client) as scratch:
        account_id, why = _one_probe_account(scratch)
        if account_id is None:
            return CapabilityProbe(None, why)
        current = _policy(client, account_id)
        if current is None:
            return CapabilityProbe(
                None, "account.json of the probe account shows no numeric call_in_options.policy"
            )
        wanted = next(p for p in POLICIES if p != current)
        reply = client.call("modify_call_cfg", {"id": str(account_id), "policy": str(wanted)})
        if not reply.ok:
            return CapabilityProbe(
                False, f"modify_call_cfg.json refused policy={wanted} ({_answer(reply)})"
            )
        shown = _policy(client, account_id)
        if shown != current:
            client.call("modify_call_cfg", {"id": str(account_id), "policy": str(current)})
        if shown == wanted:
            return CapabilityProbe(
                True,
                f"modify_call_cfg.json took policy={wanted} and account.json showed it",
            )
        return CapabilityProbe(
            False,
            f"modify_call_cfg.json answered ok to policy={wanted}, account.json showed {shown}",
        )


@dataclass(frozen=True)
class ProbeResults:
    """Every probe's result, by the profile key it measures."""

    limits: dict[str, LimitProbe]
    capabilities: dict[str, CapabilityProbe]


#: Profile `[limits]` key -> its probe.
LIMIT_PROBES: dict[str, Callable[[DeviceClient], LimitProbe]] = {
    "max_accounts": probe_max_accounts,
    "max_name_length": probe_max_name_length,
    "max_value_length": probe_max_value_length,
}
#: Profile `[capabilities]` key -> its probe.
CAPABILITY_PROBES: dict[str, Callable[[DeviceClient], CapabilityProbe]] = {
    "policy_write": probe_policy_write,
}

#: What stops one probe without stopping the others: the device answered something the client
#: could not take (DeviceFailure), the harness could not go on (NotExercised, but never a
#: `ProbeLeftover`), or HTTP itself failed.
_PROBE_ERRORS = (DeviceFailure, NotExercised, requests.RequestException)


def _stopped(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"the probe stopped: {type(exc).__name__}: {first}"


def run_probes(client: DeviceClient) -> ProbeResults:
    """Run every probe once. A probe that stops on an error is recorded as not run (why);
    a `ProbeLeftover` stops them all and propagates."""
    limits: dict[str, LimitProbe] = {}
    capabilities: dict[str, CapabilityProbe] = {}
    for key, limit_probe in LIMIT_PROBES.items():
        try:
            limits[key] = limit_probe(client)
        except ProbeLeftover:
            raise
        except _PROBE_ERRORS as exc:
            limits[key] = LimitProbe(None, _stopped(exc))
    for key, capability_probe in CAPABILITY_PROBES.items():
        try:
            capabilities[key] = capability_probe(client)
        except ProbeLeftover:
            raise
        except _PROBE_ERRORS as exc:
            capabilities[key] = CapabilityProbe(None, _stopped(exc))
    return ProbeResults(limits, capabilities)
