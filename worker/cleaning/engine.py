"""Run a cleaning config over a frame, step by step, and say what each step did."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
from loguru import logger

from . import dates
from .config import CleaningConfig, check_columns, validate_config
from .errors import Cancelled, StepError
from .progress import OnProgress
from .report import Report, StepReport
from .steps import OPS

# Failures of the data or of pandas on it. Anything else (a time limit signalled into the
# step, MemoryError, KeyboardInterrupt) passes through untouched for the caller to handle.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    ArithmeticError,
    AttributeError,
    LookupError,
    NotImplementedError,
    TypeError,
    ValueError,
    re.error,
)


def run(
    df: pd.DataFrame,
    config: CleaningConfig | dict[str, Any],
    *,
    formats: dict[str, str] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_progress: OnProgress | None = None,
) -> tuple[pd.DataFrame, Report]:
    """Apply every step in order; ``df`` itself is never modified.

    ``formats`` are the datetime formats the frame was read with (``ReadResult.formats``);
    the report's ``date_formats`` say how the result's datetime columns are to be written.

    Raises ConfigError (bad config, or a step naming a column the frame will not have),
    Cancelled (``should_stop()`` answered true before a step) or StepError (a step failed).
    ``on_step(done, total)`` is called after each step, as is ``on_progress("step", done, total)``
    (see progress.py).
    """
    config = config if isinstance(config, CleaningConfig) else validate_config(config)
    check_columns(config, [str(c) for c in df.columns])
    if not df.index.is_unique:
        df = df.reset_index(drop=True)
    rows_in, total, reports = len(df), len(config.steps), []
    formats = dates.follow(formats or {}, None, df, df)
    for number, step in enumerate(config.steps, start=1):
        if should_stop is not None and should_stop():
            raise Cancelled(f"stopped on request before step {number} of {total}")
        before = df
        df, report = run_step(df, step, number)
        formats = dates.follow(formats, step, before, df)
        logger.debug("step {}/{} {}", number, total, report.summary)
        reports.append(report)
        if on_step is not None:
            on_step(number, total)
        if on_progress is not None:
            on_progress("step", number, total)
    return df, Report(rows_in=rows_in, rows_out=len(df), steps=reports, date_formats=formats)


def run_step(df: pd.DataFrame, step: Any, number: int) -> tuple[pd.DataFrame, StepReport]:
    try:
        out, report = OPS[step.op](df, step)
    except StepError as exc:
        raise StepError(number, step.op, exc.message) from exc
    except DATA_ERRORS as exc:
        raise StepError(number, step.op, f"unexpected error: {type(exc).__name__}: {exc}") from exc
    return out, dataclasses.replace(report, step=number)
