"""The engine's image side on its own: a fake API that records calls, a fake clock.

When a search is created (and from which offset), when an upload is reused or made again,
how the scheduler admits image searches, and that calls waiting on a creation share it."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from harvester.api.errors import SearchFailed, TransportError
from harvester.api.models import Created, Hit, Page, Upload
from harvester.engine.admission import worst_case_calls
from harvester.engine.images import Images, WindowClosed
from harvester.engine.schedule import RELEASE_S, Scheduler, SearchTask
from harvester.jobs import Search
from harvester.paging import PageSpec, plan_pages
from harvester.sink.images import ImageProgress, ImageUploaded, SearchCreated
from harvester.sink.messages import Message


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeApi:
    """Answers every call at once; a results call for a search in `closed` fails."""

    def __init__(self, clock: Clock, total: int = 1100) -> None:
        self.clock = clock
        self.total = total
        self.log: list[tuple[Any, ...]] = []
        self.closed: set[str] = set()
        self.gate: anyio.Event | None = None  #: when set, creations wait for it
        self.made = 0

    async def create_search(
        self, url: str, *, offset: int = 0, limit: int, filters: Mapping[str, str]
    ) -> Created:
        self.log.append(("create", url, offset))
        if self.gate is not None:
            await self.gate.wait()
        self.made += 1
        return Created(f"S{self.made}", self._page(offset))

    async def upload_image(self, path: Path) -> Upload:
        self.log.append(("upload", path.name))
        return Upload(f"https://cdn.example/{path.name}?v={len(self.log)}", 32400)

    async def fetch_page(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        self.log.append(("results", search_id, offset))
        if search_id in self.closed:
            raise SearchFailed("Invalid parameter!", code=68300004)
        return self._page(offset)

    def _page(self, offset: int) -> Page:
        return Page((Hit(f"P{offset}", None, None, None, None),), self.total)


Streams = tuple[ObjectSendStream[Message], ObjectReceiveStream[Message]]


@pytest.fixture
def streams() -> Iterator[Streams]:
    """The writer's stream (the test reads what the image side sent), closed afterwards."""
    send, receive = anyio.create_memory_object_stream[Message](100)
    with send, receive:
        yield send, receive


def setup(
    tmp_path: Path, clock: Clock, streams: Streams, *, local: bool = False, recreate: int = 3
) -> tuple[Images, FakeApi, SearchTask, Search, ObjectReceiveStream[Message]]:
    send, receive = streams
    api = FakeApi(clock)
    images = Images(api, send, Scheduler(), validity_s=60, recreate=recreate, clock=clock)
    if local:
        path = tmp_path / "lamp.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
        search = Search("image:lamp.png", None, 100, (), "job:3", "lamp.png", None, path)
    else:
        url = "https://img.example/chair.jpg"
        search = Search(f"image:{url}", None, 100, (), "job:3", url, url, None)
    task = SearchTask(search.search_id, 0, math.inf, 100)
    return images, api, task, search, receive


def drained(receive: ObjectReceiveStream[Message]) -> list[Message]:
    out = []
    while True:
        try:
            out.append(receive.receive_nowait())
        except anyio.WouldBlock:
            return out


async def test_the_first_call_creates_the_search_and_its_answer_is_the_page(
    tmp_path: Path, streams: Streams
) -> None:
    clock = Clock()
    images, api, task, search, receive = setup(tmp_path, clock, streams)
    images.load(search, task, None)
    assert task.deadline == math.inf and task.window_s == 60 - images.margin  # not created
    page, used, calls = await images.call(task, 0, 100, {}, lead=0)
    assert (used, calls, page.hits[0].patent_id) == ("S1", 1, "P0")
    assert api.log == [("create", "https://img.example/chair.jpg", 0)]
    assert task.deadline == pytest.approx(clock() + 60)
    [created] = drained(receive)
    assert created == SearchCreated(search.search_id, "S1", clock())
    clock.now += 10
    _, used, _ = await images.call(task, 100, 100, {}, lead=0)
    assert used == "S1" and api.log[-1] == ("results", "S1", 100)


async def test_a_closing_window_makes_the_search_again_at_the_page_asked_for(
    tmp_path: Path, streams: Streams
) -> None:
    clock = Clock()
    images, api, task, search, _ = setup(tmp_path, clock, streams)
    images.load(search, task, None)
    await images.call(task, 0, 100, {}, lead=0)
    clock.now += 59  # within a margin (2 s) of the window's end
    _, used, _ = await images.call(task, 300, 100, {}, lead=0)
    assert used == "S2" and api.log[-1] == ("create", "https://img.example/chair.jpg", 300)
    clock.now += 30  # the call would wait 31 s for its slot: past S2's window
    _, used, _ = await images.call(task, 400, 100, {}, lead=31)
    assert used == "S3"


async def test_a_search_the_api_says_failed_is_made_again_until_the_limit(
    tmp_path: Path, streams: Streams
) -> None:
    clock = Clock()
    images, api, task, search, _ = setup(tmp_path, clock, streams, recreate=1)
    images.load(search, task, None)
    await images.call(task, 0, 100, {}, lead=0)
    api.closed.add("S1")
    _, used, calls = await images.call(task, 100, 100, {}, lead=0)
    assert (used, calls) == ("S2", 2)  # the refused call, then the creation
    assert api.log[-2:] == [
        ("results", "S1", 100),
        ("create", "https://img.example/chair.jpg", 100),
    ]
    api.closed.add("S2")
    with pytest.raises(WindowClosed, match="created 2 times"):
        await images.call(task, 200, 100, {}, lead=0)


async def test_a_transient_failure_inside_the_window_is_the_callers_to_retry(
    tmp_path: Path, streams: Streams
) -> None:
    clock = Clock()
    images, api, task, search, _ = setup(tmp_path, clock, streams)
    images.load(search, task, None)
    await images.call(task, 0, 100, {}, lead=0)

    async def broken(*args: Any, **kwargs: Any) -> Page:
        raise TransportError("connection reset")

    api.fetch_page = broken  # type: ignore[method-assign]
    with pytest.raises(TransportError):
        await images.call(task, 100, 100, {}, lead=0)
    assert images.states[search.search_id].created_id == "S1"  # still live


async def test_calls_waiting_on_a_creation_share_it(tmp_path: Path, streams: Streams) -> None:
    clock = Clock()
    images, api, task, search, _ = setup(tmp_path, clock, streams)
    images.load(search, task, ImageProgress(creations=(("S0", clock() - 100),)))
    task.total = 1100
    api.made = 0
    api.gate = anyio.Event()
    used: list[str] = []

    async def one(offset: int) -> None:
        used.append((await images.call(task, offset, 100, {}, lead=5))[1])

    async with anyio.create_task_group() as tg:
        for offset in (100, 200, 300):
            tg.start_soon(one, offset)
        await anyio.wait_all_tasks_blocked()
        api.gate.set()
    assert sorted(used) == ["S1", "S1", "S1"]
    assert [entry[0] for entry in api.log] == ["create", "results", "results"]


async def test_a_local_image_is_uploaded_once_and_again_only_when_its_url_expires(
    tmp_path: Path, streams: Streams
) -> None:
    clock = Clock()
    images, api, task, search, receive = setup(tmp_path, clock, streams, local=True)
    live = ImageProgress(url="https://cdn.example/old", url_expires_at=clock() + 3600, uploads=1)
    images.load(search, task, live)
    await images.call(task, 0, 100, {}, lead=0)
    assert api.log == [("create", "https://cdn.example/old", 0)]  # reused from the checkpoint
    clock.now += 3600  # the URL has expired by the next creation
    images.states[search.search_id].created_id = None
    await images.call(task, 100, 100, {}, lead=0)
    assert [entry[0] for entry in api.log] == ["create", "upload", "create"]
    uploaded = [m for m in drained(receive) if isinstance(m, ImageUploaded)]
    assert len(uploaded) == 1 and uploaded[0].expires_at == clock() + 32400
    assert images.states[search.search_id].uploads == 2 and images.uploads == 1


def image_tasks(clock: Clock, streams: Streams, n: int, validity_s: float) -> Scheduler:
    """`n` fresh images (never created) loaded into a scheduler, as the pool loads them."""
    scheduler = Scheduler()
    images = Images(
        FakeApi(clock), streams[0], scheduler, validity_s=validity_s, recreate=3, clock=clock
    )
    tasks = []
    for index in range(n):
        url = f"https://img.example/{index}.jpg"
        search = Search(f"image:{url}", None, 100, (), f"job:{index}", url, url, None)
        task = SearchTask(search.search_id, index, 0.0, 100, pending=[PageSpec(0, 100)])
        images.load(search, task, None)
        tasks.append(task)
    scheduler.load(tasks)
    return scheduler


def test_images_are_admitted_by_the_ledger_against_the_window_a_creation_opens(
    streams: Streams,
) -> None:
    clock = Clock()
    # 20 s windows (18 s usable: a call leaves 2 s before one closes) at 1.5 calls/s: 27
    # calls, room for two searches of unknown size (11 calls each), not three
    scheduler = image_tasks(clock, streams, 3, validity_s=20)
    now = clock()
    first = scheduler.next_page(now, rate=1.5)
    second = scheduler.next_page(now, rate=1.5)
    assert first is not None and second is not None
    assert [item[0].index for item in (first, second)] == [0, 1]
    assert [item[1].offset for item in (first, second)] == [0, 0]  # their creations
    assert scheduler.next_page(now, rate=1.5) is None  # the third waits for room
    # each holds its worst case, due at the end of the window a creation now would open
    assert scheduler.ledger.committed(now + 18) == 2 * (worst_case_calls(100) - 1)
    assert first[0].deadline == now + 18
    # the creation answered at now + 1: the reservation moves to the real window
    scheduler.move(first[0], now + 1 + 20)
    assert scheduler.ledger.committed(now + 18) == worst_case_calls(100) - 1
    assert scheduler.ledger.committed(now + 21) == 2 * (worst_case_calls(100) - 1)


def test_an_image_whose_window_closed_while_it_waited_is_made_again_not_expired() -> None:
    now = 1_000_000.0
    pages = list(plan_pages(1100, 100))
    # an image created earlier whose window closed while it waited for room ...
    image = SearchTask("image:a", 0, now - 1, 100, total=1100, window_s=18.0, was_held=True)
    image.done_offsets, image.pending = {0}, pages[1:]
    # ... beside a search by id that has started (so it holds its 9 pages)
    by_id = SearchTask("S", 1, now + 100, 100, total=1100)
    by_id.done_offsets, by_id.pending = {0, 100}, pages[2:]
    scheduler = Scheduler()
    scheduler.load([image, by_id])
    # at 0.5 calls/s a new 18 s window holds 9 calls, not the image's 10: it waits
    item = scheduler.next_page(now, rate=0.5)
    assert item is not None and item[0] is by_id
    assert scheduler.take_expired() == [] and image.held_back  # a search by id would expire
    # at 2 calls/s it fits: admitted, due when the window its next call opens closes
    item = scheduler.next_page(now + RELEASE_S, rate=2.0)
    assert item is not None and item[0] is image
    assert image.admitted and image.deadline == now + RELEASE_S + 18
    assert scheduler.ledger.committed(now + RELEASE_S + 18) == image.reserved == 9  # reserved


def test_an_image_no_window_can_hold_goes_ahead_once_nothing_else_is_committed(
    streams: Streams,
) -> None:
    clock = Clock()
    # 6 s windows at 1 call/s cannot hold 11 calls: waiting for room would wait forever
    scheduler = image_tasks(clock, streams, 2, validity_s=6)
    first = scheduler.next_page(clock(), rate=1.0)
    assert first is not None and first[0].index == 0
    assert scheduler.next_page(clock(), rate=1.0) is None  # the first one's calls go first
    scheduler.end(first[0])
    scheduler.drop(first[0])
    second = scheduler.next_page(clock(), rate=1.0)
    assert second is not None and second[0].index == 1
