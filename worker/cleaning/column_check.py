"""Check a config against a dataset's columns (and types), following renames and drops step by step."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, Problem
from .names import normalize_names
from .vocab import CAST_RESULT, NUMERIC, fits_named

if TYPE_CHECKING:
    from .config import CleaningConfig

TEXT_OPS = ("trim_whitespace", "change_case", "regex_replace")
ROW_OPS = ("drop_duplicates", "drop_missing", "filter_rows")
VALUE_OPS = ("fill_missing", "trim_whitespace", "change_case", "replace_values", "regex_replace", "cast", "clip_outliers")


class _Columns:
    """The columns as they stand before a step, and how each vanished name went away."""

    def __init__(
        self, names: list[str], types: dict[str, str] | None, profile: dict[str, Any] | None = None
    ) -> None:
        self.names = list(names)
        self.types = dict(types) if types is not None else None
        self.gone: dict[str, str] = {}
        # What the profile proved about each column's values; it holds only while no
        # step has removed rows or rewritten that column.
        self.failures = {
            name: stats["cast_failures"]
            for name, stats in (profile or {}).items()
            if isinstance(stats, dict) and isinstance(stats.get("cast_failures"), dict)
        }

    def why_missing(self, name: str) -> str:
        if name in self.gone:
            return f"column {name!r} {self.gone[name]}"
        close = difflib.get_close_matches(name, self.names, n=1)
        if close:
            return f"no column {name!r}; did you mean {close[0]!r}?"
        shown = ", ".join(repr(n) for n in self.names[:10]) + (", ..." if len(self.names) > 10 else "")
        return f"no column {name!r} (columns: {shown or 'none'})"

    def type_of(self, name: str) -> str | None:
        return None if self.types is None else self.types.get(name)

    def failure(self, name: str, target: str) -> dict[str, Any] | None:
        found = self.failures.get(name, {}).get(target)
        return found if isinstance(found, dict) and found.get("count") else None

    def rename(self, mapping: dict[str, str], how: str) -> None:
        self.failures = {mapping.get(n, n): f for n, f in self.failures.items()}
        for old, new in mapping.items():
            if old != new and old in self.names:
                self.gone[old] = f"was renamed to {new!r} by {how}"
        self.names = [mapping.get(n, n) for n in self.names]
        for new in mapping.values():
            self.gone.pop(new, None)
        if self.types is not None:
            self.types = {mapping.get(n, n): t for n, t in self.types.items()}

    def keep(self, kept: list[str], how: str) -> None:
        for name in self.names:
            if name not in kept:
                self.gone[name] = how
        self.names = [n for n in kept if n in self.names]


def check_columns(
    config: CleaningConfig,
    columns: list[str],
    types: dict[str, str] | None = None,
    profile: dict[str, Any] | None = None,
) -> None:
    """Raise ConfigError for every column a step names that will not exist when the step runs.

    With ``types`` (column -> integer/float/boolean/datetime/text) it also rejects
    steps that cannot work on a column's type, e.g. a median of a text column. A text
    column is refused for a cast to a number with errors "fail" only when the dataset's
    ``profile`` proves a value will not convert (zip codes kept as text for their leading
    zeros cast fine); without that proof the run decides, failing with the step's number.
    """
    state = _Columns(columns, types, profile)
    problems: list[Problem] = []
    for number, step in enumerate(config.steps, start=1):
        for field, name in _references(step):
            if name not in state.names:
                problems.append(Problem(number, step.op, field, state.why_missing(name)))
            else:
                reason = _type_problem(step, name, state.type_of(name), state)
                if reason:
                    problems.append(Problem(number, step.op, field, reason))
        problems.extend(Problem(number, step.op, f, r) for f, r in _clashes(step, state))
        _apply(step, number, state)
    if problems:
        raise ConfigError(problems)


def _references(step: Any) -> Iterator[tuple[str, str]]:
    if step.op == "drop_duplicates":
        yield from (("subset", n) for n in step.subset or ())
    elif step.op in ("cast", "rename_columns"):
        field = "columns" if step.op == "cast" else "mapping"
        yield from ((field, n) for n in (step.columns if step.op == "cast" else step.mapping))
    elif step.op == "filter_rows":
        yield "column", step.column
    elif step.op == "sort":
        yield from (("by", n) for n in step.columns)
    elif step.op != "normalize_column_names":
        yield from (("columns", n) for n in step.columns or ())


def _type_problem(step: Any, name: str, type_name: str | None, state: _Columns) -> str | None:
    if type_name is None:
        return None
    holds = f"column {name!r} holds {type_name} values"
    if step.op == "fill_missing" and step.strategy in ("mean", "median") and type_name not in NUMERIC:
        return f"{holds}; {step.strategy} needs numbers"
    if step.op == "fill_missing" and step.strategy == "constant" and not fits_named(step.value, type_name):
        return f"{holds}; the value {step.value!r} does not fit it"
    if step.op == "clip_outliers" and type_name not in NUMERIC:
        return f"{holds}; clip_outliers needs numbers"
    if step.op in TEXT_OPS and type_name != "text":
        return f"{holds}; {step.op} works on text (cast it to string first)"
    if step.op == "cast" and step.errors == "fail" and type_name == "text":
        target = step.columns[name]
        failure = state.failure(name, target) if target in NUMERIC else None
        if failure:
            what = "whole numbers" if target == "integer" else "numbers"
            return (
                f"{holds} and {failure['count']:,} of them are not {what} (the first is {failure.get('first')!r}); "
                f"a cast to {target} with errors 'fail' stops there (use errors 'coerce')"
            )
    return None


def _clashes(step: Any, state: _Columns) -> Iterator[tuple[str, str]]:
    if step.op != "rename_columns":
        return
    staying = [n for n in state.names if n not in step.mapping]
    for old, new in step.mapping.items():
        if new in staying:
            yield "mapping", f"renaming {old!r} to {new!r} would make two columns named {new!r}"


def _apply(step: Any, number: int, state: _Columns) -> None:
    by = f"step {number} ({step.op})"
    if step.op in ROW_OPS:
        state.failures = {}
    elif step.op in VALUE_OPS:
        touched = list(step.columns) if step.columns is not None else list(state.names)
        state.failures = {n: f for n, f in state.failures.items() if n not in touched}
    if step.op == "rename_columns":
        state.rename({o: n for o, n in step.mapping.items() if o in state.names}, by)
    elif step.op == "normalize_column_names":
        state.rename(dict(zip(state.names, normalize_names(state.names), strict=True)), by)
    elif step.op == "drop_columns":
        state.keep([n for n in state.names if n not in step.columns], f"was dropped by {by}")
    elif step.op == "select_columns":
        state.keep(list(step.columns), f"was left out by {by}")
    elif step.op == "cast" and state.types is not None:
        for name, target in step.columns.items():
            if name in state.types:
                state.types[name] = CAST_RESULT[target]
