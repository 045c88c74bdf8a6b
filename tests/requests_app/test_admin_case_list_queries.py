"""The coordinators' case list costs as many queries with a few hundred cases as with a few.

The cases are the benchmark's (`bench/seed.py`): each with its own patient, insurance, upload,
study, timeline and audit rows, some flagged. The list is read as it opens, sorted by each
column and filtered by each flag: a column, a filter or a sort that reads something per case
makes the count grow with the cases and fails here.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench import seed
from bench.logins import logged_in_client
from records.models import UploadProblem
from requests_app.admin import FLAGS, CaseAdmin
from requests_app.models import Case

LIST = reverse("admin:requests_app_case_changelist")
# The list as it opens, sorted by each of its sortable columns (the checkbox is column 0), and
# filtered by each flag and by the SLA filter's "late".
SORTS = [f"?o={n}" for n, name in enumerate(CaseAdmin.list_display, start=1) if name != "flags"]
FILTERS = [f"?flag={key}" for key in ("mismatch", "urgent_finding", "result_due", "coordinator")]
URLS = [LIST] + [LIST + query for query in [*SORTS, *FILTERS, "?sla=breached&o=8"]]


def _queries(client, url: str) -> int:
    client.get(url)  # per-process caches (content types, permissions) are filled once
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def _flag_some(cases) -> None:
    """Every flag the list shows, on cases of this batch: the columns then read them."""
    now = timezone.now()
    first, second, third = cases[:3]
    Case.objects.filter(pk=first.pk).update(
        urgent_finding_at=now - timedelta(hours=1),
        needs_coordinator=True,
        on_hold=False,
        sla_due_at=now - timedelta(hours=1),
    )
    Case.objects.filter(pk=second.pk).update(result_due_at=now + timedelta(days=5))
    upload = third.uploads.first()
    UploadProblem.objects.create(
        upload=upload, code="patient_mismatch", severity="warning", message="Not the patient."
    )


def _open_cases():
    """Submitted cases a specialist has not read yet: each has an upload, no report opened."""
    return Case.objects.filter(status__in=seed.OPEN).order_by("-pk")


@pytest.mark.django_db
def test_case_list_queries_do_not_grow_with_the_cases():
    people = seed.people()
    seed.cases(people, 40, seed=1)
    _flag_some(list(_open_cases()[:3]))
    client = logged_in_client(people.coordinator)
    few = {url: _queries(client, url) for url in URLS}

    seed.cases(people, 300, seed=2)
    _flag_some(list(_open_cases()[:3]))
    many = {url: _queries(client, url) for url in URLS}

    assert many == few
    page = client.get(LIST)
    assert page.context["cl"].result_count == Case.objects.count() == 340
    assert len(page.context["cl"].result_list) == CaseAdmin.list_per_page
    # The flags read for the page alone are those of the page's cases.
    for key, word in (("mismatch", "patient mismatch"), ("result_due", "deliver result by")):
        flagged = client.get(f"{LIST}?flag={key}")
        expected = Case.objects.filter(FLAGS[key][1]).count()
        assert flagged.context["cl"].result_count == expected >= 2
        assert flagged.content.decode().count(word) == expected


@pytest.mark.django_db
def test_a_search_by_email_or_study_uid_never_sets_the_whole_list_apart_from_duplicates():
    people = seed.people()
    seed.cases(people, 60, seed=3)
    case = _open_cases().first()
    uid = case.studies.get().study_instance_uid
    client = logged_in_client(people.coordinator)
    for term in (uid, case.patient.email):
        with CaptureQueriesContext(connection) as captured:
            page = client.post(LIST, {"q": term}, follow=True)  # the search box posts
        assert case in page.context["cl"].result_list, term
        assert not [q["sql"] for q in captured.captured_queries if "DISTINCT" in q["sql"]]
