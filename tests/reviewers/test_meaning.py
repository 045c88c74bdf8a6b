"""The table of meaning: every row, every combination, and what the patient's page shows."""

import itertools

import pytest
from django.urls import reverse

from requests_app.models import BiRads, Case
from reviewers import meaning, services
from reviewers.meaning import Comparison, Level, Recommendation
from reviewers.models import Opinion, Radpeer
from tests.conftest import make_case
from tests.reviewers.conftest import make_reviewer

GRADES = [value for value, _ in Radpeer.choices]
CATEGORIES = ["", *meaning.MANAGEMENT]  # "" = a reading without BI-RADS (not a breast case)
RECOMMENDATIONS = [Recommendation.SAME, Recommendation.DETAIL, Recommendation.MANAGEMENT]

# One comparison per row that the row, and no row before it, must answer.
ROW_EXAMPLES = {
    "agree-lump": Comparison("1", "2", "2", palpable_lump=True),
    "agree": Comparison("1", "4A", "4A"),
    "minor": Comparison("2a", "4B", "4B"),
    "matters-after-biopsy": Comparison("2a", "4B", "4A", biopsy_done=True),
    "matters-newly-suspicious": Comparison("2b", "2", "4B"),
    "matters-higher": Comparison("2a", "4A", "4C"),
    "matters-lower": Comparison("2b", "4", "2"),
    "matters": Comparison("2b"),
}


def test_every_row_has_an_example_and_every_example_a_row():
    assert [row.id for row in meaning.ROWS] == list(ROW_EXAMPLES)


@pytest.mark.parametrize("row_id", list(ROW_EXAMPLES))
def test_each_row_answers_its_example(row_id):
    row = next(r for r in meaning.ROWS if r.id == row_id)
    found = meaning.classify(ROW_EXAMPLES[row_id])
    assert found.row == row_id
    assert found.headline == row.headline and found.message == row.message
    assert found.next_steps[-1] == "Talk to your doctor before changing any plan."
    assert found.priority >= row.priority
    assert found.may_matter is (found.level == Level.MATTERS)
    assert found.offers_third_opinion is found.may_matter
    assert (meaning.THIRD_OPINION in found.next_steps) is found.may_matter


@pytest.mark.parametrize(
    ("comparison", "level", "expected"),
    [
        # Agreement needs the identical category, subcategory included, and the same advice.
        (Comparison("1", "4B", "4B"), Level.AGREE, "The specialist agrees"),
        (Comparison("1", "4B", "4B", recommendation="detail"), Level.MINOR, "mostly agrees"),
        # 1 <-> 2 keeps routine screening: a minor difference, in its own words.
        (Comparison("1", "1", "2"), Level.MINOR, "not expected to change your care"),
        (Comparison("2a", "2", "1"), Level.MINOR, "not expected to change your care"),
        # The a/b axis decides, not 2/3: 3a is an unlikely-significant difference.
        (Comparison("3a", "3", "3"), Level.MINOR, "mostly agrees"),
        (Comparison("2b", "3", "3"), Level.MATTERS, "may matter"),
        (Comparison("3b", "3", "3"), Level.MATTERS, "may matter"),
        # Any move among 4/4A/4B/4C/5, though all are "biopsy".
        (Comparison("1", "4B", "4A"), Level.MATTERS, "may matter"),
        (Comparison("2a", "4", "5"), Level.MATTERS, "may matter"),
        # A change of management group.
        (Comparison("2a", "3", "4A"), Level.MATTERS, "recommends a biopsy"),
        (Comparison("1", "", "", recommendation="management"), Level.MATTERS, "may matter"),
        # Any difference after a biopsy.
        (Comparison("2a", "4A", "4A", biopsy_done=True), Level.MATTERS, "biopsy result"),
        (Comparison("1", "4A", "4A", biopsy_done=True), Level.AGREE, "The specialist agrees"),
    ],
)
def test_what_counts_as_agreement_a_minor_difference_or_one_that_may_matter(
    comparison, level, expected
):
    found = meaning.classify(comparison)
    assert found.level == level
    assert expected in found.patient_text


def test_a_lower_second_reading_says_not_to_cancel_what_is_scheduled():
    found = meaning.classify(Comparison("2b", "4", "2"))
    assert found.may_matter and meaning.DO_NOT_CANCEL in found.next_steps
    assert found.next_steps.index(meaning.DO_NOT_CANCEL) < len(found.next_steps) - 1


@pytest.mark.parametrize("after", ["0", "3", "4", "4A", "4B", "4C", "5", "6"])
def test_categories_that_ask_for_something_say_what_and_never_proceed(after):
    for before in CATEGORIES:
        found = meaning.classify(Comparison("1", before or after, after))
        assert meaning.CATEGORY_STEP[after] in found.next_steps
        after_biopsy = meaning.classify(Comparison("1", before or after, after, biopsy_done=True))
        assert any(
            step in after_biopsy.next_steps
            for step in (meaning.CATEGORY_STEP[after], meaning.AFTER_BIOPSY_STEP)
        )
        assert "proceed" not in found.patient_text.lower()


def test_after_a_biopsy_a_suspicious_category_is_not_a_call_for_another_biopsy():
    found = meaning.classify(Comparison("2a", "4B", "4A", biopsy_done=True))
    assert meaning.AFTER_BIOPSY_STEP in found.next_steps
    assert "recommends a biopsy" not in found.patient_text


def test_bi_rads_0_says_more_imaging_or_earlier_mammograms_are_needed():
    found = meaning.classify(Comparison("1", "0", "0"))
    assert "earlier mammograms for comparison" in found.patient_text
    assert BiRads.B0.label == (
        "0: Incomplete: additional imaging and/or prior mammograms needed for comparison"
    )


def test_two_negative_readings_of_a_lump_still_send_the_patient_to_their_doctor():
    for before, after in itertools.product(("1", "2"), repeat=2):
        for grade in ("1", "2a"):
            found = meaning.classify(Comparison(grade, before, after, palpable_lump=True))
            assert "lump you can feel still needs a check by your doctor" in found.patient_text
    assert "lump" not in meaning.classify(Comparison("1", "2", "2")).patient_text


def _differs(c: Comparison) -> bool:
    """Anything differs that is known: categories count when both readings state one."""
    categories_differ = c.birads_before and c.birads_after and c.birads_before != c.birads_after
    return c.radpeer != "1" or bool(categories_differ) or c.recommendation != "same"


def test_no_combination_claims_agreement_when_anything_differs():
    """Every grade x category before x category after x recommendation (x biopsy x lump).

    When anything differs, the patient's text never says "agree" or "match", except in the one
    qualified phrase the minor-difference message uses ("mostly agrees ..., with a difference").
    """
    qualified = "mostly agrees with your first report, with a difference"
    wrong = []
    for grade, before, after, recommendation, biopsy, lump in itertools.product(
        GRADES, CATEGORIES, CATEGORIES, RECOMMENDATIONS, (False, True), (False, True)
    ):
        c = Comparison(grade, before, after, biopsy, recommendation, lump)
        found = meaning.classify(c)
        text = found.patient_text.lower()
        if found.next_steps[-1] != meaning.CLOSING:
            wrong.append(f"{c}: does not end with the closing line")
        if _differs(c):
            if "agree" in text.replace(qualified, "") or "match" in text:
                wrong.append(f"{c}: {found.headline}")
            if found.level == Level.AGREE:
                wrong.append(f"{c}: classed as agreement")
        elif found.level != Level.AGREE:
            wrong.append(f"{c}: identical readings not classed as agreement")
    assert not wrong, "\n".join(wrong[:20])


def test_the_staff_summary_carries_the_official_radpeer_label():
    found = meaning.classify(
        Comparison("2a", "4B", "4A", biopsy_done=True),
        radpeer_label=Radpeer.MINOR_UNLIKELY.label,
    )
    assert found.staff_summary.startswith(
        "RADPEER 2a: Discrepancy in interpretation/not ordinarily expected to be made "
        "(understandable miss); unlikely to be clinically significant"
    )
    assert "BI-RADS 4B -> 4A" in found.staff_summary and "after a biopsy" in found.staff_summary


def test_radpeer_labels_are_the_acrs():
    assert dict(Radpeer.choices) == {
        "1": "1: Concur with interpretation",
        "2a": "2a: Discrepancy in interpretation/not ordinarily expected to be made "
        "(understandable miss); unlikely to be clinically significant",
        "2b": "2b: Discrepancy in interpretation/not ordinarily expected to be made "
        "(understandable miss); likely to be clinically significant",
        "3a": "3a: Discrepancy in interpretation/should be made most of the time; unlikely to be "
        "clinically significant",
        "3b": "3b: Discrepancy in interpretation/should be made most of the time; likely to be "
        "clinically significant",
    }


def test_a_blank_original_category_falls_back_to_the_one_the_patient_reported():
    case = Case(exam_type="mammogram", body_region="breast", birads="4B", had_biopsy="yes")
    opinion = Opinion(case=case, radpeer="1", birads="4A", original_birads="")
    assert opinion.meaning.row == "matters-after-biopsy"
    assert opinion.is_discordant
    # A category nobody knows is not a difference: the grade and the recommendation decide.
    unknown = Case(exam_type="mammogram", body_region="breast", birads="unknown", had_biopsy="no")
    assert Opinion(case=unknown, radpeer="1", birads="4A").meaning.level == Level.AGREE
    assert Opinion(case=unknown, radpeer="2a", birads="4A").meaning.level == Level.MINOR


# --- On the patient's page ----------------------------------------------------------------------


@pytest.fixture
def mammogram_case(alice):
    """Alice's 4B mammogram, after a biopsy, waiting in the breast queue."""
    return make_case(
        alice,
        complete=True,
        exam_type="mammogram",
        body_region="breast",
        birads="4B",
        had_biopsy="yes",
        queue_id="breast",
        status=Case.Status.QUEUED,
    )


def _read(case, *, birads, radpeer, original="", comment="", density="c") -> Opinion:
    imager = make_reviewer(
        "bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True
    )
    user = imager.user
    opinion = services.claim_case(case, reviewer=imager, by=user)
    services.file_blind_read(
        opinion, by=user, findings="F.", impression="I.", birads=birads, breast_density=density
    )
    services.grade_concordance(
        opinion,
        by=user,
        radpeer=radpeer,
        original_birads=original,
        comment=comment,
        patient_summary="In plain words.",
    )
    services.sign_report(opinion, by=user, signed_name="Dr. Bea Imager")
    case.refresh_from_db()
    return opinion


def test_a_4b_read_as_4a_after_a_biopsy_may_matter_and_shows_no_grade(
    client, alice, mammogram_case
):
    _read(
        mammogram_case,
        birads="4A",
        radpeer="2a",
        comment="Lower suspicion on the magnified views.",
    )
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[mammogram_case.code])).content.decode()
    assert "differs from your first report in a way that may matter" in page
    assert "Two experts agree" not in page and "proceed" not in page.lower()
    assert "Talk to your doctor before changing any plan." in page
    assert "RADPEER" not in page and "Discrepancy in interpretation" not in page
    assert "Lower suspicion on the magnified views." in page
    assert 'data-testid="may-matter">Yes' in page
    assert "See the cost of a third opinion" in page


def test_the_reviewer_sees_the_official_grade_and_what_the_patient_was_told(client, mammogram_case):
    opinion = _read(mammogram_case, birads="4B", radpeer="1")
    client.force_login(opinion.reviewer.user)
    page = client.get(reverse("reviewers:case-detail", args=[mammogram_case.code])).content.decode()
    assert "RADPEER 1: Concur with interpretation" in page
    assert "Patient told: agreement." in page
