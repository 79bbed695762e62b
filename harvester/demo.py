"""`make demo`: start the sandbox, harvest jobs/example.toml from it, show where the files are.

Runs the real commands as a user would (`harvester sandbox`, `harvester run`) in
subprocesses, with sandbox credentials in the child's environment only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harvester.demo_images import write_image_job

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
JOB = ROOT / "jobs" / "example.toml"
OUT = ROOT / "out" / "demo"
IMAGES = ROOT / "out" / "demo-images"


def _start_sandbox() -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "harvester",
        "sandbox",
        "--port",
        "0",
        "--seed",
        "7",
        "--rate",
        "20",
        "--burst",
        "1",
        "--fault-rate",
        "0.05",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"demo: the sandbox did not start (it printed {line!r})")
    return proc, line.split()[-1]


def main() -> int:
    """Run the demo; returns the harvester's exit code."""
    sandbox, url = _start_sandbox()
    print(f"demo: sandbox PatSnap API at {url} (rate limit 20 req/s, 5% injected faults)")
    env = dict(os.environ)
    env.pop("PATSNAP_API_KEY", None)
    env.update(
        PATSNAP_BASE_URL=url,
        PATSNAP_CLIENT_ID="sandbox-client",
        PATSNAP_CLIENT_SECRET="sandbox-secret",
    )
    try:
        print(
            f"demo: harvester run {JOB.relative_to(ROOT)} --out {OUT.relative_to(ROOT)} --fresh\n"
        )
        code = subprocess.call(
            [sys.executable, "-m", "harvester", "run", str(JOB), "--out", str(OUT), "--fresh"],
            env=env,
            cwd=ROOT,
        )
        images = write_image_job(IMAGES / "job")
        print(f"\ndemo: images: a PNG the demo drew and an image URL ({images.relative_to(ROOT)})")
        print(f"demo: harvester run {images.relative_to(ROOT)} --out {IMAGES.relative_to(ROOT)}\n")
        run_images = [sys.executable, "-m", "harvester", "run", str(images), "--fresh"]
        image_code = subprocess.call([*run_images, "--out", str(IMAGES)], env=env, cwd=ROOT)
        code = code or image_code
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    rel = OUT.relative_to(ROOT)
    print(
        f"\ndemo: harvester exited {code}. Files:\n"
        f"  {rel}/part-*.jsonl.gz   records, one JSON object per line (gzip)\n"
        f"  {rel}/searches.jsonl    one line per search: status, total, records, calls\n"
        f"  {rel}/manifest.json     shards with record counts and sha256\n"
        f"  {rel}/report.html       the run's numbers and charts: open it in a browser\n"
        f"  {rel}/_SUCCESS          written last, when every search is final\n"
        f"  {IMAGES.relative_to(ROOT)}/searches.jsonl   per image: search_ids, creations, uploads\n"
        f"Try: .venv/bin/harvester status {rel}\n"
        f"     zcat {rel}/part-00000.jsonl.gz | head -2\n"
        f"     (DuckDB reads the shards as they are: `make test` installs its Python package;\n"
        f"      see README, 'What a run produces')"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
