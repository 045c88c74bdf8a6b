"""The busy pages stay fast and read-only on GET.

- The patient's case page makes at most `CASE_PAGE_QUERIES` queries in every status of the case
  (draft to closed), full as a busy case is: several uploads (one rejected, with problems),
  studies and series, documents, messages (one from a doctor the report was shared with),
  records requests, notifications, insurance, an authorization and the signed report.
- The reviewer queue and the admin case list make as many queries with one case as with many.
- A GET of any of these pages, and of the reviewer's case page and the admin change page, writes
  nothing to the database but the page's one audit row.
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from insurance.seeding import seed_insurance
from insurance.services import refresh_coverage
from records import facility_requests
from records.models import Series, Study, Upload, UploadProblem
from requests_app import messaging, notifications, shares
from requests_app.access import joined_as_written
from requests_app.models import AuditEvent, Case, Notification
from reviewers import services as reviewer_services
from tests.conftest import make_case, make_user
from tests.reviewers.conftest import make_reviewer, queued_case, validated_case
from tests.security.access_states import STATES
from tests.security.access_world import World

CASE_PAGE_QUERIES = 12
NOW = datetime(2026, 11, 18, 10, 30, tzinfo=ZoneInfo("America/Chicago"))
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
AUDIT_TABLE = AuditEvent._meta.db_table


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def world(db, frozen, tmp_path):
    from django.contrib.auth.models import Group

    from requests_app.roles import COORDINATORS

    seed_insurance()
    alice = make_user("alice@example.com", first_name="Alice", last_name="Moreau")
    coordinator = make_user("sam@example.com", is_staff=True)
    coordinator.groups.add(Group.objects.get(name=COORDINATORS))
    users = {
        "alice": alice,
        "coordinator": coordinator,
        "reviewer": make_reviewer("nils@example.com", "Dr. Nils Berg").user,
        "unassigned_reviewer": make_reviewer("rita@example.com", "Dr. Rita Novak").user,
    }
    case, _ = validated_case(alice, tmp_path)
    _fill(case, alice, coordinator)
    refresh_coverage(case)
    return World(users=users, values={"case": case})


def _fill(case: Case, alice, coordinator) -> None:
    """What a busy case holds besides its checked MRI: a rejected first upload, a second study
    of three series, messages both ways, two records requests and unread notifications."""
    rejected = Upload.objects.create(
        case=case, uploaded_by=alice, status=Upload.Status.INVALID, file_count=2, total_bytes=9
    )
    for code, severity in (("truncated", "error"), ("pdf_document", "warning")):
        UploadProblem.objects.create(
            upload=rejected, code=code, severity=severity, path="CD/X", message="See this file."
        )
    second = Upload.objects.create(
        case=case, uploaded_by=alice, status=Upload.Status.VALID, file_count=3, total_bytes=9
    )
    study = Study.objects.create(
        case=case, upload=second, study_instance_uid="1.2.3", modalities="MR", series_count=3
    )
    for number in (1, 2, 3):
        Series.objects.create(
            study=study,
            series_instance_uid=f"1.2.3.{number}",
            modality="MR",
            series_number=number,
            preview_key=f"{second.prefix}previews/{number}.png",
        )
    messaging.send_message(case, by=coordinator, body="We have your images.", from_care_team=True)
    messaging.send_message(case, by=alice, body="Thank you.", from_care_team=False)
    for facility in ("Springfield General", "Lakeside Imaging"):
        values = {**facility_requests.initial_values(case), "facility_name": facility}
        facility_requests.create_draft(case, by=alice, fields=values)
    for title in ("Your request moved on", "A new message"):
        notifications.notify(alice, kind=Notification.Kind.STATUS, title=title, case=case)


def _shared_and_answered(case: Case, alice) -> None:
    """The signed report shared with a doctor, who replied."""
    new = shares.create_share(
        case,
        by=alice,
        recipient_name="Dr. Ortiz",
        recipient_email="o@example.com",
        sent_to_doctor=True,
    )
    shares.reply(new.share, "Thank you, I will see her next week.")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _writes(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if WRITE.match(q["sql"])]


def _listing(captured) -> str:
    return "\n".join(q["sql"][:150] for q in captured.captured_queries)


def _only_the_audit_row(writes: list[str], *, audited: bool = True) -> None:
    audit = [
        sql
        for sql in writes
        if sql.lstrip().upper().startswith(f'INSERT INTO "{AUDIT_TABLE.upper()}"')
    ]
    others = [sql for sql in writes if sql not in audit]
    assert not others, "a GET wrote:\n" + "\n".join(others)
    assert len(audit) == (1 if audited else 0), writes


# One state of the case for each status: the first the access matrix brings it to.
STATE_OF_STATUS = {
    status: next(name for name, (_, state) in STATES.items() if state.status == status)
    for status in Case.Status.values
}


@pytest.mark.parametrize("status", Case.Status.values)
def test_case_page_queries_and_writes_in_every_status(status, world):
    case = world.values["case"]
    move, state = STATES[STATE_OF_STATUS[status]]
    move(case, world)
    case.refresh_from_db()
    assert case.status == status
    if state.signed:
        _shared_and_answered(case, world.users["alice"])
    refresh_coverage(case)  # as the worker does once a page found its inputs changed
    client = _client(world.users["alice"])
    url = reverse("requests:case-detail", args=[case.code])
    with CaptureQueriesContext(connection) as first:
        assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as again:
        page = client.get(url)
    assert page.status_code == 200
    _only_the_audit_row(_writes(first))
    _only_the_audit_row(_writes(again))
    # The page shows all it holds: what the count is about.
    html = page.content.decode()
    assert "Lakeside Imaging" in html and "See this file." in html
    if status != Case.Status.DRAFT:  # a draft's messages show once it is sent
        assert "We have your images." in html and "Thank you." in html
    assert html.count('src="/cases/') == 5  # the previews of both studies' series
    unread = Notification.objects.filter(user=world.users["alice"], read_at__isnull=True)
    assert page.context["unread_notifications"] == unread.count() >= 2
    if state.signed:
        assert "Dr. Ortiz, who you shared your report with" in html
        assert "What next?" in html  # the question on the report
    assert len(first) <= CASE_PAGE_QUERIES, _listing(first)
    assert len(again) <= CASE_PAGE_QUERIES, _listing(again)


# --- The reviewer's queue and case page -----------------------------------------------------


def _queue_queries(client) -> CaptureQueriesContext:
    url = reverse("reviewers:portal")
    client.get(url)  # per-process caches (content types, permissions) are filled once
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return captured


def test_reviewer_queue_makes_as_many_queries_with_many_cases_as_with_one(world):
    alice, nils = world.users["alice"], world.users["reviewer"]
    held = queued_case(alice)
    reviewer_services.claim_case(held, reviewer=nils.reviewer_profile, by=nils)
    client = _client(nils)
    one = _queue_queries(client)  # one case waiting in the queue, one the reviewer holds
    for n in range(6):
        queued_case(alice, patient_state="IL" if n % 2 else "WI")
    for _ in range(3):  # and some the reviewer holds
        held = queued_case(alice)
        reviewer_services.claim_case(held, reviewer=nils.reviewer_profile, by=nils)
    many = _queue_queries(client)
    assert Case.objects.filter(status=Case.Status.QUEUED).count() >= 7
    assert len(many) == len(one), _listing(many)
    _only_the_audit_row(_writes(many), audited=False)


def test_reviewer_case_page_writes_nothing_but_its_audit_row(world):
    case, nils = world.values["case"], world.users["reviewer"]
    reviewer_services.claim_case(case, reviewer=nils.reviewer_profile, by=nils)
    client = _client(nils)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("reviewers:case-detail", args=[case.code])).status_code == 200
    _only_the_audit_row(_writes(captured))


# --- The admin's case list and change page --------------------------------------------------


def _admin_list_queries(client) -> CaptureQueriesContext:
    url = reverse("admin:requests_app_case_changelist")
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return captured


def test_admin_case_list_makes_as_many_queries_with_many_cases_as_with_one(world):
    alice, client = world.users["alice"], _client(world.users["coordinator"])
    profiles = [world.users[role].reviewer_profile for role in ("reviewer", "unassigned_reviewer")]
    Case.objects.filter(pk=world.values["case"].pk).update(assigned_reviewer=profiles[0])
    one = _admin_list_queries(client)  # one case, queued and assigned
    for n, status in enumerate((Case.Status.DRAFT, Case.Status.IN_REVIEW, Case.Status.CLOSED) * 4):
        queue = ("neuroradiology", "breast", "musculoskeletal")[n % 3]
        make_case(
            alice, complete=True, status=status, queue_id=queue, assigned_reviewer=profiles[n % 2]
        )
    many = _admin_list_queries(client)
    assert len(many) == len(one), _listing(many)
    _only_the_audit_row(_writes(many), audited=False)


def test_admin_case_page_writes_nothing_but_its_audit_row(world):
    case, client = world.values["case"], _client(world.users["coordinator"])
    url = reverse("admin:requests_app_case_change", args=[case.pk])
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    _only_the_audit_row(_writes(captured))


@pytest.mark.django_db(transaction=True)
def test_only_the_case_query_is_planned_in_the_order_it_is_written():
    def limit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW join_collapse_limit")
            return cursor.fetchone()[0]

    default = limit()
    with joined_as_written():
        assert limit() == "1"
    assert limit() == default != "1"
