"""Profile an uploaded dataset: columns with inferred types, row count, per-column statistics."""

from __future__ import annotations

import tempfile
from pathlib import Path

from loguru import logger

from console.core import storage
from console.core.db import session_scope
from console.core.models import Dataset, ProfileStatus
from worker.cleaning import profile, reading
from worker.cleaning.errors import ReadError


def profile_dataset(dataset_id: int) -> str:
    """Read the dataset's file with the engine's reader and store what it found; return the profile status."""
    with session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            logger.warning("dataset {} does not exist; nothing to profile", dataset_id)
            return "missing"
        file_id = dataset.file_id
    with tempfile.TemporaryDirectory(prefix=f"dataset-{dataset_id}-") as folder:
        path = Path(folder) / "data.csv"
        with session_scope() as session:
            storage.copy_to_path(session=session, file_id=file_id, path=path)
        try:
            loaded = reading.read_csv(path)
        except ReadError as exc:
            return _store(dataset_id, status=ProfileStatus.FAILED, profile_error=str(exc))
        stats = profile.profile(loaded.frame, loaded.types)
    return _store(
        dataset_id,
        status=ProfileStatus.READY,
        columns=[{"name": str(name), "type": loaded.types[name]} for name in loaded.frame.columns],
        row_count=len(loaded.frame),
        profile=stats,
        encoding=loaded.encoding,
        delimiter=loaded.delimiter,
        profile_error=None,
    )


def _store(dataset_id: int, *, status: ProfileStatus, **values: object) -> str:
    with session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            return "missing"
        dataset.profile_status = status.value
        for name, value in values.items():
            setattr(dataset, name, value)
    logger.info("dataset {} profiled: {}", dataset_id, status.value)
    return status.value
