"""A job's result in every format: CSV (plain or neutralised), Parquet and xlsx, written by a real worker."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from console.core.db import session_scope
from console.core.models import JobOutput
from worker.outputs import EXCEL_MAX_ROWS, ON_REQUEST_NOTE
from tests.integration.factories import make_account
from tests.integration.helpers import create_config, download_made, submit, upload, wait_for_job
from tests.unit.cleaning.xlsx import xlsx_cells

pytestmark = pytest.mark.integration

DATA = (
    "name,n,zip,joined\n"
    "=HYPERLINK(\"http://x\"),1,02134,2024-01-31T10:00\n"
    "Bob,-4,00501,2024-02-01T11:30\n"
    "@sum,,10001,\n"
).encode()
STEPS = [{"op": "sort", "by": "n"}]
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@pytest.fixture(scope="module")
def finished(client, worker) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    account = make_account()
    dataset = upload(client, account.headers, DATA, "people.csv")
    config = create_config(client, account.headers, STEPS, "sorted")
    job = wait_for_job(client, account.headers, submit(client, account.headers, dataset["id"], config["id"])["id"])
    assert job["status"] == "succeeded", job
    return account.headers, job


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_each_format_downloads_with_its_media_type_and_filename(client, finished, fmt: str) -> None:
    headers, job = finished

    response = download_made(client, f"/api/jobs/{job['id']}/output?format={fmt}", headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA[fmt]
    assert response.headers["content-disposition"] == f'attachment; filename="job-{job["id"]}-cleaned.{fmt}"'
    assert len(response.content) > 0


def test_csv_and_parquet_are_stored_with_the_job_and_xlsx_once_asked_for(client, finished) -> None:
    headers, job = finished  # as the job finished (this module's other tests may have asked for the xlsx since)
    assert job["report"]["outputs"] == {"csv": "written", "parquet": "written", "xlsx": ON_REQUEST_NOTE}
    assert job["report"]["on_request"] == ["xlsx"]

    assert download_made(client, f"/api/jobs/{job['id']}/output?format=xlsx", headers).status_code == 200

    with session_scope() as session:
        rows = session.scalars(select(JobOutput).where(JobOutput.job_id == job["id"])).all()
        assert sorted(row.format for row in rows) == ["csv", "parquet", "xlsx"]
    report = client.get(f"/api/jobs/{job['id']}", headers=headers).json()["report"]
    assert report["outputs"]["xlsx"] == "written; 2 formula-looking cells were prefixed with '"


def test_csv_is_the_default_and_written_as_it_was_read(client, finished) -> None:
    headers, job = finished

    plain = client.get(f"/api/jobs/{job['id']}/output", headers=headers)

    assert plain.text == (
        "name,n,zip,joined\n"
        "Bob,-4,00501,2024-02-01T11:30\n"
        '"=HYPERLINK(""http://x"")",1,02134,2024-01-31T10:00\n'
        "@sum,,10001,\n"
    )


def test_neutralised_csv_quotes_formula_cells_only(client, finished) -> None:
    headers, job = finished

    response = client.get(f"/api/jobs/{job['id']}/output?format=csv&neutralize=true", headers=headers)

    assert response.status_code == 200
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["name", "n", "zip", "joined"],
        ["Bob", "-4", "00501", "2024-02-01T11:30"],
        ["'=HYPERLINK(\"http://x\")", "1", "02134", "2024-01-31T10:00"],
        ["'@sum", "", "10001", ""],
    ]


def test_parquet_and_xlsx_hold_typed_values(client, finished, tmp_path) -> None:  # type: ignore[no-untyped-def]
    headers, job = finished
    (tmp_path / "out.parquet").write_bytes(client.get(f"/api/jobs/{job['id']}/output?format=parquet", headers=headers).content)
    (tmp_path / "out.xlsx").write_bytes(download_made(client, f"/api/jobs/{job['id']}/output?format=xlsx", headers).content)

    table = pq.read_table(tmp_path / "out.parquet").to_pandas()
    rows = xlsx_cells(tmp_path / "out.xlsx")

    assert table["n"].tolist()[:2] == [-4, 1]
    assert table["zip"].tolist() == ["00501", "02134", "10001"]
    assert str(table["joined"].dtype).startswith("datetime64")
    assert rows[0] == ["name", "n", "zip", "joined"]
    assert rows[1][:3] == ["Bob", -4.0, "00501"]
    assert rows[2][0] == "'=HYPERLINK(\"http://x\")"
    assert rows[3][:3] == ["'@sum", None, "10001"]


def test_unknown_format_is_422_and_neutralised_parquet_is_422(client, finished) -> None:
    headers, job = finished

    unknown = client.get(f"/api/jobs/{job['id']}/output?format=json", headers=headers)
    parquet = client.get(f"/api/jobs/{job['id']}/output?format=parquet&neutralize=true", headers=headers)

    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["query", "format"]
    assert parquet.status_code == 422
    assert "parquet" in parquet.json()["detail"]


def test_output_of_another_members_job_is_404(client, finished) -> None:
    _, job = finished

    response = client.get(f"/api/jobs/{job['id']}/output?format=xlsx", headers=make_account().headers)

    assert response.status_code == 404


def test_more_rows_than_the_xlsx_limit_gives_no_xlsx_and_409_with_the_reason(client, worker, settings) -> None:
    account = make_account()
    rows = settings.XLSX_MAX_ROWS + 1
    dataset = upload(client, account.headers, b"v\n" + b"1\n" * rows, "tall.csv")
    config = create_config(client, account.headers, [{"op": "normalize_column_names"}], "tall")
    job = wait_for_job(client, account.headers, submit(client, account.headers, dataset["id"], config["id"])["id"], timeout=120)

    xlsx = client.get(f"/api/jobs/{job['id']}/output?format=xlsx", headers=account.headers)
    parquet = client.get(f"/api/jobs/{job['id']}/output?format=parquet", headers=account.headers)

    assert job["status"] == "succeeded", job
    assert xlsx.status_code == 409
    # The default limit is all an Excel sheet holds (a lower XLSX_MAX_ROWS names itself instead).
    assert settings.XLSX_MAX_ROWS == EXCEL_MAX_ROWS
    assert xlsx.json()["detail"] == (
        f"job {job['id']} has no xlsx output: not written: {rows:,} rows is more than an Excel sheet holds "
        f"({EXCEL_MAX_ROWS:,} under the header)"
    )
    assert parquet.status_code == 200


def test_a_carriage_return_inside_a_cell_survives_the_job_and_every_csv_download(client, worker) -> None:  # type: ignore[no-untyped-def]
    # A quoted "\r" in the upload stays inside its cell; pandas would write it back bare and a
    # reader would split the row there.
    account = make_account()
    data = b'id,note\n1,"one\rtwo"\n2,plain\n3,"=x\r"\n'
    dataset = upload(client, account.headers, data, "cr.csv")
    config = create_config(client, account.headers, [{"op": "trim_whitespace", "columns": ["note"]}], "trim")
    job = wait_for_job(client, account.headers, submit(client, account.headers, dataset["id"], config["id"])["id"])
    assert job["status"] == "succeeded", job
    expected = [["id", "note"], ["1", "one\rtwo"], ["2", "plain"], ["3", "=x"]]  # trim took the last "\r"

    raw = client.get(f"/api/jobs/{job['id']}/output", headers=account.headers)
    neutral = client.get(f"/api/jobs/{job['id']}/output?neutralize=true", headers=account.headers)

    assert list(csv.reader(io.StringIO(raw.content.decode("utf-8"), newline=""))) == expected
    assert list(csv.reader(io.StringIO(neutral.content.decode("utf-8"), newline=""))) == [*expected[:3], ["3", "'=x"]]
    assert client.get(f"/api/jobs/{job['id']}/preview", headers=account.headers).json()["rows"][0] == ["1", "one\rtwo"]
