"""File bytes in PostgreSQL, streamed in chunks both ways so no process holds a whole file.

A file is a `stored_files` row plus numbered `file_chunks`; each chunk is zlib-compressed
(level 1, by zlib-ng when installed) when that saves at least a tenth of it. Helpers flush and never commit: the caller's
transaction decides whether the file exists.

On PostgreSQL through psycopg2 the chunks go in by one `COPY ... FROM STDIN (FORMAT binary)`
per file, fed as they are compressed: raw bytes on the wire, where an INSERT sends bytea
hex-escaped (twice the bytes, plus the escaping). Reading fetches a few chunks per query,
one chunk first (a preview needs no more) and more per query as the reader keeps going.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, Select, Table, and_, delete, insert, select, text
from sqlalchemy.orm import Session, aliased

try:  # zlib-ng writes the same zlib format (any zlib reads it) 2-3x faster
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - the stdlib's zlib, slower
    import zlib  # type: ignore[no-redef]

from console.core.db import session_scope
from console.core.errors import NotFound, TooLarge
from console.core.models import FileChunk, StoredFile

DEFAULT_CHUNK_BYTES = 1024 * 1024
READ_BYTES = 256 * 1024
IN_FLIGHT = 8  # chunks being compressed ahead of the insert: bounds memory to a few chunks
READ_BATCH = 8  # chunks fetched per query at most when reading
COPY_READ_BYTES = 1024 * 1024


def store_stream(
    *,
    session: Session,
    filename: str,
    chunks: Iterable[bytes],
    content_type: str = "text/csv",
    max_bytes: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> StoredFile:
    """Store the bytes of `chunks` as one file; raise TooLarge past `max_bytes` (nothing is kept then)."""
    stored = StoredFile(filename=filename[:255], content_type=content_type)
    session.add(stored)
    session.flush()
    digest = hashlib.sha256()
    state = {"size": 0, "stored_size": 0, "seq": 0}

    def packed() -> Iterator[tuple[int, bytes, bool]]:
        # zlib releases the GIL: compressing the next chunks in threads overlaps with sending this one.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pack") as pool:
            in_flight: deque[Future[tuple[bytes, bool]]] = deque()
            for block in _rechunk(chunks, chunk_bytes):
                state["size"] += len(block)
                if max_bytes is not None and state["size"] > max_bytes:
                    raise TooLarge(f"the file is larger than the limit of {max_bytes:,} bytes")
                digest.update(block)
                in_flight.append(pool.submit(_pack, block))
                if len(in_flight) >= IN_FLIGHT:
                    yield _numbered(state, in_flight.popleft().result())
            while in_flight:
                yield _numbered(state, in_flight.popleft().result())

    copier = _copier(session)
    if copier is not None:
        session.execute(_WRITE_AS_YOU_GO)
        copier(stored.id, packed())
    else:
        for seq, data, compressed in packed():
            session.execute(insert(FileChunk).values(file_id=stored.id, seq=seq, compressed=compressed, data=data))
    stored.size, stored.stored_size, stored.chunk_count = state["size"], state["stored_size"], state["seq"]
    stored.sha256, stored.complete = digest.hexdigest(), True
    session.flush()
    return stored


def store_path(*, session: Session, path: Path, filename: str, content_type: str = "text/csv") -> StoredFile:
    with path.open("rb") as handle:
        return store_stream(session=session, filename=filename, chunks=iter_file(handle), content_type=content_type)


def store_small(
    *, session: Session, files: Sequence[tuple[str, str, bytes]], chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> list[int]:
    """Store files whose bytes are already in memory (small ones, such as a job's outputs: keep each to
    a chunk or so) in two statements whatever their number: one INSERT of their rows, one COPY of all
    their chunks. `files` are (filename, content type, bytes); returns the new files' ids in that order.
    The files are stored as store_stream() stores them (same chunks, compression, size and sha256)."""
    if not files:
        return []
    packed = [[_pack(data[at : at + chunk_bytes]) for at in range(0, len(data), chunk_bytes)] for *_, data in files]
    rows = [
        {
            "filename": filename[:255],
            "content_type": content_type,
            "size": len(data),
            "stored_size": sum(len(chunk) for chunk, _ in chunks),
            "sha256": hashlib.sha256(data).hexdigest(),
            "chunk_count": len(chunks),
            "complete": True,
        }
        for (filename, content_type, data), chunks in zip(files, packed, strict=True)
    ]
    ids = list(session.execute(_STORE_ROWS, rows).scalars())
    numbered = (
        (file_id, seq, data, compressed)
        for file_id, chunks in zip(ids, packed, strict=True)
        for seq, (data, compressed) in enumerate(chunks)
    )
    copier = _rows_copier(session)
    if copier is not None:
        copier(numbered)
    else:
        for file_id, seq, data, compressed in numbered:
            session.execute(insert(FileChunk).values(file_id=file_id, seq=seq, compressed=compressed, data=data))
    return ids


# store_small()'s INSERT, built once. Core, on the table: the ORM's bulk INSERT path costs more CPU than
# the statement itself here.
_FILES: Table = StoredFile.__table__  # type: ignore[assignment]
_STORE_ROWS = insert(_FILES).returning(_FILES.c.id, sort_by_parameter_order=True)


def iter_chunks(*, session: Session, file_id: int) -> Iterator[bytes]:
    """Yield the file's bytes chunk by chunk; memory holds at most a batch of (compressed) chunks."""
    stored = session.get(StoredFile, file_id)
    if stored is None or not stored.complete:
        raise NotFound(f"file {file_id} does not exist")
    yield from _chunks_from(session, file_id, stored.chunk_count, start=0)


def _chunks_from(session: Session, file_id: int, chunk_count: int, *, start: int) -> Iterator[bytes]:
    seq, batch = start, 1
    while seq < chunk_count:
        rows = session.execute(
            select(FileChunk.data, FileChunk.compressed)
            .where(FileChunk.file_id == file_id, FileChunk.seq >= seq, FileChunk.seq < seq + batch)
            .order_by(FileChunk.seq)
        ).all()
        for row in rows:
            yield _unpacked(row.data, row.compressed)
        seq += batch
        batch = min(batch * 2, READ_BATCH)


def _unpacked(data: bytes | memoryview, compressed: bool) -> bytes:
    return zlib.decompress(data) if compressed else bytes(data)


def copy_to_path(*, session: Session, file_id: int, path: Path) -> int:
    written = 0
    with path.open("wb") as handle:
        for block in iter_chunks(session=session, file_id=file_id):
            handle.write(block)
            written += len(block)
    return written


@dataclass(frozen=True)
class FileHead:
    """A stored file's summary and its first chunk, read with a query of the caller's (see head_columns)."""

    file_id: int
    complete: bool
    chunk_count: int
    first: bytes | memoryview | None
    first_compressed: bool | None


def head_columns(file_id: Any) -> tuple[tuple[ColumnElement[Any], ...], Callable[[Select[Any]], Select[Any]]]:
    """What a caller's query adds to read a FileHead of the file `file_id` (a column expression) with
    its own row: the columns (file id, complete, chunk count, first chunk's data and compressed flag),
    and a function adding their outer joins to the query. A file of one chunk (a small upload) then
    needs no query of its own to be read (copy_head_to_path)."""
    stored, first = aliased(StoredFile, name="head_file"), aliased(FileChunk, name="head_chunk")
    columns = (file_id, stored.complete, stored.chunk_count, first.data, first.compressed)

    def joined(query: Select[Any]) -> Select[Any]:
        return query.outerjoin(stored, stored.id == file_id).outerjoin(first, and_(first.file_id == stored.id, first.seq == 0))

    return columns, joined


def copy_head_to_path(*, session: Session, head: FileHead, path: Path) -> int:
    """copy_to_path() for a file whose head was read already: its other chunks (if any) are read here."""
    if not head.complete or (head.chunk_count > 0 and head.first is None):
        raise NotFound(f"file {head.file_id} does not exist")
    written = 0
    with path.open("wb") as handle:
        if head.chunk_count > 0:
            written += handle.write(_unpacked(head.first, bool(head.first_compressed)))  # type: ignore[arg-type]
        for block in _chunks_from(session, head.file_id, head.chunk_count, start=1):
            written += handle.write(block)
    return written


def delete_file(*, session: Session, file_id: int) -> None:
    session.execute(delete(FileChunk).where(FileChunk.file_id == file_id))
    session.execute(delete(StoredFile).where(StoredFile.id == file_id))


def iter_file(handle: BinaryIO, size: int = READ_BYTES) -> Iterator[bytes]:
    while block := handle.read(size):
        yield block


def _numbered(state: dict[str, int], packed: tuple[bytes, bool]) -> tuple[int, bytes, bool]:
    data, compressed = packed
    seq = state["seq"]
    state["seq"] += 1
    state["stored_size"] += len(data)
    return seq, data, compressed


# PostgreSQL's backend hands a large file's pages to the kernel as its buffers fill, and by default the
# kernel keeps them dirty until its own writeback (~30 s later) or the next checkpoint's fsync writes
# them all at once: a burst of hundreds of MB during which every other session's commit on that disk
# waits (a tiny commit: 108-113 ms at worst after a 450 MB file went in; one cause of the web's
# slowest job submissions). Asking the kernel to write them every 256 kB as they come kept that worst
# case under 10 ms, at the same storing speed. For this transaction only.
_WRITE_AS_YOU_GO = text("SET LOCAL backend_flush_after = '256kB'")

_COPY = "COPY file_chunks (file_id, seq, compressed, data) FROM STDIN WITH (FORMAT binary)"
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)


def _copier(session: Session) -> Callable[[int, Iterator[tuple[int, bytes, bool]]], None] | None:
    """A function sending numbered chunks by binary COPY on the session's own connection (its
    transaction), or None when the database or driver is not PostgreSQL through psycopg2."""
    copier = _rows_copier(session)
    return None if copier is None else lambda file_id, rows: copier((file_id, *row) for row in rows)


def _rows_copier(session: Session) -> Callable[[Iterator[tuple[int, int, bytes, bool]]], None] | None:
    """`_copier()` for (file id, seq, data, compressed) rows of any number of files: one COPY for them all."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg2":
        return None
    raw = connection.connection.dbapi_connection

    def copy_rows(rows: Iterator[tuple[int, int, bytes, bool]]) -> None:
        stream = _CopyStream(rows)
        with raw.cursor() as cursor:
            try:
                cursor.copy_expert(_COPY, stream, size=COPY_READ_BYTES)
            except Exception:
                if stream.error is not None:  # ours (TooLarge, a failed read), wrapped by psycopg2: raise it as it was
                    raise stream.error from None
                raise

    return copy_rows


class _CopyStream(io.RawIOBase):
    """The binary COPY stream of the chunks, produced as psycopg2 reads it."""

    def __init__(self, rows: Iterator[tuple[int, int, bytes, bool]]) -> None:
        self._rows = rows
        self._pending = [_COPY_HEADER]
        self._done = False
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            while not self._pending and not self._done:
                row = next(self._rows, None)
                if row is None:
                    self._pending.append(_COPY_TRAILER)
                    self._done = True
                else:
                    file_id, seq, data, compressed = row
                    self._pending.append(struct.pack("!hiiiii?i", 4, 4, file_id, 4, seq, 1, compressed, len(data)))
                    self._pending.append(data)
        except BaseException as exc:
            self.error = exc
            raise
        return self._pending.pop(0) if self._pending else b""


def _rechunk(chunks: Iterable[bytes], chunk_bytes: int) -> Iterator[bytes]:
    buffer = bytearray()
    for piece in chunks:
        buffer += piece
        while len(buffer) >= chunk_bytes:
            yield bytes(buffer[:chunk_bytes])
            del buffer[:chunk_bytes]
    if buffer:
        yield bytes(buffer)


def _pack(block: bytes) -> tuple[bytes, bool]:
    packed = zlib.compress(block, level=1)
    if len(packed) <= len(block) * 0.9:
        return packed, True
    return block, False


def stream_file(file_id: int) -> Iterator[bytes]:
    """The file's bytes for a streamed response: opens its own session, since the request's is gone by then."""
    with session_scope() as session:
        yield from iter_chunks(session=session, file_id=file_id)
