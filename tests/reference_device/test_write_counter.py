"""The reference decoder's write counter (reference/stats.json): reads are not writes, every write
request is, accepted or refused, and commits are counted apart."""

from pathlib import Path

from reference_device.write_counter import WriteCounter, endpoint_name
from tests.reference_device.test_api import Device, Json, drive


async def stats(dev: Device) -> Json:
    """reference/stats.json's data."""
    status, _, body = await dev.raw("reference/stats.json")
    assert (status, body["result"]) == (200, "ok"), body
    data: Json = body["data"]
    return data


def test_reads_and_login_are_not_writes(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        await dev.ok("list")
        await dev.ok("get_binds")
        await dev.ok("server_port")
        await dev.refused("status", "1202", id="7")
        await dev.refused("get_source", "0000")
        await dev.raw("users/login.json", params={"username": "x"})
        await dev.raw("reference/info.json")
        seen = await stats(dev)
        assert (seen["writes"], seen["api_writes"], seen["commits"]) == (0, 0, 0), seen
        # The reads were counted, so a zero is not a counter that never counts.
        assert seen["api_requests"] == {
            "get_binds": 1,
            "get_source": 1,
            "list": 1,
            "server_port": 1,
            "status": 1,
        }

    drive(tmp_path, scenario)


def test_every_write_request_counts_accepted_or_refused(tmp_path: Path) -> None:
    async def scenario(dev: Device) -> None:
        account = await dev.add("a")  # add (write, committed) + list (read)
        await dev.ok("modify", id=str(account), realm="lab")  # committed
        await dev.refused("modify", "1202", id="99")  # refused: asked for, nothing committed
        await dev.refused("answer", "1211", id=str(account))  # no call: still a write request
        await dev.refused("hangup", "1211", id=str(account))
        await dev.post("set_binds", binds="nonsense")  # refused by POST
        seen = await stats(dev)
        assert seen["api_requests"]["modify"] == 2
        assert seen["api_writes"] == seen["writes"] == 6, seen
        assert seen["commits"] == 2, seen
        assert seen["sip_writes"] == 0, seen

    drive(tmp_path, scenario)


def test_sip_requests_other_than_options_are_writes() -> None:
    counter = WriteCounter()
    counter.sip_request("OPTIONS")
    counter.sip_request("OPTIONS")
    assert (counter.writes, counter.view()["sip_requests"]) == (0, {"OPTIONS": 2})
    counter.sip_request("INVITE")
    counter.sip_request("BYE")
    assert (counter.sip_writes, counter.writes) == (2, 2)


def test_endpoint_names_of_routes() -> None:
    assert endpoint_name("/sip/modify_call_cfg.json") == "modify_call_cfg"
    assert endpoint_name("/sip/list.json") == "list"
    assert endpoint_name("/users/login.json") is None
    assert endpoint_name("/reference/stats.json") is None
