"""The judgements of the GB28181 query and keepalive cases (suites/gb28181/test_gb_queries.py,
test_gb_keepalive.py) as functions of the MESSAGEs the platform received, so a project test can
feed them a recorded bad answer and see them fail
(tests/decoder_conformance/test_negative_controls_gb.py). A `*_problem(s)` function returns what
is wrong (None or [] when nothing is); a `*_reading` one the reading followed (None for none).
"""

from __future__ import annotations

from collections.abc import Sequence

from decoder_conformance.peers.gb.model import KeepaliveSeen, ManscdpIn
from wire import gb_id, manscdp

#: RFC 3261 §18.1.1: above 1300 bytes a request goes over a congestion-controlled transport.
UDP_LIMIT = 1300


def catalog_split_problems(
    responses: Sequence[ManscdpIn], messages: Sequence[manscdp.Message], sn: int
) -> list[str]:
    """What is wrong with the Responses to the Catalog query `sn` (GB-QRY-008): together fewer
    Items than SumNum, a UDP MESSAGE above UDP_LIMIT bytes, a Response of another SN.
    `messages`: the Responses' MANSCDP messages (every one readable). ManscdpError when they do
    not merge (wire.manscdp.collect_catalog)."""
    problems = []
    catalog = manscdp.collect_catalog(messages)
    if not catalog.complete:
        problems.append(f"expected SumNum {catalog.sum_num} items in all")
    oversized = [
        (len(r.record.raw), r.describe())
        for r in responses
        if r.record.transport == "udp" and len(r.record.raw) > UDP_LIMIT
    ]
    if oversized:
        problems.append(
            f"expected each UDP Response MESSAGE within {UDP_LIMIT} bytes "
            f"(RFC 3261 §18.1.1), observed {oversized}"
        )
    sns = {m.sn for m in messages}
    if sns != {sn}:
        problems.append(f"expected every Response with SN {sn}, observed {sorted(sns)}")
    return problems


def catalog_channels_reading(
    catalog: manscdp.Catalog, channel: int | None, device_id: str
) -> tuple[str | None, str]:
    """The reading of gb_decoder_channels the Catalog (all its Responses merged) and DeviceInfo's
    Channel follow (GB-QRY-012), and what was seen: `none` (SumNum 0, no Items), `outputs`
    (distinct valid 20-digit IDs other than the device's); None when a Channel given counts
    other than the Items, or an Item ID is invalid, repeated or the device's own."""
    ids = [item.device_id for item in catalog.items]
    seen = f"SumNum {catalog.sum_num}, Item IDs {ids}, DeviceInfo Channel {channel}"
    if channel is not None and channel != len(ids):
        return None, seen
    if catalog.sum_num == 0 and not ids:
        return "none", seen
    valid = all(gb_id.is_valid_id(i or "") for i in ids) and len(set(ids)) == len(ids)
    if not valid or device_id in ids:
        return None, seen
    return "outputs", seen


def catalog_items_problems(catalog: manscdp.Catalog, edition: str) -> list[str]:
    """GB-QRY-002: SumNum = the Items received, each with the edition's required fields (2016
    A.2.6: DeviceID, Name, Manufacturer, ...; 2022: a DeviceID)."""
    if catalog.sum_num != len(catalog.items):
        return [f"expected SumNum {catalog.sum_num} items, observed {len(catalog.items)}"]
    if edition == "2016":
        missing = {i.device_id: i.missing_2016() for i in catalog.items if i.missing_2016()}
        return [f"Items lack the 2016 required fields: {missing}"] if missing else []
    without_id = [i for i in catalog.items if not i.device_id]
    return ["Items without DeviceID"] if without_id else []


def device_info_problem(message: manscdp.Message, device_id: str) -> str | None:
    """GB-QRY-003: the DeviceInfo Response carries the device's DeviceID and Result OK/ERROR."""
    info = manscdp.DeviceInfo.from_message(message)
    if message.device_id == device_id and info.result in (
        manscdp.RESULT_OK,
        manscdp.RESULT_ERROR,
    ):
        return None
    return f"expected DeviceID and Result OK/ERROR, observed {message}"


def device_status_problem(message: manscdp.Message) -> str | None:
    """GB-QRY-004: Result OK/ERROR, Online ONLINE/OFFLINE and Status OK/ERROR."""
    values = {tag: message.get(tag) for tag in ("Result", "Online", "Status")}
    if (
        values["Result"] in ("OK", "ERROR")
        and values["Online"] in (manscdp.ONLINE, manscdp.OFFLINE)
        and values["Status"] in ("OK", "ERROR")
    ):
        return None
    return f"expected Result OK/ERROR, Online ONLINE/OFFLINE, Status OK/ERROR, observed {values}"


def basic_param_problem(param: manscdp.BasicParam) -> str | None:
    """GB-QRY-005: BasicParam with positive HeartBeatInterval, HeartBeatCount and Expiration."""
    if param.heartbeat_interval > 0 and param.heartbeat_count > 0 and param.expiration > 0:
        return None
    return f"expected positive HeartBeatInterval, HeartBeatCount and Expiration, observed {param}"


def keepalive_problems(keepalive: KeepaliveSeen, device_id: str) -> list[str]:
    """GB-KA-002: a readable <Notify> Keepalive from `device_id`, Status OK or ERROR, a body
    without wire.manscdp problems (charset, missing fields)."""
    message = keepalive.incoming.message
    if message is None or message.root != manscdp.ROOT_NOTIFY:
        return [f"expected <Notify>, observed {keepalive.incoming.describe()}"]
    if keepalive.device_id != device_id:
        return [f"expected DeviceID {device_id}, observed {keepalive.device_id}"]
    if keepalive.status not in (manscdp.STATUS_OK, manscdp.STATUS_ERROR):
        return [f"expected Status OK or ERROR, observed {keepalive.status!r}"]
    if keepalive.problems:
        return [
            "the keepalive body has problems: "
            + "; ".join(f"{p.code}: {p.detail}" for p in keepalive.problems)
        ]
    return []
