"""Start-up of the `harvester` command: each command loads its own modules when it runs.

`harvester run`'s start-up CPU is part of every run (figure 1b counts it per page), so the
parser names the commands without importing them, and harvester.ops loads a command's
module (export, merge, publish, verify) on first use. These tests pin that the lazy
commands still all resolve and answer --help, run in fresh processes as a user would.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import harvester.ops
from harvester.cli.parser import build_parser

COMMANDS = (
    "run",
    "validate",
    "plan",
    "status",
    "report",
    "codes",
    "sandbox",
    "publish",
    "export",
    "merge",
)


def _harvester(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_every_command_answers_help_with_an_example_in_a_fresh_process() -> None:
    procs = {command: _harvester(command, "--help") for command in COMMANDS}
    for command, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, (command, err)
        assert f"usage: harvester {command}" in out and "example" in out, command


def test_a_lazily_loaded_command_runs_in_a_fresh_process() -> None:
    proc = _harvester("codes")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "67200005" in out


def test_every_command_of_the_parser_names_a_function_that_exists() -> None:
    parser = build_parser()
    for command in COMMANDS:
        args = parser.parse_args([command, *_required(command)])
        assert args.func.__name__ == f"cmd_{command}"
        module, name = _TARGETS[command]
        # what the lazy wrapper imports when the command runs
        target = getattr(importlib.import_module(f"harvester.cli.{module}"), name)
        assert callable(target), command


def test_a_run_loads_neither_the_other_commands_nor_the_sandbox_server() -> None:
    code = (
        "import sys, harvester.cli, harvester.cli.run; "
        "print('\\n'.join(m for m in sys.modules if m.startswith(('harvester', 'difflib'))))"
    )
    loaded = set(subprocess.check_output([sys.executable, "-c", code], text=True).split())
    assert "harvester.cli.run" in loaded and "harvester.engine.harvest" in loaded
    for module in (
        "harvester.cli.commands",
        "harvester.cli.report_cmd",
        "harvester.engine.plan",
        "harvester.ops.export",
        "harvester.ops.merge",
        "harvester.ops.metrics",
        "harvester.sandbox.server",
        "difflib",
    ):
        assert module not in loaded, module


@pytest.mark.parametrize("name", harvester.ops.__all__)
def test_every_name_of_harvester_ops_resolves(name: str) -> None:
    assert getattr(harvester.ops, name) is not None


def test_an_unknown_name_of_harvester_ops_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = harvester.ops.no_such_thing  # type: ignore[attr-defined]


_TARGETS = {
    "run": ("run", "cmd_run"),
    "report": ("report_cmd", "cmd_report"),
    **{
        command: ("commands", f"cmd_{command}")
        for command in (
            "validate",
            "plan",
            "status",
            "codes",
            "sandbox",
            "publish",
            "export",
            "merge",
        )
    },
}


def _required(command: str) -> list[str]:
    """Positional arguments that make `command` parse (values are never used)."""
    return {
        "run": ["job.toml"],
        "validate": ["job.toml"],
        "plan": ["job.toml"],
        "status": ["out"],
        "report": ["out"],
        "publish": ["out", "lake"],
        "export": ["out"],
        "merge": ["out"],
    }.get(command, [])
