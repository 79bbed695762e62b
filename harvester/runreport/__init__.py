"""The run report: a timeline recorded while a run goes, and report.html drawn from it.

    timeline = Timeline.open(out_dir, run_id=sink.run_id, settings=..., search_ids=...)
    ...                                    # the run, with timeline hooks (see timeline.py)
    timeline.end(exit_code=code, reason=why, stats=harvest.stats)
    path = write_report(out_dir)           # report.html, listed in manifest.json

It imports the engine only for types (events, the Fetcher protocol) and reads the sink's
files; the CLI decides when a report is written.
"""

from __future__ import annotations

from pathlib import Path

from harvester.runreport.page import render
from harvester.runreport.story import Story, check_run_dir, load_story
from harvester.runreport.timeline import Segment, Timeline, read_timeline
from harvester.sink import REPORT_NAME, OutputLocked, attach_report
from harvester.sink.lock import DirLock

__all__ = [
    "Segment",
    "Story",
    "Timeline",
    "load_story",
    "read_timeline",
    "render",
    "write_report",
]


def write_report(out_dir: Path, *, own_lock: bool = False, unfinished: bool = False) -> Path:
    """Write `out_dir/report.html` from the directory's files, and list it in its manifest.

    `own_lock`: the caller holds the directory's lock (the run itself); otherwise the lock
    is taken for the manifest update, and if a run holds it the report is drawn from the
    checkpoint (read-only) and only report.html is written: that run lists its own at the
    end. `unfinished`: the run ended without writing its closing files (e.g. the disk
    filled): draw from the checkpoint and leave the manifest alone.
    """
    check_run_dir(out_dir)  # before taking the lock, which would leave a lock file behind
    if own_lock:
        story = load_story(out_dir, own_lock=True, live=unfinished)
        attach_report(out_dir, render(story), list_in_manifest=not unfinished)
        return out_dir / REPORT_NAME
    try:
        lock = DirLock(out_dir)
    except OutputLocked:  # a run holds it: report read-only
        attach_report(out_dir, render(load_story(out_dir)), list_in_manifest=False)
        return out_dir / REPORT_NAME
    try:
        attach_report(out_dir, render(load_story(out_dir, own_lock=True)))
    finally:
        lock.release()
    return out_dir / REPORT_NAME
