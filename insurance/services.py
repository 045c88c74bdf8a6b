"""Every write about a case's insurance: coverage checks, the paperwork, and the two transitions
this app owns (awaiting_insurance -> queued when cleared, or when the patient pays themselves).

Status changes of paperwork follow the case's pattern: a conditional UPDATE claims the change (a
double click or a second coordinator cannot apply it twice) and a line goes on the case's
timeline with the acting user.
"""

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from records.models import Document
from requests_app.models import Case, CaseEvent, Notification, Reason
from requests_app.notifications import notify
from requests_app.services import CaseError, add_to_timeline, ensure_editable, transition
from reviewers.models import Opinion, ReviewerChoice, ReviewerProfile, Subspecialty
from reviewers.routing import suggest_subspecialty
from secondopinion.dated import in_force
from secondopinion.pdf import render_pdf

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

logger = logging.getLogger(__name__)

# Before this, the patient may still change their mind without a coordinator.
PATIENT_SELF_PAY_FROM = [
    Case.Status.DRAFT,
    Case.Status.NEEDS_RECORDS,
    Case.Status.SUBMITTED,
    Case.Status.AWAITING_INSURANCE,
]


def _actor_name(user) -> str:
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
    choice = ReviewerChoice.objects.filter(case=case).select_related("reviewer").first()
    return choice.reviewer if choice else None


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
DEFAULT_PRICES = {
    "radiology": coverage.Price(
        Decimal("350"),
        Decimal("300"),
        "Radiologist's re-read of your images, with a report",
        "76140",
    ),
    "clinical": coverage.Price(
        Decimal("450"), Decimal("380"), "Consultation with a clinical specialist", "99204"
    ),
    "both": coverage.Price(
        Decimal("700"), Decimal("600"), "Re-read of your images and a consultation", "76140, 99204"
    ),
}


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
            for row in ServicePrice.objects.all()
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
    reviewers = ()
    if subspecialty is not None:
        reviewers = tuple(
            _reviewer(p)
            for p in ReviewerProfile.objects.filter(
                is_active=True, subspecialties=subspecialty
            ).order_by("display_name")
        )
    named = chosen_reviewer(case)
    exception = NetworkGapException.objects.filter(
        case=case, status=NetworkGapException.Status.GRANTED
    ).exists()
    if third_opinion is None:
        third_opinion = has_second_opinion(case) and case.status not in (
            Case.Status.REPORT_READY,
            Case.Status.CLOSED,
        )
    facts = coverage.CaseFacts(
        self_pay=insurance.is_self_pay,
        prices=price_list(),
        plan=rules,
        insurer_name=insurance.insurer_name,
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


@contextmanager
def coverage_checked_once() -> Iterator[None]:
    """Within the block, `refresh_coverage` runs the rules at most once per case (one page)."""
    token = _checked_in_scope.set({})
    try:
        yield
    finally:
        _checked_in_scope.reset(token)


def refresh_coverage(case: Case) -> CoverageCheck | None:
    """Run the coverage check again if anything it depends on changed; return the current one.

    Called when the insurance step is saved, and lazily wherever the result is shown: the
    specialist (and, later, the named reviewer) is chosen in steps this app does not own, and a
    coordinator may change a plan's rules at any time, so "changed since the last check" is
    found by comparing a fingerprint of every input rather than by hooking each writer. A row is
    written only when that fingerprint differs from the latest check's, so showing a page writes
    nothing while its inputs stay the same.
    """
    checked_in_scope = _checked_in_scope.get()
    if checked_in_scope is not None and case.pk in checked_in_scope:
        return checked_in_scope[case.pk]
    check = _refresh_coverage(case)
    if checked_in_scope is not None:
        checked_in_scope[case.pk] = check
    return check


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
        return case.coverage_checks.order_by("-checked_at", "-pk").first()
    return refresh_coverage(case)


def _refresh_coverage(case: Case) -> CoverageCheck | None:
    insurance = CaseInsurance.objects.select_related("plan__payer").filter(case=case).first()
    if insurance is None:
        return None
    checked = evaluate(case, insurance)
    fingerprint = _fingerprint(checked)
    latest = case.coverage_checks.order_by("-checked_at", "-pk").first()
    if latest is not None and latest.fingerprint == fingerprint:
        return latest
    result = checked.result
    data = result.as_dict()
    data["messages"] = list(checked.messages)
    check = CoverageCheck.objects.create(
        case=case,
        plan=insurance.plan,
        source=checked.source,
        fingerprint=fingerprint,
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
    insurance = CaseInsurance.objects.filter(case=case).first()
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
    insurance = CaseInsurance.objects.filter(case=case).first()
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
        pa = PriorAuthorization.objects.filter(case=case).first()
        if pa is None or pa.status != PriorAuthorization.Status.APPROVED:
            blockers.append("Prior authorization from your insurer: not approved yet.")
    if result["referral"]["value"]:
        referral = CaseReferral.objects.filter(case=case).first()
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
        letter = case.documents.filter(kind=Document.Kind.REFERRAL_LETTER).last()
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
            message=f"Insurance cleared by {_actor_name(by)}: {note}"[:300],
        )
        CaseInsurance.objects.filter(case=case).update(
            cleared_at=timezone.now(), cleared_by=by, cleared_note=note[:300]
        )


# --- The patient's choices ------------------------------------------------------------------------


def self_pay_price(case: Case) -> Decimal:
    return price_list()[case.review_type or coverage.RADIOLOGY].self_pay


def self_pay_refusal(case: Case) -> str:
    """Why the patient may not choose to pay themselves now ("" when they may)."""
    if case.status not in PATIENT_SELF_PAY_FROM:
        return "Your request is already with a specialist; write to your coordinator."
    insurance = CaseInsurance.objects.select_related("plan").filter(case=case).first()
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
    to bill Medicare (option 2, `sign_advance_beneficiary_notice`). Medicaid and CHIP: not for a
    service the plan covers.
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
    from .statements import issue_good_faith_estimate  # the estimate reads this module

    issue_good_faith_estimate(case, by=by)
    return price


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
            f"Prior authorization {verdict} by {_payer(case)}{ref}; recorded by {_actor_name(by)}.",
        )
        if approved:
            return clear_if_ready(case, by=by, because="prior authorization approved.")
    return False


# --- Referral -------------------------------------------------------------------------------------


def accept_referral(referral: CaseReferral, *, by) -> bool:
    """needed or received -> on file, once there is a letter or the doctor's details."""
    S = CaseReferral.Status
    if referral.letter_id is None:
        letter = referral.case.documents.filter(kind=Document.Kind.REFERRAL_LETTER).last()
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
        add_to_timeline(referral.case, by, f"Referral on file; checked by {_actor_name(by)}.")
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
            f"{_actor_name(by)}.",
        )
        if granted:
            return clear_if_ready(case, by=by, because="network gap exception granted.")
    return False


# --- Coordinator edits of what the patient told us ------------------------------------------------


def update_insurance_by_coordinator(insurance: CaseInsurance, *, by, fields: list[str]) -> None:
    """A coordinator corrected the plan or details (say, after a call): check coverage again,
    open what the new plan needs and let the case go on if nothing holds it."""
    insurance.save(update_fields=[*fields, "updated_at"])
    case = insurance.case
    add_to_timeline(case, by, f"Insurance details updated by {_actor_name(by)}.")
    refresh_coverage(case)
    if case.status == Case.Status.AWAITING_INSURANCE:
        open_paperwork(case)
        clear_if_ready(case, by=by, because="insurance details updated.")
