"""Figures that change with the calendar (deductibles, fee caps, deadlines), kept with their dates.

A table is a tuple of `Dated` rows, each with the day it took effect and the public source it
comes from. `in_force` picks the row for a day: the service date when the figure depends on it,
else today (`timezone.localdate()`). A new year's figure is a new row, never an edit of an old one,
so estimates and letters made earlier can still be explained.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Dated(Generic[T]):
    effective_from: date
    value: T
    source: str


def in_force(table: Sequence[Dated[T]], on: date) -> Dated[T]:
    """The row in force on `on`: the latest that took effect on or before it."""
    rows = [row for row in table if row.effective_from <= on]
    if not rows:
        raise LookupError(f"No figure in force on {on:%Y-%m-%d}.")
    return max(rows, key=lambda row: row.effective_from)
