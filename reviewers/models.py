from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models

from requests_app.models import BodyRegion, ExamType

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
    """A specialist who reads studies and writes second-opinion reports."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer_profile"
    )
    display_name = models.CharField(max_length=120)
    subspecialties = models.ManyToManyField(Subspecialty, related_name="reviewers")
    institution = models.CharField(max_length=200, blank=True)
    bio = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


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
