"""Whether a reviewer's credentials hold on a given day, and which ones lapse soon.

A credential counts only while its recorded dates say so: a licence until its expiry date, MQSA
qualification while both continuing requirements are inside their periods. A date that was never
recorded counts as lapsed, because a coordinator cannot have verified what is not written down.

- State licence: a physician may give an opinion only to a patient who is, at that time, in a
  state where they hold a current licence (FSMB, Appropriate Use of Telemedicine Technologies in
  the Practice of Medicine, 2022).
- MQSA (21 CFR 900.12(a)(1)): initial qualifications; continuing experience, 960 mammograms in 24
  months; continuing education, 15 category I CME hours in 36 months; 8 hours of training in a
  new mammographic modality (digital breast tomosynthesis) before interpreting it.
"""

from dataclasses import dataclass
from datetime import date, timedelta

# How far ahead coordinators are shown what lapses, so a renewal can be verified in time.
LAPSE_WARNING_DAYS = 60


def licence_current(expires_on: date | None, *, on: date) -> bool:
    return expires_on is not None and expires_on >= on


def mqsa_current(
    *,
    initial: date | None,
    experience_due: date | None,
    education_due: date | None,
    on: date,
) -> bool:
    return (
        initial is not None
        and initial <= on
        and experience_due is not None
        and experience_due >= on
        and education_due is not None
        and education_due >= on
    )


@dataclass(frozen=True)
class Lapse:
    """One credential that has lapsed or lapses within the warning period."""

    reviewer_id: int
    reviewer: str
    credential: str
    on: date | None  # None: the date was never recorded

    def describe(self, today: date) -> str:
        if self.on is None:
            return f"{self.credential}: no date on record, so it does not count"
        when = f"{self.on:%b} {self.on.day}, {self.on.year}"
        if self.on < today:
            return f"{self.credential}: lapsed on {when}"
        return f"{self.credential}: lapses on {when}"


def lapses(*, today: date, within_days: int = LAPSE_WARNING_DAYS) -> list[Lapse]:
    """Active reviewers' credentials that lapsed, lapse within `within_days`, or lack a date."""
    from .models import ReviewerLicense, ReviewerProfile

    horizon = today + timedelta(days=within_days)
    found: list[Lapse] = []
    licences = (
        ReviewerLicense.objects.filter(reviewer__is_active=True)
        .select_related("reviewer")
        .order_by("reviewer__display_name", "state")
    )
    for licence in licences:
        if licence.expires_on is None or licence.expires_on <= horizon:
            found.append(
                Lapse(
                    licence.reviewer_id,
                    licence.reviewer.display_name,
                    f"{licence.state} licence",
                    licence.expires_on,
                )
            )
    # Only those who interpret mammograms carry MQSA dates; the rest have nothing to lapse.
    readers = ReviewerProfile.objects.filter(
        is_active=True, mqsa_initial_qualification_on__isnull=False
    ).order_by("display_name")
    for reader in readers:
        for label, due in (
            ("MQSA continuing experience", reader.mqsa_continuing_experience_due),
            ("MQSA continuing education", reader.mqsa_continuing_education_due),
        ):
            if due is None or due <= horizon:
                found.append(Lapse(reader.pk, reader.display_name, label, due))
    return sorted(found, key=lambda lapse: (lapse.on or date.min, lapse.reviewer))
