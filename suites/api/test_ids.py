"""The id parameter on every endpoint that takes one: absent 1201, not a decimal number 1203."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ID_ENDPOINTS


@pytest.mark.parametrize(
    ("endpoint", "raw_id", "error"),
    [
        pytest.param(e, raw, err, id=f"{e}-{label}", marks=pytest.mark.req("SIP-API-ENV-005"))
        for e in ID_ENDPOINTS
        for label, raw, err in (
            ("absent", None, "missing_parameter"),
            ("letters", "abc", "bad_value"),
            ("negative", "-1", "bad_value"),
        )
    ],
)
@pytest.mark.read_only(param="endpoint")
def test_id_parameter_form(api, guard, endpoint, raw_id, error):
    params = {} if raw_id is None else {"id": raw_id}
    before = guard.snap()
    reply = api.call(endpoint, params)
    api.expect_error(reply, error)
    guard.unchanged(before, reply)
