"""Flower behind the console's sign-in: a real Flower process (`python -m console flower`) and a real worker,
reached only through the /flower proxy, only by operators and admins."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from console.core.db import session_scope
from console.core.models import User
from console.core.settings import Settings
from tests.conftest import ROOT
from tests.integration.admin_support import log_in, sign_in_to_workspace
from tests.integration.factories import make_account
from tests.services import WorkerProcess, settings_env

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def flower_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Flower on a free loopback port, started the way `console up` starts it."""
    port = free_port()
    log = tmp_path_factory.mktemp("flower") / "flower.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "console", "flower", "--port", str(port)],
            cwd=ROOT, env=settings_env(settings), stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Flower exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/flower/healthcheck", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Flower did not answer in 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def flower_app(settings: Settings, engine, flower_url: str) -> FastAPI:  # type: ignore[no-untyped-def]
    from console.app import create_app

    return create_app(settings.model_copy(update={"FLOWER_URL": flower_url}))


@pytest.fixture
def browser(flower_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(flower_app, follow_redirects=False) as test_client:
        yield test_client


def test_anonymous_is_sent_to_sign_in(browser: TestClient) -> None:
    responses = [browser.get("/flower/"), browser.get("/flower/api/workers"), browser.post("/flower/api/task/revoke/x")]

    assert [response.status_code for response in responses] == [302, 302, 302]
    assert all(response.headers["location"] == "/admin/login" for response in responses)


def test_operator_gets_flowers_pages_and_static_files_through_the_prefix(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    page = browser.get("/flower/", headers={"Accept": "text/html"})
    stylesheet = re.search(r'href="(/flower/static/css/[^"]+)"', page.text)
    assert stylesheet, page.text[:500]
    css = browser.get(stylesheet.group(1))

    assert page.status_code == 200 and "/flower/workers" in page.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert browser.get("/flower").headers["location"] == "/flower/"


def test_flowers_api_shows_the_real_worker(browser: TestClient, worker: WorkerProcess) -> None:
    log_in(browser, make_account("admin"))

    deadline, names = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        response = browser.get("/flower/api/workers", params={"refresh": "1"})
        assert response.status_code == 200
        names = list(response.json())
        if any(name.endswith(f"-{worker.process.pid}") for name in names):
            break
        time.sleep(0.5)

    assert any(name.endswith(f"-{worker.process.pid}") for name in names), names
    page = browser.get("/flower/workers", headers={"Accept": "text/html"})
    assert page.status_code == 200


def test_member_is_refused(browser: TestClient) -> None:
    member = make_account("member")
    assert sign_in_to_workspace(browser, member).status_code in (302, 303)

    page = browser.get("/flower/", headers={"Accept": "text/html"})
    api = browser.get("/flower/api/workers")

    assert page.status_code == 403 and "operators and admins only" in page.text
    assert api.status_code == 403


def test_user_demoted_while_signed_in_is_refused_at_the_next_request(browser: TestClient) -> None:
    operator = make_account("operator")
    log_in(browser, operator)
    assert browser.get("/flower/").status_code == 200
    with session_scope() as session:
        session.execute(update(User).where(User.id == operator.user.id).values(role="member"))

    response = browser.get("/flower/")

    assert response.status_code == 403


def test_deactivated_user_is_sent_to_sign_in(browser: TestClient) -> None:
    operator = make_account("operator")
    log_in(browser, operator)
    with session_scope() as session:
        session.execute(update(User).where(User.id == operator.user.id).values(is_active=False))

    response = browser.get("/flower/")

    assert (response.status_code, response.headers["location"]) == (302, "/admin/login")


def test_cross_site_write_is_refused_and_same_site_write_reaches_flower(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    cross = browser.post("/flower/api/task/revoke/no-such-task", headers={"Origin": "https://evil.example"})
    fetch_meta = browser.post("/flower/api/task/revoke/no-such-task", headers={"Sec-Fetch-Site": "cross-site"})
    same = browser.post(
        "/flower/api/task/revoke/no-such-task", headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    )

    assert (cross.status_code, fetch_meta.status_code) == (403, 403)
    assert same.status_code == 200 and "no-such-task" in same.json()["message"]


def test_proxy_passes_method_query_body_and_headers_but_not_the_console_session(
    settings: Settings,
    engine,  # type: ignore[no-untyped-def]
) -> None:
    """Against a recording upstream standing in for Flower, to see exactly what the proxy sends and returns."""
    from console.app import create_app

    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = [
            ("set-cookie", "_xsrf=1; Path=/"),
            ("set-cookie", "flower=2; Path=/"),
            ("access-control-allow-origin", "*"),
        ]
        body = b"echo:" + request.content

        async def chunks() -> AsyncIterator[bytes]:
            yield body[:3]
            yield body[3:]

        return httpx.Response(201, headers=headers, content=chunks())

    app = create_app(settings.model_copy(update={"FLOWER_URL": "http://flower.internal:5555"}))
    app.state.flower_client = httpx.AsyncClient(
        transport=httpx.MockTransport(upstream), base_url="http://flower.internal:5555"
    )
    with TestClient(app, follow_redirects=False) as test_client:
        log_in(test_client, make_account("operator"))
        test_client.cookies.set("theme", "dark")

        response = test_client.put(
            "/flower/api/worker/pool/grow/w1?n=2", content=b"payload", headers={"X-Requested-With": "XMLHttpRequest"}
        )

    (sent,) = seen
    assert (sent.method, str(sent.url)) == ("PUT", "http://flower.internal:5555/flower/api/worker/pool/grow/w1?n=2")
    assert sent.content == b"payload" and sent.headers["x-requested-with"] == "XMLHttpRequest"
    assert "console_session" not in sent.headers.get("cookie", "") and "theme=dark" in sent.headers["cookie"]
    assert (response.status_code, response.content) == (201, b"echo:payload")
    assert response.headers.get_list("set-cookie") == ["_xsrf=1; Path=/", "flower=2; Path=/"]
    assert "access-control-allow-origin" not in response.headers


def test_flower_down_is_a_502_that_says_so(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    from console.app import create_app

    app = create_app(settings.model_copy(update={"FLOWER_URL": f"http://127.0.0.1:{free_port()}"}))
    with TestClient(app, follow_redirects=False) as test_client:
        log_in(test_client, make_account("operator"))

        response = test_client.get("/flower/")

    assert response.status_code == 502
    assert "Flower cannot be reached" in response.text and "python -m console flower" in response.text
