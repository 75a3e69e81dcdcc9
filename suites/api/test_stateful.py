"""Stateful model-based fuzzing: generated sequences of API requests and SIP events, with the
four reads checked against a model after every step.

A hypothesis `RuleBasedStateMachine` drives the whole SIP-module API (add, modify: configure,
rename, registrar set and cleared; modify_call_cfg: auto_aws and allow_in; remove; answer.json;
hangup.json) together with what the suite's peers do: the registrar up (it challenges and
grants), down (503) or silent; an incoming call from the plain-socket caller; the caller's BYE
and CANCEL. `decoder_conformance/device/model.py` says what list.json, account.json,
call_cfg.json and status.json must show after each step (from the page and the readings of
spec/requirements.yaml: every listed reading, or the one the profile pins), and what each
request and event must lead to on the wire. After every step the reads are polled until they
agree with the model, within the profile's state timeout (a device may take that long to show a
change; a call the device ends itself is followed on the wire first).

On a failure hypothesis shrinks the sequence; the shrunk one is replayed last, and its steps are
attached ("stateful replay") and added to the failure: every request as a curl line to the
device's URL and every SIP message the suite's peers sent, as text. Each example starts from
the device as the case found it: its accounts are removed at the example's end (and, should
that fail, by the `new_account` factory at the case's end), its calls end with them, and the
registrar is put back up.

The cost is bounded for the reference decoder: half the hypothesis profile's examples (15 under
dev, 20 under ci), 25 steps each; the SIP events take milliseconds with the reference profile's
T1 of 50 ms.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from decoder_conformance.device.accounts import AccountFactory, DeviceSip, SipAccount
from decoder_conformance.device.client import ConformanceFailure, DeviceClient, Exchange
from decoder_conformance.device.model import (
    IN_PROGRESS,
    POINTS,
    AccountModel,
    Call,
    DeviceModel,
    Observation,
    Outcome,
    Readings,
)
from decoder_conformance.device.target import Target
from decoder_conformance.peers.raw_ua import Leg, RawCaller
from decoder_conformance.peers.registrar import Mode, Registrar, is_answer
from decoder_conformance.plugin.stash import LOCAL_ACCOUNTS, SUITE_CONFIG, CaseEvidence
from decoder_conformance.waiting import DeviceTimeout, WaitTimeout, poll_until
from wire import sip

REQ = "LOCAL-API-STATE-001"
#: Steps per example, and the most accounts the machine holds at once.
STEPS = 25
MAX_ACCOUNTS = 3
#: An index into the accounts a rule may act on (taken modulo their number).
PICK = st.integers(0, MAX_ACCOUNTS - 1)
#: The registrar's behaviours, by what they play: a registrar up, down and unreachable.
REGISTRAR_MODES = {"up": Mode.NORMAL, "down (503)": Mode.UNAVAILABLE, "silent": Mode.SILENT}
#: The page's forms of the two call flags the machine writes (yes, no).
FLAG_FORMS = {"auto_aws": ("true", "false"), "allow_in": ("1", "2")}
REGISTRAR_USER, REGISTRAR_PASSWORD = "alice", "secret"
#: Reads that disagree with the model are judged once they and the wire have not moved for this
#: many T1 (1 s at the reference profile's 50 ms; capped by the state timeout).
QUIET_T1 = 20


@dataclass
class Journal:
    """The steps of one example as a replay: per step its title, the requests as curl lines and
    the SIP messages the peers sent."""

    steps: list[tuple[str, list[str]]] = field(default_factory=list)
    recording: bool = False

    def begin(self, title: str) -> None:
        """A new step: the requests from now on belong to it."""
        self.steps.append((title, []))
        self.recording = True

    def line(self, text: str) -> None:
        """A line of the current step."""
        if self.recording and self.steps:
            self.steps[-1][1].append(text)

    def exchange(self, exchange: Exchange) -> None:
        """A request sent during the current step (the checks' reads are not recorded)."""
        self.line(f"$ {exchange.curl()}")

    def text(self) -> str:
        """The whole example, one numbered step after the other."""
        parts = []
        for number, (title, lines) in enumerate(self.steps, 1):
            parts.append(f"# {number}. {title}")
            parts += lines or ["(nothing sent)"]
        return "\n".join(parts)


@dataclass
class Bench:
    """What every example uses: clients, peers, the device's SIP bind, limits and readings."""

    api: DeviceClient
    journal_api: DeviceClient
    journal: Journal
    device_sip: DeviceSip
    registrar: Registrar
    caller: RawCaller
    new_account: AccountFactory
    numbers: Iterator[int]
    listed_readings: dict[str, tuple[str, ...]]
    pinned: dict[str, str]
    timeout: float
    transaction_timeout: float
    #: how long reads that disagree with the model must stay unchanged to be judged
    quiet: float


def _sip_text(data: bytes) -> str:
    return data.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n")


class StatefulApi(RuleBasedStateMachine):
    """The machine: rules are requests and SIP events, the invariant is the model's check."""

    def __init__(self, bench: Bench) -> None:
        super().__init__()
        self.bench = bench
        bench.journal.steps.clear()
        self.journal = bench.journal
        self.api = bench.journal_api
        self.model = DeviceModel(Readings.allowing(bench.listed_readings, bench.pinned))
        self.legs: dict[int, Leg] = {}
        self.local_accounts: dict[int, str] = {}
        self.mode = "up"
        self._sip_mark = len(bench.caller.records())
        bench.registrar.set_mode(Mode.NORMAL)

    # -- helpers --------------------------------------------------------------------------------

    def step(self, title: str) -> None:
        """Start a journal step (the SIP messages of the one before are closed)."""
        self._close_step()
        self.journal.begin(title)

    def _close_step(self) -> None:
        records = self.bench.caller.records()
        for record in records[self._sip_mark :]:
            if record.direction == "TX":
                self.journal.line(f"SIP to {record.remote[0]}:{record.remote[1]}:")
                self.journal.line(_sip_text(record.raw))
        self._sip_mark = len(records)
        self.journal.recording = False

    def accounts(self, test: Callable[[AccountModel], bool] = lambda a: True) -> list[AccountModel]:
        """The live accounts for which `test` holds, by id."""
        return [a for _, a in sorted(self.model.accounts.items()) if test(a)]

    def pick(
        self, pick: int, test: Callable[[AccountModel], bool] = lambda a: True
    ) -> AccountModel:
        """The account `pick` selects among those for which `test` holds."""
        eligible = self.accounts(test)
        return eligible[pick % len(eligible)]

    def fail(self, expected: str, observed: str, exchange: Exchange | None = None) -> NoReturn:
        """A device failure of this case."""
        raise ConformanceFailure(REQ, expected, observed, exchange)

    def sip_account(self, account: AccountModel) -> SipAccount:
        return SipAccount(account.id, account.written["localAccount"], self.bench.device_sip)

    def add(self, type_: str) -> AccountModel:
        name = f"st-{secrets.token_hex(4)}"
        self.api.expect_ok(self.api.call("add", {"name": name, "type": type_}), REQ)
        found = self.api.find(name)
        if found is None:
            self.fail(f"account {name!r} listed after add.json answered ok", "not listed")
        self.bench.new_account.adopt(found.id)
        self.journal.line(f"(list.json shows {name!r} as id {found.id})")
        return self.model.added(found.id, name, type_)

    def modify(self, account: AccountModel, **fields: str) -> None:
        # The registrar's records from before the request on: the device may register at once.
        since = len(self.bench.registrar.records())
        self.api.expect_ok(self.api.call("modify", {"id": str(account.id), **fields}), REQ)
        self.model.modified(account.id, fields, since=since)

    def final(self, leg: Leg, what: str) -> sip.SipResponse:
        """The first final answer to the leg's INVITE (a DeviceTimeout saying `what` if none)."""
        try:
            return leg.response(timeout=self.bench.timeout)
        except DeviceTimeout as exc:
            timed_out = str(exc)
        self.fail(f"{what} (a final answer to the INVITE)", timed_out)

    # -- account rules --------------------------------------------------------------------------

    @initialize()
    def first_account(self) -> None:
        """Every example starts with one configured sip account."""
        self.step("add a sip account and configure it (localAccount, localAddress)")
        account = self.add("sip")
        self.configure_account(account)

    @precondition(lambda self: len(self.model.accounts) < MAX_ACCOUNTS)
    @rule(type_=st.sampled_from(["sip", "gb28181"]))
    def add_account(self, type_: str) -> None:
        self.step(f"add a {type_} account")
        self.add(type_)

    def configure_account(self, account: AccountModel) -> None:
        local = str(next(self.bench.numbers))
        self.local_accounts[account.id] = local
        self.modify(account, localAccount=local, localAddress=self.bench.device_sip.bind)

    @precondition(lambda self: self.accounts(lambda a: a.type == "sip" and not a.configured))
    @rule(pick=PICK)
    def configure(self, pick: int) -> None:
        account = self.pick(pick, lambda a: a.type == "sip" and not a.configured)
        self.step(f"configure id {account.id} (localAccount, localAddress)")
        self.configure_account(account)

    @precondition(lambda self: self.model.accounts)
    @rule(pick=PICK)
    def rename(self, pick: int) -> None:
        account = self.pick(pick)
        self.step(f"rename id {account.id}")
        self.modify(account, name=f"st-{secrets.token_hex(4)}")

    @precondition(lambda self: self.model.accounts)
    @rule(pick=PICK, auto_aws=st.booleans(), allow_in=st.booleans())
    def set_call_cfg(self, pick: int, auto_aws: bool, allow_in: bool) -> None:
        account = self.pick(pick)
        self.step(f"id {account.id}: auto_aws {auto_aws}, allow_in {allow_in}")
        flags = {"auto_aws": auto_aws, "allow_in": allow_in}
        params = {k: FLAG_FORMS[k][0 if v else 1] for k, v in flags.items()}
        reply = self.api.call("modify_call_cfg", {"id": str(account.id), **params})
        self.api.expect_ok(reply, REQ)
        self.model.call_cfg_modified(account.id, flags)

    @precondition(lambda self: self.model.accounts)
    @rule(pick=PICK)
    def remove(self, pick: int) -> None:
        account = self.pick(pick)
        self.step(f"remove id {account.id}")
        self.api.expect_ok(self.api.call("remove", {"id": str(account.id)}), REQ)
        self.model.removed_account(account.id)
        self.legs.pop(account.id, None)

    # -- registrar rules ------------------------------------------------------------------------

    @precondition(lambda self: self.accounts(lambda a: a.configured and not a.registrar))
    @rule(pick=PICK)
    def set_registrar(self, pick: int) -> None:
        account = self.pick(pick, lambda a: a.configured and not a.registrar)
        registrar = self.bench.registrar
        self.step(f"id {account.id}: registerServer the registrar ({self.mode})")
        since = len(registrar.records())
        self.modify(
            account,
            registerServer=registrar.host,
            registerPort=str(registrar.port),
            username=REGISTRAR_USER,
            password=REGISTRAR_PASSWORD,
            realm="*",
        )
        if self.mode != "up":
            return
        # A registrar that answers: the device registers (within Timer F, should an unregister
        # of the account's previous registration still be waiting for a silent registrar).
        user = account.written["localAccount"]
        registrar.wait_for(
            lambda r: _grants(r, user),
            since=since,
            timeout=self.bench.transaction_timeout + self.bench.timeout,
            expected=f"a 200 granting {user}'s REGISTER after registerServer was set",
        )
        self.api.wait_status(
            account.id,
            lambda s: s.register in self.model.readings.open["register_status_granted"],
            timeout=self.bench.timeout,
            expected="a granted register_status once the registrar answered 200",
            req=REQ,
        )

    @precondition(lambda self: self.accounts(lambda a: a.registrar))
    @rule(pick=PICK)
    def clear_registrar(self, pick: int) -> None:
        account = self.pick(pick, lambda a: a.registrar)
        self.step(f"id {account.id}: clear registerServer")
        self.modify(account, registerServer="")

    @rule(mode=st.sampled_from(sorted(REGISTRAR_MODES)))
    def registrar_mode(self, mode: str) -> None:
        self.step(f"the registrar goes {mode}")
        self.journal.line(f"(registrar {self.bench.registrar.address}: {mode})")
        self.bench.registrar.set_mode(REGISTRAR_MODES[mode])
        self.mode = mode

    # -- call rules -----------------------------------------------------------------------------

    @precondition(
        lambda self: self.accounts(
            lambda a: a.type == "sip" and a.configured and a.call is Call.NONE
        )
    )
    @rule(pick=PICK)
    def incoming_call(self, pick: int) -> None:
        account = self.pick(
            pick, lambda a: a.type == "sip" and a.configured and a.call is Call.NONE
        )
        outcome = self.model.incoming(account.id)
        self.step(f"the caller INVITEs id {account.id} (it must be {outcome.value})")
        caller = self.bench.caller
        leg = caller.call(self.sip_account(account), caller.offer())
        self.legs[account.id] = leg
        if outcome is Outcome.RINGS:
            self.rings(account, leg)
            self.model.call_is(account.id, Call.RINGING)
            return
        final = self.final(leg, outcome.value)
        if outcome is Outcome.REFUSED:
            if not 400 <= final.status_code < 700:
                self.fail("a final 4xx-6xx (allow_in 2)", f"{final.status_code}; {leg.flow()}")
            self.model.call_is(account.id, Call.NONE)
            self.legs.pop(account.id)
            return
        if final.status_code != 200:
            self.fail("200 at once (auto_aws)", f"{final.status_code}; {leg.flow()}")
        leg.ack()
        self.model.call_is(account.id, Call.UP)

    def rings(self, account: AccountModel, leg: Leg) -> None:
        """A provisional above 100 reached the caller or status.json shows a call in progress,
        and no final answer came (the device MAY send 180: RFC 3261 §13.3.1.1)."""
        try:
            poll_until(
                lambda: (
                    [r.status_code for r in leg.responses()],
                    self.bench.api.status(account.id),
                ),
                lambda seen: any(c > 100 for c in seen[0]) or seen[1].call in IN_PROGRESS,
                timeout=self.bench.timeout,
                expected="a provisional above 100 or a call in progress in status.json",
            )
            rang = ""
        except WaitTimeout as exc:
            rang = str(exc)
        if rang:
            self.fail("the call to ring (auto_aws 0)", f"{rang}; {leg.flow()}")
        finals = [r.status_code for r in leg.responses() if r.status_code >= 200]
        if finals:
            self.fail("the call to ring without a final answer (auto_aws 0)", f"{finals}")

    @precondition(lambda self: self.model.accounts)
    @rule(pick=PICK)
    def answer(self, pick: int) -> None:
        account = self.pick(pick)
        outcome = self.model.answer(account.id)
        self.step(f"answer.json id {account.id} (the model: {outcome.value})")
        reply = self.api.call("answer", {"id": str(account.id)})
        no_call = self.api.error_codes.get("no_call")
        if not reply.ok and (outcome is Outcome.ACTS or reply.msg != no_call):
            # answer_dir: the page's own form, should the device want dir=sip_out
            reply = self.api.call("answer", {"id": str(account.id), "dir": "sip_out"})
        if outcome is Outcome.NO_CALL:
            self.api.expect_error(reply, "no_call", REQ)
            return
        if outcome is Outcome.UNCHANGED:
            self.api.expect_envelope(reply, REQ)  # the call's state is the check's
            return
        self.api.expect_ok(reply, REQ)
        leg = self.legs[account.id]
        final = self.final(leg, "200 to the caller once answer.json answered ok")
        if final.status_code != 200:
            self.fail("200 to the caller once answer.json answered ok", f"{final.status_code}")
        leg.ack()
        self.model.call_is(account.id, Call.UP)

    @precondition(lambda self: self.model.accounts)
    @rule(pick=PICK)
    def hangup(self, pick: int) -> None:
        account = self.pick(pick)
        outcome = self.model.hangup(account.id)
        self.step(f"hangup.json id {account.id} (the model: {outcome.value})")
        reply = self.api.call("hangup", {"id": str(account.id)})
        if outcome is Outcome.NO_CALL:
            self.api.expect_error(reply, "no_call", REQ)
            return
        leg = self.legs[account.id]
        if outcome is Outcome.ACTS:
            self.api.expect_ok(reply, REQ)
            leg.wait_request("BYE", timeout=self.bench.timeout)
            self.model.call_is(account.id, Call.NONE)
            self.legs.pop(account.id)
            return
        self.api.expect_envelope(reply, REQ)
        final = None
        if reply.ok:
            final = self.final(leg, "a final answer once hangup.json declined").status_code
        else:
            finals = [r.status_code for r in leg.responses() if r.status_code >= 200]
            final = finals[0] if finals else None
        problems = self.model.hangup_ringing_seen(
            account.id, ok=reply.ok, msg=reply.msg, final=final
        )
        if problems:
            self.fail("a reading of hangup_ringing", "; ".join(problems), reply.exchange)

    @precondition(lambda self: self.accounts(lambda a: a.call is Call.UP))
    @rule(pick=PICK)
    def remote_bye(self, pick: int) -> None:
        account = self.pick(pick, lambda a: a.call is Call.UP)
        self.step(f"the caller sends BYE on id {account.id}'s call")
        leg = self.legs[account.id]
        leg.bye()
        answer = leg.response(method="BYE", timeout=self.bench.timeout)
        if answer.status_code != 200:
            self.fail("200 to the caller's BYE (RFC 3261 §15.1.2)", f"{answer.status_code}")
        self.model.call_is(account.id, Call.NONE)
        self.legs.pop(account.id)

    @precondition(lambda self: self.accounts(lambda a: a.call is Call.RINGING))
    @rule(pick=PICK)
    def cancel(self, pick: int) -> None:
        account = self.pick(pick, lambda a: a.call is Call.RINGING)
        self.step(f"the caller CANCELs id {account.id}'s ringing call")
        leg = self.legs[account.id]
        leg.cancel()
        try:
            final = leg.response(timeout=self.bench.timeout)
        except DeviceTimeout:
            return  # the CANCEL ignored: SIP-CALL-CAN-001's to judge; the call still rings
        self.after_final(account, leg, final)

    def after_final(self, account: AccountModel, leg: Leg, final: sip.SipResponse) -> None:
        """The model follows a final answer to the INVITE of a ringing call."""
        if final.is_success:
            leg.ack()
            self.model.call_is(account.id, Call.UP)
        else:
            self.model.call_is(account.id, Call.NONE)
            self.legs.pop(account.id, None)

    # -- the check ------------------------------------------------------------------------------

    def follow_the_wire(self) -> None:
        """Calls the device ended or answered by itself (on a modify, a remove ...)."""
        for account_id, leg in list(self.legs.items()):
            account = self.model.accounts.get(account_id)
            if account is None:
                continue
            if account.call is Call.UP and leg.requests("BYE"):
                self.model.call_is(account_id, Call.NONE)
                self.legs.pop(account_id)
            elif account.call is Call.RINGING:
                finals = [r for r in leg.responses() if r.status_code >= 200]
                if finals:
                    self.after_final(account, leg, finals[0])

    def observe(self) -> Observation:
        """The four reads of every live account (status.json before the registrar's records)."""
        api = self.bench.api
        listed = api.expect_ok(api.call("list"), REQ, data_schema="PageListOk")
        ids = list(self.model.accounts)
        accounts = {i: api.account(i) for i in ids}
        cfgs = {i: api.call_cfg(i) for i in ids}
        statuses = {i: api.status(i) for i in ids}
        records = self.bench.registrar.records()
        granted = frozenset(
            a.id
            for a in self.model.accounts.values()
            if a.registrar_since is not None
            and any(_grants(r, a.written["localAccount"]) for r in records[a.registrar_since :])
        )
        return Observation(listed, accounts, cfgs, statuses, granted)

    @invariant()
    def reads_agree_with_the_model(self) -> None:
        self._close_step()
        last: list[str] = []
        since, previous = [time.monotonic()], [object()]

        def settled() -> bool:
            self.follow_the_wire()
            seen = self.observe()
            last[:] = self.model.check(seen)
            moved = (seen, len(self.bench.caller.records()), len(self.bench.registrar.records()))
            if moved != previous[0]:
                since[0], previous[0] = time.monotonic(), moved
            return not last or time.monotonic() - since[0] >= self.bench.quiet

        # Polled until the reads agree with the model, or until neither they nor the wire have
        # moved for the quiet period (a device in transition moves; one that settled on a wrong
        # state is judged), within the state timeout.
        with contextlib.suppress(WaitTimeout):
            poll_until(
                settled,
                bool,
                timeout=self.bench.timeout,
                expected="the reads the model derives",
            )
        if last:
            self.fail(
                "list.json, account.json, call_cfg.json and status.json as the model derives "
                f"them after step {len(self.journal.steps)} ({self.journal.steps[-1][0]})",
                "\n    ".join(["", *last]),
            )

    def teardown(self) -> None:
        """Remove every account the example added (its calls end with it); registrar up."""
        self._close_step()
        for account_id in list(self.model.accounts):
            self.bench.api.call("remove", {"id": str(account_id)})
        self.bench.registrar.set_mode(Mode.NORMAL)


def _grants(record: Any, user: str) -> bool:
    """The registrar's 200 granting (expiry above 0) a REGISTER whose AOR user is `user`."""
    if not is_answer(record, 200):
        return False
    message = record.message
    if message.cseq.method != "REGISTER" or message.headers.get("Expires") in (None, "0"):
        return False
    return sip.SipUri.parse(message.to_addr.uri).user == user


def _examples() -> int:
    """Half the profile's examples (dev 30 -> 15, ci 40 -> 20, lab 100 -> 50)."""
    return max(10, settings().max_examples // 2)


@pytest.mark.req("LOCAL-API-STATE-001")
def test_stateful_api_and_sip_events(
    request: pytest.FixtureRequest,
    api: DeviceClient,
    *,
    device_sip: DeviceSip,
    registrar: Callable[..., Registrar],
    raw_caller: Callable[..., RawCaller],
    new_account: AccountFactory,
    evidence: CaseEvidence,
    device_target: Target,
) -> None:
    suite = request.config.stash[SUITE_CONFIG]
    journal = Journal()
    journal_api = DeviceClient(
        api.api_url,
        api.error_codes,
        timeout=api.timeout,
        token=api.token,
        req=REQ,
        on_exchange=lambda e: _both(api, journal, e),
        on_code=api.on_code,
    )
    timers = device_target.profile.timers
    bench = Bench(
        api=api,
        journal_api=journal_api,
        journal=journal,
        device_sip=device_sip,
        registrar=registrar(users={REGISTRAR_USER: REGISTRAR_PASSWORD}, grant=None),
        caller=raw_caller("caller"),
        new_account=new_account,
        numbers=request.config.stash.setdefault(LOCAL_ACCOUNTS, itertools.count(7001)),
        listed_readings={
            p: tuple(r.name for r in suite.catalogue.points[p].readings) for p in POINTS
        },
        pinned={p: r for p, r in device_target.profile.readings.items() if p in POINTS},
        timeout=float(timers.state_timeout),
        transaction_timeout=float(timers.transaction_timeout),
        quiet=min(float(timers.state_timeout), QUIET_T1 * float(timers.sip_t1)),
    )

    class Machine(StatefulApi):
        """The machine on this case's bench."""

        def __init__(self) -> None:
            super().__init__(bench)

    try:
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=_examples(),
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                report_multiple_bugs=False,
                # No explain phase: it replays variations of the failure, each a second or more.
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    except AssertionError as exc:
        # The example replayed last is the shrunk one: its steps are the replay.
        replay = journal.text()
        exc.add_note(f"replay of the shrunk example (device {api.api_url}):\n{replay}")
        evidence.add_attacher(lambda: _attach("stateful replay (shrunk steps)", replay))
        raise


def _both(api: DeviceClient, journal: Journal, exchange: Exchange) -> None:
    """Record `exchange` in the case's evidence and in the example's journal."""
    if api.on_exchange is not None:
        api.on_exchange(exchange)
    journal.exchange(exchange)


def _attach(name: str, text: str) -> None:
    import allure

    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)
