"""HTTP client for the decoder's SIP-module API: one method per endpoint, typed results.

Every exchange is recorded (for the Allure attachment and for failure messages), secrets are
redacted in everything rendered, and the client refuses any URL that is not on the device it was
built for. A failed expectation raises ConformanceFailure, which carries the requirement ID, what
was expected and seen, and the request as a curl line that replays it.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import requests

from decoder_conformance.device import schema
from decoder_conformance.device.transport import PooledSession
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.waiting import WaitTimeout, poll_until

SECRET_PARAMS = frozenset({"password", "token"})
_SECRET_JSON = re.compile(r'("(?:password|token)"\s*:\s*)"[^"]*"')
REDACTED = "***"

#: The 14 SIP-module endpoints, by the name the vendor's page gives their URL.
SIP_ENDPOINTS = (
    "list",
    "add",
    "modify",
    "remove",
    "status",
    "account",
    "call_cfg",
    "modify_call_cfg",
    "server_port",
    "get_source",
    "get_binds",
    "set_binds",
    "answer",
    "hangup",
)

#: The endpoints that change the device: accounts, call settings, binds and the current call.
#: A client in read-only mode (`read_only`) refuses to send them.
WRITE_ENDPOINTS = ("add", "modify", "remove", "modify_call_cfg", "set_binds", "answer", "hangup")


def write_endpoint_of(url: str) -> str | None:
    """The write endpoint `url` calls ("http://h/api/sip/add.json" -> "add"), else None; read as
    a lenient device might route it: any case, repeated slashes, percent-encoding, no .json."""
    parts = [p for p in unquote(urlsplit(url).path).lower().split("/") if p]
    if len(parts) < 2 or parts[-2] != "sip":
        return None
    name = parts[-1].removesuffix(".json")
    return name if name in WRITE_ENDPOINTS else None


#: The endpoints whose parameters the page gives an account `id`.
ID_ENDPOINTS = (
    "modify",
    "remove",
    "status",
    "account",
    "call_cfg",
    "modify_call_cfg",
    "answer",
    "hangup",
)


def binds_match(written: list[str], shown: list[str]) -> bool:
    """True when `shown` (get_binds.json) is what `written` (set_binds) asked for.

    A written port 0 asks for an ephemeral port: any bound port matches it, the host must match.
    """
    if len(written) != len(shown):
        return False
    for want, got in zip(written, shown, strict=True):
        want_host, _, want_port = want.rpartition(":")
        got_host, _, got_port = got.rpartition(":")
        if want_host != got_host or want_port not in ("0", got_port):
            return False
        if want_port == "0" and (not got_port.isdigit() or got_port == "0"):
            return False
    return True


def as_number(value: Any) -> int | None:
    """A JSON integer or a string of decimal digits as an int (how the page's ids and ports come:
    the examples show numbers, the tables say "alphabetic string"); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def buffer_of(cfg: Mapping[str, Any]) -> Any:
    """The buffer setting of a call_cfg.json body: under `buffer` (the page's example) or
    `buffer_option` (its return table); None when neither is there."""
    return cfg["buffer"] if "buffer" in cfg else cfg.get("buffer_option")


#: The forms the vendor page gives each call flag of modify_call_cfg.json: field -> (yes, no).
#: (auto_aws is true/false in the table; the example's auto_aws=0 is the numeric form.)
PAGE_FLAG_FORMS: dict[str, tuple[str, str]] = {
    "allow_in": ("1", "2"),
    "source_enable": ("1", "2"),
    "auto_call": ("1", "2"),
    "auto_aws": ("true", "false"),
}

_FLAG_TEXT = {"1": True, "true": True, "0": False, "2": False, "false": False}


def flag_meaning(value: object) -> bool | None:
    """Yes (True) or no (False) of a call flag in any encoding the page allows: 1 or true for
    yes, 0, 2 or false for no (JSON or text); None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {1: True, 0: False, 2: False}.get(value)
    if isinstance(value, str):
        return _FLAG_TEXT.get(value.strip().lower())
    return None


def setting_of(cfg: Mapping[str, Any], field: str) -> Any:
    """One call_cfg.json setting in a form comparable across devices: a flag as its meaning
    (`flag_meaning`), the buffer under either key (`buffer_of`), anything else as sent."""
    if field == "buffer":
        return buffer_of(cfg)
    value = cfg.get(field)
    if field in PAGE_FLAG_FORMS:
        meaning = flag_meaning(value)
        return value if meaning is None else meaning
    return value


def redact_params(params: Mapping[str, str]) -> dict[str, str]:
    """`params` with secret values replaced."""
    return {k: (REDACTED if k in SECRET_PARAMS and v else v) for k, v in params.items()}


def redact_body(text: str) -> str:
    """`text` (a JSON body) with password and token values replaced."""
    return _SECRET_JSON.sub(rf'\1"{REDACTED}"', text)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its answer, as sent and received."""

    method: str
    url: str
    params: dict[str, str]
    status: int
    body: str
    elapsed_ms: float
    #: the answer's Content-Type header ("" when it had none)
    content_type: str = ""

    def curl(self) -> str:
        """A curl command line that replays the request (secrets redacted)."""
        shown = redact_params(self.params)
        if self.method == "GET":
            target = f"{self.url}?{urlencode(shown)}" if shown else self.url
            return f"curl -sS {shlex.quote(target)}"
        data = " ".join(f"--data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in shown.items())
        return f"curl -sS -X POST {data} {shlex.quote(self.url)}".replace("  ", " ")

    def render(self) -> str:
        """Request and answer as text for reports."""
        return (
            f"{self.curl()}\n-> HTTP {self.status} ({self.content_type or 'no Content-Type'}) in "
            f"{self.elapsed_ms:.1f} ms\n"
            f"{redact_body(self.body)}\n"
        )


class ConformanceFailure(DeviceFailure):
    """The device did not do what a requirement says; carries what is needed to replay it."""

    def __init__(
        self, req: str, expected: str, observed: str, exchange: Exchange | None = None
    ) -> None:
        self.req, self.expected, self.observed, self.exchange = req, expected, observed, exchange
        lines = [f"[{req}] expected {expected}", f"  observed {observed}"]
        if exchange is not None:
            lines += [f"  replay: {exchange.curl()}", f"  answer: {redact_body(exchange.body)}"]
        super().__init__("\n".join(lines))


class TargetRefused(NotExercised):
    """The client was asked to send to a host other than the device under test (a suite bug)."""


class ReadOnlyRefused(NotExercised):
    """Read-only mode: the client was asked to send a write endpoint (a case or fixture that
    writes ran, a suite bug); nothing was sent."""


@functools.lru_cache(maxsize=4096)
def _body_errors(text: str, name: str) -> tuple[str, ...]:
    """Schema `name`'s messages for an answer's body text, parsed as `DeviceClient.call` does
    (not JSON: None). Cached by text: most answers repeat word for word (every refusal with the
    same code), and validating costs more than the lookup."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return tuple(schema.errors(body, name))


@dataclass(frozen=True)
class Reply:
    """A decoded API answer."""

    exchange: Exchange
    body: Any

    @property
    def ok(self) -> bool:
        """True for `{"result": "ok", ...}`."""
        return isinstance(self.body, dict) and self.body.get("result") == "ok"

    @property
    def msg(self) -> str | None:
        """The error code of an error answer, else None."""
        if isinstance(self.body, dict) and self.body.get("result") == "error":
            msg = self.body.get("msg")
            return msg if isinstance(msg, str) else repr(msg)
        return None

    @property
    def data(self) -> Any:
        """The `data` member, or None."""
        return self.body.get("data") if isinstance(self.body, dict) else None


@dataclass(frozen=True)
class AccountSummary:
    """One entry of list.json; `id` is a number whether the device sent 1 or "1"."""

    id: int
    name: str
    type: str
    created: bool


@dataclass(frozen=True)
class Status:
    """The four objects of status.json, by their ids (`register_extra` None when absent)."""

    account: str
    register: str
    register_extra: Any
    call: str
    bitrate: float  # "numeric types": a JSON integer or a decimal number


@dataclass
class DeviceClient:
    """Client bound to one device API base URL (e.g. http://127.0.0.1:8080/api).

    `req` is the requirement the current case checks: failures raised by the typed helpers name
    it. `error_codes` maps catalogue error names to the codes this device uses (profile remaps).
    """

    api_url: str
    error_codes: Mapping[str, str]
    timeout: float = 5.0
    token: str | None = None
    req: str = "LOCAL-UNSPECIFIED-000"
    method: str = "GET"
    on_exchange: Callable[[Exchange], None] | None = None
    #: Called with (catalogue name, code) for each refusal whose code is not pinned.
    on_code: Callable[[str, str], None] | None = None
    #: requests' session, or `transport.PooledSession` where a case sends thousands of requests.
    session: requests.Session | PooledSession = field(default_factory=requests.Session)
    #: Read-only mode (--read-only): refuse every write endpoint (WRITE_ENDPOINTS) unsent.
    read_only: bool = False

    def __post_init__(self) -> None:
        self.api_url = self.api_url.rstrip("/")
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"device URL must be http(s)://host[:port]/path, got {self.api_url!r}")
        self._netloc = parts.netloc
        # Straight to the device on one keep-alive connection: no proxy or .netrc from the
        # environment (a proxy would be another host), and no per-request environment lookup.
        self.session.trust_env = False

    # -- transport -------------------------------------------------------------------------

    def url_for(self, path: str) -> str:
        """Absolute URL of `path` ("sip/list.json" or a full URL); refuses other hosts."""
        url = path if "://" in path else f"{self.api_url}/{path.lstrip('/')}"
        if urlsplit(url).netloc != self._netloc:
            raise TargetRefused(f"refusing to send to {url}: the device is {self._netloc}")
        return url

    def send(
        self, path: str, params: Mapping[str, str] | None = None, method: str = ""
    ) -> Exchange:
        """Send one request and record the exchange; HTTP-level errors are returned, not raised."""
        method = (method or self.method).upper()
        url = self.url_for(path)
        if self.read_only and (written := write_endpoint_of(url)) is not None:
            raise ReadOnlyRefused(
                f"read-only mode: refused to send {written}.json ({url}), which writes to the "
                "device; a case that writes must not be marked read_only"
            )
        params = dict(params or {})
        headers = {"X-Auth-Token": self.token} if self.token else {}
        started = time.monotonic()
        if method == "GET":
            response = self.session.get(url, params=params, headers=headers, timeout=self.timeout)
        elif method == "POST":
            response = self.session.post(url, data=params, headers=headers, timeout=self.timeout)
        else:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout)
        exchange = Exchange(
            method=method,
            url=url,
            params=params,
            status=response.status_code,
            body=response.text,
            elapsed_ms=(time.monotonic() - started) * 1000.0,
            content_type=response.headers.get("Content-Type", ""),
        )
        if self.on_exchange is not None:
            self.on_exchange(exchange)
        return exchange

    def call(
        self, endpoint: str, params: Mapping[str, str] | None = None, method: str = ""
    ) -> Reply:
        """Call `sip/<endpoint>.json` (or a path containing "/", e.g. "users/login")."""
        path = endpoint if "/" in endpoint else f"sip/{endpoint}"
        exchange = self.send(f"{path}.json", params, method)
        try:
            body = json.loads(exchange.body)
        except ValueError:
            body = None
        return Reply(exchange, body)

    # -- expectations ----------------------------------------------------------------------

    def expect_envelope(self, reply: Reply, req: str | None = None) -> None:
        """A JSON ok or error envelope, as the page shows them.

        The page shows bodies only: `{"result":"ok",...}` or `{"result":"error","msg":...}`. Any
        HTTP status and any msg string pass here: the status is SIP-API-ENV-007's case and the
        code's form SIP-API-ENV-006's, so a device's choice there fails one requirement, not
        every case that reads an answer.
        """
        req = req or self.req
        errors = _body_errors(reply.exchange.body, "PageEnvelope")
        if errors:
            raise ConformanceFailure(
                req, "an ok or error JSON envelope", "; ".join(errors), reply.exchange
            )

    def expect_ok(self, reply: Reply, req: str | None = None, data_schema: str = "") -> Any:
        """`{"result":"ok"}` (with data matching `data_schema` if given); returns data."""
        req = req or self.req
        self.expect_envelope(reply, req)
        if not reply.ok:
            raise ConformanceFailure(req, '{"result": "ok"}', f"error {reply.msg}", reply.exchange)
        if data_schema:
            errors = _body_errors(reply.exchange.body, data_schema)
            if errors:
                raise ConformanceFailure(
                    req, f"a body matching {data_schema}", "; ".join(errors[:5]), reply.exchange
                )
        return reply.data

    def expect_error(self, reply: Reply, name: str, req: str | None = None) -> None:
        """An error envelope for the refusal the catalogue calls `name`.

        The code must be the pinned one when `name` is pinned (the page numbers it, or the
        profile does); otherwise any code passes and is reported through `on_code`.
        """
        req = req or self.req
        self.expect_envelope(reply, req)
        want = self.error_codes.get(name)
        expected = f"error {want} ({name})" if want else f"an error answer ({name})"
        if reply.ok:
            raise ConformanceFailure(req, expected, "result ok", reply.exchange)
        if want is None:
            if self.on_code is not None:
                self.on_code(name, reply.msg or "")
        elif reply.msg != want:
            raise ConformanceFailure(req, expected, f"error {reply.msg}", reply.exchange)

    # -- typed endpoint helpers ------------------------------------------------------------

    def login(self, username: str, password: str) -> str:
        """Log in and keep the token for every later request; returns it."""
        data = self.expect_ok(
            self.call("users/login", {"username": username, "password": password}),
            data_schema="LoginOk",
        )
        self.token = str(data["token"])
        return self.token

    # The read helpers check only what the vendor's page guarantees (the `Page*` schemas) and
    # accept every reading it allows, normalised; the strict shapes are the cases' own checks.

    def accounts(self) -> list[AccountSummary]:
        """list.json as typed entries (id a JSON integer or a decimal string, read as an int)."""
        data = self.expect_ok(self.call("list"), data_schema="PageListOk")
        return [AccountSummary(int(e["id"]), e["name"], e["type"], e["created"]) for e in data]

    def find(self, name: str) -> AccountSummary | None:
        """The listed account called `name`, if any."""
        return next((a for a in self.accounts() if a.name == name), None)

    def add_account(self, name: str, type_: str = "sip") -> int:
        """add.json, then the new account's id from list.json (the page's add answers no id)."""
        self.expect_ok(self.call("add", {"name": name, "type": type_}))
        found = self.find(name)
        if found is None:
            raise ConformanceFailure(
                self.req, f"account {name!r} listed after add.json answered ok", "not listed"
            )
        return found.id

    def modify(self, account_id: int, **fields_: str) -> None:
        """modify.json with `fields_`, expecting ok."""
        self.expect_ok(self.call("modify", {"id": str(account_id), **fields_}))

    def modify_call_cfg(self, account_id: int, **fields_: str) -> None:
        """modify_call_cfg.json with `fields_`, expecting ok."""
        self.expect_ok(self.call("modify_call_cfg", {"id": str(account_id), **fields_}))

    def remove(self, account_id: int) -> None:
        """remove.json, expecting ok."""
        self.expect_ok(self.call("remove", {"id": str(account_id)}))

    def account(self, account_id: int) -> dict[str, Any]:
        """account.json data as the device sent it, checked against what the page guarantees.

        registerPort may be a JSON integer or a decimal string: compare it with `as_number`.
        """
        data = self.expect_ok(
            self.call("account", {"id": str(account_id)}), data_schema="PageAccountOk"
        )
        return dict(data)

    def register_port(self, account_id: int) -> int:
        """account.json registerPort as a number, whichever form the device sends."""
        port = as_number(self.account(account_id)["registerPort"])
        if port is None:  # the page schema admits only integers and decimal strings
            raise NotExercised("harness: PageAccountOk admitted a non-numeric registerPort")
        return port

    def call_cfg(self, account_id: int) -> dict[str, Any]:
        """call_cfg.json data as the device sent it, checked against what the page guarantees.

        The buffer may be under `buffer` or `buffer_option` (`buffer_of`); flags may be integers
        or booleans.
        """
        data = self.expect_ok(
            self.call("call_cfg", {"id": str(account_id)}), data_schema="PageCallConfigOk"
        )
        return dict(data)

    def status(self, account_id: int) -> Status:
        """status.json as a typed Status: the four objects by id, in any order, among others."""
        reply = self.call("status", {"id": str(account_id)})
        data = self.expect_ok(reply)
        by_id, problems = schema.status_items(data)
        if problems:
            raise ConformanceFailure(
                self.req,
                "status.json objects account_status, register_status, call_status and bitrate "
                "as the page gives them",
                "; ".join(problems[:5]),
                reply.exchange,
            )
        return Status(
            account=by_id["account_status"]["state"],
            register=by_id["register_status"]["state"],
            register_extra=by_id["register_status"].get("extra_info"),
            call=by_id["call_status"]["state"],
            bitrate=by_id["bitrate"]["state"],
        )

    def wait_status(
        self,
        account_id: int,
        accept: Callable[[Status], bool],
        *,
        timeout: float,
        expected: str,
        req: str | None = None,
    ) -> Status:
        """Poll status.json until `accept` holds; ConformanceFailure naming the last status seen."""
        try:
            return poll_until(
                lambda: self.status(account_id), accept, timeout=timeout, expected=expected
            )
        except WaitTimeout as exc:
            raise ConformanceFailure(req or self.req, expected, str(exc)) from None

    def binds(self) -> list[str]:
        """get_binds.json as a list split on "," (empty string -> empty list), entries as shown:
        no HOST:PORT grammar, so the page's own `*:5060,*.2222` reads."""
        data = self.expect_ok(self.call("get_binds"), data_schema="PageBindsOk")
        text = str(data["binds"])
        return [b for b in text.split(",") if b] if text else []

    def set_binds(self, binds: list[str]) -> None:
        """set_binds.json, expecting ok."""
        self.expect_ok(self.call("set_binds", {"binds": ",".join(binds)}))
