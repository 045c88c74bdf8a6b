"""Celery tasks of the records app: thin interfaces over validation and records requests."""

from botocore.exceptions import BotoCoreError, ConnectionClosedError, EndpointConnectionError
from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import facility_requests, services, validation

# Errors of the world around us (database, storage) that are worth a retry with backoff.
TRANSIENT = (
    OperationalError,
    InterfaceError,
    EndpointConnectionError,
    ConnectionClosedError,
    BotoCoreError,
    ConnectionError,
    TimeoutError,
)


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
    validation.validate_upload(upload_id, retried_on=TRANSIENT)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=8)
def advance_case_task(case_id: int) -> None:
    """Move a submitted case on if its uploads are all checked."""
    validation.advance_case(case_id)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def sweep_uploads_task() -> None:
    """Send again the checks whose task was lost, move on cases left behind, and remove
    uploads abandoned unfinished (beat)."""
    now = timezone.now()
    services.expire_abandoned_uploads(now=now)
    stalled = validation.find_stalled(now=now)
    for upload_id in stalled.uploads:
        validate_upload_task.delay(upload_id)
    for case_id in stalled.cases:
        advance_case_task.delay(case_id)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def remind_records_requests_task() -> int:
    """Remind patients of records requests nearing or past the facility's deadline (beat)."""
    return facility_requests.due_reminders(now=timezone.now())
