"""A patient in real Chromium asks the imaging facility for their records and follows the clock."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from records.models import RecordsRequest
from tests.browser.test_insurance import log_in
from tests.conftest import make_case
from tests.insurance.test_views import pdf_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_patient_asks_the_facility_for_records_from_the_case_page(
    page: Page, live_server, alice, tmp_path, check_accessibility
):
    case = make_case(alice, complete=True)
    log_in(page, live_server.url, "alice@example.com")
    page.goto(f"{live_server.url}/cases/{case.code}/")
    page.get_by_role("link", name="Ask a facility for your records").click()

    expect(page.get_by_role("heading", name="Ask for your records")).to_be_visible()
    expect(page.get_by_label("Facility:", exact=True)).to_have_value("Springfield General Hospital")
    expect(page.get_by_label("Date of the scan")).to_have_value("2026-10-14")
    expect(page.get_by_label("The full DICOM image files of the exam")).to_be_checked()
    page.get_by_label("On a USB stick").check()
    page.get_by_label("Where to send them").fill("12 Elm St\nSpringfield, IL 62701")
    check_accessibility(page)
    page.get_by_role("button", name="Prepare the letter").click()

    expect(page.get_by_role("heading", name="Your records request")).to_be_visible()
    letter = page.get_by_test_id("letter-preview")
    expect(letter).to_contain_text("Springfield General Hospital")
    expect(letter).to_contain_text("Please provide them on a USB drive.")
    expect(letter).to_contain_text("Please send them to:")
    expect(letter).to_contain_text("12 Elm St")
    page.get_by_label("Type your full name to sign").fill("Alice Moreau")
    page.get_by_label("I have read this letter and I ask for these records.").check()
    page.get_by_role("button", name="Sign the letter").click()

    expect(page.get_by_text("Signed by Alice Moreau")).to_be_visible()
    check_accessibility(page)
    page.screenshot(path=tmp_path / "records-request-signed.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the letter (PDF)").click()
    text = " ".join(pdf_text(download.value.path().read_bytes()).split())
    assert "Springfield General Hospital" in text
    assert "DICOM image files" in text and "45 CFR 164.524" in text

    today = timezone.localdate()
    expect(page.get_by_label("The day you sent it")).to_have_value(today.isoformat())
    page.get_by_label("By fax").check()
    page.get_by_role("button", name="I sent it").click()

    # Faxed today: the facility has it by tomorrow, and 30 days from then.
    due = today + timedelta(days=31)
    expect(page.get_by_test_id("records-request-due")).to_contain_text(f"{due:%B} {due.day}")
    expect(page.get_by_test_id("records-request-days-left")).to_have_text("31")
    expect(page.get_by_test_id("records-request-status")).to_have_text(
        "Sent, waiting for the facility"
    )
    check_accessibility(page)
    page.screenshot(path=tmp_path / "records-request-clock.png", full_page=True)

    page.get_by_role("link", name="Back to your request").click()
    expect(page.get_by_test_id("records-requests")).to_contain_text(f"{due:%b} {due.day}")
    assert RecordsRequest.objects.get(case=case).due_on == due
