"""What coordinators do to keep cases moving: reroute, prioritise, hold, close, chase records.

Each function is one guarded change (a conditional UPDATE, so two coordinators acting on the same
case at once cannot both apply it) with a line on the case's timeline naming the coordinator.
Admin actions call these; none of them writes `status` except through `services.transition`.
"""

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from . import messaging, roles, services, sla
from .models import Case, Notification, Priority
from .notifications import notify
from .services import CaseError

# Statuses a case leaves only through a person's decision; no clock runs on them.
FINISHED = (Case.Status.CLOSED, Case.Status.REPORT_READY, Case.Status.DRAFT)
REROUTABLE = (Case.Status.SUBMITTED, Case.Status.AWAITING_INSURANCE, Case.Status.QUEUED)


def _changed(case: Case, *, guard: dict, refuse: str, **fields) -> None:
    """Apply `fields` if the case still matches `guard`; otherwise tell the coordinator why not."""
    if Case.objects.filter(pk=case.pk, **guard).update(**fields) != 1:
        raise CaseError(refuse)
    case.refresh_from_db()


def _why_not_moved(case: Case) -> str:
    """Why a case cannot change queue, as it is now."""
    case.refresh_from_db()
    where = f"Case {case.short_code} is {case.get_status_display().lower()}"
    if case.assigned_reviewer_id is not None:
        return f"{where}: release it from its specialist before moving it."
    return f"{where}: only a case waiting for a specialist can move to another queue."


def ask_for_records(case: Case, *, by, message: str) -> None:
    """submitted/awaiting_insurance/queued -> needs_records, with a message on what is missing."""
    with transaction.atomic():
        services.request_records(case, by=by, message="A care coordinator asked for more records.")
        messaging.send_message(case, by=by, body=message, from_care_team=True)


def reroute(case: Case, *, by, queue, note: str = "") -> None:
    """Move a case no specialist has yet to another subspecialty's queue; clears the flag."""
    clock = sla.clock_for(
        status=case.status, queue=queue.pk, priority=case.priority, start=case.status_changed_at
    )
    with transaction.atomic():
        _changed(
            case,
            guard={"status__in": REROUTABLE, "assigned_reviewer__isnull": True},
            refuse=_why_not_moved(case),
            queue=queue,
            needs_coordinator=False,
            sla_warn_at=clock.warn_at,
            sla_due_at=clock.due_at,
        )
        services.add_to_timeline(
            case,
            by=by,
            message=f"A care coordinator moved the case to the {queue.name} queue."
            + (f" {note}" if note else ""),
        )


def clear_flag(case: Case, *, by, note: str = "") -> None:
    """Mark what the machine could not settle (routing, identity, a file) as checked."""
    with transaction.atomic():
        _changed(
            case,
            guard={"needs_coordinator": True},
            refuse=f"Case {case.short_code} is not flagged.",
            needs_coordinator=False,
            coordinator_note=note or F("coordinator_note"),
        )
        services.add_to_timeline(
            case, by=by, message="A care coordinator checked the flagged details."
        )


def set_priority(case: Case, *, by, priority: int) -> None:
    """Change how soon the case must move; the current status's clock is recomputed."""
    priority = Priority(priority)
    clock = sla.clock_for(
        status=case.status, queue=case.queue_id, priority=priority, start=case.status_changed_at
    )
    with transaction.atomic():
        _changed(
            case,
            guard={"status__in": [s for s in Case.Status.values if s != Case.Status.CLOSED]},
            refuse=f"Case {case.short_code} is closed.",
            priority=priority,
            sla_warn_at=clock.warn_at,
            sla_due_at=clock.due_at,
        )
        services.add_to_timeline(case, by=by, message=f"Priority set to {priority.label.lower()}.")


def put_on_hold(case: Case, *, by, reason: str) -> None:
    """Pause the case's clock (waiting on the patient, a payer, a facility) with the reason."""
    now = timezone.now()
    with transaction.atomic():
        _changed(
            case,
            guard={
                "on_hold": False,
                "status__in": [s for s in Case.Status.values if s not in FINISHED],
            },
            refuse=f"Case {case.short_code} is already on hold or finished.",
            on_hold=True,
            hold_reason=reason[:300],
            held_at=now,
        )
        services.add_to_timeline(case, by=by, message=f"Put on hold: {reason}")


def release_hold(case: Case, *, by) -> None:
    """Restart the clock where it stopped: its due time moves by as long as the hold lasted."""
    paused = timezone.now() - case.held_at if case.held_at else None
    shift = {"sla_due_at": F("sla_due_at") + paused, "sla_warn_at": F("sla_warn_at") + paused}
    with transaction.atomic():
        _changed(
            case,
            guard={"on_hold": True},
            refuse=f"Case {case.short_code} is not on hold.",
            on_hold=False,
            hold_reason="",
            held_at=None,
            **(shift if paused else {}),
        )
        services.add_to_timeline(case, by=by, message="Hold released; the case moves on.")


def close_case(case: Case, *, by, reason: str) -> None:
    """Any open status -> closed: the report was read, or the request was withdrawn."""
    with transaction.atomic():
        services.transition(
            case,
            to=Case.Status.CLOSED,
            allowed_from=[s for s in Case.Status.values if s != Case.Status.CLOSED],
            by=by,
            message=f"Closed by a care coordinator: {reason}"[:300],
            on_hold=False,
            held_at=None,
        )


def flag_overdue(*, now=None) -> int:
    """Flag every running case past its target once, and tell the coordinators. Safe to rerun."""
    now = now or timezone.now()
    due = (
        Case.objects.filter(sla.state_filter(sla.State.BREACHED, now=now))
        .filter(sla_escalated_at__isnull=True)
        .exclude(status__in=FINISHED)
        .values_list("pk", flat=True)
    )
    flagged = 0
    team = list(roles.coordinators())
    for pk in due:
        with transaction.atomic():
            # Claimed one by one: a second beat run (or a transition in between) skips it.
            if not Case.objects.filter(pk=pk, sla_escalated_at__isnull=True).update(
                sla_escalated_at=now, priority=Greatest(F("priority"), Value(int(Priority.HIGH)))
            ):
                continue
            case = Case.objects.get(pk=pk)
            services.add_to_timeline(
                case,
                by=None,
                message=f"Past its target time for '{case.get_status_display().lower()}': "
                "raised to high priority for the care team.",
            )
            for coordinator in team:
                notify(
                    coordinator,
                    kind=Notification.Kind.SLA,
                    title=f"Case {case.short_code} is past its target time",
                    case=case,
                    link=messaging.care_team_link(case),
                )
        flagged += 1
    return flagged
