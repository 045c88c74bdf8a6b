"""Insurance in real Chromium: what a patient sees before committing, and a coordinator's approval.

Each test saves a screenshot of the page it is about in its tmp_path, for a person to look at.
"""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect

from insurance import services
from insurance.models import CaseInsurance, Plan, PriorAuthorization
from insurance.seeding import seed_insurance
from requests_app.models import Case
from tests.conftest import PASSWORD, make_case
from tests.insurance.conftest import make_reviewer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def network(db):
    """The demo plans; a neuroradiologist and a neurologist in the Medicare Advantage network, a
    breast imager outside it."""
    seed_insurance()
    lakeside = "Lakeside University Hospital"
    make_reviewer("Dr. Maya Lindqvist", lakeside, "neuroradiology", kind="radiologist")
    make_reviewer("Dr. Tomas Ek", lakeside, "neuroradiology", clinical_specialty="neurologist")
    make_reviewer("Dr. Priya Raman", "Harbor Breast Imaging Center", "breast", kind="radiologist")


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def uninsured_draft(patient, **fields) -> Case:
    """Every step done but insurance: the patient is about to answer it."""
    case = make_case(patient, complete=True, **fields)
    CaseInsurance.objects.filter(case=case).delete()
    return case


def save_and_continue(page: Page) -> None:
    page.get_by_role("button", name="Save and continue").click()


def test_medicare_patient_sees_coverage_then_the_network_gap_option(
    page: Page, live_server, alice, network, tmp_path, check_accessibility
):
    case = uninsured_draft(alice, review_type="both", clinical_specialty="oncologist")
    log_in(page, live_server.url, "alice@example.com")
    page.goto(f"{live_server.url}/cases/{case.code}/steps/insurance/")
    expect(page.get_by_role("heading", name="Your insurance")).to_be_visible()

    page.get_by_label("Medicare Advantage", exact=True).check()
    page.get_by_label("Your plan:").select_option(
        label="Evergreen Health: Evergreen Medicare Advantage Choice"
    )
    page.get_by_label("Member ID").fill("EVG-0042")
    page.get_by_label("No", exact=True).check()
    # Shown as the answers are given, before anything is saved.
    headline = page.get_by_test_id("coverage-headline")
    expect(headline).to_have_text("Covered, prior authorization required")
    coverage = page.get_by_test_id("coverage")
    expect(coverage).to_contain_text("We ask them for you once you submit")
    expect(page.get_by_test_id("estimate")).to_contain_text("$390.00")
    check_accessibility(page)
    coverage.screenshot(path=tmp_path / "coverage-result.png")
    page.screenshot(path=tmp_path / "insurance-step.png", full_page=True)
    save_and_continue(page)

    expect(page.get_by_role("heading", name="Choose your specialist")).to_be_visible()
    page.get_by_role("radio", name="Breast imager").check()
    save_and_continue(page)

    expect(page.get_by_role("heading", name="Review and submit")).to_be_visible()
    expect(page.get_by_test_id("coverage-headline")).to_have_text(
        "Covered, prior authorization required; no in-network specialist"
    )
    gap = page.get_by_test_id("network-gap")
    expect(gap).to_contain_text("network gap exception")
    expect(gap).to_contain_text("Or you can pay yourself: $700.00")
    check_accessibility(page)
    page.screenshot(path=tmp_path / "review-network-gap.png", full_page=True)

    page.get_by_role("button", name="Ask my insurer for a network gap exception").click()
    expect(page.get_by_role("status")).to_contain_text("We prepared the letter to your insurer")
    expect(page.get_by_test_id("paperwork")).to_contain_text(
        "Network gap exception: letter ready to send"
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Letter to your insurer (PDF)").click()
    assert download.value.suggested_filename == f"network-gap-exception-{case.short_code}.pdf"


def test_self_pay_patient_sees_the_price_before_submitting(
    page: Page, live_server, alice, network, tmp_path, check_accessibility
):
    case = uninsured_draft(alice)
    log_in(page, live_server.url, "alice@example.com")
    page.goto(f"{live_server.url}/cases/{case.code}/steps/insurance/")
    expect(page.get_by_test_id("plan-fields")).to_be_visible()
    page.get_by_label("No insurance: I'll pay myself").check()
    expect(page.get_by_test_id("coverage-headline")).to_have_text("Self-pay: $350.00")
    expect(page.get_by_test_id("plan-fields")).to_be_hidden()
    expect(page.get_by_test_id("hsa-fsa")).to_be_visible()
    save_and_continue(page)
    expect(page.get_by_role("heading", name="Choose your specialist")).to_be_visible()
    save_and_continue(page)

    expect(page.get_by_role("heading", name="Review and submit")).to_be_visible()
    expect(page.get_by_test_id("coverage-headline")).to_have_text("Self-pay: $350.00")
    expect(page.get_by_test_id("estimate")).to_contain_text("$350.00")
    expect(page.get_by_role("button", name="Submit my request")).to_be_visible()
    check_accessibility(page)
    page.screenshot(path=tmp_path / "review-self-pay.png", full_page=True)

    page.get_by_label("The information I gave is correct").check()
    page.get_by_role("button", name="Submit my request").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Submitted")
    expect(page.get_by_test_id("insurance-status")).to_contain_text("Self-pay: $350.00")
    check_accessibility(page)


def test_coordinator_records_a_prior_authorization_and_the_case_moves_on(
    page: Page, live_server, alice, sam, network, tmp_path, check_accessibility
):
    case = make_case(
        alice,
        complete=True,
        review_type="clinical",
        clinical_specialty="neurologist",
        queue_id="neuroradiology",
        status=Case.Status.AWAITING_INSURANCE,
    )
    CaseInsurance.objects.filter(case=case).update(
        plan=Plan.objects.get(name="Evergreen Medicare Advantage Choice"),
        plan_type="medicare_advantage",
    )
    services.open_paperwork(case)
    # Until requests_app/roles.py gives coordinators these permissions.
    sam.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_priorauthorization", "change_priorauthorization"]
        )
    )

    log_in(page, live_server.url, "alice@example.com")
    page.goto(f"{live_server.url}/cases/{case.code}/")
    expect(page.get_by_test_id("insurance-pending")).to_contain_text(
        "Prior authorization from your insurer: not approved yet."
    )
    check_accessibility(page)
    page.screenshot(path=tmp_path / "case-waiting.png", full_page=True)
    page.get_by_role("button", name="Log out").click()

    log_in(page, live_server.url, "sam@example.com")
    page.goto(live_server.url + "/admin/")
    page.get_by_role("link", name="Prior authorizations").click()
    page.get_by_role("link", name=case.short_code).click()
    page.get_by_label("Reference number").fill("EVG-PA-1187")
    page.get_by_role("button", name="Record approval").click()
    expect(page.locator(".messagelist")).to_contain_text(
        f"Case {case.short_code} is waiting for a specialist."
    )
    page.screenshot(path=tmp_path / "admin-approval.png", full_page=True)

    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED
    assert PriorAuthorization.objects.get(case=case).decided_by == sam
    page.get_by_role("button", name="Log out").click()

    log_in(page, live_server.url, "alice@example.com")
    page.goto(f"{live_server.url}/cases/{case.code}/")
    expect(page.get_by_test_id("case-status")).to_have_text("Waiting for a specialist")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text(
        "Prior authorization approved by Evergreen Health (reference EVG-PA-1187); "
        "recorded by Sam Okoro."
    )
    expect(timeline).to_contain_text("Insurance cleared: prior authorization approved.")
    check_accessibility(page)
