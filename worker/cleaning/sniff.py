"""Guess an upload's encoding, delimiter and header from its first bytes, and preview rows (stdlib only).

The web process uses this on uploads, so nothing here may import pandas.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .errors import ReadError

SAMPLE_SIZE = 64 * 1024
# csv's default cap is 128 KiB per field; real files carry bigger cells (pandas reads them), so
# every csv.reader of the console (sniff, previews, neutralised downloads) takes up to this.
FIELD_LIMIT = 256 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)
DELIMITERS = (",", ";", "\t", "|")
NOT_TEXT = "the file is not valid UTF-8, Windows-1252 or latin-1 text; it looks like binary data, not a CSV"
_MAGIC = (
    (b"\x1f\x8b", "the file looks like gzip-compressed data, not a CSV; unpack it first"),
    (b"PK\x03\x04", "the file looks like a zip archive (an .xlsx workbook is one), not a CSV"),
    (b"PK\x05\x06", "the file looks like an empty zip archive, not a CSV"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "the file looks like an Excel .xls workbook or another Office file, not a CSV",
    ),
    (b"%PDF-", "the file looks like a PDF document, not a CSV"),
    (b"\x89PNG\r\n\x1a\n", "the file looks like a PNG image, not a CSV"),
    (b"\xff\xd8\xff", "the file looks like a JPEG image, not a CSV"),
    (b"\xfd7zXZ\x00", "the file looks like xz-compressed data, not a CSV; unpack it first"),
    (b"7z\xbc\xaf\x27\x1c", "the file looks like a 7-Zip archive, not a CSV"),
    (b"SQLite format 3\x00", "the file looks like an SQLite database, not a CSV"),
    (b"\xff\xfe\x00\x00", "the file looks like UTF-32 text; save it as UTF-8"),
)
# C0 controls other than tab, newlines, form feed and the DOS end-of-file mark.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
_CONTROL_BYTES = bytes(byte for byte in range(128) if _CONTROL.match(chr(byte)))
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")


@dataclass(frozen=True)
class Sniffed:
    encoding: str
    delimiter: str
    columns: list[str]


def sniff(sample: bytes) -> Sniffed:
    """Read the first bytes of an upload; raise ReadError when it is empty or not text."""
    encoding = detect_encoding(sample)
    text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    delimiter = detect_delimiter(text)
    header = next((r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False) if r), [])
    return Sniffed(encoding=encoding, delimiter=delimiter, columns=header)


def detect_encoding(sample: bytes) -> str:
    """One of utf-8, utf-8-sig, utf-16, cp1252, latin-1 (tried in that order, BOM first)."""
    if not sample:
        raise ReadError("the file is empty")
    for magic, message in _MAGIC:
        if sample.startswith(magic):
            raise ReadError(message)
    if sample.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in sample:
        raise ReadError(_nul_message(sample))
    else:
        encoding = _first_that_decodes(sample)
    _check_text(codecs.getincrementaldecoder(encoding)().decode(sample, final=False))
    return encoding


def detect_delimiter(text: str) -> str:
    """The candidate that splits the header into most-consistent rows of 2+ fields; "," if none does."""
    best, best_score = ",", 0.0
    for delimiter in DELIMITERS:
        score = _consistency(text, delimiter)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def iter_rows(
    chunks: Iterable[bytes], *, encoding: str, delimiter: str, limit: int
) -> tuple[list[str], list[list[str | None]]]:
    """Header and the first ``limit`` rows of a byte stream, decoded incrementally.

    Quoted newlines stay inside their field; an empty field becomes None; a short
    row is padded with None to the header's width. Stops reading once it has enough.
    """
    records = csv.reader(text_lines(chunks, encoding), delimiter=delimiter, strict=False)
    rows: list[list[str | None]] = []
    try:
        header = next((r for r in records if r), None)
        if header is None:
            raise ReadError("the file is empty")
        for record in records if limit > 0 else iter(()):
            if record:
                cells: list[str | None] = [v if v != "" else None for v in record]
                rows.append(cells + [None] * (len(header) - len(cells)))
                if len(rows) >= limit:
                    break
    except UnicodeDecodeError as exc:
        raise ReadError(f"the file is not valid {encoding} text (byte {exc.start} of a chunk)") from exc
    except csv.Error as exc:
        raise ReadError(f"the file is not a readable CSV: {exc}") from exc
    return header, rows


def head_text(chunks: Iterable[bytes], *, encoding: str, delimiter: str, limit: int) -> str:
    """The text of the header and the first ``limit`` records (quoted newlines and all), decoded
    incrementally; no chunk past the one holding the last of those records is read."""
    taken: list[str] = []

    def tap() -> Iterator[str]:
        for line in text_lines(chunks, encoding):
            taken.append(line)
            yield line

    seen = 0
    try:
        for record in csv.reader(tap(), delimiter=delimiter, strict=False):
            seen += bool(record)
            if seen > limit:  # the header plus ``limit`` rows
                break
    except UnicodeDecodeError as exc:
        raise ReadError(f"the file is not valid {encoding} text (byte {exc.start} of a chunk)") from exc
    except csv.Error as exc:
        raise ReadError(f"the file is not a readable CSV: {exc}") from exc
    return "".join(taken)


def text_lines(chunks: Iterable[bytes], encoding: str) -> Iterator[str]:
    """Lines with their endings, split only on \\r, \\n and \\r\\n (as the csv module expects)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        # A trailing \r may be the first half of a \r\n split across chunks.
        end = len(pending) - 1 if pending.endswith("\r") else len(pending)
        cut = max(pending.rfind("\n", 0, end), pending.rfind("\r", 0, end)) + 1
        yield from _LINE.findall(pending, 0, cut)
        pending = pending[cut:]
    pending += decoder.decode(b"", final=True)
    yield from _LINE.findall(pending)
    tail = _LINE.sub("", pending)
    if tail:
        yield tail


def _first_that_decodes(sample: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def _check_text(text: str) -> None:
    if not text.strip():
        raise ReadError("the file is empty")
    controls = control_count(text)
    if "\x00" in text or controls > max(1, len(text) // 100):
        raise ReadError(NOT_TEXT)


def control_count(text: str) -> int:
    """How many characters of ``text`` _CONTROL matches (its findall's length, ~5x faster)."""
    # In UTF-8 each of these characters is one byte below 0x80 that no other character uses:
    # deleting them from the bytes counts them in one pass.
    encoded = text.encode("utf-8", "surrogatepass")
    return len(encoded) - len(encoded.translate(None, _CONTROL_BYTES))


def _nul_message(sample: bytes) -> str:
    even, odd = sample[0::2], sample[1::2]
    if even.count(0) > len(even) * 0.4 or odd.count(0) > len(odd) * 0.4:
        return "the file looks like UTF-16 text without a byte order mark; save it as UTF-8"
    return NOT_TEXT


def _consistency(text: str, delimiter: str) -> float:
    try:
        # Only the first 50 rows count: parse no further than them (once per candidate).
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        records = list(itertools.islice(filter(None, rows), 50))
    except csv.Error:
        return 0.0
    if len(records) > 2 and not text.endswith(("\n", "\r")):
        records.pop()  # the sample may have cut the last row short
    if not records or len(records[0]) < 2:
        return 0.0
    width = len(records[0])
    return sum(len(r) == width for r in records) / len(records)
