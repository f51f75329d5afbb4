"""Per-column profiles: counts, min/max for numbers and dates, top values for text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from worker.cleaning.profile import profile

FRAME = pd.DataFrame(
    {
        "city": pd.Series(["b", "a", "b", None, "c", "日本", "d", "e"], dtype="str"),
        "n": pd.array([3, None, 1, 7, 7, 2, 2, 2], dtype="Int64"),
        "x": [1.5, np.nan, np.nan, 2.0, -3.0, 0.0, 0.0, 0.0],
        "ok": pd.array([True, False, True, None, True, True, False, None], dtype="boolean"),
        "d": pd.to_datetime(pd.Series(["2024-01-01", None, "2023-05-01", None, None, None, None, "2024-12-31"])),
        "empty": pd.Series([None] * 8, dtype="str"),
    }
)


def test_profile_of_each_column_type() -> None:
    result = profile(FRAME, {"city": "text", "n": "integer", "x": "float", "ok": "boolean", "d": "datetime", "empty": "text"})
    assert result["city"] == {
        "type": "text",
        "missing": 1,
        "distinct": 6,
        "min": None,
        "max": None,
        "top": [["b", 2], ["a", 1], ["c", 1], ["d", 1], ["e", 1]],
        "cast_failures": {"integer": {"count": 7, "first": "b"}, "float": {"count": 7, "first": "b"}},
    }
    assert result["n"] == {"type": "integer", "missing": 1, "distinct": 4, "min": 1, "max": 7, "top": []}
    assert result["x"] == {"type": "float", "missing": 2, "distinct": 4, "min": -3.0, "max": 2.0, "top": []}
    assert result["ok"]["top"] == [["True", 4], ["False", 2]]
    assert (result["d"]["min"], result["d"]["max"]) == ("2023-05-01T00:00:00", "2024-12-31T00:00:00")
    assert result["empty"]["top"] == [] and result["empty"]["missing"] == 8
    assert result["empty"]["cast_failures"]["integer"] == {"count": 0, "first": None}
    assert json.loads(json.dumps(result)) == result


def test_profile_without_types_uses_the_dtypes() -> None:
    result = profile(FRAME)
    assert {name: stats["type"] for name, stats in result.items()} == {
        "city": "text",
        "n": "integer",
        "x": "float",
        "ok": "boolean",
        "d": "datetime",
        "empty": "text",
    }


def test_profile_of_an_empty_frame() -> None:
    result = profile(FRAME.iloc[:0])
    assert result["n"] == {"type": "integer", "missing": 0, "distinct": 0, "min": None, "max": None, "top": []}


def test_profile_of_text_counts_the_values_a_numeric_cast_would_lose() -> None:
    frame = pd.DataFrame(
        {
            "zip": pd.Series(["02134", " 00501", None, "99999"], dtype="str"),
            "code": pd.Series(["10", "2.5", "n/a", "1e3"], dtype="str"),
        }
    )
    result = profile(frame, {"zip": "text", "code": "text"})
    assert result["zip"]["cast_failures"] == {"integer": {"count": 0, "first": None}, "float": {"count": 0, "first": None}}
    assert result["code"]["cast_failures"] == {"integer": {"count": 2, "first": "2.5"}, "float": {"count": 1, "first": "n/a"}}
