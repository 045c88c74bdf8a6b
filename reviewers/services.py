"""Every write about who reads a case and what they say.

Status changes go through `requests_app.services.transition` (queued -> in_review on a claim or an
assignment, in_review -> queued on a release or when a "both" case's reading is signed and its
consultation is still to come, in_review -> report_ready on signing the last part,
report_ready -> queued for a third opinion); the rest is guarded with conditional UPDATEs so a
double click or two reviewers at once cannot apply a step twice.
"""

import hashlib
import logging
from collections.abc import Collection
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from records.services import RecordError, check_pdf
from requests_app import findings, priority
from requests_app import services as case_services
from requests_app.models import Case, CaseEvent, Notification
from requests_app.notifications import case_link, notify
from requests_app.services import CaseError, ensure_editable, transition

from . import meaning, readers, reports
from .matching import credential_problems_for, reasons_not_eligible, reasons_said
from .models import (
    FollowUpQuestion,
    Opinion,
    ReviewerChoice,
    ReviewerProfile,
)

logger = logging.getLogger(__name__)

MAX_FOLLOW_UP_QUESTIONS = 3


class ReviewError(CaseError):
    """A step the case or the reading does not allow now; the message is for the user."""


# --- The patient's choice ------------------------------------------------------------------------


def choose_reviewer(
    case: Case, *, reviewer: ReviewerProfile | None, why: str, by
) -> ReviewerChoice:
    """Record the patient's pick (a named specialist or first available) on an editable case."""
    ensure_editable(case)
    choice, _ = ReviewerChoice.objects.update_or_create(
        case=case,
        defaults={"reviewer": reviewer, "why": why, "chosen_at": timezone.now()},
    )
    return choice


def reserved_for_another(case: Case, reviewer: ReviewerProfile) -> bool:
    """The part of a second opinion the patient asked a named specialist for is theirs to claim.

    A "both" case has two parts: the named specialist holds the one their kind fills.
    """
    role = readers.next_role(case)
    if role not in readers.missing_roles(case):
        return False  # a third opinion goes to whoever is free and qualified
    return (
        ReviewerChoice.objects.filter(case=case, reviewer__kind=readers.KIND_FOR[role])
        .exclude(reviewer=reviewer)
        .exists()
    )


# How long a queued case waits for the specialist the patient named; then anyone eligible of the
# kind may take it from the subspecialty queue.
CHOICE_HOLD = timedelta(days=2)


def end_reservation(case: Case, *, reviewer: ReviewerProfile, because: str) -> bool:
    """The named specialist will not read this case: it goes to anyone eligible in its queue, and
    the patient is told on the site in a plain sentence. False when it was not reserved for them.

    `because`: why, in the patient's words (no medical detail), e.g. "could not take your case".
    """
    ended = ReviewerChoice.objects.filter(
        case=case,
        reviewer=reviewer,
        case__status=Case.Status.QUEUED,
        case__assigned_reviewer__isnull=True,
    ).update(reviewer=None)
    if not ended:
        return False
    said = f"{reviewer.display_name} {because}."
    goes_on = "Your case now goes to the first available specialist of the right kind."
    case_services.add_to_timeline(case, None, f"{said} {goes_on}")
    notify(
        case.patient,
        kind=Notification.Kind.STATUS,
        title="Another specialist will read your case",
        body=f"{said} The first available specialist of the same kind will read it instead; "
        "you do not need to do anything.",
        case=case,
        link=case_link(case),
    )
    return True


def end_overdue_reservations(*, now) -> int:
    """Cases queued longer than CHOICE_HOLD for a named specialist who has not taken them go to
    anyone eligible (periodic). A specialist who already read a part of the case keeps nothing
    to wait for; their choice is left as it is."""
    overdue = ReviewerChoice.objects.filter(
        reviewer__isnull=False,
        case__status=Case.Status.QUEUED,
        case__assigned_reviewer__isnull=True,
        case__status_changed_at__lte=now - CHOICE_HOLD,
    ).select_related("case__patient", "reviewer")
    count = 0
    for choice in overdue:
        if choice.case.opinions.filter(reviewer=choice.reviewer).exists():
            continue
        with transaction.atomic():
            count += end_reservation(
                choice.case, reviewer=choice.reviewer, because="has not been able to take your case"
            )
    return count


# --- Reviewer accounts ---------------------------------------------------------------------------


def email_has_account(email: str) -> bool:
    return (
        get_user_model().objects.filter(email__iexact=email).exists()
        or EmailAddress.objects.filter(email__iexact=email).exists()
    )


def create_reviewer_account(*, email: str, display_name: str):
    """The new account a reviewer profile is made with; its owner sets the password by e-mail."""
    email = email.strip().lower()
    if email_has_account(email):
        raise ReviewError("This address already has an account.")
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=email, email=email, password=None)
        # The coordinator who adds a reviewer vouches for the address (credentialing).
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    logger.info("reviewer account %s created", user.pk)
    return user


# --- Claiming, assigning, releasing --------------------------------------------------------------


def _new_opinion(case: Case, reviewer: ReviewerProfile) -> Opinion:
    role = readers.next_role(case)
    return Opinion.objects.create(
        case=case, reviewer=reviewer, role=role, round=readers.next_round(case, role)
    )


def _ensure_eligible(
    case: Case, reviewer: ReviewerProfile, *, who: str, in_network_ids: Collection[int] | None
) -> None:
    problems = reasons_not_eligible(case, reviewer, in_network_ids=in_network_ids)
    if problems:
        pronoun = "you" if who == "You" else "they"
        raise ReviewError(f"{who} cannot take this case: {reasons_said(pronoun, problems)}.")


def claim_case(
    case: Case,
    *,
    reviewer: ReviewerProfile,
    by,
    in_network_ids: Collection[int] | None = None,
) -> Opinion:
    """queued -> in_review: a reviewer takes a waiting case from their queue.

    The conditional UPDATE inside `transition` is the lock: of two reviewers claiming at once,
    the second finds the case no longer queued and gets a ReviewError. `in_network_ids`: the
    reviewers the patient's plan network allows, when the cost estimate promised one.
    """
    if case.assigned_reviewer_id == reviewer.pk and case.status == Case.Status.IN_REVIEW:
        raise ReviewError("This case is already yours.")  # a double click
    _ensure_eligible(case, reviewer, who="You", in_network_ids=in_network_ids)
    if reserved_for_another(case, reviewer):
        raise ReviewError("The patient asked for another specialist for this case.")
    try:
        with transaction.atomic():
            transition(
                case,
                to=Case.Status.IN_REVIEW,
                allowed_from=[Case.Status.QUEUED],
                by=by,
                message="A specialist took your case and is reading the images.",
                assigned_reviewer=reviewer,
            )
            return _new_opinion(case, reviewer)
    except (CaseError, IntegrityError) as exc:
        raise ReviewError("Another specialist has just taken this case.") from exc


def assign_case(
    case: Case,
    *,
    reviewer: ReviewerProfile,
    by,
    in_network_ids: Collection[int] | None = None,
) -> Opinion:
    """queued -> in_review, or in_review -> in_review with another reviewer: a coordinator's call.

    The licensing, MQSA, conflict and independence rules still apply; the patient's named choice
    does not bind a coordinator. A reviewer who is replaced keeps nothing open.
    """
    if case.assigned_reviewer_id == reviewer.pk and case.status == Case.Status.IN_REVIEW:
        raise ReviewError(f"{reviewer} already has this case.")
    _ensure_eligible(case, reviewer, who=str(reviewer), in_network_ids=in_network_ids)
    reassign = case.status == Case.Status.IN_REVIEW
    try:
        with transaction.atomic():
            transition(
                case,
                to=Case.Status.IN_REVIEW,
                allowed_from=[Case.Status.IN_REVIEW] if reassign else [Case.Status.QUEUED],
                by=by,
                message=(
                    "A care coordinator handed your case to another specialist."
                    if reassign
                    else "A care coordinator assigned your case to a specialist."
                ),
                # The patient hears that the review started when the reviewer starts it.
                tell_patient=False,
                assigned_reviewer=reviewer,
            )
            Opinion.objects.filter(
                case=case, released_at__isnull=True, signed_at__isnull=True
            ).update(released_at=timezone.now())
            _tell_reviewer(
                reviewer,
                case,
                kind=Notification.Kind.ASSIGNED,
                title="A case was assigned to you",
                body="A care coordinator assigned a case to you. Open it from your reviewer desk.",
            )
            return _new_opinion(case, reviewer)
    except IntegrityError as exc:
        raise ReviewError("The case changed meanwhile; reload and try again.") from exc


def _tell_reviewer(reviewer: ReviewerProfile, case: Case, *, kind: str, title: str, body: str):
    """A notice on the reviewer's desk and by e-mail: no medical detail, a link to the case."""
    link = reverse("reviewers:case-detail", args=[case.code])
    notify(reviewer.user, kind=kind, title=title, body=body, case=case, link=link)


def open_opinion(case: Case, reviewer: ReviewerProfile) -> Opinion | None:
    """The reading this reviewer holds on this case (signed or not), if any."""
    return (
        case.opinions.filter(reviewer=reviewer, released_at__isnull=True)
        .order_by("-round", "-claimed_at")
        .first()
    )


def release_case(case: Case, *, reviewer: ReviewerProfile, by) -> None:
    """in_review -> queued: the reviewer hands a case back before filing their blind read.

    After the blind read they have seen the original report, so a new reader would start later
    than need be; from then on only a coordinator can move the case.
    """
    opinion = open_opinion(case, reviewer)
    if opinion is None or opinion.is_signed or case.assigned_reviewer_id != reviewer.pk:
        raise ReviewError("This case is not yours to hand back.")
    if not opinion.is_blind:
        raise ReviewError(
            "You have filed your reading; ask a care coordinator if someone else should finish it."
        )
    with transaction.atomic():
        transition(
            case,
            to=Case.Status.QUEUED,
            allowed_from=[Case.Status.IN_REVIEW],
            by=by,
            message="Your case is waiting for the next available specialist again.",
            assigned_reviewer=None,
        )
        Opinion.objects.filter(pk=opinion.pk, released_at__isnull=True).update(
            released_at=timezone.now()
        )
        end_reservation(case, reviewer=reviewer, because="cannot read your case after all")


# --- The reading ---------------------------------------------------------------------------------


def _guard_open(opinion: Opinion, by) -> Opinion:
    """Fresh state of an opinion its reviewer may still write; ReviewError otherwise."""
    opinion.refresh_from_db()
    case = opinion.case
    case.refresh_from_db(fields=["status", "assigned_reviewer"])
    if (
        opinion.released_at is not None
        or opinion.is_signed
        or opinion.reviewer.user_id != getattr(by, "pk", None)
        or case.assigned_reviewer_id != opinion.reviewer_id
        or case.status != Case.Status.IN_REVIEW
    ):
        raise ReviewError("This reading can no longer be changed.")
    return opinion


def file_blind_read(
    opinion: Opinion,
    *,
    by,
    findings: str,
    impression: str,
    birads: str = "",
    breast_density: str = "",
) -> None:
    """Phase one: the reviewer's own reading, from the images and question alone.

    Filing it opens the original report (and, for a third opinion, the second opinion); it
    cannot be changed afterwards, which is what makes the comparison honest. Only a reading
    files image grades; a mammogram's reading carries the breast density its report must state
    (21 CFR 900.12(c)(1)(vi)).
    """
    _guard_open(opinion, by)
    if opinion.is_consultation:
        raise ReviewError("A consultation has no image reading: write the consultation.")
    if not findings.strip() or not impression.strip():
        raise ReviewError("Write your findings and your impression.")
    if opinion.case.is_mammogram and not birads:
        raise ReviewError("Give a BI-RADS category for a breast imaging case.")
    if opinion.case.is_mammography and not breast_density:
        raise ReviewError("Give the breast density (a to d) for a mammogram.")
    now = timezone.now()
    with transaction.atomic():
        updated = Opinion.objects.filter(
            pk=opinion.pk, blind_read_at__isnull=True, signed_at__isnull=True
        ).update(
            findings=findings.strip(),
            impression=impression.strip(),
            birads=birads,
            breast_density=breast_density if opinion.case.is_mammography else "",
            blind_read_at=now,
        )
        if updated != 1:
            raise ReviewError("Your independent reading was already filed.")
        CaseEvent.objects.create(
            case=opinion.case,
            at=now,
            actor=by,
            message="The specialist filed an independent reading of your images.",
        )
    opinion.refresh_from_db()


def file_consultation(
    opinion: Opinion, *, by, assessment: str, recommendations: str, patient_summary: str
) -> None:
    """A clinical specialist's consultation, written with the records open; no image grades.

    It is then signed like a reading.
    """
    _guard_open(opinion, by)
    if not opinion.is_consultation:
        raise ReviewError("This is an image reading: file your reading and grade it.")
    if not (assessment.strip() and recommendations.strip() and patient_summary.strip()):
        raise ReviewError("Write your assessment, your recommendations and the patient's summary.")
    now = timezone.now()
    with transaction.atomic():
        updated = Opinion.objects.filter(pk=opinion.pk, signed_at__isnull=True).update(
            findings=assessment.strip(),
            recommendations=recommendations.strip(),
            patient_summary=patient_summary.strip(),
            blind_read_at=now,
            graded_at=now,
        )
        if updated != 1:
            raise ReviewError("This consultation was already signed.")
        CaseEvent.objects.create(
            case=opinion.case,
            at=now,
            actor=by,
            message="The clinical specialist wrote their consultation.",
        )
    opinion.refresh_from_db()


def grade_concordance(
    opinion: Opinion,
    *,
    by,
    radpeer: str,
    comment: str = "",
    original_birads: str = "",
    tie_break: str = "",
    recommendation_change: str = meaning.Recommendation.SAME,
    recommendations: str = "",
    patient_summary: str,
) -> None:
    """Phase two: compare with the original report (RADPEER) and write the patient's summary."""
    _guard_open(opinion, by)
    if opinion.is_consultation:
        raise ReviewError("A consultation is not graded against the original report.")
    if opinion.is_blind:
        raise ReviewError("File your independent reading first.")
    if recommendation_change not in dict(meaning.Recommendation.choices):
        raise ReviewError("Say how your recommendation compares with the original report's.")
    if not comment.strip() and meaning.anything_differs(
        radpeer=radpeer,
        birads_before=original_birads or opinion.case.birads.replace("unknown", ""),
        birads_after=opinion.birads,
        recommendation=recommendation_change,
    ):
        raise ReviewError(
            "Explain the difference: the patient reads your comment, not the RADPEER grade."
        )
    if opinion.is_third_opinion and not tie_break:
        raise ReviewError("Say which earlier reading yours supports.")
    if not patient_summary.strip():
        raise ReviewError("Write a short summary for the patient.")
    Opinion.objects.filter(pk=opinion.pk, signed_at__isnull=True).update(
        radpeer=radpeer,
        concordance_comment=comment.strip(),
        original_birads=original_birads,
        tie_break=tie_break,
        recommendation_change=recommendation_change,
        recommendations=recommendations.strip(),
        patient_summary=patient_summary.strip(),
        graded_at=timezone.now(),
    )
    opinion.refresh_from_db()


def _signature_matches(typed: str, reviewer: ReviewerProfile) -> bool:
    names = {reviewer.display_name, reviewer.display_name.removeprefix("Dr. ")}
    names.add(reviewer.user.get_full_name())
    return typed.strip().casefold() in {n.strip().casefold() for n in names if n.strip()}


def sign_report(
    opinion: Opinion,
    *,
    by,
    signed_name: str,
    uploaded: UploadedFile | None = None,
    urgent_finding: bool = False,
    urgent_finding_note: str = "",
) -> None:
    """in_review -> report_ready, or -> queued when a "both" case's consultation is still to
    come: the reviewer signs; the PDF is generated (or theirs is kept).

    Credentials are checked again: one that lapsed since the claim does not sign. After the
    signature the case takes the priority the table of meaning gives the reading, a suspicious
    mammogram result gets its 7-day delivery date, and an urgent finding alerts the coordinators.
    The PDF is made and stored before the database changes (no slow I/O inside a transaction);
    if the signature then loses a race, the stored file is removed again.
    """
    _guard_open(opinion, by)
    if opinion.graded_at is None:
        raise ReviewError(
            "Write your consultation before signing."
            if opinion.is_consultation
            else "Grade the comparison with the original report before signing."
        )
    if not _signature_matches(signed_name, opinion.reviewer):
        raise ReviewError("Type your name as it appears on your profile to sign.")
    if urgent_finding and not urgent_finding_note.strip():
        raise ReviewError("Say what the urgent finding is, for the care team to pass on.")
    lapsed = credential_problems_for(opinion.case, opinion.reviewer)
    if lapsed:
        raise ReviewError(
            f"You cannot sign now: {reasons_said('you', lapsed)}. A care coordinator "
            "can update your credentials or hand the case to someone else."
        )
    signed_at = timezone.now()
    if uploaded is not None:
        try:
            check_pdf(uploaded)
        except RecordError as exc:
            raise ReviewError(str(exc)) from exc
        uploaded.seek(0)
        content = uploaded.read()
    else:
        content = reports.render_pdf(opinion, signed_name=signed_name.strip(), signed_at=signed_at)
    key = default_storage.save(
        opinion.pdf.field.upload_to(opinion, "report.pdf"), ContentFile(content)
    )
    try:
        with transaction.atomic():
            updated = Opinion.objects.filter(
                pk=opinion.pk, signed_at__isnull=True, released_at__isnull=True
            ).update(
                signed_at=signed_at,
                signed_name=signed_name.strip(),
                pdf=key,
                pdf_sha256=hashlib.sha256(content).hexdigest(),
                pdf_uploaded=uploaded is not None,
                urgent_finding=urgent_finding,
                urgent_finding_note=urgent_finding_note.strip() if urgent_finding else "",
            )
            if updated != 1:
                raise ReviewError("This report was already signed.")
            _after_signature(opinion, by=by, signed_at=signed_at, urgent=urgent_finding)
    except CaseError:
        default_storage.delete(key)
        raise
    opinion.refresh_from_db()
    logger.info("opinion %s signed for case %s", opinion.code, opinion.case.code)


def _after_signature(opinion: Opinion, *, by, signed_at, urgent: bool) -> None:
    """Move the case on from a signature, inside the signing transaction."""
    case = opinion.case
    if opinion.round == 1 and readers.missing_roles(case):
        transition(
            case,
            to=Case.Status.QUEUED,
            allowed_from=[Case.Status.IN_REVIEW],
            by=by,
            message=(
                "The radiologist's reading is signed and you can read it now. A clinical "
                "specialist will now prepare your consultation."
            ),
            assigned_reviewer=None,
        )
    else:
        transition(
            case,
            to=Case.Status.REPORT_READY,
            allowed_from=[Case.Status.IN_REVIEW],
            by=by,
            message=(
                "Your third-opinion report is ready."
                if opinion.is_third_opinion
                else "Your second-opinion report is ready."
            ),
        )
    found = opinion.meaning
    if found is not None and found.priority:
        priority.raise_priority(
            case,
            to=found.priority,
            reason="the specialist's reading calls for prompt follow-up",
            by=None,
        )
    if opinion.birads in meaning.SUSPICIOUS and case.is_mammogram:
        findings.flag_result_delivery(case, interpreted_at=signed_at)
    if urgent:
        findings.raise_urgent_finding(case, by=by)


# --- After the report ----------------------------------------------------------------------------


def correct_clinical_answers(case: Case, *, by, changes: dict, reason: str) -> list[str]:
    """submitted to in_review: a coordinator corrects the patient's answers, giving a reason.

    The timeline names the fields that changed, never their values. When a specialist holds the
    case and no longer qualifies under the corrected answers, the case goes back to its queue
    (in_review -> queued) and their reading is released. Returns the fields that changed.
    """
    unknown = sorted(set(changes) - set(case_services.CLINICAL_ANSWERS))
    if unknown:
        raise CaseError(f"Only the patient's answers can be corrected, not {', '.join(unknown)}.")
    if not reason.strip():
        raise CaseError("Say why the answers change: the patient reads it on the timeline.")
    with transaction.atomic():
        current = Case.objects.select_for_update().get(pk=case.pk)
        if current.status not in case_services.CORRECTABLE_FROM:
            raise CaseError(
                f"This request is {current.get_status_display().lower()}: its answers can be "
                "corrected between submission and the report."
            )
        changed = [name for name, value in changes.items() if getattr(current, name) != value]
        if not changed:
            raise CaseError("Nothing to correct: the answers are already these.")
        for name in changed:
            setattr(current, name, changes[name])
        current.save(update_fields=[*changed, "updated_at"])
        labels = ", ".join(str(Case._meta.get_field(name).verbose_name) for name in changed)
        case_services.add_to_timeline(
            current, by, f"A care coordinator corrected your answers ({labels}). {reason.strip()}"
        )
        holder = current.assigned_reviewer
        if (
            current.status == Case.Status.IN_REVIEW
            and holder is not None
            and reasons_not_eligible(current, holder)
        ):
            transition(
                current,
                to=Case.Status.QUEUED,
                allowed_from=[Case.Status.IN_REVIEW],
                by=by,
                message="Your case is waiting for a specialist who fits your corrected answers.",
                assigned_reviewer=None,
            )
            Opinion.objects.filter(
                case=current, reviewer=holder, released_at__isnull=True, signed_at__isnull=True
            ).update(released_at=timezone.now())
    case.refresh_from_db()
    return changed


def latest_signed(case: Case) -> Opinion | None:
    """The last signed reading (a consultation never decides the comparison)."""
    return (
        case.opinions.filter(signed_at__isnull=False, role=Opinion.Role.READING)
        .order_by("-round", "-signed_at")
        .first()
    )


def can_request_third_opinion(case: Case, *, latest: Opinion | None = None) -> bool:
    """`latest`: the case's `latest_signed`, when the caller has it."""
    if case.status != Case.Status.REPORT_READY:
        return False
    latest = latest or latest_signed(case)
    return (
        case.status == Case.Status.REPORT_READY
        and latest is not None
        and latest.round == 1
        and latest.is_discordant
    )


def request_third_opinion(case: Case, *, by) -> None:
    """report_ready -> queued: a discordant second opinion gets a tie-breaking third reader.

    The case returns to the same subspecialty queue, unassigned; `matching.earlier_readers`
    keeps both earlier readers away from it, and the new reader starts blind to both reports.
    """
    if not can_request_third_opinion(case):
        raise ReviewError("A third opinion is offered when the two readings differ significantly.")
    transition(
        case,
        to=Case.Status.QUEUED,
        allowed_from=[Case.Status.REPORT_READY],
        by=by,
        message=(
            "You asked for a tie-breaking third opinion: another specialist will read your "
            "images without seeing the earlier reports first."
        ),
        assigned_reviewer=None,
    )


def ask_question(opinion: Opinion, *, by, text: str) -> FollowUpQuestion:
    """A patient's follow-up question on a signed report; at most three per report."""
    if not opinion.is_signed:
        raise ReviewError("Questions can be asked once the report is ready.")
    if not text.strip():
        raise ReviewError("Write your question first.")
    with transaction.atomic():
        # Lock the report row so two questions sent at once cannot both be the third.
        Opinion.objects.select_for_update().filter(pk=opinion.pk).first()
        if opinion.questions.count() >= MAX_FOLLOW_UP_QUESTIONS:
            raise ReviewError(
                f"You have asked the {MAX_FOLLOW_UP_QUESTIONS} follow-up questions this report "
                "includes; your care coordinator can help with more."
            )
        question = FollowUpQuestion.objects.create(
            opinion=opinion, asked_by=by, question=text.strip()
        )
        CaseEvent.objects.create(
            case=opinion.case, actor=by, message="You asked the specialist a follow-up question."
        )
        _tell_reviewer(
            opinion.reviewer,
            opinion.case,
            kind=Notification.Kind.FOLLOW_UP,
            title="A patient asked you a follow-up question",
            body="A patient asked a follow-up question about a report you signed. Open the case "
            "to answer it.",
        )
    return question


def answer_question(question: FollowUpQuestion, *, by, text: str) -> None:
    """The reviewer who signed the report answers a follow-up question, once."""
    if question.opinion.reviewer.user_id != getattr(by, "pk", None):
        raise ReviewError("Only the specialist who wrote the report can answer.")
    if not text.strip():
        raise ReviewError("Write your answer first.")
    now = timezone.now()
    with transaction.atomic():
        updated = FollowUpQuestion.objects.filter(
            Q(answered_at__isnull=True), pk=question.pk
        ).update(answer=text.strip(), answered_at=now)
        if updated != 1:
            raise ReviewError("This question was already answered.")
        CaseEvent.objects.create(
            case=question.opinion.case,
            at=now,
            actor=by,
            message="The specialist answered your follow-up question.",
        )
        case = question.opinion.case
        notify(
            case.patient,
            kind=Notification.Kind.ANSWER,
            title="The specialist answered your question",
            body="The specialist who wrote your report answered your follow-up question. Log in "
            "to read the answer.",
            case=case,
            link=case_link(case),
        )
    question.refresh_from_db()
