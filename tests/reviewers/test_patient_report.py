"""The patient's side: the report on the case page, concordance, a third opinion, questions."""

import pytest
from django.urls import reverse
from django.utils import timezone

from records import services as records_services
from requests_app.models import AuditEvent, Case
from reviewers import services
from reviewers.models import Opinion
from tests.conftest import make_case, pdf_upload


def _case_with_report(patient) -> Case:
    case = make_case(patient, complete=True)
    records_services.add_document(
        case, by=patient, kind="original_report", uploaded=pdf_upload("mri-report.pdf")
    )
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="neuroradiology")
    case.refresh_from_db()
    return case


def read_and_sign(case: Case, profile, *, radpeer: str, tie_break: str = "") -> Opinion:
    """A reviewer claims, reads blind, grades and signs, through the services."""
    user = profile.user
    opinion = services.claim_case(case, reviewer=profile, by=user)
    services.file_blind_read(opinion, by=user, findings="Findings.", impression="Impression.")
    services.grade_concordance(
        opinion,
        by=user,
        radpeer=radpeer,
        comment="Differs from the first report." if radpeer != "1" else "",
        tie_break=tie_break,
        patient_summary=f"Summary from {profile.display_name}.",
    )
    services.sign_report(opinion, by=user, signed_name=profile.display_name)
    case.refresh_from_db()
    return opinion


def _case_page(client, case) -> str:
    return client.get(reverse("requests:case-detail", args=[case.code])).content.decode()


def test_concordant_report_reassures_and_is_audited_when_shown(client, alice, rita_profile):
    case = _case_with_report(alice)
    opinion = read_and_sign(case, rita_profile, radpeer="1")
    client.force_login(alice)
    page = _case_page(client, case)
    assert "The specialist agrees with your first report." in page
    assert "proceed" not in page.lower()
    assert "Talk to your doctor before changing any plan." in page
    assert "Summary from Dr. Rita Novak." in page
    assert "Request a third opinion" not in page
    view = AuditEvent.objects.get(target_type="case-page", action="view")
    assert view.actor == alice and f"opinion-report:{opinion.code}" in view.shown

    response = client.get(reverse("opinions:report-pdf", args=[case.code, opinion.code]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert AuditEvent.objects.filter(target_type="opinion-report", action="download").exists()
    with pytest.raises(services.ReviewError):
        services.request_third_opinion(case, by=alice)


def test_bob_gets_404_for_alices_report_and_its_actions(client, alice, bob, rita_profile):
    case = _case_with_report(alice)
    opinion = read_and_sign(case, rita_profile, radpeer="3b")
    client.force_login(bob)
    assert (
        client.get(reverse("opinions:report-pdf", args=[case.code, opinion.code])).status_code
        == 404
    )
    assert client.post(reverse("opinions:third-opinion", args=[case.code])).status_code == 404
    url = reverse("opinions:question-ask", args=[case.code, opinion.code])
    assert client.post(url, {"question": "Hello?"}).status_code == 404
    case.refresh_from_db()
    assert case.status == Case.Status.REPORT_READY and opinion.questions.count() == 0


def test_discordant_report_offers_next_steps_and_a_blind_third_opinion(
    client, alice, rita_profile, nils
):
    case = _case_with_report(alice)
    read_and_sign(case, rita_profile, radpeer="2b")
    client.force_login(alice)
    page = _case_page(client, case)
    assert "differs from your first report in a way that may matter" in page
    assert "Talk with both teams" in page and "do not cancel or change it" in page
    assert "Talk to your doctor before changing any plan." in page
    assert "RADPEER" not in page and "Discrepancy in interpretation" not in page
    # The cost comes first; asking is done on that page.
    response = client.post(reverse("opinions:third-opinion", args=[case.code]))
    cost_page = reverse("insurance:third-opinion", args=[case.code])
    assert response["Location"] == cost_page
    client.post(cost_page, {"estimate_seen": client.get(cost_page).context["amount"]})
    case.refresh_from_db()
    assert (case.status, case.assigned_reviewer) == (Case.Status.QUEUED, None)
    assert "You asked for a third opinion" in _case_page(client, case)
    with pytest.raises(services.ReviewError):
        services.request_third_opinion(case, by=alice)  # once is enough

    # Rita read it already: the case is out of her sight and out of her reach.
    client.force_login(rita_profile.user)
    assert case.short_code not in client.get(reverse("reviewers:portal")).content.decode()
    assert client.get(reverse("reviewers:case-detail", args=[case.code])).status_code == 404
    with pytest.raises(services.ReviewError, match="already read this case"):
        services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)

    # Nils gets it, blind to both earlier reports.
    client.force_login(nils)
    assert case.short_code in client.get(reverse("reviewers:portal")).content.decode()
    client.post(reverse("reviewers:case-claim", args=[case.code]))
    case.refresh_from_db()
    assert case.assigned_reviewer == nils.reviewer_profile
    page = client.get(reverse("reviewers:case-detail", args=[case.code])).content.decode()
    assert "Summary from Dr. Rita Novak." not in page and "Dr. Rita Novak" not in page
    assert "mri-report" not in page and "Original report and records" not in page
    third = Opinion.objects.get(case=case, reviewer=nils.reviewer_profile)
    assert third.round == 2

    services.file_blind_read(third, by=nils, findings="F.", impression="I.")
    page = client.get(reverse("reviewers:case-detail", args=[case.code])).content.decode()
    assert "Second opinion by Dr. Rita Novak" in page
    with pytest.raises(services.ReviewError, match="which earlier reading"):
        services.grade_concordance(third, by=nils, radpeer="2b", comment="x", patient_summary="y")
    services.grade_concordance(
        third, by=nils, radpeer="2b", comment="x", tie_break="second", patient_summary="y"
    )
    services.sign_report(third, by=nils, signed_name="Dr. Nils Berg")
    case.refresh_from_db()
    assert case.status == Case.Status.REPORT_READY
    client.force_login(alice)
    page = _case_page(client, case)
    assert "Their reading supports: the second opinion." in page
    assert "Third opinion by Dr. Nils Berg" in page and "Second opinion by Dr. Rita Novak" in page


def test_up_to_three_follow_up_questions_which_the_reviewer_answers(client, alice, rita_profile):
    case = _case_with_report(alice)
    opinion = read_and_sign(case, rita_profile, radpeer="1")
    client.force_login(alice)
    url = reverse("opinions:question-ask", args=[case.code, opinion.code])
    for n in range(4):
        client.post(url, {"question": f"Question {n + 1}?"})
    assert list(opinion.questions.values_list("question", flat=True)) == [
        "Question 1?",
        "Question 2?",
        "Question 3?",
    ]
    assert "You have asked the 3 follow-up questions" in _case_page(client, case)

    first = opinion.questions.first()
    client.force_login(rita_profile.user)
    answer = reverse("reviewers:question-answer", args=[case.code, first.code])
    client.post(answer, {"answer": "It is benign."})
    client.post(answer, {"answer": "Changed my mind."})
    first.refresh_from_db()
    assert first.answer == "It is benign."
    client.force_login(alice)
    assert "It is benign." in _case_page(client, case)


def test_the_signing_line_lists_only_what_the_specialist_has(client, alice, rita_profile):
    rita_profile.board_certification = ""
    rita_profile.fellowship = ""
    rita_profile.save(update_fields=["board_certification", "fellowship"])
    case = _case_with_report(alice)
    opinion = read_and_sign(case, rita_profile, radpeer="1")
    client.force_login(alice)
    page = _case_page(client, case)
    assert f"<small>signed {timezone.localtime(opinion.signed_at):%b} " in page
    assert "· signed" not in page
