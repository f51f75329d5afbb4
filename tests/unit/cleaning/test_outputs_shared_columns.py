"""write_outputs makes the frame's columns once for its CSV and Parquet writers: the files equal
the references' (pandas_csv on the formatted frame, pandas_parquet), date formats or not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker import outputs
from worker.cleaning import dates, writing

from .strategies import PROPERTY, frames


@PROPERTY
@given(df=frames(min_rows=1), day=st.booleans())
def test_outputs_equal_the_references(df: pd.DataFrame, day: bool, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("o")
    formats = None
    if day:
        df = df.assign(when=pd.Series(pd.to_datetime(["2024-01-02"] * len(df)), dtype="datetime64[us]"))
        formats = {"when": "%d/%m/%Y"}
    outputs.write_outputs(df, folder, date_formats=formats, xlsx_on_request=True)
    writing.pandas_csv(dates.formatted(df, formats), folder / "reference.csv")
    outputs.pandas_parquet(df, folder / "reference.parquet")
    assert (folder / "output.csv").read_bytes() == (folder / "reference.csv").read_bytes()
    assert (folder / "output.parquet").read_bytes() == (folder / "reference.parquet").read_bytes()


def test_the_csv_writer_takes_the_given_columns_only_for_the_frame_itself(tmp_path: Path) -> None:
    df = pd.DataFrame({"when": pd.Series(pd.to_datetime(["2024-01-02"]), dtype="datetime64[us]"), "n": [1]})
    stale = [pd.Series(["x"], dtype="str"), pd.Series([2])]
    writing.write_csv(df, tmp_path / "f.csv", {"when": "%d/%m/%Y"}, columns=stale)
    assert (tmp_path / "f.csv").read_text() == "when,n\n02/01/2024,1\n"
    writing.write_csv(df, tmp_path / "g.csv", None, columns=stale)  # the caller's columns are used as given
    assert (tmp_path / "g.csv").read_text() == "when,n\nx,2\n"
