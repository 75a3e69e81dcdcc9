"""get_source.json: documented as not implemented (0000)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "method", [pytest.param(m, marks=pytest.mark.req("SIP-API-SRC-001")) for m in ("GET", "POST")]
)
@pytest.mark.read_only
def test_get_source_not_implemented(api, method):
    api.expect_error(api.call("get_source", {}, method=method), "not_implemented")
