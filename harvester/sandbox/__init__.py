"""A local PatSnap-compatible server: the reference for integration tests, demo and benchmarks.

See `harvester.sandbox.server` for the interface; `python -m harvester.sandbox --port 0`
runs one standalone.
"""

from __future__ import annotations

from harvester.sandbox.clock import ManualClock
from harvester.sandbox.server import (
    ALL_FAULTS,
    Sandbox,
    SandboxConfig,
    SandboxStats,
    add_arguments,
    build_app,
    config_from_args,
    running_sandbox,
    serve_forever,
)

__all__ = [
    "ALL_FAULTS",
    "ManualClock",
    "Sandbox",
    "SandboxConfig",
    "SandboxStats",
    "add_arguments",
    "build_app",
    "config_from_args",
    "running_sandbox",
    "serve_forever",
]
