"""Neutralise cells that a spreadsheet would run as formulas (CSV injection); stdlib only, so the web can stream it.

Following OWASP's advice on CSV injection, a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading single quote, which spreadsheets show
as text. A plain number (``-3.5``, ``+1e3``) is left alone: it cannot hold a formula,
and quoting it would turn every negative number into text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .sniff import text_lines

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_FLUSH_CHARS = 64 * 1024


def looks_like_formula(cell: str) -> bool:
    return cell.startswith(TRIGGERS) and _NUMBER.fullmatch(cell) is None


def neutralize(cell: str) -> str:
    return "'" + cell if looks_like_formula(cell) else cell


def write_record(writer: Any, buffer: io.StringIO, cells: list[str]) -> None:
    """One comma-separated record into ``buffer`` as ``writer`` (csv, "\\n" line ends) writes it,
    except that a cell holding a carriage return is quoted too: csv leaves it bare, and a reader
    then ends the row there (the worker's CSV quotes it, see arrow_write)."""
    if not any("\r" in cell for cell in cells):
        writer.writerow(cells)
        return
    quoted = ('"' + cell.replace('"', '""') + '"' if any(ch in cell for ch in ',"\n\r') else cell for cell in cells)
    buffer.write(",".join(quoted) + "\n")


def neutralize_csv(chunks: Iterable[bytes], encoding: str = "utf-8") -> Iterator[bytes]:
    """The CSV in ``chunks`` (comma-separated, as the worker writes it) with every cell neutralised,
    re-encoded as UTF-8 with "\\n" line ends; one row at a time, so memory stays at one block."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in csv.reader(text_lines(chunks, encoding)):
        write_record(writer, buffer, [neutralize(cell) for cell in row])
        if buffer.tell() >= _FLUSH_CHARS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")
