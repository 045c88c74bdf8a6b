"""Rows for the benchmarks, written in bulk: people, thousands of cases, one realistic case.

Needs Django configured (``bench.database.setup``). Nothing here is real patient data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from insurance.models import CaseInsurance
from records.models import Document, Instance, Series, Study, Upload, UploadFile, UploadProblem
from requests_app.models import AuditEvent, Case, CaseEvent
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
# The statuses whose clock runs (requests_app.sla).
OPEN = (
    Case.Status.SUBMITTED,
    Case.Status.NEEDS_RECORDS,
    Case.Status.AWAITING_INSURANCE,
    Case.Status.QUEUED,
    Case.Status.IN_REVIEW,
)
READ = (Case.Status.REPORT_READY, Case.Status.CLOSED)  # a specialist has read the case
PLAN_TYPES = ["commercial", "commercial", "medicare", "medicare_advantage", "medicaid", "none"]
FIRST_NAMES = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Femi", "Grace", "Hugo", "Ines", "Jon"]
LAST_NAMES = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Fox", "Garcia", "Hall", "Ito", "Khan"]
REVIEWERS_PER_SUBSPECIALTY = 5


@dataclass
class People:
    patient: object
    coordinator: object
    reviewer: object  # a neuroradiologist
    reviewers: dict[str, list[ReviewerProfile]]


def _user(username: str, **fields):
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"email": username, **fields}
    )
    return user


def people() -> People:
    """The three people whose pages are measured, and reviewers per queue."""
    ensure_role_groups()
    with transaction.atomic():
        patient = _user("bench-patient@example.com", first_name="Jane", last_name="Doe")
        coordinator = _user("bench-coordinator@example.com", is_staff=True)
        coordinator.groups.add(Group.objects.get(name=COORDINATORS))
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
    return People(patient, coordinator, reviewers["neuroradiology"][0].user, reviewers)


def cases(people: People, n: int, *, seed: int = 0) -> None:
    """``n`` more cases as a busy service has them: their own patients (some with two cases),
    spread over statuses, exams, queues, priorities and clocks, each submitted one with its
    insurance, upload and study, a few with a patient mismatch, urgent finding or result to
    deliver, and the timeline and audit rows they leave. PostgreSQL works every row out itself
    (INSERT ... SELECT over generate_series): nothing goes through Python row by row."""
    prefix = f"bench-s{seed}-p"
    with transaction.atomic(), connection.cursor() as cursor:
        # The rows are made consistent here: the database need not check each foreign key.
        cursor.execute("SET LOCAL session_replication_role = replica")
        _derived(
            cursor,
            get_user_model(),
            f"generate_series(1, {max(n * 3 // 4, 1)}) AS g(n)",
            username=f"'{prefix}' || g.n || '@example.com'",
            email=f"'{prefix}' || g.n || '@example.com'",
            password=f"'{make_password(None)}'",
            date_joined=f"'{timezone.now().isoformat()}'::timestamptz",
        )
        _cases(cursor, people, n, seed)


def _sql_list(values) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _pick(values, r: str) -> str:
    """One of ``values`` (literals), chosen by the random number ``r`` in [0, 1)."""
    return f"(ARRAY[{_sql_list(values)}])[1 + floor({r} * {len(values)})::int]"


def _cases(cursor, people: People, n: int, seed: int) -> None:
    """The cases, worked out by the database: their own patients (made first), statuses by
    weight, exams and queues, clocks, flags; then what hangs from each."""
    last = Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    patients = get_user_model().objects.filter(username__startswith=f"bench-s{seed}-p")
    low, high = patients.aggregate(low=Min("pk"), high=Max("pk")).values()
    total, upper, bounds = sum(STATUS_WEIGHTS.values()), 0, []
    for value, weight in STATUS_WEIGHTS.items():
        upper += weight
        bounds.append((upper, value))
    status = (
        "CASE "
        + " ".join(
            f"WHEN r.status < {upper / total} THEN '{value.value}'" for upper, value in bounds[:-1]
        )
        + f" ELSE '{bounds[-1][1].value}' END"
    )
    reviewers = (
        "CASE e.slug "
        + " ".join(
            f"WHEN '{slug}' THEN (ARRAY[{', '.join(str(p.pk) for p in profiles)}])"
            f"[1 + floor(r.reviewer * {len(profiles)})::int]"
            for slug, profiles in people.reviewers.items()
        )
        + " END"
    )
    open_, read = _sql_list(s.value for s in OPEN), _sql_list(s.value for s in READ)
    routed = "s.status NOT IN ('draft', 'submitted', 'needs_records')"
    assigned = f"s.status IN ('in_review', {read})"
    cursor.execute("SELECT setseed(%s)", [1 / (seed + 2)])
    now = f"'{timezone.now().isoformat()}'::timestamptz"  # the site's clock, not the database's
    _derived(
        cursor,
        Case,
        f"generate_series(1, {n}) AS g(n)"
        # random() once per row and purpose (g.n keeps each draw to its row)
        " CROSS JOIN LATERAL (SELECT g.n, random() AS status, random() AS exam,"
        " random() AS age, random() AS stay, random() AS clock, random() AS late,"
        " random() AS reviewer, random() AS flag, random() AS other) AS r"
        f" CROSS JOIN LATERAL (SELECT {status} AS status) AS s"
        " CROSS JOIN LATERAL (SELECT"
        f" {_pick([e[0] for e in EXAMS], 'r.exam')} AS exam,"
        f" {_pick([e[1] for e in EXAMS], 'r.exam')} AS region,"
        f" {_pick([e[2] for e in EXAMS], 'r.exam')} AS slug) AS e"
        # a case whose clock runs moved into its status lately; the others over two years
        f" CROSS JOIN LATERAL (SELECT CASE WHEN s.status IN ({open_})"
        f" THEN {now} - r.stay * interval '20 hours' - r.age * interval '20 days'"
        f" ELSE {now} - interval '20 days' - r.age * interval '680 days' END AS created) AS c"
        f" CROSS JOIN LATERAL (SELECT CASE WHEN s.status IN ({open_})"
        f" THEN {now} - r.stay * interval '20 hours'"
        " ELSE c.created + r.stay * interval '20 days' END AS changed) AS t"
        # the clock runs out one to three days on, for a tenth within hours
        f" CROSS JOIN LATERAL (SELECT CASE WHEN s.status NOT IN ({open_}) THEN NULL"
        " WHEN r.late < 0.1 THEN t.changed + r.clock * interval '10 hours'"
        " ELSE t.changed + (1 + floor(r.clock * 3)) * interval '24 hours' END AS due) AS d",
        code="gen_random_uuid()",
        patient_id=f"{low} + floor(random() * {high - low + 1})::int",
        status="s.status",
        status_changed_at="t.changed",
        created_at="c.created",
        updated_at="t.changed",
        submitted_at="CASE WHEN s.status <> 'draft' THEN c.created + interval '1 day' END",
        patient_name=f"{_pick(FIRST_NAMES, 'random()')} || ' ' || {_pick(LAST_NAMES, 'random()')}",
        patient_birth_date="date '1950-01-01' + floor(r.other * 20000)::int",
        patient_state="'IL'",
        exam_type="e.exam",
        body_region="e.region",
        exam_date="c.created::date",
        facility_name="'Benchmark General Hospital'",
        clinical_question="'Is the lesion a tumour?'",
        reason="'serious_diagnosis'",
        review_type="'radiology'",
        visit_mode="'remote'",
        requested_subspecialty_id="e.slug",
        queue_id=f"CASE WHEN {routed} THEN e.slug END",
        routing_confidence=f"CASE WHEN {routed} THEN {_pick([55, 80, 95], 'r.other')}::int END",
        needs_coordinator="s.status <> 'draft' AND r.flag < 0.03",
        assigned_reviewer_id=f"CASE WHEN {assigned} THEN {reviewers} END",
        priority="CASE WHEN random() < 0.85 THEN 0 WHEN random() < 0.8 THEN 1 ELSE 2 END",
        on_hold=f"s.status IN ({open_}) AND r.flag > 0.99",
        sla_warn_at="d.due - interval '8 hours'",
        sla_due_at="d.due",
        urgent_finding_at=f"CASE WHEN s.status IN ({read}) AND r.flag < 0.005 THEN t.changed END",
        urgent_finding_done_at=(
            f"CASE WHEN s.status IN ({read}) AND r.flag < 0.0035"
            " THEN t.changed + interval '3 hours' END"
        ),
        result_due_at=(
            f"CASE WHEN s.status IN ({read}) AND e.exam = 'mammogram' AND r.late < 0.05"
            " THEN t.changed + interval '7 days' END"
        ),
        result_delivered_at=(
            f"CASE WHEN s.status IN ({read}) AND e.exam = 'mammogram' AND r.late < 0.04"
            " THEN t.changed + interval '2 days' END"
        ),
    )
    # What hangs from each case, worked out by the database from the cases' rows.
    submitted = f"{_table(Case)} c WHERE c.id > {last} AND c.submitted_at IS NOT NULL"
    _derived(
        cursor,
        CaseInsurance,
        submitted,
        case_id="c.id",
        plan_type=f"(ARRAY[{', '.join(repr(t) for t in PLAN_TYPES)}])"
        f"[1 + floor(random() * {len(PLAN_TYPES)})::int]",
        insurer_name="'Benchmark Health'",
        member_id="'BH' || lpad(floor(random() * 1e9)::bigint::text, 9, '0')",
        has_referral="'no'",
        updated_at="c.submitted_at",
    )
    _derived(
        cursor,
        Upload,
        submitted,
        code="gen_random_uuid()",
        case_id="c.id",
        uploaded_by_id="c.patient_id",
        status=f"'{Upload.Status.VALID.value}'",
        created_at="c.created_at",
        completed_at="c.submitted_at",
        validated_at="c.submitted_at",
        file_count="200",
        total_bytes="100000000",
        dicom_count="200",
    )
    uploads = f"{_table(Upload)} u WHERE u.case_id > {last}"
    _derived(
        cursor,
        Study,
        uploads,
        code="gen_random_uuid()",
        case_id="u.case_id",
        upload_id="u.id",
        study_instance_uid="'1.2.826.0.1.3680043.10.' || u.id",
        modalities="'MR'",
        description="'BENCHMARK STUDY'",
        series_count="4",
        instance_count="200",
    )
    _derived(
        cursor,
        UploadProblem,
        f"{uploads} AND random() < 0.01",
        upload_id="u.id",
        code="'patient_mismatch'",
        severity="'warning'",
        message="'The name in these images is not the patient''s.'",
    )
    _derived(
        cursor,
        CaseEvent,
        f"{_table(Case)} c CROSS JOIN (VALUES (1), (2)) AS e(n) WHERE c.id > {last}",
        case_id="c.id",
        at="CASE e.n WHEN 1 THEN c.created_at ELSE c.status_changed_at END",
        from_status="CASE e.n WHEN 1 THEN '' ELSE 'draft' END",
        to_status="CASE e.n WHEN 1 THEN 'draft' ELSE c.status END",
        message="CASE e.n WHEN 1 THEN 'Request started.' ELSE 'Status changed.' END",
    )
    # Each case page its patient opened, and the reports they read.
    read = ", ".join(f"'{status.value}'" for status in READ)
    _derived(
        cursor,
        AuditEvent,
        f"{_table(Case)} c CROSS JOIN (VALUES ('case'), ('opinion-report')) AS k(kind)"
        f" WHERE c.id > {last} AND (k.kind = 'case' OR c.status IN ({read}))",
        at="c.status_changed_at",
        actor_id="c.patient_id",
        action=f"'{AuditEvent.Action.VIEW.value}'",
        target_type="k.kind",
        target_code="c.code::text",
        case_code="c.code",
    )


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _derived(cursor, model, source: str, **columns: str) -> None:
    """Insert the rows of ``model`` that PostgreSQL works out from ``source`` (what follows
    FROM): ``columns`` as SQL over it, every other column its field's default."""
    names, values, defaults = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        names.append(connection.ops.quote_name(field.column))
        if field.attname in columns:
            values.append(columns[field.attname])
        else:
            values.append("%s")
            defaults.append(field.get_db_prep_save(field.get_default(), connection))
    cursor.execute(
        f"INSERT INTO {_table(model)} ({', '.join(names)})"  # noqa: S608 (our own SQL)
        f" SELECT {', '.join(values)} FROM {source}",
        defaults,
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
