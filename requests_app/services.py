"""Every write to a case that matters goes through here: status changes above all.

Each transition is one guarded function: it claims the change with a conditional UPDATE (so a
double click or a second worker cannot apply it twice) and writes a line on the case's timeline.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from . import notifications, priority, sla
from .access import selected
from .models import Authorization, Case, CaseEvent

AUTHORIZATION_VERSION = "2026-12"
AUTHORIZATION_VALID_DAYS = 365


class CaseError(Exception):
    """A request the case's current state does not allow; the message is for the user."""


def transition(
    case: Case,
    *,
    to: str,
    allowed_from: Iterable[str],
    by,
    message: str,
    tell_patient: bool = True,
    **fields,
) -> None:
    """The one way a case changes status: the row, its timeline line and the patient's
    notification are written together or not at all; the e-mail goes once that commits.

    The row is locked and read first, so the timeline names the status the case really left
    (the object in hand may be stale) and a double click or a second worker waits, then finds
    the status moved on. Named service functions (here and in the other apps' services) call
    this for each transition the life cycle allows; nothing else writes `Case.status`.
    """
    allowed_from = tuple(allowed_from)
    now = timezone.now()
    with transaction.atomic():
        current = (
            Case.objects.select_for_update()
            .filter(pk=case.pk)
            .values("status", "queue_id", "priority")
            .first()
        )
        if current is None or current["status"] not in allowed_from:
            status = Case.Status(current["status"]) if current else None
            if status:
                case.status = status
            raise CaseError(
                f"This request is {status.label.lower() if status else 'gone'}, "
                "so that is not possible now."
            )
        from_status = current["status"]
        clock = sla.clock_for(
            status=to,
            queue=fields.get("queue_id", current["queue_id"]),
            priority=current["priority"],
            start=now,
        )
        Case.objects.filter(pk=case.pk).update(
            status=to,
            status_changed_at=now,
            sla_warn_at=clock.warn_at,
            sla_due_at=clock.due_at,
            sla_escalated_at=None,
            **fields,
        )
        CaseEvent.objects.create(
            case=case, at=now, actor=by, from_status=from_status, to_status=to, message=message
        )
        # A new reviewer within review is not news for the inbox; `tell_patient=False` when the
        # step itself is not (a coordinator's assignment: the reviewer has not started yet).
        if from_status != to and tell_patient:
            notifications.case_status_changed(case, to=to)
    case.status = to
    case.status_changed_at = now
    case.sla_warn_at, case.sla_due_at, case.sla_escalated_at = clock.warn_at, clock.due_at, None
    for name, value in fields.items():
        setattr(case, name, value)


def add_to_timeline(case: Case, by, message: str, *, at=None) -> CaseEvent:
    """Put a line on the case's timeline that is not a status change, cut to the field's length."""
    return CaseEvent.objects.create(
        case=case, at=at or timezone.now(), actor=by, message=message[:300]
    )


def create_draft(*, patient) -> Case:
    """Start a new request as a draft the patient can come back to, within their allowance of
    requests not yet submitted (PATIENT_MAX_OPEN_DRAFTS)."""
    limit = settings.PATIENT_MAX_OPEN_DRAFTS
    with transaction.atomic():
        # The patient's row is locked: two tabs cannot both take the last place.
        get_user_model().objects.select_for_update().filter(pk=patient.pk).first()
        if Case.objects.filter(patient=patient, status=Case.Status.DRAFT).count() >= limit:
            raise CaseError(
                f"You already have {limit} request{'s' if limit != 1 else ''} you have not "
                "submitted; finish or delete one of them before you start another."
            )
        case = Case.objects.create(patient=patient)
        CaseEvent.objects.create(
            case=case,
            actor=patient,
            to_status=Case.Status.DRAFT,
            message="Request started.",
        )
    return case


def ensure_editable(case: Case) -> None:
    """Raise unless the patient may still change the request (draft, or records asked for)."""
    if not case.is_editable_by_patient:
        raise CaseError(
            "This request has been submitted; write to your care coordinator to change it."
        )


@contextmanager
def locked_editable(case: Case) -> Iterator[Case]:
    """A transaction holding the case's row locked, entered only while the patient may change it.

    The caller's copy may be stale: a page loads the case, then spends seconds checking a file
    while another request submits it. The row is read again under the lock, so a write made in
    here cannot land after submission (whose conditional UPDATE waits for the lock).
    """
    with transaction.atomic():
        current = Case.objects.select_for_update().filter(pk=case.pk).first()
        if current is None:
            raise CaseError("This request no longer exists.")
        case.status = current.status
        ensure_editable(current)
        yield current


def update_case(case: Case, *, by, fields: dict) -> None:
    """Save the patient's answers on an editable case; only the named fields are written."""
    ensure_editable(case)
    for name, value in fields.items():
        setattr(case, name, value)
    with locked_editable(case):
        case.save(update_fields=[*fields, "updated_at"])


# --- The HIPAA authorization (45 CFR 164.508) -----------------------------------------------------


def exam_description(case: Case) -> str:
    """The exam as an authorization names it: kind, date and facility."""
    parts = [case.title]
    if case.exam_date:
        parts.append(f"of {case.exam_date:%B %-d, %Y}")
    if case.facility_name:
        parts.append(f"done at {case.facility_name}")
    return " ".join(parts)


# What the authorization names, the case field that holds each, and how a page asks for it.
AUTHORIZATION_DETAILS = (
    ("patient_name", "the patient's full name"),
    ("patient_birth_date", "the patient's date of birth"),
    ("exam_type", "the type of scan"),
    ("exam_date", "the date of the scan"),
    ("facility_name", "where the scan was done"),
)


def authorization_fields_missing(case: Case) -> list[str]:
    """The case fields the authorization names that are still empty."""
    missing = []
    for name, _label in AUTHORIZATION_DETAILS:
        value = getattr(case, name)
        if not (value.strip() if isinstance(value, str) else value):
            missing.append(name)
    return missing


def authorization_details_missing(case: Case) -> list[str]:
    """What must be known before the authorization can name the patient and the exam."""
    missing = set(authorization_fields_missing(case))
    return [label for name, label in AUTHORIZATION_DETAILS if name in missing]


def sign_authorization(
    case: Case,
    *,
    by,
    signed_name: str,
    authority: str = "",
    authority_document_code=None,
    ip_address: str | None = None,
) -> Authorization:
    """Record a signed HIPAA authorization with the exact text shown, on any case not closed.

    It names the patient, their birth date and the exam, so those must be known first. A
    personal representative states their authority and has uploaded proof of it; "parent" is an
    authority only while the patient is under 18. An earlier signature is superseded, not revoked.
    """
    if case.status == Case.Status.CLOSED:
        raise CaseError("This request is closed.")
    missing = authorization_details_missing(case)
    if missing:
        raise CaseError("Before you sign, tell us " + ", ".join(missing) + ".")
    signed_name = " ".join(signed_name.split())
    if not signed_name:
        raise CaseError("Type your full name to sign.")
    signed_at = timezone.now()
    today = timezone.localdate(signed_at)
    if authority:
        if authority not in Authorization.Authority.values:
            raise CaseError("Choose who is signing for the patient.")
        # A parent is a personal representative only of a minor (45 CFR 164.502(g)(3)).
        if authority == Authorization.Authority.PARENT and case.patient_age_today >= 18:
            raise CaseError(
                "A parent signs for a patient under 18 only; an adult patient signs for "
                "themselves, or a guardian or health care agent signs with proof of authority."
            )
        if authority_document_code is None:
            raise CaseError("Add a document that shows your authority to act for the patient.")
    elif " ".join(case.patient_name.split()).casefold() != signed_name.casefold():
        raise CaseError(
            f"Type the patient's full name exactly as entered (“{case.patient_name}”), or say "
            "who is signing for them."
        )
    expires_on = today + timedelta(days=AUTHORIZATION_VALID_DAYS)
    text = authorization_text(
        case, signed_name=signed_name, authority=authority, expires_on=expires_on, signed_on=today
    )
    with transaction.atomic():
        case.authorizations.filter(superseded_at__isnull=True, revoked_at__isnull=True).update(
            superseded_at=signed_at
        )
        authorization = Authorization.objects.create(
            case=case,
            signed_by=by,
            signed_name=signed_name,
            signer_relationship=Authorization.Authority(authority).label if authority else "",
            authority=authority,
            authority_document_code=authority_document_code if authority else None,
            signed_at=signed_at,
            expires_on=expires_on,
            text_version=AUTHORIZATION_VERSION,
            text=text,
            patient_name=case.patient_name,
            patient_birth_date=case.patient_birth_date,
            exam=exam_description(case),
            ip_address=ip_address,
        )
        CaseEvent.objects.create(
            case=case, at=signed_at, actor=by, message="HIPAA authorization signed."
        )
    return authorization


def authorization_text(
    case: Case, *, signed_name: str, authority: str, expires_on, signed_on
) -> str:
    """The authorization as the patient reads and signs it, with every element and statement
    45 CFR 164.508(c) requires. Only for a case whose patient and exam are known."""
    if authorization_details_missing(case):
        raise CaseError("The authorization names the patient and the exam: give those first.")
    return render_to_string(
        "requests_app/authorization.txt",
        {
            "case": case,
            "exam": exam_description(case),
            "prior_breast_imaging": case.is_mammogram,
            "signed_name": signed_name,
            "authority": Authorization.Authority(authority).label if authority else "",
            "expires_on": expires_on,
            "signed_on": signed_on,
            "version": AUTHORIZATION_VERSION,
            "provider_name": settings.PROVIDER_NAME,
            "provider_address": settings.PROVIDER_ADDRESS,
            "privacy_email": settings.PRIVACY_OFFICE_EMAIL,
        },
    )


def details_changed_since(authorization: Authorization, case: Case) -> list[str]:
    """What the signed text names that the request now has differently, in plain words."""
    changed = []
    if authorization.patient_name != case.patient_name:
        changed.append("the patient's name")
    if authorization.patient_birth_date != case.patient_birth_date:
        changed.append("the patient's date of birth")
    if authorization.exam != exam_description(case):
        changed.append("the scan")
    return changed


def names_current_details(authorization: Authorization, case: Case) -> bool:
    """Does the signed text still name the patient and the exam as the request now has them?"""
    return not details_changed_since(authorization, case)


AUTHORIZATIONS_NEWEST_FIRST = ("-signed_at", "-pk")
# The name under which a page selects a case's latest authorization with the case.
LATEST_AUTHORIZATION = "latest_signed_authorization"


def latest_authorization(case: Case) -> Authorization | None:
    """The last one signed, whatever has happened to it since (the one a page selected with the
    case under `LATEST_AUTHORIZATION`, when it did)."""
    return selected(
        case,
        LATEST_AUTHORIZATION,
        lambda: case.authorizations.order_by(*AUTHORIZATIONS_NEWEST_FIRST).first(),
    )


def active_authorization(
    case: Case, *, latest: Authorization | None = None
) -> Authorization | None:
    """The authorization that may be relied on today: signed last, not revoked, not expired,
    and still naming the patient and the exam as the request has them (`latest`: the case's
    `latest_authorization`, when the caller has it)."""
    authorization = latest or latest_authorization(case)
    if (
        authorization is None
        or authorization.revoked_at is not None
        or authorization.expires_on < timezone.localdate()
        or not names_current_details(authorization, case)
    ):
        return None
    return authorization


@dataclass(frozen=True)
class AuthorizationState:
    """Where a case's authorization stands, in the words its pages use."""

    latest: Authorization | None
    active: Authorization | None
    missing_details: list[str]
    status: str  # none, active, revoked, expired, details_changed
    changed: list[str] = field(default_factory=list)  # what changed since it was signed

    @property
    def can_sign(self) -> bool:
        return not self.missing_details and self.status != "active"


def authorization_state(case: Case) -> AuthorizationState:
    latest = latest_authorization(case)
    active = active_authorization(case, latest=latest) if latest else None
    if latest is None:
        status = "none"
    elif latest.revoked_at is not None:
        status = "revoked"
    elif active is not None:
        status = "active"
    elif latest.expires_on < timezone.localdate():
        status = "expired"
    else:
        status = "details_changed"
    changed = details_changed_since(latest, case) if status == "details_changed" else []
    return AuthorizationState(latest, active, authorization_details_missing(case), status, changed)


def authorization_preview(case: Case) -> str | None:
    """The text the patient is about to sign (None until it can name the patient and exam)."""
    if authorization_details_missing(case):
        return None
    today = timezone.localdate()
    return authorization_text(
        case,
        signed_name="(your name, typed below)",
        authority="",
        expires_on=today + timedelta(days=AUTHORIZATION_VALID_DAYS),
        signed_on=today,
    )


def revoke_authorization(
    authorization: Authorization,
    *,
    by,
    method: str,
    received_on=None,
    note: str = "",
) -> None:
    """Revoke an authorization: online by the patient, or in writing, recorded by a coordinator
    with the day the letter arrived. From then on nothing new is asked for under it; what was
    disclosed before stays where it is (45 CFR 164.508(b)(5))."""
    now = timezone.now()
    if method == Authorization.Revocation.WRITTEN:
        if received_on is None:
            raise CaseError("Give the day the written revocation was received.")
        if received_on > timezone.localdate(now):
            raise CaseError("The day it was received cannot be in the future.")
    with transaction.atomic():
        claimed = Authorization.objects.filter(pk=authorization.pk, revoked_at__isnull=True).update(
            revoked_at=now,
            revocation=method,
            revocation_received_on=received_on,
            revocation_note=note.strip()[:300],
            revoked_by=by,
        )
        if claimed != 1:
            raise CaseError("This authorization has already been revoked.")
        how = (
            f"in writing (received {received_on:%b %-d, %Y})"
            if method == Authorization.Revocation.WRITTEN
            else "by the patient"
        )
        add_to_timeline(authorization.case, by, f"HIPAA authorization revoked {how}.")
    authorization.refresh_from_db()


def submit_case(case: Case, *, by, missing: list[str]) -> None:
    """draft or needs_records -> submitted, once nothing required is missing.

    Records the patient's consent and raises the priority the answers call for (a suspicious
    BI-RADS, a treatment booked soon); after commit, a worker checks whether the records are in
    order and moves the case on (the records app's task, named here to keep apps apart).
    """
    if missing:
        raise CaseError("Before you submit: " + "; ".join(missing) + ".")
    now = timezone.now()
    again = case.status == Case.Status.NEEDS_RECORDS
    transition(
        case,
        to=Case.Status.SUBMITTED,
        allowed_from=[Case.Status.DRAFT, Case.Status.NEEDS_RECORDS],
        by=by,
        message="Records updated and sent again." if again else "Request submitted.",
        submitted_at=case.submitted_at or now,
        consent_at=now,
    )
    priority.apply_risk_priority(case)
    case_id = case.pk
    transaction.on_commit(
        lambda: current_app.send_task("requests_app.tasks.advance_case_task", args=[case_id])
    )


def request_records(case: Case, *, by, message: str) -> None:
    """submitted/awaiting_insurance/queued -> needs_records: images missing or unusable.

    The checks ask from submitted; a coordinator may also ask later, before a specialist has it.
    """
    transition(
        case,
        to=Case.Status.NEEDS_RECORDS,
        allowed_from=[
            Case.Status.SUBMITTED,
            Case.Status.AWAITING_INSURANCE,
            Case.Status.QUEUED,
        ],
        by=by,
        message=message,
    )


def route_case(
    case: Case,
    *,
    queue: str,
    confidence: int,
    reasons: str,
    needs_coordinator: bool,
    insurance_cleared: bool,
) -> None:
    """submitted -> awaiting_insurance, or queued when there is nothing to clear with an insurer.

    The records are in order: the case joins the queue its images (and answers) point to.
    """
    to = Case.Status.QUEUED if insurance_cleared else Case.Status.AWAITING_INSURANCE
    fields = {
        "queue_id": queue,
        "routing_confidence": confidence,
        "routing_reasons": reasons,
    }
    if needs_coordinator:
        fields["needs_coordinator"] = True
    transition(
        case,
        to=to,
        allowed_from=[Case.Status.SUBMITTED],
        by=None,
        message="Images checked: readable and complete enough for a specialist.",
        **fields,
    )


# The patient's answers about who, what and why. Until submission the patient changes them in the
# wizard; after it, only `reviewers.services.correct_clinical_answers` does, because who may read
# the case (licence in the patient's state, MQSA for a mammogram, independence from the facility)
# follows from them.
CLINICAL_ANSWERS = (
    "patient_name",
    "patient_birth_date",
    "patient_state",
    "opinion_state",
    "exam_type",
    "body_region",
    "exam_date",
    "facility_name",
    "facility_location",
    "clinical_question",
    "reason",
    "reason_details",
    "scheduled_treatment_on",
    "birads",
    "had_biopsy",
    "palpable_lump",
    "requested_subspecialty",
    "review_type",
    "clinical_specialty",
    "visit_mode",
)
# From the report on, the answers are what a signed report was written against: they stay.
CORRECTABLE_FROM = (
    Case.Status.SUBMITTED,
    Case.Status.NEEDS_RECORDS,
    Case.Status.AWAITING_INSURANCE,
    Case.Status.QUEUED,
    Case.Status.IN_REVIEW,
)


def delete_draft(case: Case, *, by) -> None:
    """Delete the rows of a draft that was never submitted.

    Its stored files belong to the records app, which gathers them before calling this and
    removes them after (`records.services.delete_draft`, what the page calls).
    """
    with transaction.atomic():
        deleted, _ = Case.objects.filter(pk=case.pk, status=Case.Status.DRAFT).delete()
        if not deleted:
            raise CaseError("Only a request that was never submitted can be deleted.")
