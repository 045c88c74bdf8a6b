"""What a patient who pays is given on paper: the Good Faith Estimate before the service, and
the itemized statement after it. The two are separate documents: one estimates, one states.

The Good Faith Estimate follows 45 CFR 149.610: for a patient who is uninsured or chooses not to
use insurance, the expected items and services with their codes, expected charges and the
provider's name, NPI and TIN, and the notice of the right to dispute a bill that is at least $400
above it (45 CFR 149.620). It is issued when the patient chooses to pay and on request, and kept
as issued.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from requests_app.models import Case
from requests_app.services import CaseError, add_to_timeline
from reviewers.models import Opinion
from secondopinion.dated import in_force

from . import coverage
from .client import plan_rules
from .figures import GOOD_FAITH_ESTIMATE_DISPUTE
from .models import CaseInsurance, GoodFaithEstimate
from .services import chosen_reviewer, price_list

DIAGNOSIS_CODES_UNKNOWN = (
    "Not known to us before the review: your ordering doctor's diagnosis codes apply"
)


def provider() -> dict:
    """The billing provider named on estimates and statements."""
    return {
        "name": settings.PROVIDER_NAME,
        "npi": settings.PROVIDER_NPI,
        "tin": settings.PROVIDER_TIN,
        "location": settings.PROVIDER_ADDRESS,
    }


def pays_themselves(case: Case) -> bool:
    """Uninsured, or chose not to use their insurance: who a Good Faith Estimate is for."""
    insurance = CaseInsurance.objects.filter(case=case).first()
    return insurance is not None and insurance.is_self_pay


def estimate_items(case: Case) -> list[dict]:
    """The services the patient is expected to receive, one line each, as the estimate lists
    them. Our price for a re-read and consultation is one bundled line with both codes."""
    price = price_list()[case.review_type or coverage.RADIOLOGY]
    reviewer = chosen_reviewer(case)
    reader = f"; read by {reviewer.display_name}" if reviewer else ""
    return [
        {
            **provider(),
            "description": f"Expert second opinion: {price.description}, on your "
            f"{case.title.lower()}{reader}",
            "codes": coverage.service_codes(price.cpt_codes),
            "diagnosis_codes": DIAGNOSIS_CODES_UNKNOWN,
            "charge": str(price.self_pay.quantize(coverage.CENT)),
        }
    ]


def issue_good_faith_estimate(case: Case, *, by) -> GoodFaithEstimate:
    """Issue the Good Faith Estimate for a patient who pays themselves; the one already issued
    is returned when nothing in it would change."""
    if not pays_themselves(case):
        raise CaseError(
            "A Good Faith Estimate is for patients who pay themselves; with insurance, your "
            "cost estimate and your insurer's explanation of benefits apply."
        )
    items = estimate_items(case)
    total = sum((Decimal(item["charge"]) for item in items), Decimal("0"))
    subject = {
        "patient": [case.patient_name, str(case.patient_birth_date or "")],
        "items": items,
    }
    fingerprint = hashlib.sha256(json.dumps(subject, sort_keys=True).encode()).hexdigest()
    latest = case.good_faith_estimates.first()
    if latest is not None and latest.fingerprint == fingerprint:
        return latest
    now = timezone.now()
    rule = in_force(GOOD_FAITH_ESTIMATE_DISPUTE, timezone.localdate(now)).value
    with transaction.atomic():
        estimate = GoodFaithEstimate.objects.create(
            case=case,
            issued_at=now,
            patient_name=case.patient_name,
            patient_birth_date=case.patient_birth_date,
            items=items,
            total=total,
            dispute_threshold=rule.threshold,
            fingerprint=fingerprint,
        )
        add_to_timeline(case, by, f"Good Faith Estimate issued: {coverage.money(total)}.", at=now)
    return estimate


def estimate_context(estimate: GoodFaithEstimate) -> dict:
    """What the estimate's PDF shows, with the dispute rule in force when it was issued."""
    return {
        "estimate": estimate,
        "case": estimate.case,
        "dispute": in_force(
            GOOD_FAITH_ESTIMATE_DISPUTE, timezone.localdate(estimate.issued_at)
        ).value,
        "total": coverage.money(estimate.total),
    }


@dataclass(frozen=True)
class StatementLine:
    served_on: date
    description: str
    codes: list[str]
    reader: str
    charge: Decimal


def itemized_statement(case: Case) -> dict:
    """After the service: what was given, when, by whom, with codes and charges.

    Only once a report is signed (the day it was signed is the date of service). For a patient
    who pays, the charge is the price they agreed to; for an insured patient, what is billed to
    the plan, whose explanation of benefits states their share.
    """
    opinions = list(
        Opinion.objects.filter(case=case, signed_at__isnull=False)
        .select_related("reviewer")
        .order_by("round")
    )
    if not opinions:
        raise CaseError("The itemized statement is ready once your report is signed.")
    insurance = CaseInsurance.objects.select_related("plan__payer").filter(case=case).first()
    price = price_list()[case.review_type or coverage.RADIOLOGY]
    agreed = insurance.self_pay_price if insurance and insurance.self_pay_price else None
    billed_plan = (
        plan_rules(insurance.plan)
        if insurance and insurance.plan and not insurance.is_self_pay
        else None
    )
    lines = [
        StatementLine(
            served_on=timezone.localdate(opinion.signed_at),
            description=(
                f"{'Third' if opinion.round > 1 else 'Second'} opinion: {price.description}, on "
                f"your {case.title.lower()}"
            ),
            codes=coverage.service_codes(price.cpt_codes, billed_plan),
            reader=opinion.reviewer.display_name,
            charge=(agreed if opinion.round == 1 and agreed is not None else price.self_pay),
        )
        for opinion in opinions
    ]
    return {
        "case": case,
        "insurance": insurance,
        "provider": provider(),
        "lines": lines,
        "total": coverage.money(sum((line.charge for line in lines), Decimal("0"))),
        "self_pay": insurance is None or insurance.is_self_pay,
        "issued": timezone.localdate(),
    }
