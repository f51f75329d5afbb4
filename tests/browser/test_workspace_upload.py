"""Uploading in a real Chromium: the progress bar moves on a slow connection, and refusals are explained on the page."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot
from tests.integration.factories import make_account

pytestmark = pytest.mark.browser

# Records every value the upload progress bar takes, in sessionStorage so it outlives the page.
WATCH_BAR = """
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("upload-bar");
  if (!bar) return;
  new MutationObserver(() => {
    const seen = JSON.parse(sessionStorage.getItem("bar") || "[]");
    seen.push(Number(bar.value));
    sessionStorage.setItem("bar", JSON.stringify(seen));
  }).observe(bar, { attributes: true });
});
"""


@pytest.fixture
def member_tab(page):  # type: ignore[no-untyped-def]
    account = make_account()
    page.context.add_init_script(WATCH_BAR)
    page.goto("/")
    page.fill("input[name=email]", account.user.email)
    page.fill("input[name=password]", account.password)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("text=Your workspace")
    return page


def pick(tab, name: str, content: bytes) -> None:  # type: ignore[no-untyped-def]
    tab.set_input_files("#upload-file", files=[{"name": name, "mimeType": "text/csv", "buffer": content}])
    tab.click("#upload-form button[type=submit]")


def test_progress_bar_moves_while_a_large_file_goes_up_slowly(member_tab) -> None:  # type: ignore[no-untyped-def]
    tab = member_tab
    content = b"id,value\n" + b"".join(b"%d,some text to make the file larger\n" % i for i in range(40_000))  # ~1.6 MB
    cdp = tab.context.new_cdp_session(tab)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 1024 * 1024})

    pick(tab, "large.csv", content)
    tab.wait_for_url(re.compile(r"/datasets/\d+$"), timeout=60_000)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    seen = tab.evaluate("JSON.parse(sessionStorage.getItem('bar') || '[]')")
    assert tab.locator("h1").inner_text() == "large.csv"
    assert any(0 < value < 100 for value in seen), seen
    assert seen == sorted(seen) and seen[-1] == 100, seen


def test_refusals_are_explained_next_to_the_upload_form(member_tab, settings) -> None:  # type: ignore[no-untyped-def]
    tab = member_tab
    message = tab.locator("#upload-error")

    pick(tab, "empty.csv", b"")
    assert message.inner_text() == "empty.csv is empty."

    pick(tab, "huge.csv", b"a\n" + b"1\n" * (settings.MAX_UPLOAD_BYTES // 2))
    assert message.inner_text().startswith("The file is too large (5.0 MB): uploads are limited to 5.0 MB.")

    pick(tab, "picture.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    tab.wait_for_selector("#upload-error:has-text('not a CSV')")
    assert "picture.csv is not a CSV file: the file looks like a PNG image" in message.inner_text()
    assert tab.url.endswith("/")
    screenshot(tab, "workspace-upload-refused")


@pytest.mark.parametrize("over", [1_000, 200_000], ids=["caught-while-stored", "refused-before-read"])
def test_server_refusal_of_a_too_large_file_is_explained_too(member_tab, settings, over) -> None:  # type: ignore[no-untyped-def]
    tab = member_tab
    # Past the page's own check (as with a stale page or a tampered one), the server still refuses: 413.
    tab.evaluate("document.getElementById('upload-form').dataset.maxBytes = String(10 ** 12)")

    pick(tab, "huge.csv", b"a\n" + b"1\n" * ((settings.MAX_UPLOAD_BYTES + over) // 2))
    tab.wait_for_selector("#upload-error:not([hidden])", timeout=60_000)

    shown = tab.locator("#upload-error").inner_text()
    if over < 64 * 1024:  # inside the middleware's slack: the upload route itself stops it while storing
        assert shown == "The file is too large: uploads are limited to 5.0 MB."
    else:  # refused from its Content-Length before any is read; the browser may see the 413 or a cut connection
        assert shown.startswith(("The file is too large: uploads are limited to 5.0 MB.", "The upload was cut off.")), shown
    assert tab.url.endswith("/")
