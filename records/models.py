import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.text import get_valid_filename


def document_key(document: "Document", filename: str) -> str:
    """Storage key of a document: under its case, never guessable, never public."""
    safe = get_valid_filename(filename)[-120:] or "document.pdf"
    return f"cases/{document.case.code}/documents/{document.code}/{safe}"


class Document(models.Model):
    """A written record the patient added: the original report, a pathology report, a letter."""

    class Kind(models.TextChoices):
        ORIGINAL_REPORT = "original_report", "Original radiology report"
        PATHOLOGY_REPORT = "pathology_report", "Pathology (biopsy) report"
        REFERRAL_LETTER = "referral_letter", "Referral letter"
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
    def prefix(self) -> str:
        return f"cases/{self.case.code}/uploads/{self.code}/"


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


class Study(models.Model):
    """A DICOM study found in an upload (headers only; no patient identifiers kept here)."""

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

    class Meta:
        ordering = ["upload", "study_date", "pk"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.description or self.modalities or "Study"


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
