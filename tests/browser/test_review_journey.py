"""End to end across roles in Chromium: queue, claim, zip, blind read, 2b, sign, third opinion.

Alice's validated brain MRI waits in the neuroradiology queue. Rita claims it, downloads the study
(the zip's files match the upload byte for byte), files a blinded read, grades RADPEER 2b and
signs. Alice sees the discordant result and asks for a third opinion, which Nils, another
neuroradiologist, receives blind to both earlier reports, while Rita no longer sees the case.
"""

import os
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from playwright.sync_api import Page, expect

from requests_app.models import AuditEvent, Case
from reviewers import services
from reviewers.models import Opinion, Subspecialty
from tests.conftest import PASSWORD
from tests.reviewers.conftest import make_reviewer, validated_case, validated_mammogram

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = os.environ.get("SCREENSHOT_DIR")

# Playwright's sync API runs the test in another contextvars context once the browser is up, and
# there Django hands out a fresh connection object that lacks the data serialized at test-database
# creation, so `serialized_rollback` silently restores nothing (seeded subspecialties, routing
# rules...). This module is imported before any browser starts: keep the original connection.
_SETUP_CONNECTION = connections[DEFAULT_DB_ALIAS]


@pytest.fixture
def migrated_data(transactional_db) -> None:
    """The data migrations' rows, restored by hand when serialized rollback could not."""
    current = connections[DEFAULT_DB_ALIAS]
    saved = getattr(_SETUP_CONNECTION, "_test_serialized_contents", None)
    if saved is None or current is _SETUP_CONNECTION:
        return
    # Lets Django's own teardown and the next test in this context restore as intended.
    current._test_serialized_contents = saved
    if not Subspecialty.objects.exists():
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
        current.creation.deserialize_db_from_string(saved)


def _shot(page: Page, name: str) -> None:
    """Screenshots for a person to look at, when SCREENSHOT_DIR is set."""
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def _log_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


def test_discordant_second_opinion_leads_to_a_blind_third_opinion(
    migrated_data, page: Page, live_server, alice, rita, tmp_path, check_accessibility
):
    base = live_server.url
    folder = tmp_path / "upload"
    case, files = validated_case(alice, folder)
    rita_profile = make_reviewer(
        rita.email,
        "Dr. Rita Novak",
        user=rita,
        board_certification="American Board of Radiology",
        fellowship="Neuroradiology",
    )
    nils = make_reviewer("nils@example.com", "Dr. Nils Berg").user

    # Rita finds the case in her queue and claims it.
    _log_in(page, base, rita.email)
    page.goto(base + "/reviewer/")
    queue = page.get_by_test_id("queue-neuroradiology")
    expect(queue).to_contain_text(case.short_code)
    check_accessibility(page)
    _shot(page, "1-portal")
    queue.get_by_role("button", name=f"Claim case {case.short_code}").click()
    expect(page.get_by_test_id("case-status")).to_have_text("In review")
    expect(page.get_by_role("heading", name="Step 1: your independent reading")).to_be_visible()
    expect(page.get_by_test_id("original-report")).to_have_count(0)
    check_accessibility(page)
    _shot(page, "2-blind-read")

    # The study zip holds exactly what Alice uploaded, in her folders.
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the study (zip)").click()
    with zipfile.ZipFile(info.value.path()) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
        expected = {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}
        assert sorted(archive.namelist()) == sorted(expected)
        for name, content in expected.items():
            assert archive.read(name) == content, name
    assert AuditEvent.objects.filter(target_type="study", actor=rita, action="download").exists()

    # Phase one, blind; then the original report opens and she grades 2b.
    page.get_by_label("Findings").fill("Intra-axial enhancing left frontal mass.")
    page.get_by_label("Impression").fill("High-grade glioma, not a meningioma.")
    page.get_by_role("button", name="File my reading").click()
    expect(page.get_by_test_id("original-report")).to_contain_text("Original radiology report")
    page.get_by_label("understandable miss); likely to be clinically significant").check()
    page.get_by_label("A different next step").check()
    page.get_by_label("Comment on the discrepancy").fill(
        "The original report calls the mass extra-axial; it is intra-axial."
    )
    page.get_by_label("Recommendations").fill("Neurosurgical consultation before any treatment.")
    page.get_by_label("Summary for the patient").fill(
        "I see the growth differently from your first report: it is inside the brain itself."
    )
    page.get_by_role("button", name="Save the comparison").click()
    check_accessibility(page)
    _shot(page, "3-grade-and-sign")
    page.get_by_label("Type your name to sign").fill("Dr. Rita Novak")
    page.get_by_label("I personally reviewed the images").check()
    page.get_by_role("button", name="Sign the report").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Report ready")
    expect(page.get_by_test_id("signed")).to_contain_text("2b")
    _log_out(page)

    # Alice reads the discordant result and asks for a tie-breaking third opinion.
    _log_in(page, base, alice.email)
    page.goto(base + f"/cases/{case.code}/")
    expect(page.get_by_test_id("concordance")).to_contain_text("differs from your first report")
    expect(page.get_by_test_id("patient-summary")).to_contain_text("inside the brain itself")
    check_accessibility(page)
    _shot(page, "4-patient-discordant")
    with page.expect_download() as pdf:
        page.get_by_role("link", name="Download the signed report (PDF)").click()
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF-")
    if SHOTS:
        pdf.value.save_as(Path(SHOTS) / "report.pdf")
    page.get_by_role("button", name="See the cost of a third opinion").click()
    expect(page.get_by_test_id("third-opinion-cost")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Request a third opinion").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Waiting for a specialist")
    expect(page.get_by_test_id("third-opinion-status")).to_be_visible()
    check_accessibility(page)
    _shot(page, "5-patient-third-requested")
    _log_out(page)

    # Rita does not see it again.
    _log_in(page, base, rita.email)
    page.goto(base + "/reviewer/")
    expect(page.get_by_test_id("queue-neuroradiology")).not_to_contain_text(case.short_code)
    _log_out(page)

    # Nils receives it, blind to both earlier reports.
    _log_in(page, base, nils.email)
    page.goto(base + "/reviewer/")
    queue = page.get_by_test_id("queue-neuroradiology")
    expect(queue).to_contain_text(case.short_code)
    expect(queue).to_contain_text("third opinion")
    queue.get_by_role("button", name=f"Claim case {case.short_code}").click()
    expect(page.get_by_role("heading", name="Step 1: your independent reading")).to_be_visible()
    expect(page.get_by_text("tie-breaking third opinion")).to_be_visible()
    expect(page.get_by_test_id("original-report")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("Rita Novak")
    expect(page.locator("main")).not_to_contain_text("inside the brain itself")
    check_accessibility(page)
    _shot(page, "6-third-reader-blind")

    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW
    assert case.assigned_reviewer == nils.reviewer_profile != rita_profile
    assert Opinion.objects.get(case=case, reviewer=nils.reviewer_profile).round == 2


def test_viewer_scrolls_windows_and_zooms_and_is_audited(
    migrated_data, page: Page, live_server, alice, rita, tmp_path, check_accessibility
):
    case, _ = validated_case(alice, tmp_path / "upload")
    reader = make_reviewer(rita.email, "Dr. Rita Novak", user=rita)
    services.claim_case(case, reviewer=reader, by=rita)
    _log_in(page, live_server.url, rita.email)
    page.goto(live_server.url + f"/reviewer/cases/{case.code}/")
    page.get_by_role("button", name="Open the viewer").click()
    viewer = page.get_by_test_id("viewer")
    expect(viewer).to_have_attribute("data-ready", "true", timeout=20_000)
    status = viewer.locator("[data-status]")
    expect(status).to_contain_text("Image 1 of 6")
    _shot(page, "7-viewer")
    check_accessibility(page)
    before = status.inner_text()
    viewer.get_by_role("button", name="Next image").click()
    expect(status).to_contain_text("Image 2 of 6")
    viewer.get_by_role("button", name="Narrower window").click()
    expect(status).not_to_contain_text(before.split("·")[1])
    zoom = page.evaluate("() => window.soViewer.viewports.main.viewport.getZoom()")
    viewer.get_by_role("button", name="Zoom in").click()
    assert page.evaluate("() => window.soViewer.viewports.main.viewport.getZoom()") > zoom
    viewer.get_by_role("button", name="2 AX T2 (4)").click()
    expect(status).to_contain_text("Image 1 of 4")
    assert AuditEvent.objects.filter(target_type="study-viewer", actor=rita).count() == 1


def test_mammogram_opens_as_the_four_standard_views(
    migrated_data, page: Page, live_server, alice, tmp_path, check_accessibility
):
    case = validated_mammogram(alice, tmp_path / "upload")
    imager = make_reviewer(
        "bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True
    )
    services.claim_case(case, reviewer=imager, by=imager.user)
    _log_in(page, live_server.url, imager.user.email)
    page.goto(live_server.url + f"/reviewer/cases/{case.code}/viewer/")
    viewer = page.get_by_test_id("viewer")
    expect(viewer).to_have_attribute("data-ready", "true", timeout=20_000)
    panes = viewer.locator("figure")
    expect(panes).to_have_count(4)
    for index, view in enumerate(["RCC", "LCC", "RMLO", "LMLO"]):
        expect(panes.nth(index)).to_contain_text(view)
        expect(panes.nth(index).locator("[data-status]")).to_contain_text("Image 1 of 1")
    check_accessibility(page)
    _shot(page, "8-mammo-viewer")
