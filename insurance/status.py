"""What the case's pages show about insurance, computed by their views.

The pages that show it (the wizard's insurance step, the case page) belong to the requests app;
their views call `insurance_status` and pass the result to `insurance/_case_status.html`.
Computing may run the coverage check again (`services.current_coverage`), so it happens once
per page view, in the view, never while a template renders.
"""

from dataclasses import dataclass
from decimal import Decimal

from requests_app.models import Case

from . import services
from .coverage import money
from .models import (
    CaseInsurance,
    CaseReferral,
    CoverageCheck,
    NetworkGapException,
    PriorAuthorization,
)


@dataclass(frozen=True)
class InsuranceStatus:
    insurance: CaseInsurance
    check: CoverageCheck | None
    prior_authorization: PriorAuthorization | None
    referral: CaseReferral | None
    exception: NetworkGapException | None
    blockers: list[str]
    self_pay_price: Decimal
    can_choose_self_pay: bool

    @property
    def coverage(self) -> dict | None:
        return self.check.result if self.check else None

    @property
    def price(self) -> str:
        return money(self.self_pay_price)

    @property
    def low(self) -> str:
        return money(self.check.estimate_low) if self.check else ""

    @property
    def high(self) -> str:
        return money(self.check.estimate_high) if self.check else ""

    @property
    def paperwork(self) -> list:
        return [i for i in (self.prior_authorization, self.referral, self.exception) if i]


def insurance_status(case: Case) -> InsuranceStatus | None:
    """None until the patient has answered the insurance step."""
    insurance = CaseInsurance.objects.select_related("plan__payer").filter(case=case).first()
    if insurance is None:
        return None
    waiting = case.status == Case.Status.AWAITING_INSURANCE
    # The blockers read the same check: run the rules once for the whole box.
    with services.coverage_checked_once():
        check = services.current_coverage(case)
        blockers = services.insurance_blockers(case) if waiting else []
        refusal = services.self_pay_refusal(case)
    return InsuranceStatus(
        insurance=insurance,
        check=check,
        prior_authorization=PriorAuthorization.objects.filter(case=case).first(),
        referral=CaseReferral.objects.filter(case=case).first(),
        exception=NetworkGapException.objects.filter(case=case).first(),
        blockers=blockers,
        self_pay_price=services.self_pay_price(case),
        can_choose_self_pay=(
            not insurance.is_self_pay
            and case.status in services.PATIENT_SELF_PAY_FROM
            and not refusal
        ),
    )
