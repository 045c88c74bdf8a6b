"""The insurance answers agree with each other: a coverage type that contradicts the plan chosen
is asked about, never shown as covered; paying oneself leaves the plan's questions out."""

import pytest
from django.urls import reverse

from insurance import coverage
from insurance.models import CaseInsurance
from tests.conftest import make_case

from .conftest import insured_case
from .test_coverage_rules import MEDICARE_ADVANTAGE, PLAN
from .test_coverage_rules import case as facts

PPO = "BlueHarbor PPO Gold"
MA = "Evergreen Medicare Advantage Choice"


def test_medicare_chosen_with_a_commercial_ppo_is_asked_about_not_covered():
    checked = coverage.check(facts(PLAN, coverage_type="medicare"))
    assert checked.covered.value is None
    assert "does not match BlueHarbor PPO Gold" in checked.covered.reason
    assert (checked.outcome, checked.headline) == (
        "unknown",
        "Your type of coverage and your plan do not match",
    )
    # The same plan with its own type is covered, and Medicare Advantage taken for Medicare is
    # not a contradiction.
    assert coverage.check(facts(PLAN, coverage_type="commercial")).outcome == "covered"
    assert not coverage.type_contradicts("medicare", MEDICARE_ADVANTAGE)


@pytest.mark.parametrize("chosen", ["medicare", "medicaid", "medicare_advantage"])
def test_the_insurance_step_asks_which_is_right_and_saves_nothing(
    client, alice, plans, reviewers, chosen
):
    case = make_case(alice, complete=True)
    client.force_login(alice)
    answers = {
        "plan_type": chosen,
        "plan": plans[PPO].pk,
        "member_id": "BH-0042",
        "has_referral": "no",
    }
    step = client.post(reverse("requests:case-step", args=[case.code, "insurance"]), answers)
    assert step.status_code == 200
    body = step.content.decode()
    assert "Which is right?" in body and "BlueHarbor PPO Gold" in body
    assert "Private or employer insurance" in body
    assert CaseInsurance.objects.get(case=case).plan is None

    preview = client.post(reverse("insurance:coverage-preview", args=[case.code]), answers)
    text = preview.content.decode()
    assert "Which is right?" in text
    assert "Your type of coverage and your plan do not match" in text
    assert "Covered" not in text


def test_the_plans_own_type_is_accepted(client, alice, plans, reviewers):
    case = make_case(alice, complete=True)
    client.force_login(alice)
    answers = {"plan_type": "commercial", "plan": plans[PPO].pk, "member_id": "BH-0042"}
    answers["has_referral"] = "no"
    step = client.post(reverse("requests:case-step", args=[case.code, "insurance"]), answers)
    assert step.status_code == 302
    assert CaseInsurance.objects.get(case=case).plan == plans[PPO]


def test_self_pay_shows_the_price_and_the_hsa_statement_not_the_plan_questions(
    client, alice, plans
):
    case = insured_case(alice, None)
    client.force_login(alice)
    for step in ("insurance", "review"):
        page = client.get(reverse("requests:case-step", args=[case.code, step])).content.decode()
        assert "Self-pay: $350.00" in page, step
        assert "Does your plan pay?" not in page, step
        assert "To be checked" not in page, step
        assert "Prior authorization" not in page, step
        assert "itemized statement" in page and "(HSA)" in page and "(FSA)" in page, step
    detail = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "Does your plan pay?" not in detail and "(HSA)" in detail


def test_the_plan_fields_sit_apart_so_choosing_self_pay_hides_them(client, alice, plans):
    case = insured_case(alice, None)
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "insurance"])).content.decode()
    fields = page[page.index('data-testid="plan-fields"') :]
    fields = fields[: fields.index('aria-labelledby="coverage-title"')]
    for name in ("plan", "insurer_name", "member_id", "group_number", "has_referral"):
        assert f'name="{name}"' in fields, name
    assert 'name="plan_type"' not in fields
