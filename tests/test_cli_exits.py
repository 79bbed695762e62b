"""Exit codes are decided in one place; task-group wrappers never reach the user."""

from __future__ import annotations

import asyncio

import pytest

from harvester.cli.exits import EXIT_OUTPUT, EXIT_USAGE, CliError, exit_codes
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
