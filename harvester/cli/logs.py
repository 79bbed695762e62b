"""Where a command's words go: text for people, or with `--log-format json` one JSON object
per line on stdout and stderr, every line, from the first usage error to `run_finished`.

    console = Console(out, err, json=wants_json(argv))
    console.event("run_started", job="nightly")        # engine events, via console.observer
    console.say("harvester: ...", event="error")        # a message: text, or an event
    console.finished(exit_code)                         # json: the closing run_finished

Log records of the library (the API client's token events, Python warnings) reach the same
stream through `capture_logs`; secrets never reach a record in the first place.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TextIO

from harvester.engine.events import Observer
from harvester.report import JsonLogObserver, TextLogObserver

__all__ = ["Console", "capture_logs", "wants_json"]


def wants_json(argv: Sequence[str]) -> bool:
    """Whether argv asks for JSON logs, looked up before argparse (whose errors come first)."""
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--log-format=json" or (
            arg == "--log-format" and index + 1 < len(argv) and argv[index + 1] == "json"
        ):
            return True
    return False


class Console:
    """A command's output: events and messages as text, or as JSON lines."""

    def __init__(self, out: TextIO, err: TextIO, *, json: bool) -> None:
        self.out = out  #: the summary and a command's answer
        self.err = err  #: events, progress, messages
        self.json = json  #: --log-format json
        self.observer: Observer = JsonLogObserver(err) if json else TextLogObserver(err)
        self.result: dict[str, object] = {}  #: counts for run_finished, filled by the command
        self._started = time.monotonic()

    def event(self, name: str, /, **fields: object) -> None:
        """One thing happened (rendered by the observer: a JSON line, or a notable text line)."""
        self.observer.event(name, **fields)

    def say(self, text: str, *, event: str, stdout: bool = False, **fields: object) -> None:
        """A message for a person; with JSON logs, the event `event` with `message=text`."""
        stream = self.out if stdout else self.err
        if self.json:
            JsonLogObserver(stream).event(event, message=text, **fields)
        else:
            stream.write(text.rstrip("\n") + "\n")
            stream.flush()

    def emit(self, name: str, /, *, stdout: bool = False, **fields: object) -> None:
        """A JSON event on stdout or stderr, whatever the observer would show (json only)."""
        JsonLogObserver(self.out if stdout else self.err).event(name, **fields)

    def finished(self, exit_code: int) -> None:
        """JSON logs end with `run_finished`: exit code, counts, calls, duration."""
        if not self.json:
            return
        fields: dict[str, object] = {"exit_code": exit_code, "calls": 0}
        fields |= self.result
        fields["duration_s"] = round(time.monotonic() - self._started, 3)
        JsonLogObserver(self.err).event("run_finished", **fields)


class _ToObserver(logging.Handler):
    """Log records as events: `extra={"event": name, ...}` names the event and its fields."""

    _PLAIN = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message",
        "asctime",
        "event",
    }

    def __init__(self, console: Console) -> None:
        super().__init__(logging.DEBUG)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            name = getattr(record, "event", None)
            fields = {k: v for k, v in vars(record).items() if k not in self._PLAIN}
            if not isinstance(name, str):
                name = "log"
                fields |= {
                    "level": record.levelname.lower(),
                    "logger": record.name,
                    "message": record.getMessage(),
                }
            self._console.event(name, **fields)
        except Exception:  # a log line must never end the run
            self.handleError(record)


@contextlib.contextmanager
def capture_logs(console: Console) -> Iterator[None]:
    """Route the library's log records (and, with JSON logs, Python's warnings and any
    other warning-level record) to the console for the block; restore afterwards."""
    handler = _ToObserver(console)
    library = logging.getLogger("harvester")
    root = logging.getLogger()
    saved = (library.level, library.propagate, root.handlers[:])
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    library.propagate = False
    if console.json:
        root.handlers = [handler]  # warning-level records of any library, as events
        logging.captureWarnings(True)
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.setLevel(saved[0])
        library.propagate = saved[1]
        if console.json:
            logging.captureWarnings(False)
            root.handlers = saved[2]
