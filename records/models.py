import uuid
from datetime import date, datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from .problems import INTERNAL_ERROR


def document_key(document: "Document", filename: str) -> str:
    """Storage key of a document: under its case, never guessable, never public.

    The patient's file name ("Jane_Doe_MRI_1975.pdf") stays out of it: keys show up in bucket
    listings, storage logs and backups. The name is kept in `original_name`, for the page and
    the download; only PDFs are accepted, so the extension is always ".pdf".
    """
    return f"cases/{document.case.code}/documents/{document.code}.pdf"


class Document(models.Model):
    """A written record the patient added: the original report, a pathology report, a letter."""

    class Kind(models.TextChoices):
        ORIGINAL_REPORT = "original_report", "Original radiology report"
        PATHOLOGY_REPORT = "pathology_report", "Pathology (biopsy) report"
        REFERRAL_LETTER = "referral_letter", "Referral letter"
        AUTHORITY = "authority", "Proof of authority to act for the patient"
        OTHER = "other", "Other medical record"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(
        "requests_app.Case", on_delete=models.CASCADE, related_name="documents"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    file = models.FileField(upload_to=document_key, max_length=300)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({str(self.code)[:8]})"


class Upload(models.Model):
    """One batch of image files the patient sent: a CD's folder, a zip, or loose files."""

    class Status(models.TextChoices):
        RECEIVING = "receiving", "Receiving"
        RECEIVED = "received", "Received, waiting to be checked"
        VALIDATING = "validating", "Being checked"
        VALID = "valid", "Checked: readable images"
        INVALID = "invalid", "Checked: problems found"
        FAILED = "failed", "Could not be checked"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey("requests_app.Case", on_delete=models.CASCADE, related_name="uploads")
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.RECEIVING, db_index=True
    )
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    file_count = models.PositiveIntegerField(default=0)
    total_bytes = models.PositiveBigIntegerField(default=0)
    # Validation: how often a worker started on it (a poison file must not loop forever),
    # when it finished, and what it counted.
    validation_attempts = models.PositiveSmallIntegerField(default=0)
    validation_started_at = models.DateTimeField(null=True, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    dicom_count = models.PositiveIntegerField(default=0)
    ignored_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Upload {str(self.code)[:8]}"

    @property
    def is_checked(self) -> bool:
        return self.status in (self.Status.VALID, self.Status.INVALID, self.Status.FAILED)

    @property
    def names_several_people(self) -> bool:
        """Its images name several people: the patient says whose each study is."""
        people = ("multiple_patients", "people_answered")
        if "problems" in getattr(self, "_prefetched_objects_cache", {}):
            return any(problem.code in people for problem in self.problems.all())
        return self.problems.filter(code__in=people).exists()

    @property
    def prefix(self) -> str:
        return upload_prefix(self.case.code, self.code)


def upload_prefix(case_code: uuid.UUID, upload_code: uuid.UUID) -> str:
    """Where an upload's files are stored: under opaque codes, never a name."""
    return f"cases/{case_code}/uploads/{upload_code}/"


class UploadFile(models.Model):
    """One file of an upload, stored under an opaque key; its folder path is kept here only.

    Keys carry no file or folder names: those often hold the patient's name on a CD.
    """

    class Status(models.TextChoices):
        RECEIVING = "receiving", "Receiving"
        COMPLETE = "complete", "Complete"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="files")
    # Set on a file the worker took out of an uploaded zip, so reviewers can download it.
    extracted_from = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="extracted"
    )
    relative_path = models.CharField(max_length=500)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVING)
    multipart_id = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    # Filled as the bytes pass through us: on completion on disk, by the worker on S3.
    sha256 = models.CharField(max_length=64, blank=True)
    # Taken with the SHA-256, in the same pass; empty on files stored before it was kept.
    crc32 = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["relative_path"]
        indexes = [models.Index(fields=["upload", "status"])]

    def __str__(self) -> str:
        return f"File {str(self.code)[:8]}"

    @property
    def key(self) -> str:
        return f"{self.upload.prefix}{self.code}"


class UploadProblem(models.Model):
    """Something the check of an upload found, with a sentence that tells the patient what to do."""

    class Severity(models.TextChoices):
        ERROR = "error", "Must be fixed"
        WARNING = "warning", "Good to know"

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="problems")
    code = models.CharField(max_length=40, db_index=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    message = models.TextField()
    path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-severity", "code", "path"]

    def __str__(self) -> str:
        return self.code

    @property
    def for_the_patient_to_fix(self) -> bool:
        """An error the patient must act on. internal_error blocks like one, but it is ours."""
        return self.severity == self.Severity.ERROR and self.code != INTERNAL_ERROR


class Study(models.Model):
    """A DICOM study found in an upload (headers only).

    No patient identifiers are kept here, with one exception: when an upload holds images of
    several people, each study keeps the name and birth date its images give, so that the
    patient who uploaded them can say which study is of the person the request is for.
    """

    class Person(models.TextChoices):
        UNANSWERED = "", "Not answered yet"
        REQUESTED = "requested", "The person this request is for"
        OTHER_NAME = "other_name", "The person this request is for, under another name"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey("requests_app.Case", on_delete=models.CASCADE, related_name="studies")
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="studies")
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    modalities = models.CharField(max_length=100, blank=True)
    body_parts = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=200, blank=True)
    study_date = models.CharField(max_length=8, blank=True)
    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    patient_name = models.CharField("name in the images", max_length=200, blank=True)
    patient_birth_date = models.CharField("birth date in the images", max_length=8, blank=True)
    person = models.CharField(
        "whose images (the patient's answer)", max_length=12, choices=Person.choices, blank=True
    )
    person_explanation = models.TextField("the patient's explanation", blank=True)

    class Meta:
        ordering = ["upload", "study_date", "pk"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.description or self.modalities or "Study"

    @property
    def name_in_images(self) -> str:
        """The DICOM name ("FAMILY^GIVEN^MIDDLE") in reading order: "GIVEN MIDDLE FAMILY"."""
        family, _, rest = self.patient_name.split("=")[0].partition("^")
        given = " ".join(part for part in rest.split("^")[:2] if part)
        return " ".join(part for part in (given, family) if part).strip()

    @property
    def taken_on(self) -> date | None:
        """The study date the images give (DICOM DA), or None."""
        try:
            return datetime.strptime(self.study_date, "%Y%m%d").date()
        except ValueError:
            return None

    @property
    def far_from_exam_date(self) -> bool:
        """More than 30 days between the images' date and the exam date the patient gave."""
        given = self.case.exam_date
        return bool(self.taken_on and given and abs((self.taken_on - given).days) > 30)

    @property
    def birth_date_in_images(self) -> date | None:
        try:
            return datetime.strptime(self.patient_birth_date, "%Y%m%d").date()
        except ValueError:
            return None


class Series(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    preview_key = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["study", "series_number", "pk"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return self.description or self.modality or "Series"


class Instance(models.Model):
    """One stored image (SOP instance) and the file that holds it."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    file = models.ForeignKey(UploadFile, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    frames = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["series", "instance_number", "pk"]

    def __str__(self) -> str:
        return self.sop_instance_uid


class RecordsRequest(models.Model):
    """The patient's request to the facility that did the scan for a copy of their records.

    Under HIPAA's right of access (45 CFR 164.524(b)(2)) the facility has 30 days from its
    receipt of the request, and one more 30 days if within the first it tells the patient in
    writing why and the date it will act; the clock fields follow that (figures in
    `records.access_rules`). A request may instead ask the facility to send the records straight
    to us: that disclosure rests on the patient's HIPAA authorization, which the letter encloses.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Not sent yet"
        SENT = "sent", "Sent, waiting for the facility"
        EXTENDED = "extended", "Facility extended its deadline"
        OVERDUE = "overdue", "Past the deadline"
        RECEIVED = "received", "Records received"

    class Delivery(models.TextChoices):
        CD = "cd", "On a CD or DVD"
        USB = "usb", "On a USB stick"
        PORTAL = "portal", "Through the facility's patient portal or a download link"
        EMAIL = "email", "By secure email"

    class SentBy(models.TextChoices):
        MAIL = "mail", "By mail"
        FAX = "fax", "By fax"
        EMAIL = "email", "By email"
        PORTAL = "portal", "Through the facility's patient portal"
        IN_PERSON = "in_person", "Handed in at the facility"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(
        "requests_app.Case", on_delete=models.CASCADE, related_name="records_requests"
    )
    facility_name = models.CharField("facility", max_length=200)
    facility_address = models.TextField("facility's mailing address", max_length=500, blank=True)
    facility_email = models.EmailField("facility's email", blank=True)
    facility_fax = models.CharField("facility's fax number", max_length=40, blank=True)
    exam_date = models.DateField("date of the scan", null=True, blank=True)
    exam_description = models.CharField("the scan", max_length=200)

    wants_images = models.BooleanField("the full DICOM image files of the exam", default=True)
    wants_report = models.BooleanField("the written radiology report", default=True)
    wants_prior_mammograms = models.BooleanField(
        "earlier mammogram images and their reports", default=False
    )
    wants_pathology = models.BooleanField("any pathology (biopsy) report", default=False)
    delivery = models.CharField(
        "how to send them", max_length=8, choices=Delivery.choices, default=Delivery.CD
    )
    send_to_us = models.BooleanField(
        "send them straight to SecondOpinion",
        default=False,
        help_text="Uses your signed HIPAA authorization, which goes with the letter.",
    )
    send_to = models.TextField("where to send them", max_length=500, blank=True)
    # The authorization a letter to send the records to us relies on (set when it is signed).
    authorization = models.ForeignKey(
        "requests_app.Authorization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="records_requests",
    )

    signed_name = models.CharField(max_length=200, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    # Dates the patient gives: the day they sent the letter and how, the day the facility
    # confirmed it had it, the date an extension notice gave, the day the records arrived.
    sent_on = models.DateField(null=True, blank=True)
    sent_by = models.CharField("how it was sent", max_length=12, choices=SentBy.choices, blank=True)
    request_received_on = models.DateField(
        "the facility received the request on", null=True, blank=True
    )
    due_on = models.DateField(null=True, blank=True, db_index=True)
    extension_noted_on = models.DateField(null=True, blank=True)
    extension_due_on = models.DateField(
        "date the facility gave in its extension notice", null=True, blank=True
    )
    extension_reason = models.CharField(max_length=300, blank=True)
    received_on = models.DateField(null=True, blank=True)
    reminded_before_at = models.DateTimeField(null=True, blank=True)
    reminded_overdue_at = models.DateTimeField(null=True, blank=True)
    escalation_generated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Records request {str(self.code)[:8]}"

    def status_on(self, today) -> str:
        if self.received_on:
            return self.Status.RECEIVED
        if not self.sent_on:
            return self.Status.DRAFT
        if today > self.due_on:
            return self.Status.OVERDUE
        return self.Status.EXTENDED if self.extension_noted_on else self.Status.SENT

    @property
    def status(self) -> str:
        return self.status_on(timezone.localdate())

    def get_status_display(self) -> str:
        return self.Status(self.status).label

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OVERDUE

    @property
    def days_left(self) -> int | None:
        """Days until the facility's deadline (negative once it has passed)."""
        if self.due_on is None:
            return None
        return (self.due_on - timezone.localdate()).days

    @property
    def days_late(self) -> int:
        return max(0, -(self.days_left or 0))


class DicomWebToken(models.Model):
    """A bearer token for the read-only DICOMweb service, scoped to one share of a case or to
    one reviewer's assignment of it. Only the token's SHA-256 is kept; it stops working when
    its scope ends (the share expires or is revoked; the case is handed on or closed) or when
    it is revoked itself."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True)
    case = models.ForeignKey(
        "requests_app.Case", on_delete=models.CASCADE, related_name="dicomweb_tokens"
    )
    share = models.ForeignKey(
        "requests_app.Share",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="dicomweb_tokens",
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="dicomweb_tokens",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # When a request last opened it (to the minute), and when its holder revoked it.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                name="dicomweb_token_has_one_scope",
                condition=(
                    models.Q(share__isnull=False, reviewer__isnull=True)
                    | models.Q(share__isnull=True, reviewer__isnull=False)
                ),
            )
        ]

    def __str__(self) -> str:
        return f"DICOMweb token {str(self.code)[:8]}"
