"""Small things a new user trips over, each pinned by a test."""

from __future__ import annotations

import dataclasses
import errno
import io
from pathlib import Path

import pytest

from harvester.api.errors import error_for_http_status
from harvester.cli import main
from harvester.sink import OutputError, read_status
from harvester.sink.errors import output_errors
from tests.test_sink_helpers import run_once, synthetic_job


def test_debug_works_after_the_subcommand_too() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["codes", "--debug"], out, err) == 0
    assert main(["--debug", "codes"], io.StringIO(), io.StringIO()) == 0
    assert "67200005" in out.getvalue()


def test_a_404_points_at_the_base_url_not_the_account() -> None:
    error = error_for_http_status(404)
    assert "--base-url" in error.advice  # type: ignore[attr-defined]
    assert "account" not in error.advice  # type: ignore[attr-defined]


@pytest.mark.parametrize("number", [errno.EROFS, errno.EACCES])
def test_a_resume_into_a_directory_made_read_only_says_to_make_it_writable_again(
    tmp_path: Path, number: int
) -> None:
    with pytest.raises(OutputError) as caught, output_errors(tmp_path):
        raise OSError(number, "nope", str(tmp_path / "part-00000.jsonl.gz"))
    message = str(caught.value)
    assert "writable again" in message and "resume" in message
    assert "--out" not in message  # another directory would start over and pay again


def test_publishing_a_directory_that_does_not_exist_says_it_is_missing(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(
        ["publish", str(tmp_path / "no-such-run"), str(tmp_path / "lake")], io.StringIO(), err
    )
    assert code == 2
    assert "does not exist" in err.getvalue() and "unfinished" not in err.getvalue()


def test_status_shows_the_message_of_a_failure_without_an_error_code(tmp_path: Path) -> None:
    run_once(tmp_path, synthetic_job(2, searches=2), seed=1)
    report = read_status(tmp_path)
    first = dataclasses.replace(
        report.searches[0], status="failed", error_code=None, error_msg="HTTP 400: rejected"
    )
    text = dataclasses.replace(report, searches=(first, *report.searches[1:])).to_text()
    assert "HTTP 400: rejected" in text


def test_the_sandbox_help_names_its_built_in_credentials_and_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    text = capsys.readouterr().out
    assert "sandbox-client" in text and "sandbox-secret" in text and "8765" in text
    assert "8080" not in text


def test_status_keeps_its_columns_when_an_image_key_is_long(tmp_path: Path) -> None:
    run_once(tmp_path, synthetic_job(2, searches=2), seed=1)
    report = read_status(tmp_path)
    long_key = "image:https://img.example.com/designs/a-rather-long-path/SBX-640-chair.jpg"
    first = dataclasses.replace(report.searches[0], search_id=long_key)
    text = dataclasses.replace(report, searches=(first, *report.searches[1:])).to_text()
    table = text.splitlines()[text.splitlines().index("") + 1 :]
    # every row's status starts where the header's does
    column = table[0].index("status")
    assert all(row[column - 1] == " " and row[column] != " " for row in table[1:]), table
    assert any(row.startswith(long_key + " ") for row in table)
