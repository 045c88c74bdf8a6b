"""Reaching people in time: the treating physician, urgent findings, priority that rises."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from requests_app import findings, priority, services
from requests_app.models import Case, FindingContact, Notification, Priority
from requests_app.tasks import check_sla_task
from reviewers import services as reviewer_services
from tests.conftest import make_case
from tests.reviewers.conftest import make_reviewer, queued_case

CHICAGO = ZoneInfo("America/Chicago")
DAY = date(2027, 5, 3)
CHANGELIST = "admin:requests_app_case_changelist"
DOCTOR = {
    "physician_name": "Dr. Lena Ortiz",
    "physician_practice": "Elm Street Family Medicine",
    "physician_phone": "217-555-0142",
    "physician_email": "ortiz@elmstreet.example",
}


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHICAGO)


def signed(case: Case, *, urgent: bool, birads: str = "", note: str = "") -> None:
    reader = make_reviewer("r@example.com", "Dr. Rae Reader", subspecialties=(case.queue_id,))
    opinion = reviewer_services.claim_case(case, reviewer=reader, by=reader.user)
    reviewer_services.file_blind_read(
        opinion, by=reader.user, findings="F.", impression="I.", birads=birads
    )
    reviewer_services.grade_concordance(opinion, by=reader.user, radpeer="1", patient_summary="S")
    reviewer_services.sign_report(
        opinion,
        by=reader.user,
        signed_name="Dr. Rae Reader",
        urgent_finding=urgent,
        urgent_finding_note=note,
    )
    case.refresh_from_db()


# --- The treating physician in the wizard ------------------------------------------------------


def test_the_wizard_asks_plainly_for_the_treating_physician_and_it_is_optional(client, alice):
    case = make_case(alice)
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "patient"])
    page = client.get(url).content.decode()
    assert "Your doctor&#x27;s name" in page
    assert "if the specialist finds something that needs attention quickly, we call you" in page
    answers = {"patient_name": "Alice Moreau", "patient_birth_date": "1971-04-02"}
    assert client.post(url, {**answers, "patient_state": "IL"}).status_code == 302
    assert client.post(url, {**answers, "patient_state": "IL", **DOCTOR}).status_code == 302
    case.refresh_from_db()
    assert (case.physician_name, case.physician_phone) == ("Dr. Lena Ortiz", "217-555-0142")


# --- Urgent findings ---------------------------------------------------------------------------


def test_an_urgent_finding_alerts_every_coordinator_with_the_doctors_contact(client, alice, sam):
    case = queued_case(alice, **DOCTOR)
    signed(case, urgent=True, note="Probable acute haemorrhage: needs same-day review.")
    assert case.urgent_finding_at is not None and case.priority == Priority.URGENT
    alert = Notification.objects.get(user=sam, kind=Notification.Kind.URGENT_FINDING)
    assert case.short_code in alert.title and "haemorrhage" not in alert.title + alert.body
    assert case.events.filter(message__contains="call you and your doctor").exists()

    client.force_login(sam)
    dashboard = client.get(reverse("admin:requests_app_case_dashboard")).content.decode()
    assert case.short_code in dashboard
    assert "Dr. Lena Ortiz, Elm Street Family Medicine · 217-555-0142" in dashboard
    flagged = client.get(reverse(CHANGELIST) + "?flag=urgent_finding").content.decode()
    assert case.short_code in flagged and "urgent finding: call" in flagged
    page = client.get(reverse("admin:requests_app_case_change", args=[case.pk])).content.decode()
    assert "Probable acute haemorrhage" in page


def _record(client, case, **data):
    return client.post(
        reverse(CHANGELIST),
        {"action": "record_contact_action", "_selected_action": [case.pk], "apply": "1", **data},
        follow=True,
    )


def test_each_call_goes_on_the_timeline_and_the_alert_closes_when_everyone_is_reached(
    client, alice, sam
):
    case = queued_case(alice, **DOCTOR)
    signed(case, urgent=True, note="Call today.")
    client.force_login(sam)
    _record(client, case, party="physician", outcome="no_answer", note="Office closed.")
    _record(client, case, party="patient", outcome="reached")
    case.refresh_from_db()
    assert case.urgent_finding_done_at is None  # the doctor is still to be reached
    _record(client, case, party="physician", outcome="reached", note="Will see her today.")
    case.refresh_from_db()
    assert case.urgent_finding_done_at is not None
    lines = list(
        case.events.filter(message__startswith="The care team called").values_list(
            "message", "actor"
        )
    )
    assert lines == [
        ("The care team called your doctor about the report (no answer).", sam.pk),
        ("The care team called you about the report (spoke with them).", sam.pk),
        ("The care team called your doctor about the report (spoke with them).", sam.pk),
    ]
    assert FindingContact.objects.filter(case=case).count() == 3
    assert "Office closed." not in " ".join(m for m, _ in lines)  # notes stay with the team
    assert (
        case.short_code
        not in client.get(reverse(CHANGELIST) + "?flag=urgent_finding").content.decode()
    )


def test_without_a_doctor_on_file_reaching_the_patient_closes_the_alert(alice, sam):
    case = queued_case(alice)
    signed(case, urgent=True, note="Call today.")
    findings.record_contact(case, by=sam, party="patient", outcome="reached")
    assert case.urgent_finding_done_at is not None


def test_an_urgent_finding_needs_a_note_for_the_care_team(alice):
    case = queued_case(alice)
    with pytest.raises(reviewer_services.ReviewError, match="urgent finding"):
        signed(case, urgent=True, note="")


def test_a_call_on_a_case_with_nothing_to_communicate_is_refused(alice, sam):
    case = queued_case(alice)
    with pytest.raises(services.CaseError, match="no finding or result"):
        findings.record_contact(case, by=sam, party="patient", outcome="reached")


# --- Priority that rises on its own ------------------------------------------------------------


@pytest.mark.parametrize(("birads", "expected"), [("4B", Priority.HIGH), ("2", Priority.ROUTINE)])
def test_a_suspicious_first_report_raises_the_priority_on_submission(alice, birads, expected):
    case = make_case(
        alice, complete=True, exam_type="mammogram", body_region="breast", birads=birads
    )
    services.submit_case(case, by=alice, missing=[])
    case.refresh_from_db()
    assert case.priority == expected
    raised = case.events.filter(message__startswith="Given high priority")
    assert raised.exists() is (expected == Priority.HIGH)


def test_a_treatment_booked_soon_makes_the_case_urgent_and_the_daily_check_catches_up(alice):
    with time_machine.travel(at(DAY), tick=False):
        soon = make_case(alice, complete=True, scheduled_treatment_on=DAY + timedelta(days=10))
        later = make_case(alice, complete=True, scheduled_treatment_on=DAY + timedelta(days=40))
        for case in (soon, later):
            services.submit_case(case, by=alice, missing=[])
            case.refresh_from_db()
        assert (soon.priority, later.priority) == (Priority.URGENT, Priority.ROUTINE)
        assert soon.events.filter(message__contains="booked for May 13").exists()
    with time_machine.travel(at(DAY + timedelta(days=27)), tick=False):
        check_sla_task()
        later.refresh_from_db()
        assert later.priority == Priority.URGENT
        check_sla_task()
        assert later.events.filter(message__startswith="Given urgent priority").count() == 1


def test_a_rule_never_lowers_what_a_coordinator_set(alice):
    case = make_case(alice, complete=True, exam_type="mammogram", body_region="breast", birads="4A")
    Case.objects.filter(pk=case.pk).update(priority=Priority.URGENT, status=Case.Status.QUEUED)
    case.refresh_from_db()
    assert not priority.apply_risk_priority(case)
    case.refresh_from_db()
    assert case.priority == Priority.URGENT
