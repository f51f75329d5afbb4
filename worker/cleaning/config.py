"""Validate a cleaning config (``{"steps": [...]}``) into step models, naming every problem.

No pandas here: the web process validates configs on save and on submit.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .column_check import check_columns
from .errors import ConfigError, Problem
from .step_models import (
    KNOWN_OPS,
    STEP_MODELS,
    Cast,
    ChangeCase,
    ClipOutliers,
    DropColumns,
    DropDuplicates,
    DropMissing,
    FillMissing,
    FilterRows,
    NormalizeColumnNames,
    RegexReplace,
    RenameColumns,
    ReplaceValues,
    SelectColumns,
    Sort,
    TrimWhitespace,
)

__all__ = ["CleaningConfig", "Step", "check_columns", "validate_config"]

Step = Annotated[
    DropDuplicates
    | FillMissing
    | DropMissing
    | TrimWhitespace
    | ChangeCase
    | ReplaceValues
    | RegexReplace
    | Cast
    | FilterRows
    | RenameColumns
    | DropColumns
    | SelectColumns
    | NormalizeColumnNames
    | ClipOutliers
    | Sort,
    Field(discriminator="op"),
]

_REASONS = {
    "missing": "required",
    "extra_forbidden": "unknown parameter",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
    "int_type": "must be a whole number",
    "finite_number": "must be a finite number",
    "string_too_short": "must not be empty",
}


class CleaningConfig(BaseModel):
    """A validated config. Build it with :func:`validate_config` to get readable errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[Step]

    def to_json(self) -> dict[str, Any]:
        return {"steps": [step.model_dump(mode="json") for step in self.steps]}


def validate_config(data: object) -> CleaningConfig:
    """Return the config as models, or raise ConfigError listing every problem in every step."""
    if not isinstance(data, dict):
        raise ConfigError([Problem(None, None, None, 'a config must be an object like {"steps": [...]}')])
    problems = [Problem(None, None, str(key), "unknown parameter") for key in data if key != "steps"]
    raw_steps = data.get("steps")
    if "steps" not in data:
        problems.append(Problem(None, None, "steps", "required"))
    elif not isinstance(raw_steps, list):
        problems.append(Problem(None, None, "steps", "must be a list of steps"))
    models = []
    for number, raw in enumerate(raw_steps if isinstance(raw_steps, list) else [], start=1):
        model, found = _validate_step(number, raw)
        models.append(model)
        problems.extend(found)
    if problems:
        raise ConfigError(problems)
    return CleaningConfig(steps=models)


def _validate_step(number: int, raw: object) -> tuple[Any, list[Problem]]:
    if not isinstance(raw, dict):
        return None, [Problem(number, None, None, 'must be an object like {"op": ..., ...}')]
    op = raw.get("op")
    if "op" not in raw:
        return None, [Problem(number, None, "op", "required")]
    if not isinstance(op, str) or op not in STEP_MODELS:
        reason = f"unknown op {op!r}; must be one of {', '.join(KNOWN_OPS)}"
        return None, [Problem(number, None, "op", reason)]
    try:
        return STEP_MODELS[op].model_validate(raw), []
    except ValidationError as exc:
        return None, [Problem(number, op, _field(e["loc"]), _reason(e)) for e in exc.errors()]


def _field(loc: tuple[int | str, ...]) -> str | None:
    if loc and loc[-1] == "[key]":
        return str(loc[0])
    parts: list[str] = []
    for part in loc:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}" if parts else str(part))
    return "".join(parts) or None


def _reason(error: Any) -> str:
    kind = error["type"]
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        return f"must be one of {', '.join(allowed)}"
    if kind == "too_short":
        return "must not be empty"
    if error["loc"] and error["loc"][-1] == "[key]" and kind == "string_too_short":
        return "names must not be empty"
    return _REASONS.get(kind, error["msg"])
