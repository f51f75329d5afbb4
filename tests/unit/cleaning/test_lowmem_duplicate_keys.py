"""The low-memory path's duplicate keys: one int64 per row, equal exactly where pandas finds the rows
equal, spanning few enough values that drop_duplicates counts them instead of hashing them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import fast_rows, lowmem_steps
from worker.cleaning.lowmem_store import Store

from .strategies import PROPERTY, frames


def stored(df: pd.DataFrame, folder: Path, order: np.ndarray | None = None) -> Store:
    folder.mkdir(exist_ok=True)
    store = Store(folder)
    store.start(len(df))
    for name in df.columns:
        store.save(str(name), df[name])
    if order is not None:
        store.select(order)
    return store


def assert_keys_match(df: pd.DataFrame, store: Store) -> None:
    rows = df.iloc[store.selection]
    keys = lowmem_steps.key_frame(store, list(store.names))
    assert list(keys.columns) == list(store.names)
    assert keys.index.equals(pd.Index(store.selection))
    for keep in ("first", "last", False):
        expected = rows.duplicated(keep=keep).to_numpy()
        np.testing.assert_array_equal(keys.duplicated(keep=keep).to_numpy(), expected)
        np.testing.assert_array_equal(keys.iloc[:, :1].duplicated(keep=keep).to_numpy(), expected)
    if len(keys):
        assert fast_rows.repeats(keys.iloc[:, 0].array) is not None  # counted, not hashed


@PROPERTY
@given(df=frames(min_rows=0, max_rows=40).filter(lambda f: len(f.columns) >= 2), data=st.data())
def test_keys_are_equal_exactly_where_rows_are(df: pd.DataFrame, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    df = pd.concat([df, df.iloc[::3]], ignore_index=True)  # some exact repeats
    order = np.array(data.draw(st.permutations(range(len(df)))), dtype=np.int64)
    kept = order[: data.draw(st.integers(0, len(order)))]
    assert_keys_match(df, stored(df, tmp_path_factory.mktemp("keys"), kept))


def test_keys_of_many_wide_columns_with_a_screen(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    df = pd.DataFrame(
        {
            "id": pd.array(np.arange(n) % 15_000, dtype="Int64"),  # the screen: a fifth of the ids repeat
            **{f"t{i}": pd.Series(rng.choice(["a", "b", None], n), dtype="str") for i in range(6)},
            **{f"f{i}": rng.integers(0, 40_000, n).astype("float64") for i in range(6)},
        }
    )
    df.iloc[15_000:, 1:] = df.iloc[:5_000, 1:].to_numpy()  # the repeated ids repeat the whole row
    df.loc[17_000, "f3"] = -1.0  # but one of them differs
    assert_keys_match(df, stored(df, tmp_path))
    assert_keys_match(df, stored(df, tmp_path / "sorted", np.argsort(-np.arange(n)).astype(np.int64)))


def test_keys_of_one_column(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": pd.array([3, None, 3, 5, None], dtype="Int64"), "b": [1.0, 2.0, 3.0, 4.0, 5.0]})
    store = stored(df, tmp_path)
    keys = lowmem_steps.key_frame(store, ["a"])
    np.testing.assert_array_equal(keys.duplicated(keep=False).to_numpy(), df[["a"]].duplicated(keep=False).to_numpy())
