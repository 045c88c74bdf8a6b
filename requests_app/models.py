import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from localflavor.us.models import USStateField


class ExamType(models.TextChoices):
    MRI = "mri", "MRI"
    MAMMOGRAM = "mammogram", "Mammogram"
    CT = "ct", "CT scan"
    ULTRASOUND = "ultrasound", "Ultrasound"
    XRAY = "xray", "X-ray"
    PET = "pet", "PET or nuclear medicine scan"
    OTHER = "other", "Something else"


class BodyRegion(models.TextChoices):
    BRAIN = "brain", "Brain or head"
    HEAD_NECK = "head_neck", "Face, throat or neck"
    SPINE = "spine", "Spine or back"
    BREAST = "breast", "Breast"
    CHEST = "chest", "Chest or lungs"
    HEART = "heart", "Heart"
    ABDOMEN = "abdomen", "Abdomen (liver, kidneys, pancreas...)"
    PELVIS = "pelvis", "Pelvis (bladder, prostate, uterus...)"
    SHOULDER = "shoulder", "Shoulder"
    ARM = "arm", "Elbow, wrist or hand"
    HIP = "hip", "Hip"
    KNEE = "knee", "Knee"
    FOOT = "foot", "Ankle or foot"
    BONE = "bone", "Another bone or joint"
    WHOLE_BODY = "whole_body", "Whole body"
    OTHER = "other", "Somewhere else"


class Reason(models.TextChoices):
    SERIOUS_DIAGNOSIS = "serious_diagnosis", "I was told I have a serious condition"
    TREATMENT = "treatment", "Surgery or another major treatment was recommended"
    COMPLEX = "complex", "My condition is complex or rare"
    UNCLEAR = "unclear", "The result was unclear or I was told to wait and see"
    OTHER = "other", "Another reason"


class ReviewType(models.TextChoices):
    RADIOLOGY = "radiology", "Radiologist re-read of my images"
    CLINICAL = "clinical", "Consultation with a clinical specialist"
    BOTH = "both", "Both: a re-read and a consultation"


class ClinicalSpecialty(models.TextChoices):
    SURGEON = "surgeon", "Surgeon"
    ONCOLOGIST = "oncologist", "Oncologist (cancer specialist)"
    NEUROLOGIST = "neurologist", "Neurologist"
    ORTHOPEDIST = "orthopedist", "Orthopedic specialist"
    CARDIOLOGIST = "cardiologist", "Cardiologist"
    OTHER = "other", "Not sure: let the care team suggest one"


class VisitMode(models.TextChoices):
    REMOTE = "remote", "Remote: I don't need to travel"
    IN_PERSON = "in_person", "In person"


class BiRads(models.TextChoices):
    UNKNOWN = "unknown", "I don't know"
    # ACR BI-RADS Atlas, 5th ed.: "Incomplete: need additional imaging evaluation and/or prior
    # mammograms for comparison".
    B0 = "0", "0: Incomplete: additional imaging and/or prior mammograms needed for comparison"
    B1 = "1", "1: Negative"
    B2 = "2", "2: Benign"
    B3 = "3", "3: Probably benign"
    B4 = "4", "4: Suspicious"
    B4A = "4A", "4A: Low suspicion"
    B4B = "4B", "4B: Moderate suspicion"
    B4C = "4C", "4C: High suspicion"
    B5 = "5", "5: Highly suggestive of cancer"
    B6 = "6", "6: Known cancer, proven by biopsy"


class YesNoUnsure(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNSURE = "unsure", "I'm not sure"


class CaseQuerySet(models.QuerySet):
    def for_patient(self, user) -> "CaseQuerySet":
        """The cases a patient may see: their own."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(patient=user)

    def for_reviewer(self, user) -> "CaseQuerySet":
        """The cases a reviewer may see: assigned to them, or waiting in one of their queues.

        Access follows the work: it begins with the claim or the assignment and ends when the
        case is released, handed to someone else or closed (a closed case keeps its reviewer
        on record, but the reviewer keeps nothing of it).
        """
        profile = getattr(user, "reviewer_profile", None) if user.is_authenticated else None
        if profile is None or not profile.is_active:
            return self.none()
        queued = Q(
            status=Case.Status.QUEUED,
            assigned_reviewer__isnull=True,
            queue_id__in=profile.subspecialties.values("slug"),
        )
        held = Q(assigned_reviewer=profile) & ~Q(status=Case.Status.CLOSED)
        return self.filter(held | queued)


class Priority(models.IntegerChoices):
    ROUTINE = 0, "Routine"
    HIGH = 1, "High"
    URGENT = 2, "Urgent"


class Case(models.Model):
    """A patient's request for a second opinion on one imaging exam."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        NEEDS_RECORDS = "needs_records", "Needs records"
        AWAITING_INSURANCE = "awaiting_insurance", "Awaiting insurance"
        QUEUED = "queued", "Waiting for a specialist"
        IN_REVIEW = "in_review", "In review"
        REPORT_READY = "report_ready", "Report ready"
        CLOSED = "closed", "Closed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases"
    )
    status = models.CharField(
        max_length=24, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    # About the patient (the account holder may ask on behalf of someone they care for).
    patient_name = models.CharField("full name", max_length=200, blank=True)
    patient_birth_date = models.DateField("date of birth", null=True, blank=True)
    patient_state = USStateField("state where the patient lives", blank=True)
    # A physician gives an opinion under the licence of the state the patient is in at that time
    # (FSMB telemedicine policy): for an in-person visit, the visit's state.
    opinion_state = USStateField(
        "state you will be in when you receive the opinion",
        blank=True,
        help_text=(
            "Specialists must hold a licence for the state you are in when they give their "
            "opinion: usually where you live. If you will be travelling, choose where you will "
            "be. For an in-person visit, choose the state of the visit."
        ),
    )

    # The doctor who looks after the patient: who the care team calls, with the patient, about an
    # urgent finding (ACR Practice Parameter for Communication of Diagnostic Imaging Findings).
    physician_name = models.CharField("your doctor's name", max_length=200, blank=True)
    physician_practice = models.CharField("practice or hospital", max_length=200, blank=True)
    physician_phone = models.CharField("phone", max_length=40, blank=True)
    physician_email = models.EmailField("e-mail", blank=True)

    # About the scan.
    exam_type = models.CharField(
        "type of scan", max_length=16, choices=ExamType.choices, blank=True
    )
    body_region = models.CharField(
        "part of the body", max_length=16, choices=BodyRegion.choices, blank=True
    )
    exam_date = models.DateField("date of the scan", null=True, blank=True)
    facility_name = models.CharField(
        "where the scan was done", max_length=200, blank=True, help_text="Hospital or clinic name."
    )
    facility_location = models.CharField("city and state", max_length=200, blank=True)
    clinical_question = models.TextField("your question", max_length=2000, blank=True)
    reason = models.CharField(
        "why you want a second opinion", max_length=24, choices=Reason.choices, blank=True
    )
    reason_details = models.TextField("anything else we should know", max_length=2000, blank=True)
    scheduled_treatment_on = models.DateField(
        "date of a scheduled surgery, treatment or decision",
        null=True,
        blank=True,
        help_text="If one is already booked. We use it to get your opinion to you in time.",
    )

    # Mammogram specifics.
    birads = models.CharField(
        "BI-RADS category on the original report", max_length=8, choices=BiRads.choices, blank=True
    )
    had_biopsy = models.CharField(
        "was a biopsy done?", max_length=8, choices=YesNoUnsure.choices, blank=True
    )
    palpable_lump = models.CharField(
        "can you or a doctor feel a lump in the breast?",
        max_length=8,
        choices=YesNoUnsure.choices,
        blank=True,
    )

    # The specialist the patient asks for.
    requested_subspecialty = models.ForeignKey(
        "reviewers.Subspecialty",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requested_cases",
        verbose_name="kind of specialist",
    )
    review_type = models.CharField(
        "type of review", max_length=12, choices=ReviewType.choices, blank=True
    )
    clinical_specialty = models.CharField(
        "clinical specialist", max_length=16, choices=ClinicalSpecialty.choices, blank=True
    )
    visit_mode = models.CharField(
        "remote or in person", max_length=12, choices=VisitMode.choices, blank=True
    )

    # Where the case waits and who has it (filled by routing and the reviewer portal).
    queue = models.ForeignKey(
        "reviewers.Subspecialty",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="queued_cases",
    )
    routing_confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    routing_reasons = models.TextField(blank=True)
    # Something a machine could not settle (routing conflict, patient mismatch, a file that
    # could not be checked): a coordinator looks at it.
    needs_coordinator = models.BooleanField(default=False, db_index=True)
    coordinator_note = models.TextField(blank=True)
    assigned_reviewer = models.ForeignKey(
        "reviewers.ReviewerProfile",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_cases",
    )

    consent_at = models.DateTimeField(null=True, blank=True)

    # Triage: how soon, whether a coordinator paused the clock, and when this status should end.
    priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, default=Priority.ROUTINE, db_index=True
    )
    on_hold = models.BooleanField(default=False, db_index=True)
    hold_reason = models.CharField(max_length=300, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    sla_warn_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sla_escalated_at = models.DateTimeField(null=True, blank=True)

    # An urgent or significant unexpected finding: open until the care team has reached the
    # patient and their doctor (requests_app.findings).
    urgent_finding_at = models.DateTimeField(null=True, blank=True, db_index=True)
    urgent_finding_done_at = models.DateTimeField(null=True, blank=True)
    # A suspicious or highly suggestive result (BI-RADS 4/5) reaches the patient within 7 days of
    # the final interpretation (21 CFR 900.12(c), 2023 MQSA amendments).
    result_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    result_delivered_at = models.DateTimeField(null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "status_changed_at"]),
            models.Index(fields=["-priority", "sla_due_at"], name="case_triage_order"),
        ]

    def __str__(self) -> str:
        return f"Case {str(self.code)[:8]}"

    @property
    def short_code(self) -> str:
        return str(self.code)[:8].upper()

    @property
    def is_editable_by_patient(self) -> bool:
        return self.status in (Case.Status.DRAFT, Case.Status.NEEDS_RECORDS)

    @property
    def is_mammogram(self) -> bool:
        return self.exam_type == ExamType.MAMMOGRAM or self.body_region == BodyRegion.BREAST

    @property
    def is_mammography(self) -> bool:
        """A mammogram, as the patient declared it: its report carries breast density."""
        return self.exam_type == ExamType.MAMMOGRAM

    @property
    def patient_age(self) -> int | None:
        """Age in whole years on the day of the scan (or today, before we know that date)."""
        born = self.patient_birth_date
        if born is None:
            return None
        on = self.exam_date or timezone.localdate()
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    @property
    def patient_age_today(self) -> int | None:
        """Age in whole years today: what decides who may sign for the patient."""
        born = self.patient_birth_date
        if born is None:
            return None
        on = timezone.localdate()
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    @property
    def title(self) -> str:
        parts = [self.get_exam_type_display() if self.exam_type else "Scan"]
        if self.body_region and self.exam_type != ExamType.MAMMOGRAM:
            parts.append(f"of the {self.get_body_region_display().split(' (')[0].lower()}")
        return " ".join(parts)


class CaseEvent(models.Model):
    """One line of a case's timeline: who changed what, when and why."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    from_status = models.CharField(max_length=24, choices=Case.Status.choices, blank=True)
    to_status = models.CharField(max_length=24, choices=Case.Status.choices, blank=True)
    message = models.CharField(max_length=300)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return self.message


class Authorization(models.Model):
    """A HIPAA authorization (45 CFR 164.508) the patient signed in the app, with the exact text.

    It lets the facility that did the scan (and, for a mammogram, those that did earlier breast
    imaging) send the records straight to us. It names the patient and the exam as they were
    when it was signed: once those details change, it no longer describes the request and a new
    signature is needed.
    """

    class Authority(models.TextChoices):
        """A personal representative's authority to sign for the patient (45 CFR 164.502(g))."""

        PARENT = "parent", "Parent of a patient under 18"
        GUARDIAN = "guardian", "Legal guardian"
        HEALTH_CARE_POA = "health_care_poa", "Health care power of attorney or health care proxy"
        EXECUTOR = "executor", "Executor or administrator of the estate of a patient who died"

    class Revocation(models.TextChoices):
        ONLINE = "online", "By the patient on their request page"
        WRITTEN = "written", "In writing, recorded by a coordinator"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="authorizations")
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    signed_name = models.CharField(max_length=200)
    signer_relationship = models.CharField(max_length=100, blank=True)
    authority = models.CharField(
        "representative's authority", max_length=20, choices=Authority.choices, blank=True
    )
    # The uploaded proof of that authority (a records Document, addressed by its code).
    authority_document_code = models.UUIDField(null=True, blank=True)
    signed_at = models.DateTimeField(default=timezone.now)
    expires_on = models.DateField()
    text_version = models.CharField(max_length=20)
    text = models.TextField()
    # Who and what it names, as when signed.
    patient_name = models.CharField(max_length=200, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    exam = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    superseded_at = models.DateTimeField(
        null=True, blank=True, help_text="When a newer signature replaced this one."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation = models.CharField(max_length=12, choices=Revocation.choices, blank=True)
    revocation_received_on = models.DateField(
        "written revocation received on", null=True, blank=True
    )
    revocation_note = models.CharField(max_length=300, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"Authorization {self.text_version} signed {self.signed_at:%Y-%m-%d}"


class AuditEvent(models.Model):
    """An append-only record of a read of PHI (or a refused attempt)."""

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        DOWNLOAD = "download", "Downloaded"
        UPLOAD = "upload", "Uploaded"
        DELETE = "delete", "Deleted"
        DENIED = "denied", "Denied"
        # Coordinators' changes in the admin.
        ADD = "add", "Added"
        CHANGE = "change", "Changed"
        ADMIN_ACTION = "admin_action", "Ran an admin action"
        # A patient's share of their second opinion.
        REVOKE = "revoke", "Revoked"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    action = models.CharField(max_length=12, choices=Action.choices)
    target_type = models.CharField(max_length=40)
    target_code = models.CharField(max_length=64, blank=True)
    # A code rather than a foreign key: the record must outlive the case it speaks of.
    case_code = models.UUIDField(null=True, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # For a page: the records it displayed, as "kind:code" (a report, each series preview).
    shown = models.JSONField(default=list, blank=True)
    # A read by the recipient of a patient's share, who has no account (e.g. over DICOMweb).
    share_code = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target_type} {self.target_code}"


class SlaTarget(models.Model):
    """How long a case may stay in a status, for every queue or for one subspecialty's queue."""

    status = models.CharField(max_length=24, choices=Case.Status.choices)
    subspecialty = models.ForeignKey(
        "reviewers.Subspecialty",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="Empty: the target for every subspecialty without its own.",
    )
    hours = models.PositiveIntegerField(
        help_text="Hours allowed in this status, counted on the clock: nights, weekends and "
        "holidays included. Only a hold pauses it; high and urgent priority shorten it."
    )
    warn_hours = models.PositiveIntegerField(
        default=24, help_text="Show the case as due soon this many hours before the target."
    )

    class Meta:
        ordering = ["status", "subspecialty"]
        constraints = [
            models.UniqueConstraint(
                fields=["status", "subspecialty"], name="sla_target_per_status_and_subspecialty"
            ),
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(subspecialty__isnull=True),
                name="sla_default_target_per_status",
            ),
        ]
        verbose_name = "SLA target"

    def __str__(self) -> str:
        where = self.subspecialty_id or "any queue"
        return f"{self.get_status_display()} ({where}): {self.hours} h"


class Message(models.Model):
    """A message on a case between the patient and the care team (coordinators)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    # No author: the reply of a doctor the patient shared the case with (`share`), who has no
    # account.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    share = models.ForeignKey(
        "Share", on_delete=models.PROTECT, null=True, blank=True, related_name="replies"
    )
    from_care_team = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(
        null=True, blank=True, help_text="When the other side first read it."
    )

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Message {str(self.code)[:8]}"


class Notification(models.Model):
    """Something a user should know about, shown on the site and (for most kinds) emailed.

    The title holds no PHI beyond the recipient's first name: emails are built from it.
    """

    class Kind(models.TextChoices):
        STATUS = "status", "Status changed"
        RECORDS_MISSING = "records_missing", "Records needed"
        REPORT_READY = "report_ready", "Report ready"
        MESSAGE = "message", "New message"
        RECORDS_REQUEST = "records_request", "Records request reminder"
        SLA = "sla", "Case past its target time"
        URGENT_FINDING = "urgent_finding", "Urgent finding to communicate"
        COST = "cost", "Cost estimate changed"
        ASSIGNED = "assigned", "Case assigned to you"
        FOLLOW_UP = "follow_up", "Follow-up question"
        ANSWER = "answer", "Follow-up question answered"
        SHARE = "share", "Shared report opened or locked"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.title


class FindingContact(models.Model):
    """One call (or other contact) the care team made about an urgent finding or a suspicious
    result: with whom, how it went, and who made it."""

    class Party(models.TextChoices):
        PATIENT = "patient", "The patient"
        PHYSICIAN = "physician", "The patient's doctor"

    class Outcome(models.TextChoices):
        REACHED = "reached", "Spoke with them"
        MESSAGE = "message", "Left a message"
        NO_ANSWER = "no_answer", "No answer"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="finding_contacts")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    party = models.CharField(max_length=12, choices=Party.choices)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_party_display()}: {self.get_outcome_display().lower()}"


class Share(models.Model):
    """A link the patient gives one named person to read their second opinion, with a passcode
    passed on separately. Only hashes of the link's token and of the passcode are kept."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="shares")
    recipient_name = models.CharField(max_length=200)
    recipient_email = models.EmailField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    passcode_salt = models.CharField(max_length=32)
    passcode_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    max_opens = models.PositiveSmallIntegerField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # "Send to my doctor": the link was e-mailed to the doctor, who may write one reply.
    sent_to_doctor = models.BooleanField(default=False)
    # The passcode is e-mailed to the recipient on request, a new one-time code each time,
    # instead of being passed on by the patient.
    passcode_by_email = models.BooleanField(default=False)
    code_sent_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Share with {self.recipient_name}"


class ShareOpen(models.Model):
    """One opening of a share: the right passcode entered."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="opens")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"Opened {self.at:%Y-%m-%d %H:%M}"
