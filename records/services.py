"""Storing what patients send: written records (PDF) and image files.

Storage I/O happens outside database transactions: a file is written first, then its row; a
failure in between leaves an orphan file for the sweeper, never a row without its file.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Greatest
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.formats import date_format
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from requests_app import services as case_services
from requests_app.access import set_loaded, with_rows
from requests_app.models import Case, CaseEvent
from requests_app.services import CaseError, add_to_timeline, ensure_editable, locked_editable

from . import digests, multipart, paths
from .forms import EMPTY_FILE
from .models import Document, Instance, Series, Study, Upload, UploadFile, UploadProblem

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
# What a report never needs and a hostile PDF uses to act on its own. pypdf gives names
# decoded (#-escapes undone), so "/L#61unch" is "/Launch" here.
# Actions that run a program or script, send or fetch data, or open other files or media,
# wherever they sit (a link the reader clicks included).
REFUSED_ACTIONS = {
    "/JavaScript",
    "/Launch",
    "/SubmitForm",
    "/ImportData",
    "/GoToR",
    "/GoToE",
    "/Rendition",
    "/RichMediaExecute",
    "/Movie",
    "/Sound",
}
# Keys that hold scripts, triggers that fire without a click (additional actions), XFA forms
# (which carry their own scripts) or files inside the PDF.
REFUSED_KEYS = {"/JS", "/JavaScript", "/AA", "/XFA", "/EmbeddedFiles", "/EF", "/RichMediaContent"}
# Annotations that hold files, media or 3D content with scripts.
REFUSED_ANNOTATIONS = {"/FileAttachment", "/RichMedia", "/Screen", "/Movie", "/Sound", "/3D"}
# On opening, the viewer may only be sent to a page of the document itself (a plain link to a
# web page is fine when the reader clicks it, not as something that happens to them).
OPENING_ACTIONS = {"/GoTo"}
UNSAFE_PDF = (
    "We could not accept this file for safety; ask the imaging centre (or your doctor's office) "
    "for a new copy."
)


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


def _digests(fileobj: IO[bytes]) -> digests.Digests:
    fileobj.seek(0)
    taken = digests.of_file(fileobj)
    fileobj.seek(0)
    return taken


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
        active = _has_active_content(reader)
    except RecordError:
        raise
    except Exception as exc:  # crafted PDFs make pypdf raise almost anything
        raise RecordError(
            "This PDF seems to be damaged and cannot be opened. Please download it again from "
            "where you got it and add the new copy."
        ) from exc
    finally:
        uploaded.seek(0)
    if pages == 0:
        raise RecordError("This PDF has no pages. Please check you chose the right file.")
    if active:
        raise RecordError(UNSAFE_PDF)
    return pages


def _has_active_content(reader: PdfReader) -> bool:
    """Anything in the document that could act on its own or reach outside it (see above)."""
    root = _resolved(reader.trailer.get("/Root"))
    if isinstance(root, DictionaryObject) and not _opens_safely(root.get("/OpenAction")):
        return True
    seen: set[tuple[int, int]] = set()
    stack: list[object] = [reader.trailer]
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            if (obj.idnum, obj.generation) in seen:
                continue
            seen.add((obj.idnum, obj.generation))
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            if (
                _resolved(obj.get("/S")) in REFUSED_ACTIONS
                or _resolved(obj.get("/Subtype")) in REFUSED_ANNOTATIONS
                or not REFUSED_KEYS.isdisjoint(obj.keys())
            ):
                return True
            stack.extend(obj.values())
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
    return False


def _resolved(obj: object) -> object:
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _opens_safely(action: object, depth: int = 0) -> bool:
    """Whether what happens on opening (an action, its /Next chain) stays inside the document.

    A destination (an array) only shows a page.
    """
    action = _resolved(action)
    if action is None or isinstance(action, ArrayObject):
        return True
    if not isinstance(action, DictionaryObject) or depth > 32:
        return False
    if _resolved(action.get("/S")) not in OPENING_ACTIONS:
        return False
    following = _resolved(action.get("/Next"))
    if isinstance(following, ArrayObject):
        return all(_opens_safely(item, depth + 1) for item in following)
    return following is None or _opens_safely(following, depth + 1)


def add_document(case: Case, *, by, kind: str, uploaded: UploadedFile) -> Document:
    """Check and store a PDF record on an editable case."""
    ensure_editable(case)  # refuse at once what the page already knows
    pages = check_pdf(uploaded)
    _check_patient_room(case.patient_id, adding_bytes=uploaded.size)
    document = Document(
        case=case,
        kind=kind,
        original_name=uploaded.name[-255:],
        size=uploaded.size,
        sha256=_digests(uploaded).sha256,
        page_count=pages,
        uploaded_by=by,
    )
    document.file.save(uploaded.name, uploaded, save=False)
    try:
        # Checked again on the locked row: the case may have been submitted while the file
        # was being checked.
        with locked_editable(case):
            document.save()
            CaseEvent.objects.create(
                case=case, actor=by, message=f"{document.get_kind_display()} added."
            )
    except BaseException:
        default_storage.delete(document.file.name)
        raise
    return document


def referral_letter(case: Case) -> Document | None:
    """The referral letter the patient added last, if any (the insurer's paperwork sends it)."""
    return case.documents.filter(kind=Document.Kind.REFERRAL_LETTER).last()


def delete_document(document: Document, *, by) -> None:
    """Remove a record the patient added, while they may still change the request."""
    ensure_editable(document.case)
    name = document.file.name
    with locked_editable(document.case):
        deleted, _ = Document.objects.filter(pk=document.pk).delete()
        if deleted:
            CaseEvent.objects.create(
                case=document.case, actor=by, message=f"{document.get_kind_display()} removed."
            )
    default_storage.delete(name)


def clean_relative_path(raw: str, fallback: str) -> str:
    """A relative path to keep: forward slashes, no '..', '/', drive, NUL or over-long name.

    At most 400 characters, leaving room for what the check adds (a zip's name in front of the
    files it holds, a "~2").
    """
    return paths.safe_relative_path(raw, fallback=fallback, max_length=400)


def _check_room(case: Case, *, adding_files: int, adding_bytes: int) -> None:
    """Refuse what would take a case past its file count or size allowance, or its patient
    past theirs."""
    totals = UploadFile.objects.filter(upload__case=case).aggregate(
        files=Count("id"), size=Sum("size")
    )
    if (totals["files"] or 0) + adding_files > settings.UPLOAD_MAX_FILES:
        raise RecordError(
            f"A request can hold up to {settings.UPLOAD_MAX_FILES:,} image files. Remove an "
            "earlier upload you no longer need, or write to your care coordinator."
        )
    if (totals["size"] or 0) + adding_bytes > settings.UPLOAD_CASE_QUOTA_BYTES:
        raise RecordError(
            f"A request can hold up to {filesizeformat(settings.UPLOAD_CASE_QUOTA_BYTES)} of "
            "images. Remove an earlier upload you no longer need, or write to your care "
            "coordinator."
        )
    _check_patient_room(case.patient_id, adding_bytes=adding_bytes)


def _check_patient_room(patient_id: int, *, adding_bytes: int) -> None:
    """Refuse what would take a patient past the bytes they may send in all their requests."""
    images = UploadFile.objects.filter(upload__case__patient_id=patient_id).aggregate(
        size=Sum("size")
    )["size"]
    documents = Document.objects.filter(case__patient_id=patient_id).aggregate(size=Sum("size"))[
        "size"
    ]
    if (images or 0) + (documents or 0) + adding_bytes > settings.PATIENT_QUOTA_BYTES:
        raise RecordError(
            f"Your account can hold up to {filesizeformat(settings.PATIENT_QUOTA_BYTES)} of "
            "files in all; remove uploads you no longer need, or write to your care coordinator."
        )


def _check_uploads(case: Case) -> None:
    """Refuse a new upload on a request that holds CASE_MAX_UPLOADS already."""
    limit = settings.CASE_MAX_UPLOADS
    if Upload.objects.filter(case=case).count() >= limit:
        raise RecordError(
            f"A request can hold up to {limit} upload{'s' if limit != 1 else ''}; remove one "
            "you no longer need before you add more."
        )


def _received(upload: Upload, *, by) -> None:
    """receiving -> received: count what arrived, note it, and have it checked after commit.

    The caller holds the case locked and editable (`locked_editable`).
    """
    totals = upload.files.filter(status=UploadFile.Status.COMPLETE).aggregate(
        files=Count("id"), size=Sum("size")
    )
    updated = Upload.objects.filter(pk=upload.pk, status=Upload.Status.RECEIVING).update(
        status=Upload.Status.RECEIVED,
        completed_at=timezone.now(),
        file_count=totals["files"] or 0,
        total_bytes=totals["size"] or 0,
    )
    if not updated:
        raise RecordError("This upload has already been finished.")
    n = totals["files"] or 0
    CaseEvent.objects.create(
        case=upload.case, actor=by, message=f"Images uploaded: {n} file{'s' if n != 1 else ''}."
    )
    upload_id = upload.pk
    transaction.on_commit(
        lambda: current_app.send_task("requests_app.tasks.validate_upload_task", args=[upload_id])
    )


def store_upload(
    case: Case, *, by, files: Sequence[UploadedFile], relative_paths: Sequence[str] = ()
) -> Upload:
    """Store a batch of image files sent with a plain form (the no-JavaScript path)."""
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
    adding = sum(f.size for f in files)
    _check_uploads(case)
    _check_room(case, adding_files=len(files), adding_bytes=adding)
    upload = Upload(case=case, uploaded_by=by)
    rows = []
    try:
        for index, uploaded in enumerate(files):
            raw = relative_paths[index] if index < len(relative_paths) else ""
            taken = _digests(uploaded)
            row = UploadFile(
                upload=upload,
                relative_path=clean_relative_path(raw or uploaded.name, fallback=f"file-{index}"),
                status=UploadFile.Status.COMPLETE,
                size=uploaded.size,
                sha256=taken.sha256,
                crc32=taken.crc32,
            )
            rows.append(row)
            default_storage.save(row.key, uploaded)
        # The files are stored first, the rows written under the case's lock: a request
        # submitted meanwhile gets nothing, and a refusal leaves nothing behind.
        with locked_editable(case):
            _check_uploads(case)
            _check_room(case, adding_files=len(files), adding_bytes=adding)
            upload.save()
            UploadFile.objects.bulk_create(rows)
            _received(upload, by=by)
    except BaseException:
        for row in rows:
            default_storage.delete(row.key)
        raise
    upload.refresh_from_db()
    return upload


def start_upload(case: Case, *, by) -> Upload:
    """Open a new batch of image files that the browser will send in parts."""
    with locked_editable(case):
        _check_uploads(case)
        return Upload.objects.create(case=case, uploaded_by=by)


def _receiving(upload: Upload) -> None:
    ensure_editable(upload.case)
    if upload.status != Upload.Status.RECEIVING:
        raise RecordError("This upload has already been finished; start a new one to add files.")


def start_file(upload: Upload, *, relative_path: str, size: int) -> UploadFile:
    """Begin one file of a batch: a multipart upload at an opaque key under the case."""
    _receiving(upload)
    if size > settings.UPLOAD_FILE_MAX_BYTES:
        raise RecordError(
            f"This file is {filesizeformat(size)}; a single file can be up to "
            f"{filesizeformat(settings.UPLOAD_FILE_MAX_BYTES)}."
        )
    _check_room(upload.case, adding_files=1, adding_bytes=max(size, 0))
    row = UploadFile(
        upload=upload,
        relative_path=clean_relative_path(relative_path, fallback="file"),
        size=max(size, 0),
    )
    row.multipart_id = multipart.backend().create(row.key)
    try:
        with locked_editable(upload.case):
            if not Upload.objects.filter(pk=upload.pk, status=Upload.Status.RECEIVING).exists():
                raise RecordError(
                    "This upload has already been finished; start a new one to add files."
                )
            _check_room(upload.case, adding_files=1, adding_bytes=max(size, 0))
            row.save()
    except BaseException:
        multipart.backend().abort(row.key, row.multipart_id)  # no row: nothing would find it
        raise
    return row


def sign_part(row: UploadFile, *, number: int, user_id: int) -> str:
    """A URL the browser PUTs one part of the file to."""
    _receiving(row.upload)
    if row.status != UploadFile.Status.RECEIVING:
        raise RecordError("This file has already been received.")
    if not 1 <= number <= 10000:
        raise RecordError("Part numbers go from 1 to 10,000.")
    return multipart.backend().sign_part(
        row.key, row.multipart_id, number, file_id=row.pk, user_id=user_id
    )


def list_parts(row: UploadFile) -> list[multipart.Part]:
    """The parts already received, so an interrupted upload resumes where it stopped."""
    return multipart.backend().list_parts(row.key, row.multipart_id)


def complete_file(row: UploadFile, *, parts: list[multipart.Part]) -> UploadFile:
    """Join the parts into the stored file (receiving -> complete; a repeat is harmless)."""
    if row.status == UploadFile.Status.COMPLETE:
        return row
    _receiving(row.upload)
    if not parts:
        raise RecordError("No part of this file arrived. Please add it again.")
    backend = multipart.backend()
    try:
        done = backend.complete(row.key, row.multipart_id, parts, size=row.size)
    except multipart.SizeMismatch as exc:
        backend.abort(row.key, row.multipart_id)  # nothing was joined: the parts go
        received = exc.received
    else:
        # Checked again on what was stored: the parts were counted as they were listed.
        received = done.size
    if received != row.size:
        # The announced size is what the allowance was checked against, so a file that grew
        # (or shrank) is not kept.
        default_storage.delete(row.key)
        row.delete()
        raise RecordError(
            f"This file arrived with {filesizeformat(received)} instead of the "
            f"{filesizeformat(row.size)} announced. Please add it again."
        )
    UploadFile.objects.filter(pk=row.pk, status=UploadFile.Status.RECEIVING).update(
        status=UploadFile.Status.COMPLETE, size=done.size, sha256=done.sha256, crc32=done.crc32
    )
    row.refresh_from_db()
    return row


def _discard_stored(row: UploadFile) -> None:
    if row.status == UploadFile.Status.RECEIVING:
        multipart.backend().abort(row.key, row.multipart_id)
    else:
        default_storage.delete(row.key)


def _drop_receiving(row: UploadFile) -> None:
    """Drop a file that never arrived in full, with its parts."""
    _discard_stored(row)
    row.delete()


def abort_file(row: UploadFile, *, by) -> None:
    """Cancel a file whose parts are still arriving, in an upload not finished yet, on a request
    the patient may still change; its parts go with it. A file that arrived is kept."""
    with locked_editable(row.upload.case):
        locked = (
            UploadFile.objects.select_for_update()
            .select_related("upload")
            .filter(pk=row.pk)
            .first()
        )
        if locked is None:
            return  # cancelled a moment ago: a repeat is harmless
        if locked.upload.is_checked:
            raise RecordError(
                "These images have already been checked; write to your care coordinator to "
                "remove a file."
            )
        if locked.upload.status != Upload.Status.RECEIVING:
            raise RecordError(
                "These images are being checked; write to your care coordinator to remove a file."
            )
        if locked.status != UploadFile.Status.RECEIVING:
            raise RecordError("This file has arrived in full and can no longer be cancelled.")
        locked.delete()
    multipart.backend().abort(row.key, row.multipart_id)


def remove_checked_files(
    rows: Sequence[UploadFile], *, by, reason: str, who: str = "The care team"
) -> int:
    """Take files out of checked uploads (coordinators only; any case status).

    The images they held go, and so do series and studies left empty (with their previews); the
    counts of each upload, series and study are made right again, and each case's timeline says
    how many files the care team removed and why. Returns how many files were removed.
    """
    chosen = [row.pk for row in rows]
    with transaction.atomic():
        uploads = list(
            Upload.objects.select_for_update()
            .select_related("case")
            .filter(pk__in=UploadFile.objects.filter(pk__in=chosen).values("upload_id"))
            .order_by("pk")
        )
        for upload in uploads:
            if not upload.is_checked:
                raise RecordError(
                    f"Upload {str(upload.code)[:8]} has not been checked yet: remove its files "
                    "once the check is done."
                )
        # A zip takes the images that were unpacked from it along.
        doomed = UploadFile.objects.filter(Q(pk__in=chosen) | Q(extracted_from__in=chosen))
        keys = [
            f"{u.prefix}{code}"
            for u in uploads
            for code in doomed.filter(upload=u).values_list("code", flat=True)
        ]
        images_by_upload = Counter(
            doomed.filter(instances__isnull=False).distinct().values_list("upload_id", flat=True)
        )
        study_ids = set(
            Instance.objects.filter(file__in=doomed).values_list("series__study_id", flat=True)
        )
        removed_by_case = Counter(
            UploadFile.objects.filter(pk__in=chosen).values_list("upload__case_id", flat=True)
        )
        doomed.delete()
        previews = _recount_studies(study_ids)
        for upload in uploads:
            files = upload.files.filter(
                status=UploadFile.Status.COMPLETE, extracted_from__isnull=True
            ).aggregate(n=Count("id"), size=Sum("size"))
            Upload.objects.filter(pk=upload.pk).update(
                file_count=files["n"],
                total_bytes=files["size"] or 0,
                dicom_count=Greatest(F("dicom_count") - images_by_upload[upload.pk], 0),
            )
        for case in Case.objects.filter(pk__in=removed_by_case).order_by("pk"):
            n = removed_by_case[case.pk]
            add_to_timeline(
                case,
                by,
                f"{who} removed {n} image file{'s' if n != 1 else ''}: {reason}",
            )
    # The rows are gone first: a failure here leaves a stray file, never a row without its file.
    for key in keys + previews:
        default_storage.delete(key)
    return sum(removed_by_case.values())


def _recount_studies(study_ids: set[int]) -> list[str]:
    """Count the images left in these studies; drop series and studies left with none.

    Returns the storage keys of the previews whose series went.
    """
    previews: list[str] = []
    series = Series.objects.filter(study_id__in=study_ids).annotate(left=Count("instances"))
    for row in series:
        if row.left:
            Series.objects.filter(pk=row.pk).update(instance_count=row.left)
        else:
            if row.preview_key:
                previews.append(row.preview_key)
            row.delete()
    studies = Study.objects.filter(pk__in=study_ids).annotate(
        left=Count("series__instances"), kept=Count("series", distinct=True)
    )
    for study in studies:
        if study.left:
            Study.objects.filter(pk=study.pk).update(
                instance_count=study.left, series_count=study.kept
            )
        else:
            study.delete()
    return previews


def finish_upload(upload: Upload, *, by) -> Upload:
    """receiving -> received once every wanted file is in; unfinished files are dropped."""
    _receiving(upload)
    with locked_editable(upload.case):
        unfinished = list(upload.files.filter(status=UploadFile.Status.RECEIVING))
        UploadFile.objects.filter(pk__in=[row.pk for row in unfinished]).delete()
        if not upload.files.exists():
            raise RecordError("None of the files arrived. Please choose them again.")
        _received(upload, by=by)
    for row in unfinished:
        _discard_stored(row)
    upload.refresh_from_db()
    return upload


@dataclass(frozen=True)
class _Stored:
    """What storage holds for some rows, gathered before the rows go so it can follow them."""

    keys: list[str]
    parts: list[tuple[str, str]]  # (key, multipart id) of files whose parts are still arriving
    # Folders emptied whole: an upload's previews, which a check killed before it recorded its
    # series leaves with no row naming them.
    folders: list[str]

    def discard(self) -> None:
        for key, multipart_id in self.parts:
            multipart.backend().abort(key, multipart_id)
        for key in self.keys:
            default_storage.delete(key)
        for folder in self.folders:
            try:
                _, names = default_storage.listdir(folder)
            except FileNotFoundError:
                continue
            for name in names:
                default_storage.delete(f"{folder}{name}")


def _stored_for(uploads) -> _Stored:
    """Every stored file, preview and folder of parts of these uploads (a queryset)."""
    keys, parts = [], []
    for row in UploadFile.objects.filter(upload__in=uploads).select_related("upload__case"):
        if row.status == UploadFile.Status.RECEIVING:
            parts.append((row.key, row.multipart_id))
        else:
            keys.append(row.key)
    keys += (
        Series.objects.filter(study__upload__in=uploads)
        .exclude(preview_key="")
        .values_list("preview_key", flat=True)
    )
    folders = [f"{upload.prefix}previews/" for upload in uploads.select_related("case")]
    return _Stored(keys=keys, parts=parts, folders=folders)


def delete_upload(upload: Upload, *, by) -> None:
    """Remove an image upload and its stored files, while the patient may change the request.

    Its files, the images a worker unpacked from its zips, its previews and the parts of files
    still arriving all go. What storage holds is gathered under the case's lock, which the
    worker takes before it records a check, so nothing it stores meanwhile is missed.
    """
    ensure_editable(upload.case)
    with locked_editable(upload.case):
        doomed = Upload.objects.select_for_update().filter(pk=upload.pk)
        stored = _stored_for(doomed)
        deleted, _ = doomed.delete()
        if deleted:
            CaseEvent.objects.create(case=upload.case, actor=by, message="Images removed.")
    # The rows went first: a failure here leaves a stray file, never a row without its file.
    stored.discard()


def delete_draft(case: Case, *, by) -> None:
    """Delete a draft that was never submitted, with every file the patient added to it.

    Documents, uploads, the images unpacked from them, previews and the parts of files still
    arriving are gathered under the case's lock, then the rows go, then the files.
    """
    with transaction.atomic():
        locked = Case.objects.select_for_update().filter(pk=case.pk).first()
        if locked is None or locked.status != Case.Status.DRAFT:
            raise CaseError("Only a request that was never submitted can be deleted.")
        stored = _stored_for(Upload.objects.filter(case=case))
        documents = list(Document.objects.filter(case=case).values_list("file", flat=True))
        case_services.delete_draft(case, by=by)
    _Stored(keys=stored.keys + documents, parts=stored.parts, folders=stored.folders).discard()


def expire_abandoned_uploads(*, now) -> int:
    """Remove image uploads left unfinished for UPLOAD_ABANDONED_AFTER_DAYS (beat).

    A closed tab or a lost connection leaves an upload "receiving" with parts on disk or
    in the bucket; past that many days the browser no longer offers to resume it, so its
    parts and files go, and the case's timeline says so. Returns how many were removed.
    """
    days = settings.UPLOAD_ABANDONED_AFTER_DAYS
    cutoff = now - timedelta(days=days)
    removed = 0
    stale = Upload.objects.filter(status=Upload.Status.RECEIVING, created_at__lt=cutoff)
    for upload_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            upload = (
                Upload.objects.select_for_update()
                .select_related("case")
                .filter(pk=upload_id, status=Upload.Status.RECEIVING)
                .first()
            )
            if upload is None:
                continue  # finished or removed meanwhile
            stored = _stored_for(Upload.objects.filter(pk=upload.pk))
            upload.delete()
            started = date_format(timezone.localtime(upload.created_at))
            add_to_timeline(
                upload.case,
                None,
                f"An image upload started on {started} was never finished; its partial files "
                f"were removed after {days} days. Please add the images again.",
            )
        stored.discard()
        removed += 1
    return removed


def uploads_for_page(case: Case) -> list[Upload]:
    """The case's uploads with what `records/_upload.html` shows of each (studies, series,
    problems) in two queries whatever their number."""
    uploads = with_rows(
        case.uploads.all(),
        "problems",
        order_by=(*Upload._meta.ordering, "pk"),
        rows_order_by=(*UploadProblem._meta.ordering, "pk"),
    )
    studies = with_rows(
        Study.objects.filter(case=case),
        "series",
        order_by=("upload_id", "study_date", "pk"),
        rows_order_by=("series_number", "pk"),
    )
    for upload in uploads:
        upload.case = case
        set_loaded(upload, "studies", [study for study in studies if study.upload_id == upload.pk])
    for study in studies:
        study.case = case
    return uploads


def series_previews(uploads: Sequence[Upload]) -> list:
    """The codes of the series previews `records/_upload.html` shows for uploads loaded by
    `uploads_for_page`."""
    return [
        series.code
        for upload in uploads
        if upload.is_checked
        for study in upload.studies.all()
        for series in study.series.all()
        if series.preview_key
    ]
