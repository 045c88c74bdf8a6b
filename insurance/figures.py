"""The insurance figures set by law or by the government each year, as dated tables with sources.

Read with `secondopinion.dated.in_force` on the date that matters: the date of service for a
deductible (today, for an estimate made before the service), the day a request reaches the
insurer for a decision timeframe. A new year's figure is a new row.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from secondopinion.dated import Dated

PART_B_DEDUCTIBLE = (
    Dated(
        date(2025, 1, 1),
        Decimal("257"),
        "CMS, 2025 Medicare Parts A & B Premiums and Deductibles (November 8, 2024): "
        "Part B annual deductible $257",
    ),
    Dated(
        date(2026, 1, 1),
        Decimal("283"),
        "CMS, 2026 Medicare Parts A & B Premiums and Deductibles (November 14, 2025): "
        "Part B annual deductible $283",
    ),
)


@dataclass(frozen=True)
class DecisionTime:
    """How long an insurer may take to decide a prior authorization request."""

    standard_days: int  # calendar days from receipt of the request
    expedited_hours: int  # when waiting could seriously jeopardize health
    extension_days: int | None = None  # one extension the rule allows, if any we can state


# Keys: the rules a plan's prior-authorization decisions follow (`Plan.decision_rules`).
PRIOR_AUTHORIZATION_TIME = {
    "medicare_advantage": (
        Dated(
            date(2006, 1, 1),
            DecisionTime(standard_days=14, expedited_hours=72, extension_days=14),
            "42 CFR 422.568(b) (standard: 14 calendar days, one 14-day extension) and "
            "422.572(a) (expedited: 72 hours)",
        ),
        Dated(
            date(2026, 1, 1),
            DecisionTime(standard_days=7, expedited_hours=72),
            "CMS-0057-F, Interoperability and Prior Authorization final rule (89 FR 8758, "
            "February 8, 2024): standard decisions within 7 calendar days, expedited within 72 "
            "hours, from January 1, 2026 (42 CFR 422.568(b)(1), 422.572(a))",
        ),
    ),
    "medicaid": (
        Dated(
            date(2017, 7, 1),
            DecisionTime(standard_days=14, expedited_hours=72, extension_days=14),
            "42 CFR 438.210(d)(1) and (2), Medicaid managed care: standard 14 calendar days, "
            "expedited 72 hours",
        ),
        Dated(
            date(2026, 1, 1),
            DecisionTime(standard_days=7, expedited_hours=72),
            "CMS-0057-F (89 FR 8758): Medicaid fee-for-service and managed care, 7 calendar "
            "days standard and 72 hours expedited from January 1, 2026 (42 CFR 440.230(e), "
            "438.210(d))",
        ),
    ),
    "chip": (
        Dated(
            date(2018, 7, 1),
            DecisionTime(standard_days=14, expedited_hours=72, extension_days=14),
            "42 CFR 457.1230(d), CHIP managed care (applying 438.210(d)): standard 14 calendar "
            "days, expedited 72 hours",
        ),
        Dated(
            date(2026, 1, 1),
            DecisionTime(standard_days=7, expedited_hours=72),
            "CMS-0057-F (89 FR 8758): CHIP fee-for-service and managed care, 7 calendar days "
            "standard and 72 hours expedited from January 1, 2026 (42 CFR 457.495(d), "
            "457.1230(d))",
        ),
    ),
    "erisa": (
        Dated(
            date(2002, 7, 1),
            DecisionTime(standard_days=15, expedited_hours=72, extension_days=15),
            "29 CFR 2560.503-1(f)(2)(iii)(A) (pre-service claims: 15 days, one 15-day "
            "extension) and (f)(2)(i) (urgent care: 72 hours)",
        ),
    ),
}


@dataclass(frozen=True)
class DisputeRule:
    """The patient-provider dispute process for a bill above a Good Faith Estimate."""

    threshold: Decimal  # billed at least this much more than the estimate
    days_to_start: int  # from the date of the original bill
    fee: Decimal  # administrative fee the patient pays to start it


GOOD_FAITH_ESTIMATE_DISPUTE = (
    Dated(
        date(2022, 1, 1),
        DisputeRule(threshold=Decimal("400"), days_to_start=120, fee=Decimal("25")),
        "45 CFR 149.620 (patient-provider dispute resolution: billed charges at least $400 "
        "above the Good Faith Estimate; start within 120 calendar days of the initial bill) "
        "and CMS's $25 administrative fee; notice required by 45 CFR 149.610(c)(1)(ix)",
    ),
)
