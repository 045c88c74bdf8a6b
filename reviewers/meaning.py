"""What a second reading means: for the patient, for the reviewer and coordinator, for priority.

One table, reviewed like code. The facts of a comparison (`Comparison`) are the RADPEER grade,
the BI-RADS category before and after (subcategory included), whether a biopsy was done, what
the reviewer said about the recommendation, and a lump the patient can feel. `classify` derives
a few named facts from them (`Facts`) and walks `ROWS` in order: the first row whose conditions
all hold decides the headline, the plain message and the priority. A handful of further lines
(`EXTRA_STEPS`) are added wherever their own condition holds, and every patient message ends with
`CLOSING`.

The rules, each with the public source it follows:
- "The specialist agrees" only for RADPEER 1 with the identical category, subcategory included,
  and the same recommendation. ACR BI-RADS Atlas, 5th ed.: 4A/4B/4C carry different likelihoods
  of malignancy (2-10 %, 10-50 %, 50-95 %), and after a benign biopsy that level decides between
  "concordant" and "repeat the biopsy".
- What a difference means follows RADPEER's a/b axis (ACR RADPEER, 2016 scoring: "unlikely" or
  "likely to be clinically significant"), not its 2/3 axis, which says whether the first reader
  should have seen it: that is for peer learning and never shown to patients.
- A difference "may matter" for a b grade, a change of management group (BI-RADS Atlas
  management: routine screening / short-interval follow-up / additional imaging / tissue
  diagnosis / treatment), a move among 4/4A/4B/4C/5, or any difference after a biopsy
  (radiology-pathology concordance, BI-RADS Atlas 5th ed., follow-up and outcome monitoring).
- BI-RADS 0, 3, 4, 5 and 6 always say what still needs doing (BI-RADS Atlas management
  recommendations); nothing here tells a patient to "proceed".
- Two negative readings of a lump the patient can feel still need a clinical check (ACR
  Appropriateness Criteria, Palpable Breast Masses: imaging does not replace clinical follow-up).
- A lower second reading never tells anyone to cancel what is scheduled, and every message ends
  with talking to one's doctor before changing any plan: a second opinion informs the treating
  team's decision and does not replace it.

Pure Python over plain values: the models and pages ask it, and tests can state a row without a
database.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

# --- Vocabulary ------------------------------------------------------------------------------


class Level:
    AGREE = "agree"
    MINOR = "minor"
    MATTERS = "matters"


class Recommendation:
    """What the reviewer says about their recommendation against the original report's."""

    SAME = "same"
    DETAIL = "detail"
    MANAGEMENT = "management"

    choices = [
        (SAME, "The same recommendation as the original report"),
        (DETAIL, "The same kind of next step, with a different detail (timing, extra views)"),
        (MANAGEMENT, "A different next step (for example a biopsy instead of follow-up)"),
    ]


# Priorities as the case's triage field stores them (requests_app.models.Priority).
ROUTINE, HIGH, URGENT = 0, 1, 2

# The RADPEER grades whose difference is likely to be clinically significant (ACR RADPEER 2016).
SIGNIFICANT_GRADES = frozenset({"2b", "3b"})

# What each BI-RADS category asks the patient to do next (ACR BI-RADS Atlas, 5th edition).
# A change of category within a group does not change care; a change across groups does.
MANAGEMENT = {
    "0": "additional imaging",
    "1": "routine screening",
    "2": "routine screening",
    "3": "short-interval follow-up",
    "4": "biopsy",
    "4A": "biopsy",
    "4B": "biopsy",
    "4C": "biopsy",
    "5": "biopsy",
    "6": "treatment of known cancer",
}
SUSPICIOUS = frozenset({"4", "4A", "4B", "4C", "5"})
NEGATIVE = frozenset({"1", "2"})
# How much each category asks of the patient, least first: a second reading lower on this scale
# could tempt someone to cancel what the first one set in motion. 4 without a subcategory spans
# 4A-4C, so it sits with 4B; 0 (more imaging now) asks more than 3 (a check in six months).
CONCERN = {"1": 0, "2": 0, "3": 1, "0": 2, "4A": 3, "4": 4, "4B": 4, "4C": 5, "5": 6, "6": 7}

# What the specialist's category still asks for, in plain words (BI-RADS Atlas management).
CATEGORY_STEP = {
    "0": "The specialist's reading is not final yet: more imaging (for example extra views or an "
    "ultrasound) and/or your earlier mammograms for comparison are needed.",
    "1": "The specialist's reading found no sign of cancer on the images; the usual next step is "
    "your regular screening.",
    "2": "The specialist's reading found only a benign (not cancer) finding; the usual next step "
    "is your regular screening.",
    "3": "The specialist's reading calls for a follow-up exam, usually in about six months, to "
    "make sure the finding does not change.",
    "4": "The specialist's reading recommends a biopsy (a small sample of tissue) to find out "
    "what the finding is.",
    "5": "The specialist's reading recommends a biopsy soon: the finding looks highly "
    "suspicious, and your doctor should arrange it promptly.",
    "6": "Your cancer was already confirmed by a biopsy: this reading is for planning your "
    "treatment with your care team.",
}
CATEGORY_STEP |= dict.fromkeys(("4A", "4B", "4C"), CATEGORY_STEP["4"])
# After a biopsy, a suspicious category is not a new call for one: it is the level of concern the
# biopsy result must fit (radiology-pathology concordance, BI-RADS Atlas 5th ed.).
AFTER_BIOPSY_STEP = (
    "You have already had a biopsy: the specialist's category is the level of concern your "
    "biopsy result has to fit, not a request for a new biopsy. Your doctor decides whether "
    "anything more is needed."
)
# What the specialist's category asks of the care team's follow-up (the case's priority).
CATEGORY_PRIORITY = {category: HIGH for category in (*SUSPICIOUS, "6")}

CLOSING = "Talk to your doctor before changing any plan."
DO_NOT_CANCEL = (
    "If a biopsy, test or treatment is already scheduled, do not cancel or change it before you "
    "talk to your doctor."
)
LUMP_CHECK = (
    "A lump you can feel still needs a check by your doctor, even when the images look normal: "
    "images alone cannot rule everything out."
)
SHARE = (
    "Share this report with the doctor who ordered your scan; they can compare it with the first "
    "report and with everything else they know about you."
)
THIRD_OPINION = (
    "You can ask for a tie-breaking third opinion: another specialist reads your images without "
    "seeing either earlier report first."
)


# --- Facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """The plain facts of one reading compared with the original report."""

    radpeer: str = ""
    birads_before: str = ""
    birads_after: str = ""
    biopsy_done: bool = False
    recommendation: str = Recommendation.SAME
    palpable_lump: bool = False


@dataclass(frozen=True)
class Facts:
    """What the rows are written in, derived once from a `Comparison`."""

    level: str
    direction: str  # "lower", "higher", "same" or "unknown" (no BI-RADS on one side)
    after_biopsy: bool
    lump_negative: bool  # a lump the patient can feel, and the specialist's reading is 1 or 2
    management_changes: bool
    newly_suspicious: bool  # the specialist's reading is 4/5, the first was not

    def get(self, name: str) -> object:
        return getattr(self, name)


def derive(c: Comparison) -> Facts:
    before, after = c.birads_before, c.birads_after
    # Categories are compared only when both are known: a report that states none (or a patient
    # who does not know it) leaves the comparison to the grade and the recommendation.
    same_category = before == after or not (before and after)
    management_changes = c.recommendation == Recommendation.MANAGEMENT or bool(
        before and after and MANAGEMENT[before] != MANAGEMENT[after]
    )
    suspicion_moves = not same_category and before in SUSPICIOUS and after in SUSPICIOUS
    agrees = c.radpeer == "1" and same_category and c.recommendation == Recommendation.SAME
    if (
        c.radpeer in SIGNIFICANT_GRADES
        or management_changes
        or suspicion_moves
        or (c.biopsy_done and not agrees)
    ):
        level = Level.MATTERS
    elif agrees:
        level = Level.AGREE
    else:
        level = Level.MINOR
    if before in CONCERN and after in CONCERN:
        delta = CONCERN[after] - CONCERN[before]
        direction = "lower" if delta < 0 else "higher" if delta > 0 else "same"
    else:
        direction = "unknown"
    return Facts(
        level=level,
        direction=direction,
        after_biopsy=c.biopsy_done,
        lump_negative=c.palpable_lump and after in NEGATIVE,
        management_changes=management_changes,
        newly_suspicious=after in SUSPICIOUS and before not in SUSPICIOUS and bool(before),
    )


def anything_differs(
    *, radpeer: str, birads_before: str, birads_after: str, recommendation: str
) -> bool:
    """Anything at all differs from the original report. The reviewer must then explain it in a
    comment, because the patient reads that comment, never the grade."""
    return (
        radpeer != "1"
        or bool(birads_before and birads_after and birads_before != birads_after)
        or recommendation not in ("", Recommendation.SAME)
    )


# --- The table -------------------------------------------------------------------------------

AGREE_HEADLINE = "The specialist agrees with your first report."
MINOR_HEADLINE = "The specialist mostly agrees with your first report, with a difference."
MATTERS_HEADLINE = (
    "The specialist's reading differs from your first report in a way that may matter for your "
    "care."
)


@dataclass(frozen=True)
class Row:
    id: str
    when: Mapping[str, object]
    headline: str
    message: str
    steps: tuple[str, ...] = ()
    priority: int = ROUTINE
    handles: frozenset[str] = field(default_factory=frozenset)  # extra lines already said


ROWS: tuple[Row, ...] = (
    Row(
        "agree-lump",
        {"level": Level.AGREE, "lump_negative": True},
        AGREE_HEADLINE,
        "The specialist read your images independently, before seeing your first report, and "
        "also found nothing worrying on them. The lump you can feel still needs a check by your "
        "doctor: images alone cannot rule everything out.",
        (
            "Show your doctor the lump and this report; they may suggest an ultrasound, another "
            "exam or a visit to a breast specialist.",
        ),
        handles=frozenset({"lump_negative"}),
    ),
    Row(
        "agree",
        {"level": Level.AGREE},
        AGREE_HEADLINE,
        "The specialist read your images independently, before seeing your first report, and came "
        "to the same result with the same recommendation.",
        (SHARE,),
    ),
    Row(
        "minor",
        {"level": Level.MINOR},
        MINOR_HEADLINE,
        "The specialist's reading differs from your first report in a detail that is not expected "
        "to change your care. The specialist's comment below explains the difference.",
        ("Ask your doctor about the difference the specialist explains below.", SHARE),
    ),
    Row(
        "matters-after-biopsy",
        {"level": Level.MATTERS, "after_biopsy": True},
        MATTERS_HEADLINE,
        "You have had a biopsy. After a biopsy, doctors check that its result fits what the "
        "images show, and the level of concern on the images decides whether the result can be "
        "relied on or the biopsy should be repeated. Because the two readings differ, your "
        "doctor needs to look at this report together with your biopsy result.",
        (
            "Share this report with the doctor who has your biopsy result, and ask whether that "
            "result still fits the images.",
            DO_NOT_CANCEL,
        ),
        priority=HIGH,
        handles=frozenset({"do_not_cancel"}),
    ),
    Row(
        "matters-newly-suspicious",
        {"level": Level.MATTERS, "newly_suspicious": True},
        MATTERS_HEADLINE,
        "The specialist sees more reason for concern than your first report did and recommends "
        "a biopsy to find out what the finding is. This does not by itself mean you have "
        "cancer: only a biopsy can tell.",
        ("Contact your doctor soon to share this report and arrange the next step.",),
        priority=URGENT,
    ),
    Row(
        "matters-higher",
        {"level": Level.MATTERS, "direction": "higher"},
        MATTERS_HEADLINE,
        "The specialist sees more reason for concern than your first report did.",
        ("Contact your doctor soon to share this report and decide together on the next step.",),
        priority=HIGH,
    ),
    Row(
        "matters-lower",
        {"level": Level.MATTERS, "direction": "lower"},
        MATTERS_HEADLINE,
        "The specialist's reading is less worrying than your first report. That may be good "
        "news, but the plan your doctor made from the first report stays in place until your "
        "doctor has looked at both readings.",
        (DO_NOT_CANCEL, SHARE),
        priority=HIGH,
        handles=frozenset({"do_not_cancel"}),
    ),
    Row(
        "matters",
        {"level": Level.MATTERS},
        MATTERS_HEADLINE,
        "The two readings differ in a way that could change what happens next. This happens, and "
        "it is why second opinions exist.",
        (
            "Talk with both teams: share this report with the doctor who ordered your scan and "
            "the radiology department that read it.",
            DO_NOT_CANCEL,
        ),
        priority=HIGH,
        handles=frozenset({"do_not_cancel"}),
    ),
)

# Lines added to any row where their condition holds (and the row has not said them already).
EXTRA_STEPS: tuple[tuple[str, str], ...] = (
    ("lump_negative", LUMP_CHECK),
    ("do_not_cancel", DO_NOT_CANCEL),
)


# --- The answer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meaning:
    row: str
    level: str
    headline: str
    message: str
    next_steps: tuple[str, ...]
    priority: int
    staff_summary: str

    @property
    def may_matter(self) -> bool:
        """ "A difference that may matter for your care": what the patient sees of the grade."""
        return self.level == Level.MATTERS

    @property
    def offers_third_opinion(self) -> bool:
        return self.level == Level.MATTERS

    @property
    def patient_text(self) -> str:
        return " ".join((self.headline, self.message, *self.next_steps))


def _matches(row: Row, facts: Facts) -> bool:
    return all(facts.get(name) == value for name, value in row.when.items())


def _extra_holds(name: str, facts: Facts) -> bool:
    if name == "do_not_cancel":
        return facts.direction == "lower"
    return bool(facts.get(name))


def classify(c: Comparison, *, radpeer_label: str = "") -> Meaning:
    """What this comparison means: the first row of `ROWS` that fits, with its extra lines."""
    facts = derive(c)
    row = next(r for r in ROWS if _matches(r, facts))
    steps = list(row.steps)
    if c.biopsy_done and c.birads_after in SUSPICIOUS:
        steps.append(AFTER_BIOPSY_STEP)
    elif c.birads_after:
        steps.append(CATEGORY_STEP[c.birads_after])
    steps += [
        text
        for name, text in EXTRA_STEPS
        if name not in row.handles and _extra_holds(name, facts) and text not in steps
    ]
    if facts.level == Level.MATTERS:
        steps.append(THIRD_OPINION)
    steps.append(CLOSING)
    priority = max(row.priority, CATEGORY_PRIORITY.get(c.birads_after, ROUTINE))
    return Meaning(
        row=row.id,
        level=facts.level,
        headline=row.headline,
        message=row.message,
        next_steps=tuple(steps),
        priority=priority,
        staff_summary=staff_summary(c, facts, radpeer_label=radpeer_label),
    )


def staff_summary(c: Comparison, facts: Facts, *, radpeer_label: str = "") -> str:
    """What reviewers and coordinators see: the official grade and the facts the table used."""
    parts = [f"RADPEER {radpeer_label or c.radpeer or 'not graded'}"]
    if c.birads_before or c.birads_after:
        parts.append(f"BI-RADS {c.birads_before or '?'} -> {c.birads_after or '?'}")
        if c.birads_before and c.birads_after:
            parts.append(
                f"management {MANAGEMENT[c.birads_before]} -> {MANAGEMENT[c.birads_after]}"
            )
    parts.append(f"recommendation: {dict(Recommendation.choices)[c.recommendation].lower()}")
    if c.biopsy_done:
        parts.append("after a biopsy")
    if c.palpable_lump:
        parts.append("palpable lump")
    verdict = {
        Level.AGREE: "agreement",
        Level.MINOR: "minor difference (patient told: not expected to change care)",
        Level.MATTERS: "may matter for care (patient offered a third opinion)",
    }[facts.level]
    return "; ".join(parts) + f". Patient told: {verdict}."


def comparison_for(opinion, case) -> Comparison:
    """The facts of a signed or graded reading. A blank original category on the reading falls
    back to the one the patient reported from their first report."""
    reported = case.birads if case.birads and case.birads != "unknown" else ""
    return Comparison(
        radpeer=opinion.radpeer,
        birads_before=opinion.original_birads or (reported if opinion.birads else ""),
        birads_after=opinion.birads,
        biopsy_done=case.had_biopsy == "yes",
        recommendation=opinion.recommendation_change or Recommendation.SAME,
        palpable_lump=case.palpable_lump == "yes",
    )


def for_opinion(opinion) -> Meaning:
    """The table's answer for one reading (an `Opinion` of the reviewers app)."""
    return classify(
        comparison_for(opinion, opinion.case),
        radpeer_label=opinion.get_radpeer_display() if opinion.radpeer else "",
    )


# --- Breast density --------------------------------------------------------------------------

# The four density categories of a mammography report, worded as 21 CFR 900.12(c)(1)(vi) has
# required since the 2023 MQSA amendments (effective 10 Sep 2024).
DENSITY_CHOICES = [
    ("a", "a: The breasts are almost entirely fatty."),
    ("b", "b: There are scattered areas of fibroglandular density."),
    ("c", "c: The breasts are heterogeneously dense, which may obscure small masses."),
    ("d", "d: The breasts are extremely dense, which lowers the sensitivity of mammography."),
]
DENSE = frozenset({"c", "d"})
# The lay summary's density paragraph, verbatim from 21 CFR 900.12(c)(2)(iii) (not dense) and
# (iv) (dense): the rule allows no other wording.
DENSITY_NOT_DENSE = (
    "Breast tissue can be either dense or not dense. Dense tissue makes it harder to find breast "
    "cancer on a mammogram and also raises the risk of developing breast cancer. Your breast "
    "tissue is not dense. Talk to your healthcare provider about breast density, risks for breast "
    "cancer, and your individual situation."
)
DENSITY_DENSE = (
    "Breast tissue can be either dense or not dense. Dense tissue makes it harder to find breast "
    "cancer on a mammogram and also raises the risk of developing breast cancer. Your breast "
    "tissue is dense. In some people with dense tissue, other imaging tests in addition to a "
    "mammogram may help find cancers. Talk to your healthcare provider about breast density, "
    "risks for breast cancer, and your individual situation."
)


def density_paragraph(density: str) -> str:
    """The federal density statement for a lay summary; empty when no density was given."""
    if not density:
        return ""
    return DENSITY_DENSE if density in DENSE else DENSITY_NOT_DENSE
