"""The demo rules table: seeded by `seed_demo`, safe to run again, networks matching reviewers."""

from io import StringIO

from django.core.management import call_command

from insurance.models import Payer, Plan, ServicePrice
from insurance.seeding import seed_insurance
from reviewers.models import ReviewerProfile


def test_seeding_twice_changes_nothing(db):
    first = {p.pk: p.updated_at for p in seed_insurance()}
    Plan.objects.filter(name="BlueHarbor PPO Gold").update(copay=999)
    second = seed_insurance()
    assert {p.pk for p in second} == set(first)
    assert (Payer.objects.count(), Plan.objects.count()) == (5, 6)
    assert Plan.objects.get(name="BlueHarbor PPO Gold").copay == 50  # the demo value again


def test_seed_demo_seeds_plans_whose_networks_name_the_demo_reviewers(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    assert "Insurance plans: 6" in out.getvalue()
    assert ServicePrice.objects.count() == 3
    institutions = set(ReviewerProfile.objects.values_list("institution", flat=True))
    for plan in Plan.objects.filter(has_network=True):
        unknown = set(plan.facility_names) - institutions
        assert not unknown, f"{plan}: no demo reviewer works at {unknown}"
    advantage = Plan.objects.get(name="Evergreen Medicare Advantage Choice")
    breast = set(
        ReviewerProfile.objects.filter(subspecialties="breast").values_list(
            "institution", flat=True
        )
    )
    assert not breast & set(advantage.facility_names), "the demo needs a network gap for breast"
