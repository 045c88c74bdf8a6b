"""The right-of-access figures a records request relies on, as dated tables with their sources.

Read with `secondopinion.dated.in_force` on the day that matters: the day the letter was sent
for the deadline, the day the letter is made for the fee it quotes.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from secondopinion.dated import Dated, in_force


@dataclass(frozen=True)
class AccessDeadline:
    days_to_act: int  # from the facility's receipt of the request
    extension_days: int  # once, if the facility writes within the first period why and by when


ACCESS_DEADLINE = (
    Dated(
        date(2003, 4, 14),  # Privacy Rule compliance date
        AccessDeadline(days_to_act=30, extension_days=30),
        "45 CFR 164.524(b)(2)(i) and (iii): act no later than 30 days after receipt of the "
        "request; one extension of no more than 30 days, with a written statement of the "
        "reasons and the date, given within the first 30 days",
    ),
)

FLAT_FEE_ELECTRONIC = (
    Dated(
        date(2016, 2, 25),
        Decimal("6.50"),
        "HHS Office for Civil Rights, Individuals' Right under HIPAA to Access their Health "
        "Information, 45 CFR 164.524 (guidance on fees): instead of calculating actual or "
        "average costs, a covered entity may charge a flat fee of no more than $6.50 for "
        "electronic copies of records it keeps electronically",
    ),
)


# Days from sending to the facility's receipt (keys: `RecordsRequest.SentBy`), when the patient
# cannot confirm the day it arrived. Mail counts the slowest First-Class delivery; anything
# electronic counts the next day (a fax sent in the evening is logged the next morning); a letter
# handed in counts that day.
MAIL_BUFFER = (
    Dated(
        date(2021, 10, 1),
        {
            "mail": 5,
            "fax": 1,
            "email": 1,
            "portal": 1,
            "in_person": 0,
        },
        "USPS First-Class Mail service standards (1 to 5 days within the contiguous United "
        "States, since October 1, 2021); electronic delivery counted as the next day",
    ),
)


def right_of_access(on: date) -> dict:
    """The figures pages quote, in force on `on`: `access` (deadline) and `flat_fee`."""
    return {
        "access": in_force(ACCESS_DEADLINE, on).value,
        "flat_fee": in_force(FLAT_FEE_ELECTRONIC, on).value,
    }
