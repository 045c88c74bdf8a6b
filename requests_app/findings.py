"""Findings that must reach people by phone, and results that must reach the patient in time.

- Urgent or significant unexpected findings (ACR Practice Parameter for Communication of
  Diagnostic Imaging Findings): they are communicated directly, by phone or in person, to the
  treating physician, and to the patient, and every such communication is documented. The
  specialist marks the finding when signing; every coordinator is alerted at once; each call is
  recorded (`record_contact`) with a line on the timeline, and the alert stays open until the
  patient and, when they named one, their doctor have been reached.
- A mammogram assessed "Suspicious" or "Highly suggestive of malignancy" (BI-RADS 4/5) reaches
  the patient within 7 calendar days of the final interpretation (21 CFR 900.12(c), as amended in
  2023): the case carries that due date until the patient has opened the report or the care team
  has reached them.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, OuterRef, Q
from django.utils import timezone

from . import messaging, priority, roles
from .models import AuditEvent, Case, FindingContact, Notification, Priority
from .notifications import notify
from .services import CaseError, add_to_timeline

RESULT_DELIVERY_DAYS = 7

OUTCOME_WORDS = {
    FindingContact.Outcome.REACHED: "spoke with them",
    FindingContact.Outcome.MESSAGE: "left a message",
    FindingContact.Outcome.NO_ANSWER: "no answer",
}


def raise_urgent_finding(case: Case, *, by) -> bool:
    """Open an urgent-finding alert on the case, tell every coordinator, make the case urgent."""
    now = timezone.now()
    with transaction.atomic():
        opened = Case.objects.filter(pk=case.pk, urgent_finding_at__isnull=True).update(
            urgent_finding_at=now, urgent_finding_done_at=None
        )
        if not opened:
            return False
        case.urgent_finding_at, case.urgent_finding_done_at = now, None
        add_to_timeline(
            case,
            by,
            "The specialist asked the care team to call you"
            + (" and your doctor" if case.physician_name else "")
            + " about the report.",
            at=now,
        )
        priority.raise_priority(
            case,
            to=Priority.URGENT,
            reason="the specialist asked for a phone call about the report",
            by=by,
        )
        for coordinator in roles.coordinators():
            notify(
                coordinator,
                kind=Notification.Kind.URGENT_FINDING,
                title=f"Case {case.short_code}: urgent finding, call the patient and their doctor",
                body="Open the case for the specialist's note and the doctor's contact details.",
                case=case,
                link=messaging.care_team_link(case),
            )
    return True


def flag_result_delivery(case: Case, *, interpreted_at: datetime) -> None:
    """A suspicious result: due to reach the patient within 7 days of the interpretation."""
    due = interpreted_at + timedelta(days=RESULT_DELIVERY_DAYS)
    Case.objects.filter(pk=case.pk, result_due_at__isnull=True).update(
        result_due_at=due, result_delivered_at=None
    )
    case.refresh_from_db(fields=["result_due_at", "result_delivered_at"])


def record_contact(case: Case, *, by, party: str, outcome: str, note: str = "") -> FindingContact:
    """One call about an urgent finding or a suspicious result, on the record and the timeline.

    Reaching the patient delivers a pending result; reaching everyone there is to reach closes
    the urgent-finding alert.
    """
    if case.urgent_finding_at is None and case.result_due_at is None:
        raise CaseError(f"Case {case.short_code} has no finding or result to communicate.")
    party, outcome = FindingContact.Party(party), FindingContact.Outcome(outcome)
    now = timezone.now()
    with transaction.atomic():
        contact = FindingContact.objects.create(
            case=case, at=now, by=by, party=party, outcome=outcome, note=note.strip()
        )
        whom = "you" if party == FindingContact.Party.PATIENT else "your doctor"
        add_to_timeline(
            case,
            by,
            f"The care team called {whom} about the report ({OUTCOME_WORDS[outcome]}).",
            at=now,
        )
        if outcome == FindingContact.Outcome.REACHED and party == FindingContact.Party.PATIENT:
            Case.objects.filter(
                pk=case.pk, result_due_at__isnull=False, result_delivered_at__isnull=True
            ).update(result_delivered_at=now)
        if case.urgent_finding_at is not None and _everyone_reached(case):
            Case.objects.filter(pk=case.pk, urgent_finding_done_at__isnull=True).update(
                urgent_finding_done_at=now
            )
    case.refresh_from_db(fields=["urgent_finding_done_at", "result_delivered_at"])
    return contact


def _everyone_reached(case: Case) -> bool:
    reached = set(
        case.finding_contacts.filter(
            outcome=FindingContact.Outcome.REACHED, at__gte=case.urgent_finding_at
        ).values_list("party", flat=True)
    )
    wanted = {FindingContact.Party.PATIENT}
    if case.physician_name or case.physician_phone:
        wanted.add(FindingContact.Party.PHYSICIAN)
    return wanted <= reached


# --- What coordinators are shown ---------------------------------------------------------------

URGENT_OPEN = Q(urgent_finding_at__isnull=False, urgent_finding_done_at__isnull=True)

# The patient has opened a report since the suspicious reading was signed: downloaded its PDF,
# or opened a page whose audit record names a report among what it showed.
_PATIENT_OPENED = Exists(
    AuditEvent.objects.filter(
        Q(target_type="opinion-report") | Q(shown__icontains="opinion-report:"),
        case_code=OuterRef("code"),
        actor=OuterRef("patient"),
        at__gte=ExpressionWrapper(
            OuterRef("result_due_at") - timedelta(days=RESULT_DELIVERY_DAYS),
            output_field=DateTimeField(),
        ),
    )
)
RESULT_PENDING = Q(result_due_at__isnull=False, result_delivered_at__isnull=True) & ~Q(
    _PATIENT_OPENED
)


def open_urgent_findings():
    return (
        Case.objects.filter(URGENT_OPEN)
        .select_related("assigned_reviewer")
        .prefetch_related("finding_contacts")
        .order_by("urgent_finding_at")
    )


def results_to_deliver():
    return Case.objects.filter(RESULT_PENDING).order_by("result_due_at")
