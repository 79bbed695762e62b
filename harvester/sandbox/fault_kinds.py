"""The kinds of fault the sandbox can inject, by name (what `--faults` takes).

Apart from faults.py (which builds them with aiohttp.web) so the options and the config
can name them without loading the server.
"""

from __future__ import annotations

__all__ = ["ALL_FAULTS", "BODY_FAULTS"]

ALL_FAULTS: tuple[str, ...] = (
    "http500",  # HTTP 500, HTML body
    "http502",  # HTTP 502 from the gateway, HTML body
    "http503",  # HTTP 503 with Retry-After: 1
    "slow",  # a correct answer after slow_s
    "drop",  # the connection closes without an answer
    "nonjson",  # HTTP 200 with an HTML error page
    "truncated",  # the start of a correct body, cut short
    "empty",  # HTTP 200 with an empty body
    "missing_field",  # JSON lacking `status`, a hit's `patent_id`, or with a mistyped field
    "e68300005",  # "Search api failure!"
    "e68300008",  # "Service error, please try again later!"
)
BODY_FAULTS = frozenset({"slow", "truncated", "missing_field"})  # need the real page first
