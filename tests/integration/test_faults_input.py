"""Bad input never kills a worker: every corpus file and a set of hostile ones, through real workers.

Each ends `succeeded` with a correct output or `failed` with a sentence a person understands,
and the worker's processes are the same ones before and after, still taking jobs.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.core.settings import Settings
from tests.conftest import CORPUS
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    Worker,
    assert_ended_without_output,
    assert_succeeded_once,
    console_for,
    fast_settings,
    job_row,
    output_text,
    private_schema,
    store_dataset,
    submit,
    wait_final,
)

pytestmark = pytest.mark.integration

STEPS = [{"op": "trim_whitespace"}, {"op": "drop_duplicates"}]
WIDE = 10_000
BIG_FIELD = "x" * (1024 * 1024)
ACCENTED = "name,city\nZoë,Köln\nJosé,São Paulo\n"


@dataclass(frozen=True)
class Case:
    content: bytes
    status: str
    says: str = ""  # a failure's message contains this
    rows: int | None = None  # a success's output has this many rows...
    header: tuple[str, ...] = ()  # ...and starts with these columns
    contains: str = ""  # ...and holds this text
    steps: tuple[dict, ...] = tuple(STEPS)


HOSTILE: dict[str, Case] = {
    "empty": Case(b"", "failed", says="the file is empty"),
    "header only": Case(b"a,b,c\n", "succeeded", rows=0, header=("a", "b", "c")),
    "binary garbage": Case(bytes(range(256)) * 40, "failed", says="binary data, not a CSV"),
    "gzip renamed .csv": Case(gzip.compress(b"a,b\n1,2\n" * 100), "failed", says="gzip-compressed data, not a CSV"),
    "UTF-16 with BOM": Case(ACCENTED.encode("utf-16"), "succeeded", rows=2, header=("name", "city"), contains="São Paulo"),
    "latin-1": Case(ACCENTED.encode("latin-1"), "succeeded", rows=2, header=("name", "city"), contains="Köln"),
    "mixed newlines": Case(b"a,b\r\n1,2\n3,4\r5,6\r\n", "succeeded", rows=3, header=("a", "b"), contains="5,6"),
    "ragged rows, too long": Case(b"a,b\n1,2\n3,4,5\n6,7\n", "failed", says="line 3 has 3 fields but the header has 2"),
    "ragged rows, too short": Case(b"a,b,c\n1,2,3\n4,5\n6\n", "succeeded", rows=3, header=("a", "b", "c")),
    "duplicate column names": Case(b"a,a,b\n1,2,3\n4,5,6\n", "succeeded", rows=2, header=("a", "a.1", "b")),
    "a 1 MB single field": Case(f"a,b\n{BIG_FIELD},1\n2,3\n".encode(), "succeeded", rows=2, header=("a", "b"), contains=BIG_FIELD),
    "10,000 columns": Case(
        (",".join(f"c{i}" for i in range(WIDE)) + "\n" + ",".join(str(i) for i in range(WIDE)) + "\n").encode(),
        "succeeded",
        rows=1,
        header=tuple(f"c{i}" for i in range(WIDE)),
    ),
    "a config naming a missing column": Case(
        b"a,b\n1,2\n",
        "failed",
        says="step 1 (fill_missing): columns: no column 'nope'",
        steps=({"op": "fill_missing", "columns": ["nope"], "strategy": "mean"},),
    ),
}


def corpus_files() -> list[Path]:
    return sorted(path for path in CORPUS.rglob("*") if path.is_file()) if CORPUS.is_dir() else []


@dataclass
class Batch:
    jobs: dict[str, int]
    pool_before: set[int]
    pool_after: set[int]
    next_job: int


@pytest.fixture(scope="module")
def batch(settings: Settings, client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:  # type: ignore[no-untyped-def]
    """Every case submitted at once to one two-process worker, then one ordinary job after them."""
    with private_schema(settings.DATABASE_URL or "") as url:
        own = fast_settings(settings, DATABASE_URL=url)
        with console_for(own, restore=settings):
            worker = Worker(own, tmp_path_factory.mktemp("input") / "worker.log", concurrency=2)
            try:
                yield submit_every_case(worker)
            finally:
                worker.kill()  # idle by now; a warm shutdown takes seconds


def submit_every_case(worker: Worker) -> Batch:
    owner = make_account().user
    before = {child.pid for child in worker.children()}
    jobs = {name: submit(owner, store_dataset(owner, case.content), list(case.steps)) for name, case in HOSTILE.items()}
    for path in corpus_files():
        jobs[f"corpus/{path.relative_to(CORPUS)}"] = submit(owner, store_dataset(owner, path.read_bytes(), path.name), STEPS)
    wait_final(list(jobs.values()), timeout=180)
    next_job = submit(owner, store_dataset(owner, b"a,b\n1,2\n1,2\n"), STEPS)
    wait_final([next_job])
    return Batch(jobs, before, {child.pid for child in worker.children()}, next_job)


def assert_understandable(message: str | None) -> None:
    assert message, "a failed job must say why"
    assert not message.startswith(("internal error", "worker lost", "time limit")), message
    assert "Traceback" not in message and len(message) < 400, message


def output_rows(job_id: int) -> list[list[str]]:
    return list(csv.reader(io.StringIO(output_text(job_id), newline="")))


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_ends_as_expected(batch: Batch, name: str) -> None:
    case, job = HOSTILE[name], batch.jobs[name]

    if case.status == "failed":
        seen = assert_ended_without_output(job, "failed")
        assert_understandable(seen.error)
        assert case.says in (seen.error or ""), seen.error
    else:
        assert_succeeded_once(job)
        rows = output_rows(job)
        assert tuple(rows[0][: len(case.header)]) == case.header
        assert len(rows) - 1 == case.rows == job_row(job).rows_out
        assert case.contains in output_text(job)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda path: str(path.relative_to(CORPUS)))
def test_corpus_file_ends_succeeded_with_its_rows_or_failed_with_a_reason(batch: Batch, path: Path) -> None:
    job = batch.jobs[f"corpus/{path.relative_to(CORPUS)}"]
    status = job_row(job).status

    if status == "failed":
        assert_understandable(assert_ended_without_output(job, "failed").error)
        return
    assert_succeeded_once(job)
    rows = output_rows(job)
    assert len(rows) - 1 == job_row(job).rows_out and all(len(row) == len(rows[0]) for row in rows)
    expected = path.parent.parent / "json" / f"{path.stem}.json"
    if path.suffix == ".csv" and expected.is_file():  # csv-spectrum says what each file holds
        want = json.loads(expected.read_text("utf-8", errors="replace"))
        if isinstance(want, dict):  # one record, and not this file's values: its columns at least
            assert rows[0] == list(want)
            return
        records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
        assert records == [{key: value.strip() for key, value in record.items()} for record in want]


def test_no_worker_process_died_and_the_next_job_ran(batch: Batch) -> None:
    assert batch.pool_after == batch.pool_before and len(batch.pool_before) >= 2
    assert_succeeded_once(batch.next_job)
    assert output_rows(batch.next_job) == [["a", "b"], ["1", "2"]]
