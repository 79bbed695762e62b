"""report.html: one self-contained page (inline CSS and SVG, no script, no request to
anything outside itself) that tells a run's story: numbers first, then the charts, then
the searches that failed or expired. The same Story always gives the same bytes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from html import escape
from typing import Any

from harvester.runreport.charts import STATUS_CSS, all_charts, finishes
from harvester.runreport.story import Story

__all__ = ["MAX_ROWS", "render"]

MAX_ROWS = 500  #: failed/expired searches listed; searches.jsonl has them all
_STATUSES = ("complete", "empty", "truncated", "expired", "failed", "pending")
_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:960px;color:#212529;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}
.state{display:inline-block;padding:2px 8px;border-radius:4px;font-weight:600;color:#fff}
.st-complete{background:#2b8a3e}.st-warn{background:#d9480f}.st-incomplete{background:#e8590c}.st-running{background:#1c7ed6}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px 3px 0;text-align:left;
vertical-align:top}th{color:#495057;font-weight:600;white-space:nowrap}td.n{text-align:right;
font-variant-numeric:tabular-nums}.grid2{display:grid;grid-template-columns:1fr 1fr;gap:0 32px}
.list td,.list th{border-bottom:1px solid #e9ecef;font-size:13px}.muted{color:#868e96}
figure{margin:8px 0 0}svg{max-width:100%;height:auto;font:11px system-ui,sans-serif}
.frame{fill:none;stroke:#ced4da}.grid{stroke:#f1f3f5}.tick{stroke:#adb5bd}
.yt{text-anchor:end;dominant-baseline:middle;fill:#495057}.xt{text-anchor:middle;fill:#495057}
.axis,.legend{fill:#495057}.note{text-anchor:middle;fill:#adb5bd;font-size:13px}
polyline{fill:none;stroke-width:1.5}.sent{stroke:#1c7ed6}.configured{stroke:#2b8a3e;
stroke-dasharray:6 3;stroke-width:2}.in-force{stroke:#fab005;stroke-width:2}
.slowdown{fill:#e03131}.p50{stroke:#1c7ed6}.p90{stroke:#ae3ec9}.flight{stroke:#495057}
.retries{stroke:#212529;stroke-width:1;opacity:.7}.zero{stroke:#e03131;stroke-dasharray:4 3}
.resume line,.run-start line{stroke:#7048e8;stroke-dasharray:5 3;stroke-width:1.5}
.resume text,.run-start text{fill:#7048e8;font-weight:600}.shard{fill:#4dabf7}
.key.sent,.key.p50{fill:#1c7ed6}.key.configured{fill:#2b8a3e}.key.in-force{fill:#fab005}
.key.p90{fill:#ae3ec9}.key.flight{fill:#495057}.key.retries{fill:#212529}
.c0{fill:#e03131}.c1{fill:#f76707}.c2{fill:#fab005}.c3{fill:#7048e8}.c4{fill:#1098ad}
.c5{fill:#d6336c}.c6{fill:#5c940d}.c7{fill:#868e96}
.s-complete{fill:#2b8a3e}.s-empty{fill:#adb5bd}.s-truncated{fill:#1c7ed6}
.s-expired{fill:#f76707;stroke:#862e0a}.s-failed{fill:#e03131;stroke:#7d1313}
.s-pending{fill:#fab005}.s-none{fill:#fff;stroke:#adb5bd}
"""


def render(story: Story) -> bytes:
    """The whole page, as UTF-8 bytes."""
    title = f"harvester run report: {story.job_name}"
    body = [
        _header(story),
        _numbers(story),
        _runs(story),
        *(_chart(chart_id, heading, svg) for chart_id, heading, svg in all_charts(story)),
        _failures(story),
        f'<p class="muted">From {escape(str(story.out_dir.name))}: manifest.json, '
        "searches.jsonl and _timeline.jsonl. Hover a point or bar for its numbers.</p>",
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    return page.encode()


def _header(story: Story) -> str:
    end = story.last_end
    css = story.state
    if story.state == "running":
        pid = f" (pid {story.running_pid})" if story.running_pid else ""
        state, exit_text = f"running{pid}", "still going"
    else:
        by_status = story.totals.get("by_status") or {}
        bad = by_status.get("failed", 0) + by_status.get("expired", 0)
        state = {"complete": "complete (_SUCCESS)", "incomplete": "not finished, resumable"}[
            story.state
        ]
        if story.state == "complete" and bad:
            state, css = f"finished (_SUCCESS), {bad:,} failed or expired", "warn"
        elif story.state == "incomplete" and not story.totals.get("pending"):
            state = "finished, not _SUCCESS"
        code = None if end is None else end.get("exit")
        reason = "" if end is None or not end.get("reason") else f": {end['reason']}"
        exit_text = "unknown (no end recorded)" if code is None else f"{code}{reason}"
    return (
        f'<h1>Run report: <span data-k="job">{escape(story.job_name)}</span></h1>'
        f'<p><span class="state st-{css}" data-k="state">{escape(state)}</span> '
        f'&nbsp;exit code <b data-k="exit">{escape(exit_text)}</b></p>'
    )


def _numbers(story: Story) -> str:
    t = story.totals
    by_status = t.get("by_status") or {}
    started = story.runs[0].get("started_at") if story.runs else None
    ended = story.runs[-1].get("ended_at") if story.runs else None
    active = sum(s.duration for s in story.segments)
    runs = [
        ("started", _stamp(started), "started"),
        ("ended", _stamp(ended) if ended else "-", "ended"),
        ("duration", _duration(started, ended), "duration"),
        ("active", _seconds(active) if story.segments else "-", "active"),
        ("runs", f"{len(story.runs):,} ({_resumes(len(story.runs))})", "runs"),
        ("settings", _settings(story.settings), "settings"),
    ]
    searches = [("searches", f"{t.get('searches', 0):,}", "searches")]
    for status in _STATUSES:
        n = t.get("pending", 0) if status == "pending" else by_status.get(status, 0)
        if n or status in ("complete", "failed", "expired"):
            searches.append((status, f"{n:,}", f"status-{status}"))
    made_it = [
        (margin, index)
        for index, _, margin in finishes(story)
        if story.searches[index].get("status") in ("complete", "empty", "truncated")
    ]
    if made_it:
        margin, index = min(made_it)
        spare = f"{_seconds(margin)} to spare" if margin >= 0 else f"{_seconds(-margin)} late"
        closest = f"{story.searches[index].get('search_id')}, {spare}"
        searches.append(("closest to its deadline", closest, "closest"))
    answered, pages_seen, errors = _timeline_calls(story)
    sent = sum(b.get("s", 0) for seg in story.segments for b in seg.buckets)
    rate = story.settings.get("rate")
    if story.segments and active > 0 and isinstance(rate, int | float) and rate > 0:
        used = sent / active
        runs.insert(4, ("rate used", f"{used:.1f} calls/s of {rate:g} ({used / rate:.0%})", "used"))
    calls = t.get("calls", 0)
    pages = t.get("pages", 0)
    output = [
        ("records", f"{t.get('records', 0):,}", "records"),
        ("duplicates dropped", f"{t.get('duplicates', 0):,}", "duplicates"),
        ("bytes", f"{t.get('bytes', 0):,}", "bytes"),
        ("calls", f"{calls:,}", "calls"),
        ("pages (the minimum)", f"{pages:,}", "pages"),
        ("retries", f"{t.get('retries', 0):,}", "retries"),
        ("calls over the minimum", f"{max(0, calls - pages):,}", "extra"),
    ]
    if story.segments:
        by_code = ", ".join(f"{code} x{n:,}" for code, n in errors.most_common()) or "none"
        output += [
            (
                "answered (timeline)",
                f"{answered:,}: {pages_seen:,} pages, errors {by_code}",
                "answered",
            ),
            ("re-paid pages after resumes", f"{max(0, pages_seen - pages):,}", "repaid"),
        ]
    return (
        '<div class="grid2"><div><h2>Run</h2>'
        + _table(runs)
        + "<h2>Searches</h2>"
        + _table(searches)
        + "</div><div><h2>Output and calls</h2>"
        + _table(output)
        + "</div></div>"
    )


def _resumes(runs: int) -> str:
    resumes = max(0, runs - 1)
    return f"{resumes:,} resume" + ("" if resumes == 1 else "s")


def _timeline_calls(story: Story) -> tuple[int, int, Counter[str]]:
    """Calls answered, pages among them, and errors by code, as the timeline saw them."""
    answered = pages = 0
    errors: Counter[str] = Counter()
    for segment in story.segments:
        for bucket in segment.buckets:
            answered += bucket.get("a", 0)
            pages += bucket.get("p", 0)
            errors.update(bucket.get("e", {}))
    return answered, pages, errors


def _runs(story: Story) -> str:
    if not story.segments:
        return ""
    rows = []
    for number, segment in enumerate(story.segments, 1):
        end = segment.end or {}
        going = story.state == "running" and number == len(story.segments)
        unended = "still going" if going else "killed (no end recorded)"
        sent = sum(b.get("s", 0) for b in segment.buckets)
        code = end.get("exit")
        rows.append(
            f"<tr><td>{number}</td><td>{escape(segment.run_id)}</td>"
            f"<td>{_stamp(_iso(segment.start))}</td><td class=n>{_seconds(segment.duration)}</td>"
            f"<td class=n>{sent:,}</td><td>{'-' if code is None else code}</td>"
            f"<td>{escape(str(end.get('reason') or ('' if end else unended)))}"
            "</td></tr>"
        )
    return (
        '<h2>Runs</h2><table class="list" data-k="segments"><tr><th>#</th><th>run id</th>'
        "<th>started</th><th>active</th><th>calls sent</th><th>exit</th><th>ended by</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _chart(chart_id: str, heading: str, svg: str) -> str:
    return f'<h2>{escape(heading)}</h2><figure id="chart-{chart_id}" class="chart">{svg}</figure>'


def _failures(story: Story) -> str:
    bad = [row for row in story.searches if row.get("status") in ("failed", "expired")]
    head = f'<h2>Searches that failed or expired (<span data-k="bad">{len(bad):,}</span>)</h2>'
    if not bad:
        return head + "<p>None.</p>"
    rows = []
    for row in bad[:MAX_ROWS]:
        css = STATUS_CSS.get(str(row.get("status")), "")
        rows.append(
            f"<tr><td>{escape(str(row.get('search_id')))}</td>"
            f'<td class="{css}">{escape(str(row.get("status")))}</td>'
            f"<td>{escape(str(row.get('error_code') or ''))}</td>"
            f"<td>{escape(str(row.get('error_msg') or ''))}</td>"
            f"<td>{_stamp(row.get('deadline'))}</td>"
            f"<td class=n>{row.get('pages', 0):,}</td><td class=n>{row.get('records', 0):,}</td>"
            "</tr>"
        )
    more = (
        f"<p>... and {len(bad) - MAX_ROWS:,} more in searches.jsonl.</p>"
        if len(bad) > MAX_ROWS
        else ""
    )
    return (
        head + '<table class="list" data-k="failures"><tr><th>search_id</th><th>status</th>'
        "<th>code</th><th>message</th><th>deadline</th><th>pages</th><th>records</th></tr>"
        + "".join(rows)
        + "</table>"
        + more
    )


def _table(rows: list[tuple[str, str, str]]) -> str:
    cells = "".join(
        f'<tr><th>{escape(label)}</th><td data-k="{key}">{escape(value)}</td></tr>'
        for label, value, key in rows
    )
    return f"<table>{cells}</table>"


def _settings(settings: dict[str, Any]) -> str:
    names = ("rate", "burst", "concurrency", "shards", "dedupe", "validity_minutes")
    return ", ".join(f"{n} {settings[n]}" for n in names if settings.get(n) is not None) or "-"


def _parse(stamp: object) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def _stamp(stamp: object) -> str:
    moment = _parse(stamp)
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(start: object, end: object) -> str:
    a, b = _parse(start), _parse(end)
    return "-" if a is None or b is None else _seconds((b - a).total_seconds())


def _seconds(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
