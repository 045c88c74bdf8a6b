"""Files chosen and left half-sent: the page shows each file's progress and the total while they
go, and a browser coming back later (the same one, or another) finds no ghost files to recover."""

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from records import multipart
from records import services as records_services
from records.models import UploadFile
from tests.browser.test_insurance import log_in
from tests.conftest import make_case, make_user
from tests.records.dicom_factory import write_series

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GHOSTS = re.compile(r"recover|re-select|could not", re.IGNORECASE)


def _wait_for(condition, page: Page, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(200)
    return value


def _records_step_shows_no_ghosts(page: Page, base: str, case) -> None:
    page.goto(f"{base}/cases/{case.code}/steps/records/")
    uploader = page.locator("[data-study-uploader]")
    expect(uploader.locator(".uppy-Dashboard")).to_be_visible()
    page.wait_for_timeout(1500)  # a recovery plugin restores within a second of loading
    expect(uploader.locator(".uppy-Dashboard-Item")).to_have_count(0)
    expect(uploader).not_to_contain_text(GHOSTS)
    # The batch the server holds is said to be unfinished, not "being checked".
    left = page.get_by_test_id("upload")
    expect(left).to_have_count(1)
    expect(left.get_by_test_id("upload-status")).to_have_text("Not finished")
    expect(left.get_by_test_id("upload-unfinished")).to_contain_text(
        "Some of these files have not arrived."
    )
    expect(left).not_to_contain_text("checking")
    expect(left.locator("progress")).to_have_count(0)
    expect(page.get_by_test_id("records-checklist").locator("li.done")).to_have_count(0)
    # Nothing holds "Continue" back: no file of this page is on its way.
    expect(page.get_by_test_id("upload-wait")).to_be_hidden()
    expect(page.locator("form.step-main button[type=submit]")).to_be_enabled()


def test_files_left_half_sent_come_back_as_no_ghosts_in_a_fresh_browser(
    page: Page, browser: Browser, live_server, tmp_path, monkeypatch, browser_problems
):
    alice = make_user("alice@example.com", first_name="Alice")
    case = make_case(alice, complete=True)
    folder = tmp_path / "CD"
    write_series(folder / "MR", n=2)
    big = folder / "MR" / "IM_LARGE"
    big.write_bytes(os.urandom(17 * 1024 * 1024))  # three parts of up to 8 MiB

    # The large file's later parts never arrive: the patient leaves while it is on its way.
    write_part = multipart.LocalBackend.write_part

    def first_parts_only(backend, upload_id, number, *args, **kwargs):
        if number > 1:
            raise multipart.MultipartError("The connection dropped.")
        return write_part(backend, upload_id, number, *args, **kwargs)

    monkeypatch.setattr(multipart.LocalBackend, "write_part", first_parts_only)
    browser_problems.expect(r"status of 409 \(Conflict\) \(http://\S+/cases/parts/\S+\)$")
    log_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/cases/{case.code}/steps/records/")
    page.locator(".uppy-Dashboard-input[webkitdirectory]").set_input_files(folder)

    # Each file shows how far it is, and so does the whole batch.
    items = page.locator(".uppy-Dashboard-Item")
    expect(items).to_have_count(3)
    large = _wait_for(lambda: UploadFile.objects.filter(size=big.stat().st_size).first(), page)
    _wait_for(lambda: len(records_services.list_parts(large)) == 1, page)
    _wait_for(lambda: UploadFile.objects.filter(status="complete").count() == 2, page)
    sending = items.filter(has_text="IM_LARGE")
    expect(sending.locator(".uppy-Dashboard-Item-progress")).to_be_visible()
    if shots := os.environ.get("SCREENSHOT_DIR"):
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/records-sending.png", full_page=True)
    total = page.locator(".uppy-StatusBar")
    expect(total).to_contain_text(re.compile(r"Uploading.*\d+%"))
    expect(total).to_contain_text(re.compile(r"2 of 3 files"))
    expect(page.get_by_test_id("upload-wait")).to_be_visible()
    expect(page.locator("form.step-main button[type=submit]")).to_be_disabled()
    page.close()
    monkeypatch.undo()

    # Later, the same browser: nothing is restored, nothing asks to be chosen again.
    again = page.context.new_page()
    _records_step_shows_no_ghosts(again, live_server.url, case)

    # Another browser (a fresh profile): the same.
    fresh = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = fresh.new_page()
        browser_problems.watch(other)
        log_in(other, live_server.url, alice.email)
        _records_step_shows_no_ghosts(other, live_server.url, case)
        if shots := os.environ.get("SCREENSHOT_DIR"):
            Path(shots).mkdir(parents=True, exist_ok=True)
            other.screenshot(path=f"{shots}/records-fresh-browser.png", full_page=True)
    finally:
        fresh.close()
