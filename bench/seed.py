"""Rows for the benchmarks, written in bulk: people, thousands of cases, one realistic case.

Needs Django configured (``bench.database.setup``). Nothing here is real patient data.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from insurance.models import CaseInsurance
from records.models import Document, Instance, Series, Study, Upload, UploadFile, UploadProblem
from requests_app.models import Case, CaseEvent
from requests_app.roles import COORDINATORS, ensure_role_groups
from reviewers.models import ReviewerProfile, Subspecialty

# How a busy service's cases spread over the life cycle, and the exams and queues they have.
STATUS_WEIGHTS = {
    Case.Status.DRAFT: 15,
    Case.Status.SUBMITTED: 3,
    Case.Status.NEEDS_RECORDS: 5,
    Case.Status.AWAITING_INSURANCE: 8,
    Case.Status.QUEUED: 12,
    Case.Status.IN_REVIEW: 10,
    Case.Status.REPORT_READY: 10,
    Case.Status.CLOSED: 37,
}
EXAMS = [
    ("mri", "brain", "neuroradiology"),
    ("mri", "spine", "neuroradiology"),
    ("mri", "knee", "musculoskeletal"),
    ("mammogram", "breast", "breast"),
    ("ct", "chest", "cardiothoracic"),
    ("ct", "abdomen", "abdominal"),
    ("pet", "whole_body", "nuclear_medicine"),
    ("xray", "hip", "musculoskeletal"),
]
REVIEWERS_PER_SUBSPECIALTY = 5
PATIENTS = 2000


@dataclass
class People:
    patient: object
    coordinator: object
    reviewer: object  # a neuroradiologist
    patients: list
    reviewers: dict[str, list[ReviewerProfile]]


def _user(username: str, **fields):
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"email": username, **fields}
    )
    return user


def people() -> People:
    """The three people whose pages are measured, other patients, and reviewers per queue."""
    ensure_role_groups()
    User = get_user_model()
    with transaction.atomic():
        patient = _user("bench-patient@example.com", first_name="Jane", last_name="Doe")
        coordinator = _user("bench-coordinator@example.com", is_staff=True)
        coordinator.groups.add(Group.objects.get(name=COORDINATORS))
        unusable = make_password(None)
        User.objects.bulk_create(
            [
                User(
                    username=f"bench-p{n}@example.com",
                    email=f"bench-p{n}@example.com",
                    password=unusable,
                )
                for n in range(PATIENTS)
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        patients = list(User.objects.filter(username__startswith="bench-p").order_by("pk"))
        reviewers: dict[str, list[ReviewerProfile]] = {}
        for subspecialty in Subspecialty.objects.all():
            profiles = []
            for n in range(REVIEWERS_PER_SUBSPECIALTY):
                user = _user(f"bench-{subspecialty.slug}-{n}@example.com")
                profile, _ = ReviewerProfile.objects.get_or_create(
                    user=user, defaults={"display_name": f"Dr. {subspecialty.name} {n}"}
                )
                profile.subspecialties.set([subspecialty])
                profiles.append(profile)
            reviewers[subspecialty.slug] = profiles
    return People(patient, coordinator, reviewers["neuroradiology"][0].user, patients, reviewers)


def cases(people: People, n: int, *, seed: int = 0) -> None:
    """``n`` more cases spread over patients, statuses, exams and queues, each with two events."""
    rng = random.Random(seed)
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    subspecialties = {s.slug: s for s in Subspecialty.objects.all()}
    now = timezone.now()
    rows = []
    for _ in range(n):
        status = rng.choices(statuses, weights)[0]
        exam, region, slug = rng.choice(EXAMS)
        created = now - timedelta(days=rng.uniform(0, 700))
        submitted = status != Case.Status.DRAFT
        routed = status not in (Case.Status.DRAFT, Case.Status.SUBMITTED, Case.Status.NEEDS_RECORDS)
        assigned = status in (Case.Status.IN_REVIEW, Case.Status.REPORT_READY, Case.Status.CLOSED)
        rows.append(
            Case(
                patient=rng.choice(people.patients),
                status=status,
                status_changed_at=created + timedelta(days=rng.uniform(0, 20)),
                submitted_at=created + timedelta(days=1) if submitted else None,
                patient_name="Synthetic Patient",
                patient_birth_date=date(1950, 1, 1) + timedelta(days=rng.randrange(20000)),
                patient_state="IL",
                exam_type=exam,
                body_region=region,
                exam_date=created.date(),
                facility_name="Benchmark General Hospital",
                clinical_question="Is the lesion a tumour?",
                reason="serious_diagnosis",
                review_type="radiology",
                visit_mode="remote",
                requested_subspecialty=subspecialties[slug],
                queue=subspecialties[slug] if routed else None,
                routing_confidence=80 if routed else None,
                assigned_reviewer=rng.choice(people.reviewers[slug]) if assigned else None,
            )
        )
    with transaction.atomic():
        made = Case.objects.bulk_create(rows, batch_size=1000)
        # created_at is auto_now_add: spread it afterwards, as the admin's date filter sees it
        for case in made:
            case.created_at = case.status_changed_at - timedelta(days=1)
        Case.objects.bulk_update(made, ["created_at"], batch_size=1000)
        CaseEvent.objects.bulk_create(
            [
                event
                for case in made
                for event in (
                    CaseEvent(case=case, to_status="draft", message="Request started."),
                    CaseEvent(
                        case=case,
                        from_status="draft",
                        to_status=case.status,
                        message="Status changed.",
                    ),
                )
            ],
            batch_size=2000,
        )


def patient_case(people: People) -> Case:
    """The measured patient's case: routed, insured, two documents, a rejected first upload and
    a valid MR of four series, and the timeline that goes with it."""
    patient = people.patient
    neuro = Subspecialty.objects.get(slug="neuroradiology")
    now = timezone.now()
    with transaction.atomic():
        case = Case.objects.create(
            patient=patient,
            status=Case.Status.AWAITING_INSURANCE,
            status_changed_at=now,
            submitted_at=now - timedelta(days=2),
            patient_name="Jane Doe",
            patient_birth_date=date(1970, 1, 1),
            patient_state="IL",
            exam_type="mri",
            body_region="brain",
            exam_date=date(2026, 10, 14),
            facility_name="Springfield General Hospital",
            facility_location="Springfield, IL",
            clinical_question="Is the lesion a tumour, and does it need surgery?",
            reason="serious_diagnosis",
            review_type="radiology",
            visit_mode="remote",
            requested_subspecialty=neuro,
            queue=neuro,
            routing_confidence=90,
        )
        CaseInsurance.objects.create(
            case=case,
            plan_type="medicare",
            insurer_name="Medicare",
            member_id="1EG4-TE5-MK72",
            has_referral="no",
        )
        for kind, name in (("original_report", "report.pdf"), ("pathology_report", "biopsy.pdf")):
            Document.objects.create(
                case=case,
                kind=kind,
                file=f"cases/{case.code}/documents/{uuid.uuid4()}/{name}",
                original_name=name,
                size=250_000,
                sha256="0" * 64,
                page_count=2,
                uploaded_by=patient,
            )
        first = Upload.objects.create(
            case=case,
            uploaded_by=patient,
            status=Upload.Status.INVALID,
            file_count=3,
            total_bytes=3_000_000,
            validated_at=now,
        )
        UploadProblem.objects.create(
            upload=first,
            code="pdf_document",
            severity="warning",
            path="CD/REPORT.PDF",
            message="This file is a PDF, not an image; add it under 'Original report' instead.",
        )
        UploadProblem.objects.create(
            upload=first,
            code="truncated",
            severity="error",
            path="CD/IM0001",
            message="This image is incomplete (the copy was cut short). Please copy it again.",
        )
        upload = Upload.objects.create(
            case=case,
            uploaded_by=patient,
            status=Upload.Status.VALID,
            file_count=600,
            total_bytes=324_000_000,
            validated_at=now,
            dicom_count=600,
        )
        study = Study.objects.create(
            case=case,
            upload=upload,
            study_instance_uid="1.2.3.4",
            modalities="MR",
            body_parts="BRAIN",
            description="MRI BRAIN WITHOUT CONTRAST",
            study_date="20261014",
            series_count=4,
            instance_count=600,
        )
        files = UploadFile.objects.bulk_create(
            UploadFile(
                upload=upload,
                relative_path=f"CD/SE{n // 150}/IM{n:04d}",
                status="complete",
                size=540_000,
            )
            for n in range(600)
        )
        for number in range(4):
            series = Series.objects.create(
                study=study,
                series_instance_uid=f"1.2.3.4.{number}",
                modality="MR",
                body_part="BRAIN",
                description=f"AX T{number + 1}",
                series_number=number + 1,
                instance_count=150,
                preview_key=f"{upload.prefix}previews/{number}.png",
            )
            Instance.objects.bulk_create(
                Instance(
                    series=series,
                    file=files[number * 150 + n],
                    sop_instance_uid=f"1.2.3.4.{number}.{n}",
                    instance_number=n + 1,
                    rows=512,
                    columns=512,
                )
                for n in range(150)
            )
        for message, old, new in (
            ("Request started.", "", "draft"),
            ("HIPAA authorization signed.", "", ""),
            ("Images uploaded: 3 files.", "", ""),
            ("Request submitted.", "draft", "submitted"),
            (
                "Some images have problems; see your records for what to do.",
                "submitted",
                "needs_records",
            ),
            ("Images uploaded: 600 files.", "", ""),
            ("Records updated and sent again.", "needs_records", "submitted"),
            (
                "Images checked: readable and complete enough for a specialist.",
                "submitted",
                "awaiting_insurance",
            ),
        ):
            CaseEvent.objects.create(
                case=case, actor=patient, from_status=old, to_status=new, message=message
            )
    return case
