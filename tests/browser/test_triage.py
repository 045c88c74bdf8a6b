"""A coordinator triages a flagged case in the admin in real Chromium; the patient sees the result.

The worker is real: the patient's email goes out from it, to a folder the test reads.
"""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from requests_app.models import Case
from tests.browser.test_insurance import log_in
from tests.requests_app.test_triage import queued
from tests.reviewers.conftest import make_reviewer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def flagged_case(patient) -> Case:
    """Routed to the general queue because the scan and the patient's answers disagree."""
    case = queued(patient, body_region="knee")
    Case.objects.filter(pk=case.pk).update(
        routing_confidence=20,
        routing_reasons="The scan points to neuroradiology but the answers to musculoskeletal.",
        needs_coordinator=True,
    )
    return case


def emails_in(folder: Path) -> list[str]:
    return [p.read_text() for p in sorted(folder.glob("*.log"))] if folder.exists() else []


def choose_triage(page: Page, action: str) -> None:
    page.get_by_label("Triage this case:").select_option(label=action)
    page.get_by_role("button", name="Go").click()


def test_coordinator_reroutes_and_messages_a_flagged_case(
    page: Page, live_server, alice, sam, celery_worker, tmp_path
):
    outbox = tmp_path / "mail"
    worker = celery_worker(env={"EMAIL_URL": f"filemail:///{outbox}"})
    case = flagged_case(alice)

    log_in(page, live_server.url, "sam@example.com")
    page.goto(f"{live_server.url}/admin/requests_app/case/")
    page.get_by_role("link", name="Routing unsure or conflicting").click()
    row = page.get_by_role("row").filter(has_text=case.short_code)
    expect(row).to_contain_text("check routing")
    row.get_by_role("link", name=case.short_code).click()

    expect(page.get_by_text("The scan points to neuroradiology")).to_be_visible()
    choose_triage(page, "Move to another subspecialty's queue")
    page.get_by_label("Queue:").select_option(label="Musculoskeletal radiology")
    page.get_by_label("Note:").fill("Knee MRI; the head series is a scout.")
    page.get_by_role("button", name="Move to another subspecialty's queue").click()
    expect(page.get_by_text("Moved: 1.")).to_be_visible()
    # An action taken on the case's page comes back to it.
    expect(page).to_have_url(f"{live_server.url}/admin/requests_app/case/{case.pk}/change/")
    choose_triage(page, "Send a message to the patient")
    page.get_by_label("Message:").fill("Your knee images are with a musculoskeletal specialist.")
    page.get_by_role("button", name="Send a message to the patient").click()
    expect(page.get_by_text("Message sent: 1.")).to_be_visible()

    case.refresh_from_db()
    assert case.queue_id == "musculoskeletal" and not case.needs_coordinator
    assert case.events.filter(actor=sam, message__contains="Musculoskeletal").exists()

    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server.url, "alice@example.com")
    page.goto(f"{live_server.url}/cases/{case.code}/")
    expect(
        page.get_by_text("Your knee images are with a musculoskeletal specialist.")
    ).to_be_visible()
    page.screenshot(path=tmp_path / "patient-message.png", full_page=True)

    mails = celery_worker.wait_for(
        lambda: [m for m in emails_in(outbox) if "new message from your care team" in m],
        what="the patient's email about the message",
    )
    mail = mails[0]
    assert "alice@example.com" in mail and "Alice" in mail
    assert f"/cases/{case.code}/" in mail
    for private in ["Moreau", "Springfield", "knee", "musculoskeletal specialist"]:
        assert private not in mail, private
    assert worker.process.poll() is None


def test_coordinator_assigns_an_eligible_reviewer_from_the_case_page(
    page: Page, live_server, alice, sam, check_accessibility
):
    eligible = make_reviewer("e@example.com", "Dr. Elena Eligible", capacity=4)
    make_reviewer("o@example.com", "Dr. Olga Ohio", states=("OH",))
    case = queued(alice, queue_id="neuroradiology")
    case_page = f"{live_server.url}/admin/requests_app/case/{case.pk}/change/"

    log_in(page, live_server.url, "sam@example.com")
    page.goto(case_page)
    choose_triage(page, "Assign or reassign a reviewer")
    choice = page.get_by_label("Dr. Elena Eligible: reads neuroradiology; licensed in IL")
    expect(choice).to_be_enabled()
    expect(page.get_by_text("0 of 4 cases open")).to_be_visible()
    expect(page.get_by_text("Dr. Olga Ohio")).to_have_count(0)
    check_accessibility(page)

    page.get_by_role("button", name="Show the 1 reviewer who may not take it").click()
    expect(
        page.get_by_label("Dr. Olga Ohio: not eligible, they are not licensed in IL.", exact=False)
    ).to_be_disabled()
    check_accessibility(page)

    page.get_by_label("Dr. Elena Eligible", exact=False).check()
    page.get_by_role("button", name="Assign or reassign a reviewer").click()
    expect(page.get_by_text("Assigned: 1.")).to_be_visible()
    expect(page).to_have_url(case_page)
    case.refresh_from_db()
    assert case.assigned_reviewer == eligible
