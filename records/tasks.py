"""Celery tasks of the records app: reminders of records requests, and the errors of the world
around us that every task retries (the upload checks run in `requests_app.tasks`)."""

from botocore.exceptions import BotoCoreError, ConnectionClosedError, EndpointConnectionError
from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import export, facility_requests

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


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def remind_records_requests_task() -> int:
    """Remind patients of records requests nearing or past the facility's deadline (beat)."""
    return facility_requests.due_reminders(now=timezone.now())


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def deidentified_copy_task(case_id: int, keep_burned_in: bool = False) -> str:
    """Make a de-identified copy of a case's images and tell its patient where to get it."""
    from django.urls import reverse

    from requests_app.models import Case, Notification
    from requests_app.notifications import notify

    case = Case.objects.select_related("patient").get(pk=case_id)
    copy, _ = export.make_deidentified(case, keep_burned_in=keep_burned_in)
    notify(
        case.patient,
        kind=Notification.Kind.STATUS,
        title="Your de-identified copy is ready",
        body="Download it from the link; it does not name you.",
        case=case,
        link=reverse("opinions:deidentified", args=[case.code, copy]),
    )
    return copy
