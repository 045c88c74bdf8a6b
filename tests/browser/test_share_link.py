"""In Chromium: alice shares her second opinion with her doctor, who has no account.

The doctor opens the link in another browser, enters the passcode, reads the report, looks at
the images in the site's viewer and downloads the study; alice sees the opening and revokes the
link; the doctor's next request is refused with the site's plain 404 page.
"""

import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from requests_app.models import AuditEvent, Share
from tests.browser.test_review_journey import _log_in, migrated_data  # noqa: F401  (a fixture)
from tests.reviewers.conftest import make_reviewer, validated_case
from tests.reviewers.test_reviewer_desk import _signed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_doctor_reads_a_shared_report_until_the_patient_revokes_it(
    migrated_data,  # noqa: F811
    page: Page,
    browser,
    browser_problems,
    live_server,
    settings,
    alice,
    rita,
    tmp_path,
    check_accessibility,
):
    settings.SITE_URL = live_server.url
    case, files = validated_case(alice, tmp_path / "upload")
    _signed(case, make_reviewer(rita.email, "Dr. Rita Novak", user=rita))
    base = live_server.url

    _log_in(page, base, alice.email)
    page.goto(base + f"/cases/{case.code}/")
    page.get_by_test_id("share-link").click()
    page.get_by_label("Their name").fill("Dr. Lee")
    page.get_by_role("button", name="Make the link and passcode").click()
    link = page.get_by_test_id("share-url").input_value()
    passcode = page.get_by_test_id("share-passcode").inner_text()
    assert link.startswith(base + "/s/") and len(passcode) == 6
    check_accessibility(page)
    # Reloading the page the form led to makes no second share, and shows the passcode no more.
    page.reload()
    expect(page.get_by_test_id("share-passcode")).to_have_count(0)
    assert Share.objects.filter(case=case).count() == 1

    doctor_context = browser.new_context()
    doctor = doctor_context.new_page()
    browser_problems.watch(doctor)
    doctor.goto(link)
    doctor.get_by_label("Passcode").fill(passcode)
    doctor.get_by_role("button", name="Open").click()
    expect(doctor.get_by_test_id("share-notice")).to_contain_text("Dr. Lee")
    expect(doctor.get_by_test_id("patient-summary")).to_contain_text("Plain words.")
    check_accessibility(doctor)
    doctor.get_by_test_id("share-viewer").click()
    viewer = doctor.get_by_test_id("viewer")
    expect(viewer).to_have_attribute("data-ready", "true", timeout=20_000)
    status = viewer.locator("[data-status]")
    expect(status).to_contain_text("Image 1 of 6")
    viewer.get_by_role("button", name="Next image").click()
    expect(status).to_contain_text("Image 2 of 6")
    check_accessibility(doctor)
    assert AuditEvent.objects.filter(target_type="shared-study-viewer").count() == 1
    doctor.get_by_role("link", name="back to the second opinion").click()
    with doctor.expect_download() as download:
        doctor.get_by_test_id("study-zip").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        assert len(archive.namelist()) == len(files)
    with doctor.expect_download() as pdf:
        doctor.get_by_role("link", name="Download the signed report (PDF)").click()
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF-")

    page.goto(base + f"/cases/{case.code}/shares/")
    expect(page.get_by_test_id("share")).to_contain_text("opened 1 of 20 times")
    expect(page.get_by_test_id("share-opens")).to_be_visible()
    page.get_by_role("button", name="Revoke the link for Dr. Lee").click()
    expect(page.get_by_test_id("share-state")).to_contain_text("revoked")

    browser_problems.expect(r"status of 404 \(Not Found\) \(http://\S+/s/\S+/\)$")
    answer = doctor.reload()
    assert answer is not None and answer.status == 404
    expect(doctor.get_by_role("heading", level=1)).to_have_text("We couldn't find that page")
    expect(doctor.get_by_test_id("patient-summary")).to_have_count(0)
    doctor_context.close()
