"""Seeded benchmark files, made once and cached under benchmarks/out/data/ (git-ignored).

12 messy mixed columns: ints with gaps, floats with gaps, text with stray spaces and mixed
case, unicode, zip codes with leading zeros, ISO dates with gaps, yes/no, NA tokens; about
5 % of the rows repeat an earlier row exactly. The file is made a block at a time (each
block's duplicates come from it and the block before), so 5M rows never sit in memory.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
SEED = 20261130
BLOCK = 250_000
SIZES = {"100k": 100_000, "1m": 1_000_000, "5m": 5_000_000}

# The realistic config of the issue: dedup, fills with median / mean / constant, trim, case, cast, filter.
STEPS = [
    {"op": "drop_duplicates"},
    {"op": "fill_missing", "columns": ["age"], "strategy": "median"},
    {"op": "fill_missing", "columns": ["income"], "strategy": "mean"},
    {"op": "fill_missing", "columns": ["city"], "strategy": "constant", "value": "unknown"},
    {"op": "trim_whitespace", "columns": ["email", "city", "name"]},
    {"op": "change_case", "columns": ["email"], "case": "lower"},
    {"op": "cast", "columns": {"score": "float", "signup": "date"}, "errors": "coerce"},
    {"op": "filter_rows", "column": "active", "operator": "eq", "value": True},
]


def parse_size(text: str) -> int:
    """'100k', '1m', '5M', '250000' -> a row count."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not found:
        raise ValueError(f"not a size: {text!r} (write e.g. 100k, 1m, 5m)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[found[2].lower()]
    return int(float(found[1]) * scale)


def label(rows: int) -> str:
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    return f"{rows // 1000}k" if rows % 1000 == 0 else str(rows)


def dataset(rows: int) -> Path:
    """The cached file of ``rows`` data rows (made on first use)."""
    path = OUT / "data" / f"messy-{rows}-{SEED}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        _write(partial, rows)
        partial.rename(path)
    return path


def _write(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    previous = None
    with path.open("w", encoding="utf-8", newline="") as handle:
        for start in range(0, rows, BLOCK):
            size = min(BLOCK, rows - start)
            unique = _block(rng, start, size - size // 20)
            pool = unique if previous is None else pd.concat([previous, unique])
            duplicates = pool.iloc[rng.integers(0, len(pool), size - len(unique))]
            block = pd.concat([unique, duplicates])
            block = block.iloc[rng.permutation(len(block))]
            block.to_csv(handle, index=False, header=start == 0, lineterminator="\n")
            previous = unique


def _block(rng, start: int, n: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    def gaps(values: np.ndarray, share: float) -> np.ndarray:
        out = values.astype(object)
        out[rng.random(len(out)) < share] = None
        return out

    ids = np.arange(start, start + n)
    cities = np.array([" Paris", "paris", "Berlin ", "São Paulo", "東京", "New York", "  Kraków"])
    return pd.DataFrame(
        {
            "id": ids,
            "email": [f" User{i}@Example.com" if i % 3 else f"user{i}@example.com " for i in ids],
            "name": rng.choice(np.array(["Ann ", "bob", " Zoë", "Éric", "li"]), n),
            "age": gaps(rng.integers(18, 90, n), 0.1),
            "income": gaps(np.round(rng.normal(50_000, 15_000, n), 2), 0.05),
            "city": gaps(rng.choice(cities, n), 0.08),
            "zip": [f"{z:05d}" for z in rng.integers(0, 99_999, n)],
            "signup": gaps(
                (np.datetime64("2020-01-01") + rng.integers(0, 1500, n).astype("timedelta64[D]")).astype(str), 0.03
            ),
            "active": rng.choice(np.array(["yes", "no"]), n),
            "score": gaps(np.round(rng.random(n) * 100, 3).astype(str), 0.02),
            "category": rng.choice(np.array(["a", "b", "c", "d"]), n),
            "notes": gaps(rng.choice(np.array(["call back", "vip", "n/a", "ünïcode ✓"]), n), 0.5),
        }
    )
