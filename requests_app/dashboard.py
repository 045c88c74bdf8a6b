"""The coordinators' dashboard: queue depths, clocks, the oldest waits and today's throughput.

Every figure is an aggregate query; the number of queries does not grow with the number of cases.
"""

from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from reviewers.credentials import LAPSE_WARNING_DAYS, lapses
from reviewers.models import Subspecialty

from . import findings, sla
from .models import Case, CaseEvent, Priority

# Statuses in which a case waits on us (a coordinator, an insurer, a specialist).
WAITING = [
    Case.Status.SUBMITTED,
    Case.Status.NEEDS_RECORDS,
    Case.Status.AWAITING_INSURANCE,
    Case.Status.QUEUED,
    Case.Status.IN_REVIEW,
]
LIST_LENGTH = 10


def _count(status: str) -> Count:
    return Count("pk", filter=Q(status=status))


def figures(*, now: datetime) -> dict:
    waiting = Case.objects.filter(status__in=WAITING)
    breached = sla.state_filter(sla.State.BREACHED, now=now)
    due_soon = sla.state_filter(sla.State.DUE_SOON, now=now)

    depth = {
        row["queue_id"]: row
        for row in waiting.exclude(queue__isnull=True)
        .values("queue_id")
        .annotate(
            awaiting_insurance=_count(Case.Status.AWAITING_INSURANCE),
            queued=_count(Case.Status.QUEUED),
            in_review=_count(Case.Status.IN_REVIEW),
            breached=Count("pk", filter=breached),
        )
    }
    queues = [
        {"subspecialty": s, **depth.get(s.pk, {})} for s in Subspecialty.objects.order_by("order")
    ]

    totals = waiting.aggregate(
        **{status: _count(status) for status in WAITING},
        breached=Count("pk", filter=breached),
        due_soon=Count("pk", filter=due_soon),
        on_hold=Count("pk", filter=Q(on_hold=True)),
        flagged=Count("pk", filter=Q(needs_coordinator=True)),
        urgent=Count("pk", filter=Q(priority=Priority.URGENT)),
    )

    start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today = CaseEvent.objects.filter(at__gte=start_of_day, at__lt=start_of_day + timedelta(days=1))
    throughput = today.aggregate(
        submitted=Count("pk", filter=Q(to_status=Case.Status.SUBMITTED)),
        routed=Count(
            "pk", filter=Q(to_status__in=[Case.Status.QUEUED, Case.Status.AWAITING_INSURANCE])
        ),
        reports=Count("pk", filter=Q(to_status=Case.Status.REPORT_READY)),
        closed=Count("pk", filter=Q(to_status=Case.Status.CLOSED)),
    )

    listed = waiting.select_related("queue")
    today = timezone.localdate(now)
    return {
        "now": now,
        "queues": queues,
        "totals": totals,
        "throughput": throughput,
        "breaching": list(listed.filter(breached).order_by("sla_due_at")[:LIST_LENGTH]),
        "due_soon": list(listed.filter(due_soon).order_by("sla_due_at")[:LIST_LENGTH]),
        "oldest": list(listed.filter(on_hold=False).order_by("status_changed_at")[:LIST_LENGTH]),
        # What must reach people by phone or in time, whatever the case's status.
        "urgent_findings": list(findings.open_urgent_findings()[:LIST_LENGTH]),
        "results_due": list(findings.results_to_deliver()[:LIST_LENGTH]),
        "credentials": [
            (lapse, lapse.describe(today)) for lapse in lapses(today=today)[: LIST_LENGTH * 3]
        ],
        "credentials_days": LAPSE_WARNING_DAYS,
    }
