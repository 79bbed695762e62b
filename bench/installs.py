"""What the bench installs for itself: nginx (Debian package) and the peers' own venv.

    nginx, problem = ensure_nginx(log)        # apt-get install -y nginx (update only if needed)
    python, problem = ensure_peers(log)       # bench/.peers with Scrapy and dlt, by pip

Neither is a dependency of the project. A failed install is reported, not faked: the
figure that needs it says why it has no number.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.procs import ROOT

__all__ = ["PEERS", "PEER_PACKAGES", "ensure_nginx", "ensure_peers", "versions_in"]

PEERS = ROOT / "bench" / ".peers"
#: Scrapy and dlt as users install them; py-spy to profile (a binary wheel, no build step).
PEER_PACKAGES = ("scrapy", "dlt", "py-spy")
_NGINX_PATHS = (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx"))


def _nginx_binary() -> Path | None:
    found = shutil.which("nginx")
    if found:
        return Path(found)
    return next((p for p in _NGINX_PATHS if p.exists()), None)


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> bool:
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        return subprocess.call(cmd, stdout=out, stderr=out, env=env) == 0


def ensure_nginx(log: Path) -> tuple[Path | None, str]:
    """The nginx binary, installing the Debian package if it is missing; else (None, why)."""
    binary = _nginx_binary()
    if binary is not None:
        return binary, ""
    if shutil.which("apt-get") is None:
        return None, "nginx is not installed and there is no apt-get to install it"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "nginx"]
    if not _run(install, log, env) and not (
        _run(["apt-get", "update", "-q"], log, env) and _run(install, log, env)
    ):
        return None, f"apt-get install nginx failed (see {log})"
    binary = _nginx_binary()
    return (binary, "") if binary else (None, f"nginx installed but not found (see {log})")


def ensure_peers(log: Path) -> tuple[Path | None, dict[str, str]]:
    """bench/.peers/bin/python, made on first use, and {package: why} for each that failed.

    Each package is installed on its own, so a peer that pip refuses leaves the others.
    """
    python = PEERS / "bin" / "python"
    stamp = PEERS / ".installed"
    if stamp.exists() and python.exists():
        return python, {}
    if not python.exists() and not _run([sys.executable, "-m", "venv", str(PEERS)], log):
        return None, {p: f"could not create the venv {PEERS} (see {log})" for p in PEER_PACKAGES}
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    failed = {
        package: f"pip could not install {package} (see {log})"
        for package in PEER_PACKAGES
        if not _run([*pip, package], log)
    }
    if not failed:
        stamp.write_text("\n".join(PEER_PACKAGES) + "\n")
    return python, failed


def versions_in(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of `packages` in the environment of `python`."""
    code = (
        "import importlib.metadata as m, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try: print(name, m.version(name))\n"
        "    except m.PackageNotFoundError: print(name, '-')\n"
    )
    out = subprocess.run(
        [str(python), "-c", code, *packages], capture_output=True, text=True, check=False
    )
    pairs = (line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    return {name: version for name, version in pairs}
