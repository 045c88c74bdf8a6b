"""A patient in real Chromium: sign up, confirm the e-mail, walk the wizard, submit."""

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from requests_app.models import Case
from tests.conftest import PASSWORD, make_pdf, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _continue(page: Page) -> None:
    page.get_by_role("button", name="Save and continue").click()


def _fill_patient_and_scan(page: Page) -> None:
    expect(page.get_by_role("heading", name="Who is the second opinion for?")).to_be_visible()
    page.get_by_label("Full name").fill("Alice Moreau")
    page.get_by_label("Date of birth").fill("1971-04-02")
    page.get_by_label("State where the patient lives").select_option("IL")
    _continue(page)
    expect(page.get_by_role("heading", name="About the scan")).to_be_visible()
    page.get_by_label("MRI", exact=True).check()
    page.get_by_label("Part of the body").select_option("brain")
    page.get_by_label("Date of the scan").fill("2026-10-14")
    page.get_by_label("Where the scan was done").fill("Springfield General Hospital")
    page.get_by_label("City and state").fill("Springfield, IL")
    _continue(page)


def test_new_patient_signs_up_and_submits_a_request(
    page: Page, live_server, tmp_path, check_accessibility, settings
):
    settings.SITE_URL = live_server.url  # e-mail links are built from it, as in production
    page.goto(live_server.url)
    check_accessibility(page)
    page.get_by_role("button", name="Get started").first.click()
    check_accessibility(page)
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    assert len(mail.outbox) == 1
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body).group(0)
    assert link.startswith(live_server.url)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()

    page.get_by_role("button", name="Start a new request").click()
    check_accessibility(page)
    _fill_patient_and_scan(page)

    expect(page.get_by_role("heading", name="What would you like")).to_be_visible()
    check_accessibility(page)
    page.get_by_label("I was told I have a serious condition").check()
    page.get_by_label("Your question").fill("Is the lesion a tumour, and does it need surgery?")
    _continue(page)

    expect(page.get_by_role("heading", name="Your records")).to_be_visible()
    check_accessibility(page)
    report = tmp_path / "mri-report.pdf"
    report.write_bytes(make_pdf(pages=2))
    page.get_by_label("PDF file").set_input_files(report)
    page.get_by_role("button", name="Add report").click()
    expect(page.get_by_role("status")).to_contain_text("Original radiology report added.")
    expect(page.get_by_test_id("documents")).to_contain_text("mri-report.pdf")
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", name="Permission to share your records")).to_be_visible()
    check_accessibility(page)
    expect(page.get_by_label("Authorization text")).to_contain_text("Springfield General Hospital")
    page.get_by_label("Type your full name to sign").fill("Alice Moreau")
    page.get_by_label("I have read this authorization").check()
    page.get_by_role("button", name="Sign and continue").click()

    expect(page.get_by_role("heading", name="Your insurance")).to_be_visible()
    check_accessibility(page)
    page.get_by_label("Medicare", exact=True).check()
    page.get_by_label("Insurance company").fill("Medicare")
    page.get_by_label("Member ID").fill("1EG4-TE5-MK72")
    page.get_by_label("No", exact=True).check()
    _continue(page)

    expect(page.get_by_role("heading", name="Choose your specialist")).to_be_visible()
    check_accessibility(page)
    expect(page.get_by_test_id("suggestion")).to_contain_text("neuroradiologist")
    _continue(page)

    expect(page.get_by_role("heading", name="Review and submit")).to_be_visible()
    expect(page.get_by_test_id("review-reviewer")).to_have_text(
        "Read by the first available specialist"
    )
    check_accessibility(page)
    page.get_by_label("The information I gave is correct").check()
    page.get_by_role("button", name="Submit my request").click()

    expect(page.get_by_test_id("case-status")).to_have_text("Submitted")
    check_accessibility(page)
    timeline = page.get_by_test_id("timeline")
    for line in [
        "Request started.",
        "Original radiology report added.",
        "HIPAA authorization signed.",
        "Insurance details added.",
        "Request submitted.",
    ]:
        expect(timeline).to_contain_text(line)
    case = Case.objects.get(patient__email="alice@example.com")
    assert case.status == Case.Status.SUBMITTED
    assert case.requested_subspecialty_id == "neuroradiology"

    # The signed authorization is hers to read, download and revoke from the case page.
    page.get_by_role("link", name="See, download or revoke your authorization").click()
    signed = page.get_by_label("Signed authorization")
    expect(signed).to_contain_text("Patient: Alice Moreau")
    expect(signed).to_contain_text("Date signed:")
    check_accessibility(page)
    page.get_by_role("button", name="Revoke my authorization").click()
    expect(page.get_by_test_id("authorization-status")).to_contain_text("revoked on")
    expect(page.get_by_test_id("revocation-meaning").first).to_contain_text(
        "It does not undo what was shared before"
    )


def test_patient_resumes_a_half_finished_draft_after_logging_in_again(page: Page, live_server):
    make_user("alice@example.com", first_name="Alice")
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("button", name="Start a new request").click()
    _fill_patient_and_scan(page)
    expect(page.get_by_role("heading", name="What would you like")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()

    page.get_by_role("link", name=re.compile("^Continue")).click()
    expect(page.get_by_test_id("case-status")).to_have_text("Draft")
    page.get_by_role("button", name="Continue your request").click()
    expect(page.get_by_role("heading", name="What would you like")).to_be_visible()
    page.get_by_role("navigation", name="Progress").get_by_role("link", name="Scan").click()
    expect(page.get_by_label("Where the scan was done")).to_have_value(
        "Springfield General Hospital"
    )
    expect(page.get_by_label("MRI", exact=True)).to_be_checked()
