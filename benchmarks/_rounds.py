"""Rounds of side-by-side runs: who goes when (ABBA, then BAAB), and the figures per round.

Every contender runs against its own fresh simulator process, so the simulator's state (which
grows with every video) costs each contender the same; each round runs every contender twice,
first forwards then backwards (ABBA), and odd rounds mirror that (BAAB), so a drift in the
machine's speed cancels out and each contender goes first equally often.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def order(contenders: Sequence[str], round_index: int) -> list[str]:
    """The runs of one round: ABBA in even rounds, BAAB in odd ones (any number of contenders:
    ABCCBA, then CBAABC)."""
    names = list(contenders)
    if round_index % 2:
        names.reverse()
    return names + names[::-1]


def schedule(contenders: Sequence[str], rounds: int) -> list[tuple[int, str]]:
    """Every run of every round, in order: (round, contender)."""
    return [(index, name) for index in range(rounds) for name in order(contenders, index)]


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Per-round ratios of two equally long series."""
    if len(numerator) != len(denominator):
        raise ValueError(f"{len(numerator)} rounds against {len(denominator)}")
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def spread(samples: Sequence[float]) -> tuple[float, float, float]:
    """(median, lowest, highest)."""
    return statistics.median(samples), min(samples), max(samples)
