"""File bytes in PostgreSQL, streamed in chunks both ways so no process holds a whole file.

A file is a `stored_files` row plus numbered `file_chunks`; each chunk is zlib-compressed
when that saves at least a tenth of it. Helpers flush and never commit: the caller's
transaction decides whether the file exists.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from console.core.db import session_scope
from console.core.errors import NotFound, TooLarge
from console.core.models import FileChunk, StoredFile

DEFAULT_CHUNK_BYTES = 1024 * 1024
READ_BYTES = 256 * 1024
IN_FLIGHT = 4  # chunks being compressed ahead of the insert: bounds memory to a few chunks


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
    size = stored_size = seq = 0
    # zlib releases the GIL: compressing the next chunks in threads overlaps with inserting this one.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pack") as pool:
        in_flight: deque[Future[tuple[bytes, bool]]] = deque()
        for block in _rechunk(chunks, chunk_bytes):
            size += len(block)
            if max_bytes is not None and size > max_bytes:
                raise TooLarge(f"the file is larger than the limit of {max_bytes:,} bytes")
            digest.update(block)
            in_flight.append(pool.submit(_pack, block))
            if len(in_flight) >= IN_FLIGHT:
                stored_size += _insert_chunk(session, stored.id, seq, in_flight.popleft().result())
                seq += 1
        while in_flight:
            stored_size += _insert_chunk(session, stored.id, seq, in_flight.popleft().result())
            seq += 1
    stored.size, stored.stored_size, stored.chunk_count = size, stored_size, seq
    stored.sha256, stored.complete = digest.hexdigest(), True
    session.flush()
    return stored


def store_path(*, session: Session, path: Path, filename: str, content_type: str = "text/csv") -> StoredFile:
    with path.open("rb") as handle:
        return store_stream(session=session, filename=filename, chunks=iter_file(handle), content_type=content_type)


def iter_chunks(*, session: Session, file_id: int) -> Iterator[bytes]:
    """Yield the file's bytes chunk by chunk, one query per chunk so memory stays at one chunk."""
    stored = session.get(StoredFile, file_id)
    if stored is None or not stored.complete:
        raise NotFound(f"file {file_id} does not exist")
    for seq in range(stored.chunk_count):
        row = session.execute(
            select(FileChunk.data, FileChunk.compressed).where(FileChunk.file_id == file_id, FileChunk.seq == seq)
        ).one()
        yield zlib.decompress(row.data) if row.compressed else bytes(row.data)


def copy_to_path(*, session: Session, file_id: int, path: Path) -> int:
    written = 0
    with path.open("wb") as handle:
        for block in iter_chunks(session=session, file_id=file_id):
            handle.write(block)
            written += len(block)
    return written


def delete_file(*, session: Session, file_id: int) -> None:
    session.execute(delete(FileChunk).where(FileChunk.file_id == file_id))
    session.execute(delete(StoredFile).where(StoredFile.id == file_id))


def iter_file(handle: BinaryIO, size: int = READ_BYTES) -> Iterator[bytes]:
    while block := handle.read(size):
        yield block


def _insert_chunk(session: Session, file_id: int, seq: int, packed: tuple[bytes, bool]) -> int:
    data, compressed = packed
    session.execute(insert(FileChunk).values(file_id=file_id, seq=seq, compressed=compressed, data=data))
    return len(data)


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
