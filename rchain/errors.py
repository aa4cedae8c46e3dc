"""Errors that reach a person, and the CLI's documented exit codes.

Every error carries a one-line message (naming the file, line or key at fault), a short title
(for the console's modal) and an optional hint. The CLI prints them to stderr and exits with the
error's code; stdout stays data.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the `rchain` CLI. Part of the public interface: scripts depend on them."""

    OK = 0
    #: A stage ran and failed (or crashed); the message names the stage.
    STAGE_FAILED = 1
    #: Invalid config or command-line usage; nothing was started.
    USAGE = 2
    #: The run directory, config file or stage does not exist.
    NOT_FOUND = 3
    #: The request conflicts with the run's state (stage already running, file exists).
    CONFLICT = 4
    #: The stage is not built yet in this version of rchain.
    NOT_BUILT = 5
    #: Interrupted by the user (Ctrl-C); running stages were stopped.
    INTERRUPTED = 130


class RchainError(Exception):
    """Base of every error meant for a person rather than a traceback."""

    exit_code: ExitCode = ExitCode.STAGE_FAILED
    title: str = "Error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(RchainError):
    """The pipeline config cannot be read or does not validate."""

    exit_code = ExitCode.USAGE
    title = "Invalid config"


class UsageError(RchainError):
    exit_code = ExitCode.USAGE
    title = "Invalid usage"


class NotFound(RchainError):
    exit_code = ExitCode.NOT_FOUND
    title = "Not found"


class Conflict(RchainError):
    exit_code = ExitCode.CONFLICT
    title = "Conflict"


class StageFailed(RchainError):
    exit_code = ExitCode.STAGE_FAILED
    title = "Stage failed"


class NotBuiltYet(RchainError):
    exit_code = ExitCode.NOT_BUILT
    title = "Not built yet"


class DataError(RchainError):
    """Bad input data; the message names the file and line."""

    exit_code = ExitCode.STAGE_FAILED
    title = "Bad input data"
