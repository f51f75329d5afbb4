"""The whole step vocabulary through the API with a real worker, checked against plain pandas; the
report's sentences; and validation at save and at submit, every problem at once."""

from __future__ import annotations

import io
import random

import pandas as pd
import pytest

from tests.integration.factories import make_account
from tests.integration.helpers import create_config, submit, upload, wait_for_job, wait_for_profile
from worker.cleaning.step_models import KNOWN_OPS

pytestmark = pytest.mark.integration

CITIES = [" Paris", "paris", "NYC", "Kraków ", "  ", "N/A", "São Paulo", "SF", "null", "東京"]
STEPS = [
    {"op": "drop_duplicates"},
    {"op": "fill_missing", "columns": ["Age"], "strategy": "median"},
    {"op": "drop_missing", "columns": ["E-mail"]},
    {"op": "trim_whitespace", "columns": ["City", "E-mail"]},
    {"op": "change_case", "columns": ["E-mail"], "case": "lower"},
    {"op": "replace_values", "columns": ["City"], "mapping": {"NYC": "New York", "SF": "San Francisco"}},
    {"op": "regex_replace", "columns": ["Phone"], "pattern": r"\D", "replacement": ""},
    {"op": "cast", "columns": {"Zip": "integer", "Signup": "date"}, "format": "%d/%m/%Y", "errors": "coerce"},
    {"op": "filter_rows", "column": "Active", "operator": "eq", "value": True},
    {"op": "rename_columns", "mapping": {"E-mail": "Email Address"}},
    {"op": "drop_columns", "columns": ["Notes"]},
    {"op": "clip_outliers", "columns": ["Income"], "method": "iqr"},
    {"op": "normalize_column_names"},
    {"op": "select_columns", "columns": ["customer_id", "email_address", "age", "income", "city", "zip", "signup", "phone"]},
    {"op": "sort", "by": ["city", "customer_id"]},
]


def messy_file(rows: int = 120, seed: int = 7) -> bytes:
    """Duplicates, gaps, NA spellings, stray spaces, mixed case, unicode, an outlier, leading zeros."""
    rng = random.Random(seed)
    lines = ["Customer ID,E-mail,Age,Income,City,Zip,Signup,Active,Notes,Phone"]
    for i in range(rows):
        email = rng.choice([f" User{i}@Example.COM", f"user{i}@example.com ", "", "N/A"])
        age = rng.choice([str(rng.randint(18, 90)), "", "NA"])
        income = rng.choice([f"{rng.uniform(1000, 9000):.2f}", "", "250000.50"])
        signup = rng.choice([f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2024", "", "2024-13-45"])
        phone = rng.choice(["555-1234", "(555) 987-6543", "+1 555 000 1111", ""])
        row = [str(i % 97), email, age, income, rng.choice(CITIES), f"{rng.randint(0, 2000):05d}", signup]
        row += [rng.choice(["yes", "no", "Yes"]), rng.choice(["", "call back", "ünïcode ✓"]), phone]
        lines.append(",".join(row))
    lines += lines[1:15]  # whole rows repeated
    return ("\n".join(lines) + "\n").encode()


def plain_pandas(content: bytes) -> pd.DataFrame:
    """The same cleaning written as a person would in pandas."""
    df = pd.read_csv(io.BytesIO(content), dtype=str)
    df = df.drop_duplicates()
    age = pd.to_numeric(df["Age"])
    df["Age"] = age.fillna(round(age.median())).astype("Int64")
    df = df.dropna(subset=["E-mail"])
    for name in ("City", "E-mail"):
        df[name] = df[name].str.strip().replace("", pd.NA)
    df["E-mail"] = df["E-mail"].str.lower()
    df["City"] = df["City"].replace({"NYC": "New York", "SF": "San Francisco"})
    df["Phone"] = df["Phone"].str.replace(r"\D", "", regex=True)
    df["Zip"] = pd.to_numeric(df["Zip"]).astype("Int64")
    signup = pd.to_datetime(df["Signup"], format="%d/%m/%Y", errors="coerce")
    df["Signup"] = signup.dt.strftime("%d/%m/%Y")
    df = df[df["Active"].str.lower() == "yes"]
    df = df.rename(columns={"E-mail": "Email Address"}).drop(columns=["Notes"])
    income = pd.to_numeric(df["Income"])
    q1, q3 = income.quantile(0.25), income.quantile(0.75)
    df["Income"] = income.clip(q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))
    df["Customer ID"] = df["Customer ID"].astype(int)
    df.columns = ["customer_id", "email_address", "age", "income", "city", "zip", "signup", "active", "phone"]
    df = df[["customer_id", "email_address", "age", "income", "city", "zip", "signup", "phone"]]
    return df.sort_values(["city", "customer_id"], kind="stable", na_position="last")


def as_text(csv_text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)


def test_the_config_uses_every_op() -> None:
    assert {step["op"] for step in STEPS} == set(KNOWN_OPS)


def test_every_op_on_a_messy_file_matches_plain_pandas_and_reports_each_step(client, worker) -> None:
    account = make_account()
    content = messy_file()
    dataset = upload(client, account.headers, content, "messy customers.csv")
    config = create_config(client, account.headers, STEPS, "every op")

    job = wait_for_job(client, account.headers, submit(client, account.headers, dataset["id"], config["id"])["id"])

    assert job["status"] == "succeeded", job["error"]
    expected = plain_pandas(content)
    download = client.get(f"/api/jobs/{job['id']}/output", headers=account.headers)
    pd.testing.assert_frame_equal(as_text(download.text), as_text(expected.to_csv(index=False)))
    assert (job["rows_in"], job["rows_out"]) == (134, len(expected))
    steps = job["report"]["steps"]
    assert [s["op"] for s in steps] == [s["op"] for s in STEPS]
    assert all(a["rows_after"] == b["rows_before"] for a, b in zip(steps, steps[1:], strict=False))
    raw = pd.read_csv(io.BytesIO(content), dtype=str)
    deduped = raw.drop_duplicates()
    gaps = int(deduped["Age"].isna().sum())
    median = pd.to_numeric(deduped["Age"]).median()
    assert steps[0]["summary"] == f"drop_duplicates on all columns: {len(raw) - len(deduped)} rows removed, keep first"
    assert steps[1]["summary"].startswith(f"fill_missing Age: {gaps} cells with median {round(median)}")
    assert steps[1]["details"]["values"] == {"Age": round(median)}
    assert steps[2]["summary"] == (
        f"drop_missing on E-mail (how any): {steps[2]['rows_before'] - steps[2]['rows_after']} rows removed"
    )
    kept = steps[8]["rows_after"]
    assert steps[8]["summary"] == (
        f"filter_rows Active eq true: kept {kept} of {steps[8]['rows_before']} rows ({steps[8]['rows_before'] - kept} removed)"
    )
    assert steps[12]["summary"].startswith("normalize_column_names: 9 columns renamed (Customer ID -> customer_id, ")
    assert job["report"]["date_formats"] == {"signup": "%d/%m/%Y"}


def test_a_config_with_several_bad_steps_is_refused_naming_each(client) -> None:
    account = make_account()
    steps = [
        {"op": "fill_missing", "strategy": "average"},
        {"op": "regex_replace", "columns": ["City"], "pattern": r"(\w)\1"},
        {"op": "cast", "columns": {"Age": "int"}},
        {"op": "sort"},
    ]

    response = client.post("/api/configs", headers=account.headers, json={"name": "bad", "steps": steps})

    assert response.status_code == 422
    assert [(p["step"], p["op"], p["field"]) for p in response.json()["detail"]] == [
        (1, "fill_missing", "strategy"),
        (2, "regex_replace", "pattern"),
        (3, "cast", "columns.Age"),
        (4, "sort", "by"),
    ]


@pytest.fixture(scope="module")
def profiled(client, worker) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    account = make_account()
    dataset = upload(client, account.headers, messy_file(rows=40))
    assert wait_for_profile(client, account.headers, dataset["id"])["profile_status"] == "ready"
    return account.headers, dataset


def test_submit_checks_columns_and_types_and_reports_every_problem(client, profiled) -> None:
    headers, dataset = profiled
    steps = [
        {"op": "cast", "columns": {"City": "integer"}},
        {"op": "fill_missing", "columns": ["E-mail"], "strategy": "mean"},
        {"op": "drop_columns", "columns": ["Notes"]},
        {"op": "trim_whitespace", "columns": ["Notes", "Age"]},
        {"op": "clip_outliers", "columns": ["Phone"], "method": "iqr"},
    ]
    config = create_config(client, headers, steps, "wrong for this file")

    response = client.post("/api/jobs", headers=headers, json={"dataset_id": dataset["id"], "config_id": config["id"]})

    assert response.status_code == 422
    messages = [p["msg"] for p in response.json()["detail"]]
    assert len(messages) == 5
    assert messages[0].startswith("step 1 (cast): columns: column 'City' holds text values and ")
    assert "are not whole numbers" in messages[0]
    assert messages[1] == "step 2 (fill_missing): columns: column 'E-mail' holds text values; mean needs numbers"
    assert messages[2] == "step 4 (trim_whitespace): columns: column 'Notes' was dropped by step 3 (drop_columns)"
    assert messages[3].startswith("step 4 (trim_whitespace): columns: column 'Age' holds integer values")
    assert messages[4] == "step 5 (clip_outliers): columns: column 'Phone' holds text values; clip_outliers needs numbers"


def test_zip_codes_kept_as_text_may_be_cast_to_integer_strictly(client, profiled) -> None:
    # Zip is text only for its leading zeros; the profile shows every value is a whole number.
    headers, dataset = profiled
    config = create_config(client, headers, [{"op": "cast", "columns": {"Zip": "integer"}}], "zip to integer")

    job = submit(client, headers, dataset["id"], config["id"])
    done = wait_for_job(client, headers, job["id"])

    assert next(c["type"] for c in client.get(f"/api/datasets/{dataset['id']}", headers=headers).json()["columns"] if c["name"] == "Zip") == "text"
    assert done["status"] == "succeeded"
    assert done["report"]["steps"][0]["summary"] == "cast Zip to integer"


def test_a_strict_cast_the_profile_cannot_rule_out_fails_in_the_run_naming_the_step(client, profiled) -> None:
    headers, dataset = profiled
    steps = [
        {"op": "filter_rows", "column": "Active", "operator": "eq", "value": True},
        {"op": "cast", "columns": {"Phone": "integer"}},
    ]
    config = create_config(client, headers, steps, "phones strictly")

    done = wait_for_job(client, headers, submit(client, headers, dataset["id"], config["id"])["id"])

    assert done["status"] == "failed"
    assert done["error"]["message"].startswith("step 2 (cast): column 'Phone': ")
    assert "use errors 'coerce'" in done["error"]["message"]
