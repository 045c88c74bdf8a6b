from smtplib import SMTPServerDisconnected

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse

from requests_app import services
from requests_app.models import Case, Notification
from requests_app.notifications import notify
from requests_app.tasks import email_notification_task
from tests.conftest import make_case, make_user

# Details only the case knows: none of them may reach an inbox.
PRIVATE = {
    "patient_name": "Alice Quillfeather-Moreau",
    "exam_type": "pet",
    "body_region": "pelvis",
    "facility_name": "Zanzibar Imaging Partners",
    "clinical_question": "Is the glioblastoma recurrence real or radiation necrosis?",
}
PRIVATE_WORDS = [
    "Quillfeather",
    "Moreau",
    "PET",
    "nuclear",
    "pelvis",
    "Zanzibar",
    "glioblastoma",
    "necrosis",
]


class BrokenSmtp(BaseEmailBackend):
    """A mail server that hangs up."""

    def send_messages(self, email_messages):
        raise SMTPServerDisconnected("Connection unexpectedly closed")


def _email_parts(message) -> list[str]:
    html = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    return [message.subject, message.body, *html]


def _transition(case: Case, *, to: str) -> None:
    services.transition(case, to=to, allowed_from=[case.status], by=None, message="Moved on.")


def test_records_needed_reaches_the_patient_by_email_without_phi(
    alice, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://care.example.org"
    case = make_case(alice, complete=True, status=Case.Status.SUBMITTED, **PRIVATE)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.request_records(case, by=None, message="The images could not be read.")
    assert len(callbacks) == 1  # the email task, sent once the change commits

    notification = Notification.objects.get(user=alice)
    assert notification.kind == Notification.Kind.RECORDS_MISSING
    assert notification.case == case
    email_notification_task(notification.pk)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    link = f"https://care.example.org/cases/{case.code}/"
    parts = _email_parts(message)
    assert len(parts) == 3
    assert "records" in message.subject.lower()
    for part in parts[1:]:
        assert "Hello Alice," in part
        assert link in part
        assert "submit your request again" in part
    for part in parts:
        for word in PRIVATE_WORDS:
            assert word not in part
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_report_ready_is_its_own_kind(alice, django_capture_on_commit_callbacks):
    case = make_case(alice, complete=True, status=Case.Status.IN_REVIEW)
    with django_capture_on_commit_callbacks(execute=True):
        _transition(case, to=Case.Status.REPORT_READY)
    notification = Notification.objects.get(user=alice)
    assert (notification.kind, notification.title) == (
        Notification.Kind.REPORT_READY,
        "Your report is ready",
    )
    email_notification_task(notification.pk)
    assert mail.outbox[0].subject == "SecondOpinion: Your report is ready"


@pytest.mark.parametrize(
    ("start", "to", "kind"),
    [
        (Case.Status.SUBMITTED, Case.Status.AWAITING_INSURANCE, Notification.Kind.STATUS),
        (Case.Status.AWAITING_INSURANCE, Case.Status.QUEUED, Notification.Kind.STATUS),
        (Case.Status.QUEUED, Case.Status.IN_REVIEW, Notification.Kind.STATUS),
        (Case.Status.REPORT_READY, Case.Status.CLOSED, Notification.Kind.STATUS),
        (Case.Status.DRAFT, Case.Status.SUBMITTED, None),
    ],
)
def test_statuses_a_patient_cares_about_notify_them(alice, start, to, kind):
    case = make_case(alice, complete=True, status=start)
    _transition(case, to=to)
    assert list(Notification.objects.filter(user=alice).values_list("kind", flat=True)) == (
        [kind] if kind else []
    )


def test_a_new_reviewer_within_review_is_not_news(alice):
    case = make_case(alice, complete=True, status=Case.Status.IN_REVIEW)
    _transition(case, to=Case.Status.IN_REVIEW)
    assert not Notification.objects.filter(user=alice).exists()


def test_a_refused_transition_notifies_nobody(alice):
    case = make_case(alice, complete=True, status=Case.Status.DRAFT)
    with pytest.raises(services.CaseError):
        services.request_records(case, by=None, message="Missing images.")
    assert not Notification.objects.exists()


def test_running_the_email_task_twice_sends_one_email(alice):
    notification = notify(alice, kind=Notification.Kind.STATUS, title="Your request is closed")
    email_notification_task(notification.pk)
    email_notification_task(notification.pk)
    assert len(mail.outbox) == 1


def test_a_send_that_fails_is_sent_by_the_retry(alice, settings):
    notification = notify(alice, kind=Notification.Kind.STATUS, title="Your request is closed")
    settings.EMAIL_BACKEND = f"{__name__}.BrokenSmtp"
    with pytest.raises(SMTPServerDisconnected):
        email_notification_task(notification.pk)
    notification.refresh_from_db()
    assert notification.emailed_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    email_notification_task(notification.pk)
    assert len(mail.outbox) == 1


def test_no_email_for_an_inactive_user_or_one_without_an_address(db):
    gone = make_user("gone@example.com", first_name="Gus", is_active=False)
    silent = make_user("silent@example.com", first_name="Sid")
    silent.email = ""
    silent.save(update_fields=["email"])
    for user in (gone, silent):
        notification = notify(user, kind=Notification.Kind.STATUS, title="Your request is closed")
        email_notification_task(notification.pk)
    assert mail.outbox == []


def test_greeting_without_a_first_name_is_still_polite(db):
    user = make_user("nofirst@example.com")
    notification = notify(user, kind=Notification.Kind.STATUS, title="Your request is closed")
    email_notification_task(notification.pk)
    assert mail.outbox[0].body.startswith("Hello,\n")


def test_notification_email_is_sent_once_the_change_commits(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        notify(alice, kind=Notification.Kind.STATUS, title="Your request is closed")
        notify(alice, kind=Notification.Kind.STATUS, title="Quiet", email=False)
    assert len(callbacks) == 1


# --- Pages ---------------------------------------------------------------------------------


def test_notifications_page_lists_newest_first_with_unread_marked(client, alice, bob):
    case = make_case(alice, complete=True, status=Case.Status.SUBMITTED)
    older = notify(alice, kind="status", title="Older news", case=case, link="/cases/x/")
    notify(alice, kind="status", title="Newer news", case=case, link=f"/cases/{case.code}/")
    notify(bob, kind="status", title="Bob's news")
    Notification.objects.filter(pk=older.pk).update(read_at=older.created_at)

    client.force_login(alice)
    page = client.get(reverse("notifications")).content.decode()
    assert page.index("Newer news") < page.index("Older news")
    assert "Bob&#x27;s news" not in page and "Bob's news" not in page
    assert page.count('class="unread"') == 1
    assert f'href="/cases/{case.code}/"' in page


def test_mark_all_read_clears_the_header_count(client, alice, bob):
    for title in ("One", "Two"):
        notify(alice, kind="status", title=title)
    bobs = notify(bob, kind="status", title="Bob's")
    client.force_login(alice)

    page = client.get(reverse("requests:case-list")).content.decode()
    assert 'data-testid="unread-count">2<' in page

    response = client.post(reverse("notifications-read"))
    assert response.status_code == 302
    assert not Notification.objects.filter(user=alice, read_at__isnull=True).exists()
    bobs.refresh_from_db()
    assert bobs.read_at is None
    page = client.get(reverse("requests:case-list")).content.decode()
    assert 'data-testid="unread-count"' not in page


def test_header_shows_no_count_to_visitors(client, db):
    page = client.get(reverse("landing")).content.decode()
    assert 'data-testid="unread-count"' not in page
    assert 'data-testid="notifications-link"' not in page


def test_owner_marks_one_notification_read(client, alice):
    notification = notify(alice, kind="status", title="One")
    other = notify(alice, kind="status", title="Two")
    client.force_login(alice)
    response = client.post(reverse("notification-read", args=[notification.code]))
    assert response.status_code == 302
    notification.refresh_from_db()
    other.refresh_from_db()
    assert notification.read_at is not None and other.read_at is None


def test_bob_gets_404_marking_alices_notification_read(client, alice, bob):
    notification = notify(alice, kind="status", title="Alice's")
    client.force_login(bob)
    response = client.post(reverse("notification-read", args=[notification.code]))
    assert response.status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_notification_pages_need_a_login_and_a_post(client, alice):
    notification = notify(alice, kind="status", title="Alice's")
    for url in (
        reverse("notifications"),
        reverse("notifications-read"),
        reverse("notification-read", args=[notification.code]),
    ):
        response = client.post(url)
        assert response["Location"].startswith(reverse("account_login")), url
    client.force_login(alice)
    assert client.get(reverse("notifications-read")).status_code == 405
    assert client.get(reverse("notification-read", args=[notification.code])).status_code == 405


def test_opening_the_case_marks_its_notifications_read(client, alice):
    case = make_case(alice, complete=True, status=Case.Status.QUEUED)
    other_case = make_case(alice, complete=True, status=Case.Status.QUEUED)
    _transition(case, to=Case.Status.IN_REVIEW)
    _transition(other_case, to=Case.Status.IN_REVIEW)
    client.force_login(alice)
    unread = Notification.objects.filter(user=alice, read_at__isnull=True)
    client.get(reverse("requests:case-detail", args=[case.code]))
    assert unread.count() == 2  # showing the page writes nothing
    client.post(reverse("requests:case-seen", args=[case.code]))  # the page, once shown
    assert list(unread.values_list("case", flat=True)) == [other_case.pk]
