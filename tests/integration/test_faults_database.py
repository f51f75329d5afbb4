"""PostgreSQL restarting while a job runs: workers and web reconnect, and the result is kept.

The test restarts a PostgreSQL of its own (an EmbeddedPostgres on a free port, migrated to
head); the shared server is never touched.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.core.migrate import upgrade
from console.core.settings import Settings
from console.embedded import EmbeddedPostgres
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    SLOW_STEP,
    assert_succeeded_once,
    console_for,
    events,
    fast_settings,
    job_row,
    output_text,
    people_csv,
    spawn,  # noqa: F401  (fixture)
    wait_final,
    wait_running,
)
from tests.integration.helpers import create_config, submit, upload

pytestmark = pytest.mark.integration
ROWS = 20_000


class OwnPostgres:
    """An EmbeddedPostgres that can be restarted on the same port, so every URL stays valid."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "pg"
        self.server = EmbeddedPostgres(self.data_dir)
        self.url = self.server.start()
        self.port = self.server.port

    def restart(self) -> None:
        self.server.stop()
        self.server = EmbeddedPostgres(self.data_dir, port=self.port)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Not pytest's tmp_path: the PostgreSQL account must reach it, and /root must stay closed.
    root = Path(tempfile.mkdtemp(prefix="console-faults-", dir="/tmp"))
    server = OwnPostgres(root)
    try:
        upgrade(server.url)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_restart_during_a_run_keeps_the_result_and_everyone_reconnects(
    client, settings: Settings, engine, own_postgres: OwnPostgres, spawn
) -> None:
    # A database away for a few seconds must not look like a dead worker: a realistic stale age.
    fast = fast_settings(settings, DATABASE_URL=own_postgres.url, JOB_STALE_SECONDS=15)
    with console_for(fast, restore=settings):
        account = make_account()
        dataset = upload(client, account.headers, people_csv(ROWS), "people.csv")
        slow = create_config(client, account.headers, [SLOW_STEP] * 60, "slow")
        quick = create_config(client, account.headers, [{"op": "drop_duplicates"}], "quick")
        worker = spawn(fast, beat=True)
        job = submit(client, account.headers, dataset["id"], slow["id"])["id"]
        wait_running(job)

        went_down = datetime.now(UTC)
        own_postgres.restart()
        came_back = datetime.now(UTC)
        wait_final([job])
        after = client.get(f"/api/jobs/{job}", headers=account.headers)  # the web's pooled connections died too
        second = submit(client, account.headers, dataset["id"], quick["id"])["id"]
        wait_final([second])

        assert after.status_code == 200 and after.json()["status"] == "succeeded"
        assert assert_succeeded_once(job).attempts == 1
        assert output_text(job).splitlines()[:2] == ["id,name,city", "0,name 0 x0,city0"]
        assert len(output_text(job).splitlines()) == ROWS + 1
        assert assert_succeeded_once(second).attempts == 1
        assert not any(line.startswith("sent again") for line in events(job))
        assert worker.alive()
        # The restart landed while the job ran (else this test proved nothing): it started before
        # the database went down and finished after it came back, on its first attempt.
        ran = job_row(job)
        assert ran.started_at is not None and ran.finished_at is not None
        assert ran.started_at < went_down and came_back < ran.finished_at, (ran.started_at, went_down, came_back, ran.finished_at)
