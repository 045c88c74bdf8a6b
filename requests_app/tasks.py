"""Celery tasks of the requests app: thin interfaces that take ids and call the app's services."""

from smtplib import SMTPException

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from . import notifications, priority, triage
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
