"""Flower through the console in a real Chromium: an operator sees the worker, a member is refused.

This module runs its own uvicorn (FLOWER_URL pointing at a real Flower it starts), since the shared
live server knows no Flower.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from console.core.settings import Settings
from tests.browser.conftest import find_free_port, screenshot, wait_for_server
from tests.conftest import ROOT
from tests.integration.factories import make_account
from tests.services import WorkerProcess, settings_env

pytestmark = pytest.mark.browser


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def console_with_flower(settings: Settings, engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A real Flower (`python -m console flower`) and a real uvicorn whose FLOWER_URL points at it."""
    folder = tmp_path_factory.mktemp("flower-console")
    flower_port, web_port = find_free_port(), find_free_port()
    env = settings_env(settings)
    flower = _start([sys.executable, "-m", "console", "flower", "--port", str(flower_port)], env, folder / "flower.log")
    web = _start(
        [sys.executable, "-m", "console", "serve", "--port", str(web_port)],
        {**env, "FLOWER_URL": f"http://127.0.0.1:{flower_port}"}, folder / "web.log",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{flower_port}/flower/healthcheck"):
            if flower.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Flower did not start:\n{(folder / 'flower.log').read_text()[-3000:]}")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{web_port}"
        wait_for_server(url, web, folder / "web.log")
        yield url
    finally:
        _stop(web)
        _stop(flower)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def tab(chromium, console_with_flower: str) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    context = chromium.new_context(base_url=console_with_flower, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_operator_opens_flower_and_sees_the_worker(tab: Page, worker: WorkerProcess) -> None:
    operator = make_account("operator")
    tab.goto("/admin/login")
    tab.fill("input[name=email]", operator.user.email)
    tab.fill("input[name=password]", operator.password)
    tab.click("button[type=submit]")
    tab.click("text=Flower")
    expect(tab).to_have_url(f"{tab.url.split('/flower')[0]}/flower/")

    suffix, deadline = f"-{worker.process.pid}", time.monotonic() + 30
    while suffix not in tab.content() and time.monotonic() < deadline:
        tab.wait_for_timeout(1000)
        tab.goto("/flower/workers")

    assert suffix in tab.content()
    screenshot(tab, "operator-flower-workers")


def test_member_is_refused_flower(tab: Page) -> None:
    member = make_account("member")
    tab.goto("/signin")
    tab.fill("input[name=email]", member.user.email)
    tab.fill("input[name=password]", member.password)
    tab.click("button[type=submit]")

    response = tab.goto("/flower/")

    assert response is not None and response.status == 403
    expect(tab.locator("body")).to_contain_text("operators and admins only")
    screenshot(tab, "member-refused-flower")
