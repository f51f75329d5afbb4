"""The engine's small type vocabulary, shared by the config checks and the steps (no pandas)."""

from __future__ import annotations

import math
from datetime import datetime

TYPES = ("integer", "float", "boolean", "datetime", "text")
NUMERIC = frozenset({"integer", "float"})
CAST_TARGETS = ("integer", "float", "string", "boolean", "datetime", "date")
# What a column holds after a cast, in the reader's vocabulary.
CAST_RESULT = {
    "integer": "integer",
    "float": "float",
    "string": "text",
    "boolean": "boolean",
    "datetime": "datetime",
    "date": "datetime",
}


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fits(value: object, type_name: str) -> bool:
    """Whether a fill value belongs in a column of that type without converting the column."""
    if type_name == "integer":
        return is_number(value) and math.isfinite(value) and float(value).is_integer()  # type: ignore[arg-type]
    if type_name == "float":
        return is_number(value)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "datetime":
        return isinstance(value, str) and _parses_as_datetime(value)
    return isinstance(value, str)


def fits_named(value: object, type_name: str) -> bool:
    """Like :func:`fits`, for a column the user named: a text column takes any value as its text."""
    return type_name == "text" or fits(value, type_name)


def as_text(value: object) -> str:
    """The text a scalar value becomes in a text column (JSON spelling for true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parses_as_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
