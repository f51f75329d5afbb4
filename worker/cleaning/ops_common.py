"""Helpers shared by the step functions: picking columns, counting changes, wording reports."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from .errors import StepError
from .kinds import type_name
from .report import StepReport, json_safe


def pick_columns(
    df: pd.DataFrame, op: str, requested: Iterable[str] | None, default: Callable[[pd.Series], bool]
) -> list[str]:
    """The columns named (all must exist), or every column ``default`` accepts when none are named."""
    if requested is None:
        return [name for name in df.columns if default(df[name])]
    names = list(requested)
    require_columns(df, op, names)
    return names


def require_columns(df: pd.DataFrame, op: str, names: Iterable[str]) -> None:
    for name in names:
        if name not in df.columns:
            raise StepError(None, op, f"no column {name!r}")


def require_type(df: pd.DataFrame, op: str, names: list[str], ok: Callable[[pd.Series], bool], need: str) -> None:
    for name in names:
        if not ok(df[name]):
            raise StepError(None, op, f"column {name!r} holds {type_name(df[name])} values; {need}")


def as_mask(condition: pd.Series) -> pd.Series:
    """A plain bool mask: a missing answer counts as False (pandas' mask() would treat NA as True)."""
    return pd.Series(condition.to_numpy(dtype=bool, na_value=False), index=condition.index)


def count_changed(before: pd.Series, after: pd.Series) -> int:
    """Cells (compared by position) whose value differs, or which became or stopped being missing.

    When the column changed type, values are compared as text, so 30 -> "30" is no change.
    """
    if type_name(before) != type_name(after):
        before, after = before.astype("str"), after.astype("str")
    was, now = before.isna().to_numpy(), after.isna().to_numpy()
    # Compared array to array (by position, never aligned on the index), in the columns' own types.
    differ = before.array != after.array
    differ = differ.to_numpy(dtype=bool, na_value=True) if hasattr(differ, "to_numpy") else np.asarray(differ, dtype=bool)
    return int((was != now).sum() + np.count_nonzero(differ & ~was & ~now))


def changed_cells(before: pd.DataFrame, after: pd.DataFrame, names: Iterable[str]) -> dict[str, int]:
    return {str(name): count_changed(before[name], after[name]) for name in names}


def make_report(
    op: str,
    before: pd.DataFrame,
    after: pd.DataFrame,
    summary: str,
    cells: dict[str, int] | None = None,
    details: dict[str, Any] | None = None,
) -> StepReport:
    """A StepReport with step 0: the engine, which knows the step's number, fills it in."""
    return StepReport(
        step=0,
        op=op,
        rows_before=len(before),
        rows_after=len(after),
        cells_changed=cells or {},
        details=json_safe(details or {}),
        summary=summary,
    )


def scalar(value: Any) -> Any:
    """A pandas/numpy scalar as a plain Python value (None when missing)."""
    return None if _missing(value) else json_safe(value)


def show(value: Any) -> str:
    """A value as a report sentence quotes it: text in quotes, numbers as Python writes them."""
    if value is None:
        return "missing"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def names_text(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
