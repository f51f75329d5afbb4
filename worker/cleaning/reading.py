"""Read an uploaded CSV into a DataFrame with inferred column types, or raise ReadError.

Everything is read as text first (an empty field or one of pandas' default NA
tokens is missing), then each column gets the narrowest type that holds every
value: boolean, integer (nullable ``Int64``, so gaps never turn 3 into 3.0),
float, ISO datetime, else text. A numeric-looking column with leading zeros
("007", zip codes) stays text. Duplicate header names get pandas' ``.1`` suffix.
A row longer than the header is a ReadError; a shorter one is padded with missing.
"""

from __future__ import annotations

import codecs
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import ReadError
from .sniff import NOT_TEXT, SAMPLE_SIZE, sniff

_CHUNK = 1 << 20
_INTEGER = r"[+-]?\d+"
_FLOAT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_LEADING_ZERO = r"[+-]?0\d.*"
_DATETIME = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False}
_TOO_MANY = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass(frozen=True)
class ReadResult:
    frame: pd.DataFrame
    encoding: str
    delimiter: str
    types: dict[str, str]


def read_csv(path: str | Path) -> ReadResult:
    """Sniff, decode (the whole file is checked against the encoding guessed from its head,
    falling back from UTF-8 to Windows-1252 to latin-1), parse and type the file.

    Raises ReadError with a sentence a person understands when it is not a CSV.
    """
    path = Path(path)
    with path.open("rb") as handle:
        sniffed = sniff(handle.read(SAMPLE_SIZE))
    encoding = _confirm_encoding(path, sniffed.encoding)
    frame = _read_text(path, encoding, sniffed.delimiter)
    types: dict[str, str] = {}
    columns = {}
    for name in frame.columns:
        columns[name], types[str(name)] = infer_column(frame[name])
    typed = pd.DataFrame(columns, index=frame.index) if columns else frame
    return ReadResult(frame=typed, encoding=encoding, delimiter=sniffed.delimiter, types=types)


def infer_column(column: pd.Series) -> tuple[pd.Series, str]:
    """The column converted to the narrowest type that holds all its values, and that type's name."""
    values = column.dropna()
    if values.empty:
        return column, "text"
    stripped = values.str.strip()
    lowered = stripped.str.lower()
    if lowered.isin(_BOOLEANS.keys()).all():
        return lowered.map(_BOOLEANS).astype("boolean").reindex(column.index), "boolean"
    numeric = _all_match(stripped, _FLOAT)
    if numeric and stripped.str.fullmatch(_LEADING_ZERO).any():
        return column, "text"
    if numeric and _all_match(stripped, _INTEGER):
        numbers = pd.to_numeric(stripped)
        if numbers.dtype.kind == "i":  # past int64 the values are identifiers: keep the text
            return numbers.astype("Int64").reindex(column.index), "integer"
        return column, "text"
    if numeric:
        return pd.to_numeric(stripped).astype("float64").reindex(column.index), "float"
    if _all_match(stripped, _DATETIME):
        try:
            return pd.to_datetime(stripped, format="ISO8601").reindex(column.index), "datetime"
        except (ValueError, OverflowError):  # impossible dates, mixed time zones
            return column, "text"
    return column, "text"


def _all_match(values: pd.Series, pattern: str) -> bool:
    # A cheap look at the head first: most text columns fail there.
    return bool(values.iloc[:1000].str.fullmatch(pattern).all() and values.str.fullmatch(pattern).all())


def _confirm_encoding(path: Path, guess: str) -> str:
    """Decode the whole file with the guess (made from its head); fall back from UTF-8 if needed."""
    candidates = {"utf-8": ["utf-8", "cp1252", "latin-1"], "cp1252": ["cp1252", "latin-1"]}.get(guess, [guess])
    for encoding in candidates:
        failure = _decode_failure(path, encoding)
        if failure is None:
            return encoding
    if guess in ("utf-8", "cp1252"):
        raise ReadError(NOT_TEXT)
    raise ReadError(f"the file starts like {guess} text but is not valid {guess}: {failure}")


def _decode_failure(path: Path, encoding: str) -> str | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return f"{exc.reason} near byte {offset + exc.start:,}"
    return None


def _read_text(path: Path, encoding: str, delimiter: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        # pandas only warns when the first data row is longer than the header.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(path, sep=delimiter, encoding=encoding, dtype=str, index_col=False)
        except pd.errors.EmptyDataError as exc:
            raise ReadError("the file is empty: it has no header row") from exc
        except pd.errors.ParserWarning as exc:
            raise ReadError("the first row after the header has more fields than the header") from exc
        except pd.errors.ParserError as exc:
            raise ReadError(_parser_message(exc)) from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise ReadError(f"the file is not a readable CSV: {exc}") from exc


def _parser_message(exc: Exception) -> str:
    found = _TOO_MANY.search(str(exc))
    if found:
        expected, line, saw = found.groups()
        return f"line {line} has {saw} fields but the header has {expected}"
    return f"the file is not a readable CSV: {exc}"
