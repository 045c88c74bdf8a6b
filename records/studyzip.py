"""A case's study as one zip, sent from storage with its exact size known up front.

Entries are stored, not deflated: DICOM pixel data barely compresses and deflating would cost CPU
per download; stored entries whose size and CRC-32 are on their rows (taken when the upload was
received or checked) let the archive's headers be written before their bytes are read, so the
length is known before the first byte and browsers show real progress. On disk, under gunicorn,
the bytes of each file go to the socket by sendfile: the web process writes only the headers.
Elsewhere (S3, another server, files stored before the CRC-32 was kept) each file is read in
chunks only while its entry is written, so the web process holds about one chunk at a time
whatever the study's size; small pieces are sent together, so a 600-slice study goes out in a
few hundred large writes rather than thousands of small ones.
"""

import os
import re
import socket
import ssl
from collections.abc import Iterable, Iterator
from functools import partial

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from requests_app.models import Case

from .models import Instance, Study, Upload, UploadFile, upload_prefix
from .storedzip import CHUNK, Entry, StoredZip

_DRIVE = re.compile(r"^[A-Za-z]:")


def _files(case: Case) -> QuerySet[UploadFile]:
    # A semi-join rather than a join made distinct: no sort of every file's instances.
    images = Instance.objects.filter(series__study__case=case).values("file_id")
    return UploadFile.objects.filter(pk__in=images, status=UploadFile.Status.COMPLETE).order_by(
        "upload__created_at", "relative_path", "pk"
    )


def study_files(case: Case) -> list[UploadFile]:
    """The stored files behind every image of the case's studies, in folder order."""
    return list(_files(case).select_related("upload__case"))


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


def stored_chunks(key: str) -> Iterator[bytes]:
    """The bytes of one stored file as stored, a chunk at a time (for DICOMweb and the exports)."""
    return _chunks(key)


def _arcname(relative_path: str, code: str, taken: set[str]) -> str:
    """The file's folder path as the patient uploaded it; a repeated path gets a suffix.

    Stored paths are cleaned when they are kept, but the zip is opened on a reviewer's
    machine: whatever the row says, no entry climbs out of the folder it is unpacked into,
    starts at a root or a drive, or uses backslashes.
    """
    names = relative_path.replace("\\", "/").split("/")
    if names and _DRIVE.match(names[0]):
        names[0] = names[0][2:]
    name = "/".join(n for n in names if n not in ("", ".", "..")) or code
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}~{n}"
    taken.add(candidate)
    return candidate


def local_path(key: str) -> str | None:
    """Where a stored file lies on this machine's disk; None on S3."""
    try:
        return default_storage.path(key)
    except NotImplementedError:
        return None


def entry(row: UploadFile, arcname: str) -> Entry:
    """One stored image file as an entry of a zip."""
    return Entry(
        arcname, row.size, lambda: _chunks(row.key), crc32=row.crc32, path=local_path(row.key)
    )


def build(case: Case) -> StoredZip:
    """A sized, stored zip of the case's study; `len()` of it is the Content-Length.

    Read as plain values, not rows: a study of a thousand files would otherwise spend more
    building model instances than sending their bytes.
    """
    taken: set[str] = set()
    prefixes = {
        pk: upload_prefix(case.code, code)
        for pk, code in Upload.objects.filter(case=case).values_list("pk", "code")
    }
    folders = {pk: local_path(prefix) for pk, prefix in prefixes.items()}
    entries = []
    files = _files(case).values_list("code", "upload_id", "relative_path", "size", "crc32")
    for code, upload_id, relative_path, size, crc32 in files:
        name, folder = str(code), folders[upload_id]
        entries.append(
            Entry(
                _arcname(relative_path, name, taken),
                size,
                partial(_chunks, prefixes[upload_id] + name),
                crc32,
                os.path.join(folder, name) if folder else None,
            )
        )
    return StoredZip(entries, modified=timezone.localtime())


def _client_socket(request: HttpRequest | None) -> socket.socket | None:
    """The connection's socket under gunicorn when the OS may write a response's bytes to it
    itself: a plain TCP connection (TLS is gunicorn's to write) and a response with a body.
    gunicorn's access log then counts only the bytes it wrote: the first entry's header."""
    if request is None or request.method != "GET":
        return None
    sock = request.META.get("gunicorn.socket")
    if isinstance(sock, socket.socket) and not isinstance(sock, ssl.SSLSocket):
        return sock
    return None


def in_chunks(stream: StoredZip, request: HttpRequest | None = None) -> Iterator[bytes]:
    """The zip's bytes in pieces of at least CHUNK (but the last): one socket write each; given
    the request, files on disk go straight to its connection by sendfile where it can."""
    return stream.chunks(_client_socket(request))


def studies(case: Case) -> list[Study]:
    return list(Study.objects.filter(case=case))


def study_file(case: Case, code) -> UploadFile | None:
    """One stored file behind an image of the case's studies, by its code."""
    return (
        UploadFile.objects.filter(instances__series__study__case=case, code=code)
        .select_related("upload__case")
        .first()
    )


def cases_holding(case_ids: Iterable[int], sop_classes: Iterable[str]) -> set[int]:
    """Which of these cases hold an image of one of these SOP classes, in one query."""
    return set(
        Instance.objects.filter(
            series__study__case__in=list(case_ids), sop_class_uid__in=list(sop_classes)
        )
        .values_list("series__study__case_id", flat=True)
        .distinct()
    )
