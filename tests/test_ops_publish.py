"""`harvester publish` against a real S3 API: moto's server on 127.0.0.1, through s3fs.

The order of writes is read from moto's own request recording, so the tests see what
S3 saw, not what the code meant to do.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from harvester.cli import main
from harvester.ops import (
    DestinationError,
    MissingExtra,
    NotPublishable,
    lake_path,
    publish,
    verify_run,
)
from tests.test_ops_support import harvester, sandbox, write_job

DT = "2026-11-25"
REGION = "eu-west-1"
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(slots=True, frozen=True)
class S3:
    """A moto S3 server and an s3fs filesystem pointed at it."""

    url: str
    fs: Any

    @property
    def options(self) -> dict[str, Any]:
        return {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": self.url, "region_name": REGION},
        }

    def bucket(self, name: str) -> str:
        self.fs.mkdir(name)
        return name

    def _moto(self, action: str, method: str = "POST") -> bytes:
        request = urllib.request.Request(f"{self.url}/moto-api/recorder/{action}", method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            body: bytes = answer.read()
        return body

    def record(self) -> None:
        """Forget earlier requests and record from now on."""
        self._moto("reset-recording")
        self._moto("start-recording")

    def writes(self, bucket: str) -> list[tuple[str, str]]:
        """(method, key) of every write to `bucket` since record(), in the order S3 saw them."""
        writes = []
        for line in self._moto("download-recording", "GET").splitlines():
            entry = orjson.loads(line)
            path = entry["url"].split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
            name, _, key = path.partition("/")
            if entry["method"] in ("PUT", "POST", "DELETE") and name == bucket and key:
                writes.append((entry["method"], urllib.request.unquote(key)))
        return writes

    def objects(self, prefix: str) -> dict[str, bytes]:
        """Every object under `prefix`, by name relative to it."""
        self.fs.invalidate_cache()
        return {
            path.removeprefix(prefix + "/"): self.fs.cat_file(path) for path in self.fs.find(prefix)
        }


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    recording = tmp_path_factory.mktemp("moto") / "recording.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_RECORDER_FILEPATH", str(recording))  # read when moto is imported
        import s3fs
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            url = f"http://{host}:{port}"
            fs = s3fs.S3FileSystem(
                key="testing",
                secret="testing",
                client_kwargs={"endpoint_url": url, "region_name": REGION},
            )
            yield S3(url, fs)
        finally:
            server.stop()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two finished runs of one job: "a" with 3 shards, "b" with 2 (a later, different run)."""
    root = tmp_path_factory.mktemp("runs")
    job = write_job(root)
    out = {name: root / name / f"dt={DT}" for name in ("a", "b")}
    with sandbox() as box:
        for name, shards in (("a", 3), ("b", 2)):
            done = harvester(
                ["run", job, "--out", out[name], "--shards", shards], env=box.env(), cwd=root
            )
            assert done.returncode == 0, done.stderr
    return out


def copy_run(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy" / run.parent.name / run.name
    shutil.copytree(run, target)
    return target


def local_files(run: Path) -> dict[str, bytes]:
    names = [f.name for f in verify_run(run).data] + ["manifest.json", "_SUCCESS"]
    return {name: (run / name).read_bytes() for name in names}


def test_publish_to_s3_writes_data_then_manifest_and_success_last(
    s3: S3, runs: dict[str, Path]
) -> None:
    bucket = s3.bucket("lake-order")
    s3.record()
    result = publish(runs["a"], f"s3://{bucket}/patents", storage_options=s3.options)
    prefix = f"{bucket}/patents/job=opsjob/dt={DT}"
    assert result.destination == f"s3://{prefix}"
    assert s3.objects(prefix) == local_files(runs["a"])
    writes = s3.writes(bucket)
    assert all(method == "PUT" for method, _ in writes)
    names = [key.rsplit("/", 1)[1] for _, key in writes]
    assert names[-2:] == ["manifest.json", "_SUCCESS"]
    assert sorted(names[:-2]) == sorted(f.name for f in verify_run(runs["a"]).data)


def test_republishing_the_same_run_sends_no_write(s3: S3, runs: dict[str, Path]) -> None:
    bucket = s3.bucket("lake-again")
    dest = f"s3://{bucket}/patents"
    publish(runs["a"], dest, storage_options=s3.options)
    before = s3.objects(bucket)
    s3.record()
    result = publish(runs["a"], dest, storage_options=s3.options)
    assert result.unchanged
    assert s3.writes(bucket) == []
    assert s3.objects(bucket) == before


def test_an_interrupted_publish_resumes_without_sending_the_data_again(
    s3: S3, runs: dict[str, Path]
) -> None:
    bucket = s3.bucket("lake-resume")
    dest = f"s3://{bucket}/patents"
    publish(runs["a"], dest, storage_options=s3.options)
    prefix = f"{bucket}/patents/job=opsjob/dt={DT}"
    s3.fs.rm_file(f"{prefix}/_SUCCESS")  # as if killed after the data, before the end
    s3.fs.rm_file(f"{prefix}/manifest.json")
    s3.record()
    result = publish(runs["a"], dest, storage_options=s3.options)
    assert sorted(result.kept) == sorted(f.name for f in verify_run(runs["a"]).data)
    names = [key.rsplit("/", 1)[1] for _, key in s3.writes(bucket)]
    assert names == ["manifest.json", "_SUCCESS"]
    assert s3.objects(prefix) == local_files(runs["a"])


def test_a_tampered_file_is_refused_and_nothing_reaches_the_bucket(
    s3: S3, runs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(runs["a"], tmp_path)
    shard = run / "part-00001.jsonl.gz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    shard.write_bytes(bytes(data))
    bucket = s3.bucket("lake-tampered")
    s3.record()
    with pytest.raises(NotPublishable, match=r"part-00001\.jsonl\.gz does not match the manifest"):
        publish(run, f"s3://{bucket}/patents", storage_options=s3.options)
    assert s3.writes(bucket) == []
    assert s3.objects(bucket) == {}


def test_publishing_another_run_withdraws_success_first_and_removes_stale_shards(
    s3: S3, runs: dict[str, Path]
) -> None:
    bucket = s3.bucket("lake-replace")
    dest = f"s3://{bucket}/patents"
    publish(runs["a"], dest, storage_options=s3.options)
    s3.record()
    result = publish(runs["b"], dest, storage_options=s3.options)
    prefix = f"{bucket}/patents/job=opsjob/dt={DT}"
    assert s3.objects(prefix) == local_files(runs["b"])
    assert result.deleted == ("part-00002.jsonl.gz",)
    writes = [(method, key.rsplit("/", 1)[1]) for method, key in s3.writes(bucket)]
    assert writes[0] == ("DELETE", "_SUCCESS")
    assert writes[-2:] == [("PUT", "manifest.json"), ("PUT", "_SUCCESS")]
    assert ("DELETE", "part-00002.jsonl.gz") in writes


def test_publish_command_reaches_s3_configured_by_the_environment(
    s3: S3, runs: dict[str, Path], tmp_path: Path
) -> None:
    bucket = s3.bucket("lake-cli")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **KEYS,
        "AWS_ENDPOINT_URL": s3.url,
        "AWS_DEFAULT_REGION": REGION,
    }
    first = harvester(["publish", runs["a"], f"s3://{bucket}/patents"], env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"s3://{bucket}/patents/job=opsjob/dt={DT}" in first.stdout
    again = harvester(["publish", runs["a"], f"s3://{bucket}/patents"], env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout


@pytest.mark.parametrize("damage", ["no_success", "tampered", "edited_manifest"])
def test_publish_command_refuses_an_unfinished_or_changed_run_with_exit_2(
    runs: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    run = copy_run(runs["a"], tmp_path)
    if damage == "no_success":
        (run / "_SUCCESS").unlink()
    elif damage == "tampered":
        with open(run / "part-00000.jsonl.gz", "ab") as shard:
            shard.write(b"\x00")
    else:
        manifest = orjson.loads((run / "manifest.json").read_bytes())
        manifest["totals"]["records"] += 1
        (run / "manifest.json").write_bytes(orjson.dumps(manifest))
    out, err = io.StringIO(), io.StringIO()
    code = main(["publish", str(run), str(tmp_path / "lake")], out, err)
    assert code == 2
    assert {"no_success": "_SUCCESS", "tampered": "part-00000", "edited_manifest": "manifest"}[
        damage
    ] in err.getvalue()
    assert not (tmp_path / "lake").exists()


def test_a_failing_destination_is_exit_1_and_names_it(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the lake should be")
    out, err = io.StringIO(), io.StringIO()
    assert main(["publish", str(runs["a"]), str(blocker)], out, err) == 1
    assert str(blocker) in err.getvalue()
    assert "publish again" in err.getvalue()


def test_a_local_destination_needs_no_fsspec_and_a_url_names_the_extra(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)  # as if not installed
    result = publish(runs["a"], str(tmp_path / "lake"))
    folder = tmp_path / "lake" / "job=opsjob" / f"dt={DT}"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == local_files(runs["a"])
    assert result.uploaded[-1] == "_SUCCESS"
    assert publish(runs["a"], str(tmp_path / "lake")).unchanged
    with pytest.raises(MissingExtra, match=r"pip install '\.\[s3\]' in the harvester's clone"):
        publish(runs["a"], "s3://bucket/lake")


def test_a_missing_bucket_is_a_destination_error(s3: S3, runs: dict[str, Path]) -> None:
    with pytest.raises(DestinationError, match="no-such-bucket"):
        publish(runs["a"], "s3://no-such-bucket/lake", storage_options=s3.options)


def test_lake_path_takes_dt_from_the_folder_or_its_parent_and_adds_the_partition(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = verify_run(runs["a"])
    assert lake_path(run) == ("job=opsjob", f"dt={DT}")
    manifest = {**run.manifest, "settings": {**run.manifest["settings"], "partition": "2/3"}}
    nested = tmp_path / f"dt={DT}" / "part=2-of-3"
    nested.mkdir(parents=True)
    moved = type(run)(nested, manifest, run.manifest_bytes, run.success_bytes, run.data)
    assert lake_path(moved) == ("job=opsjob", f"dt={DT}", "part=2-of-3")
    elsewhere = type(run)(tmp_path, run.manifest, run.manifest_bytes, run.success_bytes, ())
    assert lake_path(elsewhere)[1] == f"dt={run.manifest['runs'][0]['started_at'][:10]}"
