"""Celery tasks of the requests app: thin interfaces that take ids and call the services, and the
worker side of the flow of a case (`flow`): checking uploads and moving their cases on."""

from smtplib import SMTPException

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from records import services as records_services
from records import validation
from records.tasks import TRANSIENT
from reviewers import services as reviewer_services

from . import flow, notifications, priority, triage
from .models import Notification

# A mail server or database that is away or stuck for a moment: worth a retry with backoff.
EMAIL_TRANSIENT = (
    SMTPException,
    ConnectionError,
    TimeoutError,
    SoftTimeLimitExceeded,
    OperationalError,
    InterfaceError,
)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=EMAIL_TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def email_notification_task(notification_id: int) -> None:
    """Email one notification to its user, once; nothing if it went already or cannot go."""
    notification = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if notification is None or notification.emailed_at is not None:
        return
    if not notification.user.is_active or not notification.user.email:
        return
    notifications.email_notification(notification)


@shared_task(acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True)
def check_sla_task() -> None:
    """Flag the cases past their target time and tell the coordinators; raise the cases whose
    booked treatment has come near (periodic)."""
    triage.flag_overdue()
    priority.raise_for_near_treatment()
    reviewer_services.end_overdue_reservations(now=timezone.now())


# A check cut off by its time limit goes back to the queue: the next delivery counts it as an
# attempt and, past VALIDATION_MAX_ATTEMPTS, hands the upload to a coordinator. A check our own
# code failed on (InternalCheckError) is retried with the same backoff and counts as an attempt
# too; the transient errors do not (validate_upload refunds them).
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    acks_on_timeout=False,
    autoretry_for=(*TRANSIENT, validation.InternalCheckError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def validate_upload_task(upload_id: int) -> None:
    """Check one received upload and move its case on."""
    flow.check_upload(upload_id, retried_on=TRANSIENT)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=8)
def advance_case_task(case_id: int) -> None:
    """Move a submitted case on if its uploads are all checked."""
    flow.advance_case(case_id)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def sweep_uploads_task() -> None:
    """Send again the checks whose task was lost, move on cases left behind, and remove
    uploads abandoned unfinished (beat)."""
    now = timezone.now()
    records_services.expire_abandoned_uploads(now=now)
    stalled = validation.find_stalled(now=now)
    for upload_id in stalled.uploads:
        validate_upload_task.delay(upload_id)
    for case_id in stalled.cases:
        advance_case_task.delay(case_id)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def refresh_coverage_task(case_id: int) -> None:
    """Store the coverage check a page showed from the rules run in memory (its inputs had
    changed since the stored one, and a GET writes nothing)."""
    from insurance import services as insurance_services

    from .models import Case

    case = Case.objects.filter(pk=case_id).first()
    if case is not None:
        insurance_services.refresh_coverage(case)
