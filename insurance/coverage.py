"""What a plan pays for a second opinion, and what the patient pays: pure functions, no Django.

`check(facts)` takes plain values (the plan's rules, the case's answers, the reviewers of the
case's subspecialty and our price list) and answers each question with the reason in plain
words. Callers (`insurance.services`) gather the facts and store the answer; tests and
benchmarks call these functions directly.

Estimates are ranges because we rarely know how much of the deductible a patient has already met:
the low end assumes it is met, the high end that none of it is. Where an out-of-network reviewer
might be paid as in network (a network gap exception), the range runs from the in-network cost
to what the patient pays if the insurer says no.

Rules with a public source say so where they are applied: Medicare's second-opinion coverage
(Medicare Benefit Policy Manual, Chapter 15, section 30.D), its second interpretations of images
(Medicare Claims Processing Manual, Chapter 13, section 100.1, modifier 77), the Advance
Beneficiary Notice (Form CMS-R-131), Medicaid's payment in full (42 CFR 447.15).
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .figures import DecisionTime

SERIOUS_REASONS = frozenset({"serious_diagnosis", "treatment"})
"""The case's reasons that meet a plan's "serious diagnosis or recommended surgery" condition."""
PROCEDURE_REASONS = frozenset({"treatment"})
"""The reasons that meet Medicare's condition: surgery or a major diagnostic or therapeutic
procedure recommended (Medicare Benefit Policy Manual, Chapter 15, section 30.D)."""

ALWAYS, SERIOUS, PROCEDURE, NEVER = "always", "serious", "procedure", "never"
RADIOLOGY, CLINICAL, BOTH = "radiology", "clinical", "both"
COVERED, NOT_COVERED, SELF_PAY, UNKNOWN = "covered", "not_covered", "self_pay", "unknown"
COPAY, DEDUCTIBLE_COINSURANCE, DEDUCTIBLE_COPAY = (
    "copay",
    "deductible_coinsurance",
    "deductible_copay",
)
ORIGINAL_MEDICARE, MEDICARE_ADVANTAGE, MEDICAID = "medicare", "medicare_advantage", "medicaid"
MEDICARE_TYPES = frozenset({ORIGINAL_MEDICARE, MEDICARE_ADVANTAGE})
MEDICAID_TYPES = frozenset({MEDICAID, "chip"})
CENT = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")


def money(amount: Decimal) -> str:
    return f"${amount.quantize(CENT, ROUND_HALF_UP):,}"


@dataclass(frozen=True)
class Reviewer:
    id: int
    name: str
    institution: str = ""


@dataclass(frozen=True)
class Price:
    """One line of our price list: what the patient pays alone, what insurers typically allow."""

    self_pay: Decimal
    allowed: Decimal
    description: str = ""
    cpt_codes: str = ""


@dataclass(frozen=True)
class PlanRules:
    """A plan's rules as they apply to one member (an eligibility response may refine them)."""

    payer: str
    plan: str
    plan_type: str
    second_opinion: str = ALWAYS
    covers_reread: bool = True
    reread_code: str = "CPT 76140"
    prior_auth_required: bool = False
    referral_required: bool = False
    cost_sharing: str = DEDUCTIBLE_COINSURANCE
    copay: Decimal = ZERO
    deductible: Decimal = ZERO
    deductible_remaining: Decimal | None = None
    coinsurance_percent: Decimal = ZERO
    has_network: bool = True
    in_network_reviewer_ids: frozenset[int] = frozenset()
    in_network_facilities: frozenset[str] = frozenset()
    out_of_network_covered: bool = False
    out_of_network_deductible: Decimal = ZERO
    out_of_network_coinsurance_percent: Decimal = ZERO
    active: bool | None = True

    def includes(self, reviewer: Reviewer) -> bool:
        """In network: the plan has no network, names the reviewer, or names their facility."""
        return (
            not self.has_network
            or reviewer.id in self.in_network_reviewer_ids
            or reviewer.institution.strip().casefold() in self.in_network_facilities
        )


@dataclass(frozen=True)
class CaseFacts:
    """Everything about one case that coverage depends on."""

    self_pay: bool
    prices: Mapping[str, Price]
    plan: PlanRules | None = None  # insured, but we hold no rules for the plan
    insurer_name: str = ""
    reason: str = ""
    reason_label: str = ""
    review_type: str = RADIOLOGY
    subspecialty: str = ""  # the specialist's title, e.g. "neuroradiologist"; "" = not known
    has_referral: str = ""
    reviewer: Reviewer | None = None  # None: the first available reviewer
    reviewers: tuple[Reviewer, ...] = ()  # active reviewers of the case's subspecialty
    exception_granted: bool = False
    third_opinion: bool = False  # the review asked about follows a signed second opinion
    decision_time: DecisionTime | None = None  # the plan's prior-authorization timeframe
    abn_option: str = ""  # Original Medicare: the Advance Beneficiary Notice option signed
    coverage_type: str = ""  # the type of coverage the patient chose, beside the plan

    @property
    def price(self) -> Price:
        return self.prices.get(self.review_type or RADIOLOGY) or self.prices[RADIOLOGY]


@dataclass(frozen=True)
class Answer:
    value: bool | None  # None: does not apply, or not known yet
    reason: str


@dataclass(frozen=True)
class Estimate:
    low: Decimal
    high: Decimal
    basis: tuple[str, ...]  # copay, deductible, coinsurance, out_of_network, self_pay, unknown
    reason: str


@dataclass(frozen=True)
class Coverage:
    outcome: str
    headline: str
    covered: Answer
    prior_authorization: Answer
    referral: Answer
    in_network: Answer
    estimate: Estimate
    self_pay_price: Decimal
    in_network_reviewers: tuple[str, ...] = ()
    network_gap: bool = False  # no in-network reviewer of the subspecialty: an exception helps
    exception_required: bool = False  # ... and without one the plan pays nothing
    # The plan pays nothing with the chosen specialist (HMO, EPO): pick an in-network one, or
    # choose to pay yourself.
    network_choice_required: bool = False
    # Original Medicare: an Advance Beneficiary Notice is signed before the patient pays.
    abn_before_self_pay: bool = False
    # Medicaid and CHIP: a provider accepts their payment as payment in full (42 CFR 447.15).
    payment_in_full: bool = False
    third_opinion: bool = False  # the estimate is for a third opinion
    next_steps: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        """JSON-ready (amounts as strings), for `CoverageCheck.result`."""
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    if isinstance(value, Decimal):
        return str(value.quantize(CENT, ROUND_HALF_UP))
    return value


def facts_as_dict(facts: CaseFacts) -> dict:
    """The facts as JSON-ready data (for a fingerprint of what a check was based on)."""
    return _jsonable(asdict(facts))


# --- The questions, one function each ------------------------------------------------------------


def _is_original_medicare(plan: PlanRules | None) -> bool:
    return plan is not None and plan.plan_type == ORIGINAL_MEDICARE


def type_contradicts(coverage_type: str, plan: PlanRules | None) -> bool:
    """Does the coverage type chosen contradict the plan's own? Medicare Advantage described
    as Medicare does not: that is how its members usually name it."""
    if plan is None or not coverage_type or coverage_type == plan.plan_type:
        return False
    return {coverage_type, plan.plan_type} != MEDICARE_TYPES


def _what(facts: CaseFacts) -> str:
    return "a third opinion" if facts.third_opinion else "a second opinion"


def covered_answer(facts: CaseFacts) -> Answer:
    """Does the plan pay for this second (or third) opinion at all?"""
    plan = facts.plan
    if facts.self_pay:
        return Answer(None, "You chose to pay yourself, so your insurance is not billed.")
    if plan is None:
        insurer = facts.insurer_name or "your insurer"
        return Answer(
            None,
            f"We don't hold the rules of your plan with {insurer} yet: a care coordinator "
            "checks your benefits with them and tells you here.",
        )
    if type_contradicts(facts.coverage_type, plan):
        return Answer(
            None,
            f"The type of coverage you chose does not match {plan.plan}: tell us which is "
            "right, and we check what it pays then.",
        )
    if plan.active is False:
        return Answer(False, f"{plan.payer} reports that this coverage is not active.")
    if plan.second_opinion == NEVER:
        return Answer(False, f"{plan.plan} does not pay for second opinions.")
    rule = _rule_met(facts)
    if rule is not None:
        return rule
    if facts.review_type in ("", RADIOLOGY) and not plan.covers_reread:
        return Answer(
            False,
            f"{plan.plan} has no payment for a radiologist's re-read of images made elsewhere "
            f"({plan.reread_code}). A consultation with a clinical specialist, who goes through "
            "your images with you, is covered: you can choose one on the Specialist step.",
        )
    extra = ""
    if facts.review_type == BOTH and not plan.covers_reread:
        extra = (
            f" It pays for the consultation only: the radiologist's re-read ({plan.reread_code}) "
            "is self-pay."
        )
    elif facts.review_type in ("", RADIOLOGY, BOTH) and plan.plan_type in MEDICARE_TYPES:
        # Medicare has no payment for CPT 76140; it pays a second interpretation that is
        # documented as needed, billed as the exam's own code with modifier 77 (Medicare Claims
        # Processing Manual, Chapter 13, section 100.1).
        extra = (
            " A radiologist's second interpretation of your images is paid when the need for it "
            f"is documented, such as a questionable finding; it is billed as {plan.reread_code}."
        )
    return Answer(True, _covered_reason(facts) + extra)


def _rule_met(facts: CaseFacts) -> Answer | None:
    """None when the plan's condition for a second opinion is met; otherwise why not."""
    plan = facts.plan
    if plan.second_opinion == SERIOUS:
        wanted, condition = SERIOUS_REASONS, "a serious diagnosis or recommended surgery"
    elif plan.second_opinion == PROCEDURE:
        wanted = PROCEDURE_REASONS
        condition = "surgery or a major diagnostic or therapeutic procedure recommended by a doctor"
    else:
        return None
    if facts.third_opinion and plan.second_opinion == PROCEDURE:
        return None  # Medicare also pays a third opinion when the first two differ
    if facts.reason in wanted:
        return None
    who = _medicare_who(plan) or plan.plan
    if not facts.reason:
        return Answer(
            None,
            f"{who} pays only with {condition}: tell us why you want a second opinion (the "
            "Question step).",
        )
    return Answer(
        False,
        f"{who} pays for a second opinion only with {condition}; you told us: "
        f"“{facts.reason_label or facts.reason}”.",
    )


def _medicare_who(plan: PlanRules) -> str:
    if plan.plan_type == ORIGINAL_MEDICARE:
        return "Medicare Part B"
    if plan.plan_type == MEDICARE_ADVANTAGE:
        return f"{plan.plan} (a Medicare Advantage plan)"
    return ""


def _covered_reason(facts: CaseFacts) -> str:
    plan = facts.plan
    if plan.plan_type == ORIGINAL_MEDICARE:
        if facts.third_opinion:
            return "Medicare Part B also helps pay for a third opinion when the first two differ."
        return (
            "Medicare Part B covers a second opinion when a doctor has recommended surgery or a "
            "major diagnostic or therapeutic procedure that is not an emergency, as in your case."
        )
    if plan.plan_type == MEDICARE_ADVANTAGE:
        return (
            f"{plan.plan} is a Medicare Advantage plan: it covers at least what Original "
            f"Medicare covers, such as {_what(facts)} when surgery or a major procedure is "
            "recommended, but your plan decides how, with its own network, referral and "
            "approval rules."
        )
    if plan.second_opinion == SERIOUS:
        return (
            f"{plan.plan} covers a second opinion when a serious diagnosis or recommended "
            "surgery is involved, as in your case."
        )
    return f"{plan.plan} covers {_what(facts)}."


def reread_paid_apart(facts: CaseFacts) -> Decimal:
    """For a re-read and consultation on a plan that pays no re-read: the re-read's own price,
    paid by the patient on top of their share of the consultation."""
    plan = facts.plan
    if plan is None or plan.covers_reread or facts.review_type != BOTH:
        return ZERO
    return facts.prices[RADIOLOGY].self_pay


def _hours(hours: int) -> str:
    return f"{hours} hours" if hours % 24 else f"{hours // 24} days"


def prior_authorization_answer(facts: CaseFacts, covered: Answer) -> Answer:
    """Must the insurer approve the second opinion before it happens, and how soon must it say?"""
    if facts.self_pay or covered.value is False:
        return Answer(None, "Does not apply: your insurance is not billed.")
    if facts.plan is None:
        return Answer(None, "We'll find out when we check with your insurer.")
    if not facts.plan.prior_auth_required:
        return Answer(False, f"{facts.plan.plan} does not ask for approval beforehand.")
    payer, time = facts.plan.payer, facts.decision_time
    if time is None:
        timing = (
            f"{payer} decides within its own timeframe, which your plan documents state; if "
            "waiting could seriously harm your health, your doctor can ask for a faster answer."
        )
    else:
        extension = (
            f" (it may take {time.extension_days} more days once, if it tells you why)"
            if time.extension_days
            else ""
        )
        timing = (
            f"{payer} must decide within {time.standard_days} calendar days of receiving the "
            f"request{extension}, or within {_hours(time.expedited_hours)} when your doctor "
            "says waiting could seriously harm your health: tell your coordinator, and we ask "
            "for the expedited decision."
        )
    return Answer(
        True,
        f"{payer} must approve the second opinion before it happens. We ask them for you once "
        f"you submit. {timing}",
    )


def referral_answer(facts: CaseFacts, covered: Answer) -> Answer:
    """Does the plan want a referral from the patient's primary care physician?"""
    if facts.self_pay or covered.value is False:
        return Answer(None, "Does not apply: your insurance is not billed.")
    if facts.plan is None:
        return Answer(None, "We'll find out when we check with your insurer.")
    if not facts.plan.referral_required:
        return Answer(False, f"{facts.plan.plan} does not need a referral from your doctor.")
    if facts.has_referral == "yes":
        return Answer(
            True,
            f"{facts.plan.plan} needs a referral from your primary care doctor. You told us "
            "you have one: add the letter under Records, or give us your doctor's details.",
        )
    return Answer(
        True,
        f"{facts.plan.plan} needs a referral from your primary care doctor: ask them for one "
        "to a specialist for a second opinion on your imaging.",
    )


@dataclass(frozen=True)
class Network:
    answer: Answer
    in_network: tuple[Reviewer, ...]
    gap: bool


def network(facts: CaseFacts) -> Network:
    """Is the reviewer (or, for 'first available', any reviewer of the kind) in network?

    We know only our own roster: a gap means none of our specialists of the kind is in the
    plan's network, not that the plan has none.
    """
    plan, title = facts.plan, facts.subspecialty or "specialist"
    if facts.self_pay:
        return Network(Answer(None, "Does not matter when you pay yourself."), (), False)
    if plan is None:
        return Network(
            Answer(None, "We'll check which of our specialists your plan has in network."),
            (),
            False,
        )
    inside = tuple(r for r in facts.reviewers if plan.includes(r))
    names = ", ".join(r.name for r in inside)
    if not plan.has_network:
        return Network(
            Answer(True, f"{plan.plan} has no provider network: any of our specialists will do."),
            inside,
            False,
        )
    if not facts.subspecialty:
        return Network(
            Answer(None, "Choose a specialist to see whether they are in your plan's network."),
            (),
            False,
        )
    chosen = facts.reviewer
    if chosen is not None and plan.includes(chosen):
        return Network(Answer(True, f"{chosen.name} is in {plan.plan}'s network."), inside, False)
    granted = " Your insurer granted a network gap exception, so they pay as in network."
    if chosen is not None:
        if inside:
            return Network(
                Answer(
                    False,
                    f"{chosen.name} is not in {plan.plan}'s network. In-network {title}s: {names}.",
                ),
                inside,
                False,
            )
        gap_text = (
            f"{chosen.name} is not in {plan.plan}'s network, and none of the {title}s who review "
            "for us is."
        )
    elif inside:
        promise = f"The first available specialist will be an in-network {title}."
        return Network(Answer(True, promise), inside, False)
    else:
        gap_text = f"None of the {title}s who review for us is in {plan.plan}'s network."
    if facts.exception_granted:
        return Network(Answer(True, gap_text + granted), inside, True)
    return Network(Answer(False, gap_text), inside, True)


def patient_share(
    *,
    allowed: Decimal,
    method: str = DEDUCTIBLE_COINSURANCE,
    copay: Decimal = ZERO,
    deductible_left: Decimal = ZERO,
    coinsurance_percent: Decimal = ZERO,
) -> Decimal:
    """What the patient pays of an allowed amount under the plan's way of sharing costs, never
    more than the allowed amount. A co-pay plan charges the co-pay alone: no deductible and no
    coinsurance on top."""
    allowed = max(allowed, ZERO)
    if method == COPAY:
        return min(max(copay, ZERO), allowed).quantize(CENT, ROUND_HALF_UP)
    paid_deductible = min(max(deductible_left, ZERO), allowed)
    rest = allowed - paid_deductible
    if method == DEDUCTIBLE_COPAY:
        return (paid_deductible + min(max(copay, ZERO), rest)).quantize(CENT, ROUND_HALF_UP)
    rate = min(max(coinsurance_percent, ZERO), HUNDRED) / HUNDRED
    return (paid_deductible + rest * rate).quantize(CENT, ROUND_HALF_UP)


def _deductible_left(plan: PlanRules) -> Decimal:
    return plan.deductible if plan.deductible_remaining is None else plan.deductible_remaining


def _share_range(plan: PlanRules, price: Price) -> tuple[Decimal, Decimal]:
    """In network: deductible met (low) to none of it met (high)."""
    share = {
        "allowed": price.allowed,
        "method": plan.cost_sharing,
        "copay": plan.copay,
        "coinsurance_percent": plan.coinsurance_percent,
    }
    return (
        patient_share(deductible_left=ZERO, **share),
        patient_share(deductible_left=_deductible_left(plan), **share),
    )


# Our balance-billing policy, stated to every patient whose plan pays out of network: we bill
# the difference between what the plan allows and our self-pay price, and never more in total
# than the self-pay price. (A specialist the patient chooses outside their network is not one
# the No Surprises Act's balance-billing protections cover.)
BALANCE_BILLING_POLICY = (
    "We bill you the difference between what your plan allows and our self-pay price, and "
    "never more in total than our self-pay price"
)


def _out_of_network_range(plan: PlanRules, price: Price) -> tuple[Decimal, Decimal]:
    """Out of network: the separate out-of-network deductible and coinsurance, plus the balance
    up to our self-pay price; capped at the self-pay price."""
    share = {
        "allowed": price.allowed,
        "method": DEDUCTIBLE_COINSURANCE,
        "coinsurance_percent": plan.out_of_network_coinsurance_percent,
    }
    balance = max(price.self_pay - price.allowed, ZERO)
    low = patient_share(deductible_left=ZERO, **share) + balance
    high = patient_share(deductible_left=plan.out_of_network_deductible, **share) + balance
    return min(low, price.self_pay), min(high, price.self_pay)


def _cost_terms(plan: PlanRules, price: Price) -> str:
    parts = []
    deductible = ""
    if plan.cost_sharing != COPAY and plan.deductible:
        if plan.deductible_remaining is not None:
            deductible = f"the {money(plan.deductible_remaining)} left of your deductible"
        else:
            deductible = (
                f"your deductible ({money(plan.deductible)} a year; we don't know how much of "
                "it you have met)"
            )
    if plan.cost_sharing == COPAY:
        if plan.copay:
            parts.append(f"a {money(plan.copay)} co-pay, and no deductible or coinsurance")
    elif plan.cost_sharing == DEDUCTIBLE_COPAY:
        parts += [p for p in (deductible, plan.copay and f"a {money(plan.copay)} co-pay") if p]
    else:
        rate = plan.coinsurance_percent
        parts += [p for p in (deductible, rate and f"{rate.normalize():f}% coinsurance") if p]
    terms = ", then ".join(parts) if parts else "nothing"
    return f"you pay {terms}, of the {money(price.allowed)} insurers typically allow"


def _out_of_network_terms(plan: PlanRules, price: Price) -> str:
    parts = []
    if plan.out_of_network_deductible:
        parts.append(
            f"your separate out-of-network deductible ({money(plan.out_of_network_deductible)} "
            "a year)"
        )
    rate = plan.out_of_network_coinsurance_percent
    if rate:
        parts.append(f"{rate.normalize():f}% coinsurance")
    terms = ", then ".join(parts) if parts else "nothing"
    return (
        f"out of network you pay {terms} of the {money(price.allowed)} your plan typically "
        f"allows. {BALANCE_BILLING_POLICY} ({money(price.self_pay)})."
    )


def _basis(plan: PlanRules) -> list[str]:
    if plan.cost_sharing == COPAY:
        return ["copay"] if plan.copay else []
    second = (
        ("copay", plan.copay)
        if plan.cost_sharing == DEDUCTIBLE_COPAY
        else (
            "coinsurance",
            plan.coinsurance_percent,
        )
    )
    return [name for name, amount in (("deductible", plan.deductible), second) if amount]


def estimate(facts: CaseFacts, covered: Answer, net: Network) -> Estimate:
    """The patient's cost as a range, with how it was worked out."""
    full, plan = facts.price, facts.plan
    self_pay = full.self_pay
    if facts.self_pay:
        return Estimate(
            self_pay, self_pay, ("self_pay",), f"Our price for {_service(full)}: {money(self_pay)}."
        )
    if covered.value is False:
        if _is_original_medicare(plan) and facts.abn_option == "1":
            return Estimate(
                ZERO,
                self_pay,
                ("abn",),
                "You asked us to bill Medicare under option 1 of the Advance Beneficiary "
                f"Notice: if Medicare pays, your share is its usual one; if it does not, you pay "
                f"our price for {_service(full, plan)}, {money(self_pay)}, and can appeal.",
            )
        return Estimate(
            self_pay,
            self_pay,
            ("self_pay",),
            f"Your plan does not pay, so it is our self-pay price for {_service(full, plan)}.",
        )
    if covered.value is None or plan is None:
        return Estimate(
            ZERO,
            self_pay,
            ("unknown",),
            "From nothing, if your plan pays in full, to our self-pay price "
            f"({money(self_pay)}), until we know your plan's rules.",
        )
    # A re-read and consultation on a plan that pays no re-read: the plan is billed for the
    # consultation, and the re-read is the patient's at its own self-pay price.
    apart = reread_paid_apart(facts)
    billed = facts.prices.get(CLINICAL, full) if apart else full
    extra = f" Plus {money(apart)} for the re-read, which your plan does not pay." if apart else ""
    basis = _basis(plan)
    if apart:
        basis.append("self_pay")
    low, high = (x + apart for x in _share_range(plan, billed))
    reason = _cost_terms(plan, billed) + "." + extra
    if plan.plan_type in MEDICAID_TYPES:
        # 42 CFR 447.15: a provider accepts the program's payment, plus the member's allowed
        # cost sharing, as payment in full.
        reason += (
            " We accept your plan's payment as payment in full: you pay nothing more than "
            "this share."
        )
    if net.answer.value is False:
        if plan.out_of_network_covered:
            oon_low, oon_high = (x + apart for x in _out_of_network_range(plan, billed))
            oon = _out_of_network_terms(plan, billed) + extra
        else:
            oon_low = oon_high = self_pay
            oon = f"your plan pays nothing out of network: our self-pay price, {money(self_pay)}."
        if net.gap:
            low, high = min(low, oon_high), max(high, oon_high)
            reason = (
                f"In network, if your insurer grants a network gap exception: {reason} "
                f"Without one, {oon}"
            )
            basis.append("out_of_network")
        else:
            low, high = oon_low, oon_high
            reason = oon[0].upper() + oon[1:]
            basis = ["out_of_network"] if plan.out_of_network_covered else ["self_pay"]
    else:
        reason = reason[0].upper() + reason[1:]
        if net.answer.value is None:
            reason += " This assumes the specialist is in your plan's network."
    low, high = sorted((max(low, ZERO), max(high, ZERO)))
    return Estimate(low, high, tuple(basis) or ("covered_in_full",), reason)


STANDARD_REREAD_CODE = "76140"


def service_codes(cpt_codes: str, plan: PlanRules | None = None) -> list[str]:
    """The codes a service is billed with: our price list's, with the re-read as the plan takes
    it (Medicare pays no CPT 76140: the exam's own code with modifier 77)."""
    codes = []
    for code in (c.strip() for c in cpt_codes.split(",")):
        if not code:
            continue
        if code == STANDARD_REREAD_CODE and plan is not None:
            codes.append(plan.reread_code)
        else:
            codes.append(f"CPT {code}")
    return codes


def _service(price: Price, plan: PlanRules | None = None) -> str:
    codes = service_codes(price.cpt_codes, plan)
    listed = f" ({'; '.join(codes)})" if codes else ""
    return f"{price.description or 'the review'}{listed}"


def _network_choice_required(facts: CaseFacts, covered: Answer, net: Network) -> bool:
    """HMO and EPO: the chosen specialist is out of network, the plan pays nothing there, and
    an in-network one of the kind exists (a gap is the exception letter's business)."""
    return (
        covered.value is True
        and facts.plan is not None
        and not facts.plan.out_of_network_covered
        and net.answer.value is False
        and not net.gap
    )


def next_steps(
    facts: CaseFacts, covered: Answer, prior: Answer, referral: Answer, net: Network
) -> tuple[str, ...]:
    """What the patient must do next, in order."""
    price = money(facts.price.self_pay)
    title = facts.subspecialty or "specialist"
    if facts.self_pay:
        return (f"Nothing to do with an insurer: the price is {price}.",)
    if facts.plan is None:
        return (
            "Nothing yet: after you submit, a care coordinator checks your benefits with "
            f"{facts.insurer_name or 'your insurer'} and shows the result here.",
            f"If you'd rather not wait, you can pay yourself: {price}.",
        )
    payer = facts.plan.payer
    if covered.value is None:
        return ("Tell us why you want a second opinion on the Question step.",)
    if covered.value is False:
        if _is_original_medicare(facts.plan):
            # Original Medicare has no approval before the service: it decides on the claim.
            return (
                "Original Medicare decides whether it pays when the claim reaches it, after the "
                "service: there is no approval to ask for beforehand.",
                "Before you pay yourself, or ask us to bill Medicare anyway, you sign an Advance "
                f"Beneficiary Notice that says Medicare may not pay and what it costs ({price}).",
            )
        return (
            f"Your plan won't pay: you can pay yourself ({price}), or ask {payer} about an "
            "exception or appeal with your doctor.",
        )
    if _network_choice_required(facts, covered, net):
        return (
            f"Your plan pays nothing for a specialist outside its network: choose an in-network "
            f"{title}, or choose to pay yourself ({price}).",
        )
    steps = []
    if net.gap and net.answer.value is False:
        steps.append(
            f"None of the {title}s who review for us is in your plan's network: we can ask "
            f"{payer} for a network gap exception so they pay as in network, or you can pay "
            f"yourself ({price})."
        )
    elif net.answer.value is False:
        steps.append(f"Choose an in-network {title} to pay less.")
    if referral.value:
        steps.append(
            "Add your referral letter under Records, or give us your doctor's details."
            if facts.has_referral == "yes"
            else "Ask your primary care doctor for a referral, then add the letter under Records."
        )
    if prior.value:
        steps.append(
            f"Nothing for you to do about prior authorization: we ask {payer} for it, and your "
            "case waits for their approval."
        )
    if not steps:
        steps.append("Nothing to do: your plan covers it and needs no paperwork first.")
    return tuple(steps)


def headline(facts: CaseFacts, covered: Answer, prior: Answer, referral: Answer, net: Network):
    if facts.self_pay:
        return SELF_PAY, f"Self-pay: {money(facts.price.self_pay)}"
    if type_contradicts(facts.coverage_type, facts.plan):
        return UNKNOWN, "Your type of coverage and your plan do not match"
    if covered.value is None:
        return UNKNOWN, "Coverage to be checked with your insurer"
    if covered.value is False:
        if _is_original_medicare(facts.plan) and facts.abn_option == "1":
            return NOT_COVERED, "Medicare may not pay: billed with your Advance Beneficiary Notice"
        return NOT_COVERED, "Not covered by your plan"
    if _network_choice_required(facts, covered, net):
        return NOT_COVERED, "Not covered with this specialist"
    needs = [
        label
        for label, needed in (("prior authorization", prior), ("referral", referral))
        if needed.value
    ]
    text = "Covered" + (f", {' and '.join(needs)} required" if needs else "")
    if net.answer.value is False:
        text += "; no in-network specialist" if net.gap else "; specialist out of network"
    return COVERED, text


def check(facts: CaseFacts) -> Coverage:
    """Answer every coverage question for one case."""
    covered = covered_answer(facts)
    prior = prior_authorization_answer(facts, covered)
    referral = referral_answer(facts, covered)
    net = network(facts)
    outcome, text = headline(facts, covered, prior, referral, net)
    gap = net.gap and covered.value is True
    plan = facts.plan
    return Coverage(
        outcome=outcome,
        headline=text,
        covered=covered,
        prior_authorization=prior,
        referral=referral,
        in_network=net.answer,
        estimate=estimate(facts, covered, net),
        self_pay_price=facts.price.self_pay,
        in_network_reviewers=tuple(r.name for r in net.in_network),
        network_gap=gap,
        exception_required=(
            gap
            and not facts.exception_granted
            and plan is not None
            and not plan.out_of_network_covered
        ),
        network_choice_required=_network_choice_required(facts, covered, net),
        abn_before_self_pay=not facts.self_pay and _is_original_medicare(plan),
        payment_in_full=plan is not None and plan.plan_type in MEDICAID_TYPES,
        third_opinion=facts.third_opinion,
        next_steps=next_steps(facts, covered, prior, referral, net),
    )
