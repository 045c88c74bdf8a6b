"""The reviewer's desk: what is new for them (an assignment, a follow-up question) on the portal
and by e-mail, the patient told when their question is answered, and the signed PDF's last page."""

import io
from datetime import UTC, datetime

from django.urls import reverse
from pypdf import PdfReader

from requests_app.models import Case, Notification
from requests_app.notifications import email_notification
from reviewers import reports, services
from tests.reviewers.conftest import queued_case
from tests.reviewers.test_density import imager, mammogram  # noqa: F401  (a fixture)

Kind = Notification.Kind
STARTED = "A specialist is reviewing your request"


def test_a_coordinators_assignment_tells_the_reviewer_not_the_patient(
    alice, sam, rita_profile, mailoutbox
):
    case = queued_case(alice)
    services.assign_case(case, reviewer=rita_profile, by=sam)
    assert not alice.notifications.filter(title=STARTED).exists()
    notice = rita_profile.user.notifications.get()
    assert (notice.kind, notice.case) == (Kind.ASSIGNED, case)
    assert notice.link == reverse("reviewers:case-detail", args=[case.code])
    assert email_notification(notice)
    (mail,) = mailoutbox
    assert reverse("reviewers:case-detail", args=[case.code]) in mail.body
    for private in ["Alice", "Moreau", "brain", "MRI", "Springfield"]:
        assert private not in mail.subject + mail.body, private


def test_a_reviewers_claim_tells_the_patient_the_review_started(alice, rita_profile):
    case = queued_case(alice)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    assert alice.notifications.filter(title=STARTED).count() == 1


def test_the_patient_is_emailed_that_the_review_started_on_a_claim_never_on_an_assignment(
    alice, sam, rita_profile, nils, mailoutbox
):
    assigned = queued_case(alice)
    services.assign_case(assigned, reviewer=rita_profile, by=sam)
    services.assign_case(assigned, reviewer=nils.reviewer_profile, by=sam)  # handed on
    claimed = queued_case(alice)
    services.claim_case(claimed, reviewer=rita_profile, by=rita_profile.user)
    for notice in alice.notifications.all():
        email_notification(notice)  # what the worker does with each once the step commits
    started = [mail for mail in mailoutbox if "has started the review" in mail.body]
    assert [mail.to for mail in started] == [[alice.email]]
    (notice,) = alice.notifications.filter(title=STARTED)
    assert notice.case == claimed


def _signed(case, reader):
    opinion = services.claim_case(case, reviewer=reader, by=reader.user)
    user = reader.user
    services.file_blind_read(opinion, by=user, findings="F.", impression="I.")
    services.grade_concordance(opinion, by=user, radpeer="1", patient_summary="Plain words.")
    services.sign_report(opinion, by=user, signed_name=reader.display_name)
    opinion.refresh_from_db()
    return opinion


def test_a_follow_up_question_shows_on_the_desk_and_its_answer_reaches_the_patient(
    client, alice, rita_profile
):
    case = queued_case(alice)
    opinion = _signed(case, rita_profile)
    client.force_login(rita_profile.user)
    portal = client.get(reverse("reviewers:portal")).content.decode()
    assert 'data-testid="news-count"' not in portal

    question = services.ask_question(opinion, by=alice, text="Should I repeat the MRI?")
    notice = rita_profile.user.notifications.get(kind=Kind.FOLLOW_UP)
    assert "MRI" not in notice.title + notice.body
    portal = client.get(reverse("reviewers:portal")).content.decode()
    assert 'data-testid="news-count">1<' in portal
    assert "A patient asked you a follow-up question" in portal

    page = client.get(reverse("reviewers:case-detail", args=[case.code])).content.decode()
    seen = reverse("reviewers:case-seen", args=[case.code])
    assert seen in page  # the page says it was shown once loaded; showing it marks nothing
    assert 'data-testid="news-count">1<' in client.get(reverse("reviewers:portal")).content.decode()
    assert client.post(seen).status_code == 204
    portal = client.get(reverse("reviewers:portal")).content.decode()
    assert 'data-testid="news-count"' not in portal

    services.answer_question(question, by=rita_profile.user, text="Yes, in six months.")
    told = alice.notifications.get(kind=Kind.ANSWER)
    assert told.case == case and told.link == reverse("requests:case-detail", args=[case.code])
    assert "six months" not in told.title + told.body


def test_the_original_birads_is_prefilled_from_the_patients_answer(client, alice, imager):  # noqa: F811
    case = mammogram(alice, birads="4B")
    opinion = services.claim_case(case, reviewer=imager, by=imager.user)
    services.file_blind_read(
        opinion, by=imager.user, findings="F.", impression="I.", birads="2", breast_density="b"
    )
    client.force_login(imager.user)
    page = client.get(reverse("reviewers:case-detail", args=[case.code])).content.decode()
    assert '<option value="4B" selected>' in page
    assert "Prefilled with the patient's answer (4B" in page


def test_the_signature_never_stands_alone_on_the_last_page(alice, rita_profile):
    case = queued_case(alice)
    opinion = _signed(case, rita_profile)
    opinion.recommendations = "Follow up with your doctor."
    signed_at = datetime(2031, 3, 14, 12, 0, tzinfo=UTC)
    for lines in range(20, 62, 3):
        opinion.findings = "\n".join(f"Finding line {n}." for n in range(lines))
        pdf = reports.render_pdf(opinion, signed_name="Dr. Rita Novak", signed_at=signed_at)
        last = PdfReader(io.BytesIO(pdf)).pages[-1].extract_text()
        assert "Electronically signed" in last
        assert "Follow up with your doctor" in last, lines
    assert Case.objects.filter(pk=case.pk).exists()
