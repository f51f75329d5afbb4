"""POST /api/configs/preview: the steps run in the web process on the first rows of a dataset."""

from __future__ import annotations

import pytest

from tests.integration.factories import make_account, make_raw_dataset
from tests.integration.helpers import create_config, upload

pytestmark = pytest.mark.integration

PEOPLE = (
    "id,name,age,zip,joined\n"
    "1, Ann ,34,02134,2024-01-31T10:00\n"
    "2,Bob,,10001,2024-02-01T11:30\n"
    "1, Ann ,34,02134,2024-01-31T10:00\n"
    "3,=cmd,51,00501,\n"
).encode()
STEPS = [
    {"op": "drop_duplicates"},
    {"op": "trim_whitespace", "columns": ["name"]},
    {"op": "fill_missing", "columns": ["age"], "strategy": "median"},
]


def preview(client, headers: dict, body: dict):  # type: ignore[no-untyped-def]
    return client.post("/api/configs/preview", headers=headers, json=body)


def test_preview_returns_rows_before_and_after_and_the_report(client) -> None:
    account = make_account()
    dataset = upload(client, account.headers, PEOPLE)

    response = preview(client, account.headers, {"dataset_id": dataset["id"], "steps": STEPS})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["before"]["columns"] == ["id", "name", "age", "zip", "joined"]
    assert len(body["before"]["rows"]) == 4
    assert body["before"]["rows"][0] == ["1", " Ann ", "34", "02134", "2024-01-31T10:00"]
    assert body["after"]["rows"] == [
        ["1", "Ann", "34", "02134", "2024-01-31T10:00"],
        ["2", "Bob", "42", "10001", "2024-02-01T11:30"],
        ["3", "=cmd", "51", "00501", None],
    ]
    assert [s["summary"] for s in body["report"]["steps"]] == [
        "drop_duplicates on all columns: 1 row removed, keep first",
        "trim_whitespace name: 1 cell changed",
        "fill_missing age: 1 cell with median 42; age: median 42.5 rounded to 42 to keep it integer",
    ]
    assert (body["report"]["rows_in"], body["report"]["rows_out"]) == (4, 3)


def test_preview_of_a_saved_config_and_the_limit(client) -> None:
    account = make_account()
    dataset = upload(client, account.headers, b"n\n" + b"".join(b"%d\n" % i for i in range(1500)))
    config = create_config(client, account.headers, [{"op": "sort", "by": "n", "descending": True}], "desc")

    default = preview(client, account.headers, {"dataset_id": dataset["id"], "config_id": config["id"]})
    small = preview(client, account.headers, {"dataset_id": dataset["id"], "config_id": config["id"], "limit": 5})
    too_many = preview(client, account.headers, {"dataset_id": dataset["id"], "steps": [], "limit": 1001})

    assert default.status_code == 200
    assert len(default.json()["before"]["rows"]) == 200
    assert default.json()["after"]["rows"][0] == ["199"]  # only the first 200 rows were read
    assert small.json()["after"]["rows"] == [["4"], ["3"], ["2"], ["1"], ["0"]]
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "limit"]


def test_preview_reads_only_the_first_rows_of_the_stored_file(client) -> None:
    account = make_account()
    # More than one stored chunk, and past the first chunk a row no CSV reader accepts.
    content = b"a,b\n" + b"1,x\n" * 400_000 + b"1,2,3,4\n"
    dataset_id = make_raw_dataset(account.user, content, "big.csv", ["a", "b"])

    response = preview(client, account.headers, {"dataset_id": dataset_id, "steps": [{"op": "drop_duplicates"}]})

    assert response.status_code == 200, response.text
    assert response.json()["after"]["rows"] == [["1", "x"]]
    assert response.json()["report"]["rows_in"] == 200


def test_preview_with_bad_steps_is_422_naming_every_step(client) -> None:
    account = make_account()
    dataset = upload(client, account.headers, PEOPLE)
    steps = [
        {"op": "drop_duplicates", "subset": ["nope"]},
        {"op": "fill_missing", "strategy": "average"},
        {"op": "regex_replace", "columns": ["name"], "pattern": "(?<=a)b"},
    ]

    response = preview(client, account.headers, {"dataset_id": dataset["id"], "steps": steps})

    assert response.status_code == 422
    assert [(p["step"], p["field"]) for p in response.json()["detail"]] == [(2, "strategy"), (3, "pattern")]
    columns = preview(client, account.headers, {"dataset_id": dataset["id"], "steps": steps[:1]})
    assert columns.status_code == 422
    assert columns.json()["detail"][0]["msg"] == "step 1 (drop_duplicates): subset: no column 'nope' (columns: 'id', 'name', 'age', 'zip', 'joined')"


def test_preview_step_failing_on_the_rows_is_422_naming_it(client) -> None:
    account = make_account()
    # Not profiled (no types known), so only running the step on the rows can find the problem.
    dataset = {"id": make_raw_dataset(account.user, PEOPLE, "people.csv", columns=PEOPLE.decode().splitlines()[0].split(","))}

    response = preview(client, account.headers, {"dataset_id": dataset["id"], "steps": [{"op": "cast", "columns": {"name": "integer"}}]})

    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert (problem["step"], problem["op"], problem["type"]) == (1, "cast", "step_failed")
    assert problem["msg"].startswith("step 1 (cast): column 'name': 4 values cannot become integer, the first is ' Ann '")


def test_preview_needs_exactly_one_of_steps_and_config(client) -> None:
    account = make_account()
    dataset = upload(client, account.headers, PEOPLE)

    neither = preview(client, account.headers, {"dataset_id": dataset["id"]})
    both = preview(client, account.headers, {"dataset_id": dataset["id"], "steps": [], "config_id": 1})

    assert neither.status_code == both.status_code == 422
    assert "either `steps` or `config_id`" in neither.json()["detail"][0]["msg"]


def test_preview_of_another_members_dataset_or_config_is_404(client) -> None:
    owner, other = make_account(), make_account()
    dataset = upload(client, owner.headers, PEOPLE)
    config = create_config(client, owner.headers, STEPS, "mine")
    own = upload(client, other.headers, PEOPLE)

    of_dataset = preview(client, other.headers, {"dataset_id": dataset["id"], "steps": STEPS})
    of_config = preview(client, other.headers, {"dataset_id": own["id"], "config_id": config["id"]})

    assert of_dataset.status_code == of_config.status_code == 404
    assert of_dataset.json()["detail"] == f"dataset {dataset['id']} not found"
