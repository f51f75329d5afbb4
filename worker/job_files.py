"""A job's files on the worker's side: the process's own scratch folder, and storing output files.

The scratch folder is the process's own (a subfolder of the system's temporary folder, `TMPDIR`),
so files a killed process left behind can be told from a live one's and removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from loguru import logger
from sqlalchemy.orm import Session

from console.core import storage
from worker import outputs

_PRIVATE_TMP = "console-worker-"


def use_private_tmp() -> None:
    """Give this process a temporary folder of its own (once), after removing those of worker
    processes that are gone: a killed process leaves its job's input and output files behind."""
    current = Path(tempfile.gettempdir())
    if current.name == f"{_PRIVATE_TMP}{os.getpid()}":
        return
    base = current.parent if current.name.startswith(_PRIVATE_TMP) else current  # set by a parent before a fork
    for folder in base.glob(f"{_PRIVATE_TMP}*"):
        pid = folder.name.removeprefix(_PRIVATE_TMP)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("removed {}, left by a worker process that is gone", folder)
    mine = base / f"{_PRIVATE_TMP}{os.getpid()}"
    mine.mkdir(mode=0o700, exist_ok=True)
    tempfile.tempdir = str(mine)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


# Outputs up to this size each are stored from memory, all in two statements (storage.store_small);
# larger ones are streamed from their files one by one.
SMALL_OUTPUT_BYTES = storage.DEFAULT_CHUNK_BYTES


def store_outputs(session: Session, job_id: int, files: list[outputs.OutputFile]) -> dict[str, int]:
    """Store a job's output files in the caller's transaction (a run's final write, or the making of
    an output on request); their ids by format."""
    names = [(file, f"job-{job_id}-output.{file.format}") for file in files]
    if all(file.path.stat().st_size <= SMALL_OUTPUT_BYTES for file in files):
        ids = storage.store_small(
            session=session, files=[(name, file.content_type, file.path.read_bytes()) for file, name in names]
        )
        return {file.format: file_id for file, file_id in zip(files, ids, strict=True)}
    return {
        file.format: storage.store_path(session=session, path=file.path, filename=name, content_type=file.content_type).id
        for file, name in names
    }
