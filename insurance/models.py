"""Payers, plans and their rules; what the patient told us; coverage checks; the paperwork.

Plans are data a coordinator edits in the admin, because benefits change every plan year and
faster than we deploy. `insurance.coverage` reads them (as plain values) and decides.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from requests_app.models import ReviewType

NOT_NEGATIVE = [MinValueValidator(Decimal("0"))]
PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class PlanType(models.TextChoices):
    COMMERCIAL = "commercial", "Private or employer insurance"
    MEDICARE = "medicare", "Medicare"
    MEDICARE_ADVANTAGE = "medicare_advantage", "Medicare Advantage"
    MEDICAID = "medicaid", "Medicaid"
    CHIP = "chip", "CHIP (Children's Health Insurance Program)"
    NONE = "none", "No insurance: I'll pay myself"


class Referral(models.TextChoices):
    YES = "yes", "Yes, I have a referral"
    NO = "no", "No"
    UNSURE = "unsure", "I'm not sure"


class SecondOpinionCover(models.TextChoices):
    ALWAYS = "always", "Always"
    SERIOUS = "serious", "Only for a serious diagnosis or recommended surgery"
    PROCEDURE = (
        "procedure",
        "Only when surgery or a major diagnostic or therapeutic procedure is recommended "
        "(Medicare's rule)",
    )
    NEVER = "never", "Never"


class CostSharing(models.TextChoices):
    """How the plan shares the cost of a specialist's second opinion with the member."""

    COPAY = "copay", "A co-pay only"
    DEDUCTIBLE_COINSURANCE = "deductible_coinsurance", "Deductible, then coinsurance"
    DEDUCTIBLE_COPAY = "deductible_copay", "Deductible, then a co-pay"


class Payer(models.Model):
    """An insurance company or government programme that pays claims."""

    name = models.CharField(max_length=120, unique=True)
    payer_id = models.CharField(
        "payer ID",
        max_length=20,
        blank=True,
        help_text="The clearinghouse payer identifier used in X12 270/271 eligibility requests.",
    )
    correspondence = models.TextField(
        "address for letters",
        blank=True,
        help_text="Where prior-authorisation and network-exception requests are sent.",
    )
    phone = models.CharField("provider services phone", max_length=40, blank=True)
    fax = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Plan(models.Model):
    """One plan of a payer and its rules for a second opinion on imaging."""

    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="plans")
    name = models.CharField(max_length=120)
    plan_type = models.CharField(
        max_length=24, choices=[c for c in PlanType.choices if c[0] != PlanType.NONE]
    )
    is_active = models.BooleanField(default=True, help_text="Only active plans are offered.")

    second_opinion = models.CharField(
        "second opinion covered",
        max_length=12,
        choices=SecondOpinionCover.choices,
        default=SecondOpinionCover.ALWAYS,
    )
    covers_reread = models.BooleanField(
        "pays for a radiologist's re-read alone",
        default=True,
        help_text=(
            "A radiologist's second interpretation of images made elsewhere, billed with the "
            "code below; a consultation with a clinician is billed otherwise."
        ),
    )
    reread_code = models.CharField(
        "code the plan takes for a re-read",
        max_length=80,
        default="CPT 76140",
        help_text=(
            "CPT 76140 (consultation on X-ray examination made elsewhere) for most plans. "
            "Medicare does not accept 76140: a documented second interpretation is billed as "
            "the exam's own code with modifier 77."
        ),
    )
    prior_auth_required = models.BooleanField("prior authorisation required", default=False)
    employer_group_plan = models.BooleanField(
        "employer group plan (ERISA)",
        default=False,
        help_text=(
            "Private plans only: an employer's group health plan, whose claims follow ERISA's "
            "timeframes (29 CFR 2560.503-1)."
        ),
    )
    referral_required = models.BooleanField(default=False)

    cost_sharing = models.CharField(
        max_length=24, choices=CostSharing.choices, default=CostSharing.DEDUCTIBLE_COINSURANCE
    )
    copay = models.DecimalField(
        "co-pay", max_digits=8, decimal_places=2, default=Decimal("0"), validators=NOT_NEGATIVE
    )
    deductible = models.DecimalField(
        "annual deductible for diagnostic services",
        max_digits=8,
        decimal_places=2,
        default=Decimal("0"),
        validators=NOT_NEGATIVE,
        help_text=(
            "Not used for Original Medicare: the Part B deductible of the year of service is "
            "(insurance/figures.py)."
        ),
    )
    coinsurance_percent = models.DecimalField(
        "coinsurance (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=PERCENT,
        help_text="The patient's share after the deductible, in network.",
    )

    has_network = models.BooleanField(
        default=True,
        help_text=(
            "Off for plans without a provider network (Original Medicare: any doctor who accepts "
            "Medicare)."
        ),
    )
    in_network_reviewers = models.ManyToManyField(
        "reviewers.ReviewerProfile", blank=True, related_name="network_plans"
    )
    in_network_facilities = models.TextField(
        blank=True,
        help_text=(
            "Facility names, one per line. A reviewer whose institution is listed here is in "
            "network, as is every reviewer chosen above."
        ),
    )
    out_of_network_covered = models.BooleanField(
        default=False,
        help_text="Off for plans that pay nothing out of network (HMO, EPO).",
    )
    out_of_network_deductible = models.DecimalField(
        "out-of-network deductible",
        max_digits=8,
        decimal_places=2,
        default=Decimal("0"),
        validators=NOT_NEGATIVE,
        help_text="A separate annual deductible for out-of-network care, if the plan has one.",
    )
    out_of_network_coinsurance_percent = models.DecimalField(
        "out-of-network coinsurance (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=PERCENT,
    )
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["payer__name", "name"]
        constraints = [models.UniqueConstraint(fields=["payer", "name"], name="unique_plan_name")]

    def __str__(self) -> str:
        return f"{self.payer.name}: {self.name}" if self.payer_id else self.name

    def clean(self) -> None:
        if self.out_of_network_covered and not self.has_network:
            raise ValidationError(
                {"out_of_network_covered": "A plan without a network has no out-of-network."}
            )

    @property
    def facility_names(self) -> list[str]:
        return [line.strip() for line in self.in_network_facilities.splitlines() if line.strip()]

    @property
    def decision_rules(self) -> str:
        """Which timeframes its prior-authorization decisions follow (keys of
        `insurance.figures.PRIOR_AUTHORIZATION_TIME`; "" when no federal rule applies)."""
        if self.plan_type in (PlanType.MEDICARE_ADVANTAGE, PlanType.MEDICAID, PlanType.CHIP):
            return self.plan_type
        if self.plan_type == PlanType.COMMERCIAL and self.employer_group_plan:
            return "erisa"
        return ""


class ServicePrice(models.Model):
    """Our price list: what each kind of review costs a patient who pays themselves."""

    review_type = models.CharField(max_length=12, choices=ReviewType.choices, unique=True)
    self_pay_price = models.DecimalField(max_digits=8, decimal_places=2, validators=NOT_NEGATIVE)
    allowed_amount = models.DecimalField(
        "typical amount insurers allow",
        max_digits=8,
        decimal_places=2,
        validators=NOT_NEGATIVE,
        help_text="What an insurer usually allows for the service; estimates are based on it.",
    )
    cpt_codes = models.CharField("CPT codes", max_length=60, blank=True)
    description = models.CharField(max_length=200)

    class Meta:
        ordering = ["self_pay_price"]

    def __str__(self) -> str:
        return f"{self.get_review_type_display()}: ${self.self_pay_price}"


class CaseInsurance(models.Model):
    """The insurance the patient told us about for one case."""

    case = models.OneToOneField(
        "requests_app.Case", on_delete=models.CASCADE, related_name="insurance"
    )
    plan_type = models.CharField("type of coverage", max_length=24, choices=PlanType.choices)
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="case_insurances"
    )
    insurer_name = models.CharField("insurance company", max_length=120, blank=True)
    member_id = models.CharField("member ID", max_length=40, blank=True)
    group_number = models.CharField("group number", max_length=40, blank=True)
    has_referral = models.CharField(
        "do you have a referral from your doctor?",
        max_length=8,
        choices=Referral.choices,
        blank=True,
    )
    # The patient chose to pay themselves although insured (plan says no, or they'd rather not
    # wait): the price they were shown is kept with the choice.
    self_pay_chosen_at = models.DateTimeField(null=True, blank=True)
    self_pay_price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    # Original Medicare: the Advance Beneficiary Notice (Form CMS-R-131) the patient signed before
    # paying themselves or having Medicare billed for what it may not pay, with its exact text.
    abn_option = models.CharField(
        "ABN option chosen",
        max_length=1,
        choices=[("1", "Option 1"), ("2", "Option 2")],
        blank=True,
    )
    abn_signed_name = models.CharField(max_length=200, blank=True)
    abn_signed_at = models.DateTimeField(null=True, blank=True)
    abn_text = models.TextField(blank=True)
    # A coordinator settled it with the insurer outside the rules (a phone call, an appeal won).
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cleared_note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "case insurance"

    def __str__(self) -> str:
        return self.get_plan_type_display()

    @property
    def is_self_pay(self) -> bool:
        return self.plan_type == PlanType.NONE or self.self_pay_chosen_at is not None


class CoverageCheck(models.Model):
    """One run of the coverage rules for a case, kept with what it was based on."""

    class Outcome(models.TextChoices):
        COVERED = "covered", "Covered"
        NOT_COVERED = "not_covered", "Not covered"
        SELF_PAY = "self_pay", "Self-pay"
        UNKNOWN = "unknown", "To be checked"

    case = models.ForeignKey(
        "requests_app.Case", on_delete=models.CASCADE, related_name="coverage_checks"
    )
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    plan = models.ForeignKey(Plan, on_delete=models.SET_NULL, null=True, blank=True)
    source = models.CharField(max_length=40, help_text="The eligibility client that answered.")
    # A hash of every input: a check is run again only when one of them changed.
    fingerprint = models.CharField(max_length=64)
    # A hash of what the rules are run on (plan, rules version, the case's and the insurance's
    # answers): while it matches, the check is reused without running the rules.
    inputs = models.CharField(max_length=64, blank=True, default="")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    headline = models.CharField(max_length=200)
    estimate_low = models.DecimalField(max_digits=8, decimal_places=2)
    estimate_high = models.DecimalField(max_digits=8, decimal_places=2)
    result = models.JSONField()

    class Meta:
        ordering = ["-checked_at", "-pk"]
        get_latest_by = ["checked_at", "pk"]

    def __str__(self) -> str:
        return f"{self.headline} ({self.checked_at:%Y-%m-%d %H:%M})"


class Paperwork(models.Model):
    """What every item a coordinator moves along with an insurer has."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference_number = models.CharField(
        max_length=60, blank=True, help_text="The insurer's reference for this request."
    )
    note = models.TextField("coordinator's note", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class PriorAuthorization(Paperwork):
    """The insurer's prior authorisation for the second opinion."""

    class Status(models.TextChoices):
        NEEDED = "needed", "Needed: not yet requested"
        REQUESTED = "requested", "Requested from the insurer"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"

    case = models.OneToOneField(
        "requests_app.Case", on_delete=models.CASCADE, related_name="prior_authorization"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEEDED)
    expedited = models.BooleanField(
        "expedited decision asked for",
        default=False,
        help_text="When the patient's doctor says waiting could seriously jeopardize their health.",
    )
    requested_at = models.DateTimeField(null=True, blank=True)
    decision_due_at = models.DateTimeField(
        "decision due by",
        null=True,
        blank=True,
        help_text="From the plan type's timeframe, counted from the request.",
    )
    valid_until = models.DateField(null=True, blank=True)

    class Meta(Paperwork.Meta):
        verbose_name = "prior authorization"

    def __str__(self) -> str:
        return f"Prior authorization for {self.case}: {self.get_status_display()}"


class CaseReferral(Paperwork):
    """The referral from the patient's primary care physician: a letter or the doctor's details."""

    class Status(models.TextChoices):
        NEEDED = "needed", "Needed"
        RECEIVED = "received", "Received: to be checked"
        ACCEPTED = "accepted", "On file"
        REJECTED = "rejected", "Not valid: a new one is needed"

    case = models.OneToOneField(
        "requests_app.Case", on_delete=models.CASCADE, related_name="referral"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEEDED)
    letter = models.ForeignKey(
        "records.Document",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The referral letter the patient uploaded with their records.",
    )
    physician_name = models.CharField(max_length=200, blank=True)
    physician_npi = models.CharField("physician NPI", max_length=10, blank=True)
    physician_phone = models.CharField(max_length=40, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta(Paperwork.Meta):
        verbose_name = "referral"

    def __str__(self) -> str:
        return f"Referral for {self.case}: {self.get_status_display()}"


class NetworkGapException(Paperwork):
    """A request that the insurer pay an out-of-network reviewer at the in-network rate."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Letter ready to send"
        SENT = "sent", "Sent to the insurer"
        GRANTED = "granted", "Granted"
        DENIED = "denied", "Denied"

    case = models.OneToOneField(
        "requests_app.Case", on_delete=models.CASCADE, related_name="network_gap_exception"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    subspecialty = models.ForeignKey(
        "reviewers.Subspecialty", on_delete=models.PROTECT, related_name="+"
    )
    clinical_reason = models.TextField(
        blank=True,
        help_text=(
            "Why this patient needs this kind of specialist (from the records or the referring "
            "doctor). Required before the letter is sent; it goes into the letter."
        ),
    )
    # The letter exactly as sent (the PDF is rendered from it); a draft is made afresh.
    letter_text = models.TextField()
    letter_date = models.DateField(default=timezone.localdate)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta(Paperwork.Meta):
        verbose_name = "network gap exception"

    def __str__(self) -> str:
        return f"Network gap exception for {self.case}: {self.get_status_display()}"


class GoodFaithEstimate(models.Model):
    """A Good Faith Estimate for a patient who pays themselves (45 CFR 149.610), kept as issued.

    The items, codes, provider identifiers and disclaimers are stored as they were given: a bill
    is later compared with this (the dispute process of 45 CFR 149.620), and it must be kept.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(
        "requests_app.Case", on_delete=models.CASCADE, related_name="good_faith_estimates"
    )
    issued_at = models.DateTimeField(default=timezone.now)
    patient_name = models.CharField(max_length=200)
    patient_birth_date = models.DateField(null=True, blank=True)
    # [{"provider", "npi", "tin", "location", "description", "codes", "diagnosis_codes",
    #   "charge"}], amounts as strings.
    items = models.JSONField()
    total = models.DecimalField(max_digits=8, decimal_places=2)
    dispute_threshold = models.DecimalField(max_digits=8, decimal_places=2)
    fingerprint = models.CharField(max_length=64)

    class Meta:
        ordering = ["-issued_at", "-pk"]

    def __str__(self) -> str:
        return f"Good Faith Estimate {self.issued_at:%Y-%m-%d} ({self.total})"
