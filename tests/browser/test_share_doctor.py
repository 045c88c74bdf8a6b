"""In Chromium: alice sends her second opinion to her doctor, who has no account.

The doctor opens the link from the e-mail, asks for a one-time passcode by e-mail, enters it,
reads the report and writes alice one reply; alice finds it with her case's messages. A second
reply, sent from another tab still showing the form, is refused.
"""

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from requests_app.models import Message
from tests.browser.test_review_journey import _log_in, migrated_data  # noqa: F401  (a fixture)
from tests.reviewers.conftest import make_reviewer, validated_case
from tests.reviewers.test_reviewer_desk import _signed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DOCTOR = "lee@clinic.example"


def test_a_doctor_opens_the_emailed_link_with_an_emailed_code_and_replies_once(
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
    case, _ = validated_case(alice, tmp_path / "upload")
    _signed(case, make_reviewer(rita.email, "Dr. Rita Novak", user=rita))
    base = live_server.url

    _log_in(page, base, alice.email)
    page.goto(base + f"/cases/{case.code}/")
    page.get_by_test_id("share-link").click()
    form = page.get_by_test_id("send-to-doctor")
    form.get_by_label("Your doctor's name").fill("Dr. Lee")
    form.get_by_label("Your doctor's e-mail").fill(DOCTOR)
    form.get_by_label("E-mail my doctor a one-time passcode when they open the link").check()
    form.get_by_role("button", name="Send to my doctor").click()
    expect(page.get_by_text("We e-mailed the link to Dr. Lee.")).to_be_visible()
    # No passcode to hand over: the doctor gets one by e-mail.
    expect(page.get_by_test_id("share-passcode")).to_have_count(0)
    [invitation] = mail.outbox
    assert invitation.to == [DOCTOR]
    link = re.search(r"http://\S+/s/[\w-]+/", invitation.body).group(0)
    assert link.startswith(base + "/s/")

    doctor_context = browser.new_context()
    doctor = doctor_context.new_page()
    browser_problems.watch(doctor)
    doctor.set_default_timeout(10_000)
    doctor.goto(link)
    doctor.get_by_role("button", name="E-mail me a passcode").click()
    expect(doctor.get_by_text("We e-mailed you a passcode.")).to_be_visible()
    assert len(mail.outbox) == 2 and mail.outbox[1].to == [DOCTOR]
    code = re.search(r"\b(\d{6})\b", mail.outbox[1].body).group(1)
    doctor.get_by_label("Passcode").fill(code)
    doctor.get_by_role("button", name="Open").click()
    expect(doctor.get_by_test_id("share-notice")).to_contain_text("Dr. Lee")
    expect(doctor.get_by_test_id("patient-summary")).to_contain_text("Plain words.")
    expect(doctor).to_have_title("A shared second opinion · SecondOpinion")
    check_accessibility(doctor)

    # Another tab of the same browser shows the reply form too, before any reply.
    other_tab = doctor_context.new_page()
    browser_problems.watch(other_tab)
    other_tab.set_default_timeout(10_000)
    other_tab.goto(link)
    expect(other_tab.get_by_role("button", name="Send the reply")).to_be_visible()

    reply = doctor.get_by_test_id("share-reply")
    reply.get_by_label("Your reply to your patient").fill("Come see me next week.")
    reply.get_by_role("button", name="Send the reply").click()
    expect(doctor.get_by_text("Your reply was sent to your patient.")).to_be_visible()
    expect(doctor.get_by_test_id("share-reply")).to_contain_text("You replied on")
    expect(doctor.get_by_role("button", name="Send the reply")).to_have_count(0)
    check_accessibility(doctor)

    other_tab.get_by_label("Your reply to your patient").fill("And another thing.")
    other_tab.get_by_role("button", name="Send the reply").click()
    expect(other_tab.get_by_text("You have already replied")).to_be_visible()
    expect(other_tab.get_by_role("button", name="Send the reply")).to_have_count(0)
    assert list(Message.objects.filter(case=case).values_list("body", flat=True)) == [
        "Come see me next week."
    ]
    doctor_context.close()

    page.goto(base + f"/cases/{case.code}/")
    messages = page.get_by_test_id("messages")
    expect(messages.get_by_test_id("message")).to_have_count(1)
    expect(messages).to_contain_text("Dr. Lee, who you shared your report with")
    expect(messages).to_contain_text("Come see me next week.")
    expect(messages).not_to_contain_text("And another thing.")
    page.goto(base + f"/cases/{case.code}/shares/")
    expect(page.get_by_test_id("share-replied")).to_be_visible()
