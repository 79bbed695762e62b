"""Processes the figures run: the sandbox, the harvester, a peer; their CPU, RSS and wall time.

    with sandbox_process(rate=20) as sandbox:       # `python -m harvester sandbox --port 0`
        run = run_measured(harvester_cmd(job, out), env=sandbox.env())
        sandbox.stats()["calls"], run.cpu_s, run.peak_rss_mb

Every child is waited for with `os.wait4`, so its CPU time and peak RSS come from the
kernel (its own, plus any children it waited for), not from sampling.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

__all__ = [
    "API_KEY",
    "ROOT",
    "Measured",
    "Sandbox",
    "compile_bytecode",
    "harvester_cmd",
    "proc_cpu_s",
    "run_measured",
    "sandbox_process",
]

ROOT = Path(__file__).resolve().parent.parent
#: The sandbox accepts this as `Authorization: Bearer`; the peers and the harvester use it.
API_KEY = "sk-bench-not-a-secret"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True, frozen=True)
class Measured:
    """One finished child process."""

    code: int  #: exit code (negative: killed by that signal)
    wall_s: float  #: spawn to exit
    cpu_s: float  #: user + system, its own and its waited-for children's
    peak_rss_mb: float  #: the kernel's high-water mark of resident memory
    killed_at_s: float | None = None  #: when it was sent SIGKILL, if it was


@dataclass(slots=True, frozen=True)
class Sandbox:
    """A sandbox in its own process (it shares the cores, not the interpreter)."""

    url: str
    pid: int

    def stats(self) -> dict[str, object]:
        """`GET /_sandbox/stats`: the live counters."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=30) as answer:
            result: dict[str, object] = orjson.loads(answer.read())
            return result

    def calls(self) -> int:
        """Results calls answered or refused so far."""
        return int(str(self.stats()["calls"]))

    def reset(self) -> None:
        """Zero the counters and forget search windows."""
        request = urllib.request.Request(f"{self.url}/_sandbox/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def register(self, entries: list[dict[str, str]]) -> None:
        """Tell the sandbox when searches were created (their windows start then)."""
        request = urllib.request.Request(
            f"{self.url}/_sandbox/searches",
            method="POST",
            data=orjson.dumps(entries),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30):
            pass

    def cpu_s(self) -> float:
        """CPU seconds the sandbox process has used so far."""
        return proc_cpu_s(self.pid)

    def env(self, base_url: str | None = None) -> dict[str, str]:
        """An environment for a harvester child: this sandbox (or `base_url`) and the key."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATSNAP_")}
        env.update(PATSNAP_BASE_URL=base_url or self.url, PATSNAP_API_KEY=API_KEY)
        return env


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@contextlib.contextmanager
def sandbox_process(*flags: str) -> Iterator[Sandbox]:
    """`python -m harvester sandbox --port 0 --api-key ... FLAGS`, stopped on exit."""
    cmd = [sys.executable, "-m", "harvester", "sandbox", "--port", "0", "--api-key", API_KEY]
    proc = subprocess.Popen(
        [*cmd, *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "http://" not in line:
            raise RuntimeError(f"the sandbox did not start (it printed {line!r})")
        yield Sandbox(url=line.split()[-1], pid=proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def compile_bytecode() -> None:
    """Byte-compile the harvester as an install would. Every figure spawns it afresh, and
    with PYTHONDONTWRITEBYTECODE set (as on some CI machines) an editable install would
    compile ~100 modules from source at every start: 0.3 s of CPU on this machine, counted
    against the harvester (the bare loop's aiohttp came compiled with its wheel)."""
    compileall.compile_dir(ROOT / "harvester", quiet=1)


def harvester_cmd(job: Path, out: Path, *flags: str) -> list[str]:
    """`python -m harvester run JOB --out OUT FLAGS` (text logs: stderr is not a terminal)."""
    return [sys.executable, "-m", "harvester", "run", str(job), "--out", str(out), *flags]


def run_measured(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path = ROOT,
    kill_when: Callable[[], bool] | None = None,
    poll_s: float = 0.02,
    timeout_s: float = 600.0,
) -> Measured:
    """Run `cmd` to its end (or SIGKILL it once `kill_when()` is true) and measure it."""
    sink = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    killed_at = None
    hwm_mb: float | None = None
    try:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=sink, stderr=sink)
        while True:
            hwm_mb = peak_rss_of(proc.pid) or hwm_mb
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            elapsed = time.perf_counter() - started
            if elapsed > timeout_s:
                os.kill(proc.pid, signal.SIGKILL)
                raise TimeoutError(f"{cmd[:4]} ran past {timeout_s:.0f} s")
            if killed_at is None and kill_when is not None and kill_when():
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = elapsed
            time.sleep(poll_s)
    finally:
        if log is not None and not isinstance(sink, int):
            sink.close()
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        code=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        # ru_maxrss is no good here: Linux keeps the high-water mark of the forked copy of
        # this (large) bench process across exec, so every child read >= the parent's RSS
        peak_rss_mb=hwm_mb if hwm_mb is not None else usage.ru_maxrss / 1024,
        killed_at_s=killed_at,
    )


def peak_rss_of(pid: int | str) -> float | None:
    """The process's own high-water mark of resident memory in MB (VmHWM, counted from its
    exec), or None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
