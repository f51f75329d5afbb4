"""Shared test settings: where the corpus lives, loguru into caplog, and the report header."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

pytest_plugins = ["tests.services"]

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

# Test services; the defaults are this machine's PostgreSQL and Redis.
BASE_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
BASE_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_report_header() -> list[str]:
    lines = [f"database: {BASE_DATABASE_URL}", f"redis: {BASE_REDIS_URL}", f"corpus: {CORPUS}"]
    if Path("/usr/bin/chromium").exists():
        version = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=False)
        lines.append(f"chromium: {version.stdout.strip()}")
    return lines


@pytest.fixture
def propagate_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    class PropagateHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logging.getLogger(record.name).handle(record)

    handler_id = logger.add(PropagateHandler(), format="{message}")
    yield caplog
    logger.remove(handler_id)


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the edge-case corpus is not at {CORPUS}")
    return CORPUS
