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

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Upload {str(self.code)[:8]}"

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
