"""Searches made from images, just in time: the pool owns each search's window.

    images = Images(api, send, scheduler, validity_s=1200, recreate=3)
    images.load(search, task, progress.get(key))   # at set-up, per image, before the scheduler
    page, used, calls = await images.call(task, offset, limit, filters, lead=0.4)

An image's search is created when the pool can finish it inside its window, never up
front: the scheduler admits it like any search (`schedule.Scheduler`, with
`SearchTask.window_s` set here), against the window a call made now would open, and
assuming the full 1,100 hits until the creation says otherwise. Its creation is a paid
call whose answer is the search's first page; it moves the search's reservation to its real
deadline (`Scheduler.move`). A page is fetched from the image's live search; when the window
is about to close (or the API answers that the search failed) the next call creates the
search again and carries on at that page's offset, at most `recreate` times; then the image
ends expired. A local image is uploaded once, before its first creation, and its URL reused
while valid.

The ranking of an image does not change between its searches, so pages of different
searches of one image are pages of one ranking: offsets already fetched are never
fetched again, and the writer dedupes records across them like pages of one search.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio
from anyio.abc import ObjectSendStream

from harvester.api.errors import PatSnapError, Retryable, SearchFailed, SlowDown
from harvester.api.models import Created, Page, Upload
from harvester.engine.events import NullObserver, Observer
from harvester.engine.schedule import Scheduler, SearchTask
from harvester.jobs import Search
from harvester.sink.images import ImageProgress, ImageUploaded, SearchCreated
from harvester.sink.messages import Message

__all__ = ["ImageApi", "ImageState", "Images", "WindowClosed"]

#: An uploaded URL must stay valid at least this long past a creation that uses it (or a
#: quarter of its lifetime, if shorter).
UPLOAD_SLACK_S = 60.0


@runtime_checkable
class ImageApi(Protocol):
    """What the pool needs of the API client for images (PatSnapClient satisfies it)."""

    async def create_search(
        self, url: str, *, offset: int = 0, limit: int, filters: Mapping[str, str]
    ) -> Created:
        """Create a search from an image URL; its answer is the page at `offset`."""
        ...

    async def upload_image(self, path: Path) -> Upload:
        """Upload a local image; its answer is a public URL and its lifetime."""
        ...

    async def fetch_page(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        """One page of a search."""
        ...


class WindowClosed(SearchFailed):
    """The image's search closed again and it may not be created any more times."""


@dataclass(slots=True)
class ImageState:
    """One image's upload and current search."""

    search: Search
    url: str | None  #: the URL to create from (None: a local image not uploaded yet)
    url_expires_at: float  #: epoch seconds; inf for an image URL of the job
    url_slack: float = UPLOAD_SLACK_S  #: the URL is not used when it has less left than this
    uploads: int = 0  #: upload calls answered, this run and before
    created_id: str | None = None  #: the live search, if any
    created_at: float = -math.inf  #: when it was created (epoch seconds)
    creations: int = 0  #: searches created, this run and before
    creating: bool = False  #: a creation (or its upload) is under way
    done: anyio.Event = field(default_factory=anyio.Event)  #: set when that creation ends


class Images:
    """The pool's image side: upload, create, and decide when a search must be made again."""

    def __init__(
        self,
        api: ImageApi,
        send: ObjectSendStream[Message],
        scheduler: Scheduler,
        *,
        validity_s: float,
        recreate: int,
        clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
    ) -> None:
        self._api = api
        self._observer = observer or NullObserver()
        self._send = send
        self._scheduler = scheduler
        self._validity = validity_s
        self._recreate = recreate
        self._clock = clock
        #: a call must leave this long before its search's window closes
        self.margin = min(2.0, 0.1 * validity_s)
        self.states: dict[str, ImageState] = {}
        self.uploads = 0  #: upload calls answered this run
        self.creations = 0  #: searches created this run

    # --- set-up -------------------------------------------------------------------------

    def load(self, search: Search, task: SearchTask, progress: ImageProgress | None) -> None:
        """Register an image's task before the scheduler gets it: its window is its live
        search's, or none yet (an infinite deadline) if it was never created; either way a
        call made while no window is open creates one, usable until `margin` before it
        closes."""
        known = progress or ImageProgress()
        url, expires = search.image_url, math.inf
        if url is None and known.url is not None and known.url_expires_at is not None:
            url, expires = known.url, known.url_expires_at
        state = ImageState(search, url, expires, uploads=known.uploads)
        state.creations = len(known.creations)
        if known.creations:
            state.created_id, state.created_at = known.creations[-1]
        self.states[search.search_id] = state
        task.deadline = state.created_at + self._validity if known.creations else math.inf
        task.window_s = self._validity - self.margin

    # --- calls --------------------------------------------------------------------------

    async def call(
        self, task: SearchTask, offset: int, limit: int, filters: Mapping[str, str], *, lead: float
    ) -> tuple[Page, str, int]:
        """The page at `offset` of the image's ranking, the search_id that answered, and
        the calls it took (an upload, or a refused call of a closed search, add to one).

        `lead` is how long a call dispatched now may wait for its slot (calls out / rate):
        the search must still be open then, or it is created again first.
        """
        state = self.states[task.search_id]
        calls = 0
        while True:
            now = self._clock()
            deadline = state.created_at + self._validity
            if state.created_id is None or now + lead + self.margin >= deadline:
                if state.creating:
                    # A call that waited for another call's creation uses the new search:
                    # judged by its wait again it would make search after search.
                    await state.done.wait()
                    lead = 0.0
                    continue
                page, used, made = await self._create(task, state, offset, limit, filters)
                return page, used, calls + made
            used = state.created_id
            calls += 1
            try:
                page = await self._api.fetch_page(used, offset=offset, limit=limit, filters=filters)
            except PatSnapError as error:
                if not self._closed(state, used, error):
                    raise
                continue  # the search's window closed: make it again, ask for this page
            return page, used, calls

    async def _create(
        self,
        task: SearchTask,
        state: ImageState,
        offset: int,
        limit: int,
        filters: Mapping[str, str],
    ) -> tuple[Page, str, int]:
        if state.creations > self._recreate:
            raise WindowClosed(
                f"the search's window closed and it was already created {state.creations} "
                f"times (recreate = {self._recreate})"
            )
        state.creating = True
        calls = 1
        try:
            if not self._url_usable(state):
                calls += 1
            url = await self._url(state)
            asked = self._clock()
            created = await self._api.create_search(
                url, offset=offset, limit=limit, filters=filters
            )
            answered = self._clock()
            # PatSnap started the window somewhere between the call leaving (after its wait
            # for a slot) and its answer: count it from up to a margin before the answer
            at = answered - min(answered - asked, self.margin)
            state.created_id, state.created_at = created.search_id, at
            state.creations += 1
            self.creations += 1
            self._scheduler.move(task, at + self._validity)
            await self._send.send(SearchCreated(task.search_id, created.search_id, at))
            self._observer.event(
                "search_created",
                image=state.search.image,
                search_id=created.search_id,
                creations=state.creations,
                offset=offset,
                total=created.page.total,
            )
            return created.page, created.search_id, calls
        finally:
            state.creating = False
            state.done.set()
            state.done = anyio.Event()

    async def _url(self, state: ImageState) -> str:
        """The URL to create from: the job's, or a live upload's, or a new upload's."""
        if state.url is not None and self._url_usable(state):
            return state.url
        path = state.search.image_path
        assert path is not None  # an image URL of the job never expires
        upload = await self._api.upload_image(path)
        now = self._clock()
        state.url, state.url_expires_at = upload.url, now + upload.expire_s
        state.url_slack = min(UPLOAD_SLACK_S, upload.expire_s / 4)
        state.uploads += 1
        self.uploads += 1
        await self._send.send(
            ImageUploaded(state.search.search_id, upload.url, now + upload.expire_s)
        )
        self._observer.event("image_uploaded", image=state.search.image, expire_s=upload.expire_s)
        return upload.url

    def _url_usable(self, state: ImageState) -> bool:
        return state.url is not None and state.url_expires_at > self._clock() + state.url_slack

    # --- failures -----------------------------------------------------------------------

    def _closed(self, state: ImageState, used: str, error: Exception) -> bool:
        """Whether a failed results call means the search's window closed: the API says the
        search failed, or a transient failure came after its window. The next call then
        creates the search again (unless a newer one exists already)."""
        if isinstance(error, SlowDown) or not isinstance(error, SearchFailed | Retryable):
            return False
        if isinstance(error, Retryable) and self._clock() < state.created_at + self._validity:
            return False
        if used == state.created_id:
            state.created_id = None
        self._observer.event(
            "search_closed", image=state.search.image, search_id=used, error=str(error)
        )
        return True

    def fields(self, key: str) -> dict[str, object]:
        """What searches.jsonl-bound events say of an image: creations and uploads."""
        state = self.states.get(key)
        if state is None:
            return {}
        return {"image": state.search.image, "creations": state.creations, "uploads": state.uploads}
