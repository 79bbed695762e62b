"""The sandbox's two image calls, as PatSnap documents them, and the uploads it serves.

`POST /image-search/image-upload` takes multipart field `image` (JPG or PNG by its bytes,
at most 4 MB, else 68300010) and answers `data.url` and `data.expire`; the image is then
served at that URL while it is valid. `GET /image-search/search-id` takes `url` and the
results call's parameters and answers a new search_id and the page asked for; an upload
of this sandbox that is unknown or expired is refused (68300004, naming `url`). Auth, rate
limit and quota are the server's, applied before these run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from aiohttp import web

from harvester.sandbox.codes import BAD_UPLOAD, INVALID_PARAMETER
from harvester.sandbox.images import (
    IMAGE_MAX_BYTES,
    UPLOAD_PREFIX,
    URL_MAX,
    is_image,
    ranking_key,
)
from harvester.sandbox.query import InvalidParameter, Query, parse_query
from harvester.sandbox.responses import error_response, json_response
from harvester.sandbox.state import SandboxState

__all__ = ["Responder", "created", "served", "uploaded"]

#: The server's step that applies faults and answers `data_query`'s page, with extra data
#: fields; True when it was a success (billed).
Responder = Callable[
    [web.Request, SandboxState, Query, Query, dict[str, object] | None],
    Awaitable[tuple[web.StreamResponse, bool]],
]


async def created(
    request: web.Request, state: SandboxState, respond: Responder
) -> web.StreamResponse:
    """A search made from `url`: same image, same ranking; a new search_id and window."""
    stats = state.stats
    urls = request.query.getall("url", [])
    url = urls[0].strip() if len(urls) == 1 else ""
    problem = _url_problem(urls, url, request, state)
    if problem is not None:
        stats.invalid_params += 1
        return error_response(INVALID_PARAMETER, f"Invalid parameter! url: {problem}")
    ranking = ranking_key(url)
    pairs = [(k, v) for k, v in request.query.items() if k not in ("url", "search_id")]
    try:
        query = parse_query([*pairs, ("search_id", ranking)])
    except InvalidParameter as exc:
        stats.invalid_params += 1
        return error_response(INVALID_PARAMETER, str(exc))
    search_id = state.images.new_search_id(url)
    state.register(search_id, state.clock())
    made = dataclasses.replace(query, search_id=search_id)
    answer, billed = await respond(request, state, made, query, {"search_id": search_id})
    if billed:
        stats.creations += 1
        stats.creations_by_image[ranking] = stats.creations_by_image.get(ranking, 0) + 1
    return answer


def _url_problem(
    urls: list[str], url: str, request: web.Request, state: SandboxState
) -> str | None:
    if not urls:
        return "required"
    if len(urls) > 1:
        return "given more than once"
    if not url.lower().startswith(("http://", "https://")) or len(url) > URL_MAX:
        return f"an http(s) URL of a JPG or PNG image, at most {URL_MAX} characters"
    path = url.split("?", 1)[0]
    own = f"{request.scheme}://{request.host}{UPLOAD_PREFIX}"
    if path.startswith(own):
        image = state.images.get(path[len(own) - len(UPLOAD_PREFIX) :])
        if image is None or state.clock() > image.uploaded_at + state.config.upload_ttl_s:
            return "the image URL cannot be fetched (unknown or expired upload)"
    return None


async def uploaded(request: web.Request, state: SandboxState) -> web.StreamResponse:
    """An upload: checked, kept (named by its content) and answered with its URL."""
    stats = state.stats
    try:
        form = await request.post()
    except ValueError:
        form = None
    field = form.get("image") if form is not None else None
    if not isinstance(field, web.FileField):
        stats.invalid_params += 1
        return error_response(INVALID_PARAMETER, "Invalid parameter! image: a file is required")
    data = field.file.read()
    if len(data) > IMAGE_MAX_BYTES or not is_image(data):
        stats.upload_rejected += 1
        return error_response(BAD_UPLOAD)
    path = state.images.put(data, field.filename or "image", state.clock())
    stats.uploads += 1
    stats.bill(f"upload|{path}")
    url = f"{request.scheme}://{request.host}{path}"
    expire = int(state.config.upload_ttl_s)
    return json_response({"data": {"url": url, "expire": expire}, "status": True, "error_code": 0})


def served(state: SandboxState, path: str) -> web.Response:
    """The uploaded image at `path`, while its URL is valid (else 404)."""
    image = state.images.get(path)
    if image is None or state.clock() > image.uploaded_at + state.config.upload_ttl_s:
        raise web.HTTPNotFound()
    kind = "image/png" if image.data.startswith(b"\x89PNG") else "image/jpeg"
    return web.Response(body=image.data, content_type=kind)
