"""Each op on hand-made examples, then property tests: the engine agrees with plain pandas."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from worker.cleaning import engine
from worker.cleaning.errors import StepError
from worker.cleaning.names import normalize_names
from worker.cleaning.report import StepReport
from worker.cleaning.steps import OPS

from .strategies import PROPERTY, WORDS, columns_of, frame_and_columns, frames

assert_frame_equal = pd.testing.assert_frame_equal


def run_one(df: pd.DataFrame, step: dict) -> tuple[pd.DataFrame, StepReport]:
    """Run one step through the engine, checking the input frame is left as it was."""
    before = df.copy(deep=True)
    out, report = engine.run(df, {"steps": [step]})
    assert_frame_equal(df, before)
    assert report.rows_in == len(df) and report.rows_out == len(out)
    return out, report.steps[0]


def texts(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def ints(*values: int | None) -> pd.Series:
    return pd.Series(pd.array(list(values), dtype="Int64"))


def cells(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


PEOPLE = pd.DataFrame(
    {
        "e mail": texts("a@x.org", "b@x.org", "a@x.org", None, None, "a@x.org"),
        "age": ints(30, None, 30, 41, 41, 52),
        "income": [1.0, np.nan, 2.0, 4.0, np.nan, 3.0],
        "city": texts(" Kraków", "zürich ", None, "  ", "KRAKÓW", "日本"),
    }
)
EMPTY = PEOPLE.iloc[:0]


# drop_duplicates --------------------------------------------------------------------------------


@pytest.mark.parametrize(("keep", "kept"), [("first", [0, 1, 3]), ("last", [1, 4, 5]), ("none", [1])])
def test_drop_duplicates_on_a_column_with_a_space(keep: str, kept: list[int]) -> None:
    out, report = run_one(PEOPLE, {"op": "drop_duplicates", "subset": ["e mail"], "keep": keep})
    assert out.index.tolist() == kept
    removed = 6 - len(kept)
    assert report.summary == f"drop_duplicates on e mail: {removed} rows removed, keep {keep}"
    assert (report.step, report.rows_before, report.rows_after) == (1, 6, len(kept))


def test_drop_duplicates_on_all_columns_treats_missing_as_equal() -> None:
    df = pd.DataFrame({"a": texts("x", None, None, "x"), "b": ints(1, None, None, 2)})
    out, report = run_one(df, {"op": "drop_duplicates"})
    assert out.index.tolist() == [0, 1, 3]
    assert report.summary == "drop_duplicates on all columns: 1 row removed, keep first"


def test_drop_duplicates_on_an_empty_frame() -> None:
    out, report = run_one(EMPTY, {"op": "drop_duplicates", "subset": ["age"]})
    assert list(out.columns) == list(PEOPLE.columns) and len(out) == 0
    assert report.summary == "drop_duplicates on age: 0 rows removed, keep first"


# fill_missing -----------------------------------------------------------------------------------


def test_fill_missing_constant_in_a_named_text_column() -> None:
    out, report = run_one(PEOPLE, {"op": "fill_missing", "columns": ["e mail"], "strategy": "constant", "value": "none"})
    assert cells(out["e mail"]) == ["a@x.org", "b@x.org", "a@x.org", "none", "none", "a@x.org"]
    assert report.cells_changed == {"e mail": 2}
    assert report.summary == "fill_missing e mail: 2 cells with 'none'"
    assert report.details["values"] == {"e mail": "none"}


def test_fill_missing_constant_without_columns_fills_the_columns_it_fits() -> None:
    out, report = run_one(PEOPLE, {"op": "fill_missing", "strategy": "constant", "value": 0})
    assert cells(out["age"]) == [30, 0, 30, 41, 41, 52]
    assert cells(out["income"]) == [1.0, 0.0, 2.0, 4.0, 0.0, 3.0]
    assert out["e mail"].isna().sum() == 2
    assert report.cells_changed == {"age": 1, "income": 2}
    assert str(out["age"].dtype) == "Int64"


def test_fill_missing_constant_that_does_not_fit_is_a_step_error() -> None:
    with pytest.raises(StepError) as caught:
        run_one(PEOPLE, {"op": "fill_missing", "columns": ["age"], "strategy": "constant", "value": 2.5})
    assert str(caught.value) == "step 1 (fill_missing): the value 2.5 does not fit integer column 'age'"


def test_fill_missing_number_into_a_named_text_column_becomes_text() -> None:
    out, _ = run_one(PEOPLE, {"op": "fill_missing", "columns": ["city"], "strategy": "constant", "value": 0})
    assert cells(out["city"])[2] == "0"
    assert out["city"].dtype == PEOPLE["city"].dtype


def test_fill_missing_mean_reports_the_value_used() -> None:
    out, report = run_one(PEOPLE, {"op": "fill_missing", "columns": ["income"], "strategy": "mean"})
    assert cells(out["income"]) == [1.0, 2.5, 2.0, 4.0, 2.5, 3.0]
    assert report.summary == "fill_missing income: 2 cells with mean 2.5"
    assert report.details["values"] == {"income": 2.5}


def test_fill_missing_median_of_an_integer_column_is_rounded_and_stays_integer() -> None:
    df = pd.DataFrame({"n": ints(1, 2, None, 5, 6)})
    out, report = run_one(df, {"op": "fill_missing", "strategy": "median"})
    assert str(out["n"].dtype) == "Int64"
    assert cells(out["n"]) == [1, 2, 4, 5, 6]
    assert report.summary == "fill_missing n: 1 cell with median 4; n: median 3.5 rounded to 4 to keep it integer"


def test_fill_missing_mean_without_columns_takes_only_numeric_columns() -> None:
    df = PEOPLE.assign(ok=pd.array([True, None, False, True, None, True], dtype="boolean"))
    out, report = run_one(df, {"op": "fill_missing", "strategy": "mean"})
    assert set(report.cells_changed) == {"age", "income"}
    assert out["ok"].isna().sum() == 2
    assert report.details["values"] == {"age": 39, "income": 2.5}


def test_fill_missing_mean_of_a_text_column_is_a_step_error() -> None:
    with pytest.raises(StepError) as caught:
        run_one(PEOPLE, {"op": "fill_missing", "columns": ["city"], "strategy": "mean"})
    assert str(caught.value) == "step 1 (fill_missing): column 'city' holds text values; mean needs numbers"
    assert (caught.value.step, caught.value.op) == (1, "fill_missing")


def test_fill_missing_mode_takes_the_smallest_of_tied_values() -> None:
    df = pd.DataFrame({"w": texts("日本", "b", "日本", "b", None)})
    out, report = run_one(df, {"op": "fill_missing", "strategy": "mode"})
    assert cells(out["w"]) == ["日本", "b", "日本", "b", "b"]
    assert report.summary == "fill_missing w: 1 cell with mode 'b'"


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("ffill", [None, 1.0, 1.0, 3.0, 3.0]), ("bfill", [1.0, 1.0, 3.0, 3.0, None])],
)
def test_fill_missing_forward_and_backward(strategy: str, expected: list) -> None:
    df = pd.DataFrame({"x": [np.nan, 1.0, np.nan, 3.0, np.nan]})
    out, report = run_one(df, {"op": "fill_missing", "strategy": strategy})
    assert cells(out["x"]) == expected
    assert report.cells_changed == {"x": 2}
    assert report.details["values"] == {"x": None}


@pytest.mark.parametrize("strategy", ["mean", "median", "mode"])
def test_fill_missing_all_missing_column_is_left_alone_and_said_so(strategy: str) -> None:
    df = pd.DataFrame({"x": pd.Series([np.nan, np.nan])})
    out, report = run_one(df, {"op": "fill_missing", "columns": ["x"], "strategy": strategy})
    assert out["x"].isna().all()
    assert report.cells_changed == {"x": 0}
    assert report.summary.endswith(f"x has no values to take the {strategy} of: left missing")


def test_fill_missing_on_an_empty_frame() -> None:
    out, report = run_one(EMPTY, {"op": "fill_missing", "strategy": "median"})
    assert len(out) == 0
    assert report.cells_changed == {"age": 0, "income": 0}


def test_fill_missing_datetime_constant() -> None:
    df = pd.DataFrame({"d": pd.to_datetime(pd.Series(["2024-01-01", None]))})
    out, _ = run_one(df, {"op": "fill_missing", "strategy": "constant", "columns": ["d"], "value": "2024-06-30"})
    assert cells(out["d"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-06-30")]


# drop_missing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "kept"),
    [
        ({"op": "drop_missing"}, [0, 5]),
        ({"op": "drop_missing", "columns": ["e mail", "age"]}, [0, 2, 5]),
        ({"op": "drop_missing", "columns": ["income", "e mail"], "how": "all"}, [0, 1, 2, 3, 5]),
    ],
)
def test_drop_missing(step: dict, kept: list[int]) -> None:
    out, report = run_one(PEOPLE, step)
    assert out.index.tolist() == kept
    assert report.rows_after == len(kept)


# trim_whitespace, change_case -------------------------------------------------------------------


def test_trim_whitespace_makes_blank_cells_missing() -> None:
    out, report = run_one(PEOPLE, {"op": "trim_whitespace", "columns": ["city"]})
    assert cells(out["city"]) == ["Kraków", "zürich", None, None, "KRAKÓW", "日本"]
    assert report.cells_changed == {"city": 3}
    assert report.summary == "trim_whitespace city: 3 cells changed, 1 left empty became missing"


def test_trim_whitespace_without_columns_takes_text_columns_only() -> None:
    df = pd.DataFrame({"t": texts("\ta b\u00a0", None), "n": ints(1, None)})
    out, report = run_one(df, {"op": "trim_whitespace"})
    assert cells(out["t"]) == ["a b", None]
    assert list(report.cells_changed) == ["t"]


def test_trim_whitespace_on_a_number_column_is_a_step_error() -> None:
    with pytest.raises(StepError, match=r"column 'age' holds integer values; this step works on text"):
        run_one(PEOPLE, {"op": "trim_whitespace", "columns": ["age"]})


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("lower", [" kraków", "zürich ", None, "  ", "kraków", "日本"]),
        ("upper", [" KRAKÓW", "ZÜRICH ", None, "  ", "KRAKÓW", "日本"]),
        ("title", [" Kraków", "Zürich ", None, "  ", "Kraków", "日本"]),
    ],
)
def test_change_case_handles_unicode(case: str, expected: list) -> None:
    out, report = run_one(PEOPLE, {"op": "change_case", "columns": ["city"], "case": case})
    assert cells(out["city"]) == expected
    assert report.cells_changed["city"] == sum(a != b for a, b in zip(cells(PEOPLE["city"]), expected, strict=True))


# replace_values, regex_replace ------------------------------------------------------------------


def test_replace_values_exact_match_swap_and_missing() -> None:
    df = pd.DataFrame({"v": texts("yes", "no", "n/a", "yes ", None)})
    out, report = run_one(df, {"op": "replace_values", "mapping": {"yes": "no", "no": "yes", "n/a": None}})
    assert cells(out["v"]) == ["no", "yes", None, "yes ", None]
    assert report.cells_changed == {"v": 3}


def test_replace_values_in_a_number_column_matches_the_number_spelled() -> None:
    out, report = run_one(PEOPLE, {"op": "replace_values", "columns": ["age", "income"], "mapping": {"30": 31, "4.0": None}})
    assert cells(out["age"]) == [31, None, 31, 41, 41, 52]
    assert cells(out["income"]) == [1.0, None, 2.0, None, None, 3.0]
    assert report.cells_changed == {"age": 2, "income": 1}


def test_replace_values_with_text_in_a_number_column_makes_it_text() -> None:
    out, report = run_one(PEOPLE, {"op": "replace_values", "columns": ["age"], "mapping": {"41": "forty-one"}})
    assert cells(out["age"]) == ["30", None, "30", "forty-one", "forty-one", "52"]
    assert report.summary == "replace_values age: 2 cells changed; age became text"


@pytest.mark.parametrize("replacement", [r"\1.", r"\g<area>.", r"\g<1>."])
def test_regex_replace_takes_python_group_references(replacement: str) -> None:
    df = pd.DataFrame({"phone": texts("555-1234", "(555) 9876", None, "none")})
    step = {"op": "regex_replace", "columns": ["phone"], "pattern": r"^\(?(?P<area>\d{3})\)?[- ]?", "replacement": replacement}
    out, report = run_one(df, step)
    assert cells(out["phone"]) == ["555.1234", "555.9876", None, "none"]
    assert report.cells_changed == {"phone": 2}


def test_regex_replace_whole_match_escapes_and_backslashes() -> None:
    df = pd.DataFrame({"t": texts("a1", "b22")})
    out, _ = run_one(df, {"op": "regex_replace", "pattern": r"\d+", "replacement": r"[\g<0>]\t\\"})
    assert cells(out["t"]) == ["a[1]\t\\", "b[22]\t\\"]


# cast -------------------------------------------------------------------------------------------


def test_cast_text_to_integer_with_coerce() -> None:
    df = pd.DataFrame({"n": texts("1", " 2 ", "3.0", "3.5", "x", None, "99999999999999999999", "-0")})
    out, report = run_one(df, {"op": "cast", "columns": {"n": "integer"}, "errors": "coerce"})
    assert str(out["n"].dtype) == "Int64"
    assert cells(out["n"]) == [1, 2, 3, None, None, None, None, 0]
    assert report.cells_changed == {"n": 3}
    assert report.summary == "cast n to integer: 3 values could not be converted and became missing (n: 3)"


def test_cast_with_fail_names_the_first_bad_value() -> None:
    df = pd.DataFrame({"n": texts("1", "two", "three")})
    with pytest.raises(StepError) as caught:
        run_one(df, {"op": "cast", "columns": {"n": "float"}})
    assert str(caught.value) == (
        "step 1 (cast): column 'n': 2 values cannot become float, the first is 'two' (row 1); "
        "use errors 'coerce' to make them missing"
    )


@pytest.mark.parametrize(
    ("source", "target", "expected", "dtype"),
    [
        (texts("1.5", "2", None), "float", [1.5, 2.0, None], "float64"),
        (ints(1, None), "string", ["1", None], "str"),
        (pd.Series([1.5, np.nan]), "string", ["1.5", None], "str"),
        (texts("yes", "0", "False", None), "boolean", [True, False, False, None], "boolean"),
        (ints(1, 0, None), "boolean", [True, False, None], "boolean"),
        (pd.Series([2.0, np.nan]), "integer", [2, None], "Int64"),
        (texts("2024-01-31T10:00", None), "datetime", [pd.Timestamp("2024-01-31 10:00"), None], "datetime64[us]"),
        (texts("2024-01-31T10:00"), "date", [pd.Timestamp("2024-01-31")], "datetime64[us]"),
    ],
)
def test_cast_targets(source: pd.Series, target: str, expected: list, dtype: str) -> None:
    out, _ = run_one(pd.DataFrame({"c": source}), {"op": "cast", "columns": {"c": target}})
    assert cells(out["c"]) == expected
    assert str(out["c"].dtype) == dtype


def test_cast_datetime_with_a_format() -> None:
    df = pd.DataFrame({"d": texts("31/01/2024", "2024-01-31")})
    out, report = run_one(df, {"op": "cast", "columns": {"d": "date"}, "format": "%d/%m/%Y", "errors": "coerce"})
    assert cells(out["d"]) == [pd.Timestamp("2024-01-31"), None]
    assert report.cells_changed == {"d": 1}


# filter_rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "operator", "value", "kept"),
    [
        ("age", "eq", 41, [3, 4]),
        ("age", "ne", 41, [0, 1, 2, 5]),
        ("age", "lt", 41, [0, 2]),
        ("age", "le", "41", [0, 2, 3, 4]),
        ("income", "gt", 2, [3, 5]),
        ("income", "ge", 2.0, [2, 3, 5]),
        ("e mail", "in", ["b@x.org", None], [1, 3, 4]),
        ("e mail", "not_in", ["a@x.org"], [1, 3, 4]),
        ("city", "contains", "ków", [0]),
        ("city", "matches", r"(?i)^\s*krak", [0, 4]),
        ("age", "contains", "4", [3, 4]),
        ("income", "is_null", None, [1, 4]),
        ("income", "not_null", None, [0, 2, 3, 5]),
    ],
)
def test_filter_rows_operators(column: str, operator: str, value: object, kept: list[int]) -> None:
    step = {"op": "filter_rows", "column": column, "operator": operator}
    if value is not None:
        step["value"] = value
    out, report = run_one(PEOPLE, step)
    assert out.index.tolist() == kept
    assert report.details == {"kept": len(kept), "removed": 6 - len(kept)}


def test_filter_rows_summary() -> None:
    _, report = run_one(PEOPLE, {"op": "filter_rows", "column": "age", "operator": "ge", "value": 41})
    assert report.summary == "filter_rows age ge 41: kept 3 of 6 rows (3 removed)"


def test_filter_rows_with_a_value_of_the_wrong_kind_is_a_step_error() -> None:
    with pytest.raises(StepError) as caught:
        run_one(PEOPLE, {"op": "filter_rows", "column": "age", "operator": "gt", "value": "old"})
    assert str(caught.value) == "step 1 (filter_rows): column 'age' holds integer values; cannot compare it with 'old'"


def test_filter_rows_compares_dates_with_iso_text() -> None:
    df = pd.DataFrame({"d": pd.to_datetime(pd.Series(["2024-01-01", "2024-03-01", None]))})
    out, _ = run_one(df, {"op": "filter_rows", "column": "d", "operator": "gt", "value": "2024-02-01"})
    assert out.index.tolist() == [1]


# columns ----------------------------------------------------------------------------------------


def test_rename_drop_select_columns() -> None:
    out, report = run_one(PEOPLE, {"op": "rename_columns", "mapping": {"e mail": "email", "age": "years"}})
    assert list(out.columns) == ["email", "years", "income", "city"]
    assert report.summary == "rename_columns: e mail -> email, age -> years"
    out, _ = run_one(PEOPLE, {"op": "drop_columns", "columns": ["age", "city"]})
    assert list(out.columns) == ["e mail", "income"]
    out, report = run_one(PEOPLE, {"op": "select_columns", "columns": ["city", "age"]})
    assert list(out.columns) == ["city", "age"]
    assert report.details == {"dropped": ["e mail", "income"]}


def test_rename_onto_an_existing_column_is_refused() -> None:
    with pytest.raises(Exception, match="would make two columns named 'age'"):
        run_one(PEOPLE, {"op": "rename_columns", "mapping": {"city": "age"}})


def test_normalize_column_names() -> None:
    df = pd.DataFrame({"First Name": [1], "first_name": [2], "totalAmountUSD": [3], "Café ": [4], "日付": [5]})
    out, report = run_one(df, {"op": "normalize_column_names"})
    assert list(out.columns) == ["first_name", "first_name_2", "total_amount_usd", "cafe", "日付"]
    assert report.details["renamed"] == {
        "First Name": "first_name",
        "first_name": "first_name_2",
        "totalAmountUSD": "total_amount_usd",
        "Café ": "cafe",
    }
    assert out.iloc[0].tolist() == [1, 2, 3, 4, 5]


# clip_outliers, sort ----------------------------------------------------------------------------


def test_clip_outliers_iqr() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0, np.nan]})
    out, report = run_one(df, {"op": "clip_outliers", "method": "iqr"})
    # Q1 = 2, Q3 = 4, IQR = 2: fences at -1 and 7.
    assert cells(out["x"]) == [1.0, 2.0, 3.0, 4.0, 7.0, None]
    assert report.details["bounds"] == {"x": [-1.0, 7.0]}
    assert report.summary == "clip_outliers x (iqr x 1.5): 1 cell clipped (x: 1 to [-1, 7])"


def test_clip_outliers_keeps_an_integer_column_integer() -> None:
    df = pd.DataFrame({"n": ints(-50, 1, 2, 3, None)})
    out, report = run_one(df, {"op": "clip_outliers", "method": "bounds", "lower": 0.5, "upper": 2.5})
    assert str(out["n"].dtype) == "Int64"
    assert cells(out["n"]) == [1, 1, 2, 2, None]
    assert report.cells_changed == {"n": 2}


def test_clip_outliers_zscore_and_all_missing() -> None:
    df = pd.DataFrame({"x": [0.0] * 9 + [10.0], "empty": [np.nan] * 10})
    out, report = run_one(df, {"op": "clip_outliers", "method": "zscore", "factor": 2})
    limit = df["x"].mean() + 2 * df["x"].std()
    assert out["x"].iloc[-1] == pytest.approx(limit)
    assert out["empty"].isna().all()
    assert report.cells_changed == {"x": 1, "empty": 0}


def test_sort_descending_keeps_missing_last_and_ties_in_order() -> None:
    out, report = run_one(PEOPLE, {"op": "sort", "by": "age", "descending": True})
    assert out.index.tolist() == [5, 3, 4, 0, 2, 1]
    assert report.summary == "sort by age descending: 6 rows"
    out, _ = run_one(PEOPLE, {"op": "sort", "by": ["e mail", "income"]})
    assert out.index.tolist() == [0, 2, 5, 1, 3, 4]


# every op on edge-case frames --------------------------------------------------------------------

ONE_OF_EACH = [
    {"op": "drop_duplicates", "subset": ["e mail"]},
    {"op": "fill_missing", "strategy": "median"},
    {"op": "fill_missing", "columns": ["city"], "strategy": "constant", "value": "?"},
    {"op": "drop_missing", "columns": ["age"]},
    {"op": "trim_whitespace"},
    {"op": "change_case", "columns": ["city"], "case": "upper"},
    {"op": "replace_values", "mapping": {"a": "b"}},
    {"op": "regex_replace", "columns": ["city"], "pattern": "k", "replacement": "K"},
    {"op": "cast", "columns": {"city": "integer", "age": "float"}},
    {"op": "filter_rows", "column": "income", "operator": "gt", "value": 0},
    {"op": "rename_columns", "mapping": {"e mail": "email"}},
    {"op": "drop_columns", "columns": ["e mail"]},
    {"op": "select_columns", "columns": ["city"]},
    {"op": "normalize_column_names"},
    {"op": "clip_outliers", "method": "zscore"},
    {"op": "sort", "by": ["city", "age"]},
]
ALL_MISSING = pd.DataFrame(
    {
        "e mail": texts(None, None),
        "age": ints(None, None),
        "income": [np.nan, np.nan],
        "city": texts(None, None),
    }
)


def test_every_op_is_covered_by_the_edge_case_table() -> None:
    assert {step["op"] for step in ONE_OF_EACH} == set(OPS)


@pytest.mark.parametrize("step", ONE_OF_EACH, ids=[f"{i}-{s['op']}" for i, s in enumerate(ONE_OF_EACH)])
def test_every_op_handles_an_empty_frame(step: dict) -> None:
    out, report = run_one(EMPTY, step)
    assert len(out) == 0
    assert set(report.cells_changed.values()) <= {0}
    assert report.summary.startswith(step["op"])


@pytest.mark.parametrize("step", ONE_OF_EACH, ids=[f"{i}-{s['op']}" for i, s in enumerate(ONE_OF_EACH)])
def test_every_op_handles_all_missing_columns(step: dict) -> None:
    out, report = run_one(ALL_MISSING, step)
    filled = step.get("strategy") == "constant"
    expected_rows = {"drop_duplicates": 1, "drop_missing": 0, "filter_rows": 0}.get(step["op"], 2)
    assert len(out) == expected_rows
    assert int(out.notna().sum().sum()) == (2 if filled else 0)
    assert report.rows_after == expected_rows


UNICODE = pd.DataFrame(
    {
        "prénom nom": texts(" Zoë ", "ÅSA", None, " Zoë ", "ǅemal"),
        "âge moyen": ints(30, None, 41, 30, 120),
        "市 名": texts("東京", "大阪 ", None, "東京", "İstanbul"),
    }
)
UNICODE_STEPS = [
    ({"op": "drop_duplicates", "subset": ["prénom nom"]}, lambda d: d.drop_duplicates(subset=["prénom nom"])),
    (
        {"op": "fill_missing", "columns": ["市 名"], "strategy": "constant", "value": "—"},
        lambda d: d.assign(**{"市 名": d["市 名"].fillna("—")}),
    ),
    ({"op": "drop_missing", "columns": ["âge moyen"]}, lambda d: d.dropna(subset=["âge moyen"])),
    ({"op": "trim_whitespace"}, lambda d: d.assign(**{c: d[c].str.strip() for c in ("prénom nom", "市 名")})),
    (
        {"op": "change_case", "columns": ["prénom nom", "市 名"], "case": "title"},
        lambda d: d.assign(**{c: d[c].str.title() for c in ("prénom nom", "市 名")}),
    ),
    (
        {"op": "replace_values", "columns": ["市 名"], "mapping": {"東京": "Tōkyō"}},
        lambda d: d.assign(**{"市 名": d["市 名"].replace({"東京": "Tōkyō"})}),
    ),
    (
        {"op": "regex_replace", "columns": ["prénom nom"], "pattern": "ë|Å", "replacement": "_"},
        lambda d: d.assign(**{"prénom nom": d["prénom nom"].str.replace("ë|Å", "_", regex=True)}),
    ),
    ({"op": "cast", "columns": {"âge moyen": "string"}}, lambda d: d.assign(**{"âge moyen": d["âge moyen"].astype("str")})),
    (
        {"op": "filter_rows", "column": "市 名", "operator": "contains", "value": "東"},
        lambda d: d[d["市 名"].str.contains("東", na=False)],
    ),
    ({"op": "rename_columns", "mapping": {"市 名": "ville ∆"}}, lambda d: d.rename(columns={"市 名": "ville ∆"})),
    ({"op": "drop_columns", "columns": ["prénom nom"]}, lambda d: d.drop(columns=["prénom nom"])),
    ({"op": "select_columns", "columns": ["市 名", "âge moyen"]}, lambda d: d[["市 名", "âge moyen"]]),
    ({"op": "normalize_column_names"}, lambda d: d.set_axis(["prenom_nom", "age_moyen", "市_名"], axis=1)),
    (
        {"op": "clip_outliers", "columns": ["âge moyen"], "method": "bounds", "upper": 100},
        lambda d: d.assign(**{"âge moyen": d["âge moyen"].clip(upper=100)}),
    ),
    ({"op": "sort", "by": ["市 名", "prénom nom"], "descending": True}, lambda d: d.sort_values(["市 名", "prénom nom"], ascending=False, kind="stable", na_position="last")),
]


def test_every_op_is_covered_by_the_unicode_table() -> None:
    assert {step["op"] for step, _ in UNICODE_STEPS} == set(OPS)


@pytest.mark.parametrize(("step", "expected"), UNICODE_STEPS, ids=[s["op"] for s, _ in UNICODE_STEPS])
def test_every_op_handles_unicode_values_and_column_names_with_spaces(step: dict, expected) -> None:  # type: ignore[no-untyped-def]
    out, report = run_one(UNICODE, step)
    assert_frame_equal(out, expected(UNICODE))
    assert report.summary.startswith(step["op"])


# property tests: the engine agrees with plain pandas ----------------------------------------------


@PROPERTY
@given(data=frame_and_columns(), keep=st.sampled_from(["first", "last", "none"]), whole=st.booleans())
def test_drop_duplicates_matches_pandas(data: tuple[pd.DataFrame, list[str]], keep: str, whole: bool) -> None:
    df, names = data
    step = {"op": "drop_duplicates", "keep": keep} | ({} if whole else {"subset": names})
    out, _ = run_one(df, step)
    expected = df.drop_duplicates(subset=None if whole else names, keep=False if keep == "none" else keep)
    assert_frame_equal(out, expected)


@PROPERTY
@given(df=frames(kinds=("float", "integer", "text")), strategy=st.sampled_from(["mean", "median", "mode", "ffill", "bfill"]))
def test_fill_missing_matches_pandas(df: pd.DataFrame, strategy: str) -> None:
    out, _ = run_one(df, {"op": "fill_missing", "strategy": strategy})
    expected = df.copy()
    for name in df.columns:
        column = df[name]
        if strategy in ("ffill", "bfill"):
            expected[name] = getattr(column, strategy)()
        elif strategy == "mode":
            modes = column.mode()
            expected[name] = column.fillna(modes.iloc[0]) if len(modes) else column
        elif name not in columns_of(df, "text") and column.notna().any():
            value = getattr(column, strategy)()
            expected[name] = column.fillna(round(value) if str(column.dtype) == "Int64" else value)
    assert_frame_equal(out, expected)


@PROPERTY
@given(df=frames(), value=st.one_of(st.sampled_from(WORDS[:4]), st.integers(-3, 3), st.booleans(), st.just(0.5)))
def test_fill_missing_constant_matches_pandas(df: pd.DataFrame, value: object) -> None:
    out, _ = run_one(df, {"op": "fill_missing", "strategy": "constant", "value": value})
    expected = df.copy()
    for name in df.columns:
        kind = str(df[name].dtype)
        fits = {
            "str": isinstance(value, str),
            "Int64": isinstance(value, int) and not isinstance(value, bool),
            "float64": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
        }[kind]
        if fits:
            expected[name] = df[name].fillna(value)
    assert_frame_equal(out, expected)


@PROPERTY
@given(data=frame_and_columns(), how=st.sampled_from(["any", "all"]), whole=st.booleans())
def test_drop_missing_matches_pandas(data: tuple[pd.DataFrame, list[str]], how: str, whole: bool) -> None:
    df, names = data
    out, _ = run_one(df, {"op": "drop_missing", "how": how} | ({} if whole else {"columns": names}))
    assert_frame_equal(out, df.dropna(subset=None if whole else names, how=how))


@PROPERTY
@given(df=frames(kinds=("text", "integer")), case=st.sampled_from(["lower", "upper", "title"]))
def test_text_steps_match_pandas(df: pd.DataFrame, case: str) -> None:
    names = columns_of(df, "text")
    trimmed, _ = run_one(df, {"op": "trim_whitespace"})
    cased, _ = run_one(df, {"op": "change_case", "case": case})
    expected_trim, expected_case = df.copy(), df.copy()
    for name in names:
        expected_trim[name] = df[name].str.strip().replace("", np.nan)
        expected_case[name] = getattr(df[name].str, case)()
    assert_frame_equal(trimmed, expected_trim)
    assert_frame_equal(cased, expected_case)


@PROPERTY
@given(
    df=frames(kinds=("text",)),
    mapping=st.dictionaries(st.sampled_from(WORDS), st.sampled_from(WORDS), min_size=1, max_size=4),
    pattern=st.sampled_from([r"\s+", r"^(.)", r"[aeiou]", r"(b)(o)", "ß|日"]),
    replacement=st.sampled_from(["", "_", r"\1", "X"]),
)
def test_replacing_steps_match_pandas(df: pd.DataFrame, mapping: dict, pattern: str, replacement: str) -> None:
    assume(re.compile(pattern).groups >= (1 if replacement == r"\1" else 0))
    replaced, _ = run_one(df, {"op": "replace_values", "mapping": mapping})
    regexed, _ = run_one(df, {"op": "regex_replace", "pattern": pattern, "replacement": replacement})
    assert_frame_equal(replaced, df.replace(mapping))
    assert_frame_equal(regexed, df.apply(lambda c: c.str.replace(pattern, replacement, regex=True)))


@PROPERTY
@given(values=st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), max_size=12))
def test_cast_of_integer_text_matches_pandas(values: list[int | None]) -> None:
    df = pd.DataFrame({"n": pd.Series([None if v is None else str(v) for v in values], dtype="str")})
    out, _ = run_one(df, {"op": "cast", "columns": {"n": "integer"}})
    assert_frame_equal(out, pd.DataFrame({"n": pd.array(values, dtype="Int64")}))
    out, _ = run_one(df, {"op": "cast", "columns": {"n": "float"}})
    assert_frame_equal(out, pd.DataFrame({"n": pd.to_numeric(df["n"]).astype("float64")}))


@PROPERTY
@given(
    df=frames(kinds=("float", "integer")),
    operator=st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_null", "not_null"]),
    value=st.integers(-5, 5),
)
def test_filter_rows_on_numbers_matches_pandas(df: pd.DataFrame, operator: str, value: int) -> None:
    name = df.columns[0]
    step = {"op": "filter_rows", "column": name, "operator": operator}
    if operator in ("in", "not_in"):
        step["value"] = [value, value + 1]
    elif operator not in ("is_null", "not_null"):
        step["value"] = value
    out, _ = run_one(df, step)
    column = df[name].astype("float64")  # NaN semantics: missing equals nothing
    masks = {
        "eq": column == value,
        "ne": column != value,
        "lt": column < value,
        "le": column <= value,
        "gt": column > value,
        "ge": column >= value,
        "in": column.isin([value, value + 1]),
        "not_in": ~column.isin([value, value + 1]),
        "is_null": column.isna(),
        "not_null": column.notna(),
    }
    assert_frame_equal(out, df[masks[operator]])


@PROPERTY
@given(df=frames(kinds=("text",)), word=st.sampled_from(["a", "b", " ", "日"]))
def test_filter_rows_on_text_matches_pandas(df: pd.DataFrame, word: str) -> None:
    name = df.columns[-1]
    contains, _ = run_one(df, {"op": "filter_rows", "column": name, "operator": "contains", "value": word})
    matches, _ = run_one(df, {"op": "filter_rows", "column": name, "operator": "matches", "value": f"^{word}"})
    not_equal, _ = run_one(df, {"op": "filter_rows", "column": name, "operator": "ne", "value": word})
    assert_frame_equal(contains, df[df[name].str.contains(word, regex=False, na=False)])
    assert_frame_equal(matches, df[df[name].str.contains(f"^{word}", na=False)])
    assert_frame_equal(not_equal, df[df[name] != word])


@PROPERTY
@given(data=frame_and_columns())
def test_column_steps_match_pandas(data: tuple[pd.DataFrame, list[str]]) -> None:
    df, names = data
    mapping = {name: f"{name}!" for name in names}
    renamed, _ = run_one(df, {"op": "rename_columns", "mapping": mapping})
    dropped, _ = run_one(df, {"op": "drop_columns", "columns": names})
    selected, _ = run_one(df, {"op": "select_columns", "columns": names})
    normalized, _ = run_one(df, {"op": "normalize_column_names"})
    assert_frame_equal(renamed, df.rename(columns=mapping))
    assert_frame_equal(dropped, df.drop(columns=names))
    assert_frame_equal(selected, df[names])
    assert_frame_equal(normalized, df.set_axis(normalize_names(list(df.columns)), axis=1))
    assert all(re.fullmatch(r"[^\W_](\w*[^\W_])?", n) and n == n.lower() for n in normalized.columns)
    assert normalized.columns.is_unique


@PROPERTY
@given(df=frames(kinds=("float",), min_rows=1), factor=st.sampled_from([0.5, 1.5, 3.0]))
def test_clip_outliers_on_floats_matches_pandas(df: pd.DataFrame, factor: float) -> None:
    iqr, _ = run_one(df, {"op": "clip_outliers", "method": "iqr", "factor": factor})
    zscore, _ = run_one(df, {"op": "clip_outliers", "method": "zscore", "factor": factor})
    bounds, _ = run_one(df, {"op": "clip_outliers", "method": "bounds", "lower": -1, "upper": factor})
    expected_iqr, expected_zscore = df.copy(), df.copy()
    for name in df.columns:
        q1, q3 = df[name].quantile(0.25), df[name].quantile(0.75)
        mean, std = df[name].mean(), df[name].std()
        if not math.isnan(q1):
            expected_iqr[name] = df[name].clip(q1 - factor * (q3 - q1), q3 + factor * (q3 - q1))
        if std > 0:
            expected_zscore[name] = df[name].clip(mean - factor * std, mean + factor * std)
    assert_frame_equal(iqr, expected_iqr)
    assert_frame_equal(zscore, expected_zscore)
    assert_frame_equal(bounds, df.clip(-1, factor))


@PROPERTY
@given(data=frame_and_columns(), descending=st.booleans())
def test_sort_matches_pandas(data: tuple[pd.DataFrame, list[str]], descending: bool) -> None:
    df, names = data
    out, _ = run_one(df, {"op": "sort", "by": names, "descending": descending})
    expected = df.sort_values(names, ascending=not descending, kind="stable", na_position="last")
    assert_frame_equal(out, expected)
