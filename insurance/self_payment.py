"""The patient's choice to pay themselves: whether they may, at what price, and what it sets
going (the case moves on from awaiting_insurance, and a Good Faith Estimate is issued).
"""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from requests_app.models import Case
from requests_app.services import CaseError, add_to_timeline, transition

from . import coverage
from .models import CaseInsurance, CoverageCheck, PlanType
from .services import case_insurance, current_coverage, price_list, refresh_coverage
from .statements import issue_good_faith_estimate

# Before this, the patient may still change their mind without a coordinator.
PATIENT_SELF_PAY_FROM = [
    Case.Status.DRAFT,
    Case.Status.NEEDS_RECORDS,
    Case.Status.SUBMITTED,
    Case.Status.AWAITING_INSURANCE,
]


def self_pay_price(case: Case) -> Decimal:
    return price_list()[case.review_type or coverage.RADIOLOGY].self_pay


def self_pay_refusal(case: Case) -> str:
    """Why the patient may not choose to pay themselves now ("" when they may)."""
    if case.status not in PATIENT_SELF_PAY_FROM:
        return "Your request is already with a specialist; write to your coordinator."
    insurance = case_insurance(case)
    if insurance is None or insurance.is_self_pay:
        return ""
    if insurance.plan_type in (PlanType.MEDICAID, PlanType.CHIP):
        check = current_coverage(case)
        if check is not None and check.outcome == CoverageCheck.Outcome.COVERED:
            # 42 CFR 447.15: the program's payment, plus the member's cost sharing, is payment
            # in full for a covered service; the member cannot be billed for it instead.
            return (
                "Your plan covers this second opinion, and we accept its payment as payment in "
                "full: you are not asked to pay it yourself."
            )
    return ""


def choose_self_pay(case: Case, *, by) -> Decimal:
    """The patient pays themselves, at the price shown to them; from awaiting_insurance the case
    goes on to the queue at once. Returns the price.

    Original Medicare: only after the patient signed an Advance Beneficiary Notice choosing not
    to bill Medicare (option 2, `paperwork.sign_advance_beneficiary_notice`). Medicaid and CHIP:
    not for a service the plan covers.
    """
    refusal = self_pay_refusal(case)
    if refusal:
        raise CaseError(refusal)
    insurance = CaseInsurance.objects.filter(case=case).first()
    if (
        insurance is not None
        and insurance.plan_type == PlanType.MEDICARE
        and insurance.abn_option != "2"
    ):
        raise CaseError(
            "Before you pay yourself instead of using Medicare, read and sign the Advance "
            "Beneficiary Notice."
        )
    price = self_pay_price(case)
    now = timezone.now()
    with transaction.atomic():
        insurance, _ = CaseInsurance.objects.get_or_create(
            case=case, defaults={"plan_type": PlanType.NONE}
        )
        claimed = CaseInsurance.objects.filter(
            pk=insurance.pk, self_pay_chosen_at__isnull=True
        ).update(self_pay_chosen_at=now, self_pay_price=price)
        if not claimed and insurance.plan_type != PlanType.NONE:
            raise CaseError("You have already chosen to pay yourself.")
        add_to_timeline(case, by, f"Chose to pay themselves: {coverage.money(price)}.")
        if case.status == Case.Status.AWAITING_INSURANCE:
            transition(
                case,
                to=Case.Status.QUEUED,
                allowed_from=[Case.Status.AWAITING_INSURANCE],
                by=by,
                message=f"Insurance cleared: the patient pays {coverage.money(price)}.",
            )
    refresh_coverage(case)
    issue_good_faith_estimate(case, by=by)
    return price
