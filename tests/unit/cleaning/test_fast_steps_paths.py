"""The steps' fast paths (arrow_text, fast_rows, the shortcuts in ops_fill / ops_cast / take_rows)
give exactly the answers of the pandas paths they stand in for: the same cells, dtypes,
change counts and reports, on random frames and on the awkward values (Unicode whitespace
and case, the separators 0x1C-0x1F, empty text, -0.0 and NaN, missing cells of each kind)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import arrow_text, dates, engine, fast_rows, ops_cast, ops_common, ops_fill, ops_rows, ops_text
from worker.cleaning.errors import StepError

from .strategies import PROPERTY, frames, odd_kinds

assert_series_equal = pd.testing.assert_series_equal

TRICKY = [" a", "a ", "\ta\n", "\x1ca\x1f", "\u3000x\u3000", "\xa0y\xa0", "", "  ", "ß", "İi", "ǅ", "Straße", "ÉCLAIR", "x y", "ﬁ"]
text_cells = st.one_of(st.none(), st.sampled_from(TRICKY), st.text(max_size=6))
ascii_cells = st.one_of(st.none(), st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=6))


def text_column(values: list, flavour: str) -> pd.Series:
    return pd.Series(values, dtype="str" if flavour == "str" else "string[pyarrow]")


flavours = st.sampled_from(["str", "string"])


@PROPERTY
@given(values=st.lists(text_cells, max_size=20), flavour=flavours)
def test_trim_is_the_pandas_trim(values: list, flavour: str) -> None:
    column = text_column(values, flavour)
    fast = arrow_text.trim(column.array)
    assert fast is not None
    expected, changed, emptied = ops_text.trim_column_pandas(column)
    assert_series_equal(pd.Series(fast[0], index=column.index), expected)
    assert fast[1:] == (changed, emptied)


@PROPERTY
@given(values=st.lists(st.one_of(text_cells, ascii_cells), max_size=20), flavour=flavours, case=st.sampled_from(["lower", "upper"]))
def test_recase_is_the_pandas_recase(values: list, flavour: str, case: str) -> None:
    column = text_column(values, flavour)
    fast = arrow_text.recase(column.array, case)
    assert fast is not None
    expected, changed = ops_text.recase_column_pandas(column, case)
    assert_series_equal(pd.Series(fast[0], index=column.index), expected)
    assert fast[1] == changed


def test_ascii_check_sees_a_single_high_byte_in_any_chunk() -> None:
    import pyarrow as pa

    data = pa.chunked_array([pa.array(["abc", None], pa.large_string()), pa.array(["x", "é"], pa.large_string())])
    assert not arrow_text.plain_ascii(data)
    assert arrow_text.plain_ascii(data.slice(0, 3))
    assert arrow_text.recase(pd.array(["É", "a"], dtype="str"), "lower")[0].tolist() == ["é", "a"]


@PROPERTY
@given(values=st.lists(text_cells, max_size=20), flavour=flavours, value=st.sampled_from(["unknown", "", " x "]))
def test_text_fill_is_fillna(values: list, flavour: str, value: str) -> None:
    column = text_column(values, flavour)
    filled = arrow_text.fill(column.array, value)
    assert filled is not None
    expected = column.fillna(value)
    assert_series_equal(pd.Series(filled, index=column.index), expected)
    assert ops_fill.fill_changes(column, filled) == ops_common.count_changed(column, expected)


def test_columns_not_arrow_text_take_the_pandas_path() -> None:
    for values in (pd.array([" a", None], dtype=object), pd.array([1, None], dtype="Int64")):
        assert arrow_text.trim(values) is None and arrow_text.recase(values, "lower") is None
        assert arrow_text.fill(values, "x") is None
    assert arrow_text.recase(pd.array(["a b"], dtype="str"), "title") is None


@PROPERTY
@given(df=frames(max_rows=20), strategy=st.sampled_from(["ffill", "bfill", "constant"]))
def test_fill_changes_is_count_changed(df: pd.DataFrame, strategy: str) -> None:
    constants = {"str": "z", "Int64": 7, "float64": -0.0, "boolean": True}
    for name in df.columns:
        column = df[name]
        after = getattr(column, strategy)() if strategy != "constant" else column.fillna(constants[str(column.dtype)])
        assert ops_fill.fill_changes(column, after) == ops_common.count_changed(column, after)


def test_fill_changes_counts_a_change_of_dtype_the_long_way() -> None:
    column = pd.Series([1, None, 3], dtype="Int64")
    after = pd.Series(["1", "x", "3"], dtype="str")
    assert ops_fill.fill_changes(column, after) == ops_common.count_changed(column, after) == 1


big_ints = st.one_of(st.none(), st.integers(-5, 5), st.integers(-(2**62), 2**62), st.sampled_from([2**53 + 1, -(2**63), 2**63 - 1]))


@PROPERTY
@given(values=st.lists(big_ints, max_size=15))
def test_integer_median_is_pandas_median(values: list) -> None:
    column = pd.Series(pd.array(values, dtype="Int64"))
    expected = column.median()
    got = ops_fill.fast_median(column)
    assert (got is None and pd.isna(expected)) or float(got) == float(expected)


def test_median_of_other_columns_is_pandas_median() -> None:
    column = pd.Series([1.5, np.nan, -2.0, 8.0])
    assert ops_fill.fast_median(column) == column.median()


int_cells = st.one_of(st.none(), st.integers(-3, 3), st.integers(-(2**40), 2**40))


@PROPERTY
@given(values=st.lists(int_cells, max_size=25), plain=st.booleans())
def test_repeats_is_duplicated_keep_false(values: list, plain: bool) -> None:
    if plain:
        column = pd.Series([0 if v is None else v for v in values], dtype="int64")
    else:
        column = pd.Series(pd.array(values, dtype="Int64"))
    found = fast_rows.repeats(column.array)
    if found is not None:
        np.testing.assert_array_equal(found, column.duplicated(keep=False).to_numpy())


def test_repeats_counts_dense_ids_and_leaves_wide_ones_to_pandas() -> None:
    ids = pd.Series(pd.array([5, 6, None, 5, None, 7], dtype="Int64"))
    np.testing.assert_array_equal(fast_rows.repeats(ids.array), [True, False, True, True, True, False])
    assert fast_rows.repeats(pd.array([0, 10**12], dtype="Int64")) is None
    assert fast_rows.repeats(pd.array([None, None], dtype="Int64")) is None
    assert fast_rows.repeats(pd.array([1.0, 1.0])) is None


@PROPERTY
@given(data=st.data(), keep=st.sampled_from(["first", "last", False]), keyed=st.sampled_from([1_000, 3, -1]))
def test_small_frames_duplicated_is_pandas_duplicated(data: st.DataObject, keep: object, keyed: int) -> None:
    if data.draw(st.booleans()):
        df = data.draw(frames(max_rows=25))
    else:
        df = odd_kinds(data.draw(st.integers(1, 25)), data.draw)
    names = data.draw(st.lists(st.sampled_from(list(df.columns)), min_size=1, unique=True))
    subset = None if data.draw(st.booleans()) else names
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(ops_rows, "KEYED_ROWS", keyed)
        got = ops_rows.duplicated(df, subset, keep)
    np.testing.assert_array_equal(got, df.duplicated(subset=subset, keep=keep).to_numpy())  # type: ignore[arg-type]


def test_row_keys_leave_object_columns_to_pandas() -> None:
    df = pd.DataFrame({"o": pd.Series([{"k": 1}, 2], dtype=object), "n": [1, 1]})
    assert fast_rows.row_keys(df, ["o", "n"], np.arange(2)) is None
    np.testing.assert_array_equal(ops_rows.duplicated(pd.DataFrame({"o": pd.Series(["a", "a"], dtype=object), "n": [1, 1]}), None, "first"), [False, True])


@PROPERTY
@given(df=frames(min_rows=0, max_rows=20), data=st.data())
def test_take_rows_on_a_small_frame_is_boolean_indexing(df: pd.DataFrame, data: st.DataObject) -> None:
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(df), max_size=len(df))), dtype=bool)
    df.index = pd.Index(np.arange(len(df)) * 3 + 1) if data.draw(st.booleans()) else df.index
    for keep in (mask, pd.Series(mask, index=df.index)):
        pd.testing.assert_frame_equal(ops_common.take_rows(df, keep), df[mask], check_index_type=True, check_column_type=True)


floats_with_gaps = st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=15)


@PROPERTY
@given(values=floats_with_gaps)
def test_float_to_float_cast_is_the_round_trip(values: list) -> None:
    column = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    assert_series_equal(ops_cast._to_float(column, None), column.astype("Float64").astype("float64"))


day_offsets = st.lists(st.one_of(st.none(), st.integers(-40_000, 40_000)), max_size=10)


@PROPERTY
@given(days=day_offsets, seconds=st.sampled_from([0, 0, 1, 3600]), unit=st.sampled_from(["s", "ms", "us", "ns"]), zone=st.booleans())
def test_cast_to_date_is_normalize(days: list, seconds: int, unit: str, zone: bool) -> None:
    stamps = [None if d is None else pd.Timestamp("2000-01-01") + pd.Timedelta(days=d, seconds=seconds * (d % 2)) for d in days]
    column = pd.Series(stamps, dtype=f"datetime64[{unit}]")
    if zone:
        column = column.dt.tz_localize("Europe/Paris", ambiguous="NaT", nonexistent="NaT")
    assert_series_equal(ops_cast._to_date(column, None), column.dt.normalize())
    bad = ops_common.as_mask(column.notna()) & ops_common.as_mask(column.dt.normalize().isna())
    np.testing.assert_array_equal(ops_cast.lost_values(column, column.dt.normalize()), bad.to_numpy())


def pandas_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fast path switched off: the steps as pandas computes them."""
    for name in ("trim", "recase", "fill"):
        monkeypatch.setattr(arrow_text, name, lambda *args: None)
    monkeypatch.setattr(fast_rows, "repeats", lambda values: None)
    monkeypatch.setattr(ops_rows, "KEYED_ROWS", -1)
    monkeypatch.setattr(ops_fill, "fast_median", lambda column: column.median())
    monkeypatch.setattr(ops_cast, "_all_midnights", lambda column: False)

    def counted(before: pd.Series, after: object) -> int:
        return ops_common.count_changed(before, after if isinstance(after, pd.Series) else pd.Series(after, index=before.index))

    monkeypatch.setattr(ops_fill, "fill_changes", counted)

    def taken(df: pd.DataFrame, keep: object) -> pd.DataFrame:
        return df[keep]

    for module in (ops_common, ops_rows):
        monkeypatch.setattr(module, "take_rows", taken)


STEPS = [
    {"op": "drop_duplicates"},
    {"op": "drop_duplicates", "keep": "last"},
    {"op": "drop_duplicates", "keep": "none"},
    {"op": "fill_missing", "strategy": "median"},
    {"op": "fill_missing", "strategy": "mean"},
    {"op": "fill_missing", "strategy": "mode"},
    {"op": "fill_missing", "strategy": "ffill"},
    {"op": "fill_missing", "strategy": "bfill"},
    {"op": "fill_missing", "strategy": "constant", "value": "unknown"},
    {"op": "fill_missing", "strategy": "constant", "value": 3},
    {"op": "trim_whitespace"},
    {"op": "change_case", "case": "lower"},
    {"op": "change_case", "case": "upper"},
    {"op": "change_case", "case": "title"},
    {"op": "filter_rows", "column": None, "operator": "not_null"},
]


def runnable(df: pd.DataFrame, steps: list[dict]) -> list[dict]:
    chosen = []
    for step in steps:
        step = dict(step)
        if step.get("column", "") is None:
            step["column"] = str(df.columns[0])
        if step["op"] in ("trim_whitespace", "change_case"):
            step["columns"] = [n for n in df.columns if str(df[n].dtype) == "str"] or None
            if step["columns"] is None:
                continue
        chosen.append(step)
    return chosen


def run_or_error(df: pd.DataFrame, steps: list[dict], formats: dict[str, str]) -> tuple | StepError:
    try:
        return engine.run(df, {"steps": steps}, formats=formats)
    except StepError as error:
        return error


DATE_STEPS = [
    {"op": "cast", "columns": {"t": "date"}},
    {"op": "cast", "columns": {"t": "string"}},
    {"op": "fill_missing", "columns": ["t"], "strategy": "constant", "value": "2024-01-01"},
]


@PROPERTY
@given(df=frames(max_rows=25), steps=st.lists(st.sampled_from(STEPS + DATE_STEPS), min_size=1, max_size=5), data=st.data())
def test_steps_give_the_pandas_paths_answers(df: pd.DataFrame, steps: list[dict], data: st.DataObject) -> None:
    days = data.draw(st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=len(df), max_size=len(df)))
    hour = data.draw(st.sampled_from([0, 5]))
    df["t"] = pd.Series([None if d is None else pd.Timestamp(2024, 1, 1 + d, d % 2 * hour) for d in days], dtype="datetime64[us]")
    steps = runnable(df, steps)
    formats = {"t": "%Y-%m-%d"}
    fast = run_or_error(df, steps, formats)
    with pytest.MonkeyPatch.context() as patched:
        pandas_paths(patched)
        patched.setattr(dates, "KEEP_TYPES_AND_NAMES", frozenset())
        slow = run_or_error(df, steps, formats)
    if isinstance(fast, StepError) or isinstance(slow, StepError):
        # A config the data do not allow (e.g. a cast to date after a text fill): both paths refuse it alike.
        assert str(fast) == str(slow)
        return
    (fast_out, fast_report), (slow_out, slow_report) = fast, slow
    pd.testing.assert_frame_equal(fast_out, slow_out, check_index_type=True)
    assert fast_report.to_dict() == slow_report.to_dict()


DTYPES = [
    "bool", "int8", "int64", "uint16", "uint64", "float16", "float32", "float64", "datetime64[ns]", "datetime64[s]",
    "timedelta64[ns]", "object", "complex128", "str", "string[pyarrow]", "string[python]", "Int8", "Int64", "UInt32",
    "Float32", "Float64", "boolean", "category", "datetime64[us, UTC]", "period[D]", "interval[int64]",
    "int64[pyarrow]", "bool[pyarrow]", "double[pyarrow]", "timestamp[us][pyarrow]", "Sparse[int64]", "Sparse[bool]",
]


@pytest.mark.parametrize("name", DTYPES)
def test_dtype_look_up_is_pandas_answer(name: str) -> None:
    from worker.cleaning import kinds

    dtype = pd.Series([], dtype=name).dtype
    assert kinds.dtype_kind(dtype) == kinds._pandas_kind(dtype)
    assert kinds.type_name(pd.Series([], dtype=name)) == kinds._pandas_kind(dtype)


def test_fill_changes_of_a_float64_array_with_nan_values_is_count_changed() -> None:
    column = pd.Series(pd.array([1.0, None, 0.0], dtype="Float64"))
    column = column / column  # 0/0: a NaN that is a value, not a missing cell
    after = column.fillna(2.0)
    assert ops_fill.fill_changes(column, after) == ops_common.count_changed(column, after) == 2
