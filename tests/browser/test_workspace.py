"""Two users side by side in a real Chromium against a real uvicorn and Celery worker: each signs in,
uploads (one picks the file, one drops it), builds a config with the form, processes, watches the job
move without a reload, and downloads their own result; neither can open the other's pages."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.browser.conftest import screenshot
from tests.integration.factories import Account, make_account

pytestmark = pytest.mark.browser

ROWS = 30_000
# Records what the job page shows from the moment it loads, to prove it changes by itself.
WATCH_JOB = """
window.__statuses = [];
window.__progress = [];
document.addEventListener("DOMContentLoaded", () => {
  const badge = document.getElementById("job-status");
  const bar = document.getElementById("job-progress");
  if (!badge) return;
  const note = () => {
    const text = badge.textContent.trim();
    if (window.__statuses[window.__statuses.length - 1] !== text) window.__statuses.push(text);
  };
  note();
  window.__progress.push(Number(bar.value));
  new MutationObserver(note).observe(badge, { childList: true, characterData: true, subtree: true });
  new MutationObserver(() => window.__progress.push(Number(bar.value))).observe(bar, { attributes: true });
});
"""


def people_csv() -> bytes:
    lines = ["name,city,amount", "  ada ,<img src=x onerror=window.__pwned=1>,1", "grace,<script>window.__pwned=2</script>,2"]
    lines += [f"  person {i % 20_000} ,oslo,{i % 20_000}" for i in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


def products_csv() -> bytes:
    lines = ["product,price"] + [f"widget-{i % 1000},{i % 97}.5" for i in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class User:
    account: Account
    tab: Any
    ids: dict[str, int] = field(default_factory=dict)


def open_tab(chromium, live_server: str) -> Any:  # type: ignore[no-untyped-def]
    context = chromium.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(30_000)
    context.add_init_script(WATCH_JOB)
    return context.new_page()


def sign_in(user: User, shot: str | None = None) -> None:
    tab = user.tab
    tab.goto("/")
    if shot:
        screenshot(tab, shot)
    tab.fill("input[name=email]", user.account.user.email)
    tab.fill("input[name=password]", user.account.password)
    tab.click("button:has-text('Sign in')")
    tab.wait_for_selector("text=Your workspace")


def upload_by_picking(user: User, name: str, content: bytes) -> None:
    user.tab.set_input_files("#upload-file", files=[{"name": name, "mimeType": "text/csv", "buffer": content}])
    user.tab.click("#upload-form button[type=submit]")
    _opened_dataset(user)


def upload_by_dropping(user: User, name: str, content: bytes) -> None:
    user.tab.evaluate(
        """([name, text]) => {
            const data = new DataTransfer();
            data.items.add(new File([text], name, { type: "text/csv" }));
            document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }""",
        [name, content.decode()],
    )
    assert name in user.tab.inner_text("#dropzone")
    user.tab.click("#upload-form button[type=submit]")
    _opened_dataset(user)


def _opened_dataset(user: User) -> None:
    user.tab.wait_for_url(re.compile(r"/datasets/\d+$"))
    user.ids["dataset"] = int(user.tab.url.rsplit("/", 1)[1])
    # The worker profiles the upload; the page notices by itself and shows the inferred types.
    user.tab.wait_for_selector("#profile-pending", state="detached")


def step(tab, number: int):  # type: ignore[no-untyped-def]
    return tab.locator(f"li.step[data-index='{number - 1}']")


def add_step(tab, op: str) -> None:  # type: ignore[no-untyped-def]
    tab.select_option("#add-op", op)
    tab.click("#add-step-button")


def wait_checked(tab) -> None:  # type: ignore[no-untyped-def]
    tab.wait_for_selector("#check-status:text-is('All steps look good.')")


def build_people_config(user: User) -> None:
    """Drop duplicates, trim, upper-case names: added out of order, then reordered; a sort added and removed."""
    tab = user.tab
    tab.click("text=Configure cleaning")
    tab.wait_for_selector("#add-step:not([hidden])")
    add_step(tab, "drop_duplicates")
    add_step(tab, "trim_whitespace")
    add_step(tab, "change_case")
    # The server's check names the missing parameter next to the step's field.
    missing = step(tab, 3).locator(".param[data-param=case] .field-error")
    missing.wait_for()
    assert missing.inner_text() == "required"
    step(tab, 3).locator(".param[data-param=case] select").select_option("upper")
    step(tab, 3).locator(".param[data-param=columns] label:has-text('name') input").check()
    tab.click("button[aria-label='Move step 1 down']")
    tab.click("button[aria-label='Move step 2 down']")
    add_step(tab, "sort")
    tab.click("button[aria-label='Remove step 4']")
    wait_checked(tab)
    assert [step(tab, n).get_attribute("data-op") for n in (1, 2, 3)] == ["trim_whitespace", "change_case", "drop_duplicates"]
    assert tab.locator("li.step").count() == 3
    # The live preview runs the steps on the first rows.
    tab.wait_for_selector("#preview-after td:text-is('ADA')")
    assert tab.locator("#preview-before td:text-is('  ada ')").count() == 1
    tab.fill("#config-name", "people tidy")
    screenshot(tab, "workspace-config-builder")
    _save(user)


def build_products_config(user: User) -> None:
    tab = user.tab
    tab.click("text=Configure cleaning")
    tab.wait_for_selector("#add-step:not([hidden])")
    add_step(tab, "filter_rows")
    first = step(tab, 1)
    first.locator(".param[data-param=column] select").select_option("price")
    first.locator(".param[data-param=operator] select").select_option("gt")
    first.locator(".param[data-param=value] input").fill("10")
    add_step(tab, "sort")
    step(tab, 2).locator(".param[data-param=by] label:has-text('price') input").check()
    step(tab, 2).locator(".param[data-param=descending] input").check()
    wait_checked(tab)
    tab.wait_for_selector("#preview-after td:text-is('96.5')")
    tab.fill("#config-name", "expensive first")
    _save(user)


def _save(user: User) -> None:
    user.tab.click("#save-button")
    user.tab.wait_for_url(re.compile(r"/datasets/\d+\?config=\d+"))
    user.ids["config"] = int(re.search(r"config=(\d+)", user.tab.url).group(1))  # type: ignore[union-attr]


def process(user: User) -> None:
    user.tab.click("#process-button")
    user.tab.wait_for_url(re.compile(r"/jobs/\d+$"))
    user.ids["job"] = int(user.tab.url.rsplit("/", 1)[1])
    user.tab.evaluate("window.__sameDocument = true")


def wait_done_and_download(user: User) -> list[list[str]]:
    tab = user.tab
    tab.wait_for_selector("#job[data-status=succeeded]", timeout=90_000)
    tab.wait_for_selector("#job-report li")
    with tab.expect_download() as info:
        tab.click("#job-downloads a[data-format=csv]")
    return list(csv.reader(io.StringIO(info.value.path().read_text())))


def download_excel(user: User) -> bytes:
    """Click the Excel download: it is made when first asked for, so a page says so and asks again
    until the file comes (no `download` attribute on the link, or that page would be saved as the file)."""
    tab = user.tab
    with tab.expect_download(timeout=60_000) as info:
        tab.click("#job-downloads a[data-format=xlsx]")
        tab.wait_for_selector("#being-made")
        screenshot(tab, "workspace-excel-being-made")
    return info.value.path().read_bytes()


def assert_watched_live(user: User) -> None:
    statuses = user.tab.evaluate("window.__statuses")
    progress = user.tab.evaluate("window.__progress")
    assert user.tab.evaluate("window.__sameDocument") is True, "the job page reloaded"
    assert statuses[0] in ("pending", "queued", "running"), statuses
    assert statuses[-1] == "succeeded" and len(statuses) >= 2, statuses
    assert progress[-1] == 100 and progress[0] < 100, progress
    assert user.tab.inner_text("#job-progress-text") == "100 %"


def test_two_users_each_upload_configure_process_and_download_their_own(chromium, live_server, worker) -> None:  # type: ignore[no-untyped-def]
    ann = User(make_account(), open_tab(chromium, live_server))
    bob = User(make_account(), open_tab(chromium, live_server))

    sign_in(ann, shot="workspace-sign-in")
    sign_in(bob)
    upload_by_picking(ann, "people.csv", people_csv())
    upload_by_dropping(bob, "products.csv", products_csv())
    assert ann.tab.locator("#columns-table td:text-is('amount') + td").inner_text() == "integer"
    screenshot(ann.tab, "workspace-dataset")
    build_people_config(ann)
    build_products_config(bob)
    process(ann)
    process(bob)
    ann_rows = wait_done_and_download(ann)
    bob_rows = wait_done_and_download(bob)

    assert_watched_live(ann)
    assert_watched_live(bob)
    assert ann_rows[0] == ["name", "city", "amount"] and ann_rows[1] == ["ADA", "<img src=x onerror=window.__pwned=1>", "1"]
    assert len(ann_rows) == 1 + 2 + 20_000 and all(row[0] == row[0].upper() for row in ann_rows[1:])
    assert bob_rows[0] == ["product", "price"] and bob_rows[1][1] == "96.5"
    assert all(float(row[1]) > 10 for row in bob_rows[1:]) and not any("ADA" in row[0] for row in bob_rows[1:])
    # Values from the file are text on the page, never markup: nothing they hold ran.
    assert ann.tab.locator("#job-preview td:text-is('<script>window.__pwned=2</script>')").count() == 1
    assert ann.tab.evaluate("window.__pwned") is None
    report = ann.tab.locator("#job-report li").all_inner_texts()
    assert len(report) == 3 and all(line.strip() for line in report), report
    screenshot(ann.tab, "workspace-job-done")
    assert download_excel(bob).startswith(b"PK\x03\x04")  # an xlsx (a zip), not the page

    for intruder, owner in ((ann, bob), (bob, ann)):
        for path in (f"/jobs/{owner.ids['job']}", f"/datasets/{owner.ids['dataset']}", f"/configs/{owner.ids['config']}",
                     f"/jobs/{owner.ids['job']}/download/csv"):
            response = intruder.tab.goto(path)
            assert response.status == 404, path
            assert "not found" in intruder.tab.inner_text("main")

    ann.tab.goto("/jobs")
    assert ann.tab.locator(f"a[href='/jobs/{ann.ids['job']}']").count() == 1
    assert ann.tab.locator(f"a[href='/jobs/{bob.ids['job']}']").count() == 0
    screenshot(ann.tab, "workspace-jobs")
    ann.tab.goto("/")
    screenshot(ann.tab, "workspace-home")
    ann.tab.goto("/tokens")
    ann.tab.fill("input[name=name]", "laptop")
    ann.tab.click("button:has-text('Create token')")
    assert ann.tab.inner_text("#new-token").startswith("doc_")
    screenshot(ann.tab, "workspace-tokens")
    ann.tab.context.close()
    bob.tab.context.close()
