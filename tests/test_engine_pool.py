"""The worker pool against a fake fetcher (no sockets): what is fetched, in what order."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from harvester.api.errors import (
    ProtocolError,
    QuotaAmbiguous,
    SearchFailed,
    ServerError,
    SlowDown,
    StopRun,
    TransportError,
    UnknownCodeError,
)
from harvester.api.models import Hit, Page
from harvester.engine.harvest import Harvest, HarvestOptions, Message
from harvester.engine.rate import Throttle
from harvester.engine.retry import RetryPolicy
from harvester.jobs import Job, JobSettings, Search
from harvester.paging import min_calls
from harvester.sink.messages import PageFetched, SearchEnded

FAST = RetryPolicy(initial=0.001, cap=0.002, quota_min_span=0.0)
NO_WAIT = RetryPolicy(initial=0.0, cap=0.0, quota_min_span=0.0)  #: for clocks that only calls move


def make_job(totals: Mapping[str, int], *, created_at: datetime | None = None) -> Job:
    searches = tuple(
        Search(search_id=sid, created_at=created_at, limit=100, filters=(), source=f"t:{i}")
        for i, sid in enumerate(totals)
    )
    return Job(Path("t.toml"), "0" * 64, JobSettings(name="t"), searches)


class FakeApi:
    """Answers pages from `totals`; `script[(sid, offset)]` lists errors to raise first.
    Paces each call with the pool's throttle, as the client does (`paced`)."""

    def __init__(
        self,
        totals: Mapping[str, int],
        script: Mapping[tuple[str, int], list[Exception]] | None = None,
    ) -> None:
        self.totals = dict(totals)
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: Counter[tuple[str, int]] = Counter()
        self.order: list[tuple[str, int]] = []
        self.gate: anyio.Event | None = None
        self.pace: Callable[[], Awaitable[None]] | None = None

    async def fetch_page(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        if self.pace is not None:
            await self.pace()  # PacingStopped: the call is not sent
        return await self.answer(search_id, offset=offset, limit=limit, filters=filters)

    async def answer(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        """The call, once it has left (subclasses add latency, a clock, a closed window)."""
        self.calls[(search_id, offset)] += 1
        self.order.append((search_id, offset))
        if self.gate is not None:
            await self.gate.wait()
        await anyio.lowlevel.checkpoint()  # like a real call: other workers run meanwhile
        errors = self.script.get((search_id, offset))
        if errors:
            raise errors.pop(0)
        total = self.totals[search_id]
        n = max(0, min(limit, total - offset))
        hits = tuple(Hit(f"{search_id}-p{offset + i}", None, None, 0.5, None) for i in range(n))
        return Page(hits, total)


def paced(api: FakeApi, options: HarvestOptions) -> Throttle:
    """The throttle a pool over `api` reads, slows and closes, and `api` awaits."""
    throttle = Throttle(options.rate, options.burst)
    api.pace = throttle.acquire
    return throttle


async def harvest(
    api: FakeApi,
    job: Job,
    *,
    options: HarvestOptions | None = None,
    progress: Mapping[str, object] | None = None,
    clock: object = None,
) -> tuple[Harvest, list[Message]]:
    options = options or HarvestOptions(rate=10_000, concurrency=4, retry=FAST)
    send, receive = anyio.create_memory_object_stream[Message](100)
    kwargs = {"clock": clock} if clock else {}
    throttle = paced(api, options)
    pool = Harvest(
        job, api, send, progress or {}, options, rng=random.Random(1), throttle=throttle, **kwargs
    )  # type: ignore[arg-type]
    got: list[Message] = []

    async def collect() -> None:
        async with receive:
            async for message in receive:
                got.append(message)

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        await pool.run()
    return pool, got


def ended(messages: list[Message]) -> dict[str, SearchEnded]:
    return {m.search_id: m for m in messages if isinstance(m, SearchEnded)}


async def test_fault_free_run_makes_exactly_the_minimal_calls() -> None:
    totals = {"a": 0, "b": 57, "c": 100, "d": 101, "e": 1100, "f": 2400}
    api = FakeApi(totals)
    pool, messages = await harvest(api, make_job(totals))
    assert sum(api.calls.values()) == sum(min_calls(t, 100) for t in totals.values())
    assert max(api.calls.values()) == 1
    status = {sid: m.status for sid, m in ended(messages).items()}
    assert status == {
        "a": "empty",
        "b": "complete",
        "c": "complete",
        "d": "complete",
        "e": "complete",
        "f": "truncated",
    }
    assert ended(messages)["f"].reachable == 1100
    assert pool.stats.calls == sum(api.calls.values())


async def test_search_end_follows_all_its_pages_on_the_stream() -> None:
    totals = {"x": 950, "y": 300}
    _, messages = await harvest(FakeApi(totals), make_job(totals))
    for sid, total in totals.items():
        positions = [i for i, m in enumerate(messages) if m.search_id == sid]
        assert isinstance(messages[positions[-1]], SearchEnded)
        pages = [messages[i] for i in positions[:-1]]
        assert sorted(p.offset for p in pages if isinstance(p, PageFetched)) == list(
            range(0, total, 100)
        )


async def test_transient_errors_are_retried_and_counted_on_the_page() -> None:
    totals = {"a": 250}
    script = {
        ("a", 100): [ServerError("boom", code=68300008), ServerError("boom", http_status=502)]
    }
    api = FakeApi(totals, script)
    pool, messages = await harvest(api, make_job(totals))
    page = next(m for m in messages if isinstance(m, PageFetched) and m.offset == 100)
    assert (page.calls, page.retries) == (3, 2)
    assert ended(messages)["a"].status == "complete"
    assert pool.stats.retries == 2


async def test_a_search_refused_with_a_business_error_fails_and_others_go_on() -> None:
    totals = {"bad": 500, "good": 300}
    script = {("bad", 0): [SearchFailed("Invalid parameter!", code=68300004)]}
    api = FakeApi(totals, script)
    _, messages = await harvest(api, make_job(totals))
    end = ended(messages)
    assert (end["bad"].status, end["bad"].error_code, end["bad"].calls) == ("failed", 68300004, 1)
    assert end["good"].status == "complete"
    assert api.calls[("bad", 0)] == 1


async def test_unknown_codes_are_retried_a_few_times_then_fail_the_search() -> None:
    totals = {"a": 10}
    script = {("a", 0): [UnknownCodeError("odd", code=12345)] * 10}
    api = FakeApi(totals, script)
    _, messages = await harvest(api, make_job(totals))
    assert ended(messages)["a"].status == "failed"
    assert ended(messages)["a"].error_code == 12345
    assert api.calls[("a", 0)] == FAST.unknown_code_attempts


async def test_stop_run_lets_in_flight_pages_land_and_leaves_the_rest_for_resume() -> None:
    totals = {f"s{i}": 1000 for i in range(4)}
    script = {("s0", 300): [StopRun("Insufficient balance", code=67200005)]}
    api = FakeApi(totals, script)
    pool, messages = await harvest(api, make_job(totals))
    assert pool.stop_error is not None and pool.stop_error.code == 67200005
    fetched = {(m.search_id, m.offset) for m in messages if isinstance(m, PageFetched)}
    assert ("s0", 300) not in fetched
    assert sum(api.calls.values()) == len(fetched) + 1  # nothing fetched was dropped
    assert not ended(messages).get("s0")


async def test_resume_fetches_no_page_already_done() -> None:
    from harvester.sink.checkpoint import SearchProgress

    totals = {"a": 450, "b": 120, "c": 0}
    progress = {
        "a": SearchProgress("a", 450, frozenset({0, 200}), None, 0, 0, 2, 0, None, None, None),
        "c": SearchProgress("c", 0, frozenset({0}), "empty", 0, 0, 1, 0, None, None, None),
    }
    api = FakeApi(totals)
    pool, messages = await harvest(api, make_job(totals), progress=progress)
    assert set(api.calls) == {("a", 100), ("a", 300), ("a", 400), ("b", 0), ("b", 100)}
    assert pool.stats.already_final == 1
    assert set(ended(messages)) == {"a", "b"}


async def test_past_the_deadline_a_refused_search_expires_without_retries() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    now = created.timestamp() + 21 * 60  # past the 20-minute window
    totals = {"old": 300}
    script = {("old", 0): [SearchFailed("gone", code=68300004)]}
    api = FakeApi(totals, script)
    _, messages = await harvest(api, make_job(totals, created_at=created), clock=lambda: now)
    assert ended(messages)["old"].status == "expired"
    assert api.calls[("old", 0)] == 1


async def test_a_persisting_ambiguous_quota_answer_stops_the_run() -> None:
    totals = {"a": 300}
    script = {("a", 0): [QuotaAmbiguous("Quota exceeds the limit!", code=67200002)] * 10}
    api = FakeApi(totals, script)
    options = HarvestOptions(rate=10_000, concurrency=1, retry=FAST)
    pool, _ = await harvest(api, make_job(totals), options=options)
    assert pool.stop_error is not None and pool.stop_error.code == 67200002
    assert api.calls[("a", 0)] == FAST.quota_attempts


async def test_slow_down_answers_do_not_use_up_the_pages_attempts() -> None:
    totals = {"a": 100}
    script = {("a", 0): [SlowDown("too fast", code=67200001, retry_after=0.0)] * 12}
    api = FakeApi(totals, script)
    _, messages = await harvest(api, make_job(totals))
    assert ended(messages)["a"].status == "complete"
    assert api.calls[("a", 0)] == 13


async def test_a_probed_search_goes_on_before_new_probes_unless_most_seen_were_cheaper() -> None:
    totals = {"big": 1000, "small": 300, "tiny": 50, "late": 200}
    api = FakeApi(totals)
    options = HarvestOptions(rate=10_000, concurrency=1, retry=FAST)
    await harvest(api, make_job(totals), options=options)
    # big's page 0 is the first size seen: it keeps its place and finishes; small costs
    # less than big (the only size seen): it too goes on before tiny and late are probed
    big = [("big", offset) for offset in range(0, 1000, 100)]
    assert api.order[:14] == [*big, ("small", 0), ("small", 100), ("small", 200), ("tiny", 0)]


async def test_earlier_deadline_goes_first() -> None:
    early = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    late = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    searches = (
        Search("late", late, 100, (), "t:1"),
        Search("early", early, 100, (), "t:2"),
    )
    job = Job(Path("t.toml"), "0" * 64, JobSettings(name="t"), searches)
    api = FakeApi({"late": 200, "early": 200})
    options = HarvestOptions(rate=10_000, concurrency=1, retry=FAST)
    now = early.timestamp() + 60
    await harvest(api, job, options=options, clock=lambda: now)
    assert api.order == [("early", 0), ("early", 100), ("late", 0), ("late", 100)]


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_stop_before_start_fetches_nothing(concurrency: int) -> None:
    totals = {"a": 300}
    api = FakeApi(totals)
    send, receive = anyio.create_memory_object_stream[Message](10)
    options = HarvestOptions(rate=100, concurrency=concurrency)
    pool = Harvest(make_job(totals), api, send, {}, options, throttle=paced(api, options))
    pool.stop("test")
    await pool.run()
    receive.close()
    assert not api.calls


async def test_past_its_window_a_started_search_costs_one_refused_call_not_a_volley() -> None:
    from harvester.sink.checkpoint import SearchProgress

    created = datetime(2026, 1, 1, tzinfo=UTC)
    now = created.timestamp() + 25 * 60
    totals = {"late": 900}
    script = {("late", off): [SearchFailed("gone", code=68300004)] for off in range(100, 900, 100)}
    progress = {
        "late": SearchProgress("late", 900, frozenset({0}), None, 0, 0, 1, 0, None, None, None)
    }
    api = FakeApi(totals, script)
    options = HarvestOptions(rate=10_000, concurrency=8, retry=FAST)
    _, messages = await harvest(
        api,
        make_job(totals, created_at=created),
        options=options,
        progress=progress,
        clock=lambda: now,
    )
    assert ended(messages)["late"].status == "expired"
    assert sum(api.calls.values()) == 1


@pytest.mark.parametrize(
    "late_error",
    [ServerError("busy", http_status=503), SlowDown("too fast", code=67200001, retry_after=0.0)],
)
async def test_a_search_that_fails_while_another_of_its_pages_is_out_still_ends(
    late_error: Exception,
) -> None:
    # page 100 fails for good while page 200 is in flight and then comes back with a
    # transient error: the search must end (failed) instead of waiting forever.
    totals = {"a": 300}
    api = FakeApi(
        totals, {("a", 100): [SearchFailed("bad", code=68300004)], ("a", 200): [late_error]}
    )
    options = HarvestOptions(rate=10_000, concurrency=4, retry=FAST)
    with anyio.fail_after(5):
        _, messages = await harvest(api, make_job(totals), options=options)
    assert ended(messages)["a"].status == "failed"
    assert ended(messages)["a"].calls == 2  # the two pages that never landed


async def test_no_more_pages_are_paid_for_than_the_commit_window_while_the_writer_lags() -> None:
    totals = {f"s{i}": 500 for i in range(3)}
    api = FakeApi(totals)
    send, receive = anyio.create_memory_object_stream[Message](100)
    options = HarvestOptions(rate=10_000, concurrency=6, retry=FAST)
    pool = Harvest(
        make_job(totals), api, send, {}, options, throttle=paced(api, options), commit_window=2
    )
    committed = 0
    worst = 0

    async def slow_writer() -> None:
        nonlocal committed, worst
        async with receive:
            async for message in receive:
                if isinstance(message, PageFetched):
                    worst = max(worst, sum(api.calls.values()) - committed)
                    await anyio.lowlevel.checkpoint()  # let the pool try to run ahead
                    committed += 1
                    pool.committed(1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(slow_writer)
        await pool.run()
    assert committed == 15
    assert worst <= 2


async def test_stop_releases_workers_waiting_on_a_full_commit_window_at_once() -> None:
    # the writer never commits: after one page the window is full and both workers wait
    totals = {"a": 500}
    api = FakeApi(totals)
    send, receive = anyio.create_memory_object_stream[Message](100)
    options = HarvestOptions(rate=10_000, concurrency=2, retry=FAST)
    pool = Harvest(
        make_job(totals), api, send, {}, options, throttle=paced(api, options), commit_window=1
    )
    done = anyio.Event()

    async def run() -> None:
        await pool.run()
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await anyio.wait_all_tasks_blocked()
        assert sum(api.calls.values()) == 1 and not done.is_set()
        pool.stop("test")
        for _ in range(20):  # a few turns of the loop, not a second of the clock
            await anyio.lowlevel.checkpoint()
        assert done.is_set()
    receive.close()


class SteppingClock:
    """Epoch seconds that move `step` forward each time a call is made (FakeApi calls tick)."""

    def __init__(self, start: float, step: float) -> None:
        self.now, self.step = start, step

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.step


class TickingApi(FakeApi):
    """A FakeApi whose every call takes `clock.step` seconds of the fake clock."""

    def __init__(self, clock: SteppingClock, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.clock = clock

    async def answer(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        self.clock.tick()
        return await super().answer(search_id, offset=offset, limit=limit, filters=filters)


async def test_a_transient_failure_is_retried_past_any_count_while_the_window_is_open() -> None:
    totals = {"a": 250}
    script: dict[tuple[str, int], list[Exception]] = {
        ("a", 100): [TransportError("connection refused")] * 20
        + [ServerError("Service error", code=68300008)] * 20
        + [ProtocolError("truncated body")] * 20
    }
    api = FakeApi(totals, script)
    _, messages = await harvest(api, make_job(totals))
    assert ended(messages)["a"].status == "complete"
    assert api.calls[("a", 100)] == 61


async def test_transient_failures_end_a_search_only_when_its_window_closes() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    clock = SteppingClock(created.timestamp(), step=7.0)
    totals = {"a": 300, "b": 300}
    # b answers all along (the API is up), a's page 100 never gets an answer
    script = {("a", 100): [ServerError("HTTP 503", http_status=503)] * 10_000}
    api = TickingApi(clock, totals, script)
    # the breaker is not under test here: one search failing alone would trip it
    options = HarvestOptions(
        rate=10_000, concurrency=1, retry=NO_WAIT, grace_s=30.0, give_up_after=1e9
    )
    _, messages = await harvest(
        api, make_job(totals, created_at=created), options=options, clock=clock
    )
    end = ended(messages)
    assert end["b"].status == "complete"
    assert end["a"].status == "expired"
    # tried until the window plus grace closed: ~1230 s of 7-second calls, every one of them
    assert clock.now >= created.timestamp() + 20 * 60 + 30
    assert api.calls[("a", 100)] > (20 * 60) / 7 / 2


async def test_nothing_answering_for_give_up_after_stops_the_pool_and_ends_no_search() -> None:
    clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp(), step=1.0)
    totals = {f"s{i}": 500 for i in range(5)}
    script = {(sid, 0): [TransportError("connection refused")] * 10_000 for sid in totals}
    api = TickingApi(clock, totals, script)
    options = HarvestOptions(rate=10_000, concurrency=2, retry=NO_WAIT, give_up_after=30.0)
    with anyio.fail_after(10):
        pool, messages = await harvest(api, make_job(totals), options=options, clock=clock)
    assert pool.unreachable is not None
    assert pool.unreachable.silent_s >= 30.0
    assert "connection refused" in pool.unreachable.last_error
    assert not ended(messages)  # every search stays pending, for the resume
    assert pool.stop_error is None
    assert 30 <= sum(api.calls.values()) <= 34  # one call per fake second, then it stopped


async def test_an_outage_shorter_than_give_up_after_costs_time_only() -> None:
    clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp(), step=1.0)
    totals = {"a": 300, "b": 120}
    script = {
        ("a", 0): [ServerError("HTTP 503", http_status=503)] * 10,
        ("b", 0): [ServerError("HTTP 503", http_status=503)] * 10,
    }
    api = TickingApi(clock, totals, script)  # 20 fake seconds of nothing but 503s
    options = HarvestOptions(rate=10_000, concurrency=2, retry=NO_WAIT, give_up_after=30.0)
    pool, messages = await harvest(api, make_job(totals), options=options, clock=clock)
    assert pool.unreachable is None
    assert {sid: m.status for sid, m in ended(messages).items()} == {
        "a": "complete",
        "b": "complete",
    }
    assert sum(api.calls.values()) == 20 + min_calls(300, 100) + min_calls(120, 100)


async def test_the_breaker_trips_on_time_while_every_page_waits_out_its_backoff() -> None:
    clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp(), step=0.0)
    totals = {"a": 100, "b": 100}
    script = {(sid, 0): [TransportError("timed out")] * 100 for sid in totals}
    api = FakeApi(totals, script)
    slow = RetryPolicy(initial=1000.0, cap=1000.0)  # long backoffs: no failure comes to trip it
    options = HarvestOptions(rate=10_000, concurrency=2, retry=slow, give_up_after=60.0)
    send, receive = anyio.create_memory_object_stream[Message](100)
    pool = Harvest(
        make_job(totals),
        api,
        send,
        {},
        options,
        clock=clock,
        rng=random.Random(1),
        throttle=paced(api, options),
    )
    got: list[Message] = []

    async def collect() -> None:
        async with receive:
            async for message in receive:
                got.append(message)

    async def sixty_silent_seconds() -> None:
        while sum(api.calls.values()) < 2:
            await anyio.sleep(0.01)
        clock.now += 61.0

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(collect)
            tg.start_soon(pool.watch)
            tg.start_soon(sixty_silent_seconds)
            await pool.run()
    assert pool.unreachable is not None and pool.unreachable.last_error == "timed out"
    assert not ended(got)


class Events:
    """An observer that keeps every event."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []

    def event(self, name: str, /, **fields: object) -> None:
        self.seen.append((name, fields))


async def test_a_503_with_retry_after_is_tried_again_no_sooner() -> None:
    totals = {"a": 50}
    script = {("a", 0): [ServerError("HTTP 503", http_status=503, retry_after=0.2)]}
    api = FakeApi(totals, script)
    send, receive = anyio.create_memory_object_stream[Message](10)
    events = Events()
    options = HarvestOptions(rate=10_000, concurrency=1, retry=NO_WAIT)
    throttle = paced(api, options)
    pool = Harvest(
        make_job(totals), api, send, {}, options, events, rng=random.Random(1), throttle=throttle
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run)
        async with receive:
            got = [message async for message in receive]
    assert ended(got)["a"].status == "complete"
    retries = [fields for name, fields in events.seen if name == "retry"]
    assert [r["delay"] for r in retries] == [0.2]  # without Retry-After: 0 (NO_WAIT)


async def test_searches_held_for_room_until_their_window_closes_end_expired_with_no_call() -> None:
    # 12 searches past the cap (11 calls each); the window holds 63 calls at the rate (the
    # throttle's 0.97 x 10,000/s): room for 5. A fake clock: a call takes 1/9,700 s, any
    # other look at the clock a microsecond (so a pool with nothing to do reaches the end).
    totals = {f"big{i}": 5000 for i in range(12)}
    base = datetime(2026, 1, 1, tzinfo=UTC)
    elapsed = [0.0]

    def clock() -> float:
        elapsed[0] += 1e-6
        return base.timestamp() + elapsed[0]

    class TimedApi(FakeApi):
        async def answer(
            self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
        ) -> Page:
            elapsed[0] += 1 / 9700
            return await super().answer(search_id, offset=offset, limit=limit, filters=filters)

    api = TimedApi(totals)
    # (auto, with a ceiling far above what the fake calls' real latency needs: the room
    # is the rate's, not the pool's)
    options = HarvestOptions(rate=10_000, max_concurrency=256, retry=FAST, validity_s=0.0065)
    with anyio.fail_after(20):
        _, messages = await harvest(
            api, make_job(totals, created_at=base), options=options, clock=clock
        )
    status = {sid: m.status for sid, m in ended(messages).items()}
    done = [sid for sid, s in status.items() if s == "truncated"]
    expired = [sid for sid, s in status.items() if s == "expired"]
    assert len(done) == 5 and len(expired) == 7
    assert all(api.calls[(sid, 0)] == 0 for sid in expired)  # not one page 0 on them
    assert sum(api.calls.values()) == 11 * 5
    assert all(m.calls == 0 for sid, m in ended(messages).items() if sid in expired)


async def test_a_window_that_closes_mid_search_ends_it_expired() -> None:
    # admitted with room to spare, then the API slows down tenfold after page 2: the window
    # closes part way and PatSnap refuses the next call (fake clock, as above)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    elapsed = [0.0]
    deadline = base.timestamp() + 0.3

    def clock() -> float:
        elapsed[0] += 1e-6
        return base.timestamp() + elapsed[0]

    class SlowingApi(FakeApi):
        async def answer(
            self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
        ) -> Page:
            elapsed[0] += 0.01 if offset < 300 else 0.1
            if clock() > deadline:
                self.calls[(search_id, offset)] += 1
                raise SearchFailed("Invalid parameter search_id", code=68300004)
            return await super().answer(search_id, offset=offset, limit=limit, filters=filters)

    api = SlowingApi({"closing": 1100})
    options = HarvestOptions(rate=10_000, concurrency=1, retry=FAST, validity_s=0.3, grace_s=0)
    job = make_job({"closing": 1100}, created_at=base)
    with anyio.fail_after(20):
        _, messages = await harvest(api, job, options=options, clock=clock)
    end = ended(messages)["closing"]
    pages = [m for m in messages if isinstance(m, PageFetched)]
    assert end.status == "expired" and 0 < len(pages) < 11


async def test_a_pinned_pool_too_small_for_the_latency_says_so_once() -> None:
    class LateApi(FakeApi):
        async def answer(
            self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
        ) -> Page:
            await anyio.sleep(0.01)  # 1 in flight at 10 ms: 100/s of the 9,700/s paid for
            return await super().answer(search_id, offset=offset, limit=limit, filters=filters)

    class Events:
        def __init__(self) -> None:
            self.seen: list[tuple[str, dict[str, object]]] = []

        def event(self, name: str, /, **fields: object) -> None:
            self.seen.append((name, fields))

    totals = {f"s{i}": 1100 for i in range(6)}
    options = HarvestOptions(rate=10_000, concurrency=1, retry=FAST, limited_after_s=0.1)
    send, receive = anyio.create_memory_object_stream[Message](100)
    events = Events()
    api = LateApi(totals)
    pool = Harvest(make_job(totals), api, send, {}, options, events, throttle=paced(api, options))

    async def drain() -> None:
        async with receive:
            async for _ in receive:
                pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        await pool.run()
    limited = [fields for name, fields in events.seen if name == "concurrency_limited"]
    assert len(limited) == 1
    assert limited[0]["concurrency"] == 1 and limited[0]["setting"] == "concurrency"
    assert int(str(limited[0]["needed"])) > 10
    stats = pool.snapshot()
    assert stats.peak_in_flight == 1 and stats.latency_p50 is not None
    assert stats.latency_p50 >= 0.01  # the floor: each call slept that long


async def test_auto_grows_the_pool_to_the_latency_and_never_past_the_ceiling() -> None:
    class LateApi(FakeApi):
        async def answer(
            self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
        ) -> Page:
            await anyio.sleep(0.02)
            return await super().answer(search_id, offset=offset, limit=limit, filters=filters)

    totals = {f"s{i}": 1100 for i in range(8)}
    api = LateApi(totals)
    options = HarvestOptions(rate=10_000, max_concurrency=12, retry=FAST)
    pool, messages = await harvest(api, make_job(totals), options=options)
    stats = pool.snapshot()
    assert stats.concurrency == 12 and stats.peak_in_flight == 12  # 9,700/s x 20 ms > 12
    assert sum(api.calls.values()) == 88 and len(ended(messages)) == 8
