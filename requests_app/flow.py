"""The flow of a case once its images are checked: every step, in order, in one place.

1. The worker checks an upload (`records.validation.validate_upload`).
2. When the case's last upload is checked, its records decide: still waiting, a coordinator's to
   help, back to the patient for records, or on (`records.validation.case_records`).
3. The scan's headers and the patient's answers choose a queue (`reviewers.routing.route`).
4. Insurance settles what it can before a specialist is involved: self-pay, or covered with
   nothing to ask the insurer; otherwise the paperwork the case waits for is opened
   (`insurance.services.settle_before_routing`).
5. The case goes to its queue, or waits for insurance (`requests_app.services.route_case`).

The Celery tasks in `requests_app.tasks` call these functions; the domain apps never call each
other to move a case on.
"""

from insurance import services as insurance_services
from records import validation
from reviewers.routing import StudyFacts, load_rules, route

from . import services as case_services
from .models import Case


def check_upload(upload_id: int, *, retried_on: tuple[type[Exception], ...] = ()) -> None:
    """Steps 1 to 5 for one received upload: check it, then move its case on."""
    case_id = validation.validate_upload(upload_id, retried_on=retried_on)
    if case_id is not None:
        advance_case(case_id)


def advance_case(case_id: int) -> None:
    """Steps 2 to 5: move a submitted case on once all its uploads are checked."""
    case = Case.objects.select_related("patient").filter(pk=case_id).first()
    if case is None or case.status != Case.Status.SUBMITTED:
        return
    records = validation.case_records(case)
    if records.pending:
        return  # the last upload's check calls again
    if records.invalid or not records.valid:
        if records.only_failed:
            return  # only a coordinator can help now; the case is flagged for them
        case_services.request_records(
            case,
            by=None,
            message=(
                "Some images have problems; see your records for what to do."
                if records.invalid
                else "The images are missing: please add them."
            ),
        )
        return
    decision = route(
        facts=StudyFacts(
            modalities=records.modalities,
            body_parts=records.body_parts,
            descriptions=records.descriptions,
        ),
        declared_exam_type=case.exam_type,
        declared_region=case.body_region,
        age=case.patient_age,
        rules=load_rules(),
    )
    notes = [*decision.reasons]
    if records.flagged:
        notes.append("Check: " + ", ".join(records.flagged).replace("_", " ") + ".")
    notes.extend(f"Check the exam date: {line}" for line in records.dates_apart)
    insurance_cleared = insurance_services.settle_before_routing(case, queue=decision.subspecialty)
    case_services.route_case(
        case,
        queue=decision.subspecialty,
        confidence=decision.confidence,
        reasons="\n".join(notes),
        needs_coordinator=(
            decision.needs_coordinator or bool(records.flagged) or bool(records.dates_apart)
        ),
        insurance_cleared=insurance_cleared,
    )
