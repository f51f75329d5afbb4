"""Live preview: run cleaning steps on the first rows of a dataset in the web process, no Celery.

Only the stored chunks that hold the first ``limit`` rows are read, so the cost does not
grow with the file. The engine (and with it pandas) is imported on the first preview,
not with the web app: the import contract lets this module, and only this one, do so.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from console.core import storage
from console.core.errors import Invalid
from console.core.models import Dataset
from console.validation import check_steps_for_dataset, validated_steps

DEFAULT_ROWS = 200
MAX_ROWS = 1000


def preview_steps(*, session: Session, dataset: Dataset, steps: Any, limit: int = DEFAULT_ROWS) -> dict[str, Any]:
    """``{"before": {"columns", "rows"}, "after": {...}, "report": {...}}`` for the first ``limit`` rows.

    Raises Invalid (422) naming every bad step, or the step that failed on these rows, or
    saying why the file cannot be read. The caller checks the user may see the dataset.
    """
    from worker.cleaning import engine, reading, writing
    from worker.cleaning.errors import ConfigError, ReadError, StepError

    checked = validated_steps(steps)
    check_steps_for_dataset(checked, dataset)
    limit = max(1, min(limit, MAX_ROWS))
    chunks = storage.iter_chunks(session=session, file_id=dataset.file_id)
    try:
        head = reading.read_head(
            chunks,
            encoding=dataset.encoding or "utf-8",
            delimiter=dataset.delimiter or ",",
            limit=limit,
            types=_known_types(dataset),
        )
        result, report = engine.run(head.frame, {"steps": checked}, formats=head.formats)
    except ReadError as exc:
        raise Invalid(f"the dataset cannot be previewed: {exc}") from None
    except StepError as exc:
        raise Invalid([_problem(exc.step, exc.op, str(exc), "step_failed")]) from None
    except ConfigError as exc:
        raise Invalid([_problem(p.step, p.op, str(p), "invalid_step", p.field) for p in exc.problems]) from None
    return {
        "before": writing.frame_preview(head.frame, limit, head.formats),
        "after": writing.frame_preview(result, limit, report.date_formats),
        "report": report.to_dict(),
    }


def _known_types(dataset: Dataset) -> dict[str, str] | None:
    """The whole file's column types once profiled, so the first rows are typed as the worker types them."""
    types = {column["name"]: column["type"] for column in dataset.columns or []}
    return None if not types or "unknown" in types.values() else types


def _problem(step: int | None, op: str | None, message: str, kind: str, field: str | None = None) -> dict[str, Any]:
    # The shape console.validation gives each problem, so a client reads both alike.
    return {
        "loc": ["body", "steps", *([step - 1] if step else []), *([field] if field else [])],
        "msg": message,
        "type": kind,
        "step": step,
        "op": op,
        "field": field,
    }
