"""Every write about a case's insurance: coverage checks, opening the paperwork they ask for, and
the two transitions this app owns (awaiting_insurance -> queued when cleared, or when the patient
pays themselves). The paperwork's own statuses and letters are `insurance.paperwork`'s.
"""

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from records import services as records_services
from requests_app.access import selected
from requests_app.models import Case, CaseEvent, Notification, Reason
from requests_app.notifications import notify
from requests_app.services import CaseError, add_to_timeline, ensure_editable, transition
from reviewers.matching import match_case
from reviewers.models import Opinion, ReviewerChoice, ReviewerProfile, Subspecialty
from reviewers.routing import suggest_subspecialty
from secondopinion.dated import in_force

from . import coverage
from .client import (
    SERVICE_TYPE_CONSULTATION,
    SERVICE_TYPE_DIAGNOSTIC_XRAY,
    EligibilityInquiry,
    get_client,
    plan_rules,
)
from .figures import PRIOR_AUTHORIZATION_TIME, DecisionTime
from .models import (
    CaseInsurance,
    CaseReferral,
    CoverageCheck,
    NetworkGapException,
    Plan,
    PlanType,
    PriorAuthorization,
    ServicePrice,
)
from .price_table import shipped_prices

logger = logging.getLogger(__name__)


def actor_name(user) -> str:
    if user is None:
        return "SecondOpinion"
    return user.get_full_name() or user.get_username()


# --- Gathering the facts and running the rules ----------------------------------------------------


def case_subspecialty(case: Case) -> Subspecialty | None:
    """The queue routing chose, else the patient's choice, else what their answers suggest."""
    slug = case.queue_id or case.requested_subspecialty_id
    if slug is None and (case.exam_type or case.body_region):
        slug = suggest_subspecialty(
            exam_type=case.exam_type, body_region=case.body_region, age=case.patient_age
        ).slug
    return Subspecialty.objects.filter(slug=slug).first() if slug else None


def chosen_reviewer(case: Case) -> ReviewerProfile | None:
    """The reviewer who will read the case: the one assigned, else the one the patient picked;
    None for "first available"."""
    if case.assigned_reviewer_id:
        return case.assigned_reviewer
    choice = reviewer_choice(case)
    return choice.reviewer if choice else None


def offered_reviewers(case: Case, subspecialty: Subspecialty) -> tuple[coverage.Reviewer, ...]:
    """The reviewers the specialist step offers the patient for this case (licensed where they
    will be, no conflict with the scanning facility...): the only ones a cost answer may name."""
    offered = [c.reviewer.id for c in match_case(case, subspecialty=subspecialty.slug).candidates]
    profiles = ReviewerProfile.objects.filter(pk__in=offered).order_by("display_name", "pk")
    return tuple(_reviewer(p) for p in profiles)


def in_network_reviewer_ids(case: Case) -> set[int] | None:
    """The reviewers in network for the case's plan; None when that does not matter or is not
    known (self-pay, no plan on file, a plan without a network)."""
    insurance = CaseInsurance.objects.select_related("plan__payer").filter(case=case).first()
    if insurance is None or insurance.is_self_pay or insurance.plan is None:
        return None
    rules = plan_rules(insurance.plan)
    if not rules.has_network:
        return None
    return {
        p.pk for p in ReviewerProfile.objects.filter(is_active=True) if rules.includes(_reviewer(p))
    }


def network_for_matching(case: Case) -> frozenset[int] | None:
    """The reviewers who may read the case because its estimate promised an in-network
    specialist; None when the estimate promised nothing about the network (self-pay, a plan
    without one, an out-of-network cost the patient was shown, a network gap).

    Matching, claims and assignment take this as data (`reviewers.matching.Need.in_network`),
    so the reviewers app never reads insurance rows.
    """
    return networks_for_matching([case])[case.pk]


def networks_for_matching(cases) -> dict[int, frozenset[int] | None]:
    """`network_for_matching` for a list of cases (a reviewer's queue) in a few queries."""
    cases = list(cases)
    latest = (
        CoverageCheck.objects.filter(case=OuterRef("case"))
        .order_by("-checked_at", "-pk")
        .values("pk")[:1]
    )
    checks = CoverageCheck.objects.filter(case__in=[c.pk for c in cases], pk=Subquery(latest)).only(
        "case_id", "outcome", "result"
    )
    promised = {
        check.case_id
        for check in checks
        if check.outcome == CoverageCheck.Outcome.COVERED
        and check.result["in_network"]["value"] is True
        and not check.result["network_gap"]
    }
    result: dict[int, frozenset[int] | None] = {c.pk: None for c in cases}
    if not promised:
        return result
    insurances = CaseInsurance.objects.filter(case_id__in=promised, plan__isnull=False)
    insurances = [i for i in insurances.select_related("plan__payer") if not i.is_self_pay]
    profiles = [_reviewer(p) for p in ReviewerProfile.objects.filter(is_active=True)]
    rules_by_plan = {}
    for insurance in insurances:
        if insurance.plan_id not in rules_by_plan:
            rules_by_plan[insurance.plan_id] = plan_rules(insurance.plan)
        rules = rules_by_plan[insurance.plan_id]
        if rules.has_network:
            result[insurance.case_id] = frozenset(r.id for r in profiles if rules.includes(r))
    return result


def decision_time(plan: Plan | None, *, on: date) -> DecisionTime | None:
    """How long the plan may take over a prior authorization, by its type, on a date."""
    table = PRIOR_AUTHORIZATION_TIME.get(plan.decision_rules) if plan else None
    if not table:
        return None
    try:
        return in_force(table, on).value
    except LookupError:
        return None


# What a review costs when the price list has no row for it (the migration seeds these rows;
# a coordinator who deletes one must not break every patient page).
DEFAULT_PRICES = shipped_prices()


# The price list changes a few times a year, and every case page shows a price: each process
# keeps it this long (a change is dropped at once in the process that saves it).
PRICE_LIST_CACHE = "insurance:price-list"
PRICE_LIST_SECONDS = 60


def _price_rows() -> list[ServicePrice]:
    """The admin's price list, from the cache (`PRICE_LIST_SECONDS`) or the database."""
    return cache.get_or_set(
        PRICE_LIST_CACHE, lambda: list(ServicePrice.objects.all()), PRICE_LIST_SECONDS
    )


def forget_price_list(**kwargs) -> None:
    cache.delete(PRICE_LIST_CACHE)


def price_list() -> dict[str, coverage.Price]:
    """Our prices by review type: the admin's price list over the defaults."""
    return {
        **DEFAULT_PRICES,
        **{
            row.review_type: coverage.Price(
                self_pay=row.self_pay_price,
                allowed=row.allowed_amount,
                description=row.description,
                cpt_codes=row.cpt_codes,
            )
            for row in _price_rows()
        },
    }


def _reviewer(profile: ReviewerProfile) -> coverage.Reviewer:
    return coverage.Reviewer(
        id=profile.pk, name=profile.display_name, institution=profile.institution
    )


def eligibility_inquiry(case: Case, insurance: CaseInsurance) -> EligibilityInquiry:
    first, _, last = (case.patient_name or "").strip().rpartition(" ")
    plan = insurance.plan
    consult = case.review_type in ("clinical", "both")
    return EligibilityInquiry(
        case_code=str(case.code),
        plan_id=plan.pk if plan else None,
        payer_name=plan.payer.name if plan else insurance.insurer_name,
        payer_id=plan.payer.payer_id if plan else "",
        member_id=insurance.member_id,
        group_number=insurance.group_number,
        first_name=first or last,
        last_name=last if first else "",
        birth_date=case.patient_birth_date,
        service_type=SERVICE_TYPE_CONSULTATION if consult else SERVICE_TYPE_DIAGNOSTIC_XRAY,
        service_date=timezone.localdate(),
    )


@dataclass(frozen=True)
class Checked:
    facts: coverage.CaseFacts
    result: coverage.Coverage
    source: str
    messages: tuple[str, ...]


def signed_second_opinion() -> Exists:
    """`has_second_opinion` as an annotation of a case query (`has_signed_second_opinion`)."""
    return Exists(Opinion.objects.filter(case=OuterRef("pk"), signed_at__isnull=False, round=1))


def has_second_opinion(case: Case) -> bool:
    """A signed second opinion exists: the next review asked about is a third opinion."""
    return Opinion.objects.filter(case=case, signed_at__isnull=False, round=1).exists()


def evaluate(case: Case, insurance: CaseInsurance, *, third_opinion: bool | None = None) -> Checked:
    """Run the rules for a case and the insurance given (saved or not), storing nothing.

    `third_opinion`: whether the review asked about is a third opinion (None: a third opinion
    once it has been asked for, so a case queued again for one is checked for it).
    """
    rules, source, messages = None, "none", ()
    if not insurance.is_self_pay and insurance.plan_id:
        answer = get_client().check(eligibility_inquiry(case, insurance))
        rules, source, messages = answer.rules, answer.source, answer.messages
    subspecialty = case_subspecialty(case)
    reviewers = offered_reviewers(case, subspecialty) if subspecialty is not None else ()
    named = chosen_reviewer(case)
    gap = network_gap_exception(case)
    exception = gap is not None and gap.status == NetworkGapException.Status.GRANTED
    if third_opinion is None:
        signed = getattr(case, "has_signed_second_opinion", None)
        third_opinion = (
            has_second_opinion(case) if signed is None else signed
        ) and case.status not in (
            Case.Status.REPORT_READY,
            Case.Status.CLOSED,
        )
    facts = coverage.CaseFacts(
        self_pay=insurance.is_self_pay,
        prices=price_list(),
        plan=rules,
        insurer_name=insurance.insurer_name,
        coverage_type=insurance.plan_type,
        reason=case.reason,
        reason_label=Reason(case.reason).label if case.reason else "",
        review_type=case.review_type or coverage.RADIOLOGY,
        subspecialty=subspecialty.specialist_title.lower() if subspecialty else "",
        has_referral=insurance.has_referral,
        reviewer=_reviewer(named) if named else None,
        reviewers=reviewers,
        exception_granted=exception,
        third_opinion=third_opinion,
        decision_time=decision_time(insurance.plan, on=timezone.localdate()),
        abn_option=insurance.abn_option,
    )
    return Checked(facts, coverage.check(facts), source, messages)


def _fingerprint(checked: Checked) -> str:
    data = {"facts": coverage.facts_as_dict(checked.facts), "source": checked.source}
    data["messages"] = list(checked.messages)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# Case pk -> its check, while a page that shows coverage in several places is rendered.
_checked_in_scope: ContextVar[dict[int, CoverageCheck | None] | None] = ContextVar(
    "checked_in_scope", default=None
)
# Within a read-only scope (a GET), the cases whose shown check was run in memory because its
# stored inputs are out of date: the caller has it stored later (`refresh_coverage` off the page).
_stale_in_scope: ContextVar[set[int] | None] = ContextVar("stale_in_scope", default=None)


@contextmanager
def coverage_checked_once(*, read_only: bool = False) -> Iterator[set[int]]:
    """Within the block, `refresh_coverage` runs the rules at most once per case (one page).

    `read_only`: the block writes no check (a page shown on GET). A check whose inputs are
    unchanged is reused; otherwise the rules run in memory and the case's pk is added to the
    set yielded, for the caller to have the check stored outside the request.
    """
    token = _checked_in_scope.set({})
    stale: set[int] = set()
    stale_token = _stale_in_scope.set(stale if read_only else None)
    try:
        yield stale
    finally:
        _checked_in_scope.reset(token)
        _stale_in_scope.reset(stale_token)


def in_coverage_scope() -> bool:
    return _checked_in_scope.get() is not None


def refresh_coverage(case: Case) -> CoverageCheck | None:
    """Run the coverage check again if anything it depends on changed; return the current one.

    Called when the insurance step is saved, and lazily wherever the result is shown: the
    specialist (and, later, the named reviewer) is chosen in steps this app does not own, and a
    coordinator may change a plan's rules at any time, so "changed since the last check" is
    found by comparing a fingerprint of the inputs (`coverage_inputs`) rather than by hooking
    each writer. While it matches the latest check's, that check is reused and the rules do not
    run. In a read-only scope nothing is written (`coverage_checked_once`).
    """
    checked_in_scope = _checked_in_scope.get()
    if checked_in_scope is not None and case.pk in checked_in_scope:
        return checked_in_scope[case.pk]
    stale = _stale_in_scope.get()
    check = _refresh_coverage(case, stale=stale)
    if checked_in_scope is not None:
        checked_in_scope[case.pk] = check
    return check


# What the rules are: bump when `coverage.py` changes what a check answers for the same inputs.
RULES_VERSION = "2026-12-05"
RULES_ENGINE = "insurance.client.RulesEngineClient"


def case_insurance(case: Case) -> CaseInsurance | None:
    return selected(
        case,
        "insurance",
        lambda: CaseInsurance.objects.select_related("plan__payer").filter(case=case).first(),
    )


def prior_authorization(case: Case) -> PriorAuthorization | None:
    return selected(
        case,
        "prior_authorization",
        lambda: PriorAuthorization.objects.filter(case=case).first(),
    )


def case_referral(case: Case) -> CaseReferral | None:
    return selected(case, "referral", lambda: CaseReferral.objects.filter(case=case).first())


def network_gap_exception(case: Case) -> NetworkGapException | None:
    return selected(
        case,
        "network_gap_exception",
        lambda: NetworkGapException.objects.filter(case=case).first(),
    )


CHECKS_NEWEST_FIRST = ("-checked_at", "-pk")


def latest_check(case: Case) -> CoverageCheck | None:
    return selected(
        case,
        "latest_coverage_check",
        lambda: case.coverage_checks.order_by(*CHECKS_NEWEST_FIRST).first(),
    )


def reviewer_choice(case: Case) -> ReviewerChoice | None:
    return selected(
        case,
        "reviewer_choice",
        lambda: ReviewerChoice.objects.filter(case=case).select_related("reviewer").first(),
    )


def coverage_inputs(case: Case, insurance: CaseInsurance) -> str | None:
    """A hash of what the rules run on: the plan (and when its rules last changed), the rules'
    version and the day they are read on (dated tables, licences), our price list, and the
    answers of the case and of its insurance (who reads it, an exception granted, a second
    opinion signed). None when the answer comes from outside (an insurer's reply may arrive at
    any time): then the rules always run."""
    client = getattr(settings, "INSURANCE_ELIGIBILITY_CLIENT", "") or RULES_ENGINE
    if not insurance.is_self_pay and insurance.plan_id and client != RULES_ENGINE:
        return None
    plan = insurance.plan
    choice = reviewer_choice(case)
    exception = network_gap_exception(case)
    signed = getattr(case, "has_signed_second_opinion", None)
    if signed is None:
        signed = has_second_opinion(case)
    data = {
        "rules": RULES_VERSION,
        "on": timezone.localdate().isoformat(),
        "plan": [plan.pk, plan.updated_at] if plan else None,
        "prices": [
            [p.review_type, p.self_pay_price, p.allowed_amount, p.cpt_codes, p.description]
            for p in _price_rows()
        ],
        "insurance": [insurance.pk, insurance.updated_at, insurance.is_self_pay],
        "case": [
            case.updated_at,
            case.status,
            case.reason,
            case.review_type,
            case.queue_id,
            case.requested_subspecialty_id,
            case.exam_type,
            case.body_region,
            case.patient_birth_date,
            case.patient_state,
            case.assigned_reviewer_id,
        ],
        "chosen": choice.reviewer_id if choice else None,
        "exception_granted": exception is not None
        and exception.status == NetworkGapException.Status.GRANTED,
        "second_opinion": signed,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# Once the report is signed the service has been given: the estimate it was given on stands.
SETTLED_STATUSES = frozenset({Case.Status.REPORT_READY, Case.Status.CLOSED})
# Queued or in review, the cost can still change (another reviewer, a third opinion): a change
# found then is told to the patient.
BEFORE_SERVICE = frozenset({Case.Status.QUEUED, Case.Status.IN_REVIEW})


def current_coverage(case: Case) -> CoverageCheck | None:
    """The check a page shows: the rules run again (`refresh_coverage`) until the report is
    signed, since who reads the case, and so the cost, can change while it waits; after that,
    the check the service was given on (a coordinator can still check again from the admin)."""
    if case.status in SETTLED_STATUSES:
        scope = _checked_in_scope.get()
        if scope is not None and case.pk in scope:
            return scope[case.pk]
        check = latest_check(case)
        if scope is not None:
            scope[case.pk] = check
        return check
    return refresh_coverage(case)


def _refresh_coverage(case: Case, *, stale: set[int] | None = None) -> CoverageCheck | None:
    insurance = case_insurance(case)
    if insurance is None:
        return None
    inputs = coverage_inputs(case, insurance)
    latest = latest_check(case)
    if inputs is not None and latest is not None and latest.inputs == inputs:
        return latest
    checked = evaluate(case, insurance)
    fingerprint = _fingerprint(checked)
    result = checked.result
    data = result.as_dict()
    data["messages"] = list(checked.messages)
    if stale is not None:  # read-only: show what the rules say now, store nothing
        if latest is not None and latest.fingerprint == fingerprint:
            stale.add(case.pk)
            return latest
        stale.add(case.pk)
        return CoverageCheck(
            case=case,
            plan=insurance.plan,
            source=checked.source,
            fingerprint=fingerprint,
            inputs=inputs or "",
            outcome=result.outcome,
            headline=result.headline,
            estimate_low=result.estimate.low,
            estimate_high=result.estimate.high,
            result=data,
            checked_at=None,
        )
    if latest is not None and latest.fingerprint == fingerprint:
        if inputs is not None and latest.inputs != inputs:
            CoverageCheck.objects.filter(pk=latest.pk).update(inputs=inputs)
            latest.inputs = inputs
        return latest
    check = CoverageCheck.objects.create(
        case=case,
        plan=insurance.plan,
        source=checked.source,
        fingerprint=fingerprint,
        inputs=inputs or "",
        outcome=result.outcome,
        headline=result.headline,
        estimate_low=result.estimate.low,
        estimate_high=result.estimate.high,
        result=data,
    )
    logger.info("coverage checked case=%s outcome=%s", case.code, result.outcome)
    if case.status in BEFORE_SERVICE and latest is not None and _cost_changed(latest, check):
        _tell_cost_changed(case, latest, check)
    if case.status == Case.Status.AWAITING_INSURANCE:
        # The answer changed while the case waits (a new plan, another queue): open what the
        # new answer asks for.
        _open_paperwork_for(case, check)
    return check


def _cost_changed(before: CoverageCheck, after: CoverageCheck) -> bool:
    """The same service now costs something else (a third opinion is another service, whose
    cost the patient saw before asking for it)."""
    if before.result.get("third_opinion", False) != after.result.get("third_opinion", False):
        return False
    return (before.outcome, before.estimate_low, before.estimate_high) != (
        after.outcome,
        after.estimate_low,
        after.estimate_high,
    )


def _tell_cost_changed(case: Case, before: CoverageCheck, after: CoverageCheck) -> None:
    """Put the new estimate on the timeline and tell the patient (no PHI in the notice)."""

    def amount(check: CoverageCheck) -> str:
        low, high = coverage.money(check.estimate_low), coverage.money(check.estimate_high)
        return low if low == high else f"{low} to {high}"

    add_to_timeline(
        case,
        None,
        f"Cost estimate changed: {after.headline.lower()}, {amount(after)} (was {amount(before)}).",
    )
    first_name = case.patient.first_name
    notify(
        case.patient,
        kind=Notification.Kind.COST,
        title=f"{first_name}, your cost estimate changed"
        if first_name
        else "Your cost estimate changed",
        body="Who will read your images, or what your plan pays, changed. Open your request to "
        "see the new estimate.",
        case=case,
        link=reverse("requests:case-detail", args=[case.code]),
    )


def save_case_insurance(case: Case, *, by, data: dict) -> CaseInsurance:
    """Store the insurance the patient told us about (draft or records-needed cases only), and
    check coverage at once."""
    ensure_editable(case)
    data = dict(data)
    if data.get("plan_type") != PlanType.NONE:
        # A new answer about insurance replaces an earlier choice to pay oneself.
        data.update(self_pay_chosen_at=None, self_pay_price=None)
    with transaction.atomic():
        insurance, created = CaseInsurance.objects.update_or_create(case=case, defaults=data)
        if created:
            CaseEvent.objects.create(case=case, actor=by, message="Insurance details added.")
    refresh_coverage(case)
    if insurance.is_self_pay:
        from .statements import issue_good_faith_estimate  # the estimate reads this module

        issue_good_faith_estimate(case, by=by)
    return insurance


def choices_missing(case: Case) -> list[str]:
    """What the patient must still choose before submitting: with a plan that pays nothing
    outside its network (HMO, EPO), an in-network specialist or paying themselves."""
    insurance = case_insurance(case)
    if insurance is None or insurance.is_self_pay:
        return []
    check = refresh_coverage(case)
    if check is not None and check.result.get("network_choice_required"):
        return [
            "your plan pays nothing for the specialist you chose, who is outside its network: "
            "choose an in-network specialist, or choose to pay yourself"
        ]
    return []


# --- What holds a case in awaiting_insurance ------------------------------------------------------


def insurance_blockers(case: Case) -> list[str]:
    """What must happen before the case can leave awaiting_insurance, in plain words."""
    insurance = case_insurance(case)
    if insurance is None:
        return ["Your insurance details."]
    if insurance.is_self_pay or insurance.cleared_at:
        return []
    check = refresh_coverage(case)
    result = check.result
    if check.outcome == CoverageCheck.Outcome.UNKNOWN:
        return ["A care coordinator checks your benefits with your insurer."]
    if check.outcome == CoverageCheck.Outcome.NOT_COVERED:
        if result.get("network_choice_required"):
            return [
                "Your plan pays only for specialists in its network: choose to pay yourself, "
                "or ask your care coordinator for an in-network specialist."
            ]
        if result.get("abn_before_self_pay"):
            if insurance.abn_option == "1":
                return []  # Medicare is billed under the notice the patient signed
            return [
                "Medicare may not pay: sign an Advance Beneficiary Notice to pay yourself, or "
                "to have Medicare billed anyway."
            ]
        return ["Your plan does not pay: you can pay yourself, or appeal with your doctor."]
    blockers = []
    if result["prior_authorization"]["value"]:
        pa = prior_authorization(case)
        if pa is None or pa.status != PriorAuthorization.Status.APPROVED:
            blockers.append("Prior authorization from your insurer: not approved yet.")
    if result["referral"]["value"]:
        referral = case_referral(case)
        if referral is None or referral.status != CaseReferral.Status.ACCEPTED:
            blockers.append("Referral from your doctor: not on file yet.")
    if result["exception_required"]:
        blockers.append("Network gap exception from your insurer: not granted yet.")
    return blockers


def settle_before_routing(case: Case, *, queue: str | None = None) -> bool:
    """True when a case whose records are in order may skip awaiting_insurance.

    `queue` is the subspecialty routing is about to give the case: the network is checked for
    that kind of specialist. Otherwise the paperwork the case will wait for is opened now, so
    coordinators find it in their lists the moment the case arrives.
    """
    if queue:
        case.queue_id = queue  # in memory only: route_case writes it with the transition
    if not insurance_blockers(case):
        return True
    open_paperwork(case)
    return False


def open_paperwork(case: Case) -> None:
    """Open the prior authorisation, referral and network gap exception the coverage asks for.

    Safe to call again: an item already open is left as it is.
    """
    _open_paperwork_for(case, refresh_coverage(case))


def _open_paperwork_for(case: Case, check: CoverageCheck | None) -> None:
    if check is None or check.outcome != CoverageCheck.Outcome.COVERED:
        return
    result = check.result
    payer = check.plan.payer.name if check.plan else "the insurer"
    if result["prior_authorization"]["value"]:
        _, created = PriorAuthorization.objects.get_or_create(case=case)
        if created:
            add_to_timeline(case, None, f"Prior authorization needed: we will ask {payer} for it.")
    if result["referral"]["value"]:
        letter = records_services.referral_letter(case)
        _, created = CaseReferral.objects.get_or_create(
            case=case,
            defaults={
                "letter": letter,
                "status": CaseReferral.Status.RECEIVED if letter else CaseReferral.Status.NEEDED,
                "received_at": timezone.now() if letter else None,
            },
        )
        if created:
            add_to_timeline(
                case,
                None,
                "Referral letter received: a coordinator checks it."
                if letter
                else "Referral needed from your primary care doctor.",
            )
    if result["exception_required"]:
        from .paperwork import request_network_gap_exception  # the paperwork reads this module

        request_network_gap_exception(case, by=None)


def clear_if_ready(case: Case, *, by, because: str) -> bool:
    """awaiting_insurance -> queued, once nothing is left to settle with the insurer."""
    case.refresh_from_db(fields=["status"])
    if case.status != Case.Status.AWAITING_INSURANCE or insurance_blockers(case):
        return False
    transition(
        case,
        to=Case.Status.QUEUED,
        allowed_from=[Case.Status.AWAITING_INSURANCE],
        by=by,
        message=f"Insurance cleared: {because}",
    )
    return True


def clear_insurance(case: Case, *, by, note: str) -> None:
    """awaiting_insurance -> queued by a coordinator's decision (a call with the insurer, an
    appeal won), whatever the rules say; the note says why."""
    note = note.strip()
    if not note:
        raise CaseError("Say why the insurance is cleared (for example: the insurer's answer).")
    with transaction.atomic():
        transition(
            case,
            to=Case.Status.QUEUED,
            allowed_from=[Case.Status.AWAITING_INSURANCE],
            by=by,
            message=f"Insurance cleared by {actor_name(by)}: {note}"[:300],
        )
        CaseInsurance.objects.filter(case=case).update(
            cleared_at=timezone.now(), cleared_by=by, cleared_note=note[:300]
        )


# --- Coordinator edits of what the patient told us ------------------------------------------------


def update_insurance_by_coordinator(insurance: CaseInsurance, *, by, fields: list[str]) -> None:
    """A coordinator corrected the plan or details (say, after a call): check coverage again,
    open what the new plan needs and let the case go on if nothing holds it."""
    insurance.save(update_fields=[*fields, "updated_at"])
    case = insurance.case
    add_to_timeline(case, by, f"Insurance details updated by {actor_name(by)}.")
    refresh_coverage(case)
    if case.status == Case.Status.AWAITING_INSURANCE:
        open_paperwork(case)
        clear_if_ready(case, by=by, because="insurance details updated.")
