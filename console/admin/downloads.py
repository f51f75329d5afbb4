"""Files streamed out of the admin chunk by chunk; CSV cells a spreadsheet would run as formulas are defused.

The rule (OWASP's advice on CSV injection) is `worker.cleaning.formulas`, shared with the REST
API: a formula-looking cell gets a leading apostrophe, a plain number stays as it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from console.core import storage
from console.core.db import session_scope
from worker.cleaning.formulas import neutralize, neutralize_csv, write_record
from worker.cleaning.sniff import text_lines

FLUSH_CHARS = 256 * 1024


def file_chunks(file_id: int) -> Iterator[bytes]:
    """The stored file's bytes; the stream has a session of its own (the request's is closed by then)."""
    with session_scope() as session:
        yield from storage.iter_chunks(session=session, file_id=file_id)


def neutralized_csv(chunks: Iterable[bytes], encoding: str = "utf-8", delimiter: str = ",") -> Iterator[bytes]:
    """Any CSV (an upload in its own encoding and delimiter) as UTF-8, comma-separated, formula cells defused.

    Memory stays at about one chunk.
    """
    if delimiter == ",":
        yield from neutralize_csv(chunks, encoding)
        return
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for record in csv.reader(text_lines(chunks, encoding), delimiter=delimiter, strict=False):
        write_record(writer, out, [neutralize(cell) for cell in record])
        if out.tell() >= FLUSH_CHARS:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue().encode("utf-8")
