"""A patient uploads a CD's folder (with its DICOMDIR) in Chromium and follows the check."""

import re
import time

import pytest
from django.core.files.storage import default_storage
from playwright.sync_api import Page, expect
from pydicom.uid import generate_uid

from records import multipart
from records import services as records_services
from records.models import Upload, UploadFile
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
    expect(page.get_by_test_id("upload-status")).to_have_text(
        "Checked: problems found", timeout=60_000
    )
    expect(page.get_by_test_id("problems")).to_contain_text("Must be fixed")
    page.goto(f"{live_server.url}/cases/{case.code}/steps/review/")
    expect(page.get_by_test_id("missing")).to_contain_text("fix the problems found in your images")


FOLDER = "JOHANNA_QUINTERO_DOB_1961-07-04"

BROWSER_STORAGE = """async () => {
  const local = Object.keys(localStorage).map((k) => k + "=" + localStorage.getItem(k));
  const databases = (await indexedDB.databases()).map((d) => d.name);
  return { local, databases };
}"""

LEAVE_BEHIND = """async (folder) => {
  localStorage.setItem("uppyState:old-widget", JSON.stringify({ files: { a: { name: folder } } }));
  localStorage.setItem("secondopinion-upload-old", JSON.stringify({ batch: { upload: "x" } }));
  await new Promise((resolve, reject) => {
    const request = indexedDB.open("uppy-blobs", 3);
    request.onupgradeneeded = () => request.result.createObjectStore("files", { keyPath: "id" });
    request.onsuccess = () => { request.result.close(); resolve(); };
    request.onerror = reject;
  });
}"""


def _kept(page: Page) -> dict:
    return page.evaluate(BROWSER_STORAGE)


@pytest.mark.django_db(transaction=True)
def test_files_chosen_leave_nothing_naming_the_patient_in_the_browser(
    page: Page, live_server, tmp_path
):
    alice = make_user("alice@example.com", first_name="Alice")
    case = make_case(alice, complete=True)
    write_series(tmp_path / FOLDER / "MR", n=2)

    _log_in(page, live_server)
    page.goto(f"{live_server.url}/cases/{case.code}/steps/records/")
    page.locator(".uppy-Dashboard-input[webkitdirectory]").set_input_files(tmp_path / FOLDER)
    expect(page.locator(".uppy-Dashboard-Item")).to_have_count(2)
    page.wait_for_timeout(1500)  # what a widget keeps, it writes within a second

    kept = _kept(page)
    assert "uppy-blobs" not in kept["databases"]
    assert not [item for item in kept["local"] if "johanna" in item.lower()], kept

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    kept = _kept(page)
    assert not [k for k in kept["local"] if k.startswith(("uppyState:", "secondopinion-upload"))]
    assert "uppy-blobs" not in kept["databases"]


@pytest.mark.django_db(transaction=True)
def test_the_login_page_clears_what_an_ended_session_left_behind(page: Page, live_server):
    make_user("alice@example.com", first_name="Alice")
    _log_in(page, live_server)
    page.evaluate(LEAVE_BEHIND, FOLDER)
    assert "uppy-blobs" in _kept(page)["databases"]

    page.context.clear_cookies()  # the session ended without a logout
    page.goto(live_server.url + "/accounts/login/")

    expect(page.get_by_label("Email")).to_be_visible()
    page.wait_for_function("async () => !(await indexedDB.databases()).length")
    assert _kept(page) == {"local": [], "databases": []}


def _part_number(url: str) -> int:
    return multipart.read_part_token(url.rstrip("/").rsplit("/", 1)[1])["n"]


@pytest.mark.django_db(transaction=True)
def test_after_a_closed_tab_the_same_folder_goes_on_from_the_parts_received(
    page: Page, live_server, tmp_path, monkeypatch, browser_problems
):
    alice = make_user("alice@example.com", first_name="Alice")
    case = make_case(alice, complete=True)
    folder = tmp_path / "CD"
    write_series(folder / "MR", n=2)
    big = folder / "MR" / "IM_LARGE"
    big.write_bytes(bytes(range(256)) * (17 * 1024 * 4))  # 17 MiB: three parts of up to 8 MiB

    # First visit: every first part arrives, the later parts of the large file never do.
    _log_in(page, live_server)

    # The connection drops after each file's first part (Chromium cannot intercept an upload
    # and hand it on with its body, so the server turns the later parts away instead).
    write_part = multipart.LocalBackend.write_part

    def first_parts_only(backend, upload_id, number, *args, **kwargs):
        if number > 1:
            raise multipart.MultipartError("The connection dropped.")
        return write_part(backend, upload_id, number, *args, **kwargs)

    monkeypatch.setattr(multipart.LocalBackend, "write_part", first_parts_only)
    # The parts turned away show in the first tab's console.
    browser_problems.expect(r"status of 409 \(Conflict\) \(http://\S+/cases/parts/\S+\)$")
    page.goto(f"{live_server.url}/cases/{case.code}/steps/records/")
    page.locator(".uppy-Dashboard-input[webkitdirectory]").set_input_files(folder)
    large = _wait_for(lambda: UploadFile.objects.filter(size=big.stat().st_size).first())
    _wait_for(lambda: len(records_services.list_parts(large)) == 1)
    # While a file is still on its way, "Continue" waits and says why.
    expect(page.get_by_test_id("upload-wait")).to_be_visible()
    expect(page.get_by_test_id("upload-wait")).to_have_text(
        "Your images are still being sent: you can continue once they have arrived."
    )
    expect(page.locator("form.step-main button[type=submit]")).to_be_disabled()
    _wait_for(lambda: UploadFile.objects.filter(status="complete").count() == 2)
    # ... and the browser noted, by their salted hashes, which files arrived.
    page.wait_for_function(
        "() => Object.values(localStorage).join().split('\"done\":true').length === 3"
    )
    page.close()
    monkeypatch.undo()

    # The tab is opened again and the same folder added: only what is missing is sent.
    again = page.context.new_page()
    sent: list[int] = []
    again.on(
        "request",
        lambda request: "/cases/parts/" in request.url and sent.append(_part_number(request.url)),
    )
    again.goto(f"{live_server.url}/cases/{case.code}/steps/records/")
    again.locator(".uppy-Dashboard-input[webkitdirectory]").set_input_files(folder)
    expect(again.locator(".uppy-Dashboard-Item")).to_have_count(1)  # the two small ones arrived
    upload = _wait_for(
        lambda: Upload.objects.exclude(status=Upload.Status.RECEIVING).first(), page=again
    )
    # The server may finish the upload before the page's last request event reaches us.
    _wait_for(lambda: len(sent) >= 2, page=again)

    assert sorted(sent) == [2, 3]
    assert Upload.objects.filter(case=case).count() == 1 and upload.file_count == 3
    large.refresh_from_db()
    with default_storage.open(large.key, "rb") as stored:
        assert stored.read() == big.read_bytes()


def _wait_for(condition, timeout: float = 30.0, page: Page | None = None):
    """Poll `condition`; with a page, wait in it, so its events (requests seen) come in."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        if page is None:
            time.sleep(0.2)
        else:
            page.wait_for_timeout(200)
    return value
