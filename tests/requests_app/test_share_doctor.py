"""Send to my doctor: the patient names their doctor, who is e-mailed a link and no medical
details, opens it with a passcode (the patient's, or a one-time code e-mailed on request), and
may write the patient one reply, which shows with the case's messages."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from requests_app import shares
from requests_app.models import AuditEvent, Message, Notification, Share
from tests.reviewers.conftest import make_reviewer, validated_case
from tests.reviewers.test_reviewer_desk import _signed

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def reported(alice, rita, tmp_path):
    case, _ = validated_case(alice, tmp_path)
    _signed(case, make_reviewer(rita.email, "Dr. Rita Novak", user=rita))
    return case


def _link(body: str) -> str:
    return re.search(r"https?://\S+/s/[\w-]+/", body).group(0)


def _open(client: Client, token: str, passcode: str):
    return client.post(reverse("share-open", args=[token]), {"passcode": passcode})


def test_the_doctor_is_emailed_a_link_and_no_medical_details(client, alice, reported, settings):
    settings.SITE_URL = "https://secondopinion.example"
    client.force_login(alice)
    sent = client.post(
        reverse("shares:send-to-doctor", args=[reported.code]),
        {"doctor_name": "Dr. Lee", "doctor_email": "lee@clinic.example", "passcode_by_email": ""},
    )
    assert sent.status_code == 302
    share = Share.objects.get(case=reported)
    assert share.sent_to_doctor and share.recipient_email == "lee@clinic.example"
    page = client.get(sent["Location"]).content.decode()
    passcode = re.search(r'data-testid="share-passcode">(\d{6})<', page).group(1)

    [email] = mail.outbox
    assert email.to == ["lee@clinic.example"]
    body = email.subject + email.body
    link = _link(email.body)
    assert link.startswith("https://secondopinion.example/s/") and link in page
    assert "Dr. Lee" in body and "passcode" in body
    medical = [
        "Alice",
        "Moreau",
        "Jane",
        "Doe",
        "1970",
        reported.title,
        str(reported.code),
        reported.short_code,
        "Plain words.",
        "MRI",
        "brain",
        "Brain",
        "neuro",
        passcode,
    ]
    for detail in medical:
        assert detail not in body, detail
    # The link and the passcode open it.
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert _open(Client(), token, passcode).status_code == 302


def test_the_patient_must_name_the_doctors_email(client, alice, reported):
    client.force_login(alice)
    refused = client.post(
        reverse("shares:send-to-doctor", args=[reported.code]),
        {"doctor_name": "Dr. Lee", "doctor_email": ""},
    )
    assert refused.status_code == 400 and not Share.objects.exists() and not mail.outbox


def test_a_one_time_passcode_by_email(alice, reported):
    with time_machine.travel(NOW, tick=False) as clock:
        new = shares.send_to_doctor(
            reported,
            by=alice,
            doctor_name="Dr. Lee",
            doctor_email="lee@clinic.example",
            passcode_by_email=True,
        )
        assert new.passcode == ""
        mail.outbox.clear()
        doctor = Client()
        form = doctor.get(reverse("share-open", args=[new.token])).content.decode()
        assert "E-mail me a passcode" in form
        # Before a code is asked for, nothing opens it (not even an empty passcode).
        assert _open(doctor, new.token, "").status_code == 200
        doctor.post(reverse("share-open", args=[new.token]), {"send_code": "1"})
        [email] = mail.outbox
        assert email.to == ["lee@clinic.example"]
        code = re.search(r"\b(\d{6})\b", email.body).group(1)
        assert "Alice" not in email.body and "Plain words." not in email.body
        # A second code within the minute is not sent.
        doctor.post(reverse("share-open", args=[new.token]), {"send_code": "1"})
        assert len(mail.outbox) == 1
        assert _open(doctor, new.token, code).status_code == 302
        # Once: another browser cannot use the same code.
        assert _open(Client(), new.token, code).status_code == 200
        # And a code works for 15 minutes only.
        clock.move_to(NOW + timedelta(minutes=2))
        other = Client()
        other.post(reverse("share-open", args=[new.token]), {"send_code": "1"})
        late = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
        clock.move_to(NOW + timedelta(minutes=2 + shares.CODE_MINUTES))
        assert _open(other, new.token, late).status_code == 200
        assert new.share.opens.count() == 1


def test_the_doctor_writes_one_reply_which_the_patient_reads(client, alice, reported):
    new = shares.send_to_doctor(
        reported, by=alice, doctor_name="Dr. Lee", doctor_email="lee@clinic.example"
    )
    doctor = Client()
    _open(doctor, new.token, new.passcode)
    page = doctor.get(reverse("share-open", args=[new.token])).content.decode()
    assert "Reply to your patient" in page
    answer = doctor.post(
        reverse("share-reply", args=[new.token]), {"body": "Come see me next week."}
    )
    assert answer.status_code == 302
    message = Message.objects.get(case=reported)
    assert message.share == new.share and message.author is None and not message.from_care_team
    told = alice.notifications.get(kind=Notification.Kind.MESSAGE)
    assert "Lee" not in told.title + told.body and "next week" not in told.title + told.body
    event = AuditEvent.objects.get(target_type="share-reply")
    assert event.target_code == str(message.code)

    # A second reply is refused.
    again = doctor.post(reverse("share-reply", args=[new.token]), {"body": "And another thing."})
    assert again.status_code == 302 and Message.objects.filter(case=reported).count() == 1
    page = doctor.get(reverse("share-open", args=[new.token])).content.decode()
    assert "already replied" in page and "Send the reply" not in page

    client.force_login(alice)
    case_page = client.get(reverse("requests:case-detail", args=[reported.code])).content.decode()
    assert "Come see me next week." in case_page and "Dr. Lee, who you shared" in case_page


def test_only_a_share_sent_to_a_doctor_takes_a_reply(alice, reported):
    new = shares.create_share(reported, by=alice, recipient_name="Sam")
    friend = Client()
    _open(friend, new.token, new.passcode)
    assert "Reply to your patient" not in (
        friend.get(reverse("share-open", args=[new.token])).content.decode()
    )
    friend.post(reverse("share-reply", args=[new.token]), {"body": "Hi"})
    assert not Message.objects.exists()
    # Nor without the passcode in this session.
    sent = shares.send_to_doctor(
        reported, by=alice, doctor_name="Dr. Lee", doctor_email="lee@clinic.example"
    )
    assert (
        Client().post(reverse("share-reply", args=[sent.token]), {"body": "Hi"}).status_code == 404
    )
    assert not Message.objects.exists()
