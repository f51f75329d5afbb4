"""worker.hugepages: transparent huge pages off for a process and the processes it starts.

Each check runs in a fresh interpreter, so this test process keeps the kernel's default.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux only")

CHILD_STATUS = "import pathlib; print(pathlib.Path('/proc/self/status').read_text())"


def _thp_enabled(status: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("THP_enabled"))


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_a_fresh_process_has_the_kernels_default() -> None:
    assert _run("from worker import hugepages; print(hugepages.disabled())").split() == ["False"]


def test_disable_turns_them_off_for_the_process_and_its_children() -> None:
    out = _run(
        "import subprocess, sys\n"
        "from worker import hugepages\n"
        "print(hugepages.disable(), hugepages.disabled())\n"
        f"print(open('/proc/self/status').read())\n"
        f"print(subprocess.run([sys.executable, '-c', {CHILD_STATUS!r}], capture_output=True, text=True).stdout)\n"
    )
    first, rest = out.split("\n", 1)
    assert first.split() == ["True", "True"]
    own, child = rest.split("Name:", 2)[1:]
    assert _thp_enabled(own) == "0"
    assert _thp_enabled(child) == "0"  # forked and exec'd: the pool's processes inherit it


def test_a_process_that_did_not_disable_them_shows_them_on() -> None:
    assert _thp_enabled(_run(CHILD_STATUS)) == "1"  # the assertions above could not pass by default
