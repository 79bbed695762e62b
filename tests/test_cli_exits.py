"""Exit codes are decided in one place; task-group wrappers never reach the user."""

from __future__ import annotations

import asyncio
import signal

import pytest

from harvester.cli.exits import EXIT_OUTPUT, EXIT_USAGE, CliError, exit_codes, run_exit
from harvester.sink import OutputError


def test_an_error_inside_nested_task_groups_gets_its_own_exit_code() -> None:
    group = ExceptionGroup("outer", [ExceptionGroup("inner", [OutputError("disk full")])])
    with pytest.raises(CliError) as caught, exit_codes():
        raise group
    assert caught.value.code == EXIT_OUTPUT and "disk full" in str(caught.value)


def test_several_errors_at_once_give_one_message_not_a_group_traceback() -> None:
    group = BaseExceptionGroup(
        "tasks", [asyncio.CancelledError(), OutputError("read-only"), OutputError("again")]
    )
    with pytest.raises(CliError) as caught, exit_codes():
        raise group
    assert caught.value.code == EXIT_OUTPUT and "read-only" in str(caught.value)


def test_a_plain_http_base_url_is_bad_usage_not_a_stopped_account() -> None:
    from harvester.api.client import base_url_from_env

    with pytest.raises(CliError) as caught, exit_codes():
        base_url_from_env({}, "http://example.com")
    assert caught.value.code == EXIT_USAGE


def test_run_exit_orders_signal_then_platform_then_breaker_then_unfinished() -> None:
    def code(
        *,
        caught: list[int] | None = None,
        stopped: bool = False,
        unreachable: bool = False,
        success: bool = True,
        by_status: dict[str, int] | None = None,
    ) -> int:
        return run_exit(
            caught=caught or [],
            stopped=stopped,
            unreachable=unreachable,
            success=success,
            by_status={"complete": 3} if by_status is None else by_status,
        )

    assert code() == 0
    assert code(caught=[signal.SIGTERM], stopped=True) == 143
    assert code(caught=[signal.SIGINT], unreachable=True, success=False) == 130
    assert code(stopped=True, unreachable=True) == 3
    assert code(unreachable=True, success=False, by_status={}) == 6
    assert code(success=False) == 1
    assert code(by_status={"complete": 2, "expired": 1}) == 1
    assert code(by_status={"failed": 1}) == 1
