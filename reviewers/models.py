import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from localflavor.us.models import USStateField

from requests_app.models import BiRads, BodyRegion, Case, ClinicalSpecialty, ExamType

from . import credentials, meaning
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

    What matching needs is kept as plain fields: a coordinator verifies credentials (board,
    fellowship, licences, MQSA) against their primary sources, records them here with their dates,
    and checks them again before they lapse; `reviewers.matching` only reads them.
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
    # (21 CFR 900.12(a)(1)): the initial qualifications, then continuing experience (960
    # mammograms in 24 months) and continuing education (15 category I CME hours in 36 months),
    # and 8 hours of training before interpreting a new modality such as tomosynthesis (DBT).
    # A reader whose dates have passed, or were never recorded, is not offered a mammogram.
    mqsa_initial_qualification_on = models.DateField(
        "MQSA initial qualifications met on",
        null=True,
        blank=True,
        help_text="Empty: does not interpret mammograms.",
    )
    mqsa_continuing_experience_due = models.DateField(
        "MQSA continuing experience due",
        null=True,
        blank=True,
        help_text="End of the current 24-month period in which 960 mammograms must be read.",
    )
    mqsa_continuing_education_due = models.DateField(
        "MQSA continuing education due",
        null=True,
        blank=True,
        help_text="End of the current 36-month period in which 15 CME hours must be earned.",
    )
    mqsa_dbt_trained_on = models.DateField(
        "DBT (tomosynthesis) training completed on",
        null=True,
        blank=True,
        help_text="The 8 hours of new-modality training; empty: no tomosynthesis studies.",
    )
    mqsa_last_verified_on = models.DateField("MQSA records last verified on", null=True, blank=True)
    institution = models.CharField(
        max_length=200,
        blank=True,
        help_text="Where they mainly practise: cases whose scan was done there are not offered.",
    )
    affiliations = models.TextField(
        blank=True,
        help_text=(
            "Every other hospital, imaging centre, practice or group they work for or hold an "
            "appointment at, one per line: cases whose scan was done at any of them are not "
            "offered."
        ),
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

    @property
    def workplaces(self) -> tuple[str, ...]:
        """The institution and every declared affiliation, for the independence check."""
        lines = [self.institution, *self.affiliations.splitlines()]
        return tuple(line.strip() for line in lines if line.strip())

    def mqsa_current_on(self, day) -> bool:
        return credentials.mqsa_current(
            initial=self.mqsa_initial_qualification_on,
            experience_due=self.mqsa_continuing_experience_due,
            education_due=self.mqsa_continuing_education_due,
            on=day,
        )


class ReviewerLicense(models.Model):
    """A state medical licence. A physician may give an opinion only to a patient who is, at that
    time, in a state where they hold a current licence (FSMB telemedicine policy)."""

    reviewer = models.ForeignKey(ReviewerProfile, on_delete=models.CASCADE, related_name="licenses")
    state = USStateField()
    number = models.CharField("licence number", max_length=40, blank=True)
    expires_on = models.DateField(
        null=True, blank=True, help_text="Empty or past: the licence does not count."
    )
    last_verified_on = models.DateField(
        null=True, blank=True, help_text="When it was last checked with the state board."
    )

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
    """ACR RADPEER scores (2016 scoring), in the ACR's words: how the original interpretation
    compares with this reading. For reviewers and coordinators only: RADPEER serves peer learning,
    and patients are told what a difference means for them (`reviewers.meaning`), never a grade.
    """

    CONCUR = "1", "1: Concur with interpretation"
    MINOR_UNLIKELY = (
        "2a",
        (
            "2a: Discrepancy in interpretation/not ordinarily expected to be made (understandable "
            "miss); unlikely to be clinically significant"
        ),
    )
    MINOR_LIKELY = (
        "2b",
        (
            "2b: Discrepancy in interpretation/not ordinarily expected to be made (understandable "
            "miss); likely to be clinically significant"
        ),
    )
    MAJOR_UNLIKELY = (
        "3a",
        (
            "3a: Discrepancy in interpretation/should be made most of the time; unlikely to be "
            "clinically significant"
        ),
    )
    MAJOR_LIKELY = (
        "3b",
        (
            "3b: Discrepancy in interpretation/should be made most of the time; likely to be "
            "clinically significant"
        ),
    )


READ_BIRADS = [choice for choice in BiRads.choices if choice[0] != BiRads.UNKNOWN]


class TieBreak(models.TextChoices):
    ORIGINAL = "original", "The original report"
    SECOND = "second", "The second opinion"
    NEITHER = "neither", "Neither: my reading differs from both"


def opinion_pdf_key(opinion: "Opinion", filename: str) -> str:
    """Storage key of a signed report: under its case, never guessable, never public."""
    return f"cases/{opinion.case.code}/opinions/{opinion.code}/report.pdf"


class Opinion(models.Model):
    """One specialist's reading of one case, read blind first and then compared; or a clinical
    specialist's consultation.

    Round 1 is the second opinion; round 2 is the tie-breaking third opinion. Phase one (the blind
    read) is filed before the original report, the patient's BI-RADS and any earlier opinion are
    shown, so they cannot anchor it; phase two grades concordance; signing makes the PDF.
    Only a radiologist's reading carries image grades (BI-RADS, density, RADPEER); a consultation
    is written with the records open and carries none.
    """

    class Role(models.TextChoices):
        READING = "reading", "Image reading (radiologist)"
        CONSULTATION = "consultation", "Consultation (clinical specialist)"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="opinions")
    reviewer = models.ForeignKey(ReviewerProfile, on_delete=models.PROTECT, related_name="opinions")
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.READING)
    round = models.PositiveSmallIntegerField(default=1)
    claimed_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    # Phase one: images and clinical question only.
    findings = models.TextField(blank=True)
    impression = models.TextField(blank=True)
    birads = models.CharField("BI-RADS", max_length=4, choices=READ_BIRADS, blank=True)
    breast_density = models.CharField(
        "breast density", max_length=1, choices=meaning.DENSITY_CHOICES, blank=True
    )
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
    recommendation_change = models.CharField(
        "your recommendation against the original report's",
        max_length=12,
        choices=meaning.Recommendation.choices,
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
    # An urgent or significant unexpected finding (ACR Practice Parameter for Communication of
    # Diagnostic Imaging Findings): the care team calls the patient and their doctor.
    urgent_finding = models.BooleanField(default=False)
    urgent_finding_note = models.TextField(blank=True)

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
    def is_consultation(self) -> bool:
        return self.role == Opinion.Role.CONSULTATION

    @property
    def meaning(self) -> "meaning.Meaning | None":
        """What this reading means for the patient, from the one table; None for a consultation
        or a reading not yet graded."""
        if self.is_consultation or not self.radpeer:
            return None
        return meaning.for_opinion(self)

    @property
    def is_discordant(self) -> bool:
        """The difference may matter for the patient's care, as the table of meaning decides."""
        found = self.meaning
        return found is not None and found.may_matter

    @property
    def density_paragraph(self) -> str:
        return meaning.density_paragraph(self.breast_density)


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
