import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from localflavor.us.models import USStateField

from requests_app.models import BiRads, BodyRegion, Case, ClinicalSpecialty, ExamType

from .routing import split_list


class Subspecialty(models.Model):
    """A kind of specialist, and the queue of cases waiting for one."""

    slug = models.SlugField(primary_key=True, max_length=40)
    name = models.CharField(max_length=80)
    specialist_title = models.CharField(max_length=80)
    covers = models.CharField(max_length=200, help_text="What it covers, in plain words.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = "subspecialties"

    def __str__(self) -> str:
        return self.name


class ReviewerProfile(models.Model):
    """A specialist who reads studies and writes second-opinion reports.

    What matching needs is kept as plain fields: a coordinator checks credentials once (board,
    fellowship, licences, MQSA) and records them here; `reviewers.matching` only reads them.
    """

    class Kind(models.TextChoices):
        RADIOLOGIST = "radiologist", "Radiologist (re-reads the images)"
        CLINICAL = "clinical", "Clinical specialist (advises on treatment)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer_profile"
    )
    display_name = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.RADIOLOGIST)
    clinical_specialty = models.CharField(
        max_length=16,
        choices=ClinicalSpecialty.choices,
        blank=True,
        help_text="For a clinical specialist: surgeon, oncologist...",
    )
    subspecialties = models.ManyToManyField(Subspecialty, related_name="reviewers")
    board_certification = models.CharField(
        max_length=200,
        blank=True,
        help_text="Board and specialty, e.g. American Board of Radiology, Diagnostic Radiology.",
    )
    fellowship = models.CharField(
        max_length=200, blank=True, help_text="Fellowship training, e.g. Neuroradiology, 2009."
    )
    # Mammography may only be interpreted by a physician who meets the MQSA requirements
    # (21 CFR 900.12); breast cases are never offered to anyone else.
    mqsa_qualified = models.BooleanField("MQSA-qualified for mammography", default=False)
    mqsa_qualified_since = models.DateField("MQSA-qualified since", null=True, blank=True)
    institution = models.CharField(
        max_length=200,
        blank=True,
        help_text="Where they practise: cases whose original read was done there are not offered.",
    )
    remote = models.BooleanField("reads remotely", default=True)
    in_person = models.BooleanField("sees patients in person", default=False)
    turnaround_days = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="Usual days from claim to report."
    )
    capacity = models.PositiveSmallIntegerField(
        default=10, help_text="Most cases in review at once; at this number no new case is offered."
    )
    bio = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class ReviewerLicense(models.Model):
    """A state medical licence: a specialist may only give an opinion where the patient lives."""

    reviewer = models.ForeignKey(ReviewerProfile, on_delete=models.CASCADE, related_name="licenses")
    state = USStateField()

    class Meta:
        ordering = ["state"]
        constraints = [
            models.UniqueConstraint(fields=["reviewer", "state"], name="one_license_per_state")
        ]

    def __str__(self) -> str:
        return self.state


class RoutingRule(models.Model):
    """One line of the routing table that coordinators edit in the admin.

    Rules are data rather than code because which keywords a hospital's scanners write, and which
    queue they belong to, changes faster than we deploy. `reviewers.routing` reads the active
    rules in `order` and decides; this model only stores and validates them.
    """

    name = models.CharField(max_length=100, unique=True)
    order = models.PositiveIntegerField(default=100, help_text="Lower numbers are tried first.")
    is_active = models.BooleanField(default=True)

    modalities = models.CharField(
        max_length=100,
        blank=True,
        help_text="DICOM modality codes, comma-separated (e.g. MR, CT). Empty = any.",
    )
    body_part_keywords = models.CharField(
        max_length=500,
        blank=True,
        help_text=(
            "Words looked for in BodyPartExamined, comma-separated (e.g. BRAIN, CSPINE). A word "
            "matches a word of the header that starts with it: HIP matches HIPS, not SHIP."
        ),
    )
    description_keywords = models.CharField(
        max_length=500,
        blank=True,
        help_text=(
            "Words looked for in the Study and Series Descriptions, matched the same way. The "
            "scan's anatomy counts as matched when either the body part or a description matches."
        ),
    )
    declared_regions = models.CharField(
        max_length=200,
        blank=True,
        help_text="Regions the patient chose (e.g. brain, spine), comma-separated. Empty = any.",
    )
    declared_exam_types = models.CharField(
        max_length=100,
        blank=True,
        help_text="Exam types the patient chose (e.g. mri, pet), comma-separated. Empty = any.",
    )
    max_age = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Only for patients younger than this many years."
    )

    subspecialty = models.ForeignKey(
        Subspecialty, on_delete=models.PROTECT, related_name="routing_rules"
    )
    confidence = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(100)],
        help_text="0-100. Below the routing threshold the case goes to a coordinator.",
    )

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # A rule with no condition would pull every case into one queue, and a misspelt region or
        # exam type would silently never match; both are easy slips in a free-text admin field.
        errors = {}
        for field, allowed in (
            ("declared_regions", BodyRegion.values),
            ("declared_exam_types", ExamType.values),
        ):
            unknown = [v for v in split_list(getattr(self, field)) if v.lower() not in allowed]
            if unknown:
                errors[field] = f"Unknown: {', '.join(unknown)}. Use: {', '.join(allowed)}."
        conditions = (
            "modalities",
            "body_part_keywords",
            "description_keywords",
            "declared_regions",
            "declared_exam_types",
        )
        if self.max_age is None and not any(split_list(getattr(self, f)) for f in conditions):
            errors["__all__"] = "Give the rule at least one condition."
        if errors:
            raise ValidationError(errors)


class ReviewerChoice(models.Model):
    """The specialist the patient picked in the wizard, or "first available" (no reviewer).

    Kept here rather than on Case: who reads a case is this app's business.
    """

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="reviewer_choice")
    reviewer = models.ForeignKey(
        ReviewerProfile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chosen_for",
        help_text="Empty: the first available qualified specialist.",
    )
    why = models.TextField(blank=True, help_text="Why this person fits, as the patient saw it.")
    chosen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return str(self.reviewer) if self.reviewer_id else "First available"


class Radpeer(models.TextChoices):
    """ACR RADPEER scores: how the original interpretation compares with this reading."""

    CONCUR = "1", "1: Concur with the original interpretation"
    MINOR_UNLIKELY = "2a", "2a: Discrepancy in interpretation, unlikely clinically significant"
    MINOR_LIKELY = "2b", "2b: Discrepancy in interpretation, likely clinically significant"
    MAJOR_UNLIKELY = "3a", "3a: Should be made most of the time, unlikely clinically significant"
    MAJOR_LIKELY = "3b", "3b: Should be made most of the time, likely clinically significant"


# From 2b up the difference may change care: the reviewer must explain it, and the patient is
# offered a tie-breaking third opinion.
SIGNIFICANT_RADPEER = {Radpeer.MINOR_LIKELY, Radpeer.MAJOR_UNLIKELY, Radpeer.MAJOR_LIKELY}

READ_BIRADS = [choice for choice in BiRads.choices if choice[0] != BiRads.UNKNOWN]

# What each BI-RADS category asks the patient to do next (ACR BI-RADS Atlas, 5th edition):
# a change of category within the same group does not change care, a change across groups does.
BIRADS_MANAGEMENT = {
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


class TieBreak(models.TextChoices):
    ORIGINAL = "original", "The original report"
    SECOND = "second", "The second opinion"
    NEITHER = "neither", "Neither: my reading differs from both"


def opinion_pdf_key(opinion: "Opinion", filename: str) -> str:
    """Storage key of a signed report: under its case, never guessable, never public."""
    return f"cases/{opinion.case.code}/opinions/{opinion.code}/report.pdf"


class Opinion(models.Model):
    """One specialist's reading of one case, read blind first and then compared.

    Round 1 is the second opinion; round 2 is the tie-breaking third opinion. Phase one (the blind
    read) is filed before the original report, the patient's BI-RADS and any earlier opinion are
    shown, so they cannot anchor it; phase two grades concordance; signing makes the PDF.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="opinions")
    reviewer = models.ForeignKey(ReviewerProfile, on_delete=models.PROTECT, related_name="opinions")
    round = models.PositiveSmallIntegerField(default=1)
    claimed_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    # Phase one: images and clinical question only.
    findings = models.TextField(blank=True)
    impression = models.TextField(blank=True)
    birads = models.CharField("BI-RADS", max_length=4, choices=READ_BIRADS, blank=True)
    blind_read_at = models.DateTimeField(null=True, blank=True)

    # Phase two: the original report is open.
    original_birads = models.CharField(
        "BI-RADS of the original report", max_length=4, choices=READ_BIRADS, blank=True
    )
    radpeer = models.CharField("RADPEER score", max_length=2, choices=Radpeer.choices, blank=True)
    concordance_comment = models.TextField(blank=True)
    tie_break = models.CharField(
        "which earlier reading this one supports",
        max_length=8,
        choices=TieBreak.choices,
        blank=True,
    )
    recommendations = models.TextField(blank=True)
    patient_summary = models.TextField("summary for the patient", blank=True)
    graded_at = models.DateTimeField(null=True, blank=True)

    # Signature: the reviewer attests by typing their name; the PDF's hash pins what they signed.
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_name = models.CharField(max_length=200, blank=True)
    pdf = models.FileField(upload_to=opinion_pdf_key, max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_uploaded = models.BooleanField(default=False)

    class Meta:
        ordering = ["round", "claimed_at"]
        constraints = [
            # Two reviewers can never hold the same case at once, whatever races in the views.
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(released_at__isnull=True, signed_at__isnull=True),
                name="one_open_opinion_per_case",
            ),
        ]

    def __str__(self) -> str:
        return f"Opinion {str(self.code)[:8]}"

    @property
    def is_blind(self) -> bool:
        return self.blind_read_at is None

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def is_third_opinion(self) -> bool:
        return self.round > 1

    @property
    def birads_changes_management(self) -> bool:
        if not (self.birads and self.original_birads):
            return False
        return BIRADS_MANAGEMENT[self.birads] != BIRADS_MANAGEMENT[self.original_birads]

    @property
    def is_discordant(self) -> bool:
        """2b and up, or a BI-RADS change that changes what the patient should do next."""
        return self.radpeer in SIGNIFICANT_RADPEER or self.birads_changes_management


class FollowUpQuestion(models.Model):
    """A question the patient asks the reviewer about a signed report (at most three)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    opinion = models.ForeignKey(Opinion, on_delete=models.CASCADE, related_name="questions")
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    question = models.TextField(max_length=2000)
    asked_at = models.DateTimeField(default=timezone.now)
    answer = models.TextField(max_length=4000, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["asked_at", "pk"]

    def __str__(self) -> str:
        return f"Question {str(self.code)[:8]}"


class CaseAssignment(Case):
    """Cases as coordinators see them when assigning: a view of Case for the admin only."""

    class Meta:
        proxy = True
        verbose_name = "case assignment"
