"""`transition`: the status, its timeline line and the patient's notification are one unit."""

import pytest
from django.db import DataError

from requests_app import services
from requests_app.models import Case, CaseEvent, Notification
from tests.conftest import make_case


def test_the_timeline_names_the_status_the_case_actually_left(alice):
    case = make_case(alice, complete=True, status=Case.Status.NEEDS_RECORDS)
    stale = Case.objects.get(pk=case.pk)
    # Meanwhile another request moved the case on: the object in hand no longer knows.
    Case.objects.filter(pk=case.pk).update(status=Case.Status.DRAFT)

    services.transition(
        stale,
        to=Case.Status.SUBMITTED,
        allowed_from=[Case.Status.DRAFT, Case.Status.NEEDS_RECORDS],
        by=alice,
        message="Request submitted.",
    )

    event = case.events.get(to_status=Case.Status.SUBMITTED)
    assert event.from_status == Case.Status.DRAFT


def test_a_transition_refused_on_the_row_changes_nothing(alice):
    case = make_case(alice, complete=True, status=Case.Status.QUEUED)
    stale = Case.objects.get(pk=case.pk)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.CLOSED)
    with pytest.raises(services.CaseError, match="closed"):
        services.transition(
            stale,
            to=Case.Status.NEEDS_RECORDS,
            allowed_from=[Case.Status.QUEUED],
            by=None,
            message="More records.",
        )
    assert not CaseEvent.objects.filter(case=case, to_status=Case.Status.NEEDS_RECORDS).exists()


@pytest.mark.django_db(transaction=True)
def test_a_status_is_never_changed_without_its_timeline_line(alice):
    case = make_case(alice, complete=True, status=Case.Status.SUBMITTED)
    with pytest.raises(DataError):
        services.transition(
            case,
            to=Case.Status.NEEDS_RECORDS,
            allowed_from=[Case.Status.SUBMITTED],
            by=None,
            message="x" * 301,  # longer than the timeline's column: its insert fails
        )
    case.refresh_from_db()
    assert case.status == Case.Status.SUBMITTED
    assert not CaseEvent.objects.filter(case=case, to_status=Case.Status.NEEDS_RECORDS).exists()
    assert not Notification.objects.filter(user=alice).exists()


def test_the_patients_email_waits_for_the_commit(alice, django_capture_on_commit_callbacks):
    case = make_case(alice, complete=True, status=Case.Status.SUBMITTED)
    with django_capture_on_commit_callbacks() as callbacks:
        services.transition(
            case,
            to=Case.Status.NEEDS_RECORDS,
            allowed_from=[Case.Status.SUBMITTED],
            by=None,
            message="More records.",
        )
        assert Notification.objects.filter(user=alice, case=case).exists()
    assert len(callbacks) == 1  # the e-mail task, sent once the change commits
