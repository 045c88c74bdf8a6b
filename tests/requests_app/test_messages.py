import pytest
from django.contrib.admin.sites import AdminSite
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse

from requests_app import messaging
from requests_app.admin_inlines import MessageInline
from requests_app.models import Case, CaseEvent, Message, Notification
from requests_app.services import CaseError
from requests_app.tasks import email_notification_task
from tests.conftest import make_case, make_user

SECRET_BODY = "My biopsy from Zanzibar Imaging came back; is the margin clear?"


@pytest.fixture
def case(alice):
    return make_case(alice, complete=True, status=Case.Status.QUEUED)


def test_patient_message_notifies_every_active_coordinator_on_the_site(
    case, alice, sam, django_capture_on_commit_callbacks
):
    boss = make_user("boss@example.com", is_staff=True, is_superuser=True)
    make_user("clerk@example.com", is_staff=True)  # staff outside the coordinators' group
    retired = make_user("retired@example.com", is_staff=True, is_active=False)
    retired.groups.set(sam.groups.all())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = messaging.send_message(case, by=alice, body=SECRET_BODY, from_care_team=False)

    assert (message.author, message.from_care_team, message.body) == (alice, False, SECRET_BODY)
    told = Notification.objects.filter(kind=Notification.Kind.MESSAGE)
    assert sorted(told.values_list("user__email", flat=True)) == [boss.email, sam.email]
    assert all(str(case.code) in n.link for n in told)
    assert callbacks == [] and mail.outbox == []  # coordinators are told on the site only
    event = CaseEvent.objects.filter(case=case).latest("pk")
    assert (event.actor, event.message) == (alice, "Message from the patient")


def test_care_team_message_reaches_the_patient_without_its_text(
    case, alice, sam, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        messaging.send_message(case, by=sam, body=SECRET_BODY, from_care_team=True)

    notification = Notification.objects.get(user=alice)
    assert notification.kind == Notification.Kind.MESSAGE
    assert notification.link.endswith(f"/cases/{case.code}/#messages")
    email_notification_task(notification.pk)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    for part in (email.subject, email.body, email.alternatives[0][0]):
        assert "Zanzibar" not in part and "biopsy" not in part
    assert "Hello Alice," in email.body
    assert not Notification.objects.filter(user=sam).exists()
    event = CaseEvent.objects.filter(case=case).latest("pk")
    assert (event.actor, event.message) == (sam, "Message from the care team")


def test_patient_sees_the_care_team_message_and_it_is_marked_read(client, case, alice, sam):
    message = messaging.send_message(case, by=sam, body=SECRET_BODY, from_care_team=True)
    client.force_login(alice)

    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "My biopsy from Zanzibar Imaging came back" in page
    assert "Sam, care team" in page
    assert ">New</span>" in page
    message.refresh_from_db()
    assert message.read_at is None  # showing the page writes nothing
    # The page, once loaded, tells us it was shown.
    assert 'hx-post="{}"'.format(reverse("requests:case-seen", args=[case.code])) in page
    assert client.post(reverse("requests:case-seen", args=[case.code])).status_code == 204
    message.refresh_from_db()
    assert message.read_at is not None
    assert not Notification.objects.filter(user=alice, read_at__isnull=True).exists()

    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert ">New</span>" not in page


def test_patient_writes_from_the_case_page(client, case, alice, sam):
    client.force_login(alice)
    url = reverse("requests:case-message", args=[case.code])
    response = client.post(url, {"body": "  When will the report be ready?  "})
    assert response.status_code == 302
    assert response["Location"] == reverse("requests:case-detail", args=[case.code]) + "#messages"
    message = Message.objects.get(case=case)
    assert (message.author, message.body, message.from_care_team) == (
        alice,
        "When will the report be ready?",
        False,
    )
    assert Notification.objects.filter(user=sam, case=case).count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "When will the report be ready?" in page


def test_bob_gets_404_posting_a_message_on_alices_case(client, case, bob, sam):
    client.force_login(bob)
    response = client.post(
        reverse("requests:case-message", args=[case.code]), {"body": "Let me in"}
    )
    assert response.status_code == 404
    assert not Message.objects.exists()
    assert not Notification.objects.exists()


def test_message_page_needs_a_login_and_a_post(client, case, alice):
    url = reverse("requests:case-message", args=[case.code])
    assert client.post(url, {"body": "Hi"})["Location"].startswith(reverse("account_login"))
    client.force_login(alice)
    assert client.get(url).status_code == 405


def test_an_empty_message_is_refused_with_a_reason(client, case, alice):
    client.force_login(alice)
    response = client.post(
        reverse("requests:case-message", args=[case.code]), {"body": "   "}, follow=True
    )
    assert "Write your message before sending it." in response.content.decode()
    assert not Message.objects.exists()


def test_a_draft_has_no_messages_yet(client, alice):
    draft = make_case(alice)
    with pytest.raises(CaseError):
        messaging.send_message(draft, by=alice, body="Hello?", from_care_team=False)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[draft.code])).content.decode()
    assert 'id="messages"' not in page


def test_a_draft_waiting_on_a_coordinator_can_write_to_them(client, alice, sam):
    # The patient said a study on their CD is them under another name: a coordinator confirms.
    draft = make_case(alice, complete=True)
    Case.objects.filter(pk=draft.pk).update(needs_coordinator=True)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[draft.code])).content.decode()
    assert 'id="messages"' in page and "Write to your care team" in page

    response = client.post(
        reverse("requests:case-message", args=[draft.code]), {"body": "My maiden name is Kowal."}
    )

    assert response.status_code == 302
    message = Message.objects.get(case=draft)
    assert (message.author, message.body) == (alice, "My maiden name is Kowal.")
    assert Notification.objects.filter(user=sam, kind=Notification.Kind.MESSAGE).exists()
    draft.refresh_from_db()
    assert draft.status == Case.Status.DRAFT


def test_only_the_care_team_writes_as_the_care_team(case, alice, bob):
    with pytest.raises(CaseError):
        messaging.send_message(case, by=alice, body="Fake answer", from_care_team=True)
    with pytest.raises(CaseError):
        messaging.send_message(case, by=bob, body="Not my case", from_care_team=False)
    assert not Message.objects.exists()


def test_care_team_reading_marks_the_patients_messages_read(case, alice, sam):
    mine = messaging.send_message(case, by=alice, body="A question", from_care_team=False)
    theirs = messaging.send_message(case, by=sam, body="An answer", from_care_team=True)
    assert messaging.mark_read(case, by=sam) == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is not None and theirs.read_at is None


def test_message_inline_is_read_only_and_visible_to_coordinators(sam, alice):
    inline = MessageInline(Case, AdminSite())
    request = RequestFactory().get("/admin/")
    request.user = sam
    assert inline.has_view_permission(request)
    assert not inline.has_add_permission(request, None)
    assert not inline.has_change_permission(request)
    assert not inline.has_delete_permission(request)
    request.user = alice
    assert not inline.has_view_permission(request)
