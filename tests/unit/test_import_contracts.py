"""The dependency direction of DESIGN.md, checked by import-linter's contracts in .importlinter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_queue_task_names_are_all_registered_by_the_worker() -> None:
    code = (
        "import os; os.environ.setdefault('DATABASE_URL', 'postgresql+psycopg2://u@127.0.0.1:1/x');"
        "os.environ.setdefault('REDIS_URL', 'redis://127.0.0.1:1/0');"
        "from console.core import queue; import worker.celery_app as w;"
        "missing = [n for n in queue.TASK_NAMES if n not in w.app.tasks]; print(missing)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
