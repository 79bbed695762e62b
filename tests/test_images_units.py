"""The pieces of searches from images, each on its own: job entries, the two API calls
(parsed from canned answers; sent through the client's auth), the sandbox's own checks."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from harvester.api import PatSnapClient
from harvester.api.errors import ProtocolError, SearchFailed, SlowDown, StopRun
from harvester.api.parse import parse_created, parse_upload
from harvester.jobs import load_job, validate_job
from harvester.sandbox import running_sandbox
from harvester.sandbox.images import ranking_key, ranking_of
from harvester.sink import images as sink_images
from tests.test_api_fakes import BASE, CLIENT, TOKEN_URL, FakePatSnap, failure, success
from tests.test_harvest_support import SEED, sandbox_config
from tests.test_images import png

CREATE = re.compile(r"^https://connect\.patsnap\.com/image-search/search-id(\?.*)?$")
UPLOAD = re.compile(r"^https://connect\.patsnap\.com/image-search/image-upload(\?.*)?$")


# --- parsing the two answers -----------------------------------------------------------


def created_body(where: str, key: str = "search_id") -> dict[str, Any]:
    body = success("P1", "P2", total=1500)
    (body["data"] if where == "data" else body)[key] = "NEW-ID-1"
    return body


@pytest.mark.parametrize(
    ("where", "key"),
    [("data", "search_id"), ("data", "searchId"), ("top", "search_id"), ("top", "searchId")],
)
def test_a_creation_answer_gives_the_search_id_and_its_first_page(where: str, key: str) -> None:
    created = parse_created(orjson.dumps(created_body(where, key)))
    assert created.search_id == "NEW-ID-1"
    assert created.page.total == 1500 and [h.patent_id for h in created.page.hits] == ["P1", "P2"]


def test_a_creation_answer_without_a_search_id_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="search_id"):
        parse_created(orjson.dumps(success("P1")))


def test_an_upload_answer_gives_the_url_and_its_lifetime() -> None:
    body = {"data": {"url": "https://cdn.example/x.png", "expire": 32400}, "status": True}
    body["error_code"] = 0
    upload = parse_upload(orjson.dumps(body))
    assert upload.url == "https://cdn.example/x.png" and upload.expire_s == 32400
    del body["data"]["expire"]  # type: ignore[attr-defined]
    assert parse_upload(orjson.dumps(body)).expire_s == 32400  # the API page's value
    body["data"] = {"expire": 10}
    with pytest.raises(ProtocolError, match=r"data\.url"):
        parse_upload(orjson.dumps(body))


def test_68300010_fails_the_image_and_a_rate_push_back_slows_down() -> None:
    with pytest.raises(SearchFailed) as refused:
        parse_upload(orjson.dumps(failure(68300010, "The file does not comply")))
    assert refused.value.code == 68300010 and "comply" in refused.value.message
    with pytest.raises(SlowDown):
        parse_created(orjson.dumps(failure(67200001)))
    with pytest.raises(StopRun):
        parse_created(orjson.dumps(failure(67200005)))


# --- the client sends them through the same auth ---------------------------------------


@pytest.fixture
def fake() -> Iterator[FakePatSnap]:
    with FakePatSnap() as mocked:
        mocked.post(TOKEN_URL, payload={"token": "T1", "expires_in": 1799})
        yield mocked


@pytest.fixture
async def client() -> AsyncIterator[PatSnapClient]:
    async with PatSnapClient(BASE, CLIENT) as opened:
        yield opened


def sent(fake: FakePatSnap, method: str, pattern: re.Pattern[str]) -> list[dict[str, Any]]:
    return [
        c.kwargs
        for (m, url), cs in fake.requests.items()
        if m == method and pattern.match(str(url))
        for c in cs
    ]


async def test_create_sends_the_url_filters_and_page_with_the_token_and_apikey(
    fake: FakePatSnap, client: PatSnapClient
) -> None:
    fake.get(CREATE, payload=created_body("data"))
    created = await client.create_search(
        "https://img.example/a.png", offset=200, limit=50, filters={"country": "US"}
    )
    assert created.search_id == "NEW-ID-1"
    [call] = sent(fake, "GET", CREATE)
    assert call["params"] == {
        "url": "https://img.example/a.png",
        "offset": "200",
        "limit": "50",
        "country": "US",
        "apikey": CLIENT.client_id,
    }
    assert call["headers"]["Authorization"] == "Bearer T1"
    assert call["allow_redirects"] is False


async def test_upload_sends_the_file_as_multipart_field_image(
    fake: FakePatSnap, client: PatSnapClient, tmp_path: Path
) -> None:
    body = {"data": {"url": "https://cdn.example/a.png", "expire": 60}, "status": True}
    fake.post(UPLOAD, payload={**body, "error_code": 0})
    image = png(tmp_path / "a.png", seed=1)
    upload = await client.upload_image(image)
    assert upload.url == "https://cdn.example/a.png" and upload.expire_s == 60
    [call] = sent(fake, "POST", UPLOAD)
    form = call["data"]
    assert isinstance(form, aiohttp.FormData)
    [(options, headers, value)] = form._fields
    assert options["name"] == "image" and options["filename"] == "a.png"
    assert headers["Content-Type"] == "image/png" and value.getvalue() == image.read_bytes()
    assert call["params"] == {"apikey": CLIENT.client_id}


# --- job entries -----------------------------------------------------------------------


def job(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "imgs.toml"
    path.write_text('[job]\nname = "imgs"\n' + body)
    return path


def test_image_entries_become_searches_keyed_by_the_value_as_written(tmp_path: Path) -> None:
    png(tmp_path / "lamp.png", seed=2)
    (tmp_path / "more").mkdir()
    png(tmp_path / "more" / "cup.png", seed=3)
    (tmp_path / "more" / "list.txt").write_text(
        "# designs\nhttps://img.example/c.jpg\ncup.png\n"
        '{"image_url": "https://img.example/d.png", "country": "US", "limit": 50}\n'
    )
    path = job(
        tmp_path,
        '[defaults]\ncountry = "CN"\n[[search]]\nimage_url = "https://img.example/a.jpg"\n'
        '[[search]]\nimage = "lamp.png"\nloc = "01-01"\n'
        '[[search]]\nimages_file = "more/list.txt"\n[[search]]\nid = "SBX-10-x"\n',
    )
    loaded = load_job(path)
    images = [s for s in loaded.searches if s.is_image]
    assert [s.image for s in images] == [
        "https://img.example/a.jpg", "lamp.png", "https://img.example/c.jpg", "cup.png",
        "https://img.example/d.png",
    ]  # fmt: skip
    keys = [s.search_id for s in images][:2]
    assert keys == ["image:https://img.example/a.jpg", "image:lamp.png"]
    lamp, cup, d = images[1], images[3], images[4]
    assert lamp.image_path == (tmp_path / "lamp.png").absolute() and lamp.image_url is None
    assert dict(lamp.filters) == {"country": "CN", "loc": "01-01"}
    assert cup.image_path == (tmp_path / "more" / "cup.png").absolute()
    assert d.limit == 50 and dict(d.filters) == {"country": "US"}
    assert loaded.settings.recreate == 3


def test_every_bad_image_entry_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "big.jpg").write_bytes(b"\xff\xd8\xff" + bytes(4 * 1024 * 1024))
    (tmp_path / "list.txt").write_text('ftp://x/y.png\n\nnope.png\n{"image": 3}\n')
    path = job(
        tmp_path,
        "recreate = 11\n"  # (in [job]: out of range)
        '[[search]]\nimage_url = "ftp://example.com/a.png"\n'
        f'[[search]]\nimage_url = "https://e.com/{"a" * 1000}.png"\n'
        '[[search]]\nimage = "text.png"\n[[search]]\nimage = "big.jpg"\n'
        '[[search]]\nid = "X1"\nimage = "text.png"\n[[search]]\nimages_file = "list.txt"\n'
        '[[search]]\nimage_url = "https://e.com/a.png"\ncreated_at = "2026-01-01T00:00:00Z"\n',
    )
    problems = [str(p) for p in validate_job(path)]
    expected = [
        f"{path}:3: job.recreate: ",
        f"{path}:5: search[1].image_url: must be an http(s) URL",
        f"{path}:7: search[2].image_url: must be an http(s) URL of a JPG or PNG image, at most "
        "1000 characters; this one has",
        f"{path}:9: search[3].image: is not a JPG or PNG image",
        f"{path}:11: search[4].image: is 4194307 bytes; images may be at most 4 MB",
        f"{path}:14: search[5].image: a [[search]] takes exactly one of",
        f"{path}:19: search[7].created_at: ",
        f"{tmp_path / 'list.txt'}:1: images_file line 1.image: image file not found",
        f"{tmp_path / 'list.txt'}:3: images_file line 3.image: image file not found",
        f"{tmp_path / 'list.txt'}:4: images_file line 4.image: must be a string",
    ]
    assert len(problems) == len(expected), "\n".join(problems)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)


# --- the sandbox's side ------------------------------------------------------------------


def test_a_created_search_reads_its_image_ranking() -> None:
    key = ranking_key("https://img.example/designs/SBX-2500-chair.png?w=1")
    assert key.startswith("SBX-2500-I") and ranking_of(f"{key}~7") == key
    assert ranking_of("SBX-10-plain") == "SBX-10-plain"
    assert ranking_of("ABC~12") == "ABC~12"  # not one the sandbox made


async def test_the_sandbox_checks_uploads_and_makes_a_new_search_per_creation(
    tmp_path: Path,
) -> None:
    image = png(tmp_path / "SBX-1300-mug.png", seed=4)
    config = sandbox_config(SEED, quota=4, api_key="sk-images-test")
    async with running_sandbox(config) as sandbox:
        async with aiohttp.ClientSession() as session:
            auth = {"Authorization": "Bearer sk-images-test"}
            params: dict[str, str] = {}

            async def upload(data: bytes, name: str) -> dict[str, Any]:
                form = aiohttp.FormData()
                form.add_field("image", data, filename=name)
                answer = await session.post(
                    f"{sandbox.url}/image-search/image-upload",
                    data=form,
                    headers=auth,
                    params=params,
                )
                result: dict[str, Any] = await answer.json()
                return result

            async def create(url: str) -> dict[str, Any]:
                answer = await session.get(
                    f"{sandbox.url}/image-search/search-id",
                    params={**params, "url": url, "limit": "100", "offset": "100"},
                    headers=auth,
                )
                result: dict[str, Any] = await answer.json()
                return result

            refused = await upload(b"just text", "notes.png")
            assert refused["error_code"] == 68300010 and refused["status"] is False
            done = await upload(image.read_bytes(), image.name)
            url = done["data"]["url"]
            assert done["data"]["expire"] == 32400 and url.endswith("/SBX-1300-mug.png")
            served = await session.get(url)
            assert await served.read() == image.read_bytes()
            first, second = await create(url), await create(url)
            assert first["data"]["search_id"] != second["data"]["search_id"]
            assert first["data"]["patent_messages"] == second["data"]["patent_messages"]
            assert first["data"]["total_search_result_count"] == 1300
            gone = await create(url.replace("SBX-1300-mug", "other"))
            assert gone["error_code"] == 68300004 and "url" in gone["error_msg"]
            over = await create("https://img.example/x.png")  # the 4th billed call: quota is 4
            assert over["status"] is True, over
            assert (await create("https://img.example/y.png"))["error_code"] == 67200002
        stats = sandbox.stats
    assert stats.uploads == 1 and stats.upload_rejected == 1 and stats.creations == 3
    assert stats.billed == 4 and stats.create_calls == 5 and stats.upload_calls == 2


async def test_the_sandbox_rate_limit_covers_creations_and_uploads(tmp_path: Path) -> None:
    image = png(tmp_path / "a.png", seed=5)
    config = sandbox_config(SEED, rate=0.5, api_key="sk-images-test", rate_limit_status=200)
    async with running_sandbox(config) as sandbox:
        auth = {"Authorization": "Bearer sk-images-test"}
        async with aiohttp.ClientSession(headers=auth) as session:
            create = f"{sandbox.url}/image-search/search-id"
            made = await (await session.get(create, params={"url": "https://e.x/a.png"})).json()
            form = aiohttp.FormData()
            form.add_field("image", image.read_bytes(), filename=image.name)
            upload = f"{sandbox.url}/image-search/image-upload"
            pushed = await (await session.post(upload, data=form)).json()
            again = await (await session.get(create, params={"url": "https://e.x/b.png"})).json()
    assert made["status"] is True
    assert pushed["error_code"] == again["error_code"] == 67200001


def test_the_checkpoint_keeps_uploads_and_creations_and_annotates_image_lines(
    tmp_path: Path,
) -> None:
    db = sqlite3.connect(tmp_path / "c.sqlite", isolation_level=None)
    try:
        db.execute("BEGIN")  # the writer's transaction; the tables come with it
        sink_images.record(db, sink_images.ImageUploaded("image:a.png", "https://u/1", 100.0))
        sink_images.record(db, sink_images.SearchCreated("image:a.png", "S1", 10.0))
        sink_images.record(db, sink_images.SearchCreated("image:a.png", "S2", 20.0))
        sink_images.record(db, sink_images.ImageUploaded("image:a.png", "https://u/2", 200.0))
        db.execute("COMMIT")
        sink_images.register_images(db, {"image:a.png": "a.png", "image:b.png": "b.png"})
        progress = sink_images.image_progress(db)
        assert progress["image:a.png"] == sink_images.ImageProgress(
            "https://u/2", 200.0, 2, (("S1", 10.0), ("S2", 20.0))
        )
        lines = [
            {"search_id": "image:a.png", "status": "complete", "records": 5},
            {"search_id": "image:b.png", "status": "failed", "records": 0},
            {"search_id": "PLAIN-ID", "status": "complete", "records": 1},
        ]
        a, b, plain = sink_images.annotate_lines(db, lines)
    finally:
        db.close()
    assert list(a)[:2] == ["search_id", "image"] and a["search_id"] == "S2"
    assert (a["search_ids"], a["creations"], a["uploads"]) == (["S1", "S2"], 2, 2)
    assert b["search_id"] is None and b["search_ids"] == [] and b["uploads"] == 0
    assert plain == {"search_id": "PLAIN-ID", "status": "complete", "records": 1}
