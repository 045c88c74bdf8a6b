"""The coordinators' admin on a 1280 px screen: the case list fits, the case page and the
dashboard pass axe, and counts of zero do not look like alarms."""

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from insurance.seeding import seed_insurance
from requests_app.models import Case
from requests_app.services import transition
from tests.browser.test_insurance import log_in
from tests.requests_app.test_triage import queued
from tests.reviewers.conftest import make_reviewer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WIDE = {"width": 1280, "height": 900}


def _in_review(patient, reviewer) -> Case:
    case = queued(patient, queue_id="neuroradiology", patient_name="Alexandra Montgomery-Smith")
    Case.objects.filter(pk=case.pk).update(needs_coordinator=True, on_hold=False)
    transition(
        case,
        to=Case.Status.IN_REVIEW,
        allowed_from=[Case.Status.QUEUED],
        by=None,
        message="Assigned.",
        assigned_reviewer=reviewer,
    )
    return case


def test_the_case_list_fits_1280_px_with_due_time_reviewer_status_and_flags(
    page: Page, live_server, alice, sam, check_accessibility
):
    reviewer = make_reviewer("r@example.com", "Dr. Maximiliana Reviewer-Longname")
    _in_review(alice, reviewer)
    page.set_viewport_size(WIDE)
    log_in(page, live_server.url, "sam@example.com")
    page.goto(f"{live_server.url}/admin/requests_app/case/")
    expect(page.locator("#result_list").get_by_text("Dr. Maximiliana")).to_be_visible()
    overflow = page.evaluate(
        """() => {
          const results = document.querySelector('#changelist .results');
          return {page: document.documentElement.scrollWidth - window.innerWidth,
                  table: results.scrollWidth - results.clientWidth};
        }"""
    )
    assert overflow["page"] <= 0 and overflow["table"] <= 0, overflow
    for column in ["status", "flags", "sla_due", "assigned_reviewer"]:
        box = page.locator(f"#result_list th.column-{column}").bounding_box()
        assert box and box["x"] + box["width"] <= WIDE["width"], column
    check_accessibility(page)


def test_the_case_page_and_dashboard_pass_axe_and_zeros_are_neutral(
    page: Page, live_server, alice, sam, check_accessibility
):
    seed_insurance()
    case = queued(alice)
    page.set_viewport_size(WIDE)
    log_in(page, live_server.url, "sam@example.com")
    page.goto(f"{live_server.url}/admin/requests_app/case/{case.pk}/change/")
    expect(page.get_by_label("Self pay chosen at: time")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("link", name="Access log").click()
    expect(page.get_by_role("link", name=f"Case {case.short_code}")).to_be_visible()
    check_accessibility(page)

    page.goto(f"{live_server.url}/admin/requests_app/case/dashboard/")
    zero = page.locator("#dash-now td.figure").first
    expect(zero).to_have_text("0")
    body = page.evaluate("() => getComputedStyle(document.body).color")
    assert zero.evaluate("e => getComputedStyle(e).color") == body
    check_accessibility(page)
    assert timezone.now()
