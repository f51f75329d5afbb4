"""The serving process's garbage collection policy (issue 7): a uvicorn process running
`console.app:app` freezes what startup built (so a full collection no longer walks ~150,000
long-lived objects, 55-240 ms with the event loop stopped), raises the young generation's
threshold, and watches its collections. Checked on real `console serve` processes, through the
lines each one logs; and `Server-Timing` on every response."""

from __future__ import annotations

import gc
import re
import shutil
import signal
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from benchmarks.api_load import SMALL, SMALL_STEPS, Member, wrk_paced
from console.serving_gc import GC_THRESHOLDS
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.test_serve_workers import DEADLINE, _ready, _serve, _wait, _web_workers
from tests.services import settings_env

pytestmark = pytest.mark.integration

READY = re.compile(r"garbage collector: ([\d,]+) objects frozen, ([\d,]+) tracked, thresholds \((\d+), (\d+), (\d+)\)")


def _policies(log: Path) -> list[re.Match[str]]:
    return list(READY.finditer(log.read_text(errors="replace"))) if log.exists() else []


@pytest.mark.parametrize("workers", [2, 1])
def test_each_serving_process_freezes_its_startup_objects_and_sets_the_thresholds(
    settings: Settings, tmp_path: Path, workers: int
) -> None:
    logs = tmp_path / "logs"
    env = {**settings_env(settings), "LOG_DIR": str(logs), "LOG_LEVEL": "INFO"}
    output = tmp_path / "serve.out"
    # With one worker uvicorn serves in the `serve` process itself (log web.log); with more, each
    # spawned worker builds its own app (web-1.log, web-2.log) and the supervisor serves nothing.
    serving_logs = [logs / f"web-{n}.log" for n in range(1, workers + 1)] if workers > 1 else [logs / "web.log"]
    with _serve(env, output, "--workers", str(workers)) as (server, base):
        _wait(lambda: _ready(base), "serve never answered", output)
        _wait(lambda: all(_policies(log) for log in serving_logs), f"no garbage collector line in {serving_logs}", output)
        for log in serving_logs:
            (found,) = _policies(log)
            frozen, tracked = int(found[1].replace(",", "")), int(found[2].replace(",", ""))
            assert (int(found[3]), int(found[4]), int(found[5])) == GC_THRESHOLDS
            # Nearly everything startup made is frozen; what a collection still walks is a small rest.
            assert frozen > 50_000, found[0]
            assert tracked < frozen / 4, found[0]
        if workers > 1:
            assert not _policies(logs / "web.log")  # the supervisor builds no app
            assert len(_web_workers(psutil.Process(server.pid))) == workers

        for _ in range(20):
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        server.send_signal(signal.SIGTERM)
        server.wait(DEADLINE)  # alone, uvicorn ends by raising SIGTERM again (-15); as a supervisor with 0
    for log in serving_logs:
        assert "garbage collections in this process: generation 0:" in log.read_text(errors="replace")


def test_an_app_built_in_a_test_process_leaves_its_garbage_collector_alone(client: TestClient) -> None:
    # Only uvicorn's `console.app:app` sets the policy: a test process's objects are not frozen.
    assert client.app.state.gc_policy is None  # type: ignore[attr-defined]
    assert gc.get_freeze_count() == 0


def test_every_response_says_how_long_the_application_took(client: TestClient) -> None:
    for response in (client.get("/healthz"), client.get("/api/jobs/1"), client.get("/no/such/page")):
        timing = response.headers.get("server-timing", "")
        assert re.fullmatch(r"app;dur=\d+\.\d", timing), (response.status_code, timing)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_the_benchmarks_paced_wrk_load_reads_status_and_submits_jobs(settings: Settings, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # `python -m benchmarks api --mode paced`: its Lua script runs in wrk against a real uvicorn.
    env = {**settings_env(settings), "LOG_DIR": str(tmp_path / "logs")}
    output = tmp_path / "serve.out"
    with _serve(env, output, "--workers", "1") as (server, base):
        _wait(lambda: _ready(base), "serve never answered", output)
        members = []
        for _ in range(4):
            account = make_account()
            with httpx.Client(base_url=base, headers=account.headers, timeout=30) as client:
                dataset = client.post("/api/datasets", files={"file": ("s.csv", SMALL.encode(), "text/csv")}).raise_for_status()
                config = client.post("/api/configs", json={"name": "s", "steps": SMALL_STEPS}).raise_for_status()
                body = {"dataset_id": dataset.json()["id"], "config_id": config.json()["id"]}
                job = client.post("/api/jobs", json=body).raise_for_status()
            members.append(Member(account.token, body["dataset_id"], body["config_id"], job.json()["id"]))

        results = wrk_paced(base, members, seconds=2, think=(0.05, 0.1), share=0.25)

    assert set(results) == {"status", "submit"}
    for kind, result in results.items():
        assert result["requests"] > 0 and result["errors"] == 0, (kind, result)
        assert 0 < result["p50"] <= result["p99"], (kind, result)
