"""Where the harvester's CPU goes: the CPU figure's job under py-spy, summed per thread
(against static pages behind nginx when it is installed, as figure 1 runs).

    python -m bench.profile [--searches 200] [--rate 1000]   # after `make bench` made bench/.peers

py-spy (in the bench's own venv, bench/.peers) samples every thread of the harvester
process at 200 Hz. The summary counts a sample as idle when the thread is parked in a
selector, a condition wait or an idle executor; the rest is busy time (waiting for the
GIL included), shown per thread and, for the two busiest, by the functions that hold them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench.installs import PEERS
from bench.jobs import CONCURRENCY, ids_for, page_list, write_job
from bench.procs import compile_bytecode, harvester_cmd, sandbox_process
from bench.static_pages import render_pages, static_server

__all__ = ["summarize"]

_IDLE = (
    "EpollSelector.select",
    "Condition.wait",
    "Event.wait",
    "_worker (concurrent/futures/thread.py:81)",
)
_HZ = 200


def summarize(raw: str, top: int = 12) -> str:
    """py-spy's raw (collapsed) stacks as busy seconds per thread, and for the two busiest
    threads the functions that hold them (inclusive; frames common to the whole thread left out).
    """
    busy: Counter[str] = Counter()
    idle: Counter[str] = Counter()
    frames_of: dict[str, Counter[str]] = {}
    leaves: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = re.sub(r"thread \(\d+\):? ?", "", frames[0]) or "main (no name)"
        n = int(count)
        if frames[-1].startswith(_IDLE):
            idle[thread] += n
            continue
        busy[thread] += n
        leaves[re.sub(r":\d+\)", ")", frames[-1])] += n
        held = frames_of.setdefault(thread, Counter())
        for frame in {re.sub(r":\d+\)", ")", f) for f in frames[1:]}:
            held[frame] += n
    lines = ["busy / idle seconds per thread:"]
    for thread, n in busy.most_common():
        lines.append(f"  {n / _HZ:7.2f} / {idle[thread] / _HZ:6.2f}  {thread}")
    for thread, total in busy.most_common(2):
        lines.append(f"{thread}: busy seconds by function (inclusive)")
        shown = [(f, n) for f, n in frames_of[thread].most_common() if n < 0.9 * total]
        lines += [f"  {n / _HZ:7.2f}  {frame}" for frame, n in shown[:top]]
    lines.append("all threads: busy seconds by function (self, where the samples were)")
    lines += [f"  {n / _HZ:7.2f}  {frame}" for frame, n in leaves.most_common(2 * top)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--searches", type=int, default=200, help="of 1,100 hits each")
    parser.add_argument("--rate", default="1000")
    args = parser.parse_args(argv)
    py_spy = PEERS / "bin" / "py-spy"
    if not py_spy.exists():
        sys.stderr.write(f"{py_spy} is missing: run `make bench` once (it makes bench/.peers)\n")
        return 2
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx's worker (user nobody) reads the page files in it
        searches = ids_for([1100] * args.searches, "prof")
        job = write_job(work, "profile", searches, rate=1000)
        raw = work / "stacks.txt"
        with ExitStack() as stack:
            sandbox = stack.enter_context(sandbox_process())
            url = sandbox.url
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            if Path(nginx).exists():  # as figure 1: static pages, so the server costs ~nothing
                render_pages(sandbox, page_list(searches), work / "pages")
                static = static_server(Path(nginx), work / "pages", work / "nginx")
                url = stack.enter_context(static).url
            cmd = harvester_cmd(job, work / "out", "--rate", args.rate, "--burst", "1000")
            record = [str(py_spy), "record", "-r", str(_HZ), "--threads", "--format", "raw"]
            subprocess.run(
                [*record, "-o", str(raw), "--", *cmd, "--concurrency", str(CONCURRENCY)],
                env=sandbox.env(url),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
        sys.stdout.write(summarize(raw.read_text()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
