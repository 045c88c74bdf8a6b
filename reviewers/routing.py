"""Which kind of specialist should read a case.

`suggest_subspecialty` answers from what the patient told us (exam, body region, age), with the
shipped table's rules on the answers; it is what the wizard proposes and what routing falls back
on when the image headers say too little.
`route` decides a case's queue once a study is validated, from the admin-edited `RoutingRule`
table (loaded with `load_rules`), the study's headers and the patient's answers.
"""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import routing_table

if TYPE_CHECKING:
    from .models import RoutingRule

WHY = {
    "neuroradiology": "Brain, head, neck and spine scans are best read by a neuroradiologist.",
    "musculoskeletal": (
        "Joints, bones and muscles are best read by a musculoskeletal radiologist."
    ),
    # Breast imaging is a fellowship, not a board certificate: the ABR's subspecialty
    # certificates in radiology are neuroradiology, nuclear radiology and pediatric radiology.
    "breast": (
        "Breast imaging is best read by a breast imaging radiologist, usually fellowship-trained "
        "in breast imaging and MQSA-qualified to read mammograms."
    ),
    "cardiothoracic": "Chest and heart scans are best read by a cardiothoracic radiologist.",
    "abdominal": "Abdomen and pelvis scans are best read by an abdominal radiologist.",
    "nuclear_medicine": "PET and nuclear scans are read by a nuclear medicine specialist.",
    "pediatric": "Children's scans are best read by a pediatric radiologist.",
    "general": "A care coordinator will choose the right specialist for this scan.",
}


@dataclass(frozen=True)
class Suggestion:
    slug: str
    why: str


def suggest_subspecialty(*, exam_type: str, body_region: str, age: int | None) -> Suggestion:
    """The subspecialty a patient's own answers point to, with the reason in plain words: the
    first rule of the shipped table that reads only the answers or the age (`routing_table`)."""
    for rule in _answer_rules():
        evidence = _evidence(
            rule,
            modalities=frozenset(),
            body_parts=(),
            descriptions=(),
            exam_type=exam_type.strip().upper(),
            region=body_region.strip().upper(),
            age=age,
        )
        if evidence is not None:
            return Suggestion(slug=rule.subspecialty, why=WHY[rule.subspecialty])
    return Suggestion(slug=GENERAL, why=WHY[GENERAL])


@functools.cache
def _answer_rules() -> tuple["Rule", ...]:
    return tuple(rule for rule in shipped_rules() if not rule.reads_scan)


# --- Routing a case from its validated study -----------------------------------------------------
#
# `route` is a pure function: callers load the rules once (`load_rules`) and pass them in, so a
# task, a management command and a benchmark all decide the same way without touching the
# database per case.
#
# Keyword matching: text is upper-cased and cut into words at anything that is not a letter or a
# digit ("MRI L-SPINE W/WO" -> MRI, L, SPINE, W, WO). A keyword matches a word that *starts with*
# it, so KNEE matches KNEES, ABD matches ABDOMEN and ARTHRO matches ARTHROGRAM, while HIP does not
# match SHIP or CHIP. We chose prefixes over whole words because scanner descriptions abbreviate
# and pluralise freely; the price is that HIP also matches HIPPOCAMPUS, which the seeded table
# absorbs by trying neuroradiology (which lists HIPPOCAMP) before musculoskeletal. A keyword of
# several words ("CERVICAL SPINE", "C-SPINE") must match those words in a row, the last as a prefix.
# Substrings inside a word are never matched, so glued codes (CSPINE, LSPINE) are listed as such.

NEEDS_COORDINATOR_BELOW = 50
"""Decisions less confident than this go to the general queue for a coordinator to place."""

CONFLICT_CONFIDENCE = 30
"""Confidence reported when the scan and the patient's answers point to different queues."""

PATIENT_FALLBACK_CONFIDENCE = 60
"""Confidence of the wizard's own suggestion when no patient-answer rule matched."""

GENERAL = "general"

_WORD = re.compile(r"[^\W_]+")


def split_list(text: str) -> tuple[str, ...]:
    """The comma-separated entries of an admin field, upper-cased, blanks dropped."""
    return tuple(part.strip().upper() for part in text.split(",") if part.strip())


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.upper()))


# Only keywords are cached: header text can carry a name typed in by a technologist, and a
# long-lived worker should not keep it.
_keyword_words = functools.lru_cache(maxsize=1024)(_words)


def _mentions(texts: Sequence[tuple[str, ...]], keywords: tuple[str, ...]) -> str | None:
    """The first keyword found in any of the tokenised texts, or None."""
    for keyword in keywords:
        wanted = _keyword_words(keyword)
        if not wanted:
            continue
        exact, prefix, span = wanted[:-1], wanted[-1], len(wanted)
        for words in texts:
            for i in range(len(words) - span + 1):
                last = words[i + span - 1]
                if last.startswith(prefix) and words[i : i + span - 1] == exact:
                    return keyword
    return None


@dataclass(frozen=True)
class Rule:
    """A routing rule detached from the database, so `route` can run without queries.

    Every filled-in condition must hold and empty ones match anything, except that body part and
    description keywords form one "anatomy" condition that either can meet.
    """

    name: str
    subspecialty: str
    confidence: int
    modalities: tuple[str, ...] = ()
    body_part_keywords: tuple[str, ...] = ()
    description_keywords: tuple[str, ...] = ()
    declared_regions: tuple[str, ...] = ()
    declared_exam_types: tuple[str, ...] = ()
    max_age: int | None = None

    def __post_init__(self) -> None:
        # Upper-case here so rules built by hand (tests, benchmarks) compare like loaded ones.
        for field in (
            "modalities",
            "body_part_keywords",
            "description_keywords",
            "declared_regions",
            "declared_exam_types",
        ):
            object.__setattr__(self, field, tuple(v.strip().upper() for v in getattr(self, field)))

    @classmethod
    def from_model(cls, rule: "RoutingRule") -> "Rule":
        return cls(
            name=rule.name,
            subspecialty=rule.subspecialty_id,
            confidence=rule.confidence,
            modalities=split_list(rule.modalities),
            body_part_keywords=split_list(rule.body_part_keywords),
            description_keywords=split_list(rule.description_keywords),
            declared_regions=split_list(rule.declared_regions),
            declared_exam_types=split_list(rule.declared_exam_types),
            max_age=rule.max_age,
        )

    @property
    def reads_scan(self) -> bool:
        """True if the rule looks at the image headers; such a match is the scan's answer."""
        return bool(self.modalities or self.body_part_keywords or self.description_keywords)

    @property
    def reads_answers(self) -> bool:
        """True if the rule looks only at what the patient told us (their region or exam type)."""
        return not self.reads_scan and bool(self.declared_regions or self.declared_exam_types)

    @property
    def reads_age_only(self) -> bool:
        """True for rules such as pediatric, which apply whatever the organ."""
        return not self.reads_scan and not self.reads_answers and self.max_age is not None


def load_rules() -> list[Rule]:
    """The active rules in evaluation order, in one query."""
    # Imported here so this module stays importable without Django set up (benchmarks, scripts).
    from .models import RoutingRule

    return [Rule.from_model(r) for r in RoutingRule.objects.filter(is_active=True)]


def shipped_rules() -> list[Rule]:
    """The table SecondOpinion ships with (`routing_table`), as `route` takes it, in order."""
    return [
        Rule(
            name=name,
            subspecialty=subspecialty,
            confidence=confidence,
            **{k: v if k == "max_age" else split_list(v) for k, v in conditions.items()},
        )
        for _, name, subspecialty, confidence, conditions in sorted(
            routing_table.RULES, key=lambda r: r[0]
        )
    ]


@dataclass(frozen=True)
class StudyFacts:
    """What a study's headers say about itself; descriptions hold study and series descriptions."""

    modalities: tuple[str, ...] = ()
    body_parts: tuple[str, ...] = ()
    descriptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingDecision:
    """Where a case should wait, how sure we are and why, in words a coordinator can check.

    Reasons name modalities, matched keywords, the patient's chosen region and rule names, never
    the raw header text, which can hold names or dates typed in by a technologist.
    """

    subspecialty: str
    confidence: int
    conflict: bool
    reasons: tuple[str, ...]

    @property
    def needs_coordinator(self) -> bool:
        return self.conflict or self.confidence < NEEDS_COORDINATOR_BELOW


@dataclass(frozen=True)
class _Answer:
    subspecialty: str
    confidence: int
    reason: str


def _evidence(
    rule: Rule,
    *,
    modalities: frozenset[str],
    body_parts: Sequence[tuple[str, ...]],
    descriptions: Sequence[tuple[str, ...]],
    exam_type: str,
    region: str,
    age: int | None,
) -> list[str] | None:
    """What made every condition of `rule` hold, in plain words, or None if one does not."""
    found = []
    if rule.modalities:
        hits = [m for m in rule.modalities if m in modalities]
        if not hits:
            return None
        found.append(f"modality {'/'.join(hits)}")
    if rule.body_part_keywords or rule.description_keywords:
        # Anatomy is one condition: BodyPartExamined is missing or wrong in many real files, so
        # a description alone is enough, and so is the body part alone.
        if keyword := _mentions(body_parts, rule.body_part_keywords):
            found.append(f"body part {keyword}")
        elif keyword := _mentions(descriptions, rule.description_keywords):
            found.append(f"description mentions {keyword}")
        else:
            return None
    if rule.declared_exam_types:
        if exam_type not in rule.declared_exam_types:
            return None
        found.append(f"patient chose exam type {exam_type.lower()}")
    if rule.declared_regions:
        if region not in rule.declared_regions:
            return None
        found.append(f"patient chose region {region.lower()}")
    if rule.max_age is not None:
        if age is None or age >= rule.max_age:
            return None
        found.append(f"patient under {rule.max_age}")
    return found


def _answer(rule: Rule, evidence: list[str]) -> _Answer:
    said = ", ".join(evidence)
    reason = f"{said[:1].upper()}{said[1:]}: {rule.subspecialty} (rule '{rule.name}')."
    return _Answer(rule.subspecialty, rule.confidence, reason)


def route(
    *,
    facts: StudyFacts,
    declared_exam_type: str,
    declared_region: str,
    age: int | None,
    rules: Sequence[Rule],
) -> RoutingDecision:
    """Choose the queue for a case from its study headers, the patient's answers and age.

    The first matching rule in order decides, but a scan-based rule and the patient's answers are
    both looked at: when they point to different queues the case is flagged as a conflict for a
    coordinator rather than trusting either side (DESIGN.md: conflicts are never resolved
    silently). Age-only rules (pediatric) win over organ rules when placed first; the organ is
    kept in the reasons for the pediatric radiologist.
    """
    modalities = frozenset(m.strip().upper() for m in facts.modalities)
    body_parts = [_words(b) for b in facts.body_parts]
    descriptions = [_words(d) for d in facts.descriptions]
    exam_type, region = declared_exam_type.strip().upper(), declared_region.strip().upper()

    first = scan = patient = None
    for rule in rules:
        if not (rule.reads_scan or rule.reads_answers or rule.reads_age_only):
            continue  # no condition at all: it would swallow every case, so it is ignored
        evidence = _evidence(
            rule,
            modalities=modalities,
            body_parts=body_parts,
            descriptions=descriptions,
            exam_type=exam_type,
            region=region,
            age=age,
        )
        if evidence is None:
            continue
        answer = _answer(rule, evidence)
        first = first or answer
        if rule.reads_scan:
            scan = scan or answer
        elif rule.reads_answers:
            patient = patient or answer

    if patient is None:
        # age=None: age is the rules' business; here we only want the organ the patient named.
        wizard = suggest_subspecialty(
            exam_type=declared_exam_type, body_region=declared_region, age=None
        )
        if wizard.slug != GENERAL:
            patient = _Answer(
                wizard.slug,
                PATIENT_FALLBACK_CONFIDENCE,
                f"Patient's answers ({declared_exam_type or 'no exam type'}, "
                f"{declared_region or 'no region'}): {wizard.slug} (wizard suggestion).",
            )
            first = first or patient

    if first is None:
        return RoutingDecision(
            subspecialty=GENERAL,
            confidence=0,
            conflict=False,
            reasons=("Nothing in the scan headers or the patient's answers matched a rule.",),
        )

    if scan and patient and scan.subspecialty != patient.subspecialty:
        reasons = [
            scan.reason,
            patient.reason,
            f"The scan points to {scan.subspecialty} but the patient's answers point to "
            f"{patient.subspecialty}; check this is the right study before choosing a queue.",
        ]
        if first is not scan and first is not patient:
            reasons.insert(0, first.reason)
        return RoutingDecision(
            subspecialty=GENERAL,
            confidence=min(CONFLICT_CONFIDENCE, first.confidence),
            conflict=True,
            reasons=tuple(reasons),
        )

    reasons = [first.reason]
    reasons += [f"Also: {a.reason}" for a in (scan, patient) if a is not None and a is not first]
    if first.confidence < NEEDS_COORDINATOR_BELOW:
        reasons.append(
            f"Confidence {first.confidence} is below {NEEDS_COORDINATOR_BELOW}, "
            f"so a coordinator chooses rather than sending it to {first.subspecialty}."
        )
        return RoutingDecision(GENERAL, first.confidence, False, tuple(reasons))
    return RoutingDecision(first.subspecialty, first.confidence, False, tuple(reasons))
