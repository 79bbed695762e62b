"""What a person sees: the live line, log events and the summary."""

from __future__ import annotations

import io
from collections import Counter

import orjson

from harvester.engine.events import HarvestStats
from harvester.report import JsonLogObserver, ProgressLine, RunSummary, TextLogObserver


def test_live_line_shows_the_recent_answer_rate_not_the_dispatch_count() -> None:
    stats = HarvestStats(searches=10, pages_left=40, current_rate=5.0)
    now = [100.0]
    line = ProgressLine(io.StringIO(), lambda: stats, clock=lambda: now[0], width=lambda: 200)
    stats.calls = 8  # eight dispatched at once, all waiting for the throttle
    line.draw()
    for _ in range(10):
        now[0] += 1.0
        stats.answered += 5
        line.draw()
    text = line._stream.getvalue().split("\r")[-1]  # type: ignore[attr-defined]
    assert "5.0 req/s" in text
    assert "ETA 0:08" in text  # 40 pages left at 5/s
    assert "searches 0/10" in text


def test_json_log_lines_are_one_object_each() -> None:
    out = io.StringIO()
    JsonLogObserver(out).event("retry", search_id="S", attempt=2)
    JsonLogObserver(out).event("page_done", search_id="S", offset=100)
    events = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["retry", "page_done"]
    assert events[0]["attempt"] == 2 and "ts" in events[0]


def test_text_log_keeps_notable_events_and_skips_page_noise() -> None:
    out = io.StringIO()
    log = TextLogObserver(out)
    log.event("page_done", search_id="S", offset=0)
    log.event("search_expired", search_id="S", status="expired")
    assert out.getvalue().count("\n") == 1 and "search_expired search_id=S" in out.getvalue()


def test_summary_names_statuses_records_calls_and_next_steps() -> None:
    stats = HarvestStats(searches=3, calls=12, retries=2, pages=10, errors=Counter())
    summary = RunSummary(
        job_name="nightly",
        out_dir="out/nightly/dt=2026-11-25",
        totals={"records": 1234, "duplicates": 5},
        by_status={"complete": 2, "expired": 1},
        stats=stats,
        elapsed=6.0,
        success=True,
        stop_reason=None,
        advice=["recreate expired searches"],
    )
    text = summary.text()
    assert "1 expired, 2 complete" not in text and "2 complete, 1 expired" in text
    assert "1,234 written, 5 duplicates dropped" in text
    assert "12 this run (2 retries" in text
    assert "next      recreate expired searches" in text
    fields = summary.fields()  # the JSON event holds the same facts
    assert (fields["records"], fields["calls"], fields["retries"]) == (1234, 12, 2)
    assert fields["by_status"] == {"complete": 2, "expired": 1}
    assert fields["next"] == ["recreate expired searches"]


def test_the_live_line_is_cut_to_the_terminal_width() -> None:
    stats = HarvestStats(searches=10_000, pages_left=123_456, current_rate=40.0)
    stream = io.StringIO()
    line = ProgressLine(stream, lambda: stats, width=lambda: 80)
    line.draw()
    drawn = stream.getvalue().split("\r")[-1]
    assert len(drawn) <= 79 and drawn.endswith("...")
    line.draw()  # a redraw pads only up to what was drawn: still within the width
    assert all(len(part) <= 79 for part in stream.getvalue().split("\r"))


def screen(written: str) -> list[str]:
    """What a terminal shows for `written`: a carriage return moves back to column 0."""
    rows = []
    for raw in written.split("\n"):
        row: list[str] = []
        for part_index, part in enumerate(raw.split("\r")):
            column = 0 if part_index else len(row)
            for char in part:
                if column < len(row):
                    row[column] = char
                else:
                    row.append(char)
                column += 1
        rows.append("".join(row).rstrip())
    return rows


def test_a_log_line_clears_the_live_line_first_so_the_two_never_share_a_line() -> None:
    stats = HarvestStats(searches=2, pages_left=3, current_rate=1.0)
    stream = io.StringIO()
    line = ProgressLine(stream, lambda: stats, width=lambda: 200)
    log = TextLogObserver(stream)
    log.live = line
    line.draw()
    log.event("retry", search_id="a", offset=0, error="HTTP 503")
    line.draw()
    rows = screen(stream.getvalue())
    assert len(rows) == 2
    assert rows[0].split(" ")[1:3] == ["retry", "search_id=a"]  # the log line, alone
    assert "searches" not in rows[0]
    assert rows[1].startswith("searches 0/2")  # the live line, redrawn below it
