"""Who the images show: names, birth dates and IDs compared between the files and with the account
holder, loosely (titles, accents, initials and anonymisers' words do not count)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Final

from records.dicom.results import AccountHolder, FileResult, words
from records.problems import Problem, make

_NAME_NOISE: Final = frozenset(
    words(
        "mr mrs ms miss dr prof jr sr md phd ii iii anonymous anonymized anon unknown patient none "
        "noname"
    )
)


def account_holder(patient: AccountHolder | Mapping[str, Any] | None) -> AccountHolder | None:
    if patient is None:
        return None
    if isinstance(patient, AccountHolder):
        return patient
    if isinstance(patient, Mapping):
        return AccountHolder(name=patient.get("name") or "", birth_date=patient.get("birth_date"))
    name = getattr(patient, "name", "") or ""
    return AccountHolder(name=str(name), birth_date=getattr(patient, "birth_date", None))


@lru_cache(maxsize=1024)
def name_tokens(value: str) -> frozenset[str]:
    """Comparable words of a DICOM PN ("FAMILY^GIVEN^MIDDLE=ideographic") or a plain name.

    Accents are dropped and case folded; titles, initials and anonymiser words do not count.
    """
    alphabetic = value.split("=")[0]
    decomposed = unicodedata.normalize("NFKD", alphabetic)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return frozenset(
        word for word in re.split(r"[\W\d_]+", plain) if len(word) >= 2 and word not in _NAME_NOISE
    )


def names_match(first: frozenset[str], second: frozenset[str]) -> bool | None:
    """None when either name is unknown; True when they share a word (order, middle names and
    "Ann"/"Anna"-style shortening do not matter); False when clearly different."""
    if not first or not second:
        return None
    return any(_words_match(a, b) for a in first for b in second)


def _words_match(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 3 and (a.startswith(b) or b.startswith(a)))


def parse_birth_date(value: date | str | None) -> date | None:
    """A DICOM DA (YYYYMMDD; vendors also write YYYY.MM.DD) or an ISO date; None if unknown."""
    if value is None:
        return None
    if isinstance(value, date):
        return value
    digits = re.sub(r"\D", "", str(value))
    if len(digits) != 8:
        return None
    try:
        parsed = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
    return parsed if parsed.year > 1900 else None  # 19000101 is a common "unknown"


@dataclass(frozen=True, slots=True)
class _Identity:
    name: frozenset[str]
    birth: date | None
    patient_id: str


def _identities(kept: list[FileResult]) -> set[_Identity]:
    return {
        _Identity(name_tokens(r.patient_name), parse_birth_date(r.patient_birth_date), r.patient_id)
        for r in kept
    }


def _conflict(a: _Identity, b: _Identity) -> bool:
    """Different people, not the same person seen by two hospitals (IDs differ across issuers)."""
    if names_match(a.name, b.name) is False:
        return True
    if a.birth and b.birth and a.birth != b.birth:
        return True
    return (
        not a.name
        and not b.name
        and bool(a.patient_id and b.patient_id)
        and (a.patient_id != b.patient_id)
    )


def identity_problems(kept: list[FileResult], holder: AccountHolder | None) -> list[Problem]:
    identities = list(_identities(kept))
    problems = []
    if any(_conflict(a, b) for i, a in enumerate(identities) for b in identities[i + 1 :]):
        problems.append(make("multiple_patients"))
    if holder is not None:
        tokens = name_tokens(holder.name)
        birth = parse_birth_date(holder.birth_date)
        if any(
            names_match(identity.name, tokens) is False
            or (identity.birth and birth and identity.birth != birth)
            for identity in identities
        ):
            problems.append(make("patient_mismatch"))
    return problems
