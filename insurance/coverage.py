"""What a plan pays for a second opinion, and what the patient pays: pure functions, no Django.

`check(facts)` takes plain values (the plan's rules, the case's answers, the reviewers of the
case's subspecialty and our price list) and answers each question with the reason in plain
words. Callers (`insurance.services`) gather the facts and store the answer; tests and
benchmarks call these functions directly.

Estimates are ranges because we rarely know how much of the deductible a patient has already met:
the low end assumes it is met, the high end that none of it is. Where an out-of-network reviewer
might be paid as in network (a network gap exception), the range runs from the in-network cost
to what the patient pays if the insurer says no.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal

SERIOUS_REASONS = frozenset({"serious_diagnosis", "treatment"})
"""The case's reasons that meet a plan's "serious diagnosis or recommended surgery" condition."""

ALWAYS, SERIOUS, NEVER = "always", "serious", "never"
RADIOLOGY, CLINICAL, BOTH = "radiology", "clinical", "both"
COVERED, NOT_COVERED, SELF_PAY, UNKNOWN = "covered", "not_covered", "self_pay", "unknown"
MEDICARE_TYPES = frozenset({"medicare", "medicare_advantage"})
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
    prior_auth_required: bool = False
    referral_required: bool = False
    copay: Decimal = ZERO
    deductible: Decimal = ZERO
    deductible_remaining: Decimal | None = None
    coinsurance_percent: Decimal = ZERO
    has_network: bool = True
    in_network_reviewer_ids: frozenset[int] = frozenset()
    in_network_facilities: frozenset[str] = frozenset()
    out_of_network_covered: bool = False
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


def covered_answer(facts: CaseFacts) -> Answer:
    """Does the plan pay for this second opinion at all?"""
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
    if plan.active is False:
        return Answer(False, f"{plan.payer} reports that this coverage is not active.")
    if plan.second_opinion == NEVER:
        return Answer(False, f"{plan.plan} does not pay for second opinions.")
    if plan.second_opinion == SERIOUS and facts.reason not in SERIOUS_REASONS:
        if not facts.reason:
            return Answer(
                None,
                f"{plan.plan} pays only when a serious diagnosis or recommended surgery is "
                "involved: tell us why you want a second opinion (the Question step).",
            )
        return Answer(
            False,
            f"{plan.plan} pays for a second opinion only after a serious diagnosis or when "
            f"surgery or another major treatment is recommended; you told us: "
            f"“{facts.reason_label or facts.reason}”.",
        )
    if facts.review_type in ("", RADIOLOGY) and not plan.covers_reread:
        who = "Medicare sets" if plan.plan_type in MEDICARE_TYPES else f"{plan.plan} has"
        return Answer(
            False,
            f"{who} no payment for a radiologist's re-read of images made elsewhere "
            "(CPT 76140). A consultation with a clinical specialist, who goes through your "
            "images with you, is covered: you can choose one on the Specialist step.",
        )
    reread_apart = ""
    if facts.review_type == BOTH and not plan.covers_reread:
        reread_apart = (
            " It pays for the consultation only: the radiologist's re-read (CPT 76140) is self-pay."
        )
    if plan.second_opinion == SERIOUS:
        return Answer(
            True,
            f"{plan.plan} covers a second opinion when a serious diagnosis or recommended "
            f"surgery is involved, as in your case.{reread_apart}",
        )
    return Answer(True, f"{plan.plan} covers a second opinion.{reread_apart}")


def reread_paid_apart(facts: CaseFacts) -> Decimal:
    """For a re-read and consultation on a plan that pays no re-read: the re-read's own price,
    paid by the patient on top of their share of the consultation."""
    plan = facts.plan
    if plan is None or plan.covers_reread or facts.review_type != BOTH:
        return ZERO
    return facts.prices[RADIOLOGY].self_pay


def prior_authorization_answer(facts: CaseFacts, covered: Answer) -> Answer:
    """Must the insurer approve the second opinion before it happens?"""
    if facts.self_pay or covered.value is False:
        return Answer(None, "Does not apply: your insurance is not billed.")
    if facts.plan is None:
        return Answer(None, "We'll find out when we check with your insurer.")
    if facts.plan.prior_auth_required:
        return Answer(
            True,
            f"{facts.plan.payer} must approve the second opinion before it happens. We ask "
            "them for you once you submit; an answer usually takes 3 to 14 days.",
        )
    return Answer(False, f"{facts.plan.plan} does not ask for approval beforehand.")


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
    """Is the reviewer (or, for 'first available', any reviewer of the kind) in network?"""
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
        gap_text = f"{chosen.name} is not in {plan.plan}'s network, and none of our {title}s is."
    elif inside:
        return Network(
            Answer(True, f"We'll choose an in-network {title} for you: {names}."), inside, False
        )
    else:
        gap_text = f"None of our {title}s is in {plan.plan}'s network."
    if facts.exception_granted:
        return Network(Answer(True, gap_text + granted), inside, True)
    return Network(Answer(False, gap_text), inside, True)


def patient_share(
    *, allowed: Decimal, copay: Decimal, deductible_left: Decimal, coinsurance_percent: Decimal
) -> Decimal:
    """What the patient pays of an allowed amount: the co-pay, then what is left of the
    deductible, then their coinsurance share of the rest; never more than the allowed amount."""
    allowed = max(allowed, ZERO)
    paid_copay = min(max(copay, ZERO), allowed)
    rest = allowed - paid_copay
    paid_deductible = min(max(deductible_left, ZERO), rest)
    rest -= paid_deductible
    rate = min(max(coinsurance_percent, ZERO), HUNDRED) / HUNDRED
    return (paid_copay + paid_deductible + rest * rate).quantize(CENT, ROUND_HALF_UP)


def _share_range(plan: PlanRules, price: Price, rate: Decimal) -> tuple[Decimal, Decimal]:
    """Deductible met (low) to none of it met (high)."""
    left = plan.deductible if plan.deductible_remaining is None else plan.deductible_remaining
    share = {"allowed": price.allowed, "copay": plan.copay, "coinsurance_percent": rate}
    return (
        patient_share(deductible_left=ZERO, **share),
        patient_share(deductible_left=left, **share),
    )


def _cost_terms(plan: PlanRules, price: Price, *, rate: Decimal) -> str:
    parts = []
    if plan.copay:
        parts.append(f"a {money(plan.copay)} co-pay")
    if plan.deductible:
        if plan.deductible_remaining is not None:
            parts.append(f"the {money(plan.deductible_remaining)} left of your deductible")
        else:
            parts.append(
                f"your deductible ({money(plan.deductible)} a year; we don't know how much of "
                "it you have met)"
            )
    if rate:
        parts.append(f"{rate.normalize():f}% coinsurance")
    terms = ", then ".join(parts) if parts else "nothing"
    return f"you pay {terms}, of the {money(price.allowed)} insurers typically allow"


def estimate(facts: CaseFacts, covered: Answer, net: Network) -> Estimate:
    """The patient's cost as a range, with how it was worked out."""
    full, plan = facts.price, facts.plan
    self_pay = full.self_pay
    if facts.self_pay:
        return Estimate(
            self_pay, self_pay, ("self_pay",), f"Our price for {_service(full)}: {money(self_pay)}."
        )
    if covered.value is False:
        return Estimate(
            self_pay,
            self_pay,
            ("self_pay",),
            f"Your plan does not pay, so it is our self-pay price for {_service(full)}.",
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
    basis = [
        name
        for name, amount in (
            ("copay", plan.copay),
            ("deductible", plan.deductible),
            ("coinsurance", plan.coinsurance_percent),
        )
        if amount
    ]
    if apart:
        basis.append("self_pay")
    low, high = (x + apart for x in _share_range(plan, billed, plan.coinsurance_percent))
    reason = _cost_terms(plan, billed, rate=plan.coinsurance_percent) + "." + extra
    if net.answer.value is False:
        if plan.out_of_network_covered:
            rate = plan.out_of_network_coinsurance_percent
            oon_low, oon_high = (x + apart for x in _share_range(plan, billed, rate))
            oon = f"out of network {_cost_terms(plan, billed, rate=rate)}.{extra}"
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


def _service(price: Price) -> str:
    codes = f" (CPT {price.cpt_codes})" if price.cpt_codes else ""
    return f"{price.description or 'the review'}{codes}"


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
        return (
            f"Your plan won't pay: you can pay yourself ({price}), or ask {payer} about an "
            "exception or appeal with your doctor.",
        )
    steps = []
    if net.gap and net.answer.value is False:
        steps.append(
            f"No {title} in your plan's network is available: we can ask {payer} for a network "
            f"gap exception so they pay as in network, or you can pay yourself ({price})."
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
    if covered.value is None:
        return UNKNOWN, "Coverage to be checked with your insurer"
    if covered.value is False:
        return NOT_COVERED, "Not covered by your plan"
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
            and facts.plan is not None
            and not facts.plan.out_of_network_covered
        ),
        next_steps=next_steps(facts, covered, prior, referral, net),
    )
