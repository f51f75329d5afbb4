"""Steps that rewrite cell values: trim_whitespace, change_case, replace_values, regex_replace."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import arrow_text, re2
from .frame_columns import column_array
from .kinds import is_text, type_name
from .ops_common import (
    as_mask,
    changed_cells,
    count,
    count_changed,
    make_report,
    map_columns,
    names_text,
    pick_columns,
    require_type,
)
from .report import StepReport
from .step_models import ChangeCase, RegexReplace, ReplaceValues, TrimWhitespace
from .vocab import as_text, fits, is_number

_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False}
_TEXT_ONLY = "this step works on text (cast the column to string first)"


def trim_whitespace(df: pd.DataFrame, step: TrimWhitespace) -> tuple[pd.DataFrame, StepReport]:
    """Strip leading/trailing whitespace; a cell left empty becomes missing."""
    names = text_columns(df, step.op, step.columns)
    out = df.copy(deep=False)
    fast = map_columns(arrow_text.trim, [column_array(df, name) for name in names], len(df))
    results = [trim_column_pandas(df[name]) if done is None else done for name, done in zip(names, fast, strict=True)]
    cells: dict[str, int] = {}
    for name, (trimmed, changed, _) in zip(names, results, strict=True):
        out[name], cells[str(name)] = trimmed, changed
    emptied = sum(became_missing for _, _, became_missing in results)
    summary = f"trim_whitespace {names_text(names) or '(no text columns)'}: "
    summary += f"{count(sum(cells.values()), 'cell')} changed"
    summary += f", {emptied:,} left empty became missing" if emptied else ""
    return out, make_report(step.op, df, out, summary, cells, {"became_missing": emptied})


def trim_column_pandas(column: pd.Series) -> tuple[pd.Series, int, int]:
    """The reference for arrow_text.trim, by pandas."""
    trimmed = _trimmed(column)
    return trimmed, count_changed(column, trimmed), int(trimmed.isna().sum() - column.isna().sum())


def _trimmed(column: pd.Series) -> pd.Series:
    stripped = column.str.strip()
    emptied = as_mask(stripped.eq(""))
    return stripped.mask(emptied) if emptied.any() else stripped  # mask() copies every value


def change_case(df: pd.DataFrame, step: ChangeCase) -> tuple[pd.DataFrame, StepReport]:
    names = text_columns(df, step.op, step.columns)
    out = df.copy(deep=False)
    cells: dict[str, int] = {}
    for name in names:
        fast = arrow_text.recase(column_array(df, name), step.case)
        out[name], cells[str(name)] = fast if fast is not None else recase_column_pandas(df[name], step.case)
    summary = f"change_case {names_text(names) or '(no text columns)'} to {step.case}: "
    summary += f"{count(sum(cells.values()), 'cell')} changed"
    return out, make_report(step.op, df, out, summary, cells, {"case": step.case})


def recase_column_pandas(column: pd.Series, case: str) -> tuple[pd.Series, int]:
    """The reference for arrow_text.recase, by pandas."""
    changed = getattr(column.str, case)()
    return changed, count_changed(column, changed)


def regex_replace(df: pd.DataFrame, step: RegexReplace) -> tuple[pd.DataFrame, StepReport]:
    """Every match replaced, by RE2 (see :mod:`.patterns`): Python's syntax for pattern and
    replacement (``\\1``, ``\\g<name>``), run in linear time whatever the pattern.
    """
    names = text_columns(df, step.op, step.columns)
    out = df.copy(deep=False)
    for name in names:
        out[name] = re2.replace(df[name], step.op, step.pattern, step.replacement)
    cells = changed_cells(df, out, names)
    summary = f"regex_replace {names_text(names) or '(no text columns)'} /{step.pattern}/ -> {step.replacement!r}: "
    summary += f"{count(sum(cells.values()), 'cell')} changed"
    return out, make_report(step.op, df, out, summary, cells, {"pattern": step.pattern})


def replace_values(df: pd.DataFrame, step: ReplaceValues) -> tuple[pd.DataFrame, StepReport]:
    """Exact-match replacement, all keys at once (so a->b, b->a swaps). Keys are text: in a number,
    boolean or date column they match the value they spell ("3" matches 3 and 3.0). A column whose
    new values do not fit its type becomes text (an integer column given 2.5 becomes float).
    """
    names = pick_columns(df, step.op, step.columns, lambda column: True)
    out = df.copy(deep=False)
    retyped: dict[str, str] = {}
    for name in names:
        out[name] = _replace(df[name], step.mapping)
        if type_name(out[name]) != type_name(df[name]):
            retyped[name] = type_name(out[name])
    cells = changed_cells(df, out, names)
    summary = f"replace_values {names_text(names)}: {count(sum(cells.values()), 'cell')} changed"
    summary += "".join(f"; {n} became {t}" for n, t in retyped.items())
    return out, make_report(step.op, df, out, summary, cells, {"retyped": retyped})


def text_columns(df: pd.DataFrame, op: str, requested: list[str] | None) -> list[str]:
    names = pick_columns(df, op, requested, is_text)
    require_type(df, op, names, is_text, _TEXT_ONLY)
    return names


def _replace(column: pd.Series, mapping: dict[str, Any]) -> pd.Series:
    kind = type_name(column)
    hits = {old: as_mask(_matches(column, old, kind)) for old in mapping}
    news = [v for v in mapping.values() if v is not None]
    if kind == "text" or not all(fits(v, kind) for v in news):
        if kind == "integer" and all(is_number(v) for v in news):
            column, kind = column.astype("float64"), "float"
        elif kind != "text":
            column, kind = column.astype("str"), "text"
    result = column
    for old, new in mapping.items():
        value = None if new is None else as_text(new) if kind == "text" else _typed(new, kind)
        result = result.mask(hits[old], value)
    return result


def _matches(column: pd.Series, key: str, kind: str) -> pd.Series:
    if kind == "text":
        return column.eq(key)
    wanted: Any = None
    if kind in ("integer", "float"):
        try:
            wanted = float(key)
        except ValueError:
            wanted = None
    elif kind == "boolean":
        wanted = _BOOLEANS.get(key.strip().lower())
    elif kind == "datetime":
        try:
            wanted = pd.Timestamp(key)
        except ValueError:
            wanted = None
    if wanted is None:
        return pd.Series(False, index=column.index)
    try:
        return column.eq(wanted)
    except TypeError:  # e.g. a naive key against a time-zone-aware column
        return pd.Series(False, index=column.index)


def _typed(value: Any, kind: str) -> Any:
    if kind == "integer":
        return int(value)
    if kind == "datetime":
        return pd.Timestamp(value)
    return value

