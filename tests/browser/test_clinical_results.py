"""A 4B mammogram read as 4A after a biopsy, with an urgent finding, across roles in Chromium.

Bea, an MQSA-qualified breast imager, reads Alice's mammogram blind (4A, density c), compares it
with the original 4B (RADPEER 2a, the same recommendation) and signs with an urgent finding. Alice
sees that the difference may matter, no RADPEER grade, and the line to talk to her doctor before
changing any plan. Sam, a coordinator, finds the alert with Alice's doctor's phone number on the
dashboard and records both calls, each of which Alice then sees on her timeline.
"""

import pytest
from playwright.sync_api import Page, expect

from requests_app.models import Case, FindingContact, Notification, Priority
from reviewers import services
from tests.browser.test_insurance import log_in
from tests.browser.test_review_journey import (
    _shot,
    migrated_data,  # noqa: F401 (a fixture)
)
from tests.reviewers.conftest import make_reviewer, validated_mammogram

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("migrated_data"),
]

DOCTOR = {
    "physician_name": "Dr. Lena Ortiz",
    "physician_practice": "Elm Street Family Medicine",
    "physician_phone": "217-555-0142",
}


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


def test_a_4b_read_as_4a_after_a_biopsy_and_an_urgent_finding_reach_patient_and_coordinator(
    page: Page, live_server, alice, sam, tmp_path, check_accessibility
):
    base = live_server.url
    case = validated_mammogram(alice, tmp_path / "upload")
    Case.objects.filter(pk=case.pk).update(birads="4B", had_biopsy="yes", **DOCTOR)
    bea = make_reviewer("bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True)
    services.claim_case(case, reviewer=bea, by=bea.user)

    # Bea reads blind, then compares with the original 4B and signs with an urgent finding.
    log_in(page, base, bea.user.email)
    page.goto(f"{base}/reviewer/cases/{case.code}/")
    page.get_by_label("Findings").fill("Irregular 9 mm mass, upper outer left breast.")
    page.get_by_label("Impression").fill("Low suspicion; the biopsy result needs checking.")
    page.get_by_label("Your BI-RADS category").select_option("4A")
    page.get_by_label("c: The breasts are heterogeneously dense").check()
    check_accessibility(page)
    page.get_by_role("button", name="File my reading").click()
    expect(page.get_by_test_id("original-report")).to_be_visible()
    page.get_by_label("2a: Discrepancy in interpretation").check()
    expect(page.get_by_label("BI-RADS of the original report")).to_have_value("4B")
    page.get_by_label("The same recommendation as the original report").check()
    page.get_by_label("Comment on the discrepancy").fill(
        "I rate the mass as low rather than moderate suspicion."
    )
    page.get_by_label("Summary for the patient").fill(
        "I see the lump as a little less worrying than your first report did."
    )
    page.get_by_role("button", name="Save the comparison").click()
    page.get_by_label("Type your name to sign").fill("Dr. Bea Imager")
    page.get_by_label("I personally reviewed the images").check()
    page.get_by_label("Urgent or significant unexpected finding").check()
    page.get_by_label("What the care team should tell them").fill(
        "Imaging and the benign biopsy may not match: the doctor should review the biopsy today."
    )
    check_accessibility(page)
    _shot(page, "clinical-1-reviewer-signs")
    page.get_by_role("button", name="Sign the report").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Report ready")
    expect(page.get_by_test_id("signed")).to_contain_text(
        "RADPEER 2a: Discrepancy in interpretation"
    )
    _log_out(page)

    # Alice: the difference may matter, no grade, and talk to her doctor first.
    log_in(page, base, alice.email)
    page.goto(f"{base}/cases/{case.code}/")
    concordance = page.get_by_test_id("concordance")
    expect(concordance).to_contain_text("in a way that may matter for your care")
    expect(concordance).to_contain_text("You have had a biopsy.")
    expect(concordance).to_contain_text("do not cancel or change it")
    expect(concordance).to_contain_text("Talk to your doctor before changing any plan.")
    expect(page.get_by_test_id("may-matter")).to_contain_text("Yes")
    expect(page.get_by_test_id("density")).to_contain_text("Your breast tissue is dense.")
    expect(page.locator("main")).not_to_contain_text("RADPEER")
    expect(page.locator("main")).not_to_contain_text("Discrepancy in interpretation")
    expect(concordance).not_to_contain_text("agree")
    expect(concordance).not_to_contain_text("proceed")
    expect(page.get_by_role("button", name="See the cost of a third opinion")).to_be_visible()
    check_accessibility(page)
    _shot(page, "clinical-2-patient-result")
    _log_out(page)

    # Sam: the alert, with the doctor's phone, on the dashboard; each call on the record.
    assert Notification.objects.filter(user=sam, kind=Notification.Kind.URGENT_FINDING).exists()
    log_in(page, base, sam.email)
    page.goto(f"{base}/admin/requests_app/case/dashboard/")
    urgent = page.locator("#dash-urgent")
    expect(urgent).to_contain_text(case.short_code)
    expect(urgent.get_by_test_id("physician")).to_contain_text(
        "Dr. Lena Ortiz, Elm Street Family Medicine · 217-555-0142"
    )
    # Alice has opened her report, so the 4A result has reached her within its 7 days.
    expect(page.locator("#dash-results-due")).not_to_contain_text(case.short_code)
    _shot(page, "clinical-3-coordinator-dashboard")
    urgent.get_by_role("link", name=case.short_code).click()
    expect(page.get_by_text("the doctor should review the biopsy today").first).to_be_visible()
    for who, outcome in (
        ("The patient's doctor", "Spoke with them"),
        ("The patient", "Spoke with them"),
    ):
        page.get_by_label("Triage this case:").select_option(
            label="Record a call about an urgent finding or a suspicious result"
        )
        page.get_by_role("button", name="Go").click()
        page.get_by_label("Who:").select_option(label=who)
        page.get_by_label("Outcome:").select_option(label=outcome)
        page.get_by_role(
            "button", name="Record a call about an urgent finding or a suspicious result"
        ).click()
        expect(page.get_by_text("Call recorded: 1.")).to_be_visible()
        # An action started on a case's page comes back to that page.
        expect(page.get_by_label("Triage this case:")).to_be_visible()

    case.refresh_from_db()
    assert case.urgent_finding_done_at is not None and case.priority == Priority.URGENT
    assert list(case.finding_contacts.values_list("party", "by")) == [
        (FindingContact.Party.PHYSICIAN, sam.pk),
        (FindingContact.Party.PATIENT, sam.pk),
    ]
    page.goto(f"{base}/admin/requests_app/case/dashboard/")
    expect(page.locator("#dash-urgent")).not_to_contain_text(case.short_code)
    _log_out(page)

    log_in(page, base, alice.email)
    page.goto(f"{base}/cases/{case.code}/")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("The care team called your doctor about the report")
    expect(timeline).to_contain_text("The care team called you about the report")
