"""Check a draft of steps for the config builder: problems per step, the columns each step sees, a preview.

The checks are `console.validation`'s (the same as on save and on submit); this module only
arranges their answers for the page. The live before/after preview is `console.previewing`'s
(which loads the engine, and pandas, on the first preview only).
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from sqlalchemy.orm import Session

from console.core.errors import ConsoleError, Invalid
from console.core.models import Dataset
from console.previewing import preview_steps
from console.validation import check_steps_for_dataset, validated_steps
from worker.cleaning.config import validate_config
from worker.cleaning.errors import ConfigError
from worker.cleaning.names import normalize_names

PREVIEW_ROWS = 100  # the builder previews on this many first rows (before and after)


def step_problems(steps: Any, dataset: Dataset | None) -> list[dict[str, Any]]:
    """Every problem as `{"step": n or None, "field", "message"}`; empty when the steps are good (for `dataset`)."""
    try:
        canonical = validated_steps(steps)
        if dataset is not None:
            check_steps_for_dataset(canonical, dataset)
    except Invalid as exc:
        return problems_of(exc)
    return []


def problems_of(exc: Invalid) -> list[dict[str, Any]]:
    if not isinstance(exc.detail, list):
        return [{"step": None, "field": None, "message": str(exc.detail)}]
    return [_problem(item) for item in exc.detail]


def _problem(item: dict[str, Any]) -> dict[str, Any]:
    step, message = item.get("step"), str(item.get("msg", ""))
    # The message reads "step 2 (op): field: reason"; shown next to step 2's field, the reason is enough.
    prefix = f"step {step} ({item.get('op')}): " if item.get("op") else f"step {step}: "
    if step is not None and message.startswith(prefix):
        message = message[len(prefix) :]
    field = item.get("field")
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2 :]
    return {"step": step, "field": field, "message": message}


def columns_before_each(steps: Any, columns: list[str]) -> list[list[str]]:
    """The column names each step will see, following renames, tidying, drops and selections of earlier steps.

    A step that is itself invalid changes nothing here (its problem is reported elsewhere).
    """
    current = list(columns)
    seen: list[list[str]] = []
    for raw in steps if isinstance(steps, list) else []:
        seen.append(list(current))
        try:
            step = validate_config({"steps": [raw]}).steps[0]
        except ConfigError:
            continue
        if step.op == "rename_columns":
            current = [step.mapping.get(name, name) for name in current]
        elif step.op == "normalize_column_names":
            current = normalize_names(current)
        elif step.op == "drop_columns":
            current = [name for name in current if name not in step.columns]
        elif step.op == "select_columns":
            current = [name for name in step.columns if name in current]
    seen.append(list(current))  # after the last step
    return seen


def live_preview(*, session: Session, dataset: Dataset, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """`{"available": True, "error": None or why, "before", "after", "report"}` from console.previewing."""
    try:
        result = preview_steps(session=session, dataset=dataset, steps=steps, limit=PREVIEW_ROWS)
    except ConsoleError as exc:
        return {"available": True, "error": _text(exc.detail)}
    except Exception as exc:  # a preview is a help, never a reason for the builder to fail
        logger.opt(exception=exc).warning("live preview of dataset {} failed", dataset.id)
        return {"available": True, "error": f"the preview failed: {type(exc).__name__}"}
    return {"available": True, "error": None, **result}


def _text(detail: object) -> str:
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
    return str(detail)
