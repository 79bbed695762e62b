"""A local PatSnap-compatible server: the reference for integration tests, demo and benchmarks.

See `harvester.sandbox.server` for the interface; `python -m harvester.sandbox --port 0`
runs one standalone. Its names load on first use (PEP 562): every `harvester` command
builds the sandbox's --help, and that must not cost them an import of aiohttp.web.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Each public name and the module that defines it.
_WHERE = {
    "ALL_FAULTS": "fault_kinds",
    "ManualClock": "clock",
    "Sandbox": "server",
    "SandboxConfig": "config",
    "SandboxStats": "stats",
    "add_arguments": "options",
    "build_app": "server",
    "config_from_args": "options",
    "running_sandbox": "server",
    "serve_forever": "server",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
