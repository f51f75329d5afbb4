"""Check cleaning steps for the web: shape on save, columns and types on submit. No pandas here."""

from __future__ import annotations

from typing import Any

from console.core.errors import Invalid
from console.core.models import Dataset
from worker.cleaning.config import CleaningConfig, check_columns, validate_config
from worker.cleaning.errors import ConfigError


def validated_steps(steps: Any) -> list[dict[str, Any]]:
    """The steps in canonical JSON form; Invalid (422) naming every bad step otherwise."""
    return _validated(steps).to_json()["steps"]


def check_steps_for_dataset(steps: list[dict[str, Any]], dataset: Dataset) -> None:
    """Invalid when a step names a column the dataset (as changed by earlier steps) lacks, or a wrong type."""
    if not dataset.columns:
        return
    types = {column["name"]: column["type"] for column in dataset.columns}
    known_types = None if any(kind == "unknown" for kind in types.values()) else types
    try:
        check_columns(_validated(steps), dataset.column_names, known_types, dataset.profile)
    except ConfigError as exc:
        raise Invalid(_problems(exc)) from None


def _validated(steps: Any) -> CleaningConfig:
    try:
        return validate_config({"steps": steps})
    except ConfigError as exc:
        raise Invalid(_problems(exc)) from None


def _problems(exc: ConfigError) -> list[dict[str, Any]]:
    return [
        {
            "loc": ["body", "steps", *([problem.step - 1] if problem.step else []), *([problem.field] if problem.field else [])],
            "msg": str(problem),
            "type": "invalid_step",
            "step": problem.step,
            "op": problem.op,
            "field": problem.field,
        }
        for problem in exc.problems
    ]
