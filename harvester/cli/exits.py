"""Exit codes, in one place: each expected failure mapped to a message and its code."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator, Mapping

from harvester.api.errors import UsageError
from harvester.jobs import JobFileError
from harvester.ops.errors import (
    BadPartition,
    DestinationError,
    MergeConflict,
    MissingExtra,
    NotPublishable,
)
from harvester.sink import (
    CheckpointCorrupt,
    CheckpointMismatch,
    OutputError,
    OutputLocked,
    UnknownSearch,
)

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_STOPPED, EXIT_LOCKED = 0, 1, 2, 3, 4
#: Added to DESIGN.md's codes: the output could not be written (disk full, read-only).
#: Distinct from 1 so a scheduler can tell a storage problem from failed searches.
EXIT_OUTPUT = 5
#: The API could not be reached (the breaker: nothing answered for give_up_after seconds);
#: nothing was made final, no _SUCCESS: retry later, it resumes.
EXIT_UNREACHABLE = 6
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}
#: Python's own code for an uncaught exception (a bug): never a scheduler's "done".
EXIT_INTERNAL = 1


def signal_exit(signum: int) -> int:
    """The exit code of a run interrupted by `signum` (130 for SIGINT, 143 for SIGTERM)."""
    return EXIT_SIGNAL.get(signal.Signals(signum), 128 + signum)


def run_exit(
    *,
    caught: list[int],
    stopped: bool,
    unreachable: bool,
    success: bool,
    by_status: Mapping[str, int],
) -> int:
    """A finished run's exit code, by precedence: a signal, the platform's stop (3), the
    breaker (6), searches left unfinished or failed/expired (1), else 0."""
    if caught:
        return signal_exit(caught[0])
    if stopped:
        return EXIT_STOPPED
    if unreachable:
        return EXIT_UNREACHABLE
    if not success or by_status.get("failed", 0) or by_status.get("expired", 0):
        return EXIT_INCOMPLETE
    return EXIT_OK


class Terminated(Exception):
    """SIGTERM arrived before the run's own signal handling was in place."""


def raise_terminated(signum: int, frame: object) -> None:
    """A SIGTERM handler for the time before (and after) the event loop: unwind cleanly."""
    raise Terminated()


class CliError(Exception):
    """A message for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """Map every expected failure to one paragraph on stderr and its exit code."""
    try:
        try:
            yield
        except BaseExceptionGroup as group:
            raise _single(group) from None
    except JobFileError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    except UsageError as exc:  # missing credentials, a bad base URL or client id
        raise CliError(f"harvester: {exc.message}", EXIT_USAGE) from exc
    except CheckpointMismatch as exc:
        changes = "\n".join(f"  - {c}" for c in exc.changes)
        raise CliError(
            f"harvester: the job changed since this output directory was started:\n{changes}\n"
            "Resuming would mix two different jobs. Run with --fresh to start over in this "
            "directory, or give another --out.",
            EXIT_USAGE,
        ) from exc
    except CheckpointCorrupt as exc:
        raise CliError(f"harvester: {exc}", EXIT_USAGE) from exc
    except OutputLocked as exc:
        raise CliError(f"harvester: {exc}", EXIT_LOCKED) from exc
    except OutputError as exc:
        raise CliError(f"harvester: {exc}", EXIT_OUTPUT) from exc
    except UnknownSearch as exc:
        raise CliError(f"harvester: {exc}", EXIT_INCOMPLETE) from exc
    except (NotPublishable, MergeConflict, MissingExtra, BadPartition) as exc:
        raise CliError(f"harvester: {exc}", EXIT_USAGE) from exc
    except DestinationError as exc:  # nothing half-visible was left; publishing again resumes
        raise CliError(f"harvester: {exc}", EXIT_INCOMPLETE) from exc
    except FileNotFoundError as exc:
        raise CliError(f"harvester: {exc}", EXIT_USAGE) from exc


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The real error inside task-group wrappers (e.g. the writer's OutputError).

    When several tasks failed at once, the first that is not a cancellation stands for
    them: one paragraph and one exit code, never a traceback of the group.
    """
    errors = _leaves(group)
    # asyncio's, as anyio runs on it here; anyio can only name it inside a running loop
    real = [e for e in errors if not isinstance(e, asyncio.CancelledError)]
    return (real or errors)[0]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return leaves
