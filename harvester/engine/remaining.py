"""What is left of a job: a task per search not yet final, with the pages it still needs.

    left = remaining(job, progress, options, start=time.time())
    left.tasks            # for the scheduler, in job order
    left.already_final    # searches a previous run finished

A resumed search keeps the pages that landed before (the checkpoint's `done_offsets`);
one whose size is unknown starts at page 0. A search's window runs from its `created_at`,
or from the run's start when the job does not say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harvester.engine.options import HarvestOptions
from harvester.engine.schedule import SearchTask
from harvester.jobs import Job, Search
from harvester.paging import PageSpec, plan_pages
from harvester.sink.checkpoint import SearchProgress

__all__ = ["Remaining", "remaining"]


@dataclass(slots=True)
class Remaining:
    """The searches a run still has to do."""

    tasks: list[SearchTask] = field(default_factory=list)
    searches: dict[str, Search] = field(default_factory=dict)  #: by search_id
    already_final: int = 0  #: final in the checkpoint: nothing to do


def remaining(
    job: Job, progress: Mapping[str, SearchProgress], options: HarvestOptions, start: float
) -> Remaining:
    """The tasks left of `job` after `progress`; with `probe_only`, only unprobed searches."""
    left = Remaining()
    for index, search in enumerate(job.searches):
        state = progress.get(search.search_id)
        if state is not None and state.status is not None:
            left.already_final += 1
            continue
        if search.is_image and options.probe_only:
            continue  # creating a search starts its clock: a plan never does
        created = search.created_at.timestamp() if search.created_at else start
        task = SearchTask(
            search_id=search.search_id,
            index=index,
            deadline=created + options.validity_s,
            limit=search.limit,
        )
        if state is not None and state.total is not None:
            task.total = state.total
            task.done_offsets = set(state.done_offsets)
            task.pending = [
                p
                for p in plan_pages(state.total, search.limit)
                if p.offset not in task.done_offsets
            ]
        else:
            task.pending = [PageSpec(0, search.limit)]
        if options.probe_only and task.started:
            continue
        left.searches[search.search_id] = search
        left.tasks.append(task)
    return left
