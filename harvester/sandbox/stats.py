"""Live counters of a running sandbox: what was called, paid for, refused and broken."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

__all__ = ["SandboxStats"]


@dataclass(slots=True)
class SandboxStats:
    """Counters the tests read: billing per page proves no page was paid twice."""

    calls: int = 0  #: every request to /image-search/results
    billed: int = 0  #: pages answered successfully (what PatSnap charges for)
    billed_by_key: dict[str, int] = field(default_factory=dict)  #: "search_id|offset|limit" -> n
    rate_limited: int = 0  #: 67200001 answers
    quota_rejected: int = 0  #: 67200002 answers
    token_requests: int = 0  #: every request to /oauth/token
    tokens_issued: int = 0  #: tokens handed out
    auth_failures: int = 0  #: 67200003/67200008/67200009 answers, token endpoint included
    invalid_params: int = 0  #: 68300004 answers for a bad parameter
    expired: int = 0  #: answers for a search past its window
    outage_refused: int = 0  #: calls answered 503 during --outage-s, token endpoint included
    faults_by_kind: dict[str, int] = field(default_factory=dict)  #: injected faults
    create_calls: int = 0  #: every request to /image-search/search-id
    creations: int = 0  #: searches created from an image (billed)
    creations_by_image: dict[str, int] = field(default_factory=dict)  #: ranking key -> n
    upload_calls: int = 0  #: every request to /image-search/image-upload
    uploads: int = 0  #: images uploaded (billed)
    upload_rejected: int = 0  #: 68300010 answers
    created_results_at_0: int = 0  #: results calls at offset 0 of a created search (wasted)
    in_flight: int = 0  #: results requests being answered now
    max_in_flight: int = 0  #: the most answered at once

    @property
    def pages_billed_twice(self) -> int:
        """How many pages were paid for more than once."""
        return sum(1 for n in self.billed_by_key.values() if n > 1)

    @property
    def faults(self) -> int:
        """Injected faults of every kind."""
        return sum(self.faults_by_kind.values())

    def bill(self, key: str) -> None:
        """Count one paid page."""
        self.billed += 1
        self.billed_by_key[key] = self.billed_by_key.get(key, 0) + 1

    def fault(self, kind: str) -> None:
        """Count one injected fault."""
        self.faults_by_kind[kind] = self.faults_by_kind.get(kind, 0) + 1

    def clear(self) -> None:
        """Back to zero, in place (holders keep the same object); in_flight stays true."""
        in_flight = self.in_flight
        for f in fields(self):
            default = f.default_factory() if callable(f.default_factory) else f.default
            setattr(self, f.name, default)
        self.in_flight = in_flight
        self.max_in_flight = in_flight

    def as_dict(self) -> dict[str, object]:
        """Every counter, plus `pages_billed_twice` and `faults`, as JSON-ready values."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if isinstance(value, dict) else value
        out["pages_billed_twice"] = self.pages_billed_twice
        out["faults"] = self.faults
        return out
