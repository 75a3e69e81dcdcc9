"""In-process tests of the reference decoder's HTTP API (aiohttp TestServer, no subprocess)."""

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from reference_device.app import make_app
from reference_device.auth import Authenticator, Credentials
from reference_device.errors import ErrorCode
from reference_device.faults import FAULTS, Faults
from reference_device.handlers import Api
from reference_device.store import Store
from tests.reference_device.api_defaults import ACCOUNT_DEFAULTS, CALL_CFG_DEFAULTS
from tests.reference_device.sip.test_fault_coverage import SIP_FAULTS
from tests.reference_device.test_store import STORE_FAULTS

Json = dict[str, Any]
AT = "@"  # kept apart so no tool mistakes the test URLs for e-mail addresses
SIP_URL = f"sips:bob{AT}127.0.0.11:5061"


@dataclass
class Device:
    """A reference decoder served in-process, with small request helpers."""

    client: TestClient[aiohttp.web.Request, aiohttp.web.Application]
    api: Api
    store: Store

    async def raw(self, path: str, method: str = "GET", **kwargs: Any) -> tuple[int, str, Json]:
        """(HTTP status, content type, JSON body) of one request to /api/<path>."""
        async with self.client.request(method, "/api/" + path, **kwargs) as resp:
            return resp.status, resp.content_type, await resp.json(content_type=None)

    async def get(self, endpoint: str, **params: str) -> Json:
        """GET /api/sip/<endpoint>.json?params; asserts the HTTP 200 JSON envelope."""
        return await self._checked(f"sip/{endpoint}.json", "GET", params=params)

    async def post(self, endpoint: str, **params: str) -> Json:
        """POST /api/sip/<endpoint>.json with params as a form body."""
        return await self._checked(f"sip/{endpoint}.json", "POST", data=params)

    async def _checked(self, path: str, method: str, **kwargs: Any) -> Json:
        status, ctype, body = await self.raw(path, method, **kwargs)
        assert (status, ctype) == (200, "application/json"), f"{path}: {status} {ctype} {body}"
        return body

    async def ok(self, endpoint: str, **params: str) -> Json:
        """GET that must answer result ok."""
        body = await self.get(endpoint, **params)
        assert body["result"] == "ok", f"{endpoint} {params}: expected ok, got {body}"
        return body

    async def refused(self, endpoint: str, code: str, **params: str) -> None:
        """GET that must answer error `code`."""
        body = await self.get(endpoint, **params)
        assert body == {"result": "error", "msg": code}, f"{endpoint} {params}: wanted {code}"

    async def add(self, name: str, type_: str = "sip") -> int:
        """Add an account and return its id, found in list.json by name."""
        await self.ok("add", name=name, type=type_)
        return await self.id_of(name)

    async def id_of(self, name: str) -> int:
        """The id list.json gives `name`."""
        listed = (await self.ok("list"))["data"]
        return int(next(e["id"] for e in listed if e["name"] == name))


Scenario = Callable[[Device], Awaitable[None]]


def drive(
    tmp_path: Path,
    scenario: Scenario,
    faults: Sequence[str] = (),
    credentials: Credentials | None = None,
    max_accounts: int = 32,
) -> None:
    """Run `scenario` against a fresh in-process device on its own event loop."""

    async def main() -> None:
        store = Store.open(tmp_path / "state", ["127.0.0.1:0"])
        api = Api(store, Faults(faults), Authenticator(credentials), max_accounts=max_accounts)
        server = TestServer(make_app(api), host="127.0.0.1", port=0)
        async with TestClient(server) as client:
            await scenario(Device(client, api, store))

    asyncio.run(main())


# -- envelope ----------------------------------------------------------------------------------


def test_unknown_path_is_404_json_and_other_methods_405(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        assert (await dev.raw("sip/nope.json"))[:2] == (404, "application/json")
        assert (await dev.raw("sip/list.json", "PUT"))[0] == 405
        assert (await dev.raw("sip/list.json", "DELETE"))[0] == 405
        async with dev.client.request("HEAD", "/api/sip/list.json") as resp:
            assert resp.status == 405

    drive(tmp_path, scenario)


def test_oversized_body_is_refused_as_json(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        status, ctype, body = await dev.raw(
            "sip/add.json", "POST", data={"name": "x" * 70_000, "type": "sip"}
        )
        assert (status, ctype, body["result"]) == (413, "application/json", "error")
        assert (await dev.ok("list"))["data"] == []

    drive(tmp_path, scenario)


def test_get_and_post_give_the_same_answers(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        assert await dev.post("add", name="p", type="gb28181") == {"result": "ok"}
        assert await dev.post("list") == await dev.get("list")
        assert await dev.post("account", id="1") == await dev.get("account", id="1")
        assert await dev.post("status", id="9") == {"result": "error", "msg": "1202"}

    drive(tmp_path, scenario)


def test_post_body_wins_over_query_and_first_repeated_value_counts(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        url = "/api/sip/add.json?name=fromquery&type=sip"
        async with dev.client.post(url, data={"name": "frombody"}) as resp:
            assert (await resp.json())["result"] == "ok"
        async with dev.client.get("/api/sip/add.json?name=first&name=second&type=sip") as resp:
            assert (await resp.json())["result"] == "ok"
        form = aiohttp.FormData()
        form.add_field("name", "multi")
        form.add_field("type", "sip")
        form.add_field("ignored", b"file", filename="x.bin")
        async with dev.client.post("/api/sip/add.json", data=form()) as resp:
            assert (await resp.json())["result"] == "ok"
        names = [e["name"] for e in (await dev.ok("list"))["data"]]
        assert names == ["frombody", "first", "multi"]

    drive(tmp_path, scenario)


def test_unexpected_exception_is_500_json_and_leaves_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("before")

        def broken(*_: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr("reference_device.store.write_atomic", broken)
        status, ctype, body = await dev.raw("sip/add.json", params={"name": "x", "type": "sip"})
        assert (status, ctype, body["result"]) == (500, "application/json", "error")
        status, _, _ = await dev.raw("sip/modify.json", params={"id": "1", "realm": "r"})
        assert status == 500
        monkeypatch.undo()
        assert [e["name"] for e in (await dev.ok("list"))["data"]] == ["before"]
        assert (await dev.ok("account", id="1"))["data"]["realm"] == "*"
        assert await dev.add("after") == 2

    drive(tmp_path, scenario)


# -- add / list / remove -----------------------------------------------------------------------


def test_add_list_remove_and_ids_are_never_reused(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        assert await dev.get("add", name="a", type="sip") == {"result": "ok"}
        await dev.ok("add", name="b", type="gb28181")
        listed = (await dev.ok("list"))["data"]
        assert listed == [
            {"created": False, "type": "sip", "name": "a", "id": 1},
            {"created": False, "type": "gb28181", "name": "b", "id": 2},
        ]
        assert await dev.get("remove", id="2") == {"result": "ok"}
        await dev.refused("account", "1202", id="2")
        await dev.refused("call_cfg", "1202", id="2")
        assert await dev.add("c") == 3
        assert await dev.add("b") == 4  # a removed account's name is free again

    drive(tmp_path, scenario)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"type": "sip"}, "1201"),
        ({"name": "", "type": "sip"}, "1201"),
        ({"name": "n" * 65, "type": "sip"}, "1209"),
        ({"name": "bad\x01", "type": "sip"}, "1203"),
        ({"name": "bad\x7f", "type": "sip"}, "1203"),
        ({"name": "n"}, "1201"),
        ({"name": "n", "type": ""}, "1201"),
        ({"name": "n", "type": "Ssip"}, "1204"),
        ({"name": "n", "type": "SIP"}, "1204"),
        ({"name": "n", "type": "h323"}, "1204"),
        ({"name": "taken", "type": "sip"}, "1208"),
    ],
)
def test_add_refusals(tmp_path: Path, params: dict[str, str], code: str) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("taken")
        await dev.refused("add", code, **params)
        assert [e["name"] for e in (await dev.ok("list"))["data"]] == ["taken"]

    drive(tmp_path, scenario)


def test_add_accepts_64_char_name_and_stops_at_the_limit(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.ok("add", name="n" * 64, type="sip")
        await dev.ok("add", name="two", type="gb28181")
        await dev.refused("add", "1210", name="three", type="sip")
        await dev.ok("remove", id="1")
        assert await dev.add("three") == 3

    drive(tmp_path, scenario, max_accounts=2)


@pytest.mark.parametrize(
    "endpoint",
    ["status", "account", "call_cfg", "remove", "modify", "modify_call_cfg", "answer", "hangup"],
)
def test_id_validation(tmp_path: Path, endpoint: str) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.refused(endpoint, "1201")
        await dev.refused(endpoint, "1201", id="")
        for bad in ("abc", "-1", "1.5", " 1", "1 ", "+1", "\u00b2", "0x1", "1\n"):
            await dev.refused(endpoint, "1203", id=bad)
        for unknown in ("0", "2", "99", "9" * 5000):
            await dev.refused(endpoint, "1202", id=unknown)
        assert await dev.id_of("a") == 1  # nothing was removed or changed

    drive(tmp_path, scenario)


# -- modify ------------------------------------------------------------------------------------

FULL_MODIFY = {
    "type": "gb28181",
    "localAccount": "123",
    "localAddress": "*:5060",
    "realm": "example",
    "serverId": "sip",
    "registerServer": "registrar.example-1.test",
    "registerPort": "5070",
    "username": "sip1",
    "password": "pw",
}


def test_modify_changes_given_fields_and_created_follows(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.ok("modify", id="1", localAccount="123")
        assert (await dev.ok("status", id="1"))["data"][0]["state"] == "not_created"
        await dev.ok("modify", id="1", name="renamed", unknown="x", **FULL_MODIFY)
        data = (await dev.ok("account", id="1"))["data"]
        expected = {
            **ACCOUNT_DEFAULTS,
            "name": "renamed",
            "protocol": "gb28181",
            "localAccount": "123",
            "localAddress": "*:5060",
            "realm": "example",
            "serverId": "sip",
            "registerServer": "registrar.example-1.test",
            "registerPort": 5070,
            "username": "sip1",
            "password": "pw",
        }
        assert data == expected
        assert (await dev.ok("list"))["data"][0]["created"] is True
        await dev.ok("modify", id="1", realm="*")  # only realm changes
        assert (await dev.ok("account", id="1"))["data"] == {**expected, "realm": "*"}
        await dev.ok("modify", id="1", name="renamed")  # its own name is not a duplicate
        await dev.ok("modify", id="1", localAddress="", registerServer="")
        assert (await dev.ok("list"))["data"][0]["created"] is False

    drive(tmp_path, scenario)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"name": ""}, "1203"),
        ({"name": "n" * 65}, "1209"),
        ({"name": "other"}, "1208"),
        ({"type": "Ssip"}, "1204"),
        ({"type": ""}, "1204"),
        ({"localAddress": "*.2222"}, "1203"),
        ({"localAddress": "host:5060"}, "1203"),
        ({"localAddress": "1.2.3.256:5060"}, "1203"),
        ({"localAddress": "*:65536"}, "1203"),
        ({"localAddress": "*:"}, "1203"),
        ({"registerServer": "bad host"}, "1203"),
        ({"registerServer": "a_b"}, "1203"),
        ({"registerPort": "0"}, "1203"),
        ({"registerPort": "65536"}, "1203"),
        ({"registerPort": ""}, "1203"),
        ({"registerPort": "50x"}, "1203"),
        ({"realm": "r" * 129}, "1209"),
        ({"username": "u" * 129}, "1209"),
        ({"password": "tab\there"}, "1203"),
        ({"localAccount": "line\nbreak"}, "1203"),
    ],
)
def test_modify_refusals_change_nothing(tmp_path: Path, params: dict[str, str], code: str) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.add("other")
        before = await dev.ok("account", id="1")
        # A valid field alongside the bad one must not be applied either.
        await dev.refused("modify", code, id="1", serverId="changed", **params)
        assert await dev.ok("account", id="1") == before

    drive(tmp_path, scenario)


def test_modify_accepts_boundary_values(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.ok(
            "modify",
            id="1",
            name="n" * 64,
            realm="r" * 128,
            # 255 octets on the highest unicast block (224/4 and up are not binds).
            localAddress="223.255.255.255:65535",
            registerPort="65535",
        )
        await dev.ok("modify", id="1", localAddress="0.0.0.0:0", registerPort="1")

    drive(tmp_path, scenario)


# -- status / answer / hangup / get_source ----------------------------------------------------


def test_status_answer_hangup_get_source(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        assert (await dev.ok("status", id="1"))["data"] == [
            {"state": "not_created", "id": "account_status"},
            {"state": "idle", "extra_info": 0, "id": "register_status"},
            {"state": "idle", "id": "call_status"},
            {"state": 0, "id": "bitrate"},
        ]
        await dev.refused("answer", "1211", id="1", dir="sip_out")
        await dev.refused("hangup", "1211", id="1")
        await dev.refused("get_source", "0000")

    drive(tmp_path, scenario)


# -- call settings: two views of one object ----------------------------------------------------


def test_call_views_default_and_agree(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        assert (await dev.ok("account", id="1"))["data"] == ACCOUNT_DEFAULTS
        assert (await dev.ok("call_cfg", id="1"))["data"] == CALL_CFG_DEFAULTS
        await dev.ok(
            "modify_call_cfg",
            id="1",
            type="gb28181",
            allow_in="2",
            auto_aws="true",
            auto_call="1",
            source_enable="2",
            policy="3",
            allow_in_num="16",
            buffer="fast:0:1:100000:3:4",
            sip_out_url=SIP_URL,
            source_id="src",
            default_name="dn",
        )
        cfg = (await dev.ok("call_cfg", id="1"))["data"]
        assert cfg == {
            "allow_in_num": 16,
            "buffer": "fast:0:1:100000:3:4",
            "source_id": "src",
            "default_name": "dn",
            "sip_out_url": SIP_URL,
            "allow_in": 2,
            "source_enable": 2,
            "auto_aws": 1,
            "auto_call": 1,
        }
        acct = (await dev.ok("account", id="1"))["data"]
        assert acct["call_in_options"] == {"auto_answer": True, "allow": False, "policy": 3}
        assert acct["call_out_options"] == {
            "create_stream": False,
            "target": SIP_URL,
            "auto_call": True,
        }
        assert (acct["buffer_option"], acct["source_id"]) == ("fast:0:1:100000:3:4", "src")
        assert acct["protocol"] == "sip"  # modify_call_cfg ignores `type`
        await dev.ok("modify_call_cfg", id="1", auto_aws="2", auto_call="false", allow_in="1")
        cfg = (await dev.ok("call_cfg", id="1"))["data"]
        assert (cfg["auto_aws"], cfg["auto_call"], cfg["allow_in"]) == (0, 0, 1)
        acct = (await dev.ok("account", id="1"))["data"]
        assert acct["call_in_options"]["auto_answer"] is False
        assert acct["call_in_options"]["allow"] is True

    drive(tmp_path, scenario)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"allow_in": "0"}, "1203"),
        ({"allow_in": "true"}, "1203"),
        ({"auto_aws": "yes"}, "1203"),
        ({"auto_call": "3"}, "1203"),
        ({"source_enable": "0"}, "1203"),
        ({"policy": "4"}, "1203"),
        ({"policy": "0"}, "1203"),
        ({"allow_in_num": "0"}, "1203"),
        ({"allow_in_num": "17"}, "1203"),
        ({"allow_in_num": ""}, "1203"),
        ({"buffer": "live:200:200:500:0"}, "1205"),
        ({"buffer": "Live:200:200:500:0:0"}, "1205"),
        ({"buffer": "live:200:200:500:0:100001"}, "1205"),
        ({"buffer": "live:1234567:0:0:0:0"}, "1205"),
        ({"buffer": ""}, "1205"),
        ({"sip_out_url": "no-at-sign"}, "1203"),
        ({"sip_out_url": f"bob{AT}127.0.0.11:0"}, "1203"),
        ({"sip_out_url": f"bob{AT}127.0.0.11:65536"}, "1203"),
        ({"sip_out_url": f"a b{AT}127.0.0.11"}, "1203"),
        ({"sip_out_url": f"a{AT}" + "h" * 127}, "1209"),
        ({"sip_out_url": f"sip:a{AT}h;x"}, "1203"),
        ({"source_id": "s" * 129}, "1209"),
        ({"default_name": "d" * 129}, "1209"),
        ({"default_name": "bell\x07"}, "1203"),
    ],
)
def test_modify_call_cfg_refusals_change_nothing(
    tmp_path: Path, params: dict[str, str], code: str
) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.refused(
            "modify_call_cfg", code, **{"id": "1", "default_name": "changed", **params}
        )
        assert (await dev.ok("call_cfg", id="1"))["data"] == CALL_CFG_DEFAULTS

    drive(tmp_path, scenario)


# -- binds -------------------------------------------------------------------------------------


def test_binds_round_trip_and_persist(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        assert (await dev.ok("get_binds"))["data"] == {"binds": "127.0.0.1:0"}
        await dev.ok("set_binds", binds=" *:5060 , 127.0.0.1:5070")
        assert (await dev.ok("get_binds"))["data"] == {"binds": "*:5060,127.0.0.1:5070"}
        assert (await dev.ok("server_port", id="3", type="sip"))["data"] == [
            {"name": "*:5060", "value": "*:5060"},
            {"name": "127.0.0.1:5070", "value": "127.0.0.1:5070"},
        ]
        reloaded = Store.open(dev.store.path.parent, [])
        assert reloaded.state.binds == ["*:5060", "127.0.0.1:5070"]

    drive(tmp_path, scenario)


@pytest.mark.parametrize(
    ("binds", "code"),
    [
        (None, "1201"),
        ("", "1201"),
        ("*.2222", "1206"),
        ("*:5060,*.2222", "1206"),
        ("*:5060,", "1206"),
        ("*:5060,*:5060", "1206"),
        ("*:5060,*:05060", "1206"),
        ("host:5060", "1206"),
        ("1.2.3.4.5:1", "1206"),
        ("1.2.3.256:1", "1206"),
        ("*:65536", "1206"),
        ("*:-1", "1206"),
        (",".join(f"*:{p}" for p in range(9)), "1206"),
        ("*:1\x00", "1203"),
    ],
)
def test_set_binds_refusals(tmp_path: Path, binds: str | None, code: str) -> None:
    async def scenario(dev: Device) -> None:
        params = {} if binds is None else {"binds": binds}
        await dev.refused("set_binds", code, **params)
        assert (await dev.ok("get_binds"))["data"] == {"binds": "127.0.0.1:0"}

    drive(tmp_path, scenario)


def test_set_binds_accepts_eight(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        eight = ",".join(f"*:{p}" for p in range(8))
        await dev.ok("set_binds", binds=eight)
        assert len((await dev.ok("server_port"))["data"]) == 8

    drive(tmp_path, scenario)


@pytest.mark.parametrize("host", ["224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1"])
def test_non_unicast_bind_hosts_refused(tmp_path: Path, host: str) -> None:
    async def scenario(dev: Device) -> None:
        await dev.refused("set_binds", "1206", binds=f"{host}:5060")
        await dev.refused("set_binds", "1206", binds=f"*:5060,{host}:5062")
        assert (await dev.ok("get_binds"))["data"] == {"binds": "127.0.0.1:0"}
        # localAddress names a bind too: the same hosts are refused there (1203).
        await dev.add("a")
        before = await dev.ok("account", id="1")
        await dev.refused("modify", "1203", id="1", localAddress=f"{host}:5060")
        assert await dev.ok("account", id="1") == before

    drive(tmp_path, scenario)


def test_wildcard_bind_hosts_taken(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        # 0.0.0.0 is the socket API's wildcard, the page's `*`: a host a UA listens on.
        await dev.ok("set_binds", binds="0.0.0.0:5060,*:5062")
        assert (await dev.ok("get_binds"))["data"] == {"binds": "0.0.0.0:5060,*:5062"}

    drive(tmp_path, scenario)


# -- login / tokens ----------------------------------------------------------------------------

TOKEN = re.compile(r"[0-9a-f]{32}")


def test_login_without_credentials_always_gives_a_token(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        _, _, body = await dev.raw("users/login.json", params={"username": "x"})
        assert body["result"] == "ok"
        assert TOKEN.fullmatch(body["data"]["token"])
        await dev.ok("list")  # no token needed

    drive(tmp_path, scenario)


def test_login_and_tokens_when_credentials_are_set(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.refused("list", "1512")
        await dev.refused("get_source", "1512")
        assert (await dev.raw("sip/nope.json"))[0] == 404
        _, _, info = await dev.raw("reference/info.json")
        assert info == {"result": "error", "msg": "1512"}
        for wrong in ({"username": "admin", "password": "x"}, {"username": "admin"}, {}):
            _, _, body = await dev.raw("users/login.json", params=wrong)
            assert body == {"result": "error", "msg": "1511"}
        _, _, body = await dev.raw(
            "users/login.json", "POST", data={"username": "admin", "password": "secret"}
        )
        token = body["data"]["token"]
        assert TOKEN.fullmatch(token)
        await dev.ok("list", token=token)
        await dev.refused("list", "1512", token="0" * 32)
        assert (await dev.post("list", token=token))["result"] == "ok"
        status, _, body = await dev.raw("sip/list.json", headers={"X-Auth-Token": token})
        assert (status, body["result"]) == (200, "ok")
        status, _, body = await dev.raw("sip/list.json", headers={"Cookie": f"token={token}"})
        assert (status, body["result"]) == (200, "ok")

    drive(tmp_path, scenario, credentials=Credentials("admin", "secret"))


def test_reference_info(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        _, _, body = await dev.raw("reference/info.json", "POST")
        assert body == {
            "result": "ok",
            "data": {
                "faults": ["id_reused"],
                "readings": {},
                "implementation": "reference_device",
                "version": "0.1.0",
            },
        }

    drive(tmp_path, scenario, faults=["id_reused"])


def test_error_codes_are_the_catalogue() -> None:
    assert {m.value for m in ErrorCode} == {
        "0000",
        *(f"12{n:02d}" for n in range(1, 12)),
        "1511",
        "1512",
    }


# -- faults: each must change behaviour the suite can see ---------------------------------------


def test_every_fault_is_tested_here() -> None:
    tested = {
        name.removeprefix("test_fault_") for name in globals() if name.startswith("test_fault_")
    }
    # The SIP user agent's faults are exercised on the wire in tests/reference_device/sip/, the
    # store's in tests/reference_device/test_store.py.
    assert tested == set(FAULTS) - SIP_FAULTS - STORE_FAULTS


def test_unknown_fault_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no_such_fault"):
        Faults(["no_such_fault"])
    with pytest.raises(KeyError):
        Faults().on("no_such_fault")


def test_fault_remove_keeps_listed(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.ok("remove", id="1")
        assert await dev.id_of("a") == 1
        await dev.ok("account", id="1")

    drive(tmp_path, scenario, faults=["remove_keeps_listed"])


def test_fault_modify_ignores_realm(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.ok("modify", id="1", realm="changed", username="u")
        data = (await dev.ok("account", id="1"))["data"]
        assert (data["realm"], data["username"]) == ("*", "u")

    drive(tmp_path, scenario, faults=["modify_ignores_realm"])


def test_fault_unknown_id_wrong_code(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.refused("account", "1203", id="42")
        await dev.refused("account", "1201")

    drive(tmp_path, scenario, faults=["unknown_id_wrong_code"])


def test_fault_register_port_string(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        assert (await dev.ok("account", id="1"))["data"]["registerPort"] == "5060"

    drive(tmp_path, scenario, faults=["register_port_string"])


def test_fault_call_views_disagree(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.ok("modify_call_cfg", id="1", auto_aws="1")
        assert (await dev.ok("call_cfg", id="1"))["data"]["auto_aws"] == 1
        acct = (await dev.ok("account", id="1"))["data"]
        assert acct["call_in_options"]["auto_answer"] is False

    drive(tmp_path, scenario, faults=["call_views_disagree"])


@pytest.mark.parametrize("fault", [(), ("modify_forgets_calls",)])
def test_fault_modify_forgets_calls(tmp_path: Path, fault: tuple[str, ...]) -> None:
    """A rename during a call: the call stays in status.json, unless the fault drops it."""
    from tests.reference_device.sip.peer import Dialog, Peer, device, h264_offer

    peer = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite(h264_offer())
        dialog.take_tag(peer.response(200))
        dialog.ack()
        dev.wait_state("call_status", "calling")
        dev.ok("modify", id="1", name="renamed")
        assert dev.state("call_status") == ("idle" if fault else "calling")
    peer.close()


def test_fault_status_unknown_ok(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        body = await dev.ok("status", id="42")
        assert [item["state"] for item in body["data"]] == ["idle", "idle", "idle", 0]
        await dev.refused("status", "1203", id="x")

    drive(tmp_path, scenario, faults=["status_unknown_ok"])


def test_fault_id_reused(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.add("b")
        await dev.ok("remove", id="1")
        assert await dev.add("c") == 1

    drive(tmp_path, scenario, faults=["id_reused"])


def test_fault_json_as_text_html(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        status, content_type, body = await dev.raw("sip/list.json")
        assert (status, content_type, body["result"]) == (200, "text/html", "ok")
        status, content_type, body = await dev.raw("sip/account.json", params={"id": "9"})
        assert (status, content_type, body["result"]) == (200, "text/html", "error")

    drive(tmp_path, scenario, faults=["json_as_text_html"])


def test_fault_partial_modify(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.refused("modify", "1203", id="1", username="applied", registerPort="0")
        assert (await dev.ok("account", id="1"))["data"]["username"] == "applied"

    drive(tmp_path, scenario, faults=["partial_modify"])


def test_fault_post_body_ignored(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        assert await dev.post("add", name="a", type="sip") == {"result": "error", "msg": "1201"}
        async with dev.client.post("/api/sip/add.json?name=q&type=sip", data={"name": "b"}) as r:
            assert (await r.json())["result"] == "ok"
        assert await dev.id_of("q") == 1

    drive(tmp_path, scenario, faults=["post_body_ignored"])


def drive_restarted(
    tmp_path: Path, before: Scenario, after: Scenario, faults: Sequence[str] = ()
) -> None:
    """`before` against a device, then `after` against one restarted on the same state dir (the
    store's faults on in both)."""

    async def main() -> None:
        for scenario in (before, after):
            store = Store.open(tmp_path / "state", ["127.0.0.1:0"], Faults(faults))
            api = Api(store, Faults(faults), Authenticator(None))
            server = TestServer(make_app(api), host="127.0.0.1", port=0)
            async with TestClient(server) as client:
                await scenario(Device(client, api, store))

    asyncio.run(main())


@pytest.mark.parametrize("fault", [False, True], ids=["clean", "fault"])
def test_fault_call_cfg_not_persisted(tmp_path: Path, fault: bool) -> None:
    async def before(dev: Device) -> None:
        await dev.add("a")
        await dev.ok("modify_call_cfg", id="1", allow_in="2", buffer="live:1:1:1:0:0")
        await dev.ok("modify", id="1", username="kept")  # the account itself is stored
        assert (await dev.ok("call_cfg", id="1"))["data"]["allow_in"] == 2

    async def after(dev: Device) -> None:
        cfg = (await dev.ok("call_cfg", id="1"))["data"]
        shown = (cfg["allow_in"], cfg["buffer"])
        assert shown == ((1, CALL_CFG_DEFAULTS["buffer"]) if fault else (2, "live:1:1:1:0:0"))
        assert (await dev.ok("account", id="1"))["data"]["username"] == "kept"

    drive_restarted(tmp_path, before, after, ["call_cfg_not_persisted"] if fault else [])


@pytest.mark.parametrize("fault", [False, True], ids=["clean", "fault"])
def test_fault_rename_not_persisted(tmp_path: Path, fault: bool) -> None:
    async def before(dev: Device) -> None:
        await dev.add("added")
        await dev.ok("modify", id="1", name="renamed", username="kept")
        assert await dev.id_of("renamed") == 1

    async def after(dev: Device) -> None:
        assert await dev.id_of("added" if fault else "renamed") == 1
        data = (await dev.ok("account", id="1"))["data"]
        assert (data["name"], data["username"]) == ("added" if fault else "renamed", "kept")

    drive_restarted(tmp_path, before, after, ["rename_not_persisted"] if fault else [])


@pytest.mark.parametrize("fault", [False, True], ids=["clean", "fault"])
def test_fault_binds_not_persisted(tmp_path: Path, fault: bool) -> None:
    async def before(dev: Device) -> None:
        await dev.ok("set_binds", binds="127.0.0.1:5999")
        assert (await dev.ok("get_binds"))["data"]["binds"] == "127.0.0.1:5999"

    async def after(dev: Device) -> None:
        binds = (await dev.ok("get_binds"))["data"]["binds"]
        assert binds == ("127.0.0.1:0" if fault else "127.0.0.1:5999")

    drive_restarted(tmp_path, before, after, ["binds_not_persisted"] if fault else [])


@pytest.mark.parametrize("fault", [False, True], ids=["clean", "fault"])
def test_fault_id_counter_not_persisted(tmp_path: Path, fault: bool) -> None:
    async def before(dev: Device) -> None:
        await dev.add("kept")
        assert await dev.add("removed") == 2
        await dev.ok("remove", id="2")
        assert await dev.add("same-run") == 3  # ids grow while the process runs
        await dev.ok("remove", id="3")

    async def after(dev: Device) -> None:
        assert await dev.add("new") == (2 if fault else 4)

    drive_restarted(tmp_path, before, after, ["id_counter_not_persisted"] if fault else [])


def test_fault_buffer_upper_bound_off_by_one(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.add("a")
        await dev.refused("modify_call_cfg", "1205", id="1", buffer="live:100001:0:0:0:0")
        await dev.refused("modify_call_cfg", "1205", id="1", buffer="live:0:0:0:0:100002")
        # The defect: max + 1 in the last place is taken (and shown).
        await dev.ok("modify_call_cfg", id="1", buffer="live:0:0:0:0:100001")
        assert (await dev.ok("call_cfg", id="1"))["data"]["buffer"] == "live:0:0:0:0:100001"

    drive(tmp_path, scenario, faults=["buffer_upper_bound_off_by_one"])


def test_fault_binds_accept_multicast(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.refused("set_binds", "1206", binds="*:5060,,*:5062")  # malformed still refused
        # The defect: a multicast host is taken as a bind (and shown).
        await dev.ok("set_binds", binds="224.0.0.1:5060")
        assert (await dev.ok("get_binds"))["data"] == {"binds": "224.0.0.1:5060"}

    drive(tmp_path, scenario, faults=["binds_accept_multicast"])
