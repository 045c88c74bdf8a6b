"""A patient uploads a CD's folder (with its DICOMDIR) in Chromium and follows the check."""

import re

import pytest
from playwright.sync_api import Page, expect
from pydicom.uid import generate_uid

from records.models import Upload
from requests_app.models import Case
from tests.conftest import PASSWORD, make_case, make_user
from tests.records.dicom_factory import write_cd, write_series

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _log_in(page: Page, live_server) -> None:
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()


def test_patient_uploads_a_cd_folder_and_the_case_reaches_its_queue(
    page: Page, live_server, celery_worker, tmp_path, check_accessibility
):
    alice = make_user("alice@example.com", first_name="Alice")
    case = make_case(alice, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01")
    study = generate_uid()
    slices = write_series(tmp_path / "src" / "AX", n=16, study_uid=study)
    slices += write_series(
        tmp_path / "src" / "SAG", n=8, study_uid=study, series_number=2, series_description="SAG T1"
    )
    write_cd(tmp_path / "CD", slices)
    celery_worker(concurrency=1)

    _log_in(page, live_server)
    page.goto(f"{live_server.url}/cases/{case.code}/steps/records/")
    page.locator(".uppy-Dashboard-input[webkitdirectory]").set_input_files(tmp_path / "CD")
    page.locator(".uppy-StatusBar-actionBtn--upload").click()

    status = page.get_by_test_id("upload-status")
    expect(status).to_have_text(re.compile("^Checked: readable images$"), timeout=60_000)
    upload = page.get_by_test_id("upload")
    expect(upload).to_contain_text("MRI BRAIN WITHOUT CONTRAST")
    expect(upload).to_contain_text("2 series, 24 images")
    expect(upload.get_by_role("img")).to_have_count(2)
    check_accessibility(page)
    stored = Upload.objects.get(case=case)
    assert stored.files.filter(relative_path__endswith="DICOMDIR").exists()  # kept, not counted
    assert stored.dicom_count == 24

    page.goto(f"{live_server.url}/cases/{case.code}/steps/review/")
    page.get_by_label("The information I gave is correct").check()
    page.get_by_role("button", name="Submit my request").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Awaiting insurance", timeout=30_000)
    case.refresh_from_db()
    assert (case.status, case.queue_id) == (Case.Status.AWAITING_INSURANCE, "neuroradiology")


def test_a_folder_without_images_is_explained(page: Page, live_server, celery_worker, tmp_path):
    alice = make_user("alice@example.com", first_name="Alice")
    case = make_case(alice, complete=True)
    folder = tmp_path / "DOWNLOAD"
    folder.mkdir()
    (folder / "README.TXT").write_text("Thank you for using our portal.")
    (folder / "viewer.exe").write_bytes(b"MZ" + b"\x00" * 200)
    celery_worker(concurrency=1)

    _log_in(page, live_server)
    page.goto(f"{live_server.url}/cases/{case.code}/steps/records/")
    page.locator(".uppy-Dashboard-input[webkitdirectory]").set_input_files(folder)
    page.locator(".uppy-StatusBar-actionBtn--upload").click()
    expect(page.get_by_test_id("upload-status")).to_have_text(
        "Checked: problems found", timeout=60_000
    )
    expect(page.get_by_test_id("problems")).to_contain_text("Must be fixed")
    page.goto(f"{live_server.url}/cases/{case.code}/steps/review/")
    expect(page.get_by_test_id("missing")).to_contain_text("fix the problems found in your images")
