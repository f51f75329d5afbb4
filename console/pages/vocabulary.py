"""The step vocabulary as the config form builder offers it: each op, its parameters and their widgets.

Ops, parameter names, whether each is required, and every list of choices come from
`worker.cleaning.step_models`, so the form offers exactly what the engine accepts; only the
labels, the help and the kind of widget are written here (a test checks the two agree).

Widget kinds (how `static/builder.js` draws and encodes them):
    columns   tick columns; none ticked means null ("all") when the parameter is optional
    column    one column
    choice    one of the model's literal values
    text      a string (empty means "not given")
    scalar    a value: a number, true/false, or text (empty means null)
    values    filter_rows' value: a scalar, one value per line for in/not_in, nothing for the null tests
    number    a number (empty means "not given")
    flag      true/false
    cast_map  column -> target type, a row each
    rename    column -> new name, a row each
    mapping   old value -> new value, a row each (empty new value means missing)
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

from worker.cleaning.step_models import STEP_MODELS

# op -> (label, what it does, [(parameter, widget kind, label, help)])
OPS: dict[str, tuple[str, str, list[tuple[str, str, str, str]]]] = {
    "drop_duplicates": ("Drop duplicate rows", "Remove rows that repeat an earlier row.", [
        ("subset", "columns", "Compare columns", "Tick none to compare whole rows."),
        ("keep", "choice", "Keep", "Which copy stays; 'none' drops every copy."),
    ]),
    "fill_missing": ("Fill missing cells", "Put a value into empty cells.", [
        ("columns", "columns", "Columns", "Tick none for every column that fits."),
        ("strategy", "choice", "Fill with", "mean and median work on number columns only."),
        ("value", "scalar", "Value", "Only for 'constant'."),
    ]),
    "drop_missing": ("Drop rows with missing cells", "Remove rows that have empty cells.", [
        ("columns", "columns", "Columns", "Tick none to look at every column."),
        ("how", "choice", "Drop when", "'any' cell is missing, or 'all' of them are."),
    ]),
    "trim_whitespace": ("Trim whitespace", "Strip spaces around text; a cell left empty becomes missing.", [
        ("columns", "columns", "Columns", "Tick none for every text column."),
    ]),
    "change_case": ("Change case", "Make text lower, UPPER or Title case.", [
        ("columns", "columns", "Columns", "Tick none for every text column."),
        ("case", "choice", "Case", ""),
    ]),
    "replace_values": ("Replace values", "Replace cells that equal a value exactly.", [
        ("columns", "columns", "Columns", "Tick none for every column."),
        ("mapping", "mapping", "Replacements", "Leave 'new' empty to make the cell missing."),
    ]),
    "regex_replace": ("Replace by pattern", "Replace text matching a regular expression.", [
        ("columns", "columns", "Columns", "Tick none for every text column."),
        ("pattern", "text", "Pattern", "A Python regular expression."),
        ("replacement", "text", "Replacement", r"May use groups like \1."),
    ]),
    "cast": ("Change column types", "Convert columns to another type.", [
        ("columns", "cast_map", "Columns", ""),
        ("format", "text", "Date format", "Only for datetime/date, e.g. %d/%m/%Y. Empty: guess."),
        ("errors", "choice", "Bad values", "'coerce' makes them missing; 'fail' stops the job."),
    ]),
    "filter_rows": ("Keep matching rows", "Keep only the rows whose cell matches.", [
        ("column", "column", "Column", ""),
        ("operator", "choice", "Test", ""),
        ("value", "values", "Value", "For 'in' and 'not_in': one value per line."),
    ]),
    "rename_columns": ("Rename columns", "Give columns new names.", [
        ("mapping", "rename", "Renames", ""),
    ]),
    "drop_columns": ("Drop columns", "Remove columns.", [
        ("columns", "columns", "Columns", ""),
    ]),
    "select_columns": ("Keep only columns", "Keep these columns, in this order, and drop the rest.", [
        ("columns", "columns", "Columns", ""),
    ]),
    "normalize_column_names": ("Tidy column names", "Make every column name snake_case and unique.", []),
    "clip_outliers": ("Clip outliers", "Pull extreme numbers back to a limit.", [
        ("columns", "columns", "Columns", "Tick none for every number column."),
        ("method", "choice", "Method", "iqr and zscore use a factor; bounds uses lower/upper."),
        ("factor", "number", "Factor", "Empty: 1.5 for iqr, 3 for zscore."),
        ("lower", "number", "Lower bound", "Only for 'bounds'."),
        ("upper", "number", "Upper bound", "Only for 'bounds'."),
    ]),
    "sort": ("Sort rows", "Order rows by columns.", [
        ("by", "columns", "Sort by", ""),
        ("descending", "flag", "Descending", ""),
    ]),
}


def builder_vocabulary() -> list[dict[str, Any]]:
    """JSON for the builder: `[{"op", "label", "help", "params": [{"name", "kind", "label", "help", "required", "choices"}]}]`."""
    return [
        {
            "op": op,
            "label": label,
            "help": help_text,
            "params": [_param(op, *param) for param in params],
        }
        for op, (label, help_text, params) in OPS.items()
    ]


def _param(op: str, name: str, kind: str, label: str, help_text: str) -> dict[str, Any]:
    field = STEP_MODELS[op].model_fields[name]
    return {
        "name": name,
        "kind": kind,
        "label": label,
        "help": help_text,
        "required": field.is_required(),
        "default": None if field.is_required() else field.get_default(call_default_factory=False),
        "choices": literal_values(field.annotation),
    }


def literal_values(annotation: Any) -> list[str]:
    """The values of the first Literal found in an annotation (through Optional, dict values, Annotated)."""
    if get_origin(annotation) is Literal:
        return [str(value) for value in get_args(annotation)]
    if get_origin(annotation) in (Union, types.UnionType, dict) or hasattr(annotation, "__metadata__"):
        for argument in get_args(annotation):
            found = literal_values(argument)
            if found:
                return found
    return []


def op_label(op: str) -> str:
    return OPS[op][0] if op in OPS else op


def describe_step(step: dict[str, Any]) -> str:
    """A step in plain words: `Change case: columns name, city; case upper`."""
    op = step.get("op")
    if op not in OPS:
        return str(op)
    label, _, params = OPS[op]
    parts = [f"{param_label.lower()} {_plain(step[name])}" for name, _, param_label, _ in params if step.get(name) is not None]
    return label + (": " + "; ".join(parts) if parts else "")


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key} → {'missing' if item is None else _plain(item)}" for key, item in value.items())
    return str(value)
