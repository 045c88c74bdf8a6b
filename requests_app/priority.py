"""Which cases must move sooner, and why. Rules raise a case's priority; they never lower it.

- A first report of BI-RADS 4 (4A-4C) or 5 recommends a tissue diagnosis (ACR BI-RADS Atlas,
  5th ed.): the patient is waiting on a decision that matters, so the case is high priority.
- A surgery, treatment or decision already booked within `NEAR_TREATMENT_DAYS`: urgent, so the
  opinion can still inform it.
- After a reading, the priority the table of meaning gives it (`reviewers.meaning`), and an
  urgent finding (`requests_app.findings`), raise it through `raise_priority` as well.

Each raise is one guarded UPDATE (a coordinator's higher setting stays), recomputes the current
status's clock as a coordinator's change would, and says why on the timeline.
"""

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from . import sla
from .models import Case, CaseEvent, Priority

SUSPICIOUS_BIRADS = frozenset({"4", "4A", "4B", "4C", "5"})
NEAR_TREATMENT_DAYS = 14
# Statuses in which a case no longer waits on anyone; priority means nothing there.
NO_PRIORITY = (Case.Status.DRAFT, Case.Status.CLOSED)


def risk_priority(case: Case, *, today: date) -> tuple[int, str]:
    """The priority the patient's own answers call for, and why in plain words."""
    priority, reason = Priority.ROUTINE, ""
    if case.is_mammogram and case.birads in SUSPICIOUS_BIRADS:
        priority = Priority.HIGH
        reason = f"the BI-RADS {case.birads} result on the first report calls for a prompt answer"
    booked = case.scheduled_treatment_on
    if booked and today <= booked <= today + timedelta(days=NEAR_TREATMENT_DAYS):
        priority = Priority.URGENT
        reason = f"a treatment or decision is booked for {booked:%B} {booked.day}"
    return priority, reason


def raise_priority(case: Case, *, to: int, reason: str, by=None) -> bool:
    """Raise the case to `to` unless it is there already; returns whether it changed."""
    to = Priority(to)
    if case.priority >= to or case.status in NO_PRIORITY:
        return False
    clock = sla.clock_for(
        status=case.status, queue=case.queue_id, priority=to, start=case.status_changed_at
    )
    now = timezone.now()
    with transaction.atomic():
        raised = (
            Case.objects.filter(pk=case.pk, priority__lt=to)
            .exclude(status__in=NO_PRIORITY)
            .update(priority=to, sla_warn_at=clock.warn_at, sla_due_at=clock.due_at)
        )
        if not raised:
            return False
        CaseEvent.objects.create(
            case=case,
            at=now,
            actor=by,
            message=f"Given {to.label.lower()} priority: {reason}."[:300],
        )
    case.priority, case.sla_warn_at, case.sla_due_at = to, clock.warn_at, clock.due_at
    return True


def apply_risk_priority(case: Case, *, by=None, today: date | None = None) -> bool:
    """Raise the case to what the patient's answers call for (on submission, and daily)."""
    priority, reason = risk_priority(case, today=today or timezone.localdate())
    if priority == Priority.ROUTINE:
        return False
    return raise_priority(case, to=priority, reason=reason, by=by)


def raise_for_near_treatment(*, today: date | None = None) -> int:
    """Cases whose booked treatment has come within reach; run by the periodic SLA task."""
    today = today or timezone.localdate()
    due = (
        Case.objects.filter(
            scheduled_treatment_on__gte=today,
            scheduled_treatment_on__lte=today + timedelta(days=NEAR_TREATMENT_DAYS),
            priority__lt=Priority.URGENT,
        )
        .exclude(status__in=(*NO_PRIORITY, Case.Status.REPORT_READY))
        .only("pk")
    )
    raised = 0
    for case in Case.objects.filter(pk__in=[c.pk for c in due]):
        raised += apply_risk_priority(case, today=today)
    return raised
