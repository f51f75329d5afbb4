"""The config builder: it offers exactly the engine's vocabulary, checks drafts per step, saves and versions configs."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest
from sqlalchemy import select

from console.core.db import session_scope
from console.core.models import CleaningConfig
from console.pages.vocabulary import OPS, builder_vocabulary
from tests.integration.test_pages import signed_in
from worker.cleaning.step_models import STEP_MODELS

pytestmark = pytest.mark.integration

STATE = re.compile(r'<script type="application/json" id="builder-state">(.*?)</script>', re.S)


def test_builder_vocabulary_is_exactly_the_engines() -> None:
    offered = {op["op"]: op for op in builder_vocabulary()}

    assert list(offered) == list(STEP_MODELS)
    for op, model in STEP_MODELS.items():
        params = {p["name"]: p for p in offered[op]["params"]}
        assert set(params) == set(model.model_fields) - {"op"}, op
        for name, param in params.items():
            assert param["required"] == model.model_fields[name].is_required(), (op, name)
    assert offered["fill_missing"]["params"][1]["choices"] == list(get_args(STEP_MODELS["fill_missing"].model_fields["strategy"].annotation))
    assert offered["cast"]["params"][0]["choices"] == ["integer", "float", "string", "boolean", "datetime", "date"]
    assert all(kind in {"columns", "column", "choice", "text", "scalar", "values", "number", "flag", "cast_map", "rename", "mapping"}
               for _, _, params in OPS.values() for _, kind, _, _ in params)


def test_builder_page_offers_every_op_and_the_datasets_columns(app, client) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload(b"First Name,age\nAda,36\n")

    page = visitor.get(f"/configs/new?dataset={dataset_id}")
    state = json.loads(STATE.search(page.text).group(1))  # type: ignore[union-attr]

    assert page.status_code == 200
    assert [op["op"] for op in state["vocabulary"]] == list(STEP_MODELS)
    assert state["columns"] == ["First Name", "age"] and state["dataset_id"] == dataset_id
    assert all(f'<option value="{op}">' in page.text for op in STEP_MODELS)


def test_check_names_the_problem_of_each_step_and_follows_renames(app, client) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload(b"First Name,age\nAda,36\n")
    steps = [
        {"op": "rename_columns", "mapping": {"age": "years"}},
        {"op": "fill_missing", "strategy": "average"},
        {"op": "drop_columns", "columns": ["age"]},
        {"op": "normalize_column_names"},
    ]

    answer = visitor.post_json("/configs/check", {"dataset_id": dataset_id, "steps": steps}).json()

    by_step = {(p["step"], p["field"]): p["message"] for p in answer["problems"]}
    assert by_step[(2, "strategy")].startswith("must be one of constant, mean")
    assert answer["columns_before"][1] == ["First Name", "years"]
    assert answer["columns_before"][4] == ["first_name", "years"]
    assert answer["preview"] is None


def test_check_of_columns_the_dataset_lacks_is_reported_at_that_step(app, client) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload(b"name,age\nAda,36\n")

    answer = visitor.post_json("/configs/check", {"dataset_id": dataset_id, "steps": [
        {"op": "drop_duplicates"}, {"op": "sort", "by": ["agee"]}]}).json()

    assert answer["problems"] == [{"step": 2, "field": "by", "message": "no column 'agee'; did you mean 'age'?"}]


def test_saving_bad_steps_shows_each_problem_and_saves_nothing(app, client) -> None:
    visitor, account = signed_in(app)
    dataset_id = visitor.upload()
    steps = [{"op": "drop_duplicates"}, {"op": "change_case", "columns": ["nope"], "case": "lower"}]

    response = visitor.post("/configs/new", {"name": "bad", "steps_json": json.dumps(steps), "dataset_id": dataset_id})
    state = json.loads(STATE.search(response.text).group(1))  # type: ignore[union-attr]

    assert response.status_code == 422
    assert state["problems"][0]["step"] == 2 and state["problems"][0]["field"] == "columns"
    assert "Step 2: columns: no column &#39;nope&#39;" in response.text
    assert state["steps"] == steps  # the draft survives for fixing
    with session_scope() as session:
        assert session.scalar(select(CleaningConfig).where(CleaningConfig.owner_id == account.user.id)) is None


def test_saving_without_a_name_or_with_bad_json_is_refused(app, client) -> None:
    visitor, _ = signed_in(app)

    unnamed = visitor.post("/configs/new", {"name": " ", "steps_json": "[]"})
    broken = visitor.post("/configs/new", {"name": "x", "steps_json": "[{"})

    assert unnamed.status_code == 422 and "Give the config a name." in unnamed.text
    assert broken.status_code == 422 and "the steps are not valid JSON" in broken.text


def test_save_then_edit_raises_the_version_and_goes_to_process(app, client) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload()
    config_id = visitor.save_config(dataset_id, [{"op": "trim_whitespace"}], name="tidy")

    edited = visitor.post(f"/configs/{config_id}", {
        "name": "tidy", "steps_json": json.dumps([{"op": "sort", "by": "age", "descending": True}]), "dataset_id": dataset_id})
    page = visitor.get(edited.headers["location"])

    assert edited.headers["location"] == f"/datasets/{dataset_id}?config={config_id}#process"
    assert f'<option value="{config_id}" selected>tidy (v2, 1 steps)</option>' in page.text
    with session_scope() as session:
        config = session.get(CleaningConfig, config_id)
        assert config.version == 2 and config.steps == [{"op": "sort", "by": "age", "descending": True}]  # type: ignore[union-attr]


def test_a_second_config_with_the_same_name_is_refused_with_409(app, client) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload()
    visitor.save_config(dataset_id, [], name="same")

    response = visitor.post("/configs/new", {"name": "same", "steps_json": "[]", "dataset_id": dataset_id})

    assert response.status_code == 409
    assert "you already have a config named &#39;same&#39;" in response.text


def test_saved_config_can_be_picked_for_any_of_the_users_datasets(app, client) -> None:
    visitor, _ = signed_in(app)
    first, second = visitor.upload(), visitor.upload(b"name,age\nLin,3\n", filename="other.csv")
    config_id = visitor.save_config(first, [{"op": "drop_duplicates"}], name="reusable")

    page = visitor.get(f"/datasets/{second}")

    assert f'<option value="{config_id}" selected>reusable' in page.text


def test_delete_config_removes_it_from_the_list(app, client) -> None:
    visitor, _ = signed_in(app)
    config_id = visitor.save_config(visitor.upload(), [], name="short-lived")

    response = visitor.post(f"/configs/{config_id}/delete")
    listing = visitor.get("/configs").text

    assert response.status_code == 303
    assert "Deleted the config short-lived." in listing and f'href="/configs/{config_id}"' not in listing
    with session_scope() as session:
        assert session.get(CleaningConfig, config_id) is None
