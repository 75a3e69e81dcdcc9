"""The HTTP duty run at every case's teardown: the Content-Type of each JSON envelope."""

from __future__ import annotations

from decoder_conformance.device.client import Exchange
from decoder_conformance.plugin.http_duties import MOST_LISTED, http_duties


def _exchange(content_type: str, body: str = '{"result":"ok"}', status: int = 200) -> Exchange:
    url = "http://127.0.0.1:8080/api/sip/list.json"
    return Exchange("GET", url, {}, status, body, 0.5, content_type)


def test_json_envelopes_as_application_json_pass() -> None:
    exchanges = [_exchange("application/json; charset=utf-8"), _exchange("application/json")]
    assert http_duties(exchanges)() == {"SIP-API-ENV-008": []}


def test_no_envelope_seen_is_not_exercised() -> None:
    others = [_exchange("text/html", "<html/>"), _exchange("text/plain", "404", status=404)]
    assert http_duties(others)() == {}


def test_wrong_type_is_reported_and_the_list_bounded() -> None:
    exchanges = [_exchange("text/html")] * (MOST_LISTED + 3) + [_exchange("")]
    problems = http_duties(exchanges)()["SIP-API-ENV-008"]
    assert problems[0] == "list.json answered its JSON envelope as text/html"
    assert len(problems) == MOST_LISTED + 1 and problems[-1].endswith("4 more answers like these")


def test_exchanges_are_read_when_the_check_runs() -> None:
    recorded: list[Exchange] = []
    check = http_duties(recorded)
    recorded.append(_exchange("text/html"))
    assert check()["SIP-API-ENV-008"]
