"""How the sandbox answers: JSON bodies shaped like PatSnap's, serialized with orjson."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web

from harvester.sandbox.codes import message_for

__all__ = ["error_body", "error_response", "json_response"]

JSON_TYPE = "application/json"


def json_response(
    payload: object, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """`payload` as a UTF-8 JSON body."""
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        headers=headers,
        content_type=JSON_TYPE,
        charset="utf-8",
    )


def error_body(code: int, message: str | None = None) -> dict[str, object]:
    """The API page's error shape: status false, the code and its message."""
    return {"status": False, "error_code": code, "error_msg": message or message_for(code)}


def error_response(
    code: int,
    message: str | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An error answer; PatSnap sends most of them with HTTP 200."""
    return json_response(error_body(code, message), status=status, headers=headers)
