"""Errors raised by the cleaning engine, each rendering one readable sentence.

    CleaningError
    ├── ConfigError   the steps are invalid (``.problems``: every Problem found)
    ├── ReadError     the upload is not a CSV the engine can read
    ├── StepError     a step failed on the data (``.step``, ``.op``)
    └── Cancelled     the caller asked the engine to stop between steps
"""

from __future__ import annotations

from dataclasses import dataclass


class CleaningError(Exception):
    """Base of every error the engine raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where (step, op, field) and why."""

    step: int | None
    op: str | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = ""
        if self.step is not None:
            where = f"step {self.step}" + (f" ({self.op})" if self.op else "") + ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.reason}"


class ConfigError(CleaningError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def __repr__(self) -> str:
        return f"ConfigError(problems={self.problems!r})"


class ReadError(CleaningError):
    """The file cannot be read as a CSV; the message says why in plain words."""


class StepError(CleaningError):
    """A step failed on the data. ``step`` is 1-based, or None until the engine knows it."""

    def __init__(self, step: int | None, op: str, message: str) -> None:
        self.step = step
        self.op = op
        self.message = message
        where = f"step {step} ({op})" if step is not None else op
        super().__init__(f"{where}: {message}")

    def __repr__(self) -> str:
        return f"StepError(step={self.step!r}, op={self.op!r}, message={self.message!r})"


class Cancelled(CleaningError):
    """The run was stopped on request before it finished."""
