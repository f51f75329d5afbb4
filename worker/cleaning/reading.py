"""Read an uploaded CSV into a DataFrame with inferred column types, or raise ReadError.

Everything is read as text first (an empty field or one of pandas' default NA
tokens is missing), then each column gets the narrowest type that holds every
value: boolean, integer (nullable ``Int64``, so gaps never turn 3 into 3.0),
float, ISO datetime, else text. A numeric-looking column with leading zeros
("007", zip codes) stays text. Duplicate header names get pandas' ``.1`` suffix.
A row longer than the header is a ReadError; a shorter one is padded with missing.
Plain files are parsed by pyarrow (see arrow_csv), others by pandas, with one result;
types are decided with pyarrow's kernels on the text, never through Python objects: for
the common columns by one cast of the text as read and a look through its bytes
(_shortcut), else by the trimmed text and regular expressions (the long path, which
stays the reference: both give one answer, however far down the deciding value lies).
A file pyarrow parses is typed from its columns as read (_typed_arrays): a Series is made
only for each column's result, as _typed_columns would make it from text_columns' Series.
"""

from __future__ import annotations

import codecs
import io
import itertools
import os
import re
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import arrow_csv, dates
from .arrow_bytes import Bytes
from .errors import ReadError
from .progress import OnProgress
from .sniff import NOT_TEXT, SAMPLE_SIZE, head_text, sniff
from .text_kernels import (
    HEAD,
    LEADING_ZERO,
    all_true,
    any_leading_zero,
    cast_or_none,
    has_foreign_byte,
    head_casts,
    leading_zero,
    try_cast,
)
from .vocab import TYPES

_CHUNK = 1 << 20
_PARALLEL_ROWS = 50_000
_THREADS = max(1, min(4, os.cpu_count() or 1))
_INTEGER = r"[+-]?\d+"
_FLOAT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_DATETIME = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
_DATE = r"\d{4}-\d{2}-\d{2}"
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False}
_TOO_MANY = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass(frozen=True)
class ReadResult:
    """The typed frame; ``formats``: the datetime columns' formats as read (see dates.py)."""

    frame: pd.DataFrame
    encoding: str
    delimiter: str
    types: dict[str, str]
    formats: dict[str, str] = field(default_factory=dict)


def read_csv(path: str | Path, *, on_progress: OnProgress | None = None) -> ReadResult:
    """Sniff, decode (the whole file is checked against the encoding guessed from its head,
    falling back from UTF-8 to Windows-1252 to latin-1), parse and type the file.

    ``on_progress(phase, done, total)``: ``check`` and ``parse`` in bytes, ``type`` in columns
    (see progress.py); it may be called from pyarrow's reader thread.
    Raises ReadError with a sentence a person understands when it is not a CSV.
    """
    path = Path(path)
    with path.open("rb") as handle:
        sniffed = sniff(handle.read(SAMPLE_SIZE))
    if sniffed.encoding == "utf-8":
        # pyarrow checks every field is valid UTF-8 as it parses: when it reads the file, that is the check.
        fast = arrow_csv.text_arrays(path, sniffed.delimiter, "utf-8", on_progress=on_progress)
        if fast is not None:
            return _typed_arrays(*fast, sniffed.delimiter, on_progress)
    encoding = confirm_encoding(path, sniffed.encoding, on_progress)
    frame = _read_text(path, sniffed.delimiter, encoding, on_progress, arrow=encoding != "utf-8")
    return _typed(frame, encoding, sniffed.delimiter, None, on_progress)


def read_head(
    chunks: Iterable[bytes], *, encoding: str, delimiter: str, limit: int, types: dict[str, str] | None = None
) -> ReadResult:
    """The first ``limit`` rows of a CSV given as byte chunks, reading no chunk past them.

    Parsed as read_csv parses a whole file; each column takes its type from ``types``
    (the whole file's, when known) or, without one, from the rows read.
    """
    text = head_text(chunks, encoding=encoding, delimiter=delimiter, limit=limit)
    return _typed(_read_text(io.StringIO(text), delimiter, None), encoding, delimiter, types)


def infer_column(column: pd.Series) -> tuple[pd.Series, str]:
    """The column converted to the narrowest type that holds all its values, and that type's name."""
    converted, kind, _ = _infer(column)
    return converted, kind


_FIND_FORMAT = "find"  # the datetime format is not known yet: dates.read_format decides


def _infer(column: pd.Series, *, shortcut: bool = True) -> tuple[pd.Series, str, str | None]:
    """infer_column, plus the datetime format when inferring it proved it (else _FIND_FORMAT).
    ``shortcut=False``: the caller has tried _shortcut already (it answered None)."""
    raw = _text_array(column)
    if (raw is not None and raw.null_count == len(raw)) or (raw is None and not column.notna().any()):
        return column, "text", None
    short = None if raw is None or not shortcut else _shortcut(column)
    if short is not None:
        return short
    # pyarrow's kernels (RE2 matching, casts) on the text itself: no copies through Python objects.
    stripped = pc.utf8_trim_whitespace(pa.array(column.array, type=pa.large_string()))
    lowered = pc.utf8_lower(stripped) if _all_match(stripped, "(?i)true|false|yes|no") else None
    # RE2's case folding is wider than lowering ("yeſ" matches): the lowered words decide.
    if lowered is not None and pc.all(pc.is_in(pc.drop_null(lowered), value_set=pa.array(list(_BOOLEANS)))).as_py():
        truth = pc.is_in(lowered, value_set=pa.array(["true", "yes"]))
        return _series(pc.if_else(pc.is_null(lowered), None, truth), column, "boolean"), "boolean", None
    quick = _quick_number(stripped, column)
    if quick is not None:
        return quick[0], quick[1], None
    numeric = _all_match(stripped, _FLOAT)
    if numeric and any_leading_zero(stripped):
        return column, "text", None
    if numeric and _all_match(stripped, _INTEGER):
        try:  # the cast refuses a leading "+" (then pandas decides) and anything past int64
            return _series(pc.cast(stripped, pa.int64()), column, "Int64"), "integer", None
        except pa.ArrowInvalid:
            numbers = pd.to_numeric(column.str.strip())
            if numbers.dtype.kind == "i":  # past int64 the values are identifiers: keep the text
                return numbers.astype("Int64"), "integer", None
            return column, "text", None
    if numeric:
        return _series(pc.cast(stripped, pa.float64()), column, "float64"), "float", None
    plain_dates = _all_match(stripped, _DATE)
    if plain_dates:
        try:  # plain dates, the common case, parse many times faster in pyarrow
            parsed = _series(pc.cast(stripped, pa.timestamp("us")), column, "datetime64[us]")
            # Every value is YYYY-MM-DD: that is the shape dates.read_format would find.
            return parsed, "datetime", dates.DATE_ISO
        except pa.ArrowInvalid:
            pass  # an impossible date: pandas decides (and refuses it)
    if plain_dates or _all_match(stripped, _DATETIME):
        try:
            return pd.to_datetime(column.str.strip(), format="ISO8601"), "datetime", _FIND_FORMAT
        except (ValueError, OverflowError):  # impossible dates, mixed time zones
            return column, "text", None
    return column, "text", None


_WORDS = pa.array(list(_BOOLEANS), pa.large_string())
_TRUE_AT = pa.array([i for i, word in enumerate(_BOOLEANS) if _BOOLEANS[word]], pa.int32())
_ANY_SHAPE = "^(?:" + "|".join(f"(?:{p})" for p in ("(?i:true|false|yes|no)", _FLOAT, _DATE, _DATETIME)) + ")$"


def _text_array(column: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """The column's values as pyarrow holds them, when it holds them as text (else None)."""
    if not (isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow"):
        return None
    raw = pa.array(column.array)
    if isinstance(raw, pa.ChunkedArray) and raw.num_chunks == 0:
        return None
    return raw if raw.type in (pa.large_string(), pa.string()) else None


def _shortcut(column: pd.Series) -> tuple[pd.Series, str, str | None] | None:
    """The long path's answer (below) for the common columns, from the text as read: no trimmed
    copy, no regular expression over the whole column; or None to let the long path decide.

    - text: some value of the first 1,000 (trimmed) matches none of the shapes the long path
      tries (boolean word, number, date, datetime), so it ends in text whatever follows: seen
      at once from an ASCII byte no shape holds, else once the tries below have all failed;
    - boolean: every value is exactly one of the lower-case words (the long path lowers and trims);
    - integer: pyarrow's cast to int64 takes only ``-?digits`` and ``0x`` hex, and rejects spaces:
      with no "x" in the column every value is ``-?digits``, which is an integer, or text when
      one has a leading zero; a head that casts with such a value is text at once (the long path
      makes text of any column holding a number with a leading zero: numbers or not, dates never);
    - float: the cast to float64 takes only a sign, digits, ".", an exponent, or inf/nan words:
      with no "n" in the column, some "." or "e", and no leading zero, every value matches _FLOAT;
    - date: every value 10 characters long that the cast to date32 takes is YYYY-MM-DD.
    """
    raw = _text_array(column)
    if raw is None:
        return None
    found = _typed_text(raw)
    if found is None:
        return None
    values, kind, fmt = found
    if values is None:
        return column, "text", None
    return _series(values, column, _DTYPES[kind]), kind, fmt


_DTYPES = {"boolean": "boolean", "integer": "Int64", "float": "float64", "datetime": "datetime64[us]"}
_AS_TEXT = None, "text", None


def _typed_text(raw: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | pa.ChunkedArray | None, str, str | None] | None:
    """_shortcut on the column's pyarrow text: (the typed values, or None for the text itself;
    the type's name; the datetime format), or None to let the long path decide."""
    head = pc.drop_null(raw[:HEAD])
    if len(head) == 0:
        return None
    # A value matching none of the shapes makes the column text: an ASCII byte no shape uses
    # (nor trimming removes) shows one at once; else, when no try below answers, one match of all
    # the shapes together. (A try answers only for a head whose values all match its one shape.)
    if has_foreign_byte(head):
        return _AS_TEXT
    # Each try below first looks at the head's first value alone (a cast that fails on many
    # values costs ~50 times one that fails on one): the head passes only if that value does.
    first = head[0].as_py()
    small = len(raw) <= HEAD  # the head is every present value
    if first in _BOOLEANS and (small or all_true(pc.is_in(head, value_set=_WORDS))):
        found = pc.index_in(raw, value_set=_WORDS)  # missing where the value is missing or no word
        if found.null_count == raw.null_count:
            truth = pc.is_in(found, value_set=_TRUE_AT)  # missing stays missing
            return pc.if_else(pc.is_null(found), None, truth), "boolean", None
        if not small:
            return None
        # else some value of the head is no word: the other tries go on
    if not small and head_casts(head, pa.int64()) and any_leading_zero(head):
        return _AS_TEXT  # digits with a leading zero: identifiers, whatever follows (see above)
    head_ok, ints = try_cast(raw, head, pa.int64())
    if head_ok:
        if ints is None or (chars := Bytes(raw)).has(b"xX"):
            return None
        if leading_zero(raw, chars):
            return _AS_TEXT
        return ints, "integer", None
    head_ok, floats = try_cast(raw, head, pa.float64())
    if head_ok:
        if floats is None or (chars := Bytes(raw)).has(b"nN") or not chars.has(b".eE") or leading_zero(raw, chars):
            return None
        return floats, "float", None
    lengths = pc.min_max(pc.binary_length(raw)).as_py() if len(first.encode("utf-8")) == 10 else {}
    head_ok, days = try_cast(raw, head, pa.date32()) if lengths.get("min") == lengths.get("max") == 10 else (False, None)
    if head_ok:
        if days is None:
            return None
        return pc.cast(days, pa.timestamp("us")), "datetime", dates.DATE_ISO
    return _text_or_none(head)


def _text_or_none(head: pa.Array | pa.ChunkedArray) -> tuple[None, str, None] | None:
    """Text when some value of the head matches none of the shapes, else None (the long path decides)."""
    if all_true(pc.match_substring_regex(pc.utf8_trim_whitespace(head), _ANY_SHAPE)):
        return None
    return _AS_TEXT


def _quick_number(stripped: pa.Array | pa.ChunkedArray, column: pd.Series) -> tuple[pd.Series, str] | None:
    """The answer of the regular-expression path below for the common numeric columns, from one
    cast and one match instead of four full matches, or None to let that path decide.

    Whatever pyarrow casts to int64 using only digits and signs matches _INTEGER; whatever it
    casts to float64 using only digits, signs, "." and exponents, with some "." or exponent in
    it, matches _FLOAT and not _INTEGER (all-integer text that int64 refused, e.g. past 2**63,
    goes the long way). A column with a leading zero anywhere also goes the long way.
    """
    if pc.all(pc.match_substring_regex(stripped[:1000], f"^(?:{_FLOAT})$")).as_py() is False:
        return None  # not a number column (the long way's first look says the same)
    ints = cast_or_none(stripped, pa.int64())
    if ints is not None:
        if pc.all(pc.equal(pc.cast(ints, pa.large_string()), stripped)).as_py() is not False:
            return _series(ints, column, "Int64"), "integer"  # every value is written as int64 writes it
        if pc.any(pc.match_substring_regex(stripped, "[^0-9+-]")).as_py():
            return None  # other characters ("0x1f" casts): the long way decides
        if any_leading_zero(stripped):
            return column, "text"  # digits with a leading zero somewhere: identifiers, as the long way says
        return _series(ints, column, "Int64"), "integer"
    if not pc.any(pc.match_substring_regex(stripped[:1000], "[.eE]")).as_py():
        if not pc.any(pc.match_substring_regex(stripped, "[.eE]")).as_py():
            return None
    floats = cast_or_none(stripped, pa.float64())
    if floats is None or pc.any(pc.match_substring_regex(stripped, f"[^0-9eE.+-]|{LEADING_ZERO}")).as_py():
        return None
    return _series(floats, column, "float64"), "float"


_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
_EXTENSION_TYPES = {"Int64": pd.Int64Dtype(), "boolean": pd.BooleanDtype()}


def _series(values: pa.Array | pa.ChunkedArray, like: pd.Series, dtype: str) -> pd.Series:
    """``values`` (int64, bool, float64 or timestamp) as a Series of ``dtype`` named and indexed as
    ``like``: the array pyarrow's to_pandas makes (_to_pandas_series), without its Series."""
    return _typed_series(values, like.index, like.name, dtype)


def _typed_series(values: pa.Array | pa.ChunkedArray, index: pd.Index, name: Any, dtype: str) -> pd.Series:
    extension = _EXTENSION_TYPES.get(dtype)
    if extension is not None:
        array = extension.__from_arrow__(values)
    else:
        array = values.to_numpy() if isinstance(values, pa.ChunkedArray) else values.to_numpy(zero_copy_only=False)
    converted = pd.Series(array, index=index, name=name, copy=False)
    assert str(converted.dtype) == dtype, converted.dtype
    return converted


def _to_pandas_series(values: pa.Array | pa.ChunkedArray, like: pd.Series, dtype: str) -> pd.Series:
    """The reference for _series: pyarrow's to_pandas."""
    converted = values.to_pandas(types_mapper=_PANDAS_TYPES.get)
    assert str(converted.dtype) == dtype, converted.dtype
    return pd.Series(converted.array, index=like.index, name=like.name)


def _typed(
    frame: pd.DataFrame,
    encoding: str,
    delimiter: str,
    wanted: dict[str, str] | None,
    on_progress: OnProgress | None = None,
) -> ReadResult:
    if len(frame.columns) == 0:
        return ReadResult(frame=frame, encoding=encoding, delimiter=delimiter, types={}, formats={})
    return _typed_columns(dict(frame.items()), encoding, delimiter, wanted, on_progress)


def _typed_columns(
    text: dict[Any, pd.Series],
    encoding: str,
    delimiter: str,
    wanted: dict[str, str] | None,
    on_progress: OnProgress | None = None,
) -> ReadResult:
    """The columns (as read, text, uniquely named, sharing one index) typed into one frame."""
    types: dict[str, str] = {}
    formats: dict[str, str] = {}
    columns = {}
    typed_count = itertools.count(1)

    def one(name: Any) -> tuple[pd.Series, str, str | None]:
        typed_column = type_column(text[name], (wanted or {}).get(str(name)))
        if on_progress is not None:
            on_progress("type", next(typed_count), len(text))
        return typed_column

    # Columns are typed independently; pyarrow's kernels release the GIL, so two threads use two cores.
    names = list(text)
    rows = len(text[names[0]])
    if rows >= _PARALLEL_ROWS and len(names) > 1:
        with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="typing") as pool:
            typed_columns = list(pool.map(one, names))
    else:
        typed_columns = [one(name) for name in names]
    for name, (column, kind, fmt) in zip(names, typed_columns, strict=True):
        columns[name], types[str(name)] = column, kind
        if fmt:
            formats[str(name)] = fmt
    typed = pd.DataFrame(columns, index=text[names[0]].index, copy=False)
    return ReadResult(frame=typed, encoding=encoding, delimiter=delimiter, types=types, formats=formats)


def _typed_arrays(
    header: list[str], arrays: list[pa.ChunkedArray], delimiter: str, on_progress: OnProgress | None
) -> ReadResult:
    """_typed_columns (no types wanted) of a UTF-8 file's columns as pyarrow read them: each typed
    from its pyarrow text, a Series made only for the typed column (or the text kept)."""
    index = pd.RangeIndex(len(arrays[0]))
    typed_count = itertools.count(1)

    def one(at: int) -> tuple[pd.Series, str, str | None]:
        typed_column = _type_text_array(arrays[at], index, header[at])
        if on_progress is not None:
            on_progress("type", next(typed_count), len(arrays))
        return typed_column

    if len(index) >= _PARALLEL_ROWS:
        with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="typing") as pool:
            typed_columns = list(pool.map(one, range(len(arrays))))
    else:
        typed_columns = [one(at) for at in range(len(arrays))]
    columns = {name: column for name, (column, _, _) in zip(header, typed_columns, strict=True)}
    types = {str(name): kind for name, (_, kind, _) in zip(header, typed_columns, strict=True)}
    formats = {str(name): fmt for name, (_, _, fmt) in zip(header, typed_columns, strict=True) if fmt}
    typed = pd.DataFrame(columns, index=index, copy=False)
    return ReadResult(frame=typed, encoding="utf-8", delimiter=delimiter, types=types, formats=formats)


def _type_text_array(raw: pa.ChunkedArray, index: pd.Index, name: str) -> tuple[pd.Series, str, str | None]:
    """type_column of the Series of ``raw`` (as text_columns makes it), that Series made only when kept."""
    found = _typed_text(raw) if raw.null_count < len(raw) else _AS_TEXT
    if found is None:
        text = pd.Series(arrow_csv.TEXT.__from_arrow__(raw), index=index, name=name, copy=False)
        return type_column(text, shortcut=False)
    values, kind, fmt = found
    if values is not None:
        return _typed_series(values, index, name, _DTYPES[kind]), kind, fmt
    if raw.num_chunks > 1:  # as _one_chunk makes it
        return pd.Series(pd.array(raw.combine_chunks(), dtype=arrow_csv.TEXT), index=index, name=name), "text", None
    return pd.Series(arrow_csv.TEXT.__from_arrow__(raw), index=index, name=name, copy=False), "text", None


def type_column(raw: pd.Series, kind: str | None = None, *, shortcut: bool = True) -> tuple[pd.Series, str, str | None]:
    """A text column as read -> (typed column, its type name, its datetime format or None).
    ``shortcut=False``: the caller has tried _shortcut on it already (it answered None)."""
    column, kind, fmt = _as_type(raw, kind, shortcut=shortcut)
    column = _one_chunk(column) if kind == "text" else column
    if fmt == _FIND_FORMAT:
        fmt = dates.read_format(raw.dropna().str.strip())
    return column, kind, fmt


def _one_chunk(column: pd.Series) -> pd.Series:
    """A text column held as one pyarrow chunk: pandas' hashing and string methods run much faster on it."""
    if not (isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow"):
        return column
    values = pa.array(column.array)
    if not isinstance(values, pa.ChunkedArray) or values.num_chunks <= 1:
        return column
    return pd.Series(pd.array(values.combine_chunks(), dtype=column.dtype), index=column.index, name=column.name)


def _as_type(column: pd.Series, kind: str | None, *, shortcut: bool = True) -> tuple[pd.Series, str, str | None]:
    """The column as ``kind`` when given and its values allow it, else as inferred; with the
    datetime format when known (_FIND_FORMAT: to be found)."""
    inferred, inferred_kind, fmt = _infer(column, shortcut=shortcut)
    if kind is None or kind == inferred_kind or kind not in TYPES:
        return inferred, inferred_kind, fmt
    stripped = column.str.strip()
    try:
        if kind == "text":
            return column, kind, None
        if kind == "boolean":
            return stripped.str.lower().map(_BOOLEANS).astype("boolean"), kind, None
        if kind in ("integer", "float"):
            return pd.to_numeric(stripped).astype("Int64" if kind == "integer" else "float64"), kind, None
        return pd.to_datetime(stripped, format="ISO8601"), kind, _FIND_FORMAT
    except (ValueError, TypeError, OverflowError):
        return inferred, inferred_kind, fmt


def _all_match(values: pa.Array | pa.ChunkedArray, pattern: str) -> bool:
    """Whether every present value matches the whole pattern; a cheap look at the head first."""
    anchored = f"^(?:{pattern})$"
    head = pc.match_substring_regex(values[:1000], anchored)
    return bool(pc.all(head).as_py() is not False and pc.all(pc.match_substring_regex(values, anchored)).as_py())


def confirm_encoding(path: Path, guess: str, on_progress: OnProgress | None = None) -> str:
    """Decode the whole file with the guess (made from its head); fall back from UTF-8 if needed."""
    candidates = {"utf-8": ["utf-8", "cp1252", "latin-1"], "cp1252": ["cp1252", "latin-1"]}.get(guess, [guess])
    for encoding in candidates:
        failure = _decode_failure(path, encoding, on_progress)
        if failure is None:
            return encoding
    if guess in ("utf-8", "cp1252"):
        raise ReadError(NOT_TEXT)
    raise ReadError(f"the file starts like {guess} text but is not valid {guess}: {failure}")


def _decode_failure(path: Path, encoding: str, on_progress: OnProgress | None = None) -> str | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, size = 0, path.stat().st_size
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
                offset += len(chunk)
                if on_progress is not None and offset % (32 * _CHUNK) < _CHUNK:
                    on_progress("check", offset, size)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return f"{exc.reason} near byte {offset + exc.start:,}"
    return None


def _read_text(
    source: Path | io.StringIO,
    delimiter: str,
    encoding: str | None,
    on_progress: OnProgress | None = None,
    *,
    arrow: bool = True,
) -> pd.DataFrame:
    """The file as text columns: pyarrow's parse when it may (``arrow``, and see arrow_csv), else pandas'."""
    fast = None
    if arrow:
        data = source if isinstance(source, Path) else source.getvalue().encode("utf-8")
        fast = arrow_csv.read_text(data, delimiter, encoding or "utf-8", on_progress=on_progress)
    if fast is not None:
        return fast
    with warnings.catch_warnings():
        # pandas only warns when the first data row is longer than the header.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(source, sep=delimiter, encoding=encoding, dtype=str, index_col=False)
        except pd.errors.EmptyDataError as exc:
            raise ReadError("the file is empty: it has no header row") from exc
        except pd.errors.ParserWarning as exc:
            raise ReadError("the first row after the header has more fields than the header") from exc
        except pd.errors.ParserError as exc:
            raise ReadError(parser_message(exc)) from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise ReadError(f"the file is not a readable CSV: {exc}") from exc


def parser_message(exc: Exception) -> str:
    found = _TOO_MANY.search(str(exc))
    if found:
        expected, line, saw = found.groups()
        return f"line {line} has {saw} fields but the header has {expected}"
    return f"the file is not a readable CSV: {exc}"
