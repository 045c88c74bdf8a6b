"""A case's study as one zip, streamed from storage with its exact size known up front.

Entries are stored, not deflated: DICOM pixel data barely compresses and deflating would cost CPU
per download; stored entries let zipstream-ng compute the archive's length before the first byte,
so browsers show real progress. Each file is read in chunks only while its entry is written, so
the web process holds about one chunk at a time whatever the study's size; small pieces (an
entry's header and data descriptor, a slice smaller than a chunk) are sent together, so a
600-slice study goes out in a few hundred large writes rather than thousands of small ones.
"""

import re
from collections.abc import Iterator

from django.core.files.storage import default_storage
from zipstream import ZIP_STORED, ZipStream

from records.models import Study, UploadFile
from requests_app.models import Case

CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def study_files(case: Case) -> list[UploadFile]:
    """The stored files behind every image of the case's studies, in folder order."""
    return list(
        UploadFile.objects.filter(
            instances__series__study__case=case, status=UploadFile.Status.COMPLETE
        )
        .select_related("upload__case")
        .distinct()
        .order_by("upload__created_at", "relative_path", "pk")
    )


def _chunks(key: str) -> Iterator[bytes]:
    """The bytes of one stored file, a chunk at a time, opened only when the zip reaches it."""
    bucket = getattr(default_storage, "bucket", None)
    if bucket is not None:
        # django-storages' S3File spools a whole object before the first read; the raw body
        # streams, which keeps memory flat for multi-gigabyte studies.
        body = bucket.Object(default_storage._normalize_name(key)).get()["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()
        return
    with default_storage.open(key, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _arcname(row: UploadFile, taken: set[str]) -> str:
    """The file's folder path as the patient uploaded it; a repeated path gets a suffix.

    Stored paths are cleaned when they are kept, but the zip is opened on a reviewer's
    machine: whatever the row says, no entry climbs out of the folder it is unpacked into,
    starts at a root or a drive, or uses backslashes.
    """
    names = row.relative_path.replace("\\", "/").split("/")
    if names and _DRIVE.match(names[0]):
        names[0] = names[0][2:]
    name = "/".join(n for n in names if n not in ("", ".", "..")) or str(row.code)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}~{n}"
    taken.add(candidate)
    return candidate


def build(case: Case) -> ZipStream:
    """A sized, stored zip of the case's study; `len()` of it is the Content-Length."""
    stream = ZipStream(compress_type=ZIP_STORED, sized=True)
    taken: set[str] = set()
    for row in study_files(case):
        stream.add(_chunks(row.key), _arcname(row, taken), size=row.size)
    return stream


def in_chunks(stream: ZipStream) -> Iterator[bytes]:
    """The zip's bytes in pieces of at least CHUNK (but the last): one socket write each."""
    pending: list[bytes] = []
    size = 0
    for piece in stream:
        pending.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def studies(case: Case) -> list[Study]:
    return list(Study.objects.filter(case=case))
