"""A patient on a 360 px phone: every page from sign-up to the report fits, with nothing to scroll
sideways, and passes axe at that size. Screenshots of each page, at phone and desktop size, go to
SCREENSHOT_DIR when it is set, for a person to look at."""

import os
import re
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from requests_app.models import Case
from reviewers import services
from tests.browser.test_patient_journey import _continue, _fill_patient_and_scan
from tests.browser.test_review_journey import (
    migrated_data,  # noqa: F401 (a fixture)
)
from tests.conftest import PASSWORD, make_pdf
from tests.reviewers.conftest import make_reviewer, validated_case

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("migrated_data"),
]

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
SHOTS = os.environ.get("SCREENSHOT_DIR")


@pytest.fixture
def fits(page: Page, check_accessibility):
    """Check the page as a phone shows it; keep a picture of it at both sizes."""
    page.set_viewport_size(PHONE)

    def check(name: str) -> None:
        page.wait_for_load_state("load")
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{name} ({page.url}) scrolls sideways: {width}"
        check_accessibility(page)
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{SHOTS}/{name}-360.png", full_page=True)
            page.set_viewport_size(DESKTOP)
            page.screenshot(path=f"{SHOTS}/{name}-1280.png", full_page=True)
            page.set_viewport_size(PHONE)

    return check


def main_menu(page: Page):
    """The header's menu: collapsed on a phone, opened to reach its links."""
    # The button appears once the page's script has run; until then the links simply wrap.
    page.wait_for_load_state("load")
    toggle = page.get_by_role("button", name="Menu")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    return page.get_by_role("navigation", name="Main")


def test_a_patient_on_a_phone_walks_from_sign_up_to_submitting(
    page: Page, live_server, tmp_path, fits, settings
):
    settings.SITE_URL = live_server.url
    page.set_viewport_size(PHONE)
    page.goto(live_server.url)
    fits("01-landing")
    expect(page.get_by_role("button", name="Menu")).to_be_visible()
    main_menu(page).get_by_role("button", name="Get started").click()
    fits("02-sign-up")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    fits("03-verify-email")
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    fits("04-confirm-email")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    fits("05-no-requests")

    page.get_by_role("button", name="Start a new request").click()
    fits("06-step-patient")
    step_menu = page.get_by_role("navigation", name="Progress")
    box = step_menu.get_by_role("list").bounding_box()
    line = step_menu.get_by_role("listitem").first.bounding_box()
    assert box["height"] < 2.5 * line["height"], "the step menu wraps into three rows"
    page.get_by_label("Full name").fill("Alice Moreau")
    page.get_by_label("Date of birth").fill("1971-04-02")
    page.get_by_label("State where the patient lives").select_option("IL")
    _continue(page)
    fits("07-step-scan")
    page.get_by_role("navigation", name="Progress").get_by_role("link", name="Patient").click()
    _fill_patient_and_scan(page)

    expect(page.get_by_role("heading", name="What would you like")).to_be_visible()
    fits("08-step-question")
    page.get_by_label("I was told I have a serious condition").check()
    page.get_by_label("Your question").fill("Is the lesion a tumour, and does it need surgery?")
    _continue(page)

    expect(page.get_by_role("heading", name="Your records")).to_be_visible()
    expect(page.locator("[data-study-uploader]")).to_contain_text("Choose files")
    expect(page.locator("[data-study-uploader]")).not_to_contain_text("Drop files here")
    fits("09-step-records")
    report = tmp_path / "mri-report.pdf"
    report.write_bytes(make_pdf(pages=2))
    page.get_by_label("PDF file").set_input_files(report)
    page.get_by_role("button", name="Add report").click()
    expect(page.get_by_test_id("documents")).to_contain_text("mri-report.pdf")
    fits("10-step-records-with-report")
    _continue(page)

    expect(page.get_by_role("heading", name="Permission to share your records")).to_be_visible()
    fits("11-step-authorization")
    page.get_by_label("Type your full name to sign").fill("Alice Moreau")
    page.get_by_label("I have read this authorization").check()
    page.get_by_role("button", name="Sign and continue").click()

    expect(page.get_by_role("heading", name="Your insurance")).to_be_visible()
    fits("12-step-insurance")
    page.get_by_label("Medicare", exact=True).check()
    page.get_by_label("Insurance company").fill("Medicare")
    page.get_by_label("Member ID").fill("1EG4-TE5-MK72")
    page.get_by_label("No", exact=True).check()
    _continue(page)

    expect(page.get_by_role("heading", name="Choose your specialist")).to_be_visible()
    fits("13-step-specialist")
    _continue(page)

    expect(page.get_by_role("heading", name="Review and submit")).to_be_visible()
    fits("14-step-review")
    page.get_by_label("The information I gave is correct").check()
    page.get_by_role("button", name="Submit my request").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Submitted")
    fits("15-case-submitted")

    page.get_by_role("link", name="See, download or revoke your authorization").click()
    fits("16-authorization")
    main_menu(page).get_by_role("link", name="My requests").click()
    expect(page.get_by_role("link", name=re.compile("^Open"))).to_be_visible()
    fits("17-requests")
    main_menu(page).get_by_role("link", name="Notifications").click()
    fits("18-notifications")
    main_menu(page).get_by_role("link", name="Guide").click()
    fits("19-guide")
    main_menu(page).get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Menu")).to_be_visible()
    fits("20-logged-out")
    assert Case.objects.get(patient__email="alice@example.com").status == Case.Status.SUBMITTED


def test_a_patient_on_a_phone_reads_the_report(page: Page, live_server, alice, tmp_path, fits):
    case, _ = validated_case(alice, tmp_path / "upload")
    rita = make_reviewer("rita@example.com", "Dr. Rita Neuro")
    opinion = services.claim_case(case, reviewer=rita, by=rita.user)
    opinion = case.opinions.get()
    services.file_blind_read(
        opinion, by=rita.user, findings="A 9 mm meningioma.", impression="Benign; watch it."
    )
    services.grade_concordance(
        opinion, by=rita.user, radpeer="1", patient_summary="The growth is benign."
    )
    services.sign_report(opinion, by=rita.user, signed_name="Dr. Rita Neuro")

    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/accounts/login/")
    fits("21-log-in")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    fits("22-requests-report-ready")
    page.get_by_role("link", name=re.compile("^Open")).click()
    expect(page.get_by_test_id("case-status")).to_have_text("Report ready")
    fits("23-case-report")
