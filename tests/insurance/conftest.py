"""Builders for insurance tests: the demo plans, reviewers at named facilities, insured cases."""

import pytest

from insurance.models import CaseInsurance, Plan
from insurance.seeding import seed_insurance
from requests_app.models import Case
from reviewers.models import ReviewerProfile, Subspecialty
from tests.conftest import make_case
from tests.reviewers.conftest import make_reviewer as licensed_reviewer


@pytest.fixture
def plans(db) -> dict[str, Plan]:
    """The seeded demo plans by name."""
    return {plan.name: plan for plan in seed_insurance()}


def make_reviewer(
    name: str, institution: str, subspecialty: str, *, kind: str = "clinical", **fields
) -> ReviewerProfile:
    """A specialist (a consultant unless `kind` says otherwise, as most cases here ask for a
    consultation) licensed in Illinois, where the test patients live, so the specialist step
    offers them: a cost answer names only reviewers the patient could pick."""
    email = name.lower().replace("dr. ", "").replace(" ", ".") + "@example.com"
    return licensed_reviewer(
        email,
        name,
        subspecialties=(subspecialty,),
        states=("IL",),
        institution=institution,
        kind=kind,
        **fields,
    )


def reads_images(profile: ReviewerProfile) -> None:
    """Make a consultant of the fixtures a radiologist, for a case that asks for a re-read."""
    ReviewerProfile.objects.filter(pk=profile.pk).update(kind=ReviewerProfile.Kind.RADIOLOGIST)


@pytest.fixture
def reviewers(db) -> dict[str, ReviewerProfile]:
    """A neuroradiologist in the Medicare Advantage network and a breast imager outside it."""
    return {
        "neuro": make_reviewer(
            "Dr. Maya Lindqvist", "Lakeside University Hospital", "neuroradiology"
        ),
        "breast": make_reviewer("Dr. Priya Raman", "Harbor Breast Imaging Center", "breast"),
    }


def insured_case(
    patient, plan: Plan | None, *, has_referral: str = "no", subspecialty: str = "", **fields
) -> Case:
    """A complete draft case on `plan` (None: self-pay), asking for `subspecialty`."""
    if subspecialty:
        fields["requested_subspecialty"] = Subspecialty.objects.get(slug=subspecialty)
    case = make_case(patient, complete=True, **fields)
    CaseInsurance.objects.filter(case=case).update(
        plan=plan,
        plan_type=plan.plan_type if plan else "none",
        insurer_name=plan.payer.name if plan else "",
        has_referral=has_referral,
    )
    return case
