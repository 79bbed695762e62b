"""report.html in a real browser: Debian's chromium, driven by Playwright (which never
downloads a browser of its own; `make browser` installs chromium). Each page must load
offline with no console error and no request outside itself, draw its charts, and show
the numbers of the run's own files."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, sync_playwright

from harvester.ops.verify import verify_run
from tests.e2e_helpers import (
    SandboxProcess,
    kill,
    read_searches,
    run,
    sandbox,
    search_ids,
    start_run,
)

CHROMIUM = Path("/usr/bin/chromium")
SEED = 1212
#: Classes of the marks that stand for data (axes, frames and legend keys do not count).
DATA_MARKS = ", ".join(
    [".sent", ".in-force", ".p50", ".p90", ".flight", ".retries", ".shard"]
    + [f"rect.c{i}" for i in range(8)]
    + [f"circle.s-{s}" for s in ("complete", "empty", "truncated", "expired", "failed")]
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for the module, with a fresh profile and no background traffic."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def box() -> Iterator[SandboxProcess]:
    """Faults on a third of the calls: HTTP 500, 503 and PatSnap's 68300008."""
    with sandbox(SEED, "--fault-rate", "0.3", "--faults", "http500,http503,e68300008") as running:
        yield running


def write_job(path: Path, ids: list[str], *, rate: float, expired: int = 0) -> Path:
    """A job with `ids` and `expired` searches whose window closed long ago."""
    lines = ["[job]", 'name = "report-e2e"', f"rate = {rate}", "concurrency = 4", "shards = 3", ""]
    for search_id in ids:
        lines += ["[[search]]", f'id = "{search_id}"']
    for n in range(expired):
        lines += ["[[search]]", f'id = "SBX-300-old{n}"', 'created_at = "2020-01-01T00:00:00Z"']
    path.write_text("\n".join(lines) + "\n")
    return path


def look(browser: Browser, report: Path) -> dict[str, Any]:
    """Open the report offline; what it asked for, what it logged, drew and showed."""
    context = browser.new_context(offline=True, java_script_enabled=True)
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(report.resolve().as_uri(), wait_until="load")
        charts = page.evaluate(
            """(selector) => [...document.querySelectorAll('figure.chart')].map(fig => {
                const svg = fig.querySelector('svg');
                const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                const marks = svg ? [...svg.querySelectorAll(selector)].filter(el => {
                    const b = el.getBBox(); return b.width > 0 || b.height > 0; }) : [];
                return {id: fig.id, width: box.width, height: box.height, marks: marks.length};
            })""",
            DATA_MARKS,
        )
        shown = page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('[data-k]')]
                .filter(el => el.tagName !== 'TABLE').map(el => [el.dataset.k, el.innerText]))"""
        )
        failures = page.evaluate(
            """() => [...document.querySelectorAll('table[data-k=failures] tr')].slice(1)
                .map(tr => [...tr.children].map(td => td.innerText))"""
        )
        runs = page.evaluate(
            """() => [...document.querySelectorAll('table[data-k=segments] tr')].slice(1)
                .map(tr => [...tr.children].map(td => td.innerText))"""
        )
        text = page.inner_text("body")
    finally:
        context.close()
    return {
        "errors": errors,
        "requests": requests,
        "charts": charts,
        "shown": shown,
        "failures": failures,
        "runs": runs,
        "text": text,
    }


def number(text: str) -> int:
    return int(text.replace(",", ""))


def assert_clean(seen: dict[str, Any], report: Path, *, drawn: int) -> None:
    assert seen["errors"] == []
    assert seen["requests"] == [report.resolve().as_uri()]
    assert len(seen["charts"]) == 5
    charts = [c for c in seen["charts"] if c["marks"] > 0 and c["width"] > 0 and c["height"] > 0]
    assert len(charts) >= drawn, seen["charts"]


def assert_numbers_match_files(seen: dict[str, Any], out: Path) -> None:
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    searches = list(read_searches(out).values())
    shown = seen["shown"]
    totals = manifest["totals"]
    assert shown["job"] == manifest["job_name"]
    assert number(shown["searches"]) == len(searches) == totals["searches"]
    for key in ("records", "duplicates", "calls", "pages", "retries"):
        assert number(shown[key]) == sum(s[key] for s in searches) == totals[key], key
    assert number(shown["records"]) == sum(s["records"] for s in manifest["shards"])
    assert number(shown["bytes"]) == totals["bytes"]
    statuses = Counter(s["status"] for s in searches)
    for status in ("complete", "failed", "expired"):
        assert number(shown[f"status-{status}"]) == statuses[status], status
    bad = sorted(s["search_id"] for s in searches if s["status"] in ("failed", "expired"))
    assert number(shown["bad"]) == len(bad)
    assert sorted(row[0] for row in seen["failures"]) == bad


@pytest.fixture(scope="module")
def faulty_run(box: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output directory of a finished run that met faults and expired searches."""
    tmp_path = tmp_path_factory.mktemp("faulty")
    # ~50 calls at 20/s: a few seconds of timeline
    job = write_job(tmp_path / "job.toml", search_ids(SEED, 10, max_total=400), rate=20, expired=2)
    out = tmp_path / "out"
    done = run(box, "run", job, "--out", out, "--log-format", "json", timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]  # the two old searches expired
    return out


def test_a_run_with_faults_leaves_a_report_in_its_manifest_that_a_browser_shows(
    faulty_run: Path, browser: Browser, tmp_path: Path
) -> None:
    out = faulty_run
    report = out / "report.html"
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    data = report.read_bytes()
    assert manifest["report"] == {
        "path": "report.html",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert len(data) < 200_000
    assert b"sandbox-secret" not in data and b"sandbox-client" not in data  # no credential
    assert b"sandbox-secret" not in (out / "_timeline.jsonl").read_bytes()

    seen = look(browser, report)
    assert_clean(seen, report, drawn=5)  # every chart: this run had errors and retries
    assert_numbers_match_files(seen, out)
    assert seen["shown"]["exit"].startswith("1")
    errors = orjson.loads(
        b"["
        + b",".join(
            line for line in (out / "_timeline.jsonl").read_bytes().splitlines() if b'"e":' in line
        )
        + b"]"
    )
    codes = {code for line in errors for code in line["e"]}
    assert codes & {"68300008", "500", "503", "RetryableHttpError", "ServerError"}, codes
    for code in codes:
        assert code in seen["text"]

    # publish verifies the report against the manifest and carries it to the lake
    lake = tmp_path / "lake"
    published = run(None, "publish", out, lake)
    assert published.returncode == 0, published.stderr
    copies = list(lake.rglob("report.html"))
    assert len(copies) == 1 and copies[0].read_bytes() == data

    # writing it again changes nothing the manifest vouches for
    before = {name: (out / name).read_bytes() for name in ("manifest.json", "_SUCCESS")}
    again = run(None, "report", out)
    assert again.returncode == 0, again.stderr
    assert report.read_bytes() == data
    assert before == {name: (out / name).read_bytes() for name in before}


def test_report_of_a_running_directory_works_and_leaves_the_run_alone(
    box: SandboxProcess, browser: Browser, tmp_path: Path
) -> None:
    # ~70 pages at 20/s: a run of a few seconds
    job = write_job(
        tmp_path / "job.toml", search_ids(SEED + 1, 12, min_total=300, max_total=800), rate=20
    )
    out = tmp_path / "out"
    proc = start_run(box, job, out, tmp_path / "run.log")
    try:
        _wait_for_buckets(out, proc, 2)
        # frozen mid-run (lock held, pages in flight, the WAL as it is), so that however
        # slowly `report` starts on a loaded machine, the run is still going when it reads
        proc.send_signal(signal.SIGSTOP)
        try:
            during = run(None, "report", out)
        finally:
            proc.send_signal(signal.SIGCONT)
        running_page = (out / "report.html").read_bytes()
    finally:
        code = proc.wait(timeout=90)
    assert during.returncode == 0, during.stderr
    assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert b"running (pid" in running_page

    # the run ended as if nobody had looked: its own report is the one its manifest lists
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    final = (out / "report.html").read_bytes()
    assert manifest["report"]["sha256"] == hashlib.sha256(final).hexdigest()
    assert (out / "_SUCCESS").is_file()
    verify_run(out)  # what publish checks first: every listed file matches the manifest

    snapshot = tmp_path / "during.html"
    snapshot.write_bytes(running_page)
    seen = look(browser, snapshot)
    assert_clean(seen, snapshot, drawn=2)
    assert seen["shown"]["job"] == "report-e2e"
    assert number(seen["shown"]["searches"]) == 12
    assert seen["shown"]["state"].startswith("running")


def test_an_interrupted_then_resumed_run_shows_every_part(
    box: SandboxProcess, browser: Browser, tmp_path: Path
) -> None:
    job = write_job(
        tmp_path / "job.toml", search_ids(SEED + 2, 12, min_total=400, max_total=1000), rate=20
    )
    out = tmp_path / "out"
    killed = start_run(box, job, out, tmp_path / "run1.log")
    _wait_for_buckets(out, killed, 1)
    kill(killed)  # kill -9: no end line, no report of its own
    interrupted = start_run(box, job, out, tmp_path / "run2.log")
    _wait_for_buckets(out, interrupted, 3)
    interrupted.send_signal(signal.SIGINT)
    assert interrupted.wait(timeout=60) == 130
    stopped = orjson.loads((out / "manifest.json").read_bytes())
    assert stopped["complete"] is False and "report" in stopped
    finished = run(box, "run", job, "--out", out, "--log-format", "json", timeout=120)
    assert finished.returncode == 0, finished.stderr[-3000:]

    report = out / "report.html"
    seen = look(browser, report)
    assert_clean(seen, report, drawn=4)
    assert_numbers_match_files(seen, out)
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    runs = seen["runs"]
    assert [row[1] for row in runs] == [r["run_id"] for r in manifest["runs"]]
    assert [row[5] for row in runs] == ["-", "130", "0"]
    assert runs[0][6] == "killed (no end recorded)"
    page = report.read_text()
    assert "resume 1" in page and "resume 2" in page
    assert number(seen["shown"]["searches"]) == 12


def test_report_open_hands_the_file_to_the_users_browser(faulty_run: Path, tmp_path: Path) -> None:
    out = faulty_run
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "open.sh"
    opener.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    opener.chmod(0o755)
    done = subprocess.run(
        [*_command("report", out, "--open")],
        env={"BROWSER": f"{opener} %s", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert opened.read_text().strip() == (out / "report.html").resolve().as_uri()
    helped = run(None, "report", "--help")
    assert helped.returncode == 0 and "example:\n  harvester report " in helped.stdout


def _command(*args: str | Path) -> list[str]:
    from tests.e2e_helpers import harvester_command

    return harvester_command(*args)


def _wait_for_buckets(out: Path, proc: subprocess.Popen[bytes], count: int) -> None:
    """Until the running segment's timeline has `count` bucket lines with pages in them."""
    deadline = time.monotonic() + 30
    timeline = out / "_timeline.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if timeline.exists():
            lines = timeline.read_bytes().splitlines()
            starts = [i for i, line in enumerate(lines) if line.startswith(b'{"run"')]
            current = lines[starts[-1] + 1 :] if starts else []
            if sum(b'"p":' in line for line in current) >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"the run did not record {count} buckets with pages in time")
