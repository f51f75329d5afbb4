"""console.serving_gc's collection watch and the API benchmark's paced wrk script (pure code)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from loguru import logger

from benchmarks.api_load import Member, _parse_paced, paced_script
from console.serving_gc import GcWatch, ServingGc


def test_the_watch_counts_collections_per_generation_and_keeps_the_slow_ones() -> None:
    watch = GcWatch(slow_ms=0.0)  # every collection counts as slow
    for generation in (0, 0, 2):
        watch("start", {"generation": generation})
        watch("stop", {"generation": generation, "collected": 0, "uncollectable": 0})

    assert watch.count == [2, 0, 1]
    assert [generation for generation, _, _ in watch.take_slow()] == [0, 0, 2]
    assert watch.take_slow() == []
    assert watch.summary().startswith("generation 0: 2 in ")


def test_slow_collections_are_logged_from_the_event_loop() -> None:
    watch = GcWatch(slow_ms=20.0)
    watch.slow = [(2, 85.0, 80.0), (0, 21.0, 1.0)]
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")

    async def one_report() -> None:
        reporter = asyncio.create_task(ServingGc(1, 1, watch).report_slow_collections(every=0.01))
        while not lines:
            await asyncio.sleep(0.01)
        reporter.cancel()

    # A thread of its own: an earlier test (Playwright's sync API) may leave a loop running in this one.
    runner = threading.Thread(target=lambda: asyncio.run(asyncio.wait_for(one_report(), 10)))
    try:
        runner.start()
        runner.join(15)
    finally:
        logger.remove(sink)
    assert lines[0].strip() == "slow garbage collection: 2 over 20 ms, longest 85.0 ms (generation 2, 80.0 ms of CPU)"


MEMBERS = [Member(token="tok-a", dataset_id=11, config_id=12, job_id=13), Member("tok-b", 21, 22, 23)]


def test_the_paced_script_sends_each_members_request_with_think_time() -> None:
    status = paced_script("status", MEMBERS, (0.5, 1.5))
    submit = paced_script("submit", MEMBERS, (0.5, 1.5))

    assert '{"tok-a", 13, 11, 12}' in status and '{"tok-b", 23, 21, 22}' in status
    assert "local low, high, kind = 500, 1500, \"status\"" in status
    assert "return math.random(low, high)" in status
    assert 'kind = 500, 1500, "submit"' in submit


def test_wrk_paced_output_is_read_from_the_scripts_own_lines() -> None:
    output = """Running 30s test @ http://127.0.0.1:1
  2 threads and 45 connections
  1311 requests in 30.02s, 1.2MB read
  Non-2xx or 3xx responses: 2
Requests/sec:     43.67
Transfer/sec:     40.1KB
PACED p50 4012
PACED p90 9000
PACED p99 33345
PACED p99.9 50000
PACED max 60000
"""
    parsed = _parse_paced(output)
    assert parsed["p50"] == pytest.approx(4.012) and parsed["p99"] == pytest.approx(33.345)
    assert parsed["requests"] == 1311 and parsed["errors"] == 2
    assert parsed["rps"] == pytest.approx(1311 / 30.02)
