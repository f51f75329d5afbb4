"""Config validation: every bad config gets an exact, readable message; column checks follow the steps."""

from __future__ import annotations

import pytest

from worker.cleaning.config import CleaningConfig, check_columns, validate_config
from worker.cleaning.errors import ConfigError, Problem
from worker.cleaning.step_models import KNOWN_OPS

OPS_LIST = ", ".join(KNOWN_OPS)


def one(step: object) -> dict:
    return {"steps": [step]}


BAD_CONFIGS = [
    ("not an object", ["steps"], 'a config must be an object like {"steps": [...]}'),
    ("no steps", {}, "steps: required"),
    ("steps not a list", {"steps": {"op": "sort"}}, "steps: must be a list of steps"),
    ("unknown top-level key", {"steps": [], "name": "x"}, "name: unknown parameter"),
    ("step not an object", one("sort"), 'step 1: must be an object like {"op": ..., ...}'),
    ("missing op", one({"columns": ["a"]}), "step 1: op: required"),
    ("unknown op", one({"op": "explode"}), f"step 1: op: unknown op 'explode'; must be one of {OPS_LIST}"),
    ("op not a string", one({"op": 3}), f"step 1: op: unknown op 3; must be one of {OPS_LIST}"),
    (
        "bad strategy",
        one({"op": "fill_missing", "strategy": "avg"}),
        "step 1 (fill_missing): strategy: must be one of constant, mean, median, mode, ffill, bfill",
    ),
    ("missing strategy", one({"op": "fill_missing"}), "step 1 (fill_missing): strategy: required"),
    (
        "constant without value",
        one({"op": "fill_missing", "strategy": "constant"}),
        "step 1 (fill_missing): value: required with strategy constant",
    ),
    (
        "value without constant",
        one({"op": "fill_missing", "strategy": "mean", "value": 0}),
        "step 1 (fill_missing): value: only used with strategy constant, not mean",
    ),
    (
        "value not a scalar",
        one({"op": "fill_missing", "strategy": "constant", "value": [1]}),
        "step 1 (fill_missing): value: must be a string, a number, true/false or null",
    ),
    (
        "unknown parameter",
        one({"op": "drop_duplicates", "columns": ["a"]}),
        "step 1 (drop_duplicates): columns: unknown parameter",
    ),
    (
        "string where a list is expected",
        one({"op": "drop_duplicates", "subset": "email"}),
        "step 1 (drop_duplicates): subset: must be a list",
    ),
    (
        "keep all is not a choice",
        one({"op": "drop_duplicates", "keep": "all"}),
        "step 1 (drop_duplicates): keep: must be one of first, last, none",
    ),
    (
        "column name not a string",
        one({"op": "drop_missing", "columns": ["a", 2]}),
        "step 1 (drop_missing): columns[1]: must be a string",
    ),
    (
        "empty column list",
        one({"op": "drop_columns", "columns": []}),
        "step 1 (drop_columns): columns: must not be empty",
    ),
    (
        "column listed twice",
        one({"op": "select_columns", "columns": ["a", "a"]}),
        "step 1 (select_columns): columns: lists 'a' twice",
    ),
    (
        "empty column name",
        one({"op": "trim_whitespace", "columns": [""]}),
        "step 1 (trim_whitespace): columns[0]: must not be empty",
    ),
    ("missing columns", one({"op": "select_columns"}), "step 1 (select_columns): columns: required"),
    (
        "bad case",
        one({"op": "change_case", "case": "snake"}),
        "step 1 (change_case): case: must be one of lower, upper, title",
    ),
    (
        "mapping not an object",
        one({"op": "replace_values", "mapping": [["a", "b"]]}),
        "step 1 (replace_values): mapping: must be an object",
    ),
    (
        "mapping value not a scalar",
        one({"op": "replace_values", "mapping": {"a": {"b": 1}}}),
        "step 1 (replace_values): mapping.a: must be a string, a number, true/false or null",
    ),
    (
        "bad regex",
        one({"op": "regex_replace", "pattern": "(a"}),
        "step 1 (regex_replace): pattern: invalid regular expression: missing ), unterminated subpattern at position 0",
    ),
    (
        "replacement names a missing group",
        one({"op": "regex_replace", "pattern": "(a)", "replacement": r"\2"}),
        "step 1 (regex_replace): replacement: invalid replacement: invalid group reference 2 at position 1",
    ),
    (
        "bad cast type",
        one({"op": "cast", "columns": {"age": "int"}}),
        "step 1 (cast): columns.age: must be one of integer, float, string, boolean, datetime, date",
    ),
    (
        "cast columns as a list",
        one({"op": "cast", "columns": ["age"]}),
        "step 1 (cast): columns: must be an object",
    ),
    (
        "format without a date",
        one({"op": "cast", "columns": {"age": "integer"}, "format": "%Y"}),
        "step 1 (cast): format: only used when casting to datetime or date",
    ),
    (
        "bad errors",
        one({"op": "cast", "columns": {"d": "date"}, "errors": "ignore"}),
        "step 1 (cast): errors: must be one of coerce, fail",
    ),
    (
        "bad operator",
        one({"op": "filter_rows", "column": "a", "operator": "==", "value": 1}),
        "step 1 (filter_rows): operator: must be one of eq, ne, lt, le, gt, ge, in, not_in, contains, "
        "matches, is_null, not_null",
    ),
    (
        "comparison without value",
        one({"op": "filter_rows", "column": "a", "operator": "gt"}),
        "step 1 (filter_rows): value: required with operator gt",
    ),
    (
        "in without a list",
        one({"op": "filter_rows", "column": "a", "operator": "in", "value": "x"}),
        "step 1 (filter_rows): value: must be a list of values for operator in",
    ),
    (
        "is_null with a value",
        one({"op": "filter_rows", "column": "a", "operator": "is_null", "value": 1}),
        "step 1 (filter_rows): value: not used with operator is_null",
    ),
    (
        "matches a bad regex",
        one({"op": "filter_rows", "column": "a", "operator": "matches", "value": "[z"}),
        "step 1 (filter_rows): value: invalid regular expression: unterminated character set at position 0",
    ),
    (
        "rename two columns to one name",
        one({"op": "rename_columns", "mapping": {"a": "c", "b": "c"}}),
        "step 1 (rename_columns): mapping: renames both 'a' and 'b' to 'c'",
    ),
    (
        "normalize takes no parameters",
        one({"op": "normalize_column_names", "columns": ["a"]}),
        "step 1 (normalize_column_names): columns: unknown parameter",
    ),
    (
        "bounds without bounds",
        one({"op": "clip_outliers", "method": "bounds"}),
        "step 1 (clip_outliers): upper: method bounds needs lower, upper or both",
    ),
    (
        "lower with iqr",
        one({"op": "clip_outliers", "method": "iqr", "lower": 0}),
        "step 1 (clip_outliers): lower: only used with method bounds, not iqr",
    ),
    (
        "factor with bounds",
        one({"op": "clip_outliers", "method": "bounds", "factor": 2, "upper": 1}),
        "step 1 (clip_outliers): factor: not used with method bounds (give lower and/or upper)",
    ),
    (
        "negative factor",
        one({"op": "clip_outliers", "method": "zscore", "factor": -1}),
        "step 1 (clip_outliers): factor: must be greater than 0",
    ),
    (
        "lower above upper",
        one({"op": "clip_outliers", "method": "bounds", "lower": 5, "upper": 1}),
        "step 1 (clip_outliers): upper: must not be below lower (5)",
    ),
    (
        "factor as text",
        one({"op": "clip_outliers", "method": "iqr", "factor": "2"}),
        "step 1 (clip_outliers): factor: must be a number",
    ),
    (
        "sort by nothing",
        one({"op": "sort", "by": []}),
        "step 1 (sort): by: must be a column name or a non-empty list of column names",
    ),
    (
        "descending as text",
        one({"op": "sort", "by": "a", "descending": "yes"}),
        "step 1 (sort): descending: must be true or false",
    ),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_gets_exact_message(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(data)
    assert str(caught.value) == message
    assert len(caught.value.problems) == 1


def test_every_problem_of_every_step_is_reported() -> None:
    data = {
        "steps": [
            {"op": "sort", "by": "a"},
            {"op": "fill_missing", "strategy": "avg", "colums": ["a"]},
            {"op": "nope"},
            {"op": "drop_duplicates", "keep": "all"},
        ]
    }
    with pytest.raises(ConfigError) as caught:
        validate_config(data)
    problems = caught.value.problems
    assert [(p.step, p.op, p.field) for p in problems] == [
        (2, "fill_missing", "strategy"),
        (2, "fill_missing", "colums"),
        (3, None, "op"),
        (4, "drop_duplicates", "keep"),
    ]
    assert problems[1].reason == "unknown parameter"
    assert str(caught.value).count("; step ") == 3


def test_problem_renders_with_and_without_step() -> None:
    assert str(Problem(2, "fill_missing", "strategy", "must be one of x")) == "step 2 (fill_missing): strategy: must be one of x"
    assert str(Problem(None, None, "steps", "required")) == "steps: required"
    assert str(Problem(3, None, None, "bad")) == "step 3: bad"


GOOD_STEPS = [
    {"op": "drop_duplicates"},
    {"op": "drop_duplicates", "subset": ["email"], "keep": "none"},
    {"op": "fill_missing", "strategy": "constant", "value": 0},
    {"op": "fill_missing", "columns": ["age"], "strategy": "median"},
    {"op": "fill_missing", "strategy": "bfill"},
    {"op": "drop_missing", "columns": ["a"], "how": "all"},
    {"op": "trim_whitespace"},
    {"op": "change_case", "columns": ["a"], "case": "title"},
    {"op": "replace_values", "columns": ["a"], "mapping": {"n/a": None, "yes": True, "1": 1.5}},
    {"op": "regex_replace", "columns": ["a"], "pattern": r"(\d+)-(\d+)", "replacement": r"\2-\1"},
    {"op": "cast", "columns": {"a": "integer", "d": "date"}, "format": "%d/%m/%Y", "errors": "coerce"},
    {"op": "filter_rows", "column": "a", "operator": "in", "value": [1, "x", None]},
    {"op": "filter_rows", "column": "a", "operator": "matches", "value": "^[A-Z]{2}$"},
    {"op": "filter_rows", "column": "a", "operator": "not_null"},
    {"op": "rename_columns", "mapping": {"a": "b", "b": "a"}},
    {"op": "drop_columns", "columns": ["a"]},
    {"op": "select_columns", "columns": ["b", "a"]},
    {"op": "normalize_column_names"},
    {"op": "clip_outliers", "method": "bounds", "lower": 0},
    {"op": "clip_outliers", "columns": ["a"], "method": "zscore"},
    {"op": "sort", "by": ["a", "b"], "descending": True},
]


@pytest.mark.parametrize("step", GOOD_STEPS, ids=[f"{i}-{s['op']}" for i, s in enumerate(GOOD_STEPS)])
def test_good_step_validates_and_round_trips_through_json(step: dict) -> None:
    config = validate_config({"steps": [step]})
    assert isinstance(config, CleaningConfig)
    assert config.steps[0].op == step["op"]
    assert validate_config(config.to_json()) == config
    assert {k: v for k, v in config.to_json()["steps"][0].items() if k in step} == step


def test_defaults_are_filled_in() -> None:
    config = validate_config(
        {"steps": [{"op": "drop_duplicates"}, {"op": "clip_outliers", "method": "iqr"}, {"op": "cast", "columns": {"a": "float"}}]}
    )
    dedupe, clip, cast = config.steps
    assert (dedupe.subset, dedupe.keep) == (None, "first")
    assert clip.factor == 1.5
    assert validate_config({"steps": [{"op": "clip_outliers", "method": "zscore"}]}).steps[0].factor == 3.0
    assert cast.errors == "fail"


def test_every_op_in_the_design_table_is_known() -> None:
    table = (
        "drop_duplicates fill_missing drop_missing trim_whitespace change_case replace_values regex_replace "
        "cast filter_rows rename_columns drop_columns select_columns normalize_column_names clip_outliers sort"
    )
    assert sorted(KNOWN_OPS) == sorted(table.split())


# check_columns ------------------------------------------------------------------------------------

COLUMNS = ["name", "age", "city", "zip"]
TYPES = {"name": "text", "age": "integer", "city": "text", "zip": "text"}
# As the profile of a file whose zip codes keep leading zeros ("02134") and whose cities are words.
NONE_FAIL = {"count": 0, "first": None}
PROFILE = {
    "city": {"type": "text", "cast_failures": {"integer": {"count": 3, "first": "Paris"}, "float": {"count": 3, "first": "Paris"}}},
    "zip": {"type": "text", "cast_failures": {"integer": NONE_FAIL, "float": NONE_FAIL}},
}

COLUMN_CASES = [
    ("typo", [{"op": "drop_columns", "columns": ["agee"]}], "step 1 (drop_columns): columns: no column 'agee'; did you mean 'age'?"),
    (
        "unknown without a close match",
        [{"op": "sort", "by": "zzz"}],
        "step 1 (sort): by: no column 'zzz' (columns: 'name', 'age', 'city', 'zip')",
    ),
    (
        "dropped earlier",
        [{"op": "drop_columns", "columns": ["age"]}, {"op": "fill_missing", "columns": ["age"], "strategy": "median"}],
        "step 2 (fill_missing): columns: column 'age' was dropped by step 1 (drop_columns)",
    ),
    (
        "renamed earlier",
        [{"op": "rename_columns", "mapping": {"age": "years"}}, {"op": "filter_rows", "column": "age", "operator": "gt", "value": 3}],
        "step 2 (filter_rows): column: column 'age' was renamed to 'years' by step 1 (rename_columns)",
    ),
    (
        "left out by select",
        [{"op": "select_columns", "columns": ["name"]}, {"op": "drop_duplicates", "subset": ["city"]}],
        "step 2 (drop_duplicates): subset: column 'city' was left out by step 1 (select_columns)",
    ),
    (
        "renamed by normalize",
        [{"op": "normalize_column_names"}, {"op": "drop_columns", "columns": ["First Name"]}],
        "step 2 (drop_columns): columns: column 'First Name' was renamed to 'first_name' by step 1 (normalize_column_names)",
    ),
    (
        "median of text",
        [{"op": "fill_missing", "columns": ["city"], "strategy": "median"}],
        "step 1 (fill_missing): columns: column 'city' holds text values; median needs numbers",
    ),
    (
        "strict cast of words to integer",
        [{"op": "cast", "columns": {"city": "integer"}}],
        "step 1 (cast): columns: column 'city' holds text values and 3 of them are not whole numbers "
        "(the first is 'Paris'); a cast to integer with errors 'fail' stops there (use errors 'coerce')",
    ),
    (
        "strict cast of renamed words to float",
        [{"op": "rename_columns", "mapping": {"city": "town"}}, {"op": "cast", "columns": {"town": "float"}}],
        "step 2 (cast): columns: column 'town' holds text values and 3 of them are not numbers "
        "(the first is 'Paris'); a cast to float with errors 'fail' stops there (use errors 'coerce')",
    ),
    (
        "constant that does not fit",
        [{"op": "fill_missing", "columns": ["age"], "strategy": "constant", "value": "unknown"}],
        "step 1 (fill_missing): columns: column 'age' holds integer values; the value 'unknown' does not fit it",
    ),
    (
        "text op on a number column",
        [{"op": "change_case", "columns": ["age"], "case": "upper"}],
        "step 1 (change_case): columns: column 'age' holds integer values; change_case works on text "
        "(cast it to string first)",
    ),
    (
        "rename onto an existing column",
        [{"op": "rename_columns", "mapping": {"name": "city"}}],
        "step 1 (rename_columns): mapping: renaming 'name' to 'city' would make two columns named 'city'",
    ),
    (
        "median after a cast to text",
        [{"op": "cast", "columns": {"age": "string"}}, {"op": "fill_missing", "columns": ["age"], "strategy": "mean"}],
        "step 2 (fill_missing): columns: column 'age' holds text values; mean needs numbers",
    ),
]


@pytest.mark.parametrize(("steps", "message"), [c[1:] for c in COLUMN_CASES], ids=[c[0] for c in COLUMN_CASES])
def test_check_columns_names_the_step_and_the_reason(steps: list, message: str) -> None:
    columns = ["First Name", *COLUMNS] if "First Name" in message else COLUMNS
    config = validate_config({"steps": steps})
    with pytest.raises(ConfigError) as caught:
        check_columns(config, columns, TYPES, PROFILE)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("steps", "profile"),
    [
        ([{"op": "cast", "columns": {"zip": "integer"}}], PROFILE),
        ([{"op": "cast", "columns": {"city": "integer"}}], None),
        ([{"op": "filter_rows", "column": "city", "operator": "matches", "value": "^[0-9]+$"}, {"op": "cast", "columns": {"city": "integer"}}], PROFILE),
        ([{"op": "replace_values", "columns": ["city"], "mapping": {"Paris": "75"}}, {"op": "cast", "columns": {"city": "float"}}], PROFILE),
    ],
    ids=["zip codes with leading zeros", "no profile yet", "after a filter", "after a replacement"],
)
def test_strict_cast_of_text_is_left_to_the_run_unless_the_profile_proves_it_fails(steps: list, profile: dict | None) -> None:
    # The rule: a text column is refused for a cast to a number with errors "fail" only when
    # the profile shows a value that will not convert, and no earlier step removed rows or
    # rewrote the column. Otherwise the run decides (and fails naming the step if it must).
    assert check_columns(validate_config({"steps": steps}), COLUMNS, TYPES, profile) is None


def test_check_columns_accepts_columns_that_exist_at_their_step() -> None:
    steps = [
        {"op": "rename_columns", "mapping": {"age": "years"}},
        {"op": "fill_missing", "columns": ["years"], "strategy": "median"},
        {"op": "cast", "columns": {"zip": "integer"}, "errors": "coerce"},
        {"op": "clip_outliers", "columns": ["zip"], "method": "iqr"},
        {"op": "rename_columns", "mapping": {"city": "age"}},
        {"op": "sort", "by": ["age", "years"]},
        {"op": "normalize_column_names"},
        {"op": "select_columns", "columns": ["name", "years"]},
    ]
    assert check_columns(validate_config({"steps": steps}), COLUMNS, TYPES) is None


def test_check_columns_without_types_checks_names_only() -> None:
    config = validate_config({"steps": [{"op": "fill_missing", "columns": ["city"], "strategy": "median"}]})
    assert check_columns(config, COLUMNS) is None
    with pytest.raises(ConfigError, match="no column 'town'"):
        check_columns(validate_config({"steps": [{"op": "drop_columns", "columns": ["town"]}]}), COLUMNS)


def test_check_columns_reports_every_missing_column() -> None:
    steps = [{"op": "drop_columns", "columns": ["nope", "age"]}, {"op": "sort", "by": ["age", "gone"]}]
    with pytest.raises(ConfigError) as caught:
        check_columns(validate_config({"steps": steps}), COLUMNS)
    assert [(p.step, p.field) for p in caught.value.problems] == [(1, "columns"), (2, "by"), (2, "by")]
    assert "was dropped by step 1" in caught.value.problems[1].reason
