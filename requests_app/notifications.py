"""Telling people: a notification on the site, and an email sent by a worker after commit."""

from celery import current_app
from django.db import transaction

from .models import Case, Notification


def notify(
    user,
    *,
    kind: str,
    title: str,
    body: str = "",
    case: Case | None = None,
    link: str = "",
    email: bool = True,
) -> Notification:
    """Create a notification for one user; its email goes out from a task once this commits.

    `title` and `body` reach the inbox: no PHI in them beyond the recipient's first name.
    """
    notification = Notification.objects.create(
        user=user, case=case, kind=kind, title=title, body=body, link=link
    )
    if email:
        pk = notification.pk
        transaction.on_commit(
            lambda: current_app.send_task("requests_app.tasks.email_notification_task", args=[pk])
        )
    return notification
