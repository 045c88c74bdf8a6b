"""Builders for the reviewers' tests: specialists with credentials, and cases in their queues."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from pydicom.uid import generate_uid

from records import services as records_services
from records.models import Study, Upload
from requests_app import flow, services
from requests_app.models import Case
from reviewers.models import ReviewerLicense, ReviewerProfile, Subspecialty
from reviewers.routing import StudyFacts, load_rules, route
from tests.conftest import make_case, make_user, pdf_upload, upload_folder
from tests.records.dicom_factory import write_mammogram, write_series


def mqsa_dates(*, years_left: int = 1) -> dict:
    """MQSA fields of a mammogram reader whose continuing requirements run `years_left` more years
    from the (possibly frozen) clock's today."""
    today = timezone.localdate()
    return {
        "mqsa_initial_qualification_on": today - timedelta(days=5 * 365),
        "mqsa_continuing_experience_due": today + timedelta(days=365 * years_left),
        "mqsa_continuing_education_due": today + timedelta(days=365 * years_left + 30),
        "mqsa_last_verified_on": today - timedelta(days=10),
    }


def make_reviewer(
    email: str,
    name: str,
    *,
    subspecialties: tuple[str, ...] = ("neuroradiology",),
    states: tuple[str, ...] = ("IL",),
    user=None,
    mqsa: bool = False,
    **fields,
) -> ReviewerProfile:
    """A reviewer with licences in `states`, current for a year from today; `mqsa=True` makes
    them a current mammogram reader; `user` gives an existing persona a profile."""
    user = user or make_user(email, first_name=name.split()[-2], last_name=name.split()[-1])
    if mqsa:
        fields = {**mqsa_dates(), **fields}
    profile, _ = ReviewerProfile.objects.update_or_create(
        user=user, defaults={"display_name": name, **fields}
    )
    profile.subspecialties.set(Subspecialty.objects.filter(slug__in=subspecialties))
    today = timezone.localdate()
    for state in states:
        ReviewerLicense.objects.update_or_create(
            reviewer=profile,
            state=state,
            defaults={
                "number": f"{state}-{profile.pk:05d}",
                "expires_on": today + timedelta(days=365),
                "last_verified_on": today - timedelta(days=10),
            },
        )
    return profile


@pytest.fixture
def rita_profile(rita) -> ReviewerProfile:
    """Rita (the conftest neuroradiologist), licensed in Illinois where Alice lives."""
    return make_reviewer(
        rita.email,
        "Dr. Rita Novak",
        user=rita,
        board_certification="American Board of Radiology",
        fellowship="Neuroradiology",
    )


@pytest.fixture
def nils(db):
    """A second neuroradiologist, licensed in Illinois: the third-opinion reader."""
    return make_reviewer("nils@example.com", "Dr. Nils Berg").user


def queued_case(patient, **fields) -> Case:
    """A complete case waiting in the neuroradiology queue (no images)."""
    fields.setdefault("queue_id", "neuroradiology")
    return make_case(patient, complete=True, status=Case.Status.QUEUED, **fields)


def validated_case(patient, folder: Path, *, report: bool = True) -> tuple[Case, list[Path]]:
    """A brain MRI case whose upload passed the worker's check, routed into its queue.

    The check runs as the worker runs it; routing then uses the seeded routing table on the
    stored study and `route_case`, with insurance taken as cleared (the insurance app's own
    clearing is not what these tests are about). Returns the case and the files as written.
    """
    case = make_case(
        patient, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01"
    )
    if report:
        records_services.add_document(
            case, by=patient, kind="original_report", uploaded=pdf_upload("mri-report.pdf")
        )
    study_uid = generate_uid()
    files = write_series(folder / "CD" / "DICOM" / "SER1", n=6, study_uid=study_uid)
    files += write_series(
        folder / "CD" / "DICOM" / "SER2", n=4, series_number=2, study_uid=study_uid
    )
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)  # a draft is checked, and stays a draft
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID
    services.submit_case(case, by=patient, missing=[])
    decision = route(
        facts=StudyFacts(
            modalities=tuple(s.modalities for s in Study.objects.filter(case=case)),
            body_parts=tuple(s.body_parts for s in Study.objects.filter(case=case)),
            descriptions=tuple(s.description for s in Study.objects.filter(case=case)),
        ),
        declared_exam_type=case.exam_type,
        declared_region=case.body_region,
        age=case.patient_age,
        rules=load_rules(),
    )
    services.route_case(
        case,
        queue=decision.subspecialty,
        confidence=decision.confidence,
        reasons="\n".join(decision.reasons),
        needs_coordinator=decision.needs_coordinator,
        insurance_cleared=True,
    )
    case.refresh_from_db()
    assert (case.status, case.queue_id) == (Case.Status.QUEUED, "neuroradiology")
    return case, files


def validated_mammogram(patient, folder: Path) -> Case:
    """A screening mammogram, views stored out of order, checked by the worker; breast queue."""
    case = make_case(
        patient,
        complete=True,
        exam_type="mammogram",
        body_region="breast",
        birads="4A",
        had_biopsy="no",
        patient_name="Jane Doe",
        patient_birth_date="1970-01-01",
    )
    write_mammogram(folder, views=("LMLO", "RCC", "RMLO", "LCC"))
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="breast")
    case.refresh_from_db()
    return case


def checked_case(patient, folder: Path, *, queue: str = "neuroradiology", **fields) -> Case:
    """A case holding the images written under `folder`, checked by the worker and waiting in
    `queue` (routing is not what the viewer's tests are about)."""
    fields = {"patient_name": "Jane Doe", "patient_birth_date": "1970-01-01", **fields}
    case = make_case(patient, complete=True, **fields)
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID, upload.status
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id=queue)
    case.refresh_from_db()
    return case
