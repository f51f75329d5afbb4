"""The console's pages load in a real Chromium against a real uvicorn."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.integration.factories import make_account

pytestmark = pytest.mark.browser


def test_operator_signs_in_to_the_admin_and_sees_the_jobs_list(page) -> None:  # type: ignore[no-untyped-def]
    operator = make_account("operator")

    page.goto("/admin/")
    page.fill("input[name=email]", operator.user.email)
    page.fill("input[name=password]", operator.password)
    page.click("button[type=submit]")
    page.goto("/admin/job/list")

    assert page.locator("h3, .card-title").first.inner_text() != ""
    assert "Jobs" in page.content()
    screenshot(page, "admin-jobs")
