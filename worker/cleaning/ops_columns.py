"""Steps that change the set of columns: rename, drop, select, normalize_column_names."""

from __future__ import annotations

import pandas as pd

from .errors import StepError
from .names import normalize_names
from .ops_common import count, make_report, names_text, require_columns
from .report import StepReport
from .step_models import DropColumns, NormalizeColumnNames, RenameColumns, SelectColumns


def rename_columns(df: pd.DataFrame, step: RenameColumns) -> tuple[pd.DataFrame, StepReport]:
    require_columns(df, step.op, step.mapping)
    staying = [c for c in df.columns if c not in step.mapping]
    for old, new in step.mapping.items():
        if new in staying:
            raise StepError(None, step.op, f"renaming {old!r} to {new!r} would make two columns named {new!r}")
    out = df.rename(columns=step.mapping)
    pairs = [f"{old} -> {new}" for old, new in step.mapping.items()]
    summary = f"rename_columns: {names_text(pairs)}"
    return out, make_report(step.op, df, out, summary, details={"renamed": dict(step.mapping)})


def drop_columns(df: pd.DataFrame, step: DropColumns) -> tuple[pd.DataFrame, StepReport]:
    require_columns(df, step.op, step.columns)
    out = df.drop(columns=step.columns)
    summary = f"drop_columns {names_text(step.columns)}: {count(len(out.columns), 'column')} left"
    return out, make_report(step.op, df, out, summary, details={"dropped": list(step.columns)})


def select_columns(df: pd.DataFrame, step: SelectColumns) -> tuple[pd.DataFrame, StepReport]:
    """Keep the named columns, in the order named."""
    require_columns(df, step.op, step.columns)
    out = df[list(step.columns)]
    dropped = [str(c) for c in df.columns if c not in step.columns]
    summary = f"select_columns {names_text(step.columns)}: {count(len(dropped), 'column')} left out"
    return out, make_report(step.op, df, out, summary, details={"dropped": dropped})


def normalize_column_names(df: pd.DataFrame, step: NormalizeColumnNames) -> tuple[pd.DataFrame, StepReport]:
    """snake_case every name (accents dropped, camelCase split); clashes get _2, _3 suffixes."""
    old = [str(c) for c in df.columns]
    new = normalize_names(old)
    out = df.set_axis(new, axis=1)
    renamed = {o: n for o, n in zip(old, new, strict=True) if o != n}
    pairs = [f"{o} -> {n}" for o, n in renamed.items()]
    summary = f"normalize_column_names: {count(len(renamed), 'column')} renamed"
    summary += f" ({names_text(pairs)})" if pairs else ""
    return out, make_report(step.op, df, out, summary, details={"renamed": renamed})
