"""Write a frame as a one-sheet xlsx, fast: the sheet is made column-wise (worker.xlsx_cells, which
holds the cell rules) and streamed into a minimal package.

The package holds only the parts Excel needs: ``[Content_Types].xml``, ``_rels/.rels``,
``xl/workbook.xml``, ``xl/_rels/workbook.xml.rels``, ``xl/styles.xml`` (General, a date and
a date-time number format) and ``xl/worksheets/sheet1.xml``: the header row, then a block of
rows at a time, each block's XML made as one buffer and deflated (by zlib-ng when installed)
in a thread while the next block is made. Memory stays at a few blocks (~16 MB of XML each)
whatever the row count: about 2-3 s per million rows of 12 columns, where the row-by-row
xlsxwriter writer this replaced took ~50 s. At most 1,048,575 rows (more is a ValueError);
columns past Excel's 16,384 are left out and counted.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from worker.xlsx_cells import EXACT, MAX_TEXT, Counts, column_cells, header_row, join_rows, row_numbers

__all__ = ["EXACT", "MAX_COLUMNS", "MAX_ROWS", "MAX_TEXT", "Counts", "write"]

try:  # zlib-ng writes the same deflate format 2-3x faster
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - the stdlib's zlib, slower
    _zlib = zlib
_STDLIB_COMPRESSOR = type(zlib.compressobj())

MAX_ROWS = 1_048_575  # a sheet's 1,048,576 rows less the header
MAX_COLUMNS = 16_384
LEVEL = 2  # deflate level: zlib-ng at 2 deflates faster than the XML is made, ~25 % smaller than at 1
BLOCK_BYTES = 16 << 20  # rough XML size of a block of rows
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 64, 65_536

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def write(df: pd.DataFrame, path: Path | str, *, sheet: str = "cleaned", level: int = LEVEL) -> Counts:
    """Write ``df`` (at most MAX_ROWS rows) to ``path`` as an xlsx of one sheet named ``sheet``."""
    if len(df) > MAX_ROWS:
        raise ValueError(f"{len(df):,} rows do not fit in an Excel sheet ({MAX_ROWS:,} under the header)")
    counts = Counts(columns_left_out=max(0, len(df.columns) - MAX_COLUMNS))
    columns = [df.iloc[:, i] for i in range(min(len(df.columns), MAX_COLUMNS))]
    names = [str(name) for name in df.columns[: len(columns)]]
    text_bytes = _text_bytes(columns)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as book:
        for name, text in _package_parts(sheet).items():
            book.writestr(name, text)
        zip64 = _may_pass_2gb(len(df) * len(columns), text_bytes)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=zip64) as handle:
            use_zlib_ng(handle, level)
            _write_sheet(names, columns, len(df), handle, counts, _block_rows(len(df), len(columns), text_bytes))
    return counts


def use_zlib_ng(handle: IO[bytes], level: int) -> bool:
    """Have a zip entry opened for writing deflate with zlib-ng (2-3x faster than the stdlib's zlib, the
    same format). zipfile has no option for it: this swaps its entry's compressor, and where that
    cannot be done the entry deflates with the stdlib, as zipfile does. Says whether it was swapped."""
    if _zlib is zlib or not isinstance(getattr(handle, "_compressor", None), _STDLIB_COMPRESSOR):
        return False
    handle._compressor = _zlib.compressobj(level, _zlib.DEFLATED, -15)  # type: ignore[attr-defined]
    return True


# The sheet ------------------------------------------------------------------------------------------


def _write_sheet(
    names: list[str], series: list[pd.Series], rows: int, out: IO[bytes], counts: Counts, step: int
) -> None:
    letters = [column_letter(i) for i in range(len(names))]
    dimension = f"A1:{letters[-1]}{rows + 1}" if letters else "A1"
    out.write(
        f'{XML_HEAD}<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}"><dimension ref="{dimension}"/>'
        '<sheetViews><sheetView workbookViewId="0"/></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
        "<sheetData>".encode()
    )
    if letters:
        out.write(header_row(names, letters, counts).encode())
        blocks = _blocks(series, letters, rows, counts, step)
        if rows <= step:
            for block in blocks:
                out.write(block)
        else:  # zlib releases the GIL: a thread deflates each block while the next one is made
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx") as pool:
                pending: Future[int] | None = None
                for block in blocks:
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(out.write, block)
                if pending is not None:
                    pending.result()
    out.write(
        b'</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        b"</worksheet>"
    )


def _blocks(series: list[pd.Series], letters: list[str], rows: int, counts: Counts, step: int) -> Iterator[memoryview]:
    """The XML of the data rows, ``step`` rows at a time."""
    columns = [column_cells(column, letter) for column, letter in zip(series, letters, strict=True)]
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        numbers = row_numbers(start, stop)
        yield join_rows(numbers, [column(start, stop, numbers, counts) for column in columns])


def _text_bytes(columns: list[pd.Series]) -> int:
    """Bytes of text in the text-like columns (numbers, booleans and dates count per cell)."""
    return sum(
        int(column.memory_usage(index=False, deep=True))
        for column in columns
        if not isinstance(column.dtype, np.dtype) or column.dtype == object
    )


def _block_rows(rows: int, columns: int, text_bytes: int) -> int:
    """Rows per block so that a block's XML is about BLOCK_BYTES."""
    per_row = 60 * max(columns, 1) + text_bytes / max(rows, 1)
    return int(min(MAX_BLOCK_ROWS, max(MIN_BLOCK_ROWS, BLOCK_BYTES // per_row)))


def _may_pass_2gb(cells: int, text_bytes: int) -> bool:
    """Whether the sheet's XML could pass zipfile's 2 GiB limit for an entry of unknown size (then it is
    written with ZIP64 sizes): a generous bound of 100 bytes a cell plus 7 times the text (``_x0001_``)."""
    return 100 * cells + 7 * text_bytes > (1 << 31) - (64 << 20)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# The other parts of the package -----------------------------------------------------------------------


def _package_parts(sheet: str) -> dict[str, str]:
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    name = _attribute(sheet)
    return {
        "[Content_Types].xml": (
            f'{XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{sheet_type}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{sheet_type}.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{sheet_type}.styles+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'{XML_HEAD}<Relationships xmlns="{NS_PKG}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'{XML_HEAD}<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
            '<bookViews><workbookView activeTab="0"/></bookViews>'
            f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets>'
            "</workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{XML_HEAD}<Relationships xmlns="{NS_PKG}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": (
            f'{XML_HEAD}<styleSheet xmlns="{NS_MAIN}">'
            '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
            '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            # cellXfs 1 and 2 are xlsx_cells.DATE_STYLE and DATETIME_STYLE
            '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
            '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
            'defaultPivotStyle="PivotStyleLight16"/></styleSheet>'
        ),
    }


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
