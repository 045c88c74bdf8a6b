"""The two-phase read: blind first, then the original report, RADPEER, and a signed PDF."""

import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from records import services as records_services
from requests_app.models import AuditEvent, Case
from reviewers import services
from reviewers.models import Opinion
from tests.conftest import make_case, pdf_upload
from tests.reviewers.conftest import make_reviewer, queued_case

FINDINGS = "2.1 cm enhancing lesion in the left frontal lobe with surrounding oedema."
IMPRESSION = "Most consistent with a low-grade glioma; a metastasis is less likely."


@pytest.fixture
def claimed(alice, rita_profile):
    """Alice's queued brain MRI with her original report, claimed by Rita."""
    case = make_case(alice, complete=True)
    report = records_services.add_document(
        case, by=alice, kind="original_report", uploaded=pdf_upload("mri-report.pdf")
    )
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="neuroradiology")
    case.refresh_from_db()
    opinion = services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    return case, report, opinion


def _page(client, case) -> str:
    return client.get(reverse("reviewers:case-detail", args=[case.code])).content.decode()


def _blind(client, case, **extra):
    data = {"findings": FINDINGS, "impression": IMPRESSION, **extra}
    return client.post(reverse("reviewers:read-file", args=[case.code]), data)


def _grade(client, case, **extra):
    data = {
        "radpeer": "2b",
        "recommendation_change": "management",
        "concordance_comment": "The original called this a meningioma; it is intra-axial.",
        "recommendations": "Neurosurgical consultation; MR spectroscopy.",
        "patient_summary": "The specialist sees the spot differently from your first report.",
        **extra,
    }
    return client.post(reverse("reviewers:read-grade", args=[case.code]), data)


def test_the_original_report_is_404_until_the_blind_read_is_filed(client, claimed):
    case, report, _ = claimed
    client.force_login(case.assigned_reviewer.user)
    url = reverse("reviewers:document-download", args=[case.code, report.code])
    page = _page(client, case)
    assert "Step 1: your independent reading" in page
    assert str(report.code) not in page and "mri-report" not in page
    assert client.get(url).status_code == 404
    assert not AuditEvent.objects.filter(target_type="document").exists()

    _blind(client, case)
    page = _page(client, case)
    assert str(report.code) in page and "Step 2: compare" in page
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content)[:5] == b"%PDF-"
    audit = AuditEvent.objects.get(target_type="document")
    assert (audit.action, audit.target_code) == ("download", str(report.code))


def test_the_patients_birads_stays_hidden_during_the_blind_read(client, alice):
    case = queued_case(
        alice, exam_type="mammogram", body_region="breast", birads="4B", queue_id="breast"
    )
    imager = make_reviewer(
        "bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True
    )
    services.claim_case(case, reviewer=imager, by=imager.user)
    client.force_login(imager.user)
    original = "BI-RADS on the original report, as the patient told us: 4B: Moderate suspicion"
    assert original not in _page(client, case)
    assert _blind(client, case).status_code == 400  # a breast case needs the reader's BI-RADS
    _blind(client, case, birads="2", breast_density="b")
    assert original in _page(client, case)


def test_the_blind_read_cannot_be_changed_once_filed(claimed):
    _, _, opinion = claimed
    services.file_blind_read(opinion, by=opinion.reviewer.user, findings="A", impression="B")
    with pytest.raises(services.ReviewError):
        services.file_blind_read(opinion, by=opinion.reviewer.user, findings="C", impression="D")
    opinion.refresh_from_db()
    assert (opinion.findings, opinion.impression) == ("A", "B")


def test_grading_before_the_blind_read_is_refused(claimed):
    _, _, opinion = claimed
    with pytest.raises(services.ReviewError, match="independent reading first"):
        services.grade_concordance(
            opinion, by=opinion.reviewer.user, radpeer="1", patient_summary="Fine."
        )


@pytest.mark.parametrize(
    ("score", "recommendation", "needs_comment"),
    [
        ("1", "same", False),
        ("1", "detail", True),
        ("2a", "same", True),
        ("2b", "same", True),
        ("3a", "same", True),
        ("3b", "management", True),
    ],
)
def test_a_comment_is_mandatory_whenever_anything_differs(
    client, claimed, score, recommendation, needs_comment
):
    """The patient reads the reviewer's comment, never the grade: every difference needs one."""
    case, _, opinion = claimed
    client.force_login(case.assigned_reviewer.user)
    _blind(client, case)
    response = _grade(
        client,
        case,
        radpeer=score,
        recommendation_change=recommendation,
        concordance_comment="",
    )
    opinion.refresh_from_db()
    if needs_comment:
        assert response.status_code == 400 and opinion.graded_at is None
        assert "Explain the discrepancy" in response.content.decode()
    else:
        assert response.status_code == 302 and opinion.radpeer == score


def test_only_the_reader_who_holds_the_case_can_write(claimed, nils):
    _, _, opinion = claimed
    with pytest.raises(services.ReviewError):
        services.file_blind_read(opinion, by=nils, findings="F", impression="I")


def test_signing_makes_a_pdf_with_the_patient_summary_and_readies_the_report(client, claimed):
    case, _, opinion = claimed
    reviewer = case.assigned_reviewer
    client.force_login(reviewer.user)
    _blind(client, case)
    _grade(client, case)
    sign = reverse("reviewers:read-sign", args=[case.code])
    response = client.post(sign, {"signed_name": "Someone Else", "attest": "on"})
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW  # a name that is not hers does not sign

    client.post(sign, {"signed_name": "Dr. Rita Novak", "attest": "on"})
    case.refresh_from_db()
    opinion.refresh_from_db()
    assert case.status == Case.Status.REPORT_READY
    assert opinion.is_signed and opinion.is_discordant and len(opinion.pdf_sha256) == 64
    assert case.events.filter(message="Your second-opinion report is ready.").exists()

    with opinion.pdf.open("rb") as handle:
        text = " ".join(page.extract_text() for page in PdfReader(handle).pages)
    for expected in [
        "Summary for the patient",
        "sees the spot differently",
        "may matter for the patient's care: yes",
        "Neurosurgical consultation",
        "Electronically signed by Dr. Rita Novak",
        case.short_code,
    ]:
        assert expected in " ".join(text.split()), expected
    # The patient downloads this PDF: no peer-learning grade in it.
    assert "RADPEER" not in text and "Discrepancy in interpretation" not in text

    response = client.get(reverse("reviewers:opinion-pdf", args=[case.code, opinion.code]))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(target_type="opinion-report", actor=reviewer.user).exists()


def test_a_reviewer_may_sign_with_their_own_pdf(client, claimed):
    case, _, opinion = claimed
    client.force_login(case.assigned_reviewer.user)
    _blind(client, case)
    _grade(client, case, radpeer="1", recommendation_change="same", concordance_comment="")
    own = pdf_upload("signed.pdf", pages=2)
    client.post(
        reverse("reviewers:read-sign", args=[case.code]),
        {"signed_name": "Rita Novak", "attest": "on", "pdf": own},
    )
    opinion.refresh_from_db()
    assert opinion.pdf_uploaded and not opinion.is_discordant
    with opinion.pdf.open("rb") as handle:
        assert len(PdfReader(io.BytesIO(handle.read())).pages) == 2


@pytest.mark.parametrize(
    ("theirs", "mine", "discordant"),
    [
        ("2", "1", False),
        ("4A", "4C", True),
        ("4B", "4A", True),
        ("2", "4A", True),
        ("4B", "3", True),
    ],
)
def test_a_birads_change_is_discordant_when_it_changes_management_or_suspicion(
    theirs, mine, discordant
):
    case = Case(exam_type="mammogram", body_region="breast", birads="", had_biopsy="no")
    opinion = Opinion(case=case, radpeer="2a", birads=mine, original_birads=theirs)
    assert opinion.is_discordant is discordant
