"""The sandbox over real sockets: token flow, page shape, checks, data, rate, quota, faults."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from harvester.sandbox import ManualClock, Sandbox, SandboxConfig, running_sandbox, serve_forever
from harvester.sandbox.catalog import Patent
from harvester.sandbox.dataset import Dataset

CLIENT_ID = "sandbox-client"
SECRET = "sandbox-secret"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An HTTP Basic Authorization header."""
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@dataclass
class Api:
    """A session, a running sandbox and a token: what every test calls through."""

    session: aiohttp.ClientSession
    sandbox: Sandbox
    token: str = ""

    async def fetch_token(self) -> str:
        async with self.session.post(
            f"{self.sandbox.url}/oauth/token",
            headers=basic(CLIENT_ID, SECRET),
            data={"grant_type": "client_credentials"},
        ) as response:
            assert response.status == 200
            self.token = (await response.json())["token"]
        return self.token

    async def raw(
        self, params: dict[str, str] | list[tuple[str, str]], headers: dict[str, str] | None = None
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        if headers is None:
            headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.get(
            f"{self.sandbox.url}/image-search/results", params=params, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None), response

    async def page(self, search_id: str, **params: object) -> tuple[int, Any]:
        query = {"search_id": search_id, "apikey": CLIENT_ID}
        query.update({name: str(value) for name, value in params.items()})
        status, body, _ = await self.raw(query)
        return status, body

    async def hits(self, search_id: str, **params: object) -> tuple[list[dict[str, Any]], int]:
        status, body = await self.page(search_id, **params)
        assert status == 200 and body["status"] is True, body
        data = body["data"]
        return data["patent_messages"], data["total_search_result_count"]


@asynccontextmanager
async def api(config: SandboxConfig | None = None, *, token: bool = True) -> AsyncIterator[Api]:
    async with running_sandbox(config) as sandbox, aiohttp.ClientSession() as session:
        opened = Api(session, sandbox)
        if token:
            await opened.fetch_token()
        yield opened


def ranked(seed: int, search_id: str) -> list[Patent]:
    """The patents of an unfiltered search in rank order, with their hidden fields."""
    dataset = Dataset(seed)
    return [dataset.hit(search_id, rank).patent for rank in range(dataset.total(search_id))]


def hidden(seed: int, search_id: str) -> dict[str, Patent]:
    """patent_id -> the patent with its hidden fields, for every hit of an unfiltered search."""
    return {patent.patent_id: patent for patent in ranked(seed, search_id)}


# -- token endpoint -----------------------------------------------------------------------


async def test_token_endpoint_answers_exactly_like_patsnap() -> None:
    async with api(token=False) as a:
        async with a.session.post(
            f"{a.sandbox.url}/oauth/token",
            headers=basic(CLIENT_ID, SECRET),
            data={"grant_type": "client_credentials"},
        ) as response:
            body = await response.json()
        assert response.status == 200
        assert set(body) == {"token", "token_type", "expires_in", "status", "issued_at"}
        assert body["token_type"] == "BearerToken" and body["status"] == "approved"
        assert body["expires_in"] == 1799
        assert isinstance(body["issued_at"], str) and body["issued_at"].isdigit()
        issued = int(body["issued_at"]) / 1000
        assert abs(issued - datetime.now(UTC).timestamp()) < 60
        assert a.sandbox.stats.token_requests == 1


@pytest.mark.parametrize(
    ("headers", "form"),
    [
        (basic(CLIENT_ID, "wrong"), {"grant_type": "client_credentials"}),
        (basic("someone-else", SECRET), {"grant_type": "client_credentials"}),
        (basic(CLIENT_ID, SECRET), {"grant_type": "password"}),
        (basic(CLIENT_ID, SECRET), {}),
        (None, {"grant_type": "client_credentials"}),
    ],
)
async def test_token_endpoint_rejects_bad_credentials_or_grant_with_401(
    headers: dict[str, str] | None, form: dict[str, str]
) -> None:
    async with api(token=False) as a:
        async with a.session.post(
            f"{a.sandbox.url}/oauth/token", headers=headers, data=form
        ) as response:
            body = await response.json()
        assert response.status == 401
        assert body["status"] is False and body["error_code"] == 67200003
        assert SECRET not in str(body)
        assert a.sandbox.stats.token_requests == 1 and a.sandbox.stats.auth_failures == 1


# -- page shape and parameters ------------------------------------------------------------


async def test_page_has_exactly_the_shape_of_the_api_page_example() -> None:
    async with api() as a:
        status, body = await a.page("SBX-250-shape", limit=100)
    assert status == 200
    assert list(body) == ["data", "status", "error_code"]
    assert body["status"] is True and body["error_code"] == 0
    assert set(body["data"]) == {"patent_messages", "total_search_result_count"}
    assert body["data"]["total_search_result_count"] == 250
    hits = body["data"]["patent_messages"]
    assert len(hits) == 100
    for hit in hits:
        assert list(hit) == ["url", "score", "title", "patent_id", "patent_pn"]
        assert UUID.fullmatch(hit["patent_id"])
        assert isinstance(hit["score"], float) and 0.0 <= hit["score"] <= 1.0
        assert hit["url"].startswith("https://") and hit["title"]
        assert re.fullmatch(r"[A-Z]{2}[A-Z0-9-]+", hit["patent_pn"])


async def test_limit_defaults_to_ten() -> None:
    async with api() as a:
        hits, total = await a.hits("SBX-50-default")
    assert len(hits) == 10 and total == 50


BAD_PARAMETERS = [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": "1001"}, "offset"),
    ({"offset": "1e2"}, "offset"),
    ({"field": "score"}, "field"),
    ({"field": "apd"}, "field"),
    ({"order": "up"}, "order"),
    ({"legal_status": "4"}, "legal_status"),
    ({"legal_status": "3,,2"}, "legal_status"),
    ({"simple_legal_status": "3"}, "simple_legal_status"),
    ({"country": "usa"}, "country"),
    ({"country": "C1"}, "country"),
    ({"loc": "01-01 01-02"}, "loc"),
    ({"loc": "(01-01 OR 01-02"}, "loc"),
    ({"loc": "01-01 or 01-02"}, "loc"),
    ({"apply_start_time": "20201301"}, "apply_start_time"),
    ({"apply_end_time": "2020-01-01"}, "apply_end_time"),
    ({"public_start_time": "20200230"}, "public_start_time"),
    ({"public_end_time": "202001"}, "public_end_time"),
]


@pytest.mark.parametrize(("bad", "name"), BAD_PARAMETERS)
async def test_each_bad_parameter_answers_68300004_naming_it(
    bad: dict[str, str], name: str
) -> None:
    async with api() as a:
        status, body = await a.page("SBX-100-params", **bad)
        assert status == 200
        assert body == {"status": False, "error_code": 68300004, "error_msg": body["error_msg"]}
        assert name in body["error_msg"]
        assert a.sandbox.stats.invalid_params == 1 and a.sandbox.stats.billed == 0


async def test_missing_or_repeated_parameters_answer_68300004() -> None:
    async with api() as a:
        _, missing, _ = await a.raw({"apikey": CLIENT_ID})
        pairs = [("search_id", "SBX-5-x"), ("apikey", CLIENT_ID), ("limit", "5"), ("limit", "6")]
        _, repeated, _ = await a.raw(pairs)
    assert missing["error_code"] == 68300004 and "search_id" in missing["error_msg"]
    assert repeated["error_code"] == 68300004 and "limit" in repeated["error_msg"]


# -- data ---------------------------------------------------------------------------------


async def test_pages_are_the_same_for_the_same_request_and_seed() -> None:
    request = {"offset": 100, "limit": 50, "country": "CN,US", "field": "PBD", "order": "asc"}
    async with api(SandboxConfig(seed=7)) as a, api(SandboxConfig(seed=7)) as b:
        first = await a.hits("C8C1EC5B3B068562CEFA779B7CC9C7F5-1-D", **request)
        again = await a.hits("C8C1EC5B3B068562CEFA779B7CC9C7F5-1-D", **request)
        other_server = await b.hits("C8C1EC5B3B068562CEFA779B7CC9C7F5-1-D", **request)
    async with api(SandboxConfig(seed=8)) as c:
        other_seed = await c.hits("SBX-400-seed", limit=20)
    async with api(SandboxConfig(seed=7)) as d:
        same_seed = await d.hits("SBX-400-seed", limit=20)
    assert first == again == other_server
    assert other_seed[1] == same_seed[1] == 400
    assert other_seed[0] != same_seed[0]


async def test_sbx_ids_get_exactly_their_total_and_pages_stop_at_the_end() -> None:
    async with api() as a:
        assert await a.hits("SBX-0-empty", limit=100) == ([], 0)
        hits, total = await a.hits("SBX-1050-end", offset=1000, limit=100)
        assert (len(hits), total) == (50, 1050)
        hits, total = await a.hits("SBX-4321-", offset=1000, limit=100)
        assert (len(hits), total) == (100, 4321)
        hits, total = await a.hits("SBX-30-beyond", offset=40, limit=10)
        assert (hits, total) == ([], 30)


async def test_default_order_is_similarity_high_to_low_across_pages() -> None:
    async with api() as a:
        scores = []
        for offset in range(0, 300, 100):
            hits, _ = await a.hits("SBX-300-scores", offset=offset, limit=100)
            scores += [hit["score"] for hit in hits]
    assert len(scores) == 300
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0.85 and scores[-1] < 0.5


async def test_some_patents_appear_twice_within_a_search_and_recur_across_searches() -> None:
    async with api() as a:
        ids: list[str] = []
        for offset in range(0, 1100, 100):
            hits, _ = await a.hits("SBX-1100-dupes", offset=offset, limit=100)
            ids += [hit["patent_id"] for hit in hits]
    repeats = len(ids) - len(set(ids))
    assert len(ids) == 1100 and 5 <= repeats <= 60
    pools = [set(hidden(0, f"SBX-1100-recur{n}")) for n in range(10)]
    assert any(pools[i] & pools[j] for i in range(10) for j in range(i))


async def test_filters_reduce_totals_and_every_hit_passes_them() -> None:
    search = "SBX-800-filters"
    in_rank_order = ranked(0, search)
    patents = hidden(0, search)
    checks: dict[str, tuple[str, Callable[[Patent], bool]]] = {
        "country": ("CN,US", lambda p: p.country in ("CN", "US")),
        "legal_status": ("3,16", lambda p: p.legal_status in ("3", "16")),
        "simple_legal_status": ("0", lambda p: p.simple_legal_status == "0"),
        "apply_start_time": ("20150101", lambda p: p.apply_date >= "20150101"),
        "public_end_time": ("20120630", lambda p: p.public_date <= "20120630"),
        "assignees": ("华为", lambda p: "华为" in p.assignee),
        "main_field": ("ELECTRONICS", lambda p: "electronics" in p.searchable_text),
    }
    async with api() as a:
        for name, (value, passes) in checks.items():
            hits, total = await a.hits(search, limit=100, **{name: value})
            assert 0 < total < 800, name
            assert total == sum(1 for p in in_rank_order if passes(p)), name
            assert all(passes(patents[hit["patent_id"]]) for hit in hits), name
            assert len(hits) == min(total, 100), name
        # the dominant LOC class of a search keeps most hits; NOT removes exactly those
        locs = [patents[h["patent_id"]].loc for h in (await a.hits(search, limit=100))[0]]
        main = max(set(locs), key=locs.count)
        _, with_main = await a.hits(search, loc=f"({main} OR 99-99)")
        _, without_main = await a.hits(search, loc=f"NOT {main}")
        assert with_main + without_main == 800 and with_main > without_main
        hits, _ = await a.hits(search, limit=100, loc=f"NOT {main}")
        assert all(patents[hit["patent_id"]].loc != main for hit in hits)
        combined = {"country": "CN", "apply_start_time": "20100101", "apply_end_time": "20191231"}
        hits, total = await a.hits(search, limit=100, **combined)
        _, cn_only = await a.hits(search, country="CN")
        assert 0 < total < cn_only
        for hit in hits:
            p = patents[hit["patent_id"]]
            assert p.country == "CN" and "20100101" <= p.apply_date <= "20191231"


async def test_filtered_total_counts_the_whole_result_not_only_the_reachable_part() -> None:
    async with api() as a:
        _, total = await a.hits("SBX-5000-big", country="CN")
        hits, same_total = await a.hits("SBX-5000-big", country="CN", offset=1000, limit=100)
    assert 1100 < total < 5000 and same_total == total and len(hits) == 100


@pytest.mark.parametrize(
    ("field", "order", "attribute"),
    [("APD", "asc", "apply_date"), ("PBD", "desc", "public_date"), ("ISD", "asc", "issue_date")],
)
async def test_date_sorts_order_hits_by_their_hidden_dates(
    field: str, order: str, attribute: str
) -> None:
    search = "SBX-700-sorted"
    patents = hidden(0, search)
    async with api() as a:
        hits: list[dict[str, Any]] = []
        for offset in range(0, 700, 100):
            page, total = await a.hits(search, offset=offset, limit=100, field=field, order=order)
            hits += page
    assert total == 700 and len(hits) == 700
    dates = [getattr(patents[hit["patent_id"]], attribute) for hit in hits]
    known = [d for d in dates if d is not None]
    assert known == sorted(known, reverse=order == "desc")
    assert dates[: len(known)] == known  # hits without the date come last
    assert [hit["score"] for hit in hits] != sorted((h["score"] for h in hits), reverse=True)


# -- auth ---------------------------------------------------------------------------------


async def test_auth_failures_answer_the_platform_codes() -> None:
    async with api(SandboxConfig(auth_error_status=200)) as a:
        query = {"search_id": "SBX-10-auth"}
        bearer = {"Authorization": f"Bearer {a.token}"}
        cases = [
            (query | {"apikey": CLIENT_ID}, {}, 67200003),
            (query | {"apikey": CLIENT_ID}, {"Authorization": "Bearer not-a-token"}, 67200003),
            (query | {"apikey": CLIENT_ID}, {"Authorization": f"Basic {a.token}"}, 67200003),
            (query, bearer, 67200008),
            (query | {"apikey": "someone-else"}, bearer, 67200009),
        ]
        for params, headers, code in cases:
            status, body, _ = await a.raw(params, headers)
            assert (status, body["status"], body["error_code"]) == (200, False, code)
            assert a.token not in body["error_msg"]
        assert a.sandbox.stats.auth_failures == len(cases)
        assert a.sandbox.stats.billed == 0


async def test_auth_failures_come_as_http_401_or_200_mixed_by_seed() -> None:
    async with api(SandboxConfig(seed=3)) as a:
        statuses = set()
        for _ in range(24):
            status, body, _ = await a.raw({"search_id": "x", "apikey": CLIENT_ID}, {})
            assert body["error_code"] == 67200003
            statuses.add(status)
    assert statuses == {200, 401}


async def test_token_stops_working_after_its_real_lifetime_and_a_new_one_works() -> None:
    clock = ManualClock()
    async with api(SandboxConfig(clock=clock, token_lifetime_s=60)) as a:
        assert (await a.page("SBX-10-life"))[1]["status"] is True
        clock.advance(59)
        assert (await a.page("SBX-10-life"))[1]["status"] is True
        clock.advance(2)
        _, body = await a.page("SBX-10-life")
        assert body["error_code"] == 67200003
        await a.fetch_token()
        assert (await a.page("SBX-10-life"))[1]["status"] is True
        assert a.sandbox.stats.token_requests == 2


async def test_api_key_mode_needs_no_token_and_no_apikey_parameter() -> None:
    async with api(SandboxConfig(api_key="sk-sandbox-key"), token=False) as a:
        headers = {"Authorization": "Bearer sk-sandbox-key"}
        status, body, _ = await a.raw({"search_id": "SBX-20-key", "limit": "20"}, headers)
        assert status == 200 and len(body["data"]["patent_messages"]) == 20
        wrong = {"Authorization": "Bearer sk-other"}
        _, refused, _ = await a.raw({"search_id": "SBX-20-key"}, wrong)
        assert refused["error_code"] == 67200003
        assert a.sandbox.stats.token_requests == 0 and a.sandbox.stats.billed == 1
    assert "sk-sandbox-key" not in repr(SandboxConfig(api_key="sk-sandbox-key"))


# -- rate, quota, expiry ------------------------------------------------------------------


async def test_rate_limit_refuses_calls_beyond_the_bucket_and_never_under_the_rate() -> None:
    clock = ManualClock()
    async with api(SandboxConfig(clock=clock, rate=10, burst=2)) as a:
        bodies = [(await a.page("SBX-10-rate"))[1] for _ in range(3)]
        assert [b["status"] for b in bodies] == [True, True, False]
        assert bodies[2]["error_code"] == 67200001
        for _ in range(50):
            clock.advance(0.1)
            assert (await a.page("SBX-10-rate"))[1]["status"] is True
        assert a.sandbox.stats.rate_limited == 1 and a.sandbox.stats.billed == 52


async def test_rate_limit_answers_429_with_retry_after_or_a_200_body() -> None:
    clock = ManualClock()
    async with api(SandboxConfig(clock=clock, rate=0.1, burst=1, seed=5)) as a:
        await a.page("SBX-10-429")
        seen = set()
        for _ in range(16):
            status, body, response = await a.raw({"search_id": "SBX-10-429", "apikey": CLIENT_ID})
            assert body["error_code"] == 67200001
            if status == 429:
                assert response.headers["Retry-After"] == "10"
            seen.add(status)
        assert seen == {200, 429} and a.sandbox.stats.rate_limited == 16


async def test_quota_allows_that_many_billed_calls_then_answers_67200002_forever() -> None:
    clock = ManualClock()
    async with api(SandboxConfig(clock=clock, quota=3)) as a:
        await a.page("SBX-10-quota", limit=0)  # invalid: not billed, so not counted
        codes = [(await a.page("SBX-10-quota", offset=n))[1]["error_code"] for n in range(5)]
        clock.advance(600)
        later = await a.page("SBX-10-quota", limit="bad")
    assert codes == [0, 0, 0, 67200002, 67200002]
    assert later[1]["error_code"] == 67200002  # checked before the parameters
    assert a.sandbox.stats.billed == 3 and a.sandbox.stats.quota_rejected == 3


async def test_a_search_expires_after_its_window_from_first_sight_or_registration() -> None:
    clock = ManualClock()
    async with api(SandboxConfig(clock=clock, validity_s=60)) as a:
        assert (await a.page("SBX-10-window"))[1]["status"] is True
        clock.advance(60)
        assert (await a.page("SBX-10-window"))[1]["status"] is True
        clock.advance(0.5)
        _, body = await a.page("SBX-10-window")
        assert body == {"status": False, "error_code": 68300004, "error_msg": "Invalid parameter!"}
        created = datetime.fromtimestamp(clock(), UTC) - timedelta(minutes=30)
        async with a.session.post(
            f"{a.sandbox.url}/_sandbox/searches",
            json=[{"id": "SBX-10-old", "created_at": created.isoformat()}],
        ) as response:
            assert (await response.json())["registered"] == 1
        assert (await a.page("SBX-10-old"))[1]["error_code"] == 68300004
        a.sandbox.register("SBX-10-new", clock() - 59)
        assert (await a.page("SBX-10-new"))[1]["status"] is True
        assert a.sandbox.stats.expired == 2


async def test_expired_code_is_configurable() -> None:
    clock = ManualClock()
    async with api(SandboxConfig(clock=clock, validity_s=1, expired_code=68300007)) as a:
        a.sandbox.register("SBX-10-gone", clock() - 5)
        _, body = await a.page("SBX-10-gone")
    assert body["error_code"] == 68300007


# -- faults -------------------------------------------------------------------------------


async def _outcome(a: Api, search_id: str, offset: int) -> str:
    """What a client would see for one call, as a short word."""
    query = {"search_id": search_id, "apikey": CLIENT_ID, "offset": str(offset), "limit": "20"}
    try:
        async with a.session.get(
            f"{a.sandbox.url}/image-search/results",
            params=query,
            headers={"Authorization": f"Bearer {a.token}"},
        ) as response:
            raw = await response.read()
            if response.status != 200:
                return f"http{response.status}"
            try:
                body = await response.json(content_type=None)
            except ValueError:
                return "nonjson" if raw.startswith(b"<") else "badjson"
    except aiohttp.ServerDisconnectedError:
        return "drop"
    except aiohttp.ClientPayloadError:
        return "payload"
    if body is None:
        return "empty"
    if "status" not in body or not isinstance(body.get("error_code"), int):
        return "missing_field"
    if body["status"] is False:
        return f"e{body['error_code']}"
    hits = body["data"]["patent_messages"]
    return "ok" if all("patent_id" in hit for hit in hits) else "missing_field"


async def _fault_run(seed: int) -> tuple[list[str], dict[str, int]]:
    kinds = tuple(k for k in SandboxConfig().faults if k != "slow")
    async with api(SandboxConfig(seed=seed, fault_rate=0.5, faults=kinds)) as a:
        outcomes = [await _outcome(a, f"SBX-300-f{n % 3}", 20 * (n % 4)) for n in range(48)]
        return outcomes, dict(a.sandbox.stats.faults_by_kind)


async def test_fault_injection_repeats_exactly_for_a_seed_and_differs_for_another() -> None:
    first, first_kinds = await _fault_run(seed=11)
    again, again_kinds = await _fault_run(seed=11)
    other, _ = await _fault_run(seed=12)
    assert first == again and first_kinds == again_kinds
    assert first != other
    assert 10 <= first.count("ok") <= 38 and len(first_kinds) >= 5


async def test_fault_choice_ignores_how_concurrent_calls_interleave() -> None:
    config = SandboxConfig(seed=4, fault_rate=0.4, faults=("e68300005", "e68300008", "http500"))
    offsets = [0, 20, 40] * 4

    async def run(concurrently: bool) -> dict[int, list[str]]:
        async with api(config) as a:
            if concurrently:
                results = await asyncio.gather(*(_outcome(a, "SBX-90-c", o) for o in offsets))
            else:
                results = [await _outcome(a, "SBX-90-c", o) for o in reversed(offsets)]
                results.reverse()
        per_offset: dict[int, list[str]] = {}
        for offset, result in zip(offsets, results, strict=True):
            per_offset.setdefault(offset, []).append(result)
        return {offset: sorted(seen) for offset, seen in per_offset.items()}

    together = await run(concurrently=True)
    assert together == await run(concurrently=False)
    assert {"ok"} < {outcome for seen in together.values() for outcome in seen}


FAULT_SIGNS = {
    "http500": {"http500"},
    "http502": {"http502"},
    "http503": {"http503"},
    "drop": {"drop"},
    "nonjson": {"nonjson"},
    "truncated": {"payload", "badjson"},
    "empty": {"empty"},
    "missing_field": {"missing_field"},
    "e68300005": {"e68300005"},
    "e68300008": {"e68300008"},
    "slow": {"ok"},
}


@pytest.mark.parametrize("kind", sorted(FAULT_SIGNS))
async def test_each_fault_kind_looks_as_documented_and_is_not_billed(kind: str) -> None:
    config = SandboxConfig(fault_rate=1.0, faults=(kind,), slow_s=0.1)
    async with api(config) as a:
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = {await _outcome(a, "SBX-200-kinds", offset) for offset in range(0, 120, 20)}
        elapsed = loop.time() - started
        assert seen == FAULT_SIGNS[kind] or (kind == "truncated" and seen <= FAULT_SIGNS[kind])
        # aiohttp resends an idempotent GET once when a kept-alive connection drops
        calls = a.sandbox.stats.calls
        assert a.sandbox.stats.faults_by_kind == {kind: calls}
        assert calls == 6 or (kind == "drop" and 6 <= calls <= 12)
        assert a.sandbox.stats.billed == (6 if kind == "slow" else 0)
        if kind == "slow":
            assert elapsed >= 6 * 0.1
        if kind == "http503":
            async with a.session.get(
                f"{a.sandbox.url}/image-search/results",
                params={"search_id": "SBX-1-r", "apikey": CLIENT_ID},
                headers={"Authorization": f"Bearer {a.token}"},
            ) as response:
                assert response.headers["Retry-After"] == "1"


async def test_truncated_bodies_fail_as_payload_errors_or_bad_json() -> None:
    async with api(SandboxConfig(fault_rate=1.0, faults=("truncated",), seed=2)) as a:
        seen = {await _outcome(a, f"SBX-100-t{n}", 0) for n in range(16)}
    assert seen == {"payload", "badjson"}


# -- stats and control --------------------------------------------------------------------


async def test_stats_count_billing_per_page_and_the_endpoint_serves_them() -> None:
    async with api() as a:
        await a.page("SBX-300-bill", offset=0, limit=100)
        await a.page("SBX-300-bill", offset=100, limit=100)
        await a.page("SBX-300-bill", offset=0, limit=100)
        await a.page("SBX-300-bill", limit=500)
        stats = a.sandbox.stats
        assert stats.calls == 4 and stats.billed == 3 and stats.invalid_params == 1
        assert stats.billed_by_key == {"SBX-300-bill|0|100": 2, "SBX-300-bill|100|100": 1}
        assert stats.pages_billed_twice == 1
        async with a.session.get(f"{a.sandbox.url}/_sandbox/stats") as response:
            served = await response.json()
        assert served == stats.as_dict()
        assert served["token_requests"] == 1 and served["faults_by_kind"] == {}
        async with a.session.post(f"{a.sandbox.url}/_sandbox/reset") as response:
            assert response.status == 200
        assert stats.calls == 0 and stats.billed_by_key == {}


async def test_concurrent_calls_are_counted_in_flight() -> None:
    async with api(SandboxConfig(latency_s=0.1)) as a:
        await asyncio.gather(*(a.page("SBX-50-flight", offset=n) for n in range(5)))
        assert a.sandbox.stats.max_in_flight == 5 and a.sandbox.stats.in_flight == 0


async def test_latency_mode_delays_every_answer_by_latency_plus_jitter() -> None:
    # burst 2 at 4/s: of three calls at once two pass and take 0.2 +- 0.05 s to come back,
    # the third is refused
    async with api(SandboxConfig(latency_s=0.2, jitter_s=0.05, rate=4, burst=2)) as a:
        loop = asyncio.get_running_loop()

        async def timed(offset: int) -> tuple[float, int]:
            began = loop.time()
            _, body = await a.page("SBX-500-lat", offset=offset)
            return loop.time() - began, int(body["error_code"])

        answers = await asyncio.gather(*(timed(n * 100) for n in range(3)))
    passed = sorted(t for t, code in answers if code == 0)
    refused = [t for t, code in answers if code != 0]
    assert len(passed) == 2 and len(refused) == 1
    assert all(t >= 0.15 for t in passed)  # a floor: the sandbox slept that long


async def test_register_rejects_malformed_bodies() -> None:
    async with (
        api(token=False) as a,
        a.session.post(
            f"{a.sandbox.url}/_sandbox/searches", json={"id": "x", "created_at": "yesterday"}
        ) as response,
    ):
        assert response.status == 400


async def test_serve_forever_announces_its_url_and_stops_when_cancelled() -> None:
    ready: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(
        serve_forever(SandboxConfig(), host="127.0.0.1", port=0, on_ready=ready.put_nowait)
    )
    url = await ready.get()
    async with aiohttp.ClientSession() as session, session.get(f"{url}/_sandbox/stats") as r:
        assert (await r.json())["calls"] == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_outage_answers_every_call_503_until_it_ends() -> None:
    clock = ManualClock(1_000_000.0)
    async with api(SandboxConfig(outage_s=20, clock=clock), token=False) as opened:
        async with opened.session.post(
            f"{opened.sandbox.url}/oauth/token",
            headers=basic(CLIENT_ID, SECRET),
            data={"grant_type": "client_credentials"},
        ) as response:
            assert response.status == 503
            assert "json" not in response.content_type  # a gateway's page, not PatSnap's
        async with opened.session.get(
            f"{opened.sandbox.url}/image-search/results", params={"search_id": "SBX-5-a"}
        ) as response:
            assert response.status == 503
        assert opened.sandbox.stats.outage_refused == 2
        clock.advance(20.0)
        await opened.fetch_token()
        _, total = await opened.hits("SBX-5-a")
        assert total == 5
        assert opened.sandbox.stats.outage_refused == 2
