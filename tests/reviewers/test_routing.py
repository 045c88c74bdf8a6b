"""Routing a case to a queue from its study headers, the patient's answers and age.

Most tests run `route` on the seeded rule table built straight from the data migration, without
the database, which is how a task or a benchmark calls it; the database tests check that the
table the migration writes is the one `load_rules` reads back.
"""

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from reviewers.models import RoutingRule
from reviewers.routing import (
    NEEDS_COORDINATOR_BELOW,
    PATIENT_FALLBACK_CONFIDENCE,
    Rule,
    StudyFacts,
    load_rules,
    route,
    shipped_rules,
)

seed_migration = importlib.import_module("reviewers.migrations.0004_seed_routing_rules")

SEEDED = shipped_rules()


def facts(*modalities: str, body: str = "", desc: str = "") -> StudyFacts:
    """A study with the given modalities, one BodyPartExamined and one description (if given)."""
    return StudyFacts(
        modalities=modalities,
        body_parts=(body,) if body else (),
        descriptions=(desc,) if desc else (),
    )


def decide(study: StudyFacts, *, exam="", region="", age=40, rules=SEEDED):
    return route(facts=study, declared_exam_type=exam, declared_region=region, age=age, rules=rules)


# name: (study, what the patient said as "exam/region", age, (subspecialty, confidence, conflict))
SCENARIOS = {
    "mr-brain": (facts("MR", body="BRAIN"), "mri/brain", 40, ("neuroradiology", 85, False)),
    "mammogram": (facts("MG", body="BREAST"), "mammogram/breast", 52, ("breast", 99, False)),
    "knee-in-description-only": (
        facts("MR", desc="MRI LEFT KNEE W/O"),
        "mri/knee",
        35,
        ("musculoskeletal", 85, False),
    ),
    "ct-chest": (facts("CT", body="CHEST"), "ct/chest", 60, ("cardiothoracic", 85, False)),
    "pet-ct": (
        facts("PT", "CT", desc="PET CT WB"),
        "pet/whole_body",
        60,
        ("nuclear_medicine", 95, False),
    ),
    "child-brain-mr": (facts("MR", body="BRAIN"), "mri/brain", 9, ("pediatric", 90, False)),
    "tags-brain-patient-knee": (facts("MR", body="BRAIN"), "mri/knee", 40, ("general", 30, True)),
    "no-tags-patient-spine": (facts(), "mri/spine", 40, ("neuroradiology", 60, False)),
    "nothing-at-all": (facts(), "/", None, ("general", 0, False)),
    "l-spine": (facts("MR", desc="MR L-SPINE W/O"), "mri/spine", 40, ("neuroradiology", 85, False)),
    "brain-w-wo": (facts("MR", desc="MRI BRAIN W/WO"), "mri/", 40, ("neuroradiology", 85, False)),
    "breast-mr": (facts("MR", body="BREAST"), "mri/breast", 48, ("breast", 90, False)),
    "abd-pelvis": (facts("CT", desc="CT ABD/PELVIS W"), "ct/abdomen", 70, ("abdominal", 85, False)),
    "hippocampus-is-brain": (
        facts("MR", desc="HIPPOCAMPUS T2"),
        "mri/brain",
        70,
        ("neuroradiology", 85, False),
    ),
    "pet-brain-no-conflict": (
        facts("PT", desc="FDG BRAIN"),
        "pet/brain",
        70,
        ("nuclear_medicine", 95, False),
    ),
    "unknown-everything": (facts("XA"), "other/other", 40, ("general", 0, False)),
}


@pytest.mark.parametrize(
    ("study", "said", "age", "expected"), list(SCENARIOS.values()), ids=list(SCENARIOS)
)
def test_seeded_table_routes(study, said, age, expected):
    exam, region = said.split("/")
    decision = decide(study, exam=exam, region=region, age=age)
    assert (decision.subspecialty, decision.confidence, decision.conflict) == expected


def test_conflict_keeps_both_sides_for_the_coordinator():
    decision = decide(facts("MR", body="BRAIN"), exam="mri", region="knee")
    assert decision.needs_coordinator
    text = " ".join(decision.reasons)
    assert "neuroradiology" in text and "musculoskeletal" in text
    assert "region knee" in text and "Body part BRAIN" in text


def test_pediatric_reasons_still_name_the_organ():
    decision = decide(facts("MR", body="BRAIN"), exam="mri", region="brain", age=9)
    assert decision.subspecialty == "pediatric"
    assert "under 18" in decision.reasons[0]
    assert any("neuroradiology" in reason for reason in decision.reasons[1:])


def test_patient_answers_alone_give_a_lower_but_usable_confidence():
    decision = decide(facts(), exam="mri", region="spine")
    assert decision.confidence < 85
    assert not decision.needs_coordinator


def test_nothing_matched_needs_a_coordinator():
    assert decide(facts(), exam="", region="", age=None).needs_coordinator


def test_reasons_quote_keywords_not_raw_header_text():
    # Technologists sometimes type names into descriptions; reasons are shown to staff and logged.
    decision = decide(facts("MR", desc="MRI BRAIN JOHN DOE 12/03/1970"), region="brain")
    assert decision.subspecialty == "neuroradiology"
    assert not any("JOHN" in reason or "1970" in reason for reason in decision.reasons)


HIP = Rule(name="hip", subspecialty="musculoskeletal", confidence=85, description_keywords=("HIP",))


@pytest.mark.parametrize(
    ("description", "matches"),
    [
        ("SHIP", False),
        ("CHIP SCAN", False),
        ("WHIPLASH", False),
        ("HIP", True),
        ("R HIP", True),
        ("HIPS BILAT", True),
        ("XR HIP-LT 2V", True),
        ("hip_left", True),
    ],
)
def test_keywords_match_the_start_of_a_word_only(description, matches):
    decision = decide(facts("CR", desc=description), rules=[HIP])
    assert (decision.subspecialty == "musculoskeletal") is matches


@pytest.mark.parametrize(
    ("description", "matches"),
    [("MR C-SPINE", True), ("MR C SPINE W/O", True), ("MR CSPINE", False), ("SPINE C", False)],
)
def test_a_keyword_of_several_words_matches_them_in_a_row(description, matches):
    c_spine = Rule(
        name="c", subspecialty="neuroradiology", confidence=85, description_keywords=("C-SPINE",)
    )
    decision = decide(facts("MR", desc=description), rules=[c_spine])
    assert (decision.subspecialty == "neuroradiology") is matches


def test_rule_order_decides_between_two_matching_rules():
    ct = Rule(name="any CT", subspecialty="abdominal", confidence=70, modalities=("CT",))
    chest = Rule(
        name="chest", subspecialty="cardiothoracic", confidence=85, body_part_keywords=("CHEST",)
    )
    study = facts("CT", body="CHEST")
    assert decide(study, rules=[ct, chest]).subspecialty == "abdominal"
    assert decide(study, rules=[chest, ct]).subspecialty == "cardiothoracic"


def test_all_filled_conditions_must_hold():
    rule = Rule(
        name="breast US",
        subspecialty="breast",
        confidence=90,
        modalities=("US",),
        body_part_keywords=("BREAST",),
    )
    assert decide(facts("US", body="BREAST"), rules=[rule]).subspecialty == "breast"
    assert decide(facts("CT", body="BREAST"), rules=[rule]).subspecialty == "general"


def test_low_confidence_goes_to_general_but_is_not_a_conflict():
    weak = Rule(
        name="weak",
        subspecialty="abdominal",
        confidence=NEEDS_COORDINATOR_BELOW - 1,
        modalities=("US",),
    )
    decision = decide(facts("US"), rules=[weak])
    assert (decision.subspecialty, decision.conflict) == ("general", False)
    assert decision.confidence == NEEDS_COORDINATOR_BELOW - 1
    assert decision.needs_coordinator


def test_without_patient_rules_the_wizard_suggestion_is_the_patients_answer():
    decision = decide(facts(), exam="xray", region="knee", rules=[])
    assert (decision.subspecialty, decision.confidence) == (
        "musculoskeletal",
        PATIENT_FALLBACK_CONFIDENCE,
    )


def test_a_rule_without_conditions_is_ignored():
    catch_all = Rule(name="everything", subspecialty="abdominal", confidence=99)
    assert decide(facts("MR", body="BRAIN"), rules=[catch_all]).subspecialty == "general"


def test_hand_built_rules_are_upper_cased_like_loaded_ones():
    rule = Rule(name="r", subspecialty="breast", confidence=90, modalities=(" mg",))
    assert rule.modalities == ("MG",)
    assert decide(facts("mg"), rules=[rule]).subspecialty == "breast"


# --- the table in the database -----------------------------------------------------------------


def test_seeded_table_loads_in_one_query_in_order(db, django_assert_num_queries):
    with django_assert_num_queries(1):
        rules = load_rules()
    assert rules == SEEDED
    decision = route(
        facts=facts("MR", body="BRAIN"),
        declared_exam_type="mri",
        declared_region="brain",
        age=40,
        rules=rules,
    )
    assert decision.subspecialty == "neuroradiology"


@pytest.mark.parametrize("is_active", [True, False])
def test_only_active_rules_are_loaded(db, is_active):
    RoutingRule.objects.create(
        name="all MR to abdominal",
        order=1,
        is_active=is_active,
        modalities="MR",
        subspecialty_id="abdominal",
        confidence=95,
    )
    # No patient answer, so the two scan rules cannot be flagged as a conflict with it.
    decision = decide(facts("MR", body="BRAIN"), rules=load_rules())
    assert decision.subspecialty == ("abdominal" if is_active else "neuroradiology")


def test_unseeding_removes_only_the_seeded_rules(db):
    RoutingRule.objects.create(
        name="coordinator's own", modalities="XA", subspecialty_id="general", confidence=50
    )
    seed_migration.unseed(apps, None)
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["coordinator's own"]


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"declared_regions": "brain, kneee"}, "declared_regions"),
        ({"declared_exam_types": "MRI, cat scan"}, "declared_exam_types"),
        ({}, "__all__"),
    ],
)
def test_admin_form_rejects_rules_that_could_never_or_always_match(db, fields, error_field):
    rule = RoutingRule(name="r", subspecialty_id="general", confidence=50, **fields)
    with pytest.raises(ValidationError) as raised:
        rule.full_clean()
    assert error_field in raised.value.message_dict


def test_valid_rule_passes_admin_validation(db):
    RoutingRule(
        name="r", declared_regions="Brain, head_neck", subspecialty_id="general", confidence=50
    ).full_clean()
