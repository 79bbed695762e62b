"""The common case of a results answer, decoded in one pass: a success whose every hit has
the types the API page gives. Anything else is left to parse.py, which decides.

    page = fast_page(body)      # a Page, or None: "not the plain case, ask parse_page"

msgspec decodes the body straight into typed structs, checking each field's type in C;
orjson's dicts plus a Python loop over every hit (parse._hits) cost about twice as much
CPU per page, and a run parses thousands of pages. The answer is the one parse_page's
lenient path would give for the same body, field by field (tests/test_api_fast_page.py
checks both on generated bodies): a body this path refuses in any way (wrong type, an
error code, a missing field, bad JSON, nesting too deep to decode) goes to that path,
never to an error from here. The one difference: a field this path does not read is
skipped, not checked, so a number out of a double's range there (which orjson refuses)
does not make an otherwise plain answer a protocol error.
"""

from __future__ import annotations

from typing import Any

import msgspec

from harvester.api.models import Hit, Page

__all__ = ["fast_page"]


class _Message(msgspec.Struct, gc=False):
    """A PatentMessage whose fields all have the API page's types (or are absent/null)."""

    patent_id: str
    patent_pn: str | None = None
    title: str | None = None
    score: float | None = None
    url: str | None = None


class _Data(msgspec.Struct, gc=False):
    patent_messages: list[_Message] | None = None
    total_search_result_count: int | None = None


class _Answer(msgspec.Struct, gc=False):
    error_code: int
    status: bool
    data: _Data | None = None


_decode = msgspec.json.Decoder(_Answer).decode
_new_hit: Any = tuple.__new__  # Hit(*fields) without its Python-level __new__


def fast_page(body: bytes) -> Page | None:
    """The page of a plain successful answer, or None when parse_page must decide."""
    try:
        answer = _decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # RecursionError: nested past msgspec's depth; the lenient path says so
    data = answer.data
    # a success by the letter: error_code the integer 0 (msgspec takes no bool or float
    # for an int) and status true, a list of hits and a usable total
    if answer.error_code != 0 or answer.status is not True or data is None:
        return None
    messages, total = data.patent_messages, data.total_search_result_count
    if messages is None or total is None or total < 0:
        return None
    hits = tuple(
        [_new_hit(Hit, (m.patent_id, m.patent_pn, m.title, m.score, m.url)) for m in messages]
    )
    # a blank patent_id is a ProtocolError, said by the lenient path (JSON numbers past a
    # double's range are refused by msgspec, so every score here is finite)
    for hit in hits:
        if not hit[0].strip():
            return None
    return Page(hits=hits, total=total)
