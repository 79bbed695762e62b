"""report.html beside the data: listed in the manifest with its sha256, and _SUCCESS
stamped again only when it vouched for the manifest before."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from harvester.sink import MANIFEST_NAME, REPORT_NAME, SUCCESS_NAME, attach_report


def _finished(out: Path, *, vouched: bool = True) -> bytes:
    body = orjson.dumps({"job_name": "j", "shards": []}, option=orjson.OPT_INDENT_2)
    (out / MANIFEST_NAME).write_bytes(body)
    sha = hashlib.sha256(body if vouched else b"another manifest").hexdigest()
    (out / SUCCESS_NAME).write_bytes(orjson.dumps({"run_id": "r", "manifest_sha256": sha}))
    return body


def _stamp(out: Path) -> str:
    return str(orjson.loads((out / SUCCESS_NAME).read_bytes())["manifest_sha256"])


def test_the_report_is_listed_and_success_vouches_for_the_new_manifest(tmp_path: Path) -> None:
    _finished(tmp_path)
    attach_report(tmp_path, b"<html>one</html>")
    body = (tmp_path / MANIFEST_NAME).read_bytes()
    assert orjson.loads(body)["report"] == {
        "path": REPORT_NAME,
        "bytes": 16,
        "sha256": hashlib.sha256(b"<html>one</html>").hexdigest(),
    }
    assert _stamp(tmp_path) == hashlib.sha256(body).hexdigest()
    assert orjson.loads((tmp_path / SUCCESS_NAME).read_bytes())["run_id"] == "r"

    attach_report(tmp_path, b"<html>one</html>")  # the same page again: nothing changes
    assert (tmp_path / MANIFEST_NAME).read_bytes() == body


def test_a_success_that_did_not_vouch_is_not_made_to(tmp_path: Path) -> None:
    _finished(tmp_path, vouched=False)
    before = (tmp_path / SUCCESS_NAME).read_bytes()
    attach_report(tmp_path, b"<html/>")
    assert "report" in orjson.loads((tmp_path / MANIFEST_NAME).read_bytes())
    assert (tmp_path / SUCCESS_NAME).read_bytes() == before


def test_while_a_run_holds_the_directory_only_the_page_is_written(tmp_path: Path) -> None:
    body = _finished(tmp_path)
    attach_report(tmp_path, b"<html/>", list_in_manifest=False)
    assert (tmp_path / REPORT_NAME).read_bytes() == b"<html/>"
    assert (tmp_path / MANIFEST_NAME).read_bytes() == body
    assert _stamp(tmp_path) == hashlib.sha256(body).hexdigest()
