"""Pure pieces of the sink: record lines, staging blobs, shard choice, gzip members,
fingerprints and the manifest's settings filter."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.sink import SearchEnded, shard_of
from harvester.sink.fingerprint import canonical, search_ids
from harvester.sink.manifest import public_settings
from harvester.sink.records import from_stage, gzip_member, render_page, to_stage
from tests.test_sink_helpers import FakeHit

hits = st.builds(
    FakeHit,
    patent_id=st.text(min_size=1),
    patent_pn=st.none() | st.text(),
    title=st.none() | st.text(),
    score=st.none() | st.floats(0, 1),
    url=st.none() | st.text(),
)


@given(st.lists(hits, max_size=30), st.integers(0, 1000))
def test_a_staged_page_reads_back_as_the_same_lines(page: list[FakeHit], offset: int) -> None:
    rendered = render_page("S", offset, "2026-01-01T00:00:00Z", page)
    back = from_stage(offset, to_stage(rendered))
    assert (back.ids, back.lines) == (rendered.ids, rendered.lines)
    # blobs staged by earlier versions still read: plain, and packed by Python's zlib
    plain = orjson.dumps(rendered.ids) + b"\n" + rendered.block
    for old_blob in (plain, zlib.compress(plain, 6)):
        old = from_stage(offset, old_blob)
        assert (old.ids, old.lines) == (rendered.ids, rendered.lines)
    assert len(back.lines) == len(page)
    for index, line in enumerate(back.lines):
        record = orjson.loads(line)
        expected = {
            "search_id": "S",
            "patent_id": page[index].patent_id,
            "patent_pn": page[index].patent_pn,
            "title": page[index].title,
            "score": page[index].score,
            "url": page[index].url,
            "rank": offset + index + 1,
            "harvested_at": "2026-01-01T00:00:00Z",
        }
        assert record == expected
        assert line == orjson.dumps(expected)  # byte for byte what one dumps per record gives


@given(st.none() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False))
def test_any_score_is_written_as_the_same_json_value(score: float | None) -> None:
    [line] = render_page("S", 0, "T", [FakeHit("P", None, None, score, None)]).lines
    assert orjson.loads(line)["score"] == score
    if score is None or abs(score) < 1e16:  # from 1e16 on: "1e16", orjson's "1e+16"
        assert line == orjson.dumps(
            {
                "search_id": "S",
                "patent_id": "P",
                "patent_pn": None,
                "title": None,
                "score": score,
                "url": None,
                "rank": 1,
                "harvested_at": "T",
            }
        )


def test_shard_choice_is_stable_across_processes_and_versions() -> None:
    # crc32 of the UTF-8 id: fixed values, unlike Python's salted hash()
    ids = ("CN1", "US2", "专利3", "EP4", "JP5")  # crc32: 2998503482, 3430378078, ...
    assert [shard_of(pid, 4) for pid in ids] == [2, 2, 2, 0, 3]
    assert [shard_of(pid, 7) for pid in ids] == [2, 1, 3, 2, 5]
    assert shard_of("a", 1) == 0


@given(st.text(min_size=1), st.integers(1, 64))
def test_shard_is_in_range(patent_id: str, shards: int) -> None:
    assert 0 <= shard_of(patent_id, shards) < shards


@given(st.lists(st.binary(max_size=200), max_size=5))
def test_concatenated_members_read_as_one_gzip_stream(chunks: list[bytes]) -> None:
    stream = gzip_member(b"") + b"".join(gzip_member(chunk) for chunk in chunks)
    assert gzip.decompress(stream) == b"".join(chunks)
    assert gzip_member(b"x") == gzip_member(b"x")  # mtime 0: equal input, equal bytes


def test_fingerprint_names_searches_in_three_forms() -> None:
    assert search_ids({"searches": ["A", "B"]}) == ["A", "B"]
    assert search_ids({"searches": {"A": {}, "B": {}}}) == ["A", "B"]
    assert search_ids({"searches": [{"id": "A"}, {"search_id": "B"}]}) == ["A", "B"]
    with pytest.raises(ValueError, match="twice"):
        search_ids({"searches": ["A", "A"]})
    with pytest.raises(ValueError, match="'searches'"):
        search_ids({"job": "x"})


def test_fingerprint_ignores_key_and_search_order() -> None:
    first = {"a": 1, "searches": [{"id": "A", "loc": "x"}, {"id": "B"}]}
    second = {"searches": [{"id": "B"}, {"loc": "x", "id": "A"}], "a": 1}
    assert canonical(first) == canonical(second)


def test_manifest_settings_never_carry_credentials() -> None:
    settings = {
        "rate": 10,
        "client_secret": "s",
        "PATSNAP_API_KEY": "sk-1",
        "token": "t",
        "base": {"url": "http://x", "password": "p", "apikey": "k"},
        "note": "sk-abc",
        "client_id": "cid",
    }
    assert public_settings(settings) == {"rate": 10, "base": {"url": "http://x"}}


def test_search_ended_refuses_a_status_outside_the_contract() -> None:
    with pytest.raises(ValueError, match="status"):
        SearchEnded("S", "done", 1, 1)


def test_a_title_that_looks_like_a_record_boundary_stays_in_its_line() -> None:
    tricky = '},{"search_id":"X"}\n{"search_id":'
    page = [FakeHit("P1", tricky, tricky, 0.5, tricky), FakeHit("P2", None, tricky, None, None)]
    rendered = render_page("S", 0, "2026-01-01T00:00:00Z", page)
    assert [orjson.loads(line)["title"] for line in rendered.lines] == [tricky, tricky]


def test_an_image_follows_the_search_id_in_every_record_whatever_the_titles_hold() -> None:
    tricky = '{"search_id":"S",'  # the very bytes the image is inserted after
    page = [FakeHit("P1", None, tricky, 0.5, None), FakeHit("P2", tricky, None, None, tricky)]
    rendered = render_page("S", 10, "2026-01-01T00:00:00Z", page, image='a "b".png')
    records = [orjson.loads(line) for line in rendered.lines]
    assert [list(r)[:3] for r in records] == [["search_id", "image", "patent_id"]] * 2
    assert [r["image"] for r in records] == ['a "b".png'] * 2
    assert [(r["title"], r["patent_pn"], r["url"]) for r in records] == [
        (tricky, None, None),
        (None, tricky, tricky),
    ]
    assert [r["rank"] for r in records] == [11, 12]
