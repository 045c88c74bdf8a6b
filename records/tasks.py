"""Celery tasks of the records app: thin interfaces that take ids and call validation."""

from botocore.exceptions import BotoCoreError, ConnectionClosedError, EndpointConnectionError
from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import validation

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


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def validate_upload_task(upload_id: int) -> None:
    """Check one received upload and move its case on."""
    validation.validate_upload(upload_id)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=8)
def advance_case_task(case_id: int) -> None:
    """Move a submitted case on if its uploads are all checked."""
    validation.advance_case(case_id)
