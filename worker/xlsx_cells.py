"""The cells of an xlsx sheet, made column-wise with pyarrow's string kernels (no per-cell Python).

Each column of the frame becomes a function that makes the ``<c>`` elements of a block of rows
(an array, null where the value is missing, so no element is written); the rows of a block
are then joined into ``<row>`` lines in one buffer. The rules, those of the row-by-row
xlsxwriter writer this replaced:

- numbers typed; a non-finite number, or an integer beyond 2**53 (a double cannot hold it
  exactly), is written as text; floats are written in their shortest exact form (xlsxwriter
  wrote 16 significant digits);
- booleans typed (``t="b"``);
- dates and date-times as Excel serial numbers with a date style, or a date-time style unless
  every value of the column is at midnight; time zones dropped keeping the wall time; a value
  before 1900 (or after 9999) is outside Excel's calendar and is written as ISO text
  (xlsxwriter wrote 1900-01-01 as serial 0 and 1900-02-28 after midnight past Excel's
  phantom 1900-02-29; these are now right);
- text that looks like a formula is prefixed with ``'`` (cleaning.formulas) and counted;
  text longer than Excel's 32,767 characters (or UTF-16 units, which Excel counts) is cut
  and counted;
- text is stored as inline strings (``t="inlineStr"``): no shared-strings table to build,
  so rows stream; ``& < > "`` are escaped as entities. Characters XML 1.0 cannot carry
  (the C0 controls other than tab and line feed, and U+FFFE / U+FFFF) and the carriage
  return (which XML readers would turn into a line feed) are written the way Excel writes
  them, as ``_xHHHH_`` escapes, and text that already reads like such an escape has its
  underscore escaped (``_x005F_``): Excel and LibreOffice show every cell as it was, while
  readers that do not decode them (openpyxl) show the escape;
- anything else (object, category, timedelta, ... columns) is the text of ``str(value)``.

One regular expression finds the few text cells that any rule touches; only those are
worked on, some in Python (cuts, control characters), as they are rare.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

MAX_TEXT = 32_767
EXACT = 2**53  # Excel keeps numbers as doubles: larger integers are written as text
DATE_STYLE, DATETIME_STYLE = 1, 2  # indexes into styles.xml's cellXfs

_LARGE = pa.large_string()
_PRESERVE = ' xml:space="preserve"'
_EPOCH_US = int(np.datetime64("1899-12-31", "us").astype(np.int64))
_DAY_US = 86_400_000_000
_FIRST_US = int(np.datetime64("1900-01-01", "us").astype(np.int64))  # Excel's calendar: 1900-01-01 ...
_PAST_LAST_US = int(np.datetime64("10000-01-01", "us").astype(np.int64))  # ... to 9999-12-31

# RE2 (pyarrow) spellings of the rules; \p{Nd} is what Python's \d matches in str patterns.
_FORMULA_START = r"^[=+\-@\t\r]"  # cleaning.formulas.TRIGGERS
_PLAIN_NUMBER = r"^[+-]?(?:\p{Nd}+\.?\p{Nd}*|\.\p{Nd}+)(?:[eE][+-]?\p{Nd}+)?$"
_NOT_XML = r"[\x00-\x08\x0b-\x1f\x{fffe}\x{ffff}]|_x[0-9a-fA-F]{4}_"
_ENTITIES = r"[&<>\"]"
_EDGE_SPACE = r"^[\s\p{Z}\x{85}]|[\s\p{Z}\x{85}]$"
_ANY_RULE = "|".join((_FORMULA_START, _NOT_XML, _ENTITIES, _EDGE_SPACE))
_NOT_XML_PY = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_ESCAPE_LIKE_PY = re.compile(r"(_x[0-9a-fA-F]{4}_)")


@dataclass
class Counts:
    """What the writer had to change: cells neutralised, cells cut, columns left out."""

    neutralised: int = 0
    cut: int = 0
    columns_left_out: int = 0


# Rows -----------------------------------------------------------------------------------------------


def header_row(names: list[str], letters: list[str], counts: Counts) -> str:
    """Row 1: the column names, as text (so neutralised and cut like any text)."""
    texts, preserve = text_values(pa.array(names, _LARGE), counts)
    keep = [False] * len(letters) if preserve is None else preserve.to_pylist()
    cells = [
        f'<c r="{letter}1" t="inlineStr"><is><t{_PRESERVE if space else ""}>{text}</t></is></c>'
        for letter, text, space in zip(letters, texts.to_pylist(), keep, strict=True)
    ]
    return '<row r="1">' + "".join(cells) + "</row>"


def row_numbers(start: int, stop: int) -> pa.Array:
    """The sheet's row numbers (as text) of the frame's rows start..stop: the header is row 1."""
    return pc.cast(pa.array(np.arange(start + 2, stop + 2, dtype=np.int64)), _LARGE)


def join_rows(rows: pa.Array, cells: list[pa.Array]) -> memoryview:
    """``<row r="n">cells</row>`` per row, end to end in one buffer (a missing cell is left out)."""
    joined = pc.binary_join_element_wise(
        _s('<row r="'), rows, _s('">'), *cells, _s("</row>"), _s(""), null_handling="replace", null_replacement=""
    )
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=len(joined) + 1, offset=joined.offset * 8)
    data = joined.buffers()[2]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


# Columns: each is turned into a function (start, stop, row numbers, counts) -> cells of that block -----

BlockCells = Callable[[int, int, pa.Array, Counts], pa.Array]


def column_cells(column: pd.Series, letter: str) -> BlockCells:
    """How blocks of this (whole) column, in sheet column ``letter``, become cells."""
    dtype = column.dtype
    kind = getattr(dtype, "kind", "O")
    arrow_type = getattr(dtype, "pyarrow_dtype", None)  # pd.ArrowDtype
    if isinstance(dtype, pd.StringDtype) or (
        arrow_type is not None and (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))
    ):
        return _text_column(_arrow_strings(column), letter)
    if ptypes.is_bool_dtype(dtype):
        return _bool_column(column, letter)
    if ptypes.is_numeric_dtype(dtype) and kind in "iu":
        return _int_column(column, letter)
    if ptypes.is_numeric_dtype(dtype) and kind == "f":
        return _float_column(column, letter)
    if ptypes.is_datetime64_any_dtype(dtype):
        return _datetime_column(column, letter)
    if ptypes.is_numeric_dtype(dtype) and kind != "c":  # decimals and other numbers: as doubles
        return _float_column(column, letter)
    return _python_text_column(column, letter)  # object, category, timedelta, ...: str() of each value


def _arrow_strings(column: pd.Series) -> pa.Array:
    values = pa.array(column.array)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _text_column(values: pa.Array, letter: str) -> BlockCells:
    def cells(start: int, stop: int, rows: pa.Array, counts: Counts) -> pa.Array:
        texts, preserve = text_values(values.slice(start, stop - start).cast(_LARGE), counts)
        return _text_cells(letter, rows, texts, preserve)

    return cells


def _python_text_column(column: pd.Series, letter: str) -> BlockCells:
    def cells(start: int, stop: int, rows: pa.Array, counts: Counts) -> pa.Array:
        block = _python_values(column.iloc[start:stop])
        texts = pa.array([None if v is None else str(v) for v in block], _LARGE)
        escaped, preserve = text_values(texts, counts)
        return _text_cells(letter, rows, escaped, preserve)

    return cells


def _python_values(column: pd.Series) -> list[Any]:
    """Plain Python values of a block (None where missing), as the row-by-row writer saw them."""
    missing = column.isna().to_numpy()
    values = column.astype(object).tolist()
    return [None if gap else value for value, gap in zip(values, missing, strict=True)]


def _bool_column(column: pd.Series, letter: str) -> BlockCells:
    values = column.to_numpy(dtype=bool, na_value=False)
    missing = column.isna().to_numpy()

    def cells(start: int, stop: int, rows: pa.Array, counts: Counts) -> pa.Array:
        flags = pa.array(values[start:stop], mask=missing[start:stop])
        digits = pc.if_else(flags, _s("1"), _s("0"))
        return _join(_s(f'<c r="{letter}'), rows, _s('" t="b"><v>'), digits, _s("</v></c>"))

    return cells


def _int_column(column: pd.Series, letter: str) -> BlockCells:
    unsigned = getattr(column.dtype, "kind", "i") == "u"
    values = column.to_numpy(dtype=np.uint64 if unsigned else np.int64, na_value=0)
    missing = column.isna().to_numpy()

    def cells(start: int, stop: int, rows: pa.Array, counts: Counts) -> pa.Array:
        block, gaps = values[start:stop], missing[start:stop]
        digits = pc.cast(pa.array(block, mask=gaps), _LARGE)
        inexact = (block > EXACT) if unsigned else ((block > EXACT) | (block < -EXACT))
        return _number_cells(letter, rows, digits, inexact & ~gaps)

    return cells


def _float_column(column: pd.Series, letter: str) -> BlockCells:
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = column.isna().to_numpy()

    def cells(start: int, stop: int, rows: pa.Array, counts: Counts) -> pa.Array:
        block, gaps = values[start:stop], missing[start:stop]
        texts = pc.cast(pa.array(block, mask=gaps), _LARGE)  # the shortest exact form; inf, -inf, nan as Python
        return _number_cells(letter, rows, texts, ~np.isfinite(block) & ~gaps)

    return cells


def _datetime_column(column: pd.Series, letter: str) -> BlockCells:
    if column.dt.tz is not None:
        column = column.dt.tz_localize(None)  # Excel has no time zones: keep the wall time
    stamps = column.to_numpy()
    missing = np.isnat(stamps)
    present = stamps[~missing]
    midnight = bool((present.astype("datetime64[D]") == present).all())
    style = DATE_STYLE if midnight else DATETIME_STYLE
    micros = stamps.astype("datetime64[us]")  # Excel keeps no finer time than that (nor did datetime)

    def cells(start: int, stop: int, rows: pa.Array, counts: Counts) -> pa.Array:
        block, gaps = micros[start:stop], missing[start:stop]
        us = np.where(gaps, 0, block.view(np.int64))
        outside = ((us < _FIRST_US) | (us >= _PAST_LAST_US)) & ~gaps
        serials = pa.array(_excel_serials(us), mask=gaps)
        texts = pc.cast(serials, _LARGE)
        if outside.any():
            where = np.flatnonzero(outside)
            iso = np.array(texts.to_numpy(zero_copy_only=False), dtype=object)
            iso[where] = [_iso(value) for value in block[where]]
            texts = pa.array(iso, _LARGE)
        return _number_cells(letter, rows, texts, outside, style=style)

    return cells


def _excel_serials(micros: np.ndarray) -> np.ndarray:
    """Excel serial numbers (1900 system) of microseconds since 1970, computed as xlsxwriter computes
    them (days + (seconds + microseconds / 1e6) / 86400), with Excel's phantom 1900-02-29: serial 1 is
    1900-01-01, 59 is 1900-02-28 and 61 is 1900-03-01."""
    delta = micros - _EPOCH_US
    days, rest = np.divmod(delta, _DAY_US)
    seconds, fraction = np.divmod(rest, 1_000_000)
    serials = days.astype(np.float64) + (seconds.astype(np.float64) + fraction.astype(np.float64) / 1e6) / 86400
    return serials + (days >= 60)


def _iso(value: np.datetime64) -> str:
    """ISO text of a date-time Excel cannot hold, as datetime.isoformat(sep=" ") writes it."""
    stamp = value.astype(object)
    if hasattr(stamp, "isoformat"):
        return stamp.isoformat(sep=" ")
    fraction = int(value.astype(np.int64)) % 1_000_000
    return np.datetime_as_string(value, unit="us" if fraction else "s").replace("T", " ")


# Cells ----------------------------------------------------------------------------------------------


def _number_cells(letter: str, rows: pa.Array, texts: pa.Array, as_text: np.ndarray, style: int = 0) -> pa.Array:
    """Number cells, except where ``as_text``: those values go in as plain text (no formula check)."""
    attrs = f'" s="{style}"><v>' if style else '"><v>'
    if not as_text.any():
        return _join(_s(f'<c r="{letter}'), rows, _s(attrs), texts, _s("</v></c>"))
    text_mask = pa.array(as_text)
    numbers = pc.if_else(text_mask, pa.nulls(len(texts), _LARGE), texts)
    words = pc.if_else(text_mask, texts, pa.nulls(len(texts), _LARGE))
    number_cells = _join(_s(f'<c r="{letter}'), rows, _s(attrs), numbers, _s("</v></c>"))
    return pc.coalesce(number_cells, _text_cells(letter, rows, words, None))


def _text_cells(letter: str, rows: pa.Array, texts: pa.Array, preserve: pa.Array | None) -> pa.Array:
    """Inline-string cells of text that is already escaped."""
    plain = '" t="inlineStr"><is><t>'
    middle = _s(plain)
    if preserve is not None:
        middle = pc.if_else(preserve, _s(f'" t="inlineStr"><is><t{_PRESERVE}>'), middle)
    return _join(_s(f'<c r="{letter}'), rows, middle, texts, _s("</t></is></c>"))


def text_values(texts: pa.Array, counts: Counts) -> tuple[pa.Array, pa.Array | None]:
    """Text as the cells hold it: formulas neutralised and long text cut (both counted), then escaped.
    Returns the text and where its ends are white space (``xml:space="preserve"``; None: nowhere).

    One regular expression finds the cells that any rule may touch; only those are worked on."""
    touched = pc.fill_null(pc.match_substring_regex(texts, _ANY_RULE), False)
    # Only text of more than MAX_TEXT bytes can pass MAX_TEXT characters or UTF-16 units.
    touched = pc.or_(touched, pc.fill_null(pc.greater(pc.binary_length(texts), MAX_TEXT), False))
    if not pc.any(touched).as_py():
        return texts, None
    some, preserve = _apply_rules(pc.filter(texts, touched), counts)
    texts = pc.replace_with_mask(texts, touched, some)
    if not pc.any(preserve).as_py():
        return texts, None
    return texts, pc.replace_with_mask(pa.array(np.zeros(len(texts), dtype=bool)), touched, preserve)


def _apply_rules(texts: pa.Array, counts: Counts) -> tuple[pa.Array, pa.Array]:
    """Every rule, in order, on text that some rule touches."""
    starts = pc.fill_null(pc.match_substring_regex(texts, _FORMULA_START), False)
    if pc.any(starts).as_py():
        formulas = pc.and_(starts, pc.invert(pc.fill_null(pc.match_substring_regex(texts, _PLAIN_NUMBER), False)))
        found = int(pc.sum(formulas).as_py() or 0)
        if found:
            counts.neutralised += found
            texts = pc.if_else(formulas, _join(_s("'"), texts), texts)
    long = pc.fill_null(pc.greater(pc.binary_length(texts), MAX_TEXT), False).to_numpy(zero_copy_only=False)
    if long.any():  # decided in Python: Excel counts UTF-16 units, and such cells are few
        values = np.array(texts.to_numpy(zero_copy_only=False), dtype=object)
        for i in np.flatnonzero(long):
            cut = _cut(values[i])
            if cut is not None:
                values[i] = cut
                counts.cut += 1
        texts = pa.array(values, _LARGE)
    odd = pc.fill_null(pc.match_substring_regex(texts, _NOT_XML), False)
    if pc.any(odd).as_py():
        values = np.array(texts.to_numpy(zero_copy_only=False), dtype=object)
        for i in np.flatnonzero(odd.to_numpy(zero_copy_only=False)):
            values[i] = excel_escape(values[i])
        texts = pa.array(values, _LARGE)
    if pc.any(pc.fill_null(pc.match_substring_regex(texts, _ENTITIES), False)).as_py():
        for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
            texts = pc.replace_substring(texts, char, entity)
    return texts, pc.fill_null(pc.match_substring_regex(texts, _EDGE_SPACE), False)


def _cut(text: str) -> str | None:
    """The text cut to MAX_TEXT characters and to MAX_TEXT UTF-16 units (without splitting a pair),
    or None when it fits."""
    cut = text[:MAX_TEXT]
    if len(cut.encode("utf-16-le")) > 2 * MAX_TEXT:
        units = cut.encode("utf-16-le")[: 2 * MAX_TEXT]
        cut = units.decode("utf-16-le", errors="ignore")  # a half pair at the end is dropped
    return None if cut == text else cut


def excel_escape(text: str) -> str:
    """Characters XML 1.0 cannot carry (and CR) as Excel's ``_xHHHH_``; a literal ``_xHHHH_`` keeps
    its meaning by escaping its underscore (``_x005F_xHHHH_``)."""
    text = _ESCAPE_LIKE_PY.sub(r"_x005F\1", text)
    return _NOT_XML_PY.sub(lambda found: f"_x{ord(found.group()):04X}_", text)


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, _LARGE)


def _join(*parts: pa.Array | pa.Scalar) -> pa.Array:
    """Element-wise concatenation; null where any part is null (so a missing value makes no cell)."""
    return pc.binary_join_element_wise(*parts, _s(""))
