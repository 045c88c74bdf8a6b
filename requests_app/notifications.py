"""Telling people: a notification on the site, and an email sent by a worker after commit."""

from typing import NamedTuple
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .models import Case, Notification


class Notice(NamedTuple):
    kind: str
    title: str
    body: str


# What a patient is told when their case reaches a status. These words reach the inbox, so they
# say what happened in general terms only: never the exam, body part, facility or anyone's name.
# A status missing here notifies nobody: a draft is the patient's own, and "submitted" is their
# own click, confirmed on the page, with the records check moving the case on within minutes.
STATUS_NOTICES: dict[str, Notice] = {
    Case.Status.NEEDS_RECORDS: Notice(
        Notification.Kind.RECORDS_MISSING,
        "We need more records for your request",
        "Some of your records are missing or could not be read. Open your request to see what "
        "is missing, add it, and submit your request again.",
    ),
    Case.Status.AWAITING_INSURANCE: Notice(
        Notification.Kind.STATUS,
        "We are checking your insurance",
        "Your records are in order. We are now confirming coverage with your insurer; open "
        "your request to see whether anything is needed from you.",
    ),
    Case.Status.QUEUED: Notice(
        Notification.Kind.STATUS,
        "Your request is waiting for a specialist",
        "Your request is in line for the next available specialist of the right kind.",
    ),
    Case.Status.IN_REVIEW: Notice(
        Notification.Kind.STATUS,
        "A specialist is reviewing your request",
        "A specialist has started the review. We will write again when the report is ready.",
    ),
    Case.Status.REPORT_READY: Notice(
        Notification.Kind.REPORT_READY,
        "Your report is ready",
        "The specialist's report is ready. Log in to read it, and share it with your doctor.",
    ),
    Case.Status.CLOSED: Notice(
        Notification.Kind.STATUS,
        "Your request is closed",
        "Your request has been closed. Everything about it stays available when you log in.",
    ),
}


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


def case_link(case: Case, *, anchor: str = "") -> str:
    """The patient's page of a case, as a notification links to it."""
    url = reverse("requests:case-detail", args=[case.code])
    return f"{url}#{anchor}" if anchor else url


def case_status_changed(case: Case, *, to: str) -> Notification | None:
    """Tell the patient their case reached a status they care about (and by email)."""
    notice = STATUS_NOTICES.get(to)
    if notice is None:
        return None
    return notify(
        case.patient,
        kind=notice.kind,
        title=notice.title,
        body=notice.body,
        case=case,
        link=case_link(case),
    )


def mark_read(user, *, case: Case | None = None, code: UUID | None = None) -> int:
    """Mark the user's unread notifications read: all of them, those of a case, or one."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if case is not None:
        unread = unread.filter(case=case)
    if code is not None:
        unread = unread.filter(code=code)
    return unread.update(read_at=timezone.now())


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def email_notification(notification: Notification) -> bool:
    """Email a notification to its user unless it already went; returns whether this sent it.

    The row is claimed with a conditional UPDATE before sending, so two deliveries of the task
    send one email; a failed send gives the claim back for the retry.
    """
    user = notification.user
    context = {
        "first_name": user.first_name.strip(),
        "title": notification.title,
        "body": notification.body,
        "url": absolute_url(notification.link or reverse("notifications")),
    }
    subject = " ".join(render_to_string("emails/notification-subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject, render_to_string("emails/notification-body.txt", context), to=[user.email]
    )
    message.attach_alternative(
        render_to_string("emails/notification-body.html", context), "text/html"
    )
    claimed_at = timezone.now()
    claimed = Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(
        emailed_at=claimed_at
    )
    if not claimed:
        return False
    try:
        message.send()
    except Exception:
        Notification.objects.filter(pk=notification.pk, emailed_at=claimed_at).update(
            emailed_at=None
        )
        raise
    notification.emailed_at = claimed_at
    return True


def unread_count(user) -> Coalesce:
    """The header's count of `user`'s unread notifications as an annotation of a page's own
    query: the page passes it as `unread_notifications`, and the header asks nothing more."""
    unread = (
        Notification.objects.filter(user=user, read_at__isnull=True)
        .order_by()
        .values("user")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(unread), Value(0))
