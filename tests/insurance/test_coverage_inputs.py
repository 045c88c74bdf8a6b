"""The coverage check is run once per change of what it is run on (plan, rules, answers), stored,
and reused until one of them changes; a page shown on GET runs it in memory and stores nothing."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from insurance import services
from insurance.models import CaseInsurance, CoverageCheck
from requests_app.models import Case

from .conftest import insured_case

MA = "Evergreen Medicare Advantage Choice"
NOW = datetime(2026, 11, 18, 10, 30, tzinfo=ZoneInfo("America/Chicago"))
RULES_RAN = "reviewers_reviewerlicense"  # matching the offered reviewers reads their licences


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=True):
        yield


def _refresh(case) -> tuple[CoverageCheck, bool]:
    """The current check, and whether the rules ran to answer."""
    with CaptureQueriesContext(connection) as captured:
        check = services.refresh_coverage(case)
    return check, any(RULES_RAN in q["sql"] for q in captured.captured_queries)


def test_an_unchanged_check_is_reused_without_running_the_rules(alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    first, ran = _refresh(case)
    assert ran and first.inputs
    again, ran = _refresh(case)
    assert again == first and not ran
    assert CoverageCheck.objects.filter(case=case).count() == 1


def test_a_changed_answer_runs_the_rules_again(alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    first, _ = _refresh(case)
    insurance = CaseInsurance.objects.get(case=case)
    insurance.has_referral = "yes"
    insurance.save()
    second, ran = _refresh(case)
    assert ran and second.inputs != first.inputs


def test_a_plan_saved_runs_the_rules_again_and_keeps_the_same_answer(alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    first, _ = _refresh(case)
    plans[MA].save()  # its rules may have changed: the same answer, checked again
    second, ran = _refresh(case)
    assert ran and second.pk == first.pk and second.inputs != first.inputs
    assert CoverageCheck.objects.get(pk=first.pk).inputs == second.inputs
    third, ran = _refresh(case)
    assert third == second and not ran


def test_the_case_page_shows_a_changed_answer_and_stores_it_later(
    client, alice, plans, reviewers, django_capture_on_commit_callbacks
):
    case = insured_case(alice, plans[MA], review_type="clinical")
    Case.objects.filter(pk=case.pk).update(status=Case.Status.AWAITING_INSURANCE)
    first = services.refresh_coverage(case)
    Case.objects.filter(pk=case.pk).update(requested_subspecialty_id="breast")
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as stored_later:
        page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "None of the specialists of this kind" in page  # the new answer: a network gap
    assert list(CoverageCheck.objects.filter(case=case)) == [first]  # nothing written
    assert len(stored_later) == 1  # the worker stores it
    case.refresh_from_db()
    check, ran = _refresh(case)  # what the worker's task does
    assert ran and check != first and check.result["network_gap"] is True
    with django_capture_on_commit_callbacks() as stored_later:
        client.get(reverse("requests:case-detail", args=[case.code]))
    assert stored_later == []  # stored: reused from now on
