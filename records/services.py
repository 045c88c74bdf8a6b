"""Storing what patients send: written records (PDF) and image files.

Storage I/O happens outside database transactions: a file is written first, then its row; a
failure in between leaves an orphan file for the sweeper, never a row without its file.
"""

import hashlib
import posixpath
from collections.abc import Sequence
from typing import IO

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from requests_app.models import Case, CaseEvent
from requests_app.services import ensure_editable

from .forms import EMPTY_FILE
from .models import Document, Upload, UploadFile

# Signatures of the files patients most often pick by mistake.
SIGNATURES = [
    (0, b"%PDF-", "pdf"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF8", "gif"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"PK\x03\x04", "zip"),
    (128, b"DICM", "dicom"),
]
PICTURES = {"jpeg", "png", "gif", "tiff", "heic"}


class RecordError(Exception):
    """A file we cannot accept; the message tells the patient what to do instead."""


def sniff(head: bytes) -> str:
    """What a file is, from its first bytes: 'pdf', 'jpeg', 'zip', 'dicom', ... or 'unknown'."""
    for offset, magic, kind in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "heic"
    return "unknown"


def _read_head(fileobj: IO[bytes]) -> bytes:
    fileobj.seek(0)
    head = fileobj.read(132)
    fileobj.seek(0)
    return head


def _sha256(fileobj: IO[bytes]) -> str:
    fileobj.seek(0)
    digest = hashlib.file_digest(fileobj, "sha256").hexdigest()
    fileobj.seek(0)
    return digest


def check_pdf(uploaded: UploadedFile) -> int:
    """Refuse anything but a readable, unencrypted PDF of a sensible size; return its pages."""
    if uploaded.size == 0:
        raise RecordError(EMPTY_FILE)
    if uploaded.size > settings.DOCUMENT_MAX_BYTES:
        raise RecordError(
            f"This file is {filesizeformat(uploaded.size)}; reports are usually well under "
            f"5 MB and we accept up to {filesizeformat(settings.DOCUMENT_MAX_BYTES)}. If it "
            "holds your images, add them under “Images” instead."
        )
    kind = sniff(_read_head(uploaded))
    if kind in PICTURES:
        raise RecordError(
            f"This is a picture ({kind.upper()}), not a PDF. Please add the report as a PDF: "
            "most phones can scan a paper page to PDF. If it is a picture of your scan, the "
            "specialist needs the original DICOM image files instead (see “Images”)."
        )
    if kind == "dicom":
        raise RecordError("This is a DICOM image, not a report. Add it under “Images” instead.")
    if kind == "zip":
        raise RecordError(
            "This is a zip archive, not a PDF. If it holds your images, add it under “Images”."
        )
    if kind != "pdf":
        raise RecordError(
            "This file is not a PDF. Please add the written report as a PDF document."
        )
    try:
        reader = PdfReader(uploaded.file, strict=False)
        if reader.is_encrypted:
            raise RecordError(
                "This PDF is protected by a password. Please save a copy without a password "
                "(or ask the facility for one) and add that instead."
            )
        pages = len(reader.pages)
    except RecordError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise RecordError(
            "This PDF seems to be damaged and cannot be opened. Please download it again from "
            "where you got it and add the new copy."
        ) from exc
    finally:
        uploaded.seek(0)
    if pages == 0:
        raise RecordError("This PDF has no pages. Please check you chose the right file.")
    return pages


def add_document(case: Case, *, by, kind: str, uploaded: UploadedFile) -> Document:
    """Check and store a PDF record on an editable case."""
    ensure_editable(case)
    pages = check_pdf(uploaded)
    document = Document(
        case=case,
        kind=kind,
        original_name=uploaded.name[-255:],
        size=uploaded.size,
        sha256=_sha256(uploaded),
        page_count=pages,
        uploaded_by=by,
    )
    document.file.save(uploaded.name, uploaded, save=False)
    with transaction.atomic():
        document.save()
        CaseEvent.objects.create(
            case=case, actor=by, message=f"{document.get_kind_display()} added."
        )
    return document


def delete_document(document: Document, *, by) -> None:
    """Remove a record the patient added, while they may still change the request."""
    ensure_editable(document.case)
    name = document.file.name
    with transaction.atomic():
        document.delete()
        CaseEvent.objects.create(
            case=document.case, actor=by, message=f"{document.get_kind_display()} removed."
        )
    default_storage.delete(name)


def clean_relative_path(raw: str, fallback: str) -> str:
    """A stored relative path: forward slashes, no '..', no leading slash, no drive letter."""
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if parts and len(parts[0]) == 2 and parts[0][1] == ":":
        parts = parts[1:]
    path = posixpath.join(*parts) if parts else fallback
    return path[-400:]


def store_upload(
    case: Case, *, by, files: Sequence[UploadedFile], relative_paths: Sequence[str] = ()
) -> Upload:
    """Store a batch of image files as one upload, keeping the folder layout they came in."""
    ensure_editable(case)
    if not files:
        raise RecordError("Choose the image files or the folder from your CD first.")
    kinds = [sniff(_read_head(f)) for f in files]
    if all(f.size == 0 for f in files):
        raise RecordError("These files are empty (0 bytes). Please choose them again.")
    if all(kind == "pdf" for kind in kinds):
        raise RecordError(
            "These are PDF documents, not images. Add a report under “Original report”; for "
            "the images we need the DICOM files from the CD or portal."
        )
    if all(kind in PICTURES for kind in kinds):
        raise RecordError(
            "These are ordinary pictures (like photos or screenshots), not the medical images. "
            "Ask the facility for the full DICOM files on a CD, USB stick or patient portal."
        )
    upload = Upload.objects.create(case=case, uploaded_by=by)
    rows, total = [], 0
    for index, uploaded in enumerate(files):
        raw = relative_paths[index] if index < len(relative_paths) else ""
        path = clean_relative_path(raw or uploaded.name, fallback=f"file-{index}")
        digest = _sha256(uploaded)
        key = default_storage.save(upload.prefix + path, uploaded)
        rows.append(
            UploadFile(
                upload=upload, relative_path=path, key=key, size=uploaded.size, sha256=digest
            )
        )
        total += uploaded.size
    with transaction.atomic():
        UploadFile.objects.bulk_create(rows)
        Upload.objects.filter(pk=upload.pk).update(
            status=Upload.Status.RECEIVED,
            completed_at=timezone.now(),
            file_count=len(rows),
            total_bytes=total,
        )
        CaseEvent.objects.create(
            case=case,
            actor=by,
            message=f"Images uploaded: {len(rows)} file{'s' if len(rows) != 1 else ''}.",
        )
    upload.refresh_from_db()
    return upload


def delete_upload(upload: Upload, *, by) -> None:
    """Remove an image upload and its stored files, while the patient may change the request."""
    ensure_editable(upload.case)
    keys = list(upload.files.values_list("key", flat=True))
    with transaction.atomic():
        upload.delete()
        CaseEvent.objects.create(case=upload.case, actor=by, message="Images removed.")
    for key in keys:
        default_storage.delete(key)
