"""Read back the cells of a one-sheet xlsx written by worker.outputs (stdlib only, for tests)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

NS = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def xlsx_cells(path: Path) -> list[list[object]]:
    """Rows of cell values: text as str, numbers as float, booleans as bool, empty cells as None.

    Dates come back as Excel serial numbers with the cell's style index: ``("date", style, serial)``.
    """
    with zipfile.ZipFile(path) as book:
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iterfind(".//x:sheetData/x:row", NS):
        cells: dict[int, object] = {}
        for cell in row.iterfind("x:c", NS):
            cells[_column(cell.get("r", "A1"))] = _value(cell)
        rows.append([cells.get(i) for i in range(max(cells, default=-1) + 1)])
    return rows


def _column(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref).group()  # type: ignore[union-attr]
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number - 1


def _value(cell: ElementTree.Element) -> object:
    kind = cell.get("t")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iterfind(".//x:t", NS))
    value = cell.findtext("x:v", default=None, namespaces=NS)
    if kind == "b":
        return value == "1"
    if cell.get("s"):
        return ("date", cell.get("s"), float(value or 0))
    return None if value is None else float(value)
