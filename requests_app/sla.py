"""SLA clocks: how long a case may stay in each status, and what to do when it stays longer.

Targets are data (`SlaTarget`, editable in the admin): one per status for every queue, optionally
overridden for one subspecialty. A case's clock is set whenever its status changes, paused while a
coordinator holds the case, and checked by a periodic task that flags breaches for coordinators.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Case, Priority, SlaTarget

# Share of the target an urgent or high-priority case gets.
PRIORITY_FACTOR = {Priority.ROUTINE: 1.0, Priority.HIGH: 0.75, Priority.URGENT: 0.5}
# The statuses a patient waits through after the current one, in order, for the report estimate.
AHEAD = {
    Case.Status.SUBMITTED: [Case.Status.QUEUED, Case.Status.IN_REVIEW],
    Case.Status.AWAITING_INSURANCE: [Case.Status.QUEUED, Case.Status.IN_REVIEW],
    Case.Status.QUEUED: [Case.Status.IN_REVIEW],
    Case.Status.IN_REVIEW: [],
}


class State:
    """Where a case stands against its clock; the values are the admin filter's."""

    NONE = "none"
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    BREACHED = "breached"
    ON_HOLD = "on_hold"

    choices = [
        (BREACHED, "Past target"),
        (DUE_SOON, "Due soon"),
        (ON_TRACK, "On track"),
        (ON_HOLD, "On hold"),
        (NONE, "No clock"),
    ]


@dataclass(frozen=True)
class Clock:
    warn_at: datetime | None
    due_at: datetime | None


def target(*, status: str, queue: str | None) -> SlaTarget | None:
    """The target for a status: the queue's own if it has one, else the default for every queue."""
    rows = SlaTarget.objects.filter(
        Q(subspecialty=queue) | Q(subspecialty__isnull=True), status=status
    )
    return min(rows, key=lambda row: row.subspecialty_id is None, default=None)


def clock_for(*, status: str, queue: str | None, priority: int, start: datetime) -> Clock:
    """When a case entering `status` at `start` should be warned about, and when it is late."""
    row = target(status=status, queue=queue)
    if row is None:
        return Clock(warn_at=None, due_at=None)
    allowed = timedelta(hours=row.hours) * PRIORITY_FACTOR[Priority(priority)]
    due = start + allowed
    return Clock(warn_at=due - min(timedelta(hours=row.warn_hours), allowed), due_at=due)


def state_of(case: Case, *, now: datetime | None = None) -> str:
    if case.on_hold:
        return State.ON_HOLD
    if case.sla_due_at is None:
        return State.NONE
    now = now or timezone.now()
    if now >= case.sla_due_at:
        return State.BREACHED
    if case.sla_warn_at is not None and now >= case.sla_warn_at:
        return State.DUE_SOON
    return State.ON_TRACK


def state_filter(state: str, *, now: datetime) -> Q:
    """The cases in one SLA state, as a query (for the admin filter and the dashboard)."""
    running = Q(on_hold=False, sla_due_at__isnull=False)
    return {
        State.BREACHED: running & Q(sla_due_at__lte=now),
        State.DUE_SOON: running & Q(sla_warn_at__lte=now, sla_due_at__gt=now),
        State.ON_TRACK: running
        & Q(sla_due_at__gt=now)
        & (Q(sla_warn_at__gt=now) | Q(sla_warn_at__isnull=True)),
        State.ON_HOLD: Q(on_hold=True),
        State.NONE: Q(on_hold=False, sla_due_at__isnull=True),
    }[state]


def expected_report_by(case: Case) -> datetime | None:
    """For the patient: the current step's due time plus the targets of the steps ahead."""
    if case.sla_due_at is None or case.status not in AHEAD:
        return None
    when = max(case.sla_due_at, timezone.now())
    for hours in _hours_ahead(case):
        if hours is not None:
            when += timedelta(hours=hours) * PRIORITY_FACTOR[Priority(case.priority)]
    return when


def _hours_ahead(case: Case) -> list[int | None]:
    """The target of each step ahead of the case, as `target` picks it: read from the case when a
    page loaded it with `hours_ahead_annotations`, else in one query for every step."""
    ahead = AHEAD[case.status]
    if all(hasattr(case, f"sla_hours_{status}") for status in ahead):
        return [getattr(case, f"sla_hours_{status}") for status in ahead]
    rows = SlaTarget.objects.filter(
        Q(subspecialty=case.queue_id) | Q(subspecialty__isnull=True), status__in=ahead
    )
    chosen = (
        min(
            (r for r in rows if r.status == status),
            key=lambda r: r.subspecialty_id is None,
            default=None,
        )
        for status in ahead
    )
    return [row.hours if row is not None else None for row in chosen]


def hours_ahead_annotations() -> dict:
    """What `expected_report_by` reads, as annotations of a query of cases: the hours of each
    status that can lie ahead, the queue's own target else the default for every queue."""

    def hours(status: str, **subspecialty) -> Subquery:
        rows = SlaTarget.objects.filter(status=status, **subspecialty).order_by().values("hours")
        return Subquery(rows[:1])

    return {
        f"sla_hours_{status}": Coalesce(
            hours(status, subspecialty_id=OuterRef("queue_id")),
            hours(status, subspecialty_id__isnull=True),
        )
        for status in {status for ahead in AHEAD.values() for status in ahead}
    }
