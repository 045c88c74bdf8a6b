"""Who reads a case, with the patient's plan applied: claims, assignments and a third opinion.

When the cost estimate promised an in-network specialist, only reviewers in the plan's network
may claim or be assigned the case: the network goes to the reviewers app as data
(`services.network_for_matching`), which never reads insurance rows. A new reader can change the
cost, so coverage runs again after each change and a changed estimate is told to the patient
(`services.refresh_coverage`). A third opinion is asked for only after its cost was shown.
"""

from decimal import Decimal

from requests_app.models import Case
from requests_app.services import CaseError, add_to_timeline
from reviewers import matching
from reviewers import services as reviewer_services
from reviewers.models import Opinion, ReviewerProfile

from . import coverage, services
from .models import CaseInsurance


def networks_for_matching(cases) -> dict[int, frozenset[int] | None]:
    """The network that limits who reads each case (None: no limit), for a reviewer's queue."""
    return services.networks_for_matching(cases)


def reasons_not_eligible(case: Case, reviewer: ReviewerProfile) -> list[str]:
    """Why this reviewer may not take this case now, the plan's network included."""
    return matching.reasons_not_eligible(
        case, reviewer, in_network_ids=services.network_for_matching(case)
    )


def claim_case(case: Case, *, reviewer: ReviewerProfile, by) -> Opinion:
    """queued -> in_review by a reviewer from their queue (`reviewers.services.claim_case`),
    in network when the estimate promised it; the cost is checked again."""
    opinion = reviewer_services.claim_case(
        case, reviewer=reviewer, by=by, in_network_ids=services.network_for_matching(case)
    )
    services.refresh_coverage(case)
    return opinion


def assign_case(case: Case, *, reviewer: ReviewerProfile, by) -> Opinion:
    """queued or in_review -> in_review with this reviewer, by a coordinator
    (`reviewers.services.assign_case`), in network when the estimate promised it; the cost is
    checked again and a change is told to the patient."""
    opinion = reviewer_services.assign_case(
        case, reviewer=reviewer, by=by, in_network_ids=services.network_for_matching(case)
    )
    services.refresh_coverage(case)
    return opinion


def third_opinion_cost(case: Case) -> dict | None:
    """What a third opinion would cost the patient, before they ask for it (a coverage result
    as `CoverageCheck.result` holds it; None without insurance details)."""
    insurance = CaseInsurance.objects.select_related("plan__payer").filter(case=case).first()
    if insurance is None:
        return None
    return services.evaluate(case, insurance, third_opinion=True).result.as_dict()


def request_third_opinion(case: Case, *, by, estimate_seen: str) -> None:
    """report_ready -> queued for a third reader (`reviewers.services.request_third_opinion`),
    once the patient has seen what it costs: the estimate they saw must still be the estimate."""
    result = third_opinion_cost(case)
    if result is None:
        raise CaseError("Tell us about your insurance first.")
    shown = amount(result)
    if estimate_seen != shown:
        raise CaseError(f"The cost of a third opinion has changed: it is now {shown}.")
    reviewer_services.request_third_opinion(case, by=by)
    add_to_timeline(case, by, f"Third opinion asked for: {result['headline'].lower()}, {shown}.")
    services.refresh_coverage(case)


def amount(result: dict) -> str:
    """The estimate of a coverage result as the patient reads it ("$40.00", "$0.00 to $350.00")."""
    low = coverage.money(Decimal(result["estimate"]["low"]))
    high = coverage.money(Decimal(result["estimate"]["high"]))
    return low if low == high else f"{low} to {high}"


def reviewer_options(case: Case) -> list[matching.Option]:
    """Every active reviewer for a coordinator's choice, with the plan's network applied."""
    return matching.options_for(case, in_network_ids=services.network_for_matching(case))
