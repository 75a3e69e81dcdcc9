"""Property-based: whatever text arrives in modify.json / modify_call_cfg.json fields, the device
either applies all of it (and reads it back exactly) or refuses it with a catalogue code and
changes nothing; a value outside a limit the contract gives is refused, and a set of values all
on the inside edge of their limits is accepted.

Every limit spec/openapi.yaml gives a field (lengths, port ranges, allow_in_num, each of the
buffer's five numbers, the enums) is tried at its edges with explicit `@example`s (min - 1, min,
max, max + 1), which hypothesis runs first on every run; the generated values then cluster
around the same edges (`near_*`) besides arbitrary text. The lengths are judged against the
profile's [limits] (the examples use the OpenAPI document's 64 and 128).

The cases are top-level `@given` tests (wrapped only by `settled_at_end`, which copies
hypothesis' attributes), so `--hypothesis-show-statistics` reports them. The account is made
once per case by the `fuzz` fixture (function-scoped, shared by the examples of one case:
HealthCheck.function_scoped_fixture is suppressed for that reason). A fuzzed request costs
about two more exchanges on the client's keep-alive session (benchmarks/fuzz.py measures them):
a read of the views it writes, and now and then a write-back of the settings the account was
made with (`Fuzz`). A failing example is judged again from those settings, with
whole snapshots, so it fails again when hypothesis replays it, whatever the examples before it
changed; the whole state is compared once more at the end of the case.
"""

from __future__ import annotations

import functools
import re
from itertools import combinations

import pytest
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from decoder_conformance.device.client import (
    PAGE_FLAG_FORMS,
    ConformanceFailure,
    as_number,
    setting_of,
)
from decoder_conformance.device.transport import PooledSession

# How many generated examples: the hypothesis profile's (dev 30, ci 40, lab 100; the plugin's
# --hypothesis-profile), on top of the explicit boundary examples.
FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Printable ASCII, a few separators SIP and URLs care about, some non-ASCII and control chars.
ALPHABET = st.characters(
    codec="utf-8", min_codepoint=0, max_codepoint=0x2FF, exclude_categories=("Cs",)
) | st.sampled_from("@:;,*.%&=+ ?#/\\\"'<>\u4e2d\u00e9")

TEXT = st.text(ALPHABET, max_size=24)

# -- the limits (spec/openapi.yaml) ----------------------------------------------------------------
NAME_MAX = 64  # modify.json name: 1..64 (the profile's [limits].max_name_length judges)
VALUE_MAX = 128  # every other free string (the profile's [limits].max_value_length judges)
PORT_MAX = 65535
ALLOW_IN_NUM_MAX = 16
BUFFER_NUMBER_MAX = 100_000
BUFFER = re.compile(r"[a-z]+((?::[0-9]{1,6}){5})")
ENUMS = {
    "allow_in": ("1", "2"),
    "source_enable": ("1", "2"),
    "auto_aws": ("0", "1", "2", "true", "false"),
    "auto_call": ("0", "1", "2", "true", "false"),
    "policy": ("1", "2", "3"),
}
#: A spare bind of the profile: placeholders the case replaces (the strategy cannot see fixtures).
SPARE = ("<spare bind 0>", "<spare bind 1>")
#: sip_out_url of exactly `n` characters, to a loopback literal (nothing to resolve).
LOOPBACK_AT = "@127.0.0.1"
#: IPv4 loopback literals (127.0.0.0/8).
LOOPBACK = st.tuples(*[st.integers(0, 255)] * 3).map(lambda t: "127.{}.{}.{}".format(*t))
#: One character over the string limit, and still a loopback literal to a device that trims it.
LOOPBACK_TOO_LONG = "127.0.0.1".ljust(VALUE_MAX + 1)
#: A URL's user part: no character that could end it and start a host.
USER_TEXT = st.text(ALPHABET.filter(lambda c: c not in "@:;/?#[] "), max_size=24)


def sip_out_url(n: int) -> str:
    """A user@127.0.0.1 call-out address of `n` characters."""
    return "u" * (n - len(LOOPBACK_AT)) + LOOPBACK_AT


def buffer_with(position: int, number: int) -> str:
    """live:0:0:0:0:0 with number `position` (0..4) set to `number`."""
    numbers = ["0"] * 5
    numbers[position] = str(number)
    return "live:" + ":".join(numbers)


def near(*edges: int, spread: int = 2) -> st.SearchStrategy[str]:
    """Decimal strings within `spread` of each of `edges`."""
    return st.sampled_from(edges).flatmap(lambda e: st.integers(e - spread, e + spread)).map(str)


def near_length(limit: int, char: str = "x") -> st.SearchStrategy[str]:
    """Strings of `char` within 2 of `limit` characters long."""
    return st.integers(max(0, limit - 2), limit + 2).map(lambda n: char * n)


#: Buffers whose numbers sit at and around 0 and 100000, any one of them moved.
NEAR_BUFFER = st.tuples(
    st.integers(0, 4),
    st.sampled_from([0, BUFFER_NUMBER_MAX]).flatmap(lambda e: st.integers(e - 2, e + 2)),
).map(lambda pn: buffer_with(*pn))


def values(*typical: str, around: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """Generated text, plus numbers as strings, plus `typical` well-formed values, plus values
    `around` the field's limits."""
    drawn = [TEXT, st.integers(-3, 70000).map(str), st.sampled_from(["", "x" * 129, *typical])]
    return st.one_of(*drawn, *([around] if around is not None else []))


MODIFY_FIELDS = {
    "name": values("renamed-by-fuzz", around=near_length(NAME_MAX, "n")),
    "localAccount": values("1001", "34020000001320000001", around=near_length(VALUE_MAX, "a")),
    # The spare binds and malformed ports on `*` or loopback only: the device opens an accepted
    # localAddress, and free text or a bad dotted quad is a name it could try to resolve.
    "localAddress": st.one_of(
        st.sampled_from([*SPARE, "*", ""]),
        st.sampled_from(["*:65536", "*:-1", "*:", "*:5060x", "127.0.0.1:0x", "127.0.0.1:99999"]),
    ),
    "realm": values("*", "realm-fuzz", around=near_length(VALUE_MAX, "r")),
    "serverId": values("34020000002000000001", around=near_length(VALUE_MAX, "s")),
    # Loopback literals only (and the empty value): a fuzzed address must never make the device
    # look a name up or contact another host, so no free text goes here.
    "registerServer": st.one_of(LOOPBACK, st.sampled_from(["", LOOPBACK_TOO_LONG])),
    "registerPort": values("5060", around=near(1, PORT_MAX)),
    "username": values("user", around=near_length(VALUE_MAX, "u")),
    "password": values("secret", around=near_length(VALUE_MAX, "p")),
}

CALL_FIELDS = {
    "allow_in": values("1", "2", "true", around=near(1, 2, spread=1)),
    "auto_aws": values("0", "1", "2", "true", "false", around=near(0, 2, spread=1)),
    "auto_call": values("0", "1", "2", "true", "false", around=near(0, 2, spread=1)),
    "source_enable": values("1", "2", around=near(1, 2, spread=1)),
    "policy": values("1", "2", "3", "4", around=near(1, 3, spread=1)),
    "allow_in_num": values("1", "16", "17", around=near(1, ALLOW_IN_NUM_MAX)),
    "buffer": values(
        "live:200:200:500:0:0", "live:1:2:3:4:100001", "LIVE:1:1:1:1:1", around=NEAR_BUFFER
    ),
    # Free text in the user part only, the host a loopback literal: an auto_call example dials
    # nothing but 127.0.0.1.
    "sip_out_url": st.one_of(
        st.tuples(USER_TEXT, LOOPBACK).map("@".join),
        st.sampled_from(["", "1001@127.0.0.1", "sip:1@127.0.0.2:5062", "@127.0.0.1"]),
        st.integers(126, 130).map(sip_out_url),
    ),
    "source_id": values("src-1", around=near_length(VALUE_MAX, "s")),
    "default_name": values("decoder-1", around=near_length(VALUE_MAX, "d")),
}


def field_sets(fields):
    """1..3 distinct fields (each count as likely), each with a generated value.

    One fixed_dictionaries per set of names, built once: a flatmap from drawn names builds a
    new strategy on every draw, and generating cost more than the requests an example
    sends."""
    names = sorted(fields)
    return st.one_of(
        st.one_of(
            [st.fixed_dictionaries({n: fields[n] for n in c}) for c in combinations(names, k)]
        )
        for k in (1, 2, 3)
    )


# -- the boundary examples -----------------------------------------------------------------------
# (field, value, inside): `inside` values sit on the inside edge of a limit and must be taken;
# the others are one step outside and must be refused.
MODIFY_EDGES = [
    ("name", "", False),
    ("name", "n", True),
    ("name", "n" * NAME_MAX, True),
    ("name", "n" * (NAME_MAX + 1), False),
    *(
        (field, char * n, n <= VALUE_MAX)
        for field, char in (
            ("localAccount", "a"),
            ("realm", "r"),
            ("serverId", "s"),
            ("username", "u"),
            ("password", "p"),
        )
        for n in (VALUE_MAX, VALUE_MAX + 1)
    ),
    ("registerServer", LOOPBACK_TOO_LONG, False),
    ("registerPort", "0", False),
    ("registerPort", "1", True),
    ("registerPort", str(PORT_MAX), True),
    ("registerPort", str(PORT_MAX + 1), False),
    ("localAddress", f"*:{PORT_MAX + 1}", False),
]
CALL_EDGES = [
    *((f, v, True) for f, allowed in ENUMS.items() for v in allowed),
    ("allow_in", "0", False),
    ("allow_in", "3", False),
    ("source_enable", "0", False),
    ("source_enable", "3", False),
    ("auto_aws", "3", False),
    ("auto_aws", "-1", False),
    ("auto_call", "3", False),
    ("auto_call", "-1", False),
    ("policy", "0", False),
    ("policy", "4", False),
    ("allow_in_num", "0", False),
    ("allow_in_num", "1", True),
    ("allow_in_num", str(ALLOW_IN_NUM_MAX), True),
    ("allow_in_num", str(ALLOW_IN_NUM_MAX + 1), False),
    # Each of the buffer's five numbers at 0, its max and max + 1; the number's edges (-1, seven
    # digits), the mode's (one letter, upper case, none) and the count's (four, six numbers).
    *((("buffer", buffer_with(p, BUFFER_NUMBER_MAX), True)) for p in range(5)),
    *((("buffer", buffer_with(p, BUFFER_NUMBER_MAX + 1), False)) for p in range(5)),
    ("buffer", "a:0:0:0:0:0", True),
    ("buffer", "live:-1:0:0:0:0", False),
    ("buffer", "live:0:0:0:0:0000000", False),
    ("buffer", "LIVE:0:0:0:0:0", False),
    ("buffer", ":0:0:0:0:0", False),
    ("buffer", "live:0:0:0:0", False),
    ("buffer", "live:0:0:0:0:0:0", False),
    *(
        (field, build(n), n <= VALUE_MAX)
        for field, build in (
            ("source_id", lambda n: "s" * n),
            ("default_name", lambda n: "d" * n),
            ("sip_out_url", sip_out_url),
        )
        for n in (VALUE_MAX, VALUE_MAX + 1)
    ),
]
INSIDE = {(f, v) for f, v, inside in MODIFY_EDGES + CALL_EDGES if inside}


def edges(cases):
    """The boundary examples as @example decorators, one field (and one request) each."""

    def decorate(test):
        for field, value, _inside in reversed(cases):
            test = example(batch=[{field: value}])(test)
        return test

    return decorate


def batches(fields):
    """1..16 field sets, each sent as its own request (and judged on its own) by one example.

    Drawing the next request inside the example costs hypothesis less than starting a new
    example (about 1.3 ms each, measured): most of an example's time went to the engine, not to
    the device. Two list sizes, as hypothesis keeps a list's average length near five whatever
    its max_size; one_of shrinks towards its first branch, so a failing request still shrinks
    to a batch of one."""
    sets = field_sets(fields)
    return st.one_of(
        st.lists(sets, min_size=1, max_size=8), st.lists(sets, min_size=8, max_size=16)
    )


# -- the property ----------------------------------------------------------------------------------


def outside(field, value, limits):
    """Why `value` is outside a limit the contract gives `field` (None: inside every limit).
    Accepting such a value is a defect; only the limits are judged here, not the formats."""
    decimal = value.isascii() and value.isdigit()
    if field in ENUMS:
        return None if value in ENUMS[field] else f"{field} is one of {ENUMS[field]}"
    if field == "name":
        if not 1 <= len(value) <= limits.max_name_length:
            return f"name is 1..{limits.max_name_length} characters"
        return None
    if field == "registerPort":
        return None if decimal and 1 <= int(value) <= PORT_MAX else f"registerPort 1..{PORT_MAX}"
    if field == "allow_in_num":
        if decimal and 1 <= int(value) <= ALLOW_IN_NUM_MAX:
            return None
        return f"allow_in_num 1..{ALLOW_IN_NUM_MAX}"
    if field == "buffer":
        match = BUFFER.fullmatch(value)
        numbers = [int(n) for n in match.group(1)[1:].split(":")] if match else []
        if not numbers or max(numbers) > BUFFER_NUMBER_MAX:
            return f"buffer MODE:N:N:N:N:N, MODE [a-z]+, each N 0..{BUFFER_NUMBER_MAX}"
        return None
    if len(value) > limits.max_value_length:
        return f"{field} is at most {limits.max_value_length} characters"
    if field == "localAddress":
        port = value.rpartition(":")[2]
        if port.isascii() and port.isdigit() and int(port) > PORT_MAX:
            return f"localAddress's port is 0..{PORT_MAX}"
    return None


def _expect_refusal_or_readback(api, reply, readback, unchanged, *, codes, fields, limits):
    """The property: a catalogue error with nothing changed (`unchanged(reply)` raises if
    something did), or ok with `readback()` giving (want, seen) equal; outside a limit refused,
    a set all on the inside edges accepted."""
    api.expect_envelope(reply)
    if not reply.ok:
        if reply.msg not in codes:
            raise ConformanceFailure(
                api.req, "an error code from the catalogue", f"error {reply.msg!r}", reply.exchange
            )
        unchanged(reply)
        if all((f, v) in INSIDE for f, v in fields.items()):
            raise ConformanceFailure(
                api.req,
                f"values on the inside edge of their limits accepted: {fields!r}",
                f"error {reply.msg!r}",
                reply.exchange,
            )
        return
    broken = {f: why for f, v in fields.items() if (why := outside(f, v, limits)) is not None}
    if broken:
        raise ConformanceFailure(
            api.req,
            f"a refusal of values outside their limits ({'; '.join(broken.values())})",
            f"ok to {fields!r}",
            reply.exchange,
        )
    want, seen = readback()
    if seen != want:
        raise ConformanceFailure(
            api.req, f"the accepted values read back exactly: {want!r}", f"{seen!r}", reply.exchange
        )


def port_of(value):
    """account.json's registerPort for an accepted `value`; a value no port reads back as."""
    if value.isascii() and value.isdigit():
        return int(value)
    return f"<no port: {value!r} should have been refused>"


#: Each per-account view and the page schema its answer is checked against when values were
#: accepted (as the client's account() and call_cfg() helpers check them).
VIEW_SCHEMAS = {"account": "PageAccountOk", "call_cfg": "PageCallConfigOk"}


def _without(body, keys):
    """An answer's data without `keys` (the body itself when it has no dict data)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not keys:
        return body
    return {k: v for k, v in data.items() if k not in keys}


class Fuzz:
    """What every example of a case uses: the clients, the limits, and the case's scratch
    account with its settings as made. Not a dataclass, and its repr names only the account:
    hypothesis prints the arguments of a failing example, and the client's repr would bring the
    whole profile with it.

    The cheap path (one keep-alive session, two or three requests an example): the whole state
    (list.json, get_binds.json, account.json and call_cfg.json) is snapshotted once, with the
    account at its settings as made (`known`). After that an example sends its request and reads
    the account's views that the endpoint writes, nothing else: accepted values are read back
    from them, and a refusal is proven harmless by comparing them with what the example before
    left (`current`). The settings as made are written back only when what earlier examples
    left would make this example's changes show otherwise than from them (one of its fields
    already holds the value it sends, or no longer does); no example pays for a whole snapshot.

    What the cheap path leaves out is done where it matters. An example that fails is judged
    again from the settings as made, the old way (settings written back, whole snapshot, request
    sent again, whole snapshot), and a failure there is the one raised, so hypothesis' replay of
    a failing example sees the same; one that does not fail there needed the settings earlier
    examples left, and is raised at the end of the case. At the end of the case (`settle`) the
    settings are written back and the whole state compared with `known`; a difference is
    pinned on the refused request that makes it by sending each again between whole snapshots.
    No view a refusal could change goes unread.
    """

    def __init__(self, api, guard, codes, limits, spare_binds, *, writes_policy, account_id):
        self.api, self.guard, self.codes, self.limits = api, guard, codes, limits
        self.spare_binds, self.writes_policy, self.id = spare_binds, writes_policy, account_id
        self.account = api.account(account_id)
        self.call_cfg = api.call_cfg(account_id)
        self.put_back = lambda: None  # the case's write of the settings as made (set by the case)
        self.made = None  # the views' raw answers with the settings as made
        self.known = None  # DeviceState with the settings as made (None: not taken yet)
        self.current = None  # view -> raw answer as the last example left it (None: unknown)
        self.refused = []  # (endpoint, params) of the refusals since `known`
        #: refusals whose views were not read yet: (endpoint, params, the views an acceptance
        #: of it reads back), proven harmless together
        self.unread = []
        #: refused requests shown to change the account's views, sent again from the settings
        #: as made (raised at the end of the case, before anything else)
        self.pinned = []
        #: failures seen after earlier examples' settings that the settings as made did not show
        self.unreproduced = []
        self.fuzzed = 0  # requests sent with generated or boundary values (benchmarks/fuzz.py)

    def __repr__(self) -> str:
        return f"Fuzz(account {self.id})"

    def start(self):
        """Write the settings as made back and snapshot everything: the state the next example
        starts from (the first one is `known`, what the end of the case is compared with)."""
        self.check_unread()
        self.put_back()
        base = self.guard.snap(self.id)
        if self.known is None:
            self.known = base
        self.current = self.made = {v: base.view(self.id, v) for v in VIEW_SCHEMAS}
        return base

    def _starts_otherwise(self, readback):
        """True when one of the example's fields already shows the value it sends where the
        settings as made do not, or the other way round: what the example changes would then
        show otherwise than from the settings as made (`readback` gives, per field, the value
        sent as the views show it and the value they show)."""
        try:
            want, now = readback({v: body["data"] for v, body in self.current.items()})
            _, made = readback({v: body["data"] for v, body in self.made.items()})
        except (KeyError, TypeError, AttributeError):  # a view that answered no data
            return True
        return any((want[f] == now[f]) != (want[f] == made[f]) for f in want)

    def settle(self) -> None:
        """Write the settings as made back and compare the whole state with `known`; a
        difference is pinned on the refused request that makes it (ConformanceFailure) by
        sending each again from the settings as made, between whole snapshots. A difference no
        refusal makes is left alone: the old way never judged what accepted values leave."""
        self.check_unread()
        self.put_back()
        now = self.guard.snap(self.id)
        changed = self.known.diff(now) if self.known is not None else ""
        if not changed:
            return
        for endpoint, params in self.refused:
            self.put_back()
            before = self.guard.snap(self.id)
            again = self.api.call(endpoint, params)
            if again.ok:
                continue
            after = self.guard.snap(self.id)
            if before.diff(after):
                raise ConformanceFailure(
                    self.api.req,
                    "the refused request to leave the device's state unchanged",
                    f"it changed {before.diff(after)} (seen in the whole snapshot at the end of "
                    f"the case: {changed})",
                    again.exchange,
                )

    def example(self, endpoint, fields, readback, views):
        """Send `fields` to `endpoint` for the case's account and check the property on the
        answer: an acceptance reads `views` back (the endpoint's own view first) and
        `readback(data)` gives (want, seen) from their data; a refusal reads nothing now
        (`check_unread` proves it harmless later)."""
        params = {"id": str(self.id), **fields}
        if any(k in sent for _, sent, _ in self.unread for k in fields):
            # This request may write a field a refusal not read yet also sent: what that
            # refusal did to it must be seen before this write covers it.
            self.check_unread()
        # So what the example changes shows as it would from the settings as made (and
        # hypothesis' replay of it sees the same).
        starts_otherwise = self.current is not None and self._starts_otherwise(readback)
        if starts_otherwise and not self.check_unread():
            # The views as made, unread: a device the write-back left otherwise shows it in
            # the next read-back, or in `check_unread` (which reads again before judging).
            self.put_back()
            self.current = dict(self.made)
        if self.current is None:
            self.start()
        before, self.current = self.current, None

        def unchanged(reply, seen):
            # Read later, with the refusals after it (`check_unread`): a refusal's views cost a
            # read each, and a refusal that changes them is rare enough to pin afterwards.
            self.unread.append((endpoint, params, views))

        try:
            seen = self._judge(endpoint, params, fields, readback, views, unchanged=unchanged)
        except ConformanceFailure as failure:
            # Judged again from the settings as made, with whole snapshots: a failure there is
            # raised (hypothesis' replay sees it again). One only the cheap path saw needed what
            # earlier examples left; it is raised at the end of the case (`unreproduced`), since
            # hypothesis would call an example that fails only sometimes flaky.
            base = self.start()
            self.current = None
            self._judge(
                endpoint,
                params,
                fields,
                readback,
                views,
                unchanged=lambda reply, _seen: self.guard.unchanged(base, reply),
            )
            self.unreproduced.append(failure)
            return
        # Accepted: its own view (the first; its keys are the fields' names) shows the refusals
        # before it too, except in the fields this request wrote.
        own = {views[0]: seen[views[0]]} if seen else {}
        rewrote = bool(own) and self.check_unread(before, own, written=set(fields))
        self.current = None if rewrote else {**before, **seen}

    def check_unread(self, before=None, seen=None, written=frozenset()):
        """Prove the refusals not read yet changed nothing: the views (`seen`, or read now)
        against what the example before them left (`before`, or `current`), the fields an
        accepted request since then `written` apart. A difference is pinned on the refusal
        that makes it, each sent again from the settings as made between reads of the views
        (`pinned`); a difference none of them makes was the accepted request's own doing (not
        judged here, as before). True when the settings were written back meanwhile."""
        unread, self.unread = self.unread, []
        before = before if before is not None else self.current
        if not unread or before is None:
            return False
        if seen is None:
            # The views the refused endpoints write; one they do not write is compared at the
            # end of the case (`settle`), and nothing the case sends writes it meanwhile.
            written_by = {v for _, _, views in unread for v in views}
            replies = self.guard.read_views(self.id, [v for v in before if v in written_by])
            seen = {v: r.body for v, r in replies.items()}
        changed = [
            view
            for view, body in seen.items()
            if _without(before[view], written) != _without(body, written)
        ]
        if not changed:
            return False
        views = tuple(before)
        for endpoint, params, _ in unread:
            self.put_back()
            ahead = {v: r.body for v, r in self.guard.read_views(self.id, views).items()}
            again = self.api.call(endpoint, params)
            if again.ok:
                continue
            after = {v: r.body for v, r in self.guard.read_views(self.id, views).items()}
            what = self.guard.views_changed(self.id, ahead, after)
            if what:
                self.pinned.append(
                    ConformanceFailure(
                        self.api.req,
                        "the refused request to leave the device's state unchanged",
                        f"it changed {what} (sent again from the settings the account was made "
                        "with)",
                        again.exchange,
                    )
                )
        self.current = None  # the settings were written back: read them again
        return True

    def _judge(self, endpoint, params, fields, readback, views, *, unchanged):
        """Send the request and check the property; returns the raw answers of the `views` it
        read back after an acceptance (none after a refusal: `unchanged` judges that)."""
        seen = {}
        self.fuzzed += 1

        def on_refusal(reply):
            unchanged(reply, seen)
            self.refused.append((endpoint, params))

        def on_accept():
            replies = self.guard.read_views(self.id, views)
            seen.update({v: r.body for v, r in replies.items()})
            data = {
                v: self.api.expect_ok(r, data_schema=VIEW_SCHEMAS[v]) for v, r in replies.items()
            }
            return readback(data)

        _expect_refusal_or_readback(
            self.api,
            self.api.call(endpoint, params),
            on_accept,
            on_refusal,
            codes=self.codes,
            fields=fields,
            limits=self.limits,
        )
        return seen


def settled_at_end(test):
    """Run the hypothesis test `test`, then compare the whole state with the one the case
    started from (`Fuzz.settle`), the check the cheap path leaves to the end of the case, and
    raise the failures only the cheap path saw (`Fuzz.unreproduced`).

    A plain wrapper: hypothesis' attributes are copied, so the pytest plugin still sees (and
    prints the statistics of) the @given test inside."""

    @functools.wraps(test)
    def run(fuzz):
        test(fuzz=fuzz)
        fuzz.settle()
        if fuzz.pinned:
            raise fuzz.pinned[0]
        if fuzz.unreproduced:
            first = fuzz.unreproduced[0]
            raise ConformanceFailure(
                first.req,
                first.expected,
                f"{first.observed} (with the settings earlier examples had left; sent again from "
                f"the settings the account was made with, it passed; {len(fuzz.unreproduced)} "
                "such example(s) in this case)",
                first.exchange,
            )

    return run


@pytest.fixture
def fuzz(api, new_account, guard, spare_binds, catalogue_codes, *, limits, device_target):
    """One scratch account (and the clients) for all the examples of a case. The case's client
    sends on `PooledSession` (http.client, one keep-alive connection): thousands of requests at
    a third of requests' client cost; closed at the end, the client's own session put back."""
    own, api.session = api.session, PooledSession()
    yield Fuzz(
        api,
        guard,
        catalogue_codes,
        limits,
        spare_binds,
        # policy is written through modify_call_cfg.json only where the profile says the device
        # takes it (capability policy_write): the page documents no way to write it.
        writes_policy=device_target.profile.has("policy_write"),
        account_id=new_account(),
    )
    pooled, api.session = api.session, own
    pooled.close()


@pytest.mark.req("LOCAL-API-FUZZ-001")
@settled_at_end
@FUZZ_SETTINGS
@given(batch=batches(MODIFY_FIELDS))
@edges(MODIFY_EDGES)
def test_modify_fuzz(fuzz, batch):
    api, account_id = fuzz.api, fuzz.id
    baseline = {k: str(fuzz.account[k]) for k in MODIFY_FIELDS}
    fuzz.put_back = lambda: api.modify(account_id, **baseline)
    # The spare-bind placeholders as the profile's binds (the only binds the suite may open).
    spare = dict(zip(SPARE, fuzz.spare_binds, strict=False))
    for fields in batch:
        _modify_example(fuzz, {k: spare.get(v, v) for k, v in fields.items()})


def _modify_example(fuzz, fields):
    """One modify.json request with `fields`, judged by the property."""

    def readback(views):
        data = views["account"]
        want = {k: (port_of(v) if k == "registerPort" else v) for k, v in fields.items()}
        # registerPort compared as a number: its JSON type is SIP-API-ACC-003's reading.
        seen = {k: (as_number(data.get(k)) if k == "registerPort" else data.get(k)) for k in fields}
        return want, seen

    # account.json shows every field modify.json writes (and the name list.json shows).
    fuzz.example("modify", fields, readback, ("account",))


YES, NO = ("1", "true"), ("0", "2", "false")


def expected_cfg(field, value):
    """What call_cfg.json (or account.json policy) must show after `field`=`value` was accepted;
    None when the contract gives `value` no meaning (accepting it is then a defect)."""
    # Flags as their meaning: how call_cfg.json encodes them is SIP-API-CFG-005..007's reading.
    if field in ("allow_in", "source_enable"):
        return {"1": True, "2": False}.get(value)
    if field in ("auto_aws", "auto_call"):
        return True if value in YES else False if value in NO else None
    if field == "policy":
        return {"1": 1, "2": 2, "3": 3}.get(value)
    if field == "allow_in_num":
        return int(value) if value.isascii() and value.isdigit() and 1 <= int(value) <= 16 else None
    return value


def _as_param(field, cfg):
    """A call_cfg.json setting as a modify_call_cfg.json parameter: a flag in the page's form, the
    buffer under either key, anything else as shown."""
    value = setting_of(cfg, field)
    if field in PAGE_FLAG_FORMS and isinstance(value, bool):
        return PAGE_FLAG_FORMS[field][0 if value else 1]
    return str(value)


@pytest.mark.req("LOCAL-API-FUZZ-002")
@settled_at_end
@FUZZ_SETTINGS
@given(batch=batches(CALL_FIELDS))
@edges(CALL_EDGES)
def test_modify_call_cfg_fuzz(fuzz, batch):
    api, account_id = fuzz.api, fuzz.id
    if not fuzz.writes_policy:
        batch = [f for f in ({k: v for k, v in s.items() if k != "policy"} for s in batch) if f]
        if not batch:
            reject()
    call_fields = [k for k in CALL_FIELDS if fuzz.writes_policy or k != "policy"]
    baseline = {k: _as_param(k, fuzz.call_cfg) for k in call_fields if k != "policy"}
    if fuzz.writes_policy:
        baseline["policy"] = str(fuzz.account["call_in_options"]["policy"])
    fuzz.put_back = lambda: api.modify_call_cfg(account_id, **baseline)
    for fields in batch:
        _call_cfg_example(fuzz, fields)


def _call_cfg_example(fuzz, fields):
    """One modify_call_cfg.json request with `fields`, judged by the property."""

    def readback(views):
        cfg = views["call_cfg"]
        policy = views["account"]["call_in_options"]["policy"]
        want = {k: expected_cfg(k, v) for k, v in fields.items()}
        seen = {k: (policy if k == "policy" else setting_of(cfg, k)) for k in fields}
        return want, seen

    # call_cfg.json shows every call setting, account.json the policy (and the same settings as
    # call_in_options / call_out_options): an acceptance reads both back.
    fuzz.example("modify_call_cfg", fields, readback, ("call_cfg", "account"))
