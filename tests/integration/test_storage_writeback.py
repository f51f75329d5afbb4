"""A streamed store (an upload, a large output) has PostgreSQL write its pages out as they come,
not in a burst at the next checkpoint that every other session's commit would wait behind;
for its own transaction only (storage._WRITE_AS_YOU_GO). The latency itself is measured by
`python -m benchmarks api` (benchmarks/README.md), not here.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from console.core import storage
from console.core.db import pinned_session_scope, session_scope
from console.core.settings import Settings
from tests.integration.faultkit import private  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

SHOW = text("SHOW backend_flush_after")


def server_default() -> str:
    with session_scope() as session:
        value = session.execute(SHOW).scalar_one()
    if value == "256kB":
        pytest.skip("this server writes every backend's pages out every 256 kB already")
    return str(value)


def test_a_streamed_store_writes_its_pages_as_they_come_in_its_transaction_only(private: Settings) -> None:  # noqa: F811
    default = server_default()
    with pinned_session_scope() as session:  # one connection throughout: a plain SET would outlive the commit
        stored = storage.store_stream(session=session, filename="big.csv", chunks=[b"a,b\n" + b"1,2\n" * 1000])
        assert session.execute(SHOW).scalar_one() == "256kB"
        session.commit()
        assert session.execute(SHOW).scalar_one() == default  # SET LOCAL: gone with the transaction
        assert b"".join(storage.iter_chunks(session=session, file_id=stored.id)) == b"a,b\n" + b"1,2\n" * 1000


def test_a_failed_store_leaves_the_setting_with_its_rolled_back_transaction(private: Settings) -> None:  # noqa: F811
    default = server_default()
    with pinned_session_scope() as session:
        with pytest.raises(storage.TooLarge):
            storage.store_stream(session=session, filename="big.csv", chunks=[b"x" * 100], max_bytes=10)
        session.rollback()
        assert session.execute(SHOW).scalar_one() == default
