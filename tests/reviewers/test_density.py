"""Breast density in every mammogram report, and suspicious results delivered within 7 days."""

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from pypdf import PdfReader

from requests_app import findings
from requests_app.models import Case
from reviewers import meaning, services
from reviewers.models import Opinion
from tests.reviewers.conftest import make_reviewer, queued_case

CHICAGO = ZoneInfo("America/Chicago")
DAY = date(2027, 6, 7)
CHANGELIST = "admin:requests_app_case_changelist"


def mammogram(patient, **fields) -> Case:
    fields = {"exam_type": "mammogram", "body_region": "breast", "birads": "3", **fields}
    return queued_case(patient, queue_id="breast", had_biopsy="no", **fields)


@pytest.fixture
def imager(db):
    return make_reviewer("bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True)


def claimed(case, reader) -> Opinion:
    return services.claim_case(case, reviewer=reader, by=reader.user)


def read(opinion, *, birads="3", density="b", radpeer="1", comment="") -> None:
    user = opinion.reviewer.user
    services.file_blind_read(
        opinion, by=user, findings="F.", impression="I.", birads=birads, breast_density=density
    )
    services.grade_concordance(
        opinion, by=user, radpeer=radpeer, comment=comment, patient_summary="Plain words."
    )
    services.sign_report(opinion, by=user, signed_name="Dr. Bea Imager")
    opinion.refresh_from_db()


def test_a_mammogram_reading_needs_a_density_category(client, alice, imager):
    case = mammogram(alice)
    opinion = claimed(case, imager)
    with pytest.raises(services.ReviewError, match="breast density"):
        services.file_blind_read(opinion, by=imager.user, findings="F", impression="I", birads="2")
    client.force_login(imager.user)
    page = client.get(reverse("reviewers:case-detail", args=[case.code])).content.decode()
    for _, label in meaning.DENSITY_CHOICES:
        assert label in page
    response = client.post(
        reverse("reviewers:read-file", args=[case.code]),
        {"findings": "F", "impression": "I", "birads": "2"},
    )
    assert response.status_code == 400
    opinion.refresh_from_db()
    assert opinion.is_blind


def test_a_breast_mri_is_not_asked_for_mammographic_density(client, alice, imager):
    case = mammogram(alice, exam_type="mri")
    opinion = claimed(case, imager)
    services.file_blind_read(opinion, by=imager.user, findings="F", impression="I", birads="2")
    opinion.refresh_from_db()
    assert opinion.breast_density == ""


@pytest.mark.parametrize(
    ("density", "statement"),
    [
        ("a", meaning.DENSITY_NOT_DENSE),
        ("b", meaning.DENSITY_NOT_DENSE),
        ("c", meaning.DENSITY_DENSE),
        ("d", meaning.DENSITY_DENSE),
    ],
)
def test_the_lay_summary_carries_the_federal_density_statement(
    client, alice, imager, density, statement
):
    case = mammogram(alice)
    opinion = claimed(case, imager)
    read(opinion, density=density)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert statement in page.replace("&#x27;", "'")
    other = meaning.DENSITY_DENSE if statement == meaning.DENSITY_NOT_DENSE else None
    if other:
        assert other not in page
    with opinion.pdf.open("rb") as handle:
        text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(handle.read())).pages)
    assert " ".join(statement.split()) in " ".join(text.split())


def test_the_density_statements_are_the_rules_words():
    assert "Your breast tissue is dense. In some people with dense tissue" in meaning.DENSITY_DENSE
    assert (
        "Your breast tissue is not dense. Talk to your healthcare provider about breast "
        "density, risks for breast cancer, and your individual situation."
        in (meaning.DENSITY_NOT_DENSE)
    )


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHICAGO)


def test_a_suspicious_result_is_due_to_the_patient_within_7_days(client, alice, sam, imager):
    with time_machine.travel(at(DAY), tick=False):
        case = mammogram(alice, birads="4A")
        read(claimed(case, imager), birads="4B", radpeer="2a", comment="More suspicious margins.")
        case.refresh_from_db()
        assert case.result_due_at == at(DAY) + timedelta(days=7)
        client.force_login(sam)
        listed = client.get(reverse(CHANGELIST) + "?flag=result_due").content.decode()
        assert case.short_code in listed and "deliver result by Jun 14" in listed
        dashboard = client.get(reverse("admin:requests_app_case_dashboard")).content.decode()
        assert "Suspicious results: deliver within 7 days" in dashboard
        assert case.short_code in dashboard.split('id="dash-results-due"')[1].split("</div>")[0]

    with time_machine.travel(at(DAY + timedelta(days=1)), tick=False):
        client.force_login(alice)
        client.get(reverse("requests:case-detail", args=[case.code]))  # she reads her report
        assert not Case.objects.filter(findings.RESULT_PENDING, pk=case.pk).exists()


def test_a_call_that_reaches_the_patient_delivers_the_result(alice, sam, imager):
    case = mammogram(alice, birads="4A")
    read(claimed(case, imager), birads="5", radpeer="2b", comment="Spiculated mass.")
    case.refresh_from_db()
    assert Case.objects.filter(findings.RESULT_PENDING, pk=case.pk).exists()
    findings.record_contact(case, by=sam, party="patient", outcome="message")
    assert Case.objects.filter(findings.RESULT_PENDING, pk=case.pk).exists()
    findings.record_contact(case, by=sam, party="patient", outcome="reached")
    assert not Case.objects.filter(findings.RESULT_PENDING, pk=case.pk).exists()


@pytest.mark.parametrize("birads", ["1", "2", "3"])
def test_results_that_are_not_suspicious_get_no_delivery_date(alice, imager, birads):
    case = mammogram(alice, birads=birads)
    read(claimed(case, imager), birads=birads)
    case.refresh_from_db()
    assert case.result_due_at is None
