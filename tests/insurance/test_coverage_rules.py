"""The coverage rules, without the database: each rule alone, then in combination.

Plans and cases are built from plain values the way `insurance.services` builds them, so a
failing line names the rule that broke.
"""

from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insurance.coverage import (
    CaseFacts,
    PlanRules,
    Price,
    Reviewer,
    check,
    covered_answer,
    patient_share,
)
from insurance.figures import DecisionTime

PRICES = {
    "radiology": Price(
        self_pay=D("350"), allowed=D("300"), description="Re-read", cpt_codes="76140"
    ),
    "clinical": Price(self_pay=D("450"), allowed=D("380"), description="Consultation"),
    "both": Price(self_pay=D("700"), allowed=D("600"), description="Both"),
}
LAKESIDE = Reviewer(1, "Dr. Maya Lindqvist", "Lakeside University Hospital")
PRAIRIE = Reviewer(2, "Dr. Arjun Mehta", "Prairie Neuro Imaging")

PLAN = PlanRules(
    payer="BlueHarbor Health",
    plan="BlueHarbor PPO Gold",
    plan_type="commercial",
    cost_sharing="deductible_coinsurance",
    deductible=D("1500"),
    coinsurance_percent=D("20"),
    in_network_facilities=frozenset({"lakeside university hospital"}),
)
MEDICARE_ADVANTAGE = PlanRules(
    payer="Evergreen Health",
    plan="Evergreen Medicare Advantage Choice",
    plan_type="medicare_advantage",
    second_opinion="serious",
    covers_reread=False,
    prior_auth_required=True,
    cost_sharing="copay",
    copay=D("40"),
    in_network_facilities=frozenset({"lakeside university hospital"}),
)
ORIGINAL_MEDICARE = PlanRules(
    payer="Medicare",
    plan="Original Medicare (Part B)",
    plan_type="medicare",
    second_opinion="procedure",
    reread_code="the exam's own CPT code with modifier 77",
    deductible=D("283"),
    coinsurance_percent=D("20"),
    has_network=False,
)
MEDICAID = PlanRules(
    payer="Lakeshore Community Health",
    plan="Lakeshore Medicaid Managed Care",
    plan_type="medicaid",
    cost_sharing="copay",
    copay=D("4"),
    in_network_facilities=frozenset({"lakeside university hospital"}),
)


def case(plan: PlanRules | None = PLAN, **values) -> CaseFacts:
    defaults = {
        "self_pay": False,
        "prices": PRICES,
        "plan": plan,
        "insurer_name": "BlueHarbor Health",
        "reason": "serious_diagnosis",
        "reason_label": "I was told I have a serious condition",
        "review_type": "radiology",
        "subspecialty": "neuroradiologist",
        "has_referral": "no",
        "reviewers": (LAKESIDE, PRAIRIE),
    }
    return CaseFacts(**{**defaults, **values})


# --- Each rule on its own -------------------------------------------------------------------------

# name: (facts, covered value, words the reason must contain)
COVERED = {
    "always-covered": (case(), True, "covers a second opinion"),
    "never-covered": (case(replace(PLAN, second_opinion="never")), False, "does not pay"),
    "serious-rule-met-by-serious-diagnosis": (
        case(replace(PLAN, second_opinion="serious")),
        True,
        "serious diagnosis",
    ),
    "serious-rule-met-by-recommended-surgery": (
        case(replace(PLAN, second_opinion="serious"), reason="treatment"),
        True,
        "recommended surgery",
    ),
    "serious-rule-not-met-when-unclear": (
        case(replace(PLAN, second_opinion="serious"), reason="unclear", reason_label="Unclear"),
        False,
        "you told us: “Unclear”",
    ),
    "serious-rule-unknown-without-a-reason": (
        case(replace(PLAN, second_opinion="serious"), reason=""),
        None,
        "Question step",
    ),
    "reread-alone-unpaid-by-a-medicare-advantage-plan": (
        case(MEDICARE_ADVANTAGE),
        False,
        "has no payment for a radiologist's re-read",
    ),
    "original-medicare-pays-when-a-procedure-is-recommended": (
        case(ORIGINAL_MEDICARE, reason="treatment", review_type="clinical"),
        True,
        "Medicare Part B covers a second opinion when a doctor has recommended surgery or a "
        "major diagnostic or therapeutic procedure",
    ),
    "original-medicare-not-for-a-serious-diagnosis-alone": (
        case(ORIGINAL_MEDICARE, review_type="clinical"),
        False,
        "Medicare Part B pays for a second opinion only with surgery or a major diagnostic or "
        "therapeutic procedure recommended by a doctor",
    ),
    "original-medicare-reread-is-billed-with-modifier-77": (
        case(ORIGINAL_MEDICARE, reason="treatment"),
        True,
        "billed as the exam's own CPT code with modifier 77",
    ),
    "original-medicare-third-opinion-when-the-first-two-differ": (
        case(ORIGINAL_MEDICARE, reason="unclear", review_type="clinical", third_opinion=True),
        True,
        "also helps pay for a third opinion when the first two differ",
    ),
    "medicare-advantage-plan-decides": (
        case(MEDICARE_ADVANTAGE, review_type="clinical"),
        True,
        "but your plan decides how",
    ),
    "reread-alone-unpaid-by-a-commercial-plan": (
        case(replace(PLAN, covers_reread=False)),
        False,
        "BlueHarbor PPO Gold has no payment",
    ),
    "consultation-paid-where-reread-is-not": (
        case(MEDICARE_ADVANTAGE, review_type="clinical"),
        True,
        "",
    ),
    "both-paid-for-the-consultation-part": (
        case(MEDICARE_ADVANTAGE, review_type="both"),
        True,
        "re-read (CPT 76140) is self-pay",
    ),
    "inactive-coverage": (case(replace(PLAN, active=False)), False, "not active"),
    "plan-not-on-file": (case(None, insurer_name="Acme Health"), None, "Acme Health"),
    "self-pay": (case(self_pay=True), None, "pay yourself"),
}


@pytest.mark.parametrize("name", COVERED)
def test_covered_rule(name):
    facts, value, words = COVERED[name]
    answer = covered_answer(facts)
    assert answer.value is value, answer.reason
    assert words in answer.reason


@pytest.mark.parametrize("reason", ["serious_diagnosis", "treatment", "unclear"])
@pytest.mark.parametrize("review_type", ["radiology", "clinical", "both"])
def test_medicare_wording_names_procedures_not_a_serious_diagnosis_and_never_cpt_76140(
    reason, review_type
):
    result = check(case(ORIGINAL_MEDICARE, reason=reason, review_type=review_type))
    words = " ".join([result.covered.reason, result.estimate.reason, *result.next_steps])
    assert "76140" not in words
    assert "serious diagnosis" not in words


# name: (facts, prior authorisation value, referral value)
PAPERWORK = {
    "neither": (case(), False, False),
    "prior-auth": (case(replace(PLAN, prior_auth_required=True)), True, False),
    "referral-patient-has-one": (
        case(replace(PLAN, referral_required=True), has_referral="yes"),
        False,
        True,
    ),
    "referral-patient-has-none": (case(replace(PLAN, referral_required=True)), False, True),
    "both": (
        case(replace(PLAN, prior_auth_required=True, referral_required=True)),
        True,
        True,
    ),
    "not-applicable-when-not-covered": (
        case(
            replace(PLAN, second_opinion="never", prior_auth_required=True, referral_required=True)
        ),
        None,
        None,
    ),
    "not-applicable-for-self-pay": (
        case(replace(PLAN, prior_auth_required=True, referral_required=True), self_pay=True),
        None,
        None,
    ),
    "unknown-plan": (case(None), None, None),
}


@pytest.mark.parametrize("name", PAPERWORK)
def test_prior_authorization_and_referral_rules(name):
    facts, prior, referral = PAPERWORK[name]
    result = check(facts)
    assert result.prior_authorization.value is prior, result.prior_authorization.reason
    assert result.referral.value is referral, result.referral.reason


# name: (facts, in-network value, network gap, in-network reviewers listed)
NETWORK = {
    "first-available-in-network-exists": (case(), True, False, ("Dr. Maya Lindqvist",)),
    "named-reviewer-in-network": (case(reviewer=LAKESIDE), True, False, ("Dr. Maya Lindqvist",)),
    "named-reviewer-by-id": (
        case(replace(PLAN, in_network_reviewer_ids=frozenset({2})), reviewer=PRAIRIE),
        True,
        False,
        ("Dr. Maya Lindqvist", "Dr. Arjun Mehta"),
    ),
    "named-reviewer-out-with-alternatives": (
        case(reviewer=PRAIRIE),
        False,
        False,
        ("Dr. Maya Lindqvist",),
    ),
    "nobody-of-the-kind-in-network": (case(reviewers=(PRAIRIE,)), False, True, ()),
    "named-reviewer-out-and-nobody-in": (
        case(reviewers=(PRAIRIE,), reviewer=PRAIRIE),
        False,
        True,
        (),
    ),
    "no-reviewers-at-all": (case(reviewers=()), False, True, ()),
    "exception-granted": (case(reviewers=(PRAIRIE,), exception_granted=True), True, True, ()),
    "plan-without-network": (
        case(replace(PLAN, has_network=False), reviewers=(PRAIRIE,)),
        True,
        False,
        ("Dr. Arjun Mehta",),
    ),
    "subspecialty-not-known": (case(subspecialty=""), None, False, ()),
    "self-pay": (case(self_pay=True), None, False, ()),
}


@pytest.mark.parametrize("name", NETWORK)
def test_network_rule(name):
    facts, value, gap, names = NETWORK[name]
    result = check(facts)
    assert result.in_network.value is value, result.in_network.reason
    assert result.network_gap is gap
    assert result.in_network_reviewers == names


def test_network_answer_names_the_in_network_alternatives():
    result = check(case(replace(PLAN, out_of_network_covered=True), reviewer=PRAIRIE))
    assert "Dr. Arjun Mehta is not in BlueHarbor PPO Gold's network" in result.in_network.reason
    assert "In-network neuroradiologists: Dr. Maya Lindqvist" in result.in_network.reason
    assert result.next_steps == ("Choose an in-network neuroradiologist to pay less.",)


def test_hmo_out_of_network_is_not_covered_with_this_specialist_until_the_patient_chooses():
    hmo = replace(PLAN, plan="BlueHarbor HMO Select", out_of_network_covered=False)
    result = check(case(hmo, reviewer=PRAIRIE))
    assert (result.outcome, result.headline) == ("not_covered", "Not covered with this specialist")
    assert result.network_choice_required is True
    assert result.next_steps == (
        "Your plan pays nothing for a specialist outside its network: choose an in-network "
        "neuroradiologist, or choose to pay yourself ($350.00).",
    )
    assert (result.estimate.low, result.estimate.high) == (D("350"), D("350"))
    picked_in_network = check(case(hmo, reviewer=LAKESIDE))
    assert picked_in_network.outcome == "covered" and not picked_in_network.network_choice_required
    assert check(case(hmo, reviewer=PRAIRIE, self_pay=True)).outcome == "self_pay"


def test_the_gap_text_speaks_of_our_roster_not_the_plans_whole_network():
    result = check(case(reviewers=(PRAIRIE,)))
    assert result.in_network.reason == (
        "None of the neuroradiologists who review for us is in BlueHarbor PPO Gold's network."
    )
    assert "None of the neuroradiologists who review for us" in result.next_steps[0]


def test_a_gap_needs_an_exception_only_when_out_of_network_pays_nothing():
    gap = case(reviewers=(PRAIRIE,))
    assert check(gap).exception_required is True
    oon = case(replace(PLAN, out_of_network_covered=True), reviewers=(PRAIRIE,))
    assert check(oon).network_gap and not check(oon).exception_required
    assert not check(replace(gap, exception_granted=True)).exception_required


# --- The estimate ---------------------------------------------------------------------------------

# name: (facts, low, high, basis); 300 allowed, our self-pay price 350.
ESTIMATES = {
    # The deductible (none of 1,500 met: all 300; all met: nothing), then 20% of the rest.
    "deductible-coinsurance": (case(), D("60.00"), D("300.00"), ("deductible", "coinsurance")),
    # A co-pay plan charges the co-pay alone: no deductible and no coinsurance on top.
    "copay-plan-charges-the-copay-alone": (
        case(replace(PLAN, cost_sharing="copay", copay=D("50"))),
        D("50.00"),
        D("50.00"),
        ("copay",),
    ),
    "deductible-then-copay": (
        case(replace(PLAN, cost_sharing="deductible_copay", copay=D("50"), deductible=D("100"))),
        D("50.00"),
        D("150.00"),
        ("deductible", "copay"),
    ),
    "deductible-only": (
        case(replace(PLAN, deductible=D("100"), coinsurance_percent=D("0"))),
        D("0.00"),
        D("100.00"),
        ("deductible",),
    ),
    "coinsurance-only": (
        case(replace(PLAN, deductible=D("0"))),
        D("60.00"),
        D("60.00"),
        ("coinsurance",),
    ),
    "deductible-remaining-from-eligibility": (
        case(replace(PLAN, deductible_remaining=D("30"))),
        D("60.00"),
        D("84.00"),
        ("deductible", "coinsurance"),
    ),
    "covered-in-full": (
        case(replace(PLAN, deductible=D("0"), coinsurance_percent=D("0"))),
        D("0.00"),
        D("0.00"),
        ("covered_in_full",),
    ),
    "copay-larger-than-allowed-is-capped": (
        case(replace(PLAN, cost_sharing="copay", copay=D("900"))),
        D("300.00"),
        D("300.00"),
        ("copay",),
    ),
    "not-covered-is-self-pay": (
        case(replace(PLAN, second_opinion="never")),
        D("350"),
        D("350"),
        ("self_pay",),
    ),
    "self-pay-price-follows-review-type": (
        case(self_pay=True, review_type="clinical"),
        D("450"),
        D("450"),
        ("self_pay",),
    ),
    "unknown-plan-nothing-to-self-pay": (case(None), D("0"), D("350"), ("unknown",)),
    # No in-network reviewer: in-network cost with an exception, self-pay price without one.
    "gap-out-of-network-unpaid": (
        case(reviewers=(PRAIRIE,)),
        D("60.00"),
        D("350"),
        ("deductible", "coinsurance", "out_of_network"),
    ),
    # ... or, out of network at 40%: 120, plus the 50 between what the plan allows and our
    # price (our balance-billing policy).
    "gap-out-of-network-paid-at-40-percent": (
        case(
            replace(PLAN, out_of_network_covered=True, out_of_network_coinsurance_percent=D("40")),
            reviewers=(PRAIRIE,),
        ),
        D("60.00"),
        D("300.00"),
        ("deductible", "coinsurance", "out_of_network"),
    ),
    "gap-closed-by-exception": (
        case(reviewers=(PRAIRIE,), exception_granted=True),
        D("60.00"),
        D("300.00"),
        ("deductible", "coinsurance"),
    ),
    "chosen-out-of-network-with-alternatives-balance-billed": (
        case(
            replace(
                PLAN,
                deductible=D("0"),
                out_of_network_covered=True,
                out_of_network_coinsurance_percent=D("40"),
            ),
            reviewer=PRAIRIE,
        ),
        D("170.00"),
        D("170.00"),
        ("out_of_network",),
    ),
    # The separate out-of-network deductible (500: all of the 300 allowed if none met), never
    # more than our self-pay price in total.
    "separate-out-of-network-deductible": (
        case(
            replace(
                PLAN,
                out_of_network_covered=True,
                out_of_network_deductible=D("500"),
                out_of_network_coinsurance_percent=D("40"),
            ),
            reviewer=PRAIRIE,
        ),
        D("170.00"),
        D("350.00"),
        ("out_of_network",),
    ),
    # Medicare Advantage, re-read and consultation: $40 co-pay on the consultation, and the
    # re-read's own self-pay price (this plan pays no re-read).
    "both-on-a-plan-that-pays-no-reread": (
        case(MEDICARE_ADVANTAGE, review_type="both"),
        D("390.00"),
        D("390.00"),
        ("copay", "self_pay"),
    ),
    # Original Medicare, a consultation (380 allowed): the Part B deductible (283 if none of it
    # is met), then 20% of the rest.
    "original-medicare-part-b": (
        case(ORIGINAL_MEDICARE, reason="treatment", review_type="clinical"),
        D("76.00"),
        D("302.40"),
        ("deductible", "coinsurance"),
    ),
}


@pytest.mark.parametrize("name", ESTIMATES)
def test_estimate(name):
    facts, low, high, basis = ESTIMATES[name]
    estimate = check(facts).estimate
    assert (estimate.low, estimate.high) == (low, high), estimate.reason
    assert estimate.basis == basis
    assert estimate.reason


def test_estimate_reason_says_how_it_was_worked_out():
    reason = check(case()).estimate.reason
    assert reason.startswith("You pay your deductible ($1,500.00 a year")
    assert "20% coinsurance, of the $300.00 insurers typically allow" in reason
    copay = check(case(replace(PLAN, cost_sharing="copay", copay=D("50")))).estimate.reason
    assert copay.startswith("You pay a $50.00 co-pay, and no deductible or coinsurance")


def test_out_of_network_estimate_states_the_balance_billing_policy():
    plan = replace(
        PLAN,
        out_of_network_covered=True,
        out_of_network_deductible=D("500"),
        out_of_network_coinsurance_percent=D("40"),
    )
    reason = check(case(plan, reviewer=PRAIRIE)).estimate.reason
    assert "your separate out-of-network deductible ($500.00 a year)" in reason
    assert (
        "We bill you the difference between what your plan allows and our self-pay price, and "
        "never more in total than our self-pay price ($350.00)." in reason
    )


@pytest.mark.parametrize(
    ("method", "share"),
    [
        ("copay", D("50.00")),
        ("deductible_coinsurance", D("200") + D("80.00")),
        ("deductible_copay", D("200") + D("50")),
    ],
)
def test_patient_share_follows_the_plans_way_of_sharing_costs(method, share):
    assert (
        patient_share(
            allowed=D("1000"),
            method=method,
            copay=D("50"),
            deductible_left=D("200"),
            coinsurance_percent=D("10"),
        )
        == share
    )


def test_medicaid_estimate_states_payment_in_full():
    result = check(case(MEDICAID, review_type="clinical"))
    assert result.payment_in_full is True
    assert (result.estimate.low, result.estimate.high) == (D("4.00"), D("4.00"))
    assert "We accept your plan's payment as payment in full" in result.estimate.reason


@pytest.mark.parametrize(
    ("time", "words"),
    [
        (
            DecisionTime(standard_days=7, expedited_hours=72),
            "within 7 calendar days of receiving the request, or within 3 days when your "
            "doctor says waiting could seriously harm your health",
        ),
        (
            DecisionTime(standard_days=15, expedited_hours=72, extension_days=15),
            "within 15 calendar days of receiving the request (it may take 15 more days once, "
            "if it tells you why)",
        ),
        (None, "decides within its own timeframe, which your plan documents state"),
    ],
)
def test_prior_authorization_timing_follows_the_plan_type(time, words):
    plan = replace(PLAN, prior_auth_required=True)
    reason = check(case(plan, decision_time=time)).prior_authorization.reason
    assert words in reason
    assert "3 to 14 days" not in reason


# --- Headline and next steps, the rules together --------------------------------------------------

# name: (facts, outcome, headline, words of the first next step)
SUMMARIES = {
    "medicare-advantage-serious-diagnosis": (
        case(MEDICARE_ADVANTAGE, review_type="clinical"),
        "covered",
        "Covered, prior authorization required",
        "Nothing for you to do about prior authorization",
    ),
    "prior-auth-and-referral": (
        case(replace(PLAN, prior_auth_required=True, referral_required=True)),
        "covered",
        "Covered, prior authorization and referral required",
        "Ask your primary care doctor for a referral",
    ),
    "network-gap": (
        case(MEDICARE_ADVANTAGE, review_type="clinical", reviewers=(PRAIRIE,)),
        "covered",
        "Covered, prior authorization required; no in-network specialist",
        "network gap exception",
    ),
    "covered-nothing-to-do": (case(), "covered", "Covered", "Nothing to do"),
    "not-covered": (
        case(replace(PLAN, second_opinion="never")),
        "not_covered",
        "Not covered by your plan",
        "you can pay yourself ($350.00)",
    ),
    "original-medicare-not-covered-decides-on-the-claim": (
        case(ORIGINAL_MEDICARE, review_type="clinical"),
        "not_covered",
        "Not covered by your plan",
        "there is no approval to ask for beforehand",
    ),
    "self-pay": (case(self_pay=True), "self_pay", "Self-pay: $350.00", "the price is $350.00"),
    "unknown-plan": (
        case(None, insurer_name="Acme Health"),
        "unknown",
        "Coverage to be checked with your insurer",
        "checks your benefits with Acme Health",
    ),
}


@pytest.mark.parametrize("name", SUMMARIES)
def test_headline_and_next_steps(name):
    facts, outcome, headline, first_step = SUMMARIES[name]
    result = check(facts)
    assert (result.outcome, result.headline) == (outcome, headline)
    assert first_step in result.next_steps[0]


def test_original_medicare_gets_no_exception_advice_and_an_abn_before_self_pay():
    result = check(case(ORIGINAL_MEDICARE, review_type="clinical"))
    steps = " ".join(result.next_steps)
    assert "exception" not in steps and "appeal with your doctor" not in steps
    assert "Advance Beneficiary Notice" in steps
    assert result.abn_before_self_pay is True
    assert check(case(PLAN)).abn_before_self_pay is False


def test_result_is_json_ready():
    data = check(case(MEDICARE_ADVANTAGE, review_type="both")).as_dict()
    assert data["estimate"]["low"] == "390.00"
    assert data["covered"] == {"value": True, "reason": data["covered"]["reason"]}


# --- The estimate can never be nonsense -----------------------------------------------------------

money = st.decimals(min_value=0, max_value=20000, places=2, allow_nan=False, allow_infinity=False)
percent = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
reviewers = st.sampled_from([(), (LAKESIDE,), (PRAIRIE,), (LAKESIDE, PRAIRIE)])


@st.composite
def any_case(draw) -> CaseFacts:
    prices = {
        kind: Price(self_pay=draw(money), allowed=draw(money))
        for kind in ("radiology", "clinical", "both")
    }
    plan = draw(
        st.one_of(
            st.none(),
            st.builds(
                PlanRules,
                payer=st.just("P"),
                plan=st.just("Plan"),
                plan_type=st.sampled_from(
                    ["commercial", "medicare", "medicare_advantage", "medicaid"]
                ),
                second_opinion=st.sampled_from(["always", "serious", "procedure", "never"]),
                covers_reread=st.booleans(),
                cost_sharing=st.sampled_from(
                    ["copay", "deductible_coinsurance", "deductible_copay"]
                ),
                prior_auth_required=st.booleans(),
                referral_required=st.booleans(),
                copay=money,
                deductible=money,
                deductible_remaining=st.one_of(st.none(), money),
                coinsurance_percent=percent,
                has_network=st.booleans(),
                in_network_reviewer_ids=st.frozensets(st.sampled_from([1, 2])),
                out_of_network_covered=st.booleans(),
                out_of_network_deductible=money,
                out_of_network_coinsurance_percent=percent,
                active=st.sampled_from([True, False, None]),
            ),
        )
    )
    return CaseFacts(
        self_pay=draw(st.booleans()),
        prices=prices,
        plan=plan,
        reason=draw(st.sampled_from(["", "serious_diagnosis", "treatment", "unclear"])),
        review_type=draw(st.sampled_from(["radiology", "clinical", "both"])),
        subspecialty=draw(st.sampled_from(["", "neuroradiologist"])),
        has_referral=draw(st.sampled_from(["", "yes", "no", "unsure"])),
        reviewer=draw(st.sampled_from([None, LAKESIDE, PRAIRIE])),
        reviewers=draw(reviewers),
        exception_granted=draw(st.booleans()),
        third_opinion=draw(st.booleans()),
        abn_option=draw(st.sampled_from(["", "1", "2"])),
    )


@given(any_case())
def test_estimate_is_never_negative_and_low_never_exceeds_high(facts):
    result = check(facts)
    assert D("0") <= result.estimate.low <= result.estimate.high
    assert result.headline and result.next_steps
    assert result.estimate.reason
