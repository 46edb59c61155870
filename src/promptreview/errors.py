"""Errors a user can act on.

Every error that reaches the user names the file, the line and the field when there is one:
a traceback is never the user interface. The CLI turns these into one line and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where something came from, so messages and annotations can point at it."""

    file: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" ({self.field})"
        return where


class PromptReviewError(Exception):
    """Base class for errors that are reported as one clear line, not a traceback."""

    exit_code = 2


class ConfigError(PromptReviewError):
    """Configuration, prompt or case data that cannot be used as written."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class BudgetExceeded(PromptReviewError):
    """The planned review would make more calls or cost more than the budget allows."""


class ModelConfigError(PromptReviewError):
    """The model endpoint refused us for a reason retrying cannot fix (auth, quota, unknown model)."""
