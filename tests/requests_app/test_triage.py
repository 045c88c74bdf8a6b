"""Coordinators triage in the admin: every action calls a service and names them on the timeline."""

import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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
DASHBOARD = "admin:requests_app_case_dashboard"
# A fixed moment (a Friday afternoon), so no clock here depends on the day the tests run.
NOW = datetime(2031, 3, 14, 20, 0, tzinfo=UTC)


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


@pytest.fixture
def desk_at_now(client, sam):
    """The desk with the clock stopped at NOW for the whole test, login included."""
    with time_machine.travel(NOW, tick=False):
        client.force_login(sam)
        yield client


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
    ReviewerLicense.objects.get_or_create(
        reviewer=user.reviewer_profile,
        state=state,
        defaults={"expires_on": timezone.localdate() + timedelta(days=365)},
    )
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
    assert list(page.context["cl"].result_list) == [case]  # may look, not act
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


def test_target_hours_run_on_the_clock_through_nights_and_weekends(alice):
    new_york = ZoneInfo("America/New_York")
    friday_evening = datetime(2031, 3, 14, 18, 0, tzinfo=new_york)
    with time_machine.travel(friday_evening, tick=False):
        case = queued(alice, queue_id="neuroradiology")  # 48 hours in the queue
    assert case.sla_due_at == datetime(2031, 3, 16, 18, 0, tzinfo=new_york)  # Sunday evening


@dataclass(frozen=True)
class Clocked:
    """A case with a known clock; offsets are from NOW, None for no time set."""

    name: str
    queue: str
    warn_in: timedelta | None
    due_in: timedelta | None
    on_hold: bool = False


H, M = timedelta(hours=1), timedelta(minutes=1)
CLOCKED = [
    Clocked("Ada Longpast", "neuroradiology", warn_in=-30 * H, due_in=-6 * H),
    Clocked("Ben Duenow", "breast", warn_in=-24 * H, due_in=0 * H),
    Clocked("Cy Lastminute", "general", warn_in=-(24 * H - M), due_in=M),
    Clocked("Di Warnednow", "general", warn_in=0 * H, due_in=24 * H),
    Clocked("Ed Nearlywarned", "general", warn_in=M, due_in=24 * H + M),
    Clocked("Flo Nowarning", "general", warn_in=None, due_in=2 * H),
    Clocked("Gus Held", "general", warn_in=-30 * H, due_in=-6 * H, on_hold=True),
    Clocked("Hal Noclock", "general", warn_in=None, due_in=None),
]
# What a coordinator must see at NOW, worked out by hand from the table: the cases under each
# SLA filter of the admin list, in the list's order (soonest due first).
LISTED = {
    "breached": ["Ada Longpast", "Ben Duenow"],  # due at or before now, not held
    "due_soon": ["Cy Lastminute", "Di Warnednow"],  # warned at or before now, not yet due
    "on_track": ["Flo Nowarning", "Ed Nearlywarned"],
    "on_hold": ["Gus Held"],  # past due, but its clock is stopped
    "none": ["Hal Noclock"],
}
# The "SLA due" column of the unfiltered list.
COLUMN = {
    "Ada Longpast": "past target",
    "Ben Duenow": "past target",
    "Cy Lastminute": "due soon",
    "Di Warnednow": "due soon",
    "Ed Nearlywarned": "on track",
    "Flo Nowarning": "on track",
    "Gus Held": None,
    "Hal Noclock": None,
}


@pytest.fixture
def clocked(alice) -> dict[str, Case]:
    """The cases of CLOCKED, waiting in their queues, with exactly the clocks the table gives."""
    cases = {}
    with time_machine.travel(NOW, tick=False):
        for row in CLOCKED:
            case = queued(alice, queue_id=row.queue, patient_name=row.name)
            Case.objects.filter(pk=case.pk).update(
                on_hold=row.on_hold,
                sla_warn_at=None if row.warn_in is None else NOW + row.warn_in,
                sla_due_at=None if row.due_in is None else NOW + row.due_in,
            )
            cases[row.name] = case
    return cases


@pytest.mark.parametrize("state", sorted(LISTED))
def test_each_sla_filter_lists_exactly_the_cases_in_that_state(desk_at_now, clocked, state):
    page = desk_at_now.get(reverse(CHANGELIST), {"sla": state})
    assert [case.patient_name for case in page.context["cl"].result_list] == LISTED[state]


def test_the_sla_column_says_where_each_case_stands(desk_at_now, clocked):
    body = desk_at_now.get(reverse(CHANGELIST)).content.decode()
    rows = re.findall(r"<tr[^>]*>.*?</tr>", body, flags=re.DOTALL)
    for name, label in COLUMN.items():
        (row,) = [r for r in rows if clocked[name].short_code in r]
        if label is None:
            assert 'class="sla-' not in row, name
        else:
            assert re.search(rf'class="sla-\w+">[^<]* \({label}\)</span>', row), name


def test_the_dashboard_shows_exactly_the_late_and_the_nearly_late(desk_at_now, clocked):
    page = desk_at_now.get(reverse(DASHBOARD))
    names = {key: [c.patient_name for c in page.context[key]] for key in ("breaching", "due_soon")}
    assert names == {"breaching": LISTED["breached"], "due_soon": LISTED["due_soon"]}
    totals = page.context["totals"]
    assert (totals["breached"], totals["due_soon"], totals["on_hold"]) == (2, 2, 1)
    late_by_queue = {
        row["subspecialty"].slug: row.get("breached", 0) for row in page.context["queues"]
    }
    assert {slug: n for slug, n in late_by_queue.items() if n} == {
        "neuroradiology": 1,
        "breast": 1,
    }  # Gus, past due in general, is on hold


# Admin list and dashboard at scale -------------------------------------------------------------


def many_cases(patient, count: int) -> None:
    """`count` cases; case i is late when i % 50 <= 25 and flagged when i % 7 == 0."""
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
    desk_at_now, alice, count, django_assert_max_num_queries
):
    many_cases(alice, count)
    with django_assert_max_num_queries(14):
        page = desk_at_now.get(reverse(CHANGELIST))
    with django_assert_max_num_queries(14):
        filtered = desk_at_now.get(reverse(CHANGELIST) + "?sla=breached&flag=coordinator")
    assert page.context["cl"].result_count == count
    assert len(page.context["cl"].result_list) == min(count, 50)  # one page
    late_and_flagged = {f"Patient {i}" for i in range(count) if i % 50 <= 25 and i % 7 == 0}
    assert filtered.context["cl"].result_count == len(late_and_flagged)
    shown = {case.patient_name for case in filtered.context["cl"].result_list}
    assert shown <= late_and_flagged and len(shown) == min(len(late_and_flagged), 50)


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


# Worked out by hand from many_cases: case i is queued when i % 3 == 0, late when
# i % 50 <= 25, due soon otherwise (its warning time is never later than now).
@pytest.mark.parametrize(
    ("count", "queued_count", "late", "nearly_late"), [(30, 10, 26, 4), (600, 200, 312, 288)]
)
def test_dashboard_counts_with_constant_queries(
    desk_at_now, alice, count, queued_count, late, nearly_late, django_assert_max_num_queries
):
    many_cases(alice, count)
    # 13 for the figures and lists, 4 for what must reach people: urgent findings and their
    # calls, results to deliver, and the licences and MQSA periods that lapse.
    with django_assert_max_num_queries(17):
        page = desk_at_now.get(reverse(DASHBOARD))
    totals = page.context["totals"]
    assert (totals["queued"], totals["breached"], totals["due_soon"]) == (
        queued_count,
        late,
        nearly_late,
    )
    # The ten latest cases, longest overdue first.
    overdue_since = sorted(NOW + timedelta(hours=i % 50 - 25) for i in range(count) if i % 50 <= 25)
    assert [c.sla_due_at for c in page.context["breaching"]] == overdue_since[:10]
    depths = {row["subspecialty"].pk: row.get("queued", 0) for row in page.context["queues"]}
    assert sum(depths.values()) == queued_count


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
