"""Job timelines: when each simulated job changes state, computed once, read lazily.

Nothing runs in the background: a job's status is a pure function of the clock position,
so thousands of jobs cost nothing between polls and tests can jump the clock.
"""

from __future__ import annotations

import bisect

import attrs

from ._enums import SubmissionStatus as S

# API-seconds per phase: (fixed part, part per second of processed video).
SUBMISSION_PHASES: tuple[tuple[S, float, float], ...] = (
    (S.QUEUED, 5, 0.0),
    (S.DOWNLOADING, 10, 0.02),
    (S.TRANSCRIBING, 20, 0.05),
    (S.VIDEO_ANALYSIS, 20, 0.05),
    (S.ANALYZING, 30, 0.05),
    (S.FINALIZING, 10, 0.0),
)
QUEUE_SLOT_SECONDS = 2.0  # API-seconds a queue position stands for


@attrs.frozen
class Timeline:
    """Ordered (status, end position) steps, then a final status."""

    starts: float
    steps: tuple[tuple[str, float], ...]
    final: str

    @property
    def ends(self) -> float:
        """The position at which the final status is reached."""
        return self.steps[-1][1] if self.steps else self.starts

    def status_at(self, position: float) -> str:
        """The status at a clock position."""
        ends = [end for _, end in self.steps]
        index = bisect.bisect_right(ends, position)
        return self.steps[index][0] if index < len(self.steps) else self.final

    def step_bounds(self, status: str) -> tuple[float, float]:
        """(start, end) positions of one step."""
        start = self.starts
        for name, end in self.steps:
            if name == status:
                return start, end
            start = end
        raise KeyError(status)


def submission_timeline(
    start: float, processed_seconds: float, time_scale: float, fails: bool
) -> Timeline:
    """The phases of a clipping job; a failing job stops while downloading."""
    steps: list[tuple[str, float]] = []
    position = start
    for status, fixed, per_second in SUBMISSION_PHASES:
        position += (fixed + per_second * processed_seconds) / time_scale
        steps.append((status.value, position))
        if fails and status is S.DOWNLOADING:
            return Timeline(start, tuple(steps), S.FAILED.value)
    return Timeline(start, tuple(steps), S.COMPLETED.value)


def simple_timeline(
    created: float, starts: float, ends: float, final: str, first: str = "queued"
) -> Timeline:
    """queued until `starts`, active until `ends`, then `final` (renders, bulk jobs)."""
    return Timeline(created, ((first, starts), ("active", ends)), final)


def progress(timeline: Timeline, position: float) -> float:
    """Percent done of the `active` step (0 before it, 100 after it)."""
    start, end = timeline.step_bounds("active")
    if position <= start:
        return 0.0
    if position >= end or end <= start:
        return 100.0
    return round(100 * (position - start) / (end - start), 1)


class SlotScheduler:
    """A fixed number of parallel slots: a job starts when the earliest slot frees up."""

    def __init__(self, slots: int, free_at: list[float] | None = None) -> None:
        kept = list(free_at or [])
        if len(kept) > slots:  # a saved state, the cap lowered since: keep the busiest slots
            kept = sorted(kept, reverse=True)[:slots]
        self._free_at: list[float] = kept + [0.0] * (slots - len(kept))

    @property
    def free_at(self) -> list[float]:
        """When each slot frees up (positions), as a saved state keeps it."""
        return list(self._free_at)

    def book(self, now: float, duration: float) -> tuple[float, float]:
        """Reserve the earliest slot for `duration`; returns (start, end) positions."""
        earliest = min(range(len(self._free_at)), key=self._free_at.__getitem__)
        start = max(now, self._free_at[earliest])
        self._free_at[earliest] = start + duration
        return start, start + duration
