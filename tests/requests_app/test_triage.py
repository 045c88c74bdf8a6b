"""Coordinators triage in the admin: every action calls a service and names them on the timeline."""

import io
import time
from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from records.models import Study, Upload, UploadProblem
from requests_app import sla, triage
from requests_app.messaging import send_message
from requests_app.models import Case, CaseEvent, Message, Notification, Priority, SlaTarget
from requests_app.services import transition
from requests_app.tasks import check_sla_task
from reviewers.models import ReviewerLicense, ReviewerProfile, Subspecialty
from tests.conftest import make_case, make_user

CHANGELIST = "admin:requests_app_case_changelist"


def queued(patient, **fields) -> Case:
    case = make_case(patient, complete=True, status=Case.Status.SUBMITTED, **fields)
    transition(
        case,
        to=Case.Status.QUEUED,
        allowed_from=[Case.Status.SUBMITTED],
        by=None,
        message="Routed.",
        queue_id=fields.pop("queue_id", "general"),
    )
    return case


def act(client, action: str, cases, **data):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [c.pk for c in cases], "apply": "1", **data},
        follow=True,
    )


def last_event(case: Case) -> CaseEvent:
    return case.events.order_by("-at", "-pk").first()


@pytest.fixture
def desk(client, sam):
    client.force_login(sam)
    return client


def test_reroute_moves_every_selected_case_clears_the_flag_and_names_the_coordinator(
    desk, sam, alice, bob
):
    cases = [queued(alice), queued(bob)]
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(needs_coordinator=True)

    response = act(desk, "reroute_action", cases, queue="musculoskeletal", note="Knee, not head.")

    assert response.status_code == 200
    for case in cases:
        case.refresh_from_db()
        assert case.queue_id == "musculoskeletal"
        assert not case.needs_coordinator
        event = last_event(case)
        assert event.actor == sam
        assert "Musculoskeletal" in event.message and "Knee, not head." in event.message


def test_an_action_first_asks_for_its_details(desk, alice):
    case = queued(alice)
    response = desk.post(
        reverse(CHANGELIST), {"action": "reroute_action", "_selected_action": [case.pk]}
    )
    assert response.status_code == 200
    assert b"Move to another subspecialty" in response.content
    case.refresh_from_db()
    assert case.queue_id == "general"


def test_reroute_refuses_a_case_a_specialist_has(desk, alice, rita):
    case = queued(alice, queue_id="neuroradiology")
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.IN_REVIEW, assigned_reviewer=rita.reviewer_profile
    )
    response = act(desk, "reroute_action", [case], queue="musculoskeletal")
    assert "release it from its specialist" in response.content.decode()
    case.refresh_from_db()
    assert case.queue_id == "neuroradiology"


def test_asking_for_records_moves_the_case_and_messages_the_patient(desk, sam, alice):
    case = queued(alice)
    act(desk, "ask_for_records_action", [case], message="Please add the CD from March.")
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_RECORDS
    message = Message.objects.get(case=case)
    assert message.from_care_team and message.author == sam
    assert message.body == "Please add the CD from March."
    assert case.events.filter(actor=sam, to_status=Case.Status.NEEDS_RECORDS).exists()


def license(user, state: str = "IL") -> ReviewerProfile:
    ReviewerLicense.objects.get_or_create(reviewer=user.reviewer_profile, state=state)
    return user.reviewer_profile


def test_assign_checks_eligibility_and_assigns(desk, sam, alice, rita):
    case = queued(alice, queue_id="neuroradiology")
    refused = act(desk, "assign_action", [case], reviewer=rita.reviewer_profile.pk)
    assert "not licensed in IL" in refused.content.decode()
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED

    act(desk, "assign_action", [case], reviewer=license(rita).pk)
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW
    assert case.assigned_reviewer == rita.reviewer_profile
    assert last_event(case).actor == sam


def test_priority_urgent_shortens_the_clock(desk, sam, alice):
    case = queued(alice)
    routine_due = case.sla_due_at
    act(desk, "mark_urgent_action", [case])
    case.refresh_from_db()
    assert case.priority == Priority.URGENT
    assert case.sla_due_at - case.status_changed_at == (routine_due - case.status_changed_at) / 2
    assert last_event(case).actor == sam

    act(desk, "set_priority_action", [case], priority=Priority.ROUTINE)
    case.refresh_from_db()
    assert case.priority == Priority.ROUTINE
    assert case.sla_due_at == routine_due


def test_hold_pauses_the_clock_and_release_moves_the_due_time(desk, sam, alice):
    case = queued(alice)
    due = case.sla_due_at
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        act(desk, "hold_action", [case], reason="Waiting for the patient's CD.")
        case.refresh_from_db()
        assert case.on_hold and sla.state_of(case) == sla.State.ON_HOLD
        traveller.shift(timedelta(hours=30))
        # A day later the admin session has expired: the service is what the action calls.
        triage.release_hold(case, by=sam)
    case.refresh_from_db()
    assert not case.on_hold
    assert case.sla_due_at == due + timedelta(hours=30)
    assert [e.actor for e in case.events.order_by("-pk")[:2]] == [sam, sam]


def test_close_and_clear_flag(desk, sam, alice):
    flagged = queued(alice)
    Case.objects.filter(pk=flagged.pk).update(needs_coordinator=True)
    act(desk, "clear_flag_action", [flagged], note="Same patient: maiden name on the CD.")
    flagged.refresh_from_db()
    assert not flagged.needs_coordinator
    assert flagged.coordinator_note == "Same patient: maiden name on the CD."

    act(desk, "close_action", [flagged], reason="Withdrawn by the patient.")
    flagged.refresh_from_db()
    assert flagged.status == Case.Status.CLOSED
    assert last_event(flagged).actor == sam


def test_a_staff_member_without_change_permission_cannot_run_actions(client, alice):
    viewer = make_user("viewer@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_case"))
    client.force_login(viewer)
    case = queued(alice)

    act(client, "mark_urgent_action", [case])
    act(client, "reroute_action", [case], queue="musculoskeletal")

    case.refresh_from_db()
    assert case.priority == Priority.ROUTINE and case.queue_id == "general"
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert b"mark_urgent_action" not in page.content


def test_a_patient_cannot_reach_the_desk(client, alice):
    client.force_login(alice)
    case = queued(alice)
    act(client, "mark_urgent_action", [case])
    case.refresh_from_db()
    assert case.priority == Priority.ROUTINE


def test_change_page_shows_everything_about_the_case(desk, sam, alice):
    case = queued(alice)
    upload = Upload.objects.create(case=case, uploaded_by=alice, status=Upload.Status.INVALID)
    Study.objects.create(
        case=case, upload=upload, study_instance_uid="1.2.3", description="MR HEAD"
    )
    UploadProblem.objects.create(
        upload=upload, code="patient_mismatch", severity="error", message="Another name."
    )
    send_message(case, by=sam, body="We have your images.", from_care_team=True)

    page = desk.get(reverse("admin:requests_app_case_change", args=[case.pk]))

    assert page.status_code == 200
    body = page.content.decode()
    for shown in ["Studies", "MR HEAD", "Another name.", "We have your images.", "Timeline"]:
        assert shown in body, shown
    assert "Triage this case" in body and 'value="reroute_action"' in body


# SLA clocks ------------------------------------------------------------------------------------


def test_each_status_gets_its_target_and_a_subspecialty_can_have_its_own(alice):
    case = queued(alice, queue_id="neuroradiology")
    assert case.sla_due_at - case.status_changed_at == timedelta(hours=48)
    breast = queued(alice, queue_id="breast")
    assert breast.sla_due_at - breast.status_changed_at == timedelta(hours=24)

    SlaTarget.objects.filter(status=Case.Status.QUEUED, subspecialty=None).update(hours=10)
    later = queued(alice, queue_id="neuroradiology")
    assert later.sla_due_at - later.status_changed_at == timedelta(hours=10)


def test_overdue_cases_are_flagged_once_and_coordinators_told(sam, alice):
    case = queued(alice)
    fresh = queued(alice)
    with time_machine.travel(case.sla_due_at + timedelta(minutes=1), tick=False):
        Case.objects.filter(pk=fresh.pk).update(sla_due_at=timezone.now() + timedelta(hours=1))
        assert triage.flag_overdue() == 1
        assert triage.flag_overdue() == 0
    case.refresh_from_db()
    assert case.sla_escalated_at is not None
    assert case.priority == Priority.HIGH
    assert "Past its target time" in last_event(case).message
    told = Notification.objects.get(user=sam, kind=Notification.Kind.SLA)
    assert told.case == case and case.short_code in told.title
    fresh.refresh_from_db()
    assert fresh.sla_escalated_at is None


def test_a_held_case_is_not_flagged(sam, alice):
    case = queued(alice)
    triage.put_on_hold(case, by=sam, reason="Payer on the phone.")
    with time_machine.travel(case.sla_due_at + timedelta(days=2), tick=False):
        assert triage.flag_overdue() == 0


def test_the_patient_sees_the_expected_dates(client, alice):
    case = queued(alice)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code]))
    expected = page.content.decode()
    assert "Next step expected by" in expected
    due = timezone.localtime(case.sla_due_at)
    assert f"{due:%A, %B} {due.day}" in expected
    assert "your report around" in expected


# Admin list and dashboard at scale -------------------------------------------------------------


def many_cases(patient, count: int) -> None:
    now = timezone.now()
    queues = list(Subspecialty.objects.values_list("slug", flat=True))
    statuses = [Case.Status.QUEUED, Case.Status.AWAITING_INSURANCE, Case.Status.IN_REVIEW]
    Case.objects.bulk_create(
        Case(
            patient=patient,
            patient_name=f"Patient {i}",
            status=statuses[i % 3],
            queue_id=queues[i % len(queues)],
            priority=i % 3,
            needs_coordinator=i % 7 == 0,
            status_changed_at=now - timedelta(hours=i % 100),
            sla_due_at=now + timedelta(hours=(i % 50) - 25),
            sla_warn_at=now + timedelta(hours=(i % 50) - 49),
        )
        for i in range(count)
    )


@pytest.mark.parametrize("count", [10, 10_000])
def test_case_list_queries_do_not_grow_with_cases(
    desk, alice, count, django_assert_max_num_queries
):
    many_cases(alice, count)
    with django_assert_max_num_queries(14):
        page = desk.get(reverse(CHANGELIST))
    assert page.status_code == 200
    with django_assert_max_num_queries(14):
        filtered = desk.get(reverse(CHANGELIST) + "?sla=breached&flag=coordinator")
    assert filtered.status_code == 200


def test_search_by_name_email_code_and_study(desk, alice, bob):
    mine = queued(alice, patient_name="Alice Moreau")
    theirs = queued(bob, patient_name="Bob Tanaka")
    upload = Upload.objects.create(case=theirs, uploaded_by=bob)
    Study.objects.create(
        case=theirs, upload=upload, study_instance_uid="1.2.826.0.1.3680043.8.498.1"
    )
    url = reverse(CHANGELIST)
    for term, expected in [
        ("Moreau", mine),
        ("bob@example.com", theirs),
        (mine.short_code, mine),
        ("1.2.826.0.1.3680043.8.498.1", theirs),
    ]:
        page = desk.post(url, {"q": term}, follow=True)  # the search box posts
        found = list(page.context["cl"].result_list)
        assert found == [expected], term


@pytest.mark.parametrize("count", [30, 600])
def test_dashboard_counts_with_constant_queries(desk, alice, count, django_assert_max_num_queries):
    many_cases(alice, count)
    with django_assert_max_num_queries(13):
        page = desk.get(reverse("admin:requests_app_case_dashboard"))
    assert page.status_code == 200
    totals = page.context["totals"]
    now = timezone.now()
    waiting = Case.objects.filter(
        status__in=[Case.Status.QUEUED, Case.Status.IN_REVIEW, Case.Status.AWAITING_INSURANCE]
    )
    assert totals["queued"] == waiting.filter(status=Case.Status.QUEUED).count()
    assert (
        totals["breached"] == waiting.filter(sla.state_filter(sla.State.BREACHED, now=now)).count()
    )
    assert len(page.context["breaching"]) == 10
    depths = {row["subspecialty"].pk: row.get("queued", 0) for row in page.context["queues"]}
    assert sum(depths.values()) == totals["queued"]


def test_dashboard_is_for_coordinators_only(client, alice):
    client.force_login(alice)
    page = client.get(reverse("admin:requests_app_case_dashboard"))
    assert page.status_code == 302 and "/login" in page["Location"]


def test_reassign_to_another_reviewer(desk, sam, alice, rita):
    other = make_user("omar@example.com", first_name="Omar")
    profile = ReviewerProfile.objects.create(user=other, display_name="Dr. Omar Haddad")
    profile.subspecialties.set([Subspecialty.objects.get(slug="neuroradiology")])
    case = queued(alice, queue_id="neuroradiology")
    act(desk, "assign_action", [case], reviewer=license(rita).pk)
    act(desk, "assign_action", [case], reviewer=license(other).pk)
    case.refresh_from_db()
    assert case.assigned_reviewer == profile
    assert [e.actor for e in case.events.order_by("-pk")[:2]] == [sam, sam]


def test_the_periodic_check_is_scheduled_and_flags(settings, sam, alice):
    entry = settings.CELERY_BEAT_SCHEDULE["check-sla"]
    assert entry["task"] == check_sla_task.name
    case = queued(alice)
    with time_machine.travel(case.sla_due_at + timedelta(seconds=1), tick=False):
        check_sla_task.apply()
    case.refresh_from_db()
    assert case.sla_escalated_at is not None


def test_demo_coordinator_can_log_in_with_the_printed_authenticator_key(client, db):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    line = next(x for x in out.getvalue().splitlines() if "coordinator@example.com" in x)
    key = line.split()[-1]
    call_command("seed_demo", stdout=io.StringIO())  # re-run: the same key stays valid

    assert (
        client.post(
            reverse("account_login"),
            {"login": "coordinator@example.com", "password": "second-opinion-demo"},
        ).status_code
        == 302
    )
    code = format_hotp_value(hotp_value(key, int(time.time()) // 30))
    client.post(reverse("mfa_authenticate"), {"code": code})
    assert client.get(reverse("admin:requests_app_case_dashboard")).status_code == 200
