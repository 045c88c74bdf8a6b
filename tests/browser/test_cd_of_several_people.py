"""A hospital CD holding two people's studies: the patient says whose each is, then submits."""

import re

import pytest
from playwright.sync_api import Page, expect

from records.models import Study, Upload
from requests_app.models import Case
from tests.conftest import PASSWORD, make_case, make_user
from tests.records.dicom_factory import write_cd, write_series

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_cd_with_two_peoples_studies_is_answered_and_submitted(
    page: Page, live_server, celery_worker, tmp_path, check_accessibility
):
    alice = make_user("alice@example.com", first_name="Alice")
    case = make_case(alice, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01")
    slices = write_series(tmp_path / "src" / "A", n=6, patient_name="DOE^JANE")
    slices += write_series(
        tmp_path / "src" / "B",
        n=4,
        patient_name="KOWALSKI^PIOTR",
        patient_id="OTHER9",
        birth_date="19500612",
        study_description="CT CHEST",
    )
    write_cd(tmp_path / "CD", slices)
    celery_worker(concurrency=1)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.goto(f"{live_server.url}/cases/{case.code}/steps/records/")
    page.locator(".uppy-Dashboard-input[webkitdirectory]").set_input_files(tmp_path / "CD")
    expect(page.get_by_test_id("upload-status")).to_have_text(
        re.compile("problems found"), timeout=60_000
    )
    people = page.get_by_test_id("study-person")
    expect(people).to_have_count(2)
    check_accessibility(page)

    theirs = page.locator("section.study").filter(has_text="PIOTR KOWALSKI")
    expect(theirs).to_contain_text("born Jun 12, 1950")
    expect(theirs).to_contain_text("4 images")
    theirs.get_by_label("No, not them: leave this study out").check()
    theirs.get_by_role("button", name="Save answer").click()
    expect(page.get_by_text("That study was left out.")).to_be_visible()
    expect(page.get_by_test_id("study-person")).to_have_count(1)

    mine = page.locator("section.study").filter(has_text="JANE DOE")
    mine.get_by_label("Yes, this is the person this request is for").check()
    mine.get_by_role("button", name="Save answer").click()
    expect(page.get_by_test_id("upload-status")).to_have_text("Checked: readable images")
    # One person left: the upload reads as any other.
    expect(page.get_by_test_id("study-person")).to_have_count(0)
    expect(page.get_by_test_id("upload")).to_contain_text("All 6 images open and belong together")
    check_accessibility(page)

    upload = Upload.objects.get(case=case)
    # The CD's DICOMDIR named both people: it went with the study left out.
    assert (upload.dicom_count, upload.file_count) == (6, 6)
    assert list(Study.objects.filter(case=case).values_list("person", flat=True)) == ["requested"]

    page.goto(f"{live_server.url}/cases/{case.code}/steps/review/")
    page.get_by_label("The information I gave is correct").check()
    page.get_by_role("button", name="Submit my request").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Awaiting insurance", timeout=30_000)
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_INSURANCE
