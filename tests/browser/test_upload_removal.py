"""Removing images: a large upload asks first, a small one goes at once."""

import pytest
from playwright.sync_api import Page, expect

from records.models import Upload
from tests.browser.test_insurance import log_in
from tests.conftest import make_case, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _upload(case, files: int) -> Upload:
    return Upload.objects.create(
        case=case,
        uploaded_by=case.patient,
        status=Upload.Status.INVALID,
        file_count=files,
        total_bytes=files * 500_000,
    )


def test_removing_an_upload_of_more_than_20_files_asks_first(page: Page, live_server):
    alice = make_user("alice@example.com", first_name="Alice")
    case = make_case(alice, complete=True)
    big = _upload(case, 24)
    log_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/cases/{case.code}/steps/records/")

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Remove these 24 files").click()
    page.wait_for_timeout(300)
    assert asked == ["Remove all 24 files of this upload? You would have to send them again."]
    assert Upload.objects.filter(pk=big.pk).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove these 24 files").click()
    expect(page.get_by_role("status")).to_contain_text("Those images were removed.")
    assert not Upload.objects.filter(pk=big.pk).exists()


def test_a_small_upload_is_removed_without_asking(page: Page, live_server):
    alice = make_user("alice@example.com", first_name="Alice")
    case = make_case(alice, complete=True)
    _upload(case, 1)
    log_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/cases/{case.code}/steps/records/")

    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Remove this file").click()
    expect(page.get_by_role("status")).to_contain_text("Those images were removed.")
    assert asked == [] and not case.uploads.exists()
