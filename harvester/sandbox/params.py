"""The request parameters of `GET /image-search/results`, in the API page's words.

Copied from the API page (shared/reference/patsnap-image-search-results-v2.txt), not
imported from the client's `harvester/api/params.py`: the sandbox is a second,
independent reading of the page, so a mistake in the client's table is caught by the
sandbox answering 68300004, instead of being shared by both.
"""

from __future__ import annotations

__all__ = [
    "LEGAL_STATUS",
    "LIMIT_DEFAULT",
    "LIMIT_MAX",
    "LIMIT_MIN",
    "OFFSET_DEFAULT",
    "OFFSET_MAX",
    "ORDERS",
    "ORDER_DEFAULT",
    "SIMPLE_LEGAL_STATUS",
    "SORT_FIELDS",
]

#: "Returns the number of patents, 1 <= limit <= 100,default is 10"
LIMIT_MIN = 1
LIMIT_MAX = 100
LIMIT_DEFAULT = 10

#: "0 <= offset <= 1000, default is 0"
OFFSET_MAX = 1000
OFFSET_DEFAULT = 0

#: "patent legal status 1: disclosure 2: substantive review 3: authorization 8: ... 225"
LEGAL_STATUS = frozenset(
    {"1", "2", "3", "8", "11", "13", "14", "15", "16", "21", "22", "23", "24", "30"}
    | {"222", "223", "224", "225"}
)

#: "0:Inactive 1:Active 2:Pending 220:PCT designated stage expired 221:... 999:Undetermined"
SIMPLE_LEGAL_STATUS = frozenset({"0", "1", "2", "220", "221", "999"})

#: "field sort.field support APD,PBD,ISD"
SORT_FIELDS = frozenset({"APD", "PBD", "ISD"})

#: "order supports desc,asc. The default desc"
ORDERS = frozenset({"desc", "asc"})
ORDER_DEFAULT = "desc"
