"""Gathers searches and problems while a job loads, so every problem is reported at once."""

from __future__ import annotations

from dataclasses import dataclass, field

from harvester.jobs.model import Problem, Search

__all__ = ["Collector", "at"]


def at(shown: str, line: int | None) -> str:
    """A problem location: "path:line", or just "path" when the line is unknown."""
    return f"{shown}:{line}" if line is not None else shown


@dataclass(slots=True)
class Collector:
    """The searches found so far, the ids already declared, and every problem."""

    problems: list[Problem] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  #: search_id -> where it was declared

    def problem(self, location: str, field: str, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(location, field, message))

    def add(self, search: Search, field: str) -> None:
        """Keep `search`, or record a duplicate-id problem naming both locations."""
        first = self.seen.get(search.search_id)
        if first is not None:
            what = f"search id {search.search_id!r}"
            if search.is_image:
                what = f"image {search.image!r}"
            self.problem(search.source, field, f"duplicate {what}: also declared at {first}")
            return
        self.seen[search.search_id] = search.source
        self.searches.append(search)
