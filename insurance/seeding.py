"""Demo payers and plans for `seed_demo`: safe to run again (rows are matched by name).

The numbers are illustrative, not any real plan's benefits. Networks are given as facility names
that match the demo reviewers' institutions, so the plans need no reviewer rows to exist.
"""

from decimal import Decimal as D

from django.db import transaction

from .models import Payer, Plan

LAKESIDE = "Lakeside University Hospital"
RIVERBEND = "Riverbend Orthopedic Institute"
HARBOR = "Harbor Breast Imaging Center"
NORTHFIELD = "Northfield Heart and Lung"
SUMMIT = "Summit Abdominal Imaging"
CHILDRENS = "Children's Hospital of Fairview"
CENTRAL = "Central Radiology Group"
# Medicare takes no CPT 76140: a documented second interpretation is billed this way.
MODIFIER_77 = "the exam's own CPT code with modifier 77"

PAYERS = {
    "Medicare": {"payer_id": "CMS", "phone": "1-800-633-4227"},
    "Evergreen Health": {"payer_id": "EVGRN", "phone": "1-800-555-0140", "fax": "1-800-555-0141"},
    "BlueHarbor Health": {"payer_id": "BHH01", "phone": "1-800-555-0170", "fax": "1-800-555-0171"},
    "Lakeshore Community Health": {"payer_id": "LKSHR", "phone": "1-800-555-0190"},
    "Summit Mutual": {"payer_id": "SMTMU", "phone": "1-800-555-0110"},
}

PLANS = [
    {
        "payer": "Medicare",
        "name": "Original Medicare (Part B)",
        "plan_type": "medicare",
        "second_opinion": "procedure",
        "covers_reread": True,
        "reread_code": MODIFIER_77,
        "cost_sharing": "deductible_coinsurance",
        # The Part B deductible comes from insurance/figures.py by the date of service.
        "deductible": D("0"),
        "coinsurance_percent": D("20"),
        "has_network": False,
    },
    {
        "payer": "Evergreen Health",
        "name": "Evergreen Medicare Advantage Choice",
        "plan_type": "medicare_advantage",
        # A Medicare Advantage plan covers at least what Original Medicare does, and decides
        # its own rules beyond that: this one pays after a serious diagnosis too.
        "second_opinion": "serious",
        "covers_reread": False,
        "reread_code": MODIFIER_77,
        "prior_auth_required": True,
        "cost_sharing": "copay",
        "copay": D("40"),
        "facilities": [LAKESIDE, RIVERBEND, NORTHFIELD, SUMMIT, CENTRAL],
    },
    {
        "payer": "BlueHarbor Health",
        "name": "BlueHarbor PPO Gold",
        "plan_type": "commercial",
        "employer_group_plan": True,
        "cost_sharing": "copay",
        "copay": D("50"),
        "deductible": D("1500"),
        "coinsurance_percent": D("20"),
        "facilities": [
            LAKESIDE,
            "Prairie Neuro Imaging",
            RIVERBEND,
            HARBOR,
            "Harbor Cancer Institute",
            NORTHFIELD,
            "Metro Chest Imaging",
            SUMMIT,
            CHILDRENS,
            CENTRAL,
        ],
        "out_of_network_covered": True,
        "out_of_network_deductible": D("3000"),
        "out_of_network_coinsurance_percent": D("40"),
    },
    {
        "payer": "BlueHarbor Health",
        "name": "BlueHarbor HMO Select",
        "plan_type": "commercial",
        "employer_group_plan": True,
        "referral_required": True,
        "cost_sharing": "copay",
        "copay": D("30"),
        "deductible": D("500"),
        "coinsurance_percent": D("10"),
        "facilities": [LAKESIDE, HARBOR, CENTRAL],
    },
    {
        "payer": "Lakeshore Community Health",
        "name": "Lakeshore Medicaid Managed Care",
        "plan_type": "medicaid",
        "second_opinion": "serious",
        "covers_reread": False,
        "prior_auth_required": True,
        "referral_required": True,
        "cost_sharing": "copay",
        "copay": D("4"),
        "facilities": [LAKESIDE, CHILDRENS, CENTRAL],
    },
    {
        "payer": "Summit Mutual",
        "name": "Summit Bronze Saver",
        "plan_type": "commercial",
        "second_opinion": "never",
        "cost_sharing": "deductible_coinsurance",
        "deductible": D("7000"),
        "coinsurance_percent": D("40"),
    },
]


@transaction.atomic
def seed_insurance() -> list[Plan]:
    """Create or update the demo payers and plans (the price list comes with a migration)."""
    payers = {
        name: Payer.objects.update_or_create(name=name, defaults=values)[0]
        for name, values in PAYERS.items()
    }
    plans = []
    for spec in PLANS:
        values = dict(spec)
        payer = payers[values.pop("payer")]
        values["in_network_facilities"] = "\n".join(values.pop("facilities", []))
        plan, _ = Plan.objects.update_or_create(
            payer=payer, name=values.pop("name"), defaults=values
        )
        plans.append(plan)
    return plans
