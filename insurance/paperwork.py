"""The paperwork a case's insurance asks for, and its statuses: prior authorisation, the
referral from the patient's doctor, the network gap exception letter, and Original Medicare's
Advance Beneficiary Notice.

Status changes follow the case's pattern: a conditional UPDATE claims the change (a double click
or a second coordinator cannot apply it twice) and a line goes on the case's timeline with the
acting user. Which paperwork a case needs, and when it lets the case go on, is
`insurance.services`'s (coverage checks and clearing).
"""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from records import services as records_services
from requests_app.models import Case
from requests_app.services import CaseError, add_to_timeline
from reviewers.models import ReviewerProfile, Subspecialty
from secondopinion.pdf import render_pdf

from . import coverage
from .models import CaseInsurance, CaseReferral, NetworkGapException, PlanType, PriorAuthorization
from .self_payment import PATIENT_SELF_PAY_FROM, choose_self_pay
from .services import (
    actor_name,
    case_subspecialty,
    clear_if_ready,
    current_coverage,
    decision_time,
    price_list,
    refresh_coverage,
)

# --- Prior authorisation --------------------------------------------------------------------------


def _claim(item: models.Model, *, allowed_from: list[str], what: str, **fields) -> None:
    """Change a paperwork item's status with a conditional UPDATE, or explain why not."""
    model = type(item)
    updated = model.objects.filter(pk=item.pk, status__in=allowed_from).update(**fields)
    if updated != 1:
        item.refresh_from_db(fields=["status"])
        raise CaseError(f"This {what} is {item.get_status_display().lower()}: not possible now.")
    for name, value in fields.items():
        setattr(item, name, value)


def _payer(case: Case) -> str:
    insurance = CaseInsurance.objects.select_related("plan__payer").filter(case=case).first()
    if insurance and insurance.plan:
        return insurance.plan.payer.name
    return (insurance and insurance.insurer_name) or "the insurer"


def decision_due(pa: PriorAuthorization, *, requested_at: datetime) -> datetime | None:
    """When the plan must have decided: its type's standard days, or the expedited hours when
    the request was marked expedited (dated table, in force on the day of the request)."""
    insurance = CaseInsurance.objects.select_related("plan").filter(case=pa.case).first()
    plan = insurance.plan if insurance else None
    time = decision_time(plan, on=timezone.localdate(requested_at))
    if time is None:
        return None
    if pa.expedited:
        return requested_at + timedelta(hours=time.expedited_hours)
    # Calendar days: the same local hour that many days on, whatever the clocks did between.
    return timezone.localtime(requested_at) + timedelta(days=time.standard_days)


def record_prior_auth_requested(pa: PriorAuthorization, *, by, reference_number: str = "") -> None:
    """needed or denied -> requested: the coordinator sent the request (again, on appeal), as
    standard or expedited; the day the plan must decide by goes with it."""
    S = PriorAuthorization.Status
    reference = reference_number.strip() or pa.reference_number
    now = timezone.now()
    due = decision_due(pa, requested_at=now)
    with transaction.atomic():
        _claim(
            pa,
            allowed_from=[S.NEEDED, S.DENIED],
            what="prior authorization",
            status=S.REQUESTED,
            requested_at=now,
            decision_due_at=due,
            reference_number=reference,
        )
        ref = f" (reference {reference})" if reference else ""
        what = "Expedited prior authorization" if pa.expedited else "Prior authorization"
        when = f"; decision due by {timezone.localtime(due):%b %-d, %Y, %-I:%M %p}" if due else ""
        add_to_timeline(pa.case, by, f"{what} requested from {_payer(pa.case)}{ref}{when}.")


def record_prior_auth_decision(
    pa: PriorAuthorization,
    *,
    by,
    approved: bool,
    reference_number: str = "",
    valid_until: date | None = None,
    note: str = "",
) -> bool:
    """needed or requested -> approved or denied, as the insurer answered; an approval lets the
    case go on to the queue when nothing else holds it. Returns whether the case moved on."""
    S = PriorAuthorization.Status
    reference = reference_number.strip() or pa.reference_number
    if approved and not reference:
        raise CaseError("Enter the insurer's reference number for the approval first.")
    now = timezone.now()
    case = pa.case
    with transaction.atomic():
        _claim(
            pa,
            allowed_from=[S.NEEDED, S.REQUESTED],
            what="prior authorization",
            status=S.APPROVED if approved else S.DENIED,
            reference_number=reference,
            valid_until=valid_until or pa.valid_until,
            note=note or pa.note,
            decided_at=now,
            decided_by=by,
            requested_at=pa.requested_at or now,
        )
        verdict = "approved" if approved else "denied"
        ref = f" (reference {reference})" if reference else ""
        add_to_timeline(
            case,
            by,
            f"Prior authorization {verdict} by {_payer(case)}{ref}; recorded by {actor_name(by)}.",
        )
        if approved:
            return clear_if_ready(case, by=by, because="prior authorization approved.")
    return False


# --- Referral -------------------------------------------------------------------------------------


def submit_referral_details(
    case: Case, *, by, physician_name: str, physician_npi: str = "", physician_phone: str = ""
) -> CaseReferral:
    """The patient names the doctor who referred them; a coordinator checks it with the office."""
    if case.status in (Case.Status.IN_REVIEW, Case.Status.REPORT_READY, Case.Status.CLOSED):
        raise CaseError("Your request is already with a specialist.")
    with transaction.atomic():
        referral, _ = CaseReferral.objects.get_or_create(case=case)
        updated = CaseReferral.objects.filter(
            pk=referral.pk,
            status__in=[
                CaseReferral.Status.NEEDED,
                CaseReferral.Status.REJECTED,
                CaseReferral.Status.RECEIVED,
            ],
        ).update(
            physician_name=physician_name,
            physician_npi=physician_npi,
            physician_phone=physician_phone,
            status=CaseReferral.Status.RECEIVED,
            received_at=timezone.now(),
        )
        if not updated:
            raise CaseError("Your referral is already on file.")
        add_to_timeline(case, by, "Referring doctor's details given: a coordinator checks them.")
    referral.refresh_from_db()
    return referral


def accept_referral(referral: CaseReferral, *, by) -> bool:
    """needed or received -> on file, once there is a letter or the doctor's details."""
    S = CaseReferral.Status
    if referral.letter_id is None:
        letter = records_services.referral_letter(referral.case)
        if letter is not None:
            CaseReferral.objects.filter(pk=referral.pk).update(letter=letter)
            referral.letter = letter
    if referral.letter_id is None and not referral.physician_name:
        raise CaseError("Attach the referral letter or enter the referring doctor first.")
    with transaction.atomic():
        _claim(
            referral,
            allowed_from=[S.NEEDED, S.RECEIVED, S.REJECTED],
            what="referral",
            status=S.ACCEPTED,
            decided_at=timezone.now(),
            decided_by=by,
        )
        add_to_timeline(referral.case, by, f"Referral on file; checked by {actor_name(by)}.")
        return clear_if_ready(referral.case, by=by, because="referral on file.")


def reject_referral(referral: CaseReferral, *, by, note: str) -> None:
    """received -> not valid: the patient is asked for a new one (the note says why)."""
    S = CaseReferral.Status
    with transaction.atomic():
        _claim(
            referral,
            allowed_from=[S.NEEDED, S.RECEIVED, S.ACCEPTED],
            what="referral",
            status=S.REJECTED,
            note=note,
            decided_at=timezone.now(),
            decided_by=by,
        )
        why = f": {note}" if note else ""
        add_to_timeline(referral.case, by, f"Referral not accepted{why}. Please send a new one.")


# --- Network gap exception ------------------------------------------------------------------------


def network_gap_letter(
    case: Case, *, subspecialty: Subspecialty, on: date, clinical_reason: str = ""
) -> str:
    """The letter to the insurer asking for the exception, as text (the PDF is made from it).

    It says what we know: none of the specialists on our roster is in the plan's network; not
    that the plan has none.
    """
    insurance = CaseInsurance.objects.select_related("plan__payer").get(case=case)
    plan = insurance.plan
    roster = ReviewerProfile.objects.filter(is_active=True, subspecialties=subspecialty).count()
    return render_to_string(
        "insurance/letters/network_gap.txt",
        {
            "case": case,
            "insurance": insurance,
            "plan": plan,
            "payer": plan.payer if plan else None,
            "subspecialty": subspecialty,
            "date": on,
            "clinical_reason": clinical_reason.strip(),
            "roster_count": roster,
        },
    ).strip()


def network_gap_letter_text(exception: NetworkGapException) -> str:
    """The letter as it stands: as sent once sent; a draft is made afresh from the coordinator's
    clinical reason and today's date."""
    if exception.status != NetworkGapException.Status.DRAFT:
        return exception.letter_text
    return network_gap_letter(
        exception.case,
        subspecialty=exception.subspecialty,
        on=timezone.localdate(),
        clinical_reason=exception.clinical_reason,
    )


def network_gap_letter_pdf(exception: NetworkGapException) -> bytes:
    """The letter as it stands, as the PDF the patient and coordinators get."""
    text = network_gap_letter_text(exception)
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    return render_pdf(
        "insurance/pdf/network_gap_letter.html",
        {"case": exception.case, "paragraphs": paragraphs},
    )


def request_network_gap_exception(case: Case, *, by) -> NetworkGapException:
    """Prepare the letter asking the insurer to pay an out-of-network reviewer as in network.

    Only when no reviewer of the case's kind on our roster is in the plan's network. A
    coordinator adds the clinical reason before sending it. Asking twice returns the first.
    """
    existing = NetworkGapException.objects.filter(case=case).first()
    if existing is not None:
        return existing
    check = refresh_coverage(case)
    if check is None or not check.result["network_gap"]:
        raise CaseError("An in-network specialist is available, so no exception is needed.")
    subspecialty = case_subspecialty(case)
    today = timezone.localdate()
    with transaction.atomic():
        exception, created = NetworkGapException.objects.get_or_create(
            case=case,
            defaults={
                "subspecialty": subspecialty,
                "letter_text": network_gap_letter(case, subspecialty=subspecialty, on=today),
                "letter_date": today,
            },
        )
        if created:
            add_to_timeline(
                case,
                by,
                f"Network gap exception letter to {_payer(case)} prepared: none of the "
                f"{subspecialty.specialist_title.lower()}s who review for us is in your plan's "
                "network.",
            )
    return exception


def mark_exception_sent(exception: NetworkGapException, *, by, reference_number: str = "") -> None:
    """draft or denied -> sent: the coordinator sent the letter (again, on appeal); the letter is
    kept as sent, with the clinical reason the coordinator gave."""
    S = NetworkGapException.Status
    reference = reference_number.strip() or exception.reference_number
    if not exception.clinical_reason.strip():
        raise CaseError("Write the clinical reason first: it goes into the letter.")
    today = timezone.localdate()
    letter = network_gap_letter(
        exception.case,
        subspecialty=exception.subspecialty,
        on=today,
        clinical_reason=exception.clinical_reason,
    )
    with transaction.atomic():
        _claim(
            exception,
            allowed_from=[S.DRAFT, S.DENIED],
            what="network gap exception",
            status=S.SENT,
            sent_at=timezone.now(),
            reference_number=reference,
            letter_text=letter,
            letter_date=today,
        )
        add_to_timeline(
            exception.case, by, f"Network gap exception request sent to {_payer(exception.case)}."
        )


def record_exception_decision(
    exception: NetworkGapException, *, by, granted: bool, reference_number: str = "", note: str = ""
) -> bool:
    """sent -> granted or denied; a grant lets the case go on when nothing else holds it."""
    S = NetworkGapException.Status
    reference = reference_number.strip() or exception.reference_number
    case = exception.case
    with transaction.atomic():
        _claim(
            exception,
            allowed_from=[S.SENT],
            what="network gap exception",
            status=S.GRANTED if granted else S.DENIED,
            reference_number=reference,
            note=note or exception.note,
            decided_at=timezone.now(),
            decided_by=by,
        )
        verdict = "granted" if granted else "denied"
        ref = f" (reference {reference})" if reference else ""
        add_to_timeline(
            case,
            by,
            f"Network gap exception {verdict} by {_payer(case)}{ref}; recorded by "
            f"{actor_name(by)}.",
        )
        if granted:
            return clear_if_ready(case, by=by, because="network gap exception granted.")
    return False


# --- Advance Beneficiary Notice (Original Medicare) -----------------------------------------------


ABN_OPTIONS = ("1", "2")


def advance_beneficiary_notice_text(case: Case, *, option: str, signed_name: str, on: date) -> str:
    """The Advance Beneficiary Notice as the patient reads and signs it (the elements of Form
    CMS-R-131: notifier, patient, service, why Medicare may not pay, estimated cost, options)."""
    insurance = CaseInsurance.objects.select_related("plan__payer").get(case=case)
    price = price_list()[case.review_type or coverage.RADIOLOGY]
    check = current_coverage(case)
    return render_to_string(
        "insurance/advance_beneficiary_notice.txt",
        {
            "case": case,
            "insurance": insurance,
            "price": price,
            "amount": coverage.money(price.self_pay),
            "why": check.result["covered"]["reason"] if check else "",
            "option": option,
            "signed_name": signed_name,
            "on": on,
            "provider_name": settings.PROVIDER_NAME,
            "provider_address": settings.PROVIDER_ADDRESS,
        },
    ).strip()


def sign_advance_beneficiary_notice(case: Case, *, by, option: str, signed_name: str) -> None:
    """Original Medicare: the patient signs the Advance Beneficiary Notice before the service.

    Option 1: bill Medicare anyway; the patient pays if Medicare does not (and can appeal).
    Option 2: do not bill Medicare; the patient pays now (`choose_self_pay` follows).
    Option 3 (no service) is not signing at all.
    """
    if case.status not in PATIENT_SELF_PAY_FROM:
        raise CaseError("Your request is already with a specialist; write to your coordinator.")
    insurance = CaseInsurance.objects.filter(case=case).first()
    if insurance is None or insurance.plan_type != PlanType.MEDICARE:
        raise CaseError("The Advance Beneficiary Notice is for Original Medicare only.")
    if option not in ABN_OPTIONS:
        raise CaseError("Choose option 1 or option 2.")
    name = " ".join(signed_name.split())
    if not name:
        raise CaseError("Type your full name to sign.")
    now = timezone.now()
    text = advance_beneficiary_notice_text(
        case, option=option, signed_name=name, on=timezone.localdate(now)
    )
    with transaction.atomic():
        CaseInsurance.objects.filter(pk=insurance.pk).update(
            abn_option=option, abn_signed_name=name, abn_signed_at=now, abn_text=text
        )
        add_to_timeline(
            case,
            by,
            f"Advance Beneficiary Notice signed: option {option} ("
            + ("bill Medicare" if option == "1" else "do not bill Medicare; pay now")
            + ").",
        )
    if option == "2":
        choose_self_pay(case, by=by)
        return
    refresh_coverage(case)
    if case.status == Case.Status.AWAITING_INSURANCE:
        clear_if_ready(case, by=by, because="Advance Beneficiary Notice signed (option 1).")
