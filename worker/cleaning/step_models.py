"""One pydantic model per op of the step vocabulary (no pandas).

Types are strict: a string where a list is expected, or "true" where a boolean is
expected, is an error rather than something guessed at. Rules that tie one
parameter to another (``value`` only with ``strategy: constant``, ``lower`` only
with ``method: bounds``) are field validators, so each problem names its field.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .patterns import PatternError, check_pattern, re2_replacement


def problem(reason: str) -> PydanticCustomError:
    """A validation error whose message is exactly ``reason``."""
    return PydanticCustomError("cleaning", reason)


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise problem(f"lists {name!r} twice")
        seen.add(name)
    return names


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise problem("must be a finite number")
        return value
    raise problem("must be a string, a number, true/false or null")


def _sort_by(value: Any) -> Any:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return _unique(value)
    raise problem("must be a column name or a non-empty list of column names")


ColumnName = Annotated[str, Field(min_length=1)]
Columns = Annotated[list[ColumnName], Field(min_length=1), AfterValidator(_unique)]
Scalar = Annotated[Any, BeforeValidator(_scalar)]
Number = Annotated[float, Field(allow_inf_nan=False)]
CastTarget = Literal["integer", "float", "string", "boolean", "datetime", "date"]
Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "matches", "is_null", "not_null"]
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
DEFAULT_FACTOR = {"iqr": 1.5, "zscore": 3.0}


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DropDuplicates(_Step):
    op: Literal["drop_duplicates"]
    subset: Columns | None = None
    keep: Literal["first", "last", "none"] = "first"


class FillMissing(_Step):
    op: Literal["fill_missing"]
    columns: Columns | None = None
    strategy: Literal["constant", "mean", "median", "mode", "ffill", "bfill"]
    value: Scalar = Field(default=None, validate_default=True)

    @field_validator("value")
    @classmethod
    def _value_with_constant(cls, value: Any, info: ValidationInfo) -> Any:
        strategy = info.data.get("strategy")
        if strategy == "constant" and value is None:
            raise problem("required with strategy constant")
        if strategy not in (None, "constant") and value is not None:
            raise problem(f"only used with strategy constant, not {strategy}")
        return value


class DropMissing(_Step):
    op: Literal["drop_missing"]
    columns: Columns | None = None
    how: Literal["any", "all"] = "any"


class TrimWhitespace(_Step):
    op: Literal["trim_whitespace"]
    columns: Columns | None = None


class ChangeCase(_Step):
    op: Literal["change_case"]
    columns: Columns | None = None
    case: Literal["lower", "upper", "title"]


class ReplaceValues(_Step):
    op: Literal["replace_values"]
    columns: Columns | None = None
    mapping: Annotated[dict[str, Scalar], Field(min_length=1)]


class RegexReplace(_Step):
    op: Literal["regex_replace"]
    columns: Columns | None = None
    pattern: Annotated[str, Field(min_length=1)]
    replacement: str = Field(default="", validate_default=True)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        return compile_pattern(pattern).pattern

    @field_validator("replacement")
    @classmethod
    def _groups_exist(cls, replacement: str, info: ValidationInfo) -> str:
        pattern = info.data.get("pattern")
        if pattern is not None:
            try:
                re2_replacement(pattern, replacement)
            except PatternError as exc:
                raise problem(str(exc)) from None
        return replacement


class Cast(_Step):
    op: Literal["cast"]
    columns: Annotated[dict[ColumnName, CastTarget], Field(min_length=1)]
    format: Annotated[str, Field(min_length=1)] | None = None
    errors: Literal["coerce", "fail"] = "fail"

    @field_validator("format")
    @classmethod
    def _format_for_dates(cls, value: str | None, info: ValidationInfo) -> str | None:
        targets = (info.data.get("columns") or {}).values()
        if value is not None and targets and not {"datetime", "date"} & set(targets):
            raise problem("only used when casting to datetime or date")
        return value


class FilterRows(_Step):
    op: Literal["filter_rows"]
    column: ColumnName
    operator: Operator
    value: Any = Field(default=None, validate_default=True)

    @field_validator("value")
    @classmethod
    def _value_fits_operator(cls, value: Any, info: ValidationInfo) -> Any:
        operator = info.data.get("operator")
        if operator is None:
            return value
        if operator in ("is_null", "not_null"):
            if value is not None:
                raise problem(f"not used with operator {operator}")
        elif operator in ("in", "not_in"):
            if not isinstance(value, list):
                raise problem(f"must be a list of values for operator {operator}")
            return [_scalar(v) for v in value]
        elif operator in ("contains", "matches"):
            if not isinstance(value, str) or not value:
                raise problem(f"must be a non-empty string for operator {operator}")
            if operator == "matches":
                compile_pattern(value)
        elif value is None:
            raise problem(f"required with operator {operator}")
        else:
            return _scalar(value)
        return value


class RenameColumns(_Step):
    op: Literal["rename_columns"]
    mapping: Annotated[dict[ColumnName, ColumnName], Field(min_length=1)]

    @field_validator("mapping")
    @classmethod
    def _distinct_targets(cls, mapping: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for old, new in mapping.items():
            if new in seen:
                raise problem(f"renames both {seen[new]!r} and {old!r} to {new!r}")
            seen[new] = old
        return mapping


class DropColumns(_Step):
    op: Literal["drop_columns"]
    columns: Columns


class SelectColumns(_Step):
    op: Literal["select_columns"]
    columns: Columns


class NormalizeColumnNames(_Step):
    op: Literal["normalize_column_names"]


class ClipOutliers(_Step):
    op: Literal["clip_outliers"]
    columns: Columns | None = None
    method: Literal["iqr", "zscore", "bounds"]
    factor: Number | None = Field(default=None, validate_default=True)
    lower: Number | None = None
    upper: Number | None = Field(default=None, validate_default=True)

    @field_validator("factor")
    @classmethod
    def _factor_for_method(cls, factor: float | None, info: ValidationInfo) -> float | None:
        method = info.data.get("method")
        if method == "bounds" and factor is not None:
            raise problem("not used with method bounds (give lower and/or upper)")
        if factor is not None and factor <= 0:
            raise problem("must be greater than 0")
        return DEFAULT_FACTOR.get(method or "") if factor is None else factor

    @field_validator("lower")
    @classmethod
    def _lower_for_bounds(cls, lower: float | None, info: ValidationInfo) -> float | None:
        method = info.data.get("method")
        if method in ("iqr", "zscore") and lower is not None:
            raise problem(f"only used with method bounds, not {method}")
        return lower

    @field_validator("upper")
    @classmethod
    def _bounds_for_method(cls, upper: float | None, info: ValidationInfo) -> float | None:
        method, lower = info.data.get("method"), info.data.get("lower")
        if method in ("iqr", "zscore") and upper is not None:
            raise problem(f"only used with method bounds, not {method}")
        if method == "bounds" and lower is None and upper is None:
            raise problem("method bounds needs lower, upper or both")
        if lower is not None and upper is not None and lower > upper:
            raise problem(f"must not be below lower ({lower:g})")
        return upper


class Sort(_Step):
    op: Literal["sort"]
    by: Annotated[Any, BeforeValidator(_sort_by)]
    descending: bool = False

    @property
    def columns(self) -> list[str]:
        return [self.by] if isinstance(self.by, str) else list(self.by)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern if RE2 can run it (see :mod:`.patterns`); a validation error naming why otherwise."""
    try:
        return check_pattern(pattern)
    except PatternError as exc:
        raise problem(str(exc)) from None


STEP_MODELS: dict[str, type[_Step]] = {
    model.model_fields["op"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        DropDuplicates,
        FillMissing,
        DropMissing,
        TrimWhitespace,
        ChangeCase,
        ReplaceValues,
        RegexReplace,
        Cast,
        FilterRows,
        RenameColumns,
        DropColumns,
        SelectColumns,
        NormalizeColumnNames,
        ClipOutliers,
        Sort,
    )
}
KNOWN_OPS = tuple(STEP_MODELS)
