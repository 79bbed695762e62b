"""Pages as static files behind nginx: a server that is never the bottleneck (figure 1).

    render_pages(sandbox, pages, root)                # each page fetched once, kept as a file
    with static_server(nginx, root, workdir) as url:  # GET {url}/image-search/results?...
        ...

Served by the sandbox, a page costs ~2 CPU-ms of Python on the two cores the clients
share with it, so the sandbox sets both clients' pace and hides their difference. nginx
answers a file in a few microseconds of C: what is left is the clients' own work. The
pages are the sandbox's own answers, byte for byte; nginx ignores the credentials.
"""

from __future__ import annotations

import contextlib
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.nginx import HEAD, free_port, nginx_process
from bench.procs import API_KEY, Sandbox, proc_cpu_s

__all__ = ["StaticServer", "render_pages", "static_server"]

_CONF = (
    HEAD
    + """\
    access_log off;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location = /image-search/results {{
            default_type application/json;
            try_files /$arg_search_id/$arg_offset.json =404;
        }}
    }}
}}
"""
)


def render_pages(sandbox: Sandbox, pages: Sequence[tuple[str, int]], root: Path) -> None:
    """Fetch each (search_id, offset) page of 100 from the sandbox into ROOT/ID/OFFSET.json."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    for search_id, offset in pages:
        query = urllib.parse.urlencode({"search_id": search_id, "offset": offset, "limit": 100})
        request = urllib.request.Request(
            f"{sandbox.url}/image-search/results?{query}", headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
        path = root / search_id / f"{offset}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


class StaticServer:
    """A running static nginx: its URL, and the CPU its processes used so far."""

    __slots__ = ("_pid", "url")

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self._pid = pid

    def cpu_s(self) -> float:
        """CPU seconds of the nginx master and its worker(s)."""
        pids = [self._pid]
        children = Path(f"/proc/{self._pid}/task/{self._pid}/children")
        with contextlib.suppress(OSError):
            pids += [int(pid) for pid in children.read_text().split()]
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                total += proc_cpu_s(pid)
        return total


@contextlib.contextmanager
def static_server(binary: Path, root: Path, workdir: Path) -> Iterator[StaticServer]:
    """nginx in the foreground serving `root`'s page files, stopped on exit."""
    port = free_port()
    text = _CONF.format(dir=workdir, root=root.resolve(), port=port)
    with nginx_process(binary, workdir, text, port) as proc:
        yield StaticServer(f"http://127.0.0.1:{port}", proc.pid)
