"""Regex safety: patterns must fit RE2 (checked without pandas), replacements translate exactly,
and a catastrophic-backtracking pattern runs in linear time instead of hanging a worker."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from worker.cleaning.config import validate_config
from worker.cleaning.errors import ConfigError
from worker.cleaning.patterns import PatternError, check_pattern, re2_replacement

ROOT = Path(__file__).resolve().parents[3]
RE2 = "; patterns run on RE2, which never backtracks"

REFUSED = [
    (r"(a)\1", "backreferences like \\1 are not supported"),
    (r"(?P<x>a)(?P=x)", "backreferences (?P=name) are not supported"),
    (r"foo(?=bar)", "lookahead (?=...) is not supported"),
    (r"foo(?!bar)", "negative lookahead (?!...) is not supported"),
    (r"[^]](?=x)", "lookahead (?=...) is not supported"),
    (r"(?<=\$)\d+", "lookbehind (?<=...) is not supported"),
    (r"(?<!-)\d+", "negative lookbehind (?<!...) is not supported"),
    (r"(?>a+)b", "atomic groups (?>...) are not supported"),
    (r"a++", "possessive quantifiers (*+, ++, ?+) are not supported"),
    (r"\d{3}+", "possessive quantifiers (*+, ++, ?+) are not supported"),
    (r"(a)?(?(1)b|c)", "conditional groups (?(...)...) are not supported"),
    (r"a(?#note)", "comments (?#...) are not supported"),
    (r"(?x) a b", "the inline flag 'x' is not supported (only i, m and s are)"),
    (r"(?a)\w", "the inline flag 'a' is not supported (only i, m and s are)"),
    (r"end\Z", "\\Z (end of text) is not supported; use $"),
    (r"\u00e9", "\\u escapes are not supported; write the character itself"),
    (r"a{1001}", "repetition counts above 1000 are not supported"),
    (r"a{,3}", "{,3} is read as text by RE2; write {0,3}"),
    (r"[\1]", "octal escapes like \\1 inside [...] are not supported; use \\xHH"),
    (r"[\b]", "\\b inside [...] (a backspace) is not supported; use \\x08"),
]
ACCEPTED = [
    r"(a+)+$",
    r"^\s*(?P<area>\d{3})[- ]?\d{4}$",
    r"(?i)^krak",
    r"(?i:a)b(?-i:c)",
    r"(?s).+",
    r"[(?=]x{2}",
    r"\\+",
    r"[*]+",
    r"\*+",
    r"[]a]+",
    r"\123",
    r"a{2,5}?",
    r"[^\]]+",
    r"\x41\t\n",
    r"(?:ab)*c",
    r"a}+",
    r"x{a}+",
]


@pytest.mark.parametrize(("pattern", "reason"), REFUSED, ids=[p for p, _ in REFUSED])
def test_patterns_re2_cannot_run_are_refused_with_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as caught:
        check_pattern(pattern)
    assert str(caught.value) == reason + RE2


@pytest.mark.parametrize("pattern", [p for p, _ in REFUSED if "read as text" not in _])
def test_what_is_refused_is_what_re2_refuses(pattern: str) -> None:
    with pytest.raises(pa.ArrowInvalid):
        pc.match_substring_regex(pa.array(["x"]), pattern=pattern)


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_accepted_patterns_run_on_re2(pattern: str) -> None:
    assert check_pattern(pattern).pattern == pattern
    pc.match_substring_regex(pa.array(["x"]), pattern=pattern)


def test_a_python_syntax_error_is_named() -> None:
    with pytest.raises(PatternError, match=r"^invalid regular expression: missing \), unterminated subpattern"):
        check_pattern("(a")


@pytest.mark.parametrize(
    ("pattern", "replacement", "rewrite"),
    [
        (r"(\d+)-(\d+)", r"\2-\1", r"\2-\1"),
        (r"(?P<area>\d{3})", r"(\g<area>)", r"(\1)"),
        (r"(a)", r"\g<1>0", r"\10"),
        (r"\d+", r"[\g<0>]", r"[\0]"),
        (r"x", r"a\\b", r"a\\b"),
        (r"x", r"tab\tnew\nline", "tab\tnew\nline"),
        (r"x", r"100%", r"100%"),
    ],
)
def test_replacements_become_re2_rewrites(pattern: str, replacement: str, rewrite: str) -> None:
    assert re2_replacement(pattern, replacement) == rewrite
    column = pa.array(["x 12-34 a 555"])
    expected = re.sub(pattern, replacement, column[0].as_py())
    assert pc.replace_substring_regex(column, pattern=pattern, replacement=rewrite)[0].as_py() == expected


@pytest.mark.parametrize(
    ("replacement", "reason"),
    [
        (r"\2", "invalid replacement: invalid group reference 2 at position 1"),
        (r"\g<nope>", "invalid replacement: unknown group name 'nope'"),
        (r"\10", "invalid replacement: group 10 is past 9, the last RE2 can refer to"),
        (r"\q", "invalid replacement: bad escape \\q at position 0"),
    ],
)
def test_bad_replacements_are_refused(replacement: str, reason: str) -> None:
    pattern = "(a)" if replacement != r"\10" else "(a)" * 10
    with pytest.raises(PatternError) as caught:
        re2_replacement(pattern, replacement)
    assert str(caught.value) == reason


def test_config_validation_names_step_and_field_for_unsafe_patterns() -> None:
    steps = [
        {"op": "regex_replace", "columns": ["a"], "pattern": r"(\w)\1", "replacement": ""},
        {"op": "filter_rows", "column": "a", "operator": "matches", "value": r"^(?!x)"},
    ]
    with pytest.raises(ConfigError) as caught:
        validate_config({"steps": steps})
    assert [str(p) for p in caught.value.problems] == [
        "step 1 (regex_replace): pattern: backreferences like \\1 are not supported" + RE2,
        "step 2 (filter_rows): value: negative lookahead (?!...) is not supported" + RE2,
    ]


def test_catastrophic_backtracking_pattern_runs_in_linear_time() -> None:
    # With Python's backtracking engine the first cell alone takes 2**29 steps (minutes), so a
    # regression shows as the child timing out; RE2 takes milliseconds for all of it.
    code = textwrap.dedent(
        """
        import time
        import pandas as pd
        from worker.cleaning import engine

        cells = ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"] * 2000 + ["a" * 200_000 + "!"]
        frame = pd.DataFrame({"t": pd.Series(cells, dtype="str")})
        steps = [
            {"op": "regex_replace", "columns": ["t"], "pattern": "(a+)+$", "replacement": "x"},
            {"op": "filter_rows", "column": "t", "operator": "matches", "value": "(a+)+$"},
        ]
        start = time.perf_counter()
        out, report = engine.run(frame, {"steps": steps})
        print(f"{time.perf_counter() - start:.3f} {len(out)} {report.steps[0].cells_changed['t']}")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    elapsed, rows, changed = result.stdout.split()
    assert (rows, changed) == ("0", "0")
    assert float(elapsed) < 2.0
