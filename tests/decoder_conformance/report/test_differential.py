"""Normalisation of observations for the differential comparison (report/differential.py)."""

from __future__ import annotations

import json

from decoder_conformance.device.client import Exchange
from decoder_conformance.report.differential import (
    case_names,
    endpoint_of,
    normalise_exchange,
    normalise_text,
    normalise_value,
    timing_differs,
)


def exchange(path: str, params: dict[str, str], body: object) -> Exchange:
    return Exchange("GET", f"http://127.0.0.1:41234/api/{path}", params, 200, json.dumps(body), 3.5)


def test_ids_and_representations_are_normalised_alike() -> None:
    # The id_type and register_port_type readings, the flag encodings and the buffer key:
    # two decoders following different readings give the same normalised answer.
    one = {"id": 3, "registerPort": 5060, "auto_aws": 0, "allow_in": 1, "buffer": 200}
    other = {"id": "17", "registerPort": "5060", "auto_aws": False, "allow_in": "1"}
    other["buffer_option"] = 200
    assert normalise_value(one) == normalise_value(other)
    assert normalise_value(one)["id"] == "<id>"
    assert normalise_value(one)["registerPort"] == 5060


def test_a_different_value_stays_different() -> None:
    assert normalise_value({"registerPort": 5060}) != normalise_value({"registerPort": 5062})
    assert normalise_value({"auto_aws": 1}) != normalise_value({"auto_aws": 0})
    assert normalise_value({"result": "ok"}) != normalise_value({"result": "error"})


def test_volatile_values_become_placeholders() -> None:
    body = {
        "token": "abc",
        "localPort": 40312,
        "bitrate": 1834.2,
        "frames": 0,
        "since": 1733150000,
        "addr": "sip:7001@127.0.0.1:40312;transport=udp",
        "name": "ct-ff74743e",
    }
    assert normalise_value(body) == {
        "token": "<secret>",
        "localPort": "<port>",
        "bitrate": "<nonzero>",
        "frames": 0,
        "since": "<time>",
        "addr": "sip:7001@<addr>:<port>;transport=udp",
        "name": "ct-<hex>",
    }


def test_text_keeps_a_wildcard_bind_and_masks_peer_ports() -> None:
    assert normalise_text("*:5060") == "*:5060"
    assert normalise_text("*:40312") == "*:<port>"
    # A port after an address is a peer's (SIPp takes 5060 or the next free port).
    assert normalise_text("callee@198.51.100.3:5061") == "callee@<addr>:<port>"
    assert normalise_text("at 2026-12-02T16:43:55Z") == "at <time>"


def test_exchange_keeps_only_the_cases_own_accounts_in_list() -> None:
    added = exchange("sip/add.json", {"name": "ct-aa11bb22", "type": "sip"}, {"result": "ok"})
    listed = exchange(
        "sip/list.json",
        {},
        {
            "result": "ok",
            "data": [
                {"id": 1, "name": "lab-front-door", "type": "sip", "created": True},
                {"id": 9, "name": "ct-aa11bb22", "type": "sip", "created": False},
                {"id": 8, "name": "ct-0123abcd", "type": "sip", "created": False},
            ],
        },
    )
    names = case_names([added, listed])
    assert names == {"ct-aa11bb22"}
    seen = normalise_exchange(listed, names)
    assert seen["endpoint"] == "sip/list.json"
    assert seen["result"] == "ok" and seen["msg"] is None
    assert seen["body"]["data"] == [
        {"id": "<id>", "name": "ct-<hex>", "type": "sip", "created": False}
    ]


def test_error_answer_keeps_its_code_and_non_json_is_recorded() -> None:
    refused = normalise_exchange(
        exchange("sip/status.json", {"id": "99"}, {"result": "error", "msg": "1202"}), set()
    )
    assert (refused["result"], refused["msg"], refused["params"]) == (
        "error",
        "1202",
        {"id": "<id>"},
    )
    broken = Exchange("GET", "http://h/api/sip/list.json", {}, 500, "<html>oops</html>", 1.0)
    assert normalise_exchange(broken, set())["body"] == {"<not json>": "<html>oops</html>"}
    assert endpoint_of("http://h:8080/api/sip/get_binds.json") == "sip/get_binds.json"


def test_timing_tolerance_needs_both_margins() -> None:
    assert not timing_differs(0.2, 1.1, 1.0, 0.5)  # under the absolute margin
    assert not timing_differs(10.0, 11.5, 1.0, 0.5)  # under the relative margin
    assert timing_differs(0.5, 3.0, 1.0, 0.5)


def test_status_states_are_normalised_by_their_id() -> None:
    status = {
        "result": "ok",
        "data": [
            {"id": "call_status", "state": "calling"},
            {"id": "bitrate", "state": 473},
        ],
    }
    assert normalise_value(status)["data"] == [
        {"id": "call_status", "state": "calling"},
        {"id": "bitrate", "state": "<nonzero>"},
    ]


def test_scratch_names_inside_longer_values_and_query_strings() -> None:
    assert normalise_text("ct-01f12b1ennnn") == "ct-<hex>nnnn"
    posted = Exchange(
        "POST", "http://h/api/sip/add.json?name=ct-05cb3466&type=sip", {}, 200, "{}", 1.0
    )
    assert normalise_exchange(posted, set())["endpoint"] == "sip/add.json?name=ct-<hex>&type=sip"
