"""A frightened newcomer on a phone, end to end in Chromium: the journey's numbered points, each
checked where it happens. Points other tests already walk in full are named here, not repeated:

1. Greeted by first name: given at sign-up, said on logging in (here; the rule itself in
   tests/requests_app/test_accounts.py).
2. Phone width: every page of this walk at 360 px, nothing to scroll sideways (here; every page
   state at both sizes with axe in test_every_page_state.py, screenshots in test_phone_layout.py).
3. Uploads start as soon as files are chosen, with no button to press (here).
4. A wrong file gets a plain sentence saying what it is and where it goes (here).
5. The exam-date cross-check: images dated far from the exam date the patient gave are a "good
   to know" with both dates (here), and flagged for the coordinator
   (tests/records/test_crosschecks.py).
6. The authorization comes after the name and the exam, and names both (here).
7. Self-pay hides the plan's fields (here; the price on each page in test_insurance.py).
8. The specialist chosen is shown on the review page (here).
9. A follow-up question on the report reaches the specialist who wrote it (here).
10. A CD holding several people's studies, answered: test_cd_of_several_people.py.
11. A 4B read as 4A: the result's headline never says "agree": test_clinical_results.py.
12. Files chosen and left: no ghost files in any browser: test_upload_leftovers.py.
"""

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from requests_app.models import Case, Notification
from reviewers import services as reviewer_services
from tests.browser.test_phone_layout import main_menu
from tests.browser.test_review_journey import (
    migrated_data,  # noqa: F401 (a fixture)
)
from tests.conftest import PASSWORD, make_pdf
from tests.records.dicom_factory import write_series
from tests.reviewers.conftest import make_reviewer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("migrated_data"),
]

PHONE = {"width": 360, "height": 740}


def _fits(page: Page) -> None:
    page.wait_for_load_state("load")
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} scrolls sideways on a phone: {width}"


def _continue(page: Page) -> None:
    page.get_by_role("button", name="Save and continue").click()


def test_a_newcomer_on_a_phone_walks_from_sign_up_to_a_question_on_the_report(
    page: Page, live_server, celery_worker, tmp_path, settings, check_accessibility
):
    settings.SITE_URL = live_server.url
    rita = make_reviewer("rita@example.com", "Dr. Rita Novak")
    images = tmp_path / "portal"
    # The images are dated January 15, 2024; she will say the scan was on October 14, 2026.
    write_series(images, n=3, patient_name="MOREAU^ALICE", birth_date="19710402")
    (images / "report.pdf").write_bytes(make_pdf())
    celery_worker(concurrency=1)
    page.set_viewport_size(PHONE)

    # Sign up, with the first name she wants to be called by.
    page.goto(live_server.url)
    main_menu(page).get_by_role("button", name="Get started").click()
    page.get_by_label("Your first name").fill("Alice")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    _fits(page)
    page.get_by_role("button", name="Sign Up").click()
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()

    # The patient and the scan, then the question.
    page.get_by_role("button", name="Start a new request").click()
    page.get_by_label("Full name").fill("Alice Moreau")
    page.get_by_label("Date of birth").fill("1971-04-02")
    page.get_by_label("State where the patient lives").select_option("IL")
    _fits(page)
    _continue(page)
    page.get_by_label("MRI", exact=True).check()
    page.get_by_label("Part of the body").select_option("brain")
    page.get_by_label("Date of the scan").fill("2026-10-14")
    page.get_by_label("Where the scan was done").fill("Springfield General Hospital")
    page.get_by_label("City and state").fill("Springfield, IL")
    _fits(page)
    _continue(page)
    page.get_by_label("I was told I have a serious condition").check()
    page.get_by_label("Your question").fill("Is the lesion a tumour, and does it need surgery?")
    _fits(page)
    _continue(page)

    # Records: the files go as soon as they are chosen; nothing else is pressed.
    expect(page.get_by_role("heading", name="Your records")).to_be_visible()
    _fits(page)
    page.locator(".uppy-Dashboard-input").first.set_input_files(sorted(images.iterdir()))
    upload = page.get_by_test_id("upload")
    expect(upload.get_by_test_id("upload-status")).to_have_text(
        re.compile("^Checked"), timeout=60_000
    )
    # The PDF among the images is named for what it is, and where it belongs.
    expect(upload.get_by_test_id("problems")).to_contain_text(
        "This is a PDF document, not an image, so we did not add it to your images."
    )
    # Images dated far from the exam date she gave: both dates, calmly.
    expect(upload.get_by_test_id("exam-date-note")).to_contain_text(
        "these images are dated Jan 15, 2024, but you told us the exam was on Oct 14, 2026"
    )
    _fits(page)
    check_accessibility(page)
    _continue(page)

    # The authorization comes after her name and the exam, and names both.
    expect(page.get_by_role("heading", name="Permission to share your records")).to_be_visible()
    text = page.get_by_label("Authorization text")
    expect(text).to_contain_text("Patient: Alice Moreau, born April 2, 1971")
    expect(text).to_contain_text("October 14, 2026 done at Springfield General Hospital")
    _fits(page)
    page.get_by_label("Type your full name to sign").fill("Alice Moreau")
    page.get_by_label("I have read this authorization").check()
    page.get_by_role("button", name="Sign and continue").click()

    # Paying herself: the plan's fields go away.
    expect(page.get_by_role("heading", name="Your insurance")).to_be_visible()
    expect(page.get_by_test_id("plan-fields")).to_be_visible()
    page.get_by_label("No insurance: I'll pay myself").check()
    expect(page.get_by_test_id("plan-fields")).to_be_hidden()
    _fits(page)
    _continue(page)

    # She picks the specialist by name, and the review page says who it is.
    expect(page.get_by_role("heading", name="Choose your specialist")).to_be_visible()
    page.get_by_label("Dr. Rita Novak").check()
    _fits(page)
    _continue(page)
    expect(page.get_by_role("heading", name="Review and submit")).to_be_visible()
    expect(page.get_by_test_id("review-reviewer")).to_contain_text("Dr. Rita Novak")
    _fits(page)
    page.get_by_label("The information I gave is correct").check()
    page.get_by_role("button", name="Submit my request").click()
    expect(page.get_by_test_id("case-status")).not_to_have_text("Draft")

    # The specialist reads and signs; she asks a follow-up question, which reaches them.
    case = Case.objects.get(patient__email="alice@example.com")
    _wait_for_status(page, case, Case.Status.QUEUED)
    opinion = reviewer_services.claim_case(case, reviewer=rita, by=rita.user)
    reviewer_services.file_blind_read(
        opinion, by=rita.user, findings="A 9 mm meningioma.", impression="Benign; watch it."
    )
    reviewer_services.grade_concordance(
        opinion, by=rita.user, radpeer="1", patient_summary="The growth is benign."
    )
    reviewer_services.sign_report(opinion, by=rita.user, signed_name="Dr. Rita Novak")
    page.reload()
    expect(page.get_by_test_id("case-status")).to_have_text("Report ready")
    _fits(page)
    page.get_by_label("Your question for the specialist").fill("Should I see a surgeon?")
    page.get_by_role("button", name="Send question").click()
    expect(page.get_by_text("Should I see a surgeon?")).to_be_visible()
    told = Notification.objects.filter(user=rita.user, kind=Notification.Kind.FOLLOW_UP)
    assert told.filter(case=case).exists()

    # Another day: she logs in again and is greeted by her first name.
    main_menu(page).get_by_role("button", name="Log out").click()
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_text("Welcome, Alice.")).to_be_visible()
    _fits(page)


def _wait_for_status(page: Page, case: Case, status: str, timeout_ms: int = 30_000) -> None:
    waited = 0
    while (current := Case.objects.get(pk=case.pk).status) != status:
        assert waited < timeout_ms, f"the case stayed {current}"
        page.wait_for_timeout(250)
        waited += 250
