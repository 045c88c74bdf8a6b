"""What the case's pages show about insurance, computed by their views.

The pages that show it (the wizard's insurance step, the case page) belong to the requests app;
their views call `insurance_status` and pass the result to `insurance/_case_status.html`.
Computing may run the coverage check again (`services.current_coverage`), so it happens once
per page view, in the view, never while a template renders.
"""

import contextlib
from dataclasses import dataclass
from decimal import Decimal

from requests_app.access import latest_related
from requests_app.models import Case

from . import self_payment, services
from .coverage import money
from .models import (
    CaseInsurance,
    CaseReferral,
    CoverageCheck,
    NetworkGapException,
    PriorAuthorization,
)

# What a case page loads with the case (select_related, and annotated: `page_annotations`) so
# that the box costs no query of its own but the price list.
PAGE_RELATED = (
    "insurance__plan__payer",
    "prior_authorization",
    "referral",
    "network_gap_exception",
    "reviewer_choice__reviewer",
    "latest_coverage_check",
)


def page_annotations() -> dict:
    """The annotations `PAGE_RELATED` needs on the case's query."""
    return {
        "has_signed_second_opinion": services.signed_second_opinion(),
        "latest_coverage_check": latest_related(
            "coverage_checks", CoverageCheck, services.CHECKS_NEWEST_FIRST
        ),
    }


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
    """None until the patient has answered the insurance step.

    Reads the case's insurance rows from the case when its page loaded them with it
    (`PAGE_RELATED`). Call it inside `services.coverage_checked_once` to share the check with
    the rest of the page (and, read-only, to write nothing).
    """
    insurance = services.case_insurance(case)
    if insurance is None:
        return None
    waiting = case.status == Case.Status.AWAITING_INSURANCE
    # The blockers read the same check: run the rules once for the whole box.
    with contextlib.ExitStack() as stack:
        if not services.in_coverage_scope():
            stack.enter_context(services.coverage_checked_once())
        check = services.current_coverage(case)
        blockers = services.insurance_blockers(case) if waiting else []
        refusal = self_payment.self_pay_refusal(case)
        price = self_payment.self_pay_price(case)
    return InsuranceStatus(
        insurance=insurance,
        check=check,
        prior_authorization=services.prior_authorization(case),
        referral=services.case_referral(case),
        exception=services.network_gap_exception(case),
        blockers=blockers,
        self_pay_price=price,
        can_choose_self_pay=(
            not insurance.is_self_pay
            and case.status in self_payment.PATIENT_SELF_PAY_FROM
            and not refusal
        ),
    )
