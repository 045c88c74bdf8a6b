"""Messages on a case between the patient and the care team, and who gets told about them."""

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from .models import Case, Message, Notification
from .notifications import case_link, notify
from .roles import coordinators, is_coordinator
from .services import CaseError, add_to_timeline

MESSAGE_MAX_CHARS = 5000


def send_message(case: Case, *, by, body: str, from_care_team: bool) -> Message:
    """Write a message on a submitted case, put it on the timeline and tell the other side.

    The patient gets a notification (and an email) when the care team writes; when the patient
    writes, every coordinator gets one on the site only, so a busy queue does not flood inboxes.
    """
    body = body.strip()
    if not body:
        raise CaseError("Write your message before sending it.")
    if len(body) > MESSAGE_MAX_CHARS:
        raise CaseError(f"Please keep a message under {MESSAGE_MAX_CHARS} characters.")
    if from_care_team and not is_coordinator(by):
        raise CaseError("Only the care team can write as the care team.")
    if not from_care_team:
        if by.pk != case.patient_id:
            raise CaseError("Only the patient can write on their request.")
        if case.status == Case.Status.DRAFT and not case.needs_coordinator:
            raise CaseError("Submit your request first: the care team sees it from then on.")
    with transaction.atomic():
        message = Message.objects.create(
            case=case, author=by, from_care_team=from_care_team, body=body
        )
        add_to_timeline(
            case,
            by,
            "Message from the care team" if from_care_team else "Message from the patient",
            at=message.created_at,
        )
        if from_care_team:
            notify(
                case.patient,
                kind=Notification.Kind.MESSAGE,
                title="You have a new message from your care team",
                body="Log in to read it and reply.",
                case=case,
                link=case_link(case, anchor="messages"),
            )
        else:
            for coordinator in coordinators():
                notify(
                    coordinator,
                    kind=Notification.Kind.MESSAGE,
                    title=f"New message from the patient on case {case.short_code}",
                    case=case,
                    link=care_team_link(case),
                    email=False,
                )
    return message


def care_team_link(case: Case) -> str:
    """The case in the coordinators' admin, found by its code (never its sequential id)."""
    return f"{reverse('admin:requests_app_case_changelist')}?q={case.code}"


def mark_read(case: Case, *, by) -> int:
    """Mark what the other side wrote on a case as read by `by` (the patient or the care team)."""
    from_care_team = by.pk == case.patient_id
    return case.messages.filter(from_care_team=from_care_team, read_at__isnull=True).update(
        read_at=timezone.now()
    )
