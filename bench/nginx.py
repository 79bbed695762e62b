"""nginx as a referee nobody here wrote: `limit_req` on loopback in front of the sandbox.

    with nginx_proxy(binary, upstream=sandbox.url, workdir=d, rate=20, burst=2) as proxy:
        ... harvester at proxy.url ...
    proxy.log_lines()          # (msec, status, uri) of every request, from its access log
    proxy.verdict()            # refused, passed and first paid calls, the rate achieved

`nodelay`: a request over the rate (past the burst) is refused at once with 429, the way
an API gateway refuses, instead of being held back until it conforms. Without it nginx
would queue early requests and smooth the client's pacing for it, hiding exactly the
errors this figure is there to catch; with it every early request shows in the log.
"""

from __future__ import annotations

import contextlib
import math
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.procs import Measured, Sandbox, harvester_cmd, run_measured, sandbox_process

__all__ = [
    "HEAD",
    "NginxProxy",
    "RefereedRun",
    "Verdict",
    "free_port",
    "nginx_process",
    "nginx_proxy",
    "refereed_sandbox",
    "run_refereed",
    "wait_listening",
]

#: The top of every config of the bench: one worker in the foreground, and every file it
#: writes inside the figure's own directory.
HEAD = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {dir}/tmp-body;
    proxy_temp_path {dir}/tmp-proxy;
    fastcgi_temp_path {dir}/tmp-fastcgi;
    uwsgi_temp_path {dir}/tmp-uwsgi;
    scgi_temp_path {dir}/tmp-scgi;
"""

_CONF = (
    HEAD
    + """\
    log_format bench '$msec $status $request_uri';
    # one key for every caller: the limit is the account's, as PatSnap's is
    limit_req_zone "account" zone=account:1m rate={rate}r/s;
    limit_req_status 429;
    limit_req_log_level warn;
    upstream sandbox {{
        server {upstream};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        access_log {dir}/access.log bench;
        location / {{
            limit_req zone=account burst={burst} nodelay;
            proxy_pass http://sandbox;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }}
    }}
}}
"""
)


@dataclass(slots=True, frozen=True)
class NginxProxy:
    """A running nginx: where it listens and where it logs."""

    url: str
    access_log: Path
    config: Path

    def log_lines(self) -> list[tuple[float, int, str]]:
        """(epoch seconds, HTTP status, request URI) per request, in log order."""
        rows = []
        for line in self.access_log.read_text().splitlines():
            msec, status, uri = line.split(" ", 2)
            rows.append((float(msec), int(status), uri))
        return rows

    def verdict(self) -> Verdict:
        """What the referee saw, from its access log."""
        lines = self.log_lines()
        return Verdict(
            refused=sum(1 for _, status, _ in lines if status in (429, 503)),
            passed=[t for t, status, uri in lines if status == 200 and "/image-search/" in uri],
            first=min((t for t, _, uri in lines if "/image-search/" in uri), default=math.nan),
        )


@dataclass(slots=True, frozen=True)
class Verdict:
    """The referee's count of a run's paid calls (the token endpoint aside)."""

    refused: int  #: answered 429 or 503 by limit_req
    passed: list[float]  #: when each call nginx let through arrived (epoch seconds)
    first: float  #: when the first call arrived, let through or not (nan if none)

    @property
    def span(self) -> float:
        """Seconds from the first call let through to the last."""
        return self.passed[-1] - self.passed[0] if len(self.passed) > 1 else math.nan

    @property
    def rate(self) -> float:
        """Calls let through per second over that span."""
        return (len(self.passed) - 1) / self.span


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], error_log: Path) -> None:
    """Return once nginx accepts connections on `port`; raise if it exits or takes 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited {proc.returncode}: {error_log.read_text()[-500:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("nginx did not start listening within 10 s")


@contextlib.contextmanager
def nginx_proxy(
    binary: Path, *, upstream: str, workdir: Path, rate: int, burst: int
) -> Iterator[NginxProxy]:
    """nginx in the foreground with its own config in `workdir`, stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    target = urlsplit(upstream).netloc
    text = _CONF.format(dir=workdir, rate=rate, burst=burst, upstream=target, port=port)
    with nginx_process(binary, workdir, text, port):
        yield NginxProxy(f"http://127.0.0.1:{port}", workdir / "access.log", workdir / "nginx.conf")


@contextlib.contextmanager
def nginx_process(
    binary: Path, workdir: Path, config: str, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground with `config` (written to workdir/nginx.conf), listening on
    `port` before this yields; stopped gracefully (its logs finished) on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "nginx.conf"
    path.write_text(config)
    error_log = workdir / "error.log"
    cmd = [str(binary), "-p", str(workdir), "-e", str(error_log), "-c", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc, error_log)
        yield proc
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: finish writing the access log
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def refereed_sandbox(
    nginx: Path | None, workdir: Path, flags: list[str], *, rate: float, burst: int = 2
) -> Iterator[tuple[Sandbox, NginxProxy | None]]:
    """A sandbox whose rate is refereed by nginx `limit_req` when nginx is installed, else
    by its own limiter. A Python referee on a loaded machine stamps arrivals late and
    bunched, and refuses calls that left on time; nginx (C, exact timing) does not."""
    own = [] if nginx is not None else ["--rate", str(rate), "--burst", str(burst)]
    with sandbox_process(*flags, *own) as sandbox:
        if nginx is None:
            yield sandbox, None
            return
        with nginx_proxy(
            nginx, upstream=sandbox.url, workdir=workdir / "nginx", rate=rate, burst=burst
        ) as proxy:
            yield sandbox, proxy


@dataclass(slots=True, frozen=True)
class RefereedRun:
    """A harvester run against searches registered with the sandbox, and its referee's count."""

    result: Measured
    stats: dict[str, object]  #: the sandbox's counters after the run
    spawned: float  #: when the harvester was started (epoch seconds)
    refused: int  #: calls the referee refused
    first: float  #: when the first paid call arrived (nan where the sandbox referees)
    referee: str  #: who refereed, for the row


def run_refereed(
    sandbox: Sandbox,
    proxy: NginxProxy | None,
    job: Path,
    work: Path,
    searches: list[dict[str, str]],
) -> RefereedRun:
    """Register `searches` (id, created_at) with the sandbox, run the harvester on `job`
    through the referee into work/out (log work/h.log), and read what the referee saw."""
    sandbox.register(searches)
    spawned = time.time()
    env = sandbox.env(proxy.url if proxy is not None else None)
    result = run_measured(harvester_cmd(job, work / "out", "--fresh"), env=env, log=work / "h.log")
    stats = sandbox.stats()
    if proxy is None:
        refused = int(str(stats["rate_limited"]))
        return RefereedRun(result, stats, spawned, refused, math.nan, "the sandbox")
    verdict = proxy.verdict()
    return RefereedRun(result, stats, spawned, verdict.refused, verdict.first, "nginx limit_req")
