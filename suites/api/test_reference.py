"""The reference decoder's own extension endpoint (not on the vendor page)."""

from __future__ import annotations

import pytest


@pytest.mark.req("LOCAL-API-REF-001")
@pytest.mark.needs("reference_extensions")
@pytest.mark.read_only
def test_reference_info(api):
    data = api.expect_ok(api.call("reference/info"), data_schema="ReferenceInfoOk")
    assert data["implementation"], f"[{api.req}] expected a non-empty implementation name"
