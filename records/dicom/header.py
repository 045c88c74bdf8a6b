"""Header-only validation of the DICOM images a patient uploads (a CD folder, a zip, loose files).

Pure pydicom + numpy + Pillow, no Django: a Celery worker, ``manage.py validate_study`` and the
benchmarks call the same functions.

* ``inspect_file(path)`` reads one file's header (never its pixel data) and returns a
  ``FileResult``: the few fields the application stores, or the problems that reject the file.
* ``validate_tree(root)`` / ``validate_path(path)`` inspect every file of an upload, open zips
  with ``records.archives``, and add the study-level checks (duplicates, identity, completeness,
  mammography views, modality and region against what the patient declared, one decoded frame
  per series with a small preview) to a ``Report``.

Choices worth knowing:

* Severity: a file-level error (truncated, executable preamble, bad UIDs...) rejects that file and
  makes the upload invalid; ``not_dicom`` is only a warning, because CDs carry viewers, HTML and
  vendor files: a stray non-image never blocks, an upload with no image at all gets
  ``empty_upload``. A damaged copy of an image that is also present intact counts as a duplicate.
* Deflated Explicit VR Little Endian is read, but inflated in memory with a hard cap
  (``MAX_INFLATED_BYTES``); beyond it the file gets ``deflated_too_large``. pydicom itself would
  inflate without a limit, so the file meta is parsed here first and pydicom never sees a
  deflated stream.
* The DICOMDIR is an index: files are found by walking the tree, the index is only cross-checked.
* A damaged file and a failure of our own code are told apart (the rule is above ``_Damaged``):
  only the first gets a verdict on the file; the second is ``internal_error``, which tells the
  patient nothing is wrong with their file and is logged with the exception's type and where it
  was raised in our code.
* Nothing here logs or prints a value read from a file: names, IDs and dates of birth are PHI.
  pydicom's own warnings and log lines (which quote values) are silenced while it reads; that
  uses ``warnings.catch_warnings`` and the "pydicom" logger's ``disabled`` and ``propagate``
  flags, all process-wide, so call these functions from one thread per process (Celery's
  prefork pool, a management command) rather than from a thread pool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import itertools
import logging
import math
import os
import pickle
import re
import signal
import struct
import sys
import tempfile
import traceback
import unicodedata
import warnings
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache, partial
from pathlib import Path, PurePosixPath
from statistics import median
from typing import Any, BinaryIO, Final

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.pixels import apply_color_lut, get_decoder, pixel_array
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from records import archives
from records.problems import INTERNAL_ERROR, Problem, has_errors, make

KiB: Final = 1024
MiB: Final = 1024 * KiB

HEAD_BYTES: Final = 64 * KiB
"""One read serves the header of nearly every file; a longer header falls back to the file."""

PARALLEL_FROM: Final = 64
"""A folder with at least this many files is inspected by one forked process per core."""

MAX_INFLATED_BYTES: Final = 32 * MiB
"""Deflated Explicit VR files are inflated in memory up to this size, never beyond."""

MAX_FRAME_BYTES: Final = 256 * MiB
"""A frame declaring more than this (65535 x 65535 is allowed by the header) is not decoded."""

MAX_FULL_READ_BYTES: Final = 256 * MiB
"""Largest file the preview falls back to reading whole when the one-frame reader fails."""
MAX_DICOMDIR_BYTES: Final = 64 * MiB
PREVIEW_MAX_SIDE: Final = 256
_MAX_FRAGMENTS: Final = 1_000_000
_DEFER_BYTES: Final = 4 * KiB  # every value we read is tiny; a huge one is a lie, not data
_INFLATE_STEP: Final = 1 * MiB

DICOMDIR_SOP_CLASS: Final = "1.2.840.10008.1.3.10"
_FOR_PROCESSING_SOP_CLASSES: Final = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray, for processing
        "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography X-Ray, for processing
        "1.2.840.10008.5.1.4.1.1.1.3.1",  # Digital Intra-Oral X-Ray, for processing
    }
)
_PIXEL_TAGS: Final = frozenset({0x7FE00010, 0x7FE00009, 0x7FE00008})
_ITEM: Final = 0xFFFEE000
_SEQUENCE_DELIMITER: Final = 0xFFFEE0DD
_LONG_VRS: Final = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UID_SYNTAX: Final = re.compile(r"[0-9]+(\.[0-9]+)*")

# (0008,0005) Specific Character Set is always added by pydicom to decode the strings below.
_TAGS: Final = {
    "sop_class_uid": 0x00080016,
    "sop_instance_uid": 0x00080018,
    "study_date": 0x00080020,
    "modality": 0x00080060,
    "presentation_intent_type": 0x00080068,
    "study_description": 0x00081030,
    "series_description": 0x0008103E,
    "patient_name": 0x00100010,
    "patient_id": 0x00100020,
    "patient_birth_date": 0x00100030,
    "body_part": 0x00180015,
    "view_position": 0x00185101,
    "study_instance_uid": 0x0020000D,
    "series_instance_uid": 0x0020000E,
    "series_number": 0x00200011,
    "instance_number": 0x00200013,
    "image_position": 0x00200032,
    "image_orientation": 0x00200037,
    "laterality": 0x00200060,
    "image_laterality": 0x00200062,
    "samples_per_pixel": 0x00280002,
    "photometric_interpretation": 0x00280004,
    "number_of_frames": 0x00280008,
    "rows": 0x00280010,
    "columns": 0x00280011,
    "bits_allocated": 0x00280100,
    "burned_in_annotation": 0x00280301,
}
_TAG_LIST: Final = list(_TAGS.values())
_WANTED: Final = frozenset({*_TAG_LIST, 0x00080005})
_VRS: Final = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN"
    b" UR US UT UV".split()
)
_EXPLICIT_HEADER: Final = struct.Struct("<HH2sH")
_IMPLICIT_HEADER: Final = struct.Struct("<HHL")
_LONG_LENGTH: Final = struct.Struct("<L")

_PYDICOM_LOGGER: Final = logging.getLogger("pydicom")
# One logger for the whole package: what selects "records.dicom" (alerts, log filters) sees every
# internal error, whichever of its modules met it.
logger = logging.getLogger("records.dicom")

# Errors of our own machine, not of the patient's file: let the task fail and retry.
_INFRASTRUCTURE_ERRNOS: Final = frozenset(
    {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EIO, errno.EMFILE, errno.ENFILE}
)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class FileResult:
    """One file of an upload: the header fields we keep, or the problems that reject it.

    ``kind`` is "instance" (a DICOM object), "dicomdir" (a CD's index, not an image), "zip",
    "pdf" or "other" (not DICOM). ``path`` is relative to what the patient uploaded. PHI fields
    are left out of ``repr`` so a stray log line does not leak them.
    """

    path: str
    kind: str = "other"
    problems: list[Problem] = field(default_factory=list)
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    modality: str = ""
    body_part: str = ""
    study_description: str = ""
    series_description: str = ""
    study_date: str = ""
    patient_id: str = field(default="", repr=False)
    patient_name: str = field(default="", repr=False)
    patient_birth_date: str = field(default="", repr=False)
    series_number: int | None = None
    instance_number: int | None = None
    image_position: tuple[float, float, float] | None = None
    image_orientation: tuple[float, float, float, float, float, float] | None = None
    view_position: str = ""
    image_laterality: str = ""
    presentation_intent_type: str = ""
    transfer_syntax_uid: str = ""
    photometric_interpretation: str = ""
    rows: int | None = None
    columns: int | None = None
    number_of_frames: int = 1
    bits_allocated: int | None = None
    samples_per_pixel: int = 1
    burned_in_annotation: bool = False
    has_pixel_data: bool = False
    file_size: int = 0

    @property
    def ok(self) -> bool:
        """A DICOM instance with no error: it can be stored and shown to a reviewer."""
        return self.kind == "instance" and not has_errors(self.problems)


@dataclass(slots=True)
class SeriesSummary:
    series_instance_uid: str
    modality: str
    body_part: str
    description: str
    series_number: int | None
    instance_count: int
    preview_path: str = ""
    preview: Image.Image | None = field(default=None, repr=False)


@dataclass(slots=True)
class StudySummary:
    study_instance_uid: str
    patient_id: str = field(repr=False)
    modalities: list[str]
    body_parts: list[str]
    regions: list[str]
    description: str
    study_date: str
    series: list[SeriesSummary]

    @property
    def series_count(self) -> int:
        return len(self.series)

    @property
    def instance_count(self) -> int:
        return sum(series.instance_count for series in self.series)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study_instance_uid": self.study_instance_uid,
            "patient_id": self.patient_id,
            "modalities": list(self.modalities),
            "body_parts": list(self.body_parts),
            "description": self.description,
            "series_count": self.series_count,
            "instance_count": self.instance_count,
        }


@dataclass(slots=True)
class Report:
    """Everything the caller needs: validity, studies to create, rows to insert, problems."""

    studies: list[StudySummary] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=lambda: {"dicom": 0, "ignored": 0, "rejected": 0})
    problems: list[Problem] = field(default_factory=list)
    instances: list[FileResult] = field(default_factory=list, repr=False)
    # Where each inspected file lies on disk, by its relative path: for files unpacked from a
    # zip this is inside the caller's scratch folder (see validate_tree's ``scratch``).
    locations: dict[str, Path] = field(default_factory=dict, repr=False)

    @property
    def valid(self) -> bool:
        return not has_errors(self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "studies": [study.to_dict() for study in self.studies],
            "files": dict(self.files),
            "problems": [
                {"path": p.path, "code": p.code, "severity": p.severity, "message": p.message}
                for p in self.problems
            ],
        }


@dataclass(frozen=True, slots=True)
class AccountHolder:
    """Who the account says the patient is; compared, loosely, with the images' headers."""

    name: str = ""
    birth_date: date | str | None = None


# --------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------


# Damaged file, or a failure of our own code? A file gets a verdict (truncated, not_dicom...)
# only when something about its bytes was found wrong:
# * our own parsing code checks every offset and length itself and raises _Reject with the code;
# * a third-party parser or codec (pydicom, zlib, numpy, Pillow, pylibjpeg, gdcm) reading the
#   file's bytes runs inside ``with _third_party:``, which turns what it raises into _Damaged;
# * an OSError while reading the file is the file's (our machine's own errors go to the task).
# Any other exception is a bug of ours, whatever its type: a struct.error or an IndexError in our
# parser means a bounds check is missing. It becomes internal_error, logged with its type and
# place, and never tells the patient that their file is damaged.


class _Reject(Exception):
    """Stops inspecting a file with the code that explains why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Damaged(Exception):
    """A third-party parser or codec gave up on the patient's bytes: a verdict on the file."""


class _ThirdParty:
    """``with _third_party:`` around a call into pydicom, zlib, numpy, Pillow or a codec on the
    patient's bytes. Crafted files make these raise almost anything (struct.error, ValueError,
    KeyError, OverflowError, RecursionError on nested sequences, MemoryError on absurd lengths,
    zlib.error...): it is all raised again as _Damaged. Keep each block to the library call: a
    bug of ours inside one would be blamed on the file. A class, not a generator: it runs for
    every file of an upload.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if not isinstance(exc, Exception) or isinstance(exc, (_Reject, _Damaged)):
            return  # no exception, an interrupt, or a verdict already
        if isinstance(exc, OSError) and exc.errno in _INFRASTRUCTURE_ERRNOS:
            return  # our machine's error: the task retries
        raise _Damaged from exc


_third_party: Final = _ThirdParty()
_OUR_PACKAGE: Final = __name__.partition(".")[0] + "."


def _internal_error(exc: Exception, shown: str) -> Problem:
    """A failure of our own code while checking ``shown``: logged, and reported as internal_error.

    The log names the exception's type and the innermost place in our code it passed through,
    never its message (it may quote a header value) nor ``shown`` (folders on a CD are often
    named after the patient).
    """
    logger.error(
        "%s while checking a file: %s at %s", INTERNAL_ERROR, _type_name(exc), _raised_at(exc)
    )
    return make(INTERNAL_ERROR, shown)


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _raised_at(exc: BaseException) -> str:
    """module:function:line of the innermost frame of our own code the exception passed through."""
    where = "unknown"
    for frame, line in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module.startswith(_OUR_PACKAGE):
            where = f"{module}:{frame.f_code.co_qualname}:{line}"
    return where


def inspect_file(path: str | os.PathLike[str], *, rel_path: str | None = None) -> FileResult:
    """Inspect one file's header. Never raises for anything inside the file, never hangs.

    ``rel_path`` is the name shown in problems (default: ``path`` as given). A failure of our
    own code is reported as ``internal_error``, never as a verdict on the file.
    """
    result = FileResult(path=os.fspath(path) if rel_path is None else rel_path)
    try:
        with _Quiet():
            _inspect(Path(path), result)
    except _Reject as reject:
        result.problems.append(make(reject.code, result.path))
    except _Damaged:
        result.problems.append(make(_damaged_code(result), result.path))
    except OSError as exc:
        if exc.errno in _INFRASTRUCTURE_ERRNOS:
            raise
        result.problems.append(make(_damaged_code(result), result.path))
    except Exception as exc:  # not the file's doing (see _Damaged): a failure of our own code
        result.problems.append(_internal_error(exc, result.path))
    return result


def inspect_files(files: list[tuple[Path, str]], *, processes: int) -> list[FileResult]:
    """``inspect_file`` over ``(path, rel_path)`` pairs, results in the same order.

    Header parsing is CPU-bound Python, so a large folder is shared out: this process reads one
    share and forks a helper for each other one (forked: it starts in a millisecond with
    everything imported, and only reads files). ``os.fork`` rather than ``multiprocessing``,
    whose pools refuse to start inside Celery's (daemonic) prefork children. A helper that dies
    fails the whole check, as a crash of the worker itself would.
    """
    if processes <= 1 or len(files) < PARALLEL_FROM:
        return [inspect_file(path, rel_path=rel) for path, rel in files]
    helpers: list[_Helper] = []
    try:
        for share in range(1, processes):
            helpers.append(_Helper.fork(files[share::processes]))
        results: list[FileResult] = [None] * len(files)  # type: ignore[list-item]
        results[0::processes] = [
            inspect_file(path, rel_path=rel) for path, rel in files[0::processes]
        ]
        for share, helper in enumerate(helpers, start=1):
            results[share::processes] = helper.results()
        return results
    finally:
        for helper in helpers:
            helper.end()


@dataclass(slots=True)
class _Helper:
    """A forked process inspecting a share of the files; it sends back the results pickled."""

    pid: int
    pipe: int
    done: bool = False

    @classmethod
    def fork(cls, files: list[tuple[Path, str]]) -> _Helper:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper: never returns, never runs its parent's cleanup
            status = 1
            try:
                os.close(read)
                try:
                    outcome: object = [inspect_file(path, rel_path=rel) for path, rel in files]
                except OSError as exc:  # an infrastructure error: the parent raises it
                    outcome = exc
                with os.fdopen(write, "wb") as out:
                    pickle.dump(outcome, out, protocol=pickle.HIGHEST_PROTOCOL)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        return cls(pid, read)

    def results(self) -> list[FileResult]:
        with os.fdopen(self.pipe, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.done = True
        if status or not data:
            raise ChildProcessError(f"a process inspecting files ended with status {status}")
        outcome = pickle.loads(data)  # noqa: S301 (written by our own forked process)
        if isinstance(outcome, OSError):
            raise outcome
        return outcome

    def end(self) -> None:
        """Stop and reap a helper whose results were not collected (the parent failed)."""
        if self.done:
            return
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):  # already closed if reading it failed
            os.close(self.pipe)


class _Quiet(warnings.catch_warnings):
    """pydicom quotes odd values (a name, an ID) in its warnings AND its log: silence both.

    Its pixel decoders log through loggers of their own ("pydicom.pixels.decoders.base", with
    the codec's exception), which ``disabled`` on "pydicom" does not reach: not propagating
    stops them at pydicom's own NullHandler.
    """

    def __enter__(self) -> None:
        super().__enter__()
        warnings.simplefilter("ignore")
        self._was = (_PYDICOM_LOGGER.disabled, _PYDICOM_LOGGER.propagate)
        _PYDICOM_LOGGER.disabled, _PYDICOM_LOGGER.propagate = True, False

    def __exit__(self, *exc_info: object) -> None:
        _PYDICOM_LOGGER.disabled, _PYDICOM_LOGGER.propagate = self._was
        super().__exit__(*exc_info)


def _damaged_code(result: FileResult) -> str:
    return "truncated" if result.kind in ("instance", "dicomdir") else "not_dicom"


@dataclass(slots=True)
class _Layout:
    """Where a file's parts are and how its dataset is encoded."""

    meta: dict[int, bytes]
    dataset_start: int
    transfer_syntax: str
    implicit_vr: bool
    little_endian: bool


def _inspect(path: Path, result: FileResult) -> None:
    try:
        fp = archives.open_regular_file(path)
    except archives.NotARegularFile:
        raise _Reject("not_dicom") from None
    with fp:
        size = os.fstat(fp.fileno()).st_size
        result.file_size = size
        head = fp.read(HEAD_BYTES)
        layout = _classify(head, path, result)
        if layout is None:
            return
        result.transfer_syntax_uid = layout.transfer_syntax
        if result.kind == "dicomdir":
            return
        if layout.transfer_syntax == DeflatedExplicitVRLittleEndian:
            fp.seek(layout.dataset_start)
            inflated = _inflate_bounded(fp, MAX_INFLATED_BYTES)
            source = _Source(io.BytesIO(inflated), inflated, len(inflated))
            ds, pixel_at = _read_header(source, 0, layout, complete=True)
        else:
            source = _Source(fp, head, size)
            ds, pixel_at = _read_header(source, layout.dataset_start, layout, complete=False)
        _fill_fields(ds, result, layout)
        _check_uids(result)
        if result.burned_in_annotation:
            result.problems.append(make("burned_in_annotation", result.path))
        _check_completeness(ds, source, pixel_at, result, layout)


def _classify(head: bytes, path: Path, result: FileResult) -> _Layout | None:
    """Sort DICOM from everything else; return the file's layout, or None when not DICOM."""
    if head[128:132] == b"DICM":
        result.kind = "instance"
        # CVE-2019-11687: the 128-byte preamble is free-form, so a file can be a valid DICOM
        # image and a Windows/Linux/macOS program at once. We never store such a polyglot.
        if _is_executable(head):
            raise _Reject("executable_preamble")
        return _layout(head, 132, path, result, part10=True)
    if _looks_like_raw_dataset(head):
        # Pre-2000 CDs and some exports hold bare datasets, no preamble and no file meta.
        result.kind = "instance"
        return _layout(head, 0, path, result, part10=False)
    if not head:
        result.kind = "instance"  # a zero-byte file in a CD folder is a failed copy
        raise _Reject("truncated")
    result.kind = _sniff_format(head)
    if result.kind == "pdf":
        raise _Reject("pdf_document")
    if result.kind == "archive":
        raise _Reject("unsupported_archive")
    raise _Reject("not_dicom")


_EXECUTABLE_MAGICS: Final = (
    b"MZ",  # Windows PE
    b"\x7fELF",  # Linux
    b"\xfe\xed\xfa\xce",  # Mach-O 32 / 64, both byte orders, and fat binaries
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",  # a script
)


def _is_executable(head: bytes) -> bool:
    return head.startswith(_EXECUTABLE_MAGICS)


def _sniff_format(head: bytes) -> str:
    if archives.is_zip_magic(head):
        return "zip"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"Rar!", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        return "archive"
    return "other"


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A bare dataset starts with a group 0002 or 0008 element, explicit or implicit VR.

    Strict on purpose: pydicom's ``force=True`` reads any bytes as "a dataset", so a photo or a
    text file would otherwise become a DICOM file full of garbage.
    """
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack_from(order + "HH", head)
        if group not in (0x0002, 0x0008) or element > 0x1FFF:
            continue
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            return True
        if order == "<":
            (length,) = struct.unpack_from("<L", head, 4)
            if length < 1024 and (element == 0 or length > 0):  # implicit VR: a sane length
                return True
    return False


def _layout(head: bytes, start: int, path: Path, result: FileResult, *, part10: bool) -> _Layout:
    meta, dataset_start = _scan_file_meta(head, start)
    media_class = _meta_text(meta, 0x0002)
    if media_class == DICOMDIR_SOP_CLASS or (not media_class and path.name.upper() == "DICOMDIR"):
        result.kind = "dicomdir"
    syntax = _meta_text(meta, 0x0010)
    if not part10 or not syntax:
        result.problems.append(make("missing_file_meta", result.path))
        implicit, little = _guess_encoding(head, dataset_start)
        syntax = _syntax_for(implicit, little)
        return _Layout(meta, dataset_start, syntax, implicit, little)
    if not _is_decodable(syntax):
        raise _Reject("unsupported_transfer_syntax")
    uid = UID(syntax)
    return _Layout(meta, dataset_start, syntax, uid.is_implicit_VR, uid.is_little_endian)


def _scan_file_meta(head: bytes, start: int) -> tuple[dict[int, bytes], int]:
    """Read the group 0002 elements ourselves: we must know the transfer syntax BEFORE pydicom
    reads the dataset, because pydicom inflates a deflated dataset whole, without a limit."""
    meta: dict[int, bytes] = {}
    pos = start
    while pos + 8 <= len(head):
        group, element = struct.unpack_from("<HH", head, pos)
        if group != 0x0002:
            break
        vr = head[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(head):
                raise _Reject("truncated")  # a long VR's 4-byte length cut off
            (length,) = struct.unpack_from("<L", head, pos + 8)
            value_at = pos + 12
        elif vr.isalpha() and vr.isupper():
            (length,) = struct.unpack_from("<H", head, pos + 6)
            value_at = pos + 8
        else:  # vendor quirk: file meta written in implicit VR
            (length,) = struct.unpack_from("<L", head, pos + 4)
            value_at = pos + 8
        if length == 0xFFFFFFFF or value_at + length > len(head):
            raise _Reject("truncated")
        meta[element] = head[value_at : value_at + length]
        pos = value_at + length
    return meta, pos


def _meta_text(meta: dict[int, bytes], element: int) -> str:
    return meta.get(element, b"").decode("ascii", "replace").strip("\x00 ")


def _guess_encoding(head: bytes, at: int) -> tuple[bool, bool]:
    """Implicit/explicit and byte order of a dataset without a transfer syntax (as pydicom)."""
    if at + 6 > len(head):
        return True, True
    group = struct.unpack_from("<H", head, at)[0]
    vr = head[at + 4 : at + 6]
    explicit = vr.isalpha() and vr.isupper()
    return (not explicit), not (explicit and group >= 0x0100)


def _syntax_for(implicit: bool, little: bool) -> str:
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


@lru_cache(maxsize=256)
def _is_decodable(syntax: str) -> bool:
    """Known to pydicom and decodable with the codecs installed here (gdcm, pylibjpeg...)."""
    try:
        return bool(get_decoder(syntax).is_available)
    except Exception:  # only pydicom runs here, on the file's own UID: unknown or malformed
        return False


def _inflate_bounded(fp: BinaryIO, limit: int) -> bytes:
    """Inflate a Deflated Explicit VR dataset, refusing to produce more than ``limit`` bytes.

    A deflate stream expands up to ~1000:1, so a 300 kB file can ask for 300 MB; pydicom's own
    reader inflates without a limit, so we do it here with ``max_length``.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    parts: list[bytes] = []
    produced = 0
    while not inflater.eof:
        chunk = inflater.unconsumed_tail or fp.read(256 * KiB)
        # One call inflates at most one step: zlib builds its output in blocks and joins them,
        # so a single call allowed the whole limit would briefly hold it twice.
        with _third_party:  # zlib.error: a damaged deflate stream
            data = inflater.decompress(chunk, min(limit + 1 - produced, _INFLATE_STEP))
        if not chunk and not data:
            raise _Reject("truncated")
        produced += len(data)
        if produced > limit:
            raise _Reject("deflated_too_large")
        parts.append(data)
    return b"".join(parts)


class _Source:
    """A file seen through the bytes already read from its start (no seek for most reads)."""

    __slots__ = ("fp", "head", "size")

    def __init__(self, fp: BinaryIO, head: bytes, size: int) -> None:
        self.fp = fp
        self.head = head
        self.size = size

    def read_at(self, pos: int, length: int) -> bytes:
        if pos + length <= len(self.head):
            return self.head[pos : pos + length]
        self.fp.seek(pos)
        return self.fp.read(length)


def _at_pixel_data(tag: int, vr: str | None, length: int) -> bool:
    return tag in _PIXEL_TAGS


def _read_header(
    source: _Source, start: int, layout: _Layout, *, complete: bool
) -> tuple[Dataset, int | None]:
    """Parse the elements we need up to the pixel data; return them and where pixel data starts.

    Parsing the 64 KiB already in memory is fast (a file object's tell() is a system call and
    pydicom calls it for every element). If the header does not end inside that prefix, the
    prefix cannot be trusted (a value may be cut at its edge) and we parse the file itself.
    """
    if layout.little_endian:
        walked = _walk_little_endian(source.head, start, implicit=layout.implicit_vr)
        if walked is not None:
            return _dataset(walked[0], implicit=layout.implicit_vr), walked[1]
    whole = complete or len(source.head) >= source.size
    stream: BinaryIO = io.BytesIO(source.head)
    try:
        ds = _parse(stream, start, layout)
    except _Damaged:
        if whole:
            raise
        stopped = False  # e.g. a sequence cut at the prefix's edge: read the real file
    else:
        pos = stream.tell()
        stopped = _pixel_tag_at(source.head, pos, layout.little_endian)
    if not (stopped or whole):
        stream = source.fp
        ds = _parse(stream, start, layout)
        pos = stream.tell()
        stopped = _pixel_tag_at(source.read_at(pos, 4), 0, layout.little_endian)
    # Everything before the pixel data tag is whole; otherwise an element may claim bytes the
    # file does not have (pydicom silently returns a short value or seeks past the end).
    if pos > source.size or (not stopped and _value_beyond_end(ds, source.size)):
        raise _Reject("truncated")
    return ds, (pos if stopped else None)


def _walk_little_endian(
    head: bytes, start: int, *, implicit: bool
) -> tuple[dict[BaseTag, RawDataElement], int] | None:
    """The elements we need and where the pixel data starts, found by stepping over lengths.

    The same elements pydicom's reader returns (``read_dataset`` with our ``specific_tags``,
    ``stop_when`` and ``defer_size``), at a fraction of its cost per element, for the common
    case only: a little-endian header with every length defined, ending inside ``head``.
    Anything else (an undefined length, an unknown VR, a value running past ``head``, an
    encoding that contradicts the transfer syntax, no pixel data) returns None, and pydicom
    reads the file.
    """
    found: dict[BaseTag, RawDataElement] = {}
    pos, end = start, len(head)
    if implicit and head[start + 4 : start + 6] in _VRS:
        return None  # explicit VR under an implicit syntax: pydicom switches, with a warning
    # Local names: this loop runs for every element of every file of an upload.
    explicit_header, implicit_header = _EXPLICIT_HEADER.unpack_from, _IMPLICIT_HEADER.unpack_from
    long_length, long_vrs, vrs = _LONG_LENGTH.unpack_from, _LONG_VRS, _VRS
    pixel_tags, wanted = _PIXEL_TAGS, _WANTED
    raw_vr = b""
    while pos + 8 <= end:
        if implicit:
            group, element, length = implicit_header(head, pos)
            value_at = pos + 8
        else:
            group, element, raw_vr, length = explicit_header(head, pos)
            if raw_vr in long_vrs:
                if pos + 12 > end:
                    return None
                (length,) = long_length(head, pos + 8)
                value_at = pos + 12
            elif raw_vr in vrs:
                value_at = pos + 8
            else:
                return None
        tag = group << 16 | element
        if tag in pixel_tags:
            return found, pos
        after = value_at + length
        if length == 0xFFFFFFFF or group == 0xFFFE or after > end:
            return None
        if tag in wanted:
            vr = None if implicit else raw_vr.decode("ascii")
            if not length:
                value = empty_value_for_VR(vr, raw=True)
            elif length <= _DEFER_BYTES or tag == 0x00080005:  # the charset is never deferred
                value = head[value_at:after]
            else:
                value = None
            key = BaseTag(tag)
            found[key] = RawDataElement(key, vr, length, value, value_at, implicit, True)
        pos = after
    return None


def _dataset(elements: dict[BaseTag, RawDataElement], *, implicit: bool) -> Dataset:
    """A dataset of walked elements, with the encoding pydicom's reader would record."""
    ds = Dataset(elements)
    encoding: str | list[str] = default_encoding
    charset = elements.get(BaseTag(0x00080005))
    if charset is not None:
        with _third_party:
            encoding = convert_encodings(convert_raw_data_element(charset).value)
    ds.set_original_encoding(implicit, True, encoding)
    return ds


def _parse(stream: BinaryIO, start: int, layout: _Layout) -> Dataset:
    stream.seek(start)
    with _third_party:
        return read_dataset(
            stream,
            layout.implicit_vr,
            layout.little_endian,
            stop_when=_at_pixel_data,
            defer_size=_DEFER_BYTES,
            specific_tags=_TAG_LIST,
        )


def _pixel_tag_at(buf: bytes, pos: int, little: bool) -> bool:
    if pos + 4 > len(buf):
        return False
    group, element = struct.unpack_from("<HH" if little else ">HH", buf, pos)
    return (group << 16 | element) in _PIXEL_TAGS


def _value_beyond_end(ds: Dataset, size: int) -> bool:
    return any(
        isinstance(elem, RawDataElement)
        and elem.length != 0xFFFFFFFF
        and elem.value_tell + elem.length > size
        for elem in ds.values()
    )


def _fill_fields(ds: Dataset, result: FileResult, layout: _Layout) -> None:
    fields = _Fields(ds)
    t = _TAGS
    r = result
    r.sop_instance_uid = fields.uid(t["sop_instance_uid"])
    r.sop_class_uid = fields.uid(t["sop_class_uid"]) or _meta_text(layout.meta, 0x0002)
    r.study_instance_uid = fields.uid(t["study_instance_uid"])
    r.series_instance_uid = fields.uid(t["series_instance_uid"])
    r.modality = fields.text(t["modality"]).upper()
    r.body_part = fields.text(t["body_part"]).upper()
    r.study_description = fields.text(t["study_description"])
    r.series_description = fields.text(t["series_description"])
    r.study_date = fields.text(t["study_date"])
    r.patient_id = fields.text(t["patient_id"])
    r.patient_name = fields.text(t["patient_name"])
    r.patient_birth_date = fields.text(t["patient_birth_date"])
    r.series_number = fields.integer(t["series_number"])
    r.instance_number = fields.integer(t["instance_number"])
    r.image_position = fields.floats(t["image_position"], 3)  # type: ignore[assignment]
    r.image_orientation = fields.floats(t["image_orientation"], 6)  # type: ignore[assignment]
    r.view_position = fields.text(t["view_position"]).upper()
    laterality = fields.text(t["image_laterality"]) or fields.text(t["laterality"])
    r.image_laterality = laterality.upper()
    r.presentation_intent_type = fields.text(t["presentation_intent_type"]).upper()
    r.photometric_interpretation = fields.text(t["photometric_interpretation"]).upper()
    r.rows = fields.unsigned_short(t["rows"])
    r.columns = fields.unsigned_short(t["columns"])
    frames_tag = t["number_of_frames"]
    frames = fields.integer(frames_tag)
    if frames is None and frames_tag in fields.raw and fields.text(frames_tag):
        # 1e20 frames read as "absent" would pass as one frame: what the file holds is unknown.
        raise _Reject("truncated")
    r.number_of_frames = max(frames or 1, 1)
    r.bits_allocated = fields.unsigned_short(t["bits_allocated"])
    r.samples_per_pixel = max(fields.unsigned_short(t["samples_per_pixel"]) or 1, 1)
    burned_in = t["burned_in_annotation"]
    r.burned_in_annotation = burned_in in fields.raw and fields.text(burned_in).upper() == "YES"
    for name in _SHARED_FIELDS:
        setattr(r, name, _shared(getattr(r, name)))


# Thousands of instances repeat the same study UID, modality, name...: keep one copy of each.
_SHARED_FIELDS: Final = (
    "sop_class_uid",
    "study_instance_uid",
    "series_instance_uid",
    "modality",
    "body_part",
    "study_description",
    "series_description",
    "study_date",
    "patient_id",
    "patient_name",
    "patient_birth_date",
    "view_position",
    "image_laterality",
    "presentation_intent_type",
    "photometric_interpretation",
    "transfer_syntax_uid",
)


def _shared(value: str) -> str:
    return sys.intern(str(value)) if value else ""


class _Fields:
    """Values of the elements we read, decoded from their raw bytes.

    pydicom's own conversion costs ~20 us an element, more than parsing the whole header, so
    the plain-ASCII values (nearly all) are decoded here; anything else (a name in another
    character set, ISO 2022 escapes) goes through pydicom, which knows the character sets.
    """

    __slots__ = ("ds", "raw")

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        # int() keys: BaseTag compares in Python, a plain int lookup stays in C.
        self.raw = {int(tag): elem for tag, elem in ds.items()}

    def _ascii(self, tag: int) -> str | None:
        """The value as text if it is plain ASCII; "" if absent; None to ask pydicom."""
        elem = self.raw.get(tag)
        if elem is None:
            return ""
        if not isinstance(elem, RawDataElement):
            return None
        value = elem.value
        if value is None:
            return ""  # longer than _DEFER_BYTES: not a value we believe
        if value.isascii() and b"\x1b" not in value:
            return value.decode("ascii")
        return None

    def _converted(self, tag: int) -> str:
        """The first value as pydicom decodes it; "" when absent or malformed."""
        try:
            value = self.ds[tag].value
        except Exception:  # only pydicom decoding the file's value: a malformed value is absent
            return ""
        first = _first(value)
        if first is None:
            return ""
        try:
            return str(first)
        except Exception:  # a PersonName decodes its bytes only now: the same as above
            return ""

    def text(self, tag: int) -> str:
        value = self._ascii(tag)
        if value is None:
            value = self._converted(tag)
        return value.split("\\")[0].strip("\x00 ")[:256]

    def uid(self, tag: int) -> str:
        value = self._ascii(tag)
        if value is None:
            elem = self.raw.get(tag)
            raw = getattr(elem, "value", b"")
            value = raw.decode("latin-1") if isinstance(raw, bytes) else "?"
        return value.strip("\x00 ")  # several values keep their backslash: not a valid UID

    def integer(self, tag: int) -> int | None:
        value = self._ascii(tag)
        if not value:
            return None
        text = value.split("\\")[0].strip()
        try:
            number = int(text)
        except ValueError:
            try:  # vendor quirk: "12.0" in an IS element
                as_float = float(text)
            except ValueError:
                return None
            if not as_float.is_integer():
                return None
            number = int(as_float)
        return number if -(2**31) <= number < 2**32 else None

    def unsigned_short(self, tag: int) -> int | None:
        elem = self.raw.get(tag)
        if not isinstance(elem, RawDataElement) or not elem.value or len(elem.value) != 2:
            return None
        return struct.unpack("<H" if elem.is_little_endian else ">H", elem.value)[0]

    def floats(self, tag: int, count: int) -> tuple[float, ...] | None:
        value = self._ascii(tag)
        if not value:
            return None
        try:
            numbers = tuple(float(item) for item in value.split("\\"))
        except ValueError:
            return None
        if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
            return None
        return numbers


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _check_uids(result: FileResult) -> None:
    uids = (result.sop_instance_uid, result.study_instance_uid, result.series_instance_uid)
    if not all(uids):
        result.problems.append(make("missing_uid", result.path))
    elif not all(_is_valid_uid(uid) for uid in uids):
        # Digits and dots only, at most 64: a UID ends up in paths and URLs ("../x" must not).
        # Leading zeros in a component are invalid too but common in old vendors' UIDs: accepted.
        result.problems.append(make("invalid_uid", result.path))


def _is_valid_uid(uid: str) -> bool:
    return len(uid) <= 64 and _UID_SYNTAX.fullmatch(uid) is not None


def _check_completeness(
    ds: Dataset, source: _Source, pixel_at: int | None, result: FileResult, layout: _Layout
) -> None:
    """Truncation: the file must hold the pixel data its header announces."""
    result.has_pixel_data = pixel_at is not None
    if pixel_at is None:
        if result.rows and result.columns:
            raise _Reject("truncated")  # an image whose pixel data never comes
        return
    encoding = ds.original_encoding  # pydicom may have switched VR (vendor quirk), follow it
    implicit = bool(encoding[0]) if encoding[0] is not None else layout.implicit_vr
    little = bool(encoding[1]) if encoding[1] is not None else layout.little_endian
    order = "<" if little else ">"
    header = source.read_at(pixel_at, 12)
    if len(header) < 8:
        raise _Reject("truncated")
    if implicit:
        (length,) = struct.unpack_from(order + "L", header, 4)
        value_at = pixel_at + 8
    elif header[4:6] in _LONG_VRS:
        if len(header) < 12:
            raise _Reject("truncated")
        (length,) = struct.unpack_from(order + "L", header, 8)
        value_at = pixel_at + 12
    else:  # a short VR on pixel data is nonsense, but read it as pydicom would
        (length,) = struct.unpack_from(order + "H", header, 6)
        value_at = pixel_at + 8
    if length == 0xFFFFFFFF:
        if not _fragments_complete(source, value_at, order):
            raise _Reject("truncated")
        return
    if value_at + length > source.size:
        raise _Reject("truncated")
    expected = _native_length(result)
    if expected is not None and not UID(layout.transfer_syntax).is_compressed and length < expected:
        raise _Reject("truncated")


def _fragments_complete(source: _Source, pos: int, order: str) -> bool:
    """Walk the encapsulated items (headers only) to the sequence delimiter."""
    for _ in range(_MAX_FRAGMENTS):
        item = source.read_at(pos, 8)
        if len(item) < 8:
            return False
        group, element, length = struct.unpack(order + "HHL", item)
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER:
            return True
        if tag != _ITEM or length == 0xFFFFFFFF:
            return False
        pos += 8 + length
        if pos > source.size:
            return False
    return True  # absurdly many fragments: the decode check judges the series


def _native_length(result: FileResult) -> int | None:
    rows, columns, bits = result.rows, result.columns, result.bits_allocated
    if not rows or not columns or not bits or rows < 0 or columns < 0:
        return None
    pixels = rows * columns * result.number_of_frames
    samples = result.samples_per_pixel
    if result.photometric_interpretation == "YBR_FULL_422" and samples == 3:
        samples = 2  # 4:2:2 stores two samples per pixel on average
    if bits == 1:
        return (pixels * samples + 7) // 8
    return pixels * samples * (bits // 8)


# --------------------------------------------------------------------------------------------
# DICOMDIR (a CD's index)
# --------------------------------------------------------------------------------------------


def check_dicomdir(path: str | os.PathLike[str], *, rel_path: str | None = None) -> list[Problem]:
    """Cross-check a DICOMDIR against the folder it sits in.

    We walk the files ourselves rather than trust the index, so this only informs: referenced
    files that are missing give one warning; a reference that leaves the folder is refused.
    pydicom's ``FileSet`` is not used to load it: it raises on the first escaping path, drops
    missing files with a log line that quotes the path (CD folders are often named after the
    patient ID) and matches names case-sensitively, while CDs read on some systems come out in
    lower case.
    """
    path = Path(path)
    shown = os.fspath(path) if rel_path is None else rel_path
    try:
        return _check_dicomdir(path, shown)
    except _Damaged:  # a damaged index only costs us the cross-check
        return [make("dicomdir_unreadable", shown)]
    except OSError as exc:
        if exc.errno in _INFRASTRUCTURE_ERRNOS:
            raise
        return [make("dicomdir_unreadable", shown)]
    except Exception as exc:  # not the index's doing (see _Damaged): a failure of our own code
        return [_internal_error(exc, shown)]


_DIRECTORY_RECORDS: Final = 0x00041220


def _check_dicomdir(path: Path, shown: str) -> list[Problem]:
    size = path.stat().st_size
    if size > MAX_DICOMDIR_BYTES or not path.is_file():
        return [make("dicomdir_unreadable", shown)]
    with _Quiet(), _third_party:
        ds = dcmread(path, force=True, specific_tags=[_DIRECTORY_RECORDS])
        records = ds.get_item(_DIRECTORY_RECORDS, keep_deferred=True)
    if records is None or _cut_short(records, size):
        return [make("dicomdir_unreadable", shown)]
    with _Quiet(), _third_party:  # pydicom parses the records, and decodes each value, here
        values = [record.get("ReferencedFileID") for record in ds.DirectoryRecordSequence]
    file_ids = [_file_id(value) for value in values]
    return _cross_check(path.parent, [parts for parts in file_ids if parts], shown)


def _cut_short(elem: object, size: int) -> bool:
    """pydicom reads a sequence cut by the end of the file without complaint; we do not."""
    return (
        isinstance(elem, RawDataElement)
        and elem.length != 0xFFFFFFFF
        and elem.value_tell + elem.length > size
    )


def _file_id(value: object) -> list[str]:
    """The components of one record's Referenced File ID, as pydicom decoded it."""
    if value is None:
        return []
    parts = [value] if isinstance(value, str) else [str(part) for part in value]
    # One component may itself hold separators (vendor quirk, or a crafted "..\..\x").
    return [piece for part in parts for piece in re.split(r"[\\/]", part.strip("\x00 "))]


def _cross_check(folder: Path, file_ids: list[list[str]], shown: str) -> list[Problem]:
    problems: list[Problem] = []
    lowered: set[str] | None = None
    missing = 0
    for parts in file_ids:
        if _is_unsafe_reference(parts):
            if not any(p.code == "unsafe_archive_path" for p in problems):
                problems.append(make("unsafe_archive_path", shown))
            continue
        relative = PurePosixPath(*[part for part in parts if part not in ("", ".")])
        if folder.joinpath(*relative.parts).is_file():
            continue
        if lowered is None:
            lowered = _lowercase_tree(folder)
        if relative.as_posix().lower() not in lowered:
            missing += 1
    if missing:
        problems.append(make("dicomdir_missing_file", shown, count=missing))
    return problems


def _is_unsafe_reference(parts: list[str]) -> bool:
    if not parts or not any(parts):
        return True
    first = parts[0]
    return first.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", first)) or ".." in parts


def _lowercase_tree(folder: Path) -> set[str]:
    names: set[str] = set()
    for directory, _dirs, files in os.walk(folder):
        base = PurePosixPath(Path(directory).relative_to(folder).as_posix())
        names.update((base / name).as_posix().lower().removeprefix("./") for name in files)
    return names


# --------------------------------------------------------------------------------------------
# Previews and the one-frame decode check
# --------------------------------------------------------------------------------------------


def make_preview(
    path: str | os.PathLike[str],
    *,
    rel_path: str | None = None,
    frame: int | None = None,
    max_side: int = PREVIEW_MAX_SIDE,
) -> Image.Image | Problem:
    """Decode ONE frame (the middle one by default) and return it as a small 8-bit image.

    Proves the pixel data is readable with the installed codecs; returns ``undecodable_pixels``
    (or the file's own error) when it is not.
    """
    shown = os.fspath(path) if rel_path is None else rel_path
    info = inspect_file(path, rel_path=shown)
    errors = [problem for problem in info.problems if problem.is_error]
    if errors:
        return errors[0]
    if info.kind != "instance" or not info.has_pixel_data:
        return make("undecodable_pixels", shown)
    try:
        with _Quiet():  # reading the window and photometric values decodes text too
            array, ds = _decode_frame(Path(path), info, frame)
            return _to_image(array, ds, max_side)
    except (_Reject, _Damaged):  # any codec failure means the same to the patient
        return make("undecodable_pixels", shown)
    except OSError as exc:
        if exc.errno in _INFRASTRUCTURE_ERRNOS:
            raise
        return make("undecodable_pixels", shown)
    except Exception as exc:  # not the pixels' doing (see _Damaged): a failure of our own code
        return _internal_error(exc, shown)


def _decode_frame(path: Path, info: FileResult, frame: int | None) -> tuple[np.ndarray, Dataset]:
    frame_bytes = (info.rows or 0) * (info.columns or 0) * info.samples_per_pixel
    frame_bytes *= max((info.bits_allocated or 8) // 8, 1)
    if frame_bytes > MAX_FRAME_BYTES:
        raise _Damaged  # too large to decode safely: to the patient, unreadable
    index = info.number_of_frames // 2 if frame is None else frame
    if info.transfer_syntax_uid == DeflatedExplicitVRLittleEndian:
        return _decode_deflated(path, index)
    ds = Dataset()
    try:
        with _third_party:
            array = pixel_array(
                path,
                index=index,
                ds_out=ds,
                transfer_syntax_uid=info.transfer_syntax_uid,
            )
    except _Damaged:
        # Vendor quirk: files encoded in implicit VR under an explicit transfer syntax read
        # fine with dcmread (which detects the switch) but not through the frame-only reader.
        if info.file_size > MAX_FULL_READ_BYTES:
            raise
        with _third_party:
            ds = dcmread(path, force=True)
            if "TransferSyntaxUID" not in ds.file_meta:
                ds.file_meta.TransferSyntaxUID = UID(info.transfer_syntax_uid)
            array = pixel_array(ds, index=index)
    return array, ds


def _decode_deflated(path: Path, index: int) -> tuple[np.ndarray, Dataset]:
    with open(path, "rb") as fp:
        head = fp.read(HEAD_BYTES)
        start = 132 if head[128:132] == b"DICM" else 0
        _meta, dataset_start = _scan_file_meta(head, start)
        fp.seek(dataset_start)
        inflated = _inflate_bounded(fp, MAX_INFLATED_BYTES)
    with _third_party:
        ds = read_dataset(io.BytesIO(inflated), False, True)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # what it is once inflated
        return pixel_array(ds, index=index), ds


def _header_value(ds: Dataset, keyword: str) -> Any:
    """A value of the file's header as pydicom decodes it; None when absent or malformed."""
    try:
        return ds.get(keyword)
    except Exception:  # only pydicom decoding the file's value: a malformed value is absent
        return None


def _to_image(array: np.ndarray, ds: Dataset, max_side: int) -> Image.Image:
    photometric = str(_header_value(ds, "PhotometricInterpretation") or "").upper()
    if photometric == "PALETTE COLOR":
        # pydicom applying the file's own lookup table: if it cannot, the grey values still show.
        with contextlib.suppress(Exception):
            array = apply_color_lut(array, ds)
    # What a codec may hand back for a strange header (no pixels, two samples per pixel...) is
    # checked here, so that numpy and Pillow below only ever see what they can draw.
    if array.size == 0 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] < 3):
        raise _Damaged
    step = max(1, max(array.shape[:2]) // (max_side * 2))
    array = np.asarray(array[::step, ::step])
    if array.ndim == 3:
        image = Image.fromarray(_stretch(array[..., :3].astype(np.float64)))  # RGB
    else:
        gray = _rescaled(array, ds)
        low, high = _window(gray, ds)
        eight_bit = _stretch(gray, low, high)
        if photometric == "MONOCHROME1":
            eight_bit = 255 - eight_bit
        image = Image.fromarray(eight_bit)  # L
    image.thumbnail((max_side, max_side))
    return image


def _rescaled(array: np.ndarray, ds: Dataset) -> np.ndarray:
    values = array.astype(np.float64)
    try:
        slope = float(_header_value(ds, "RescaleSlope") or 1)
        intercept = float(_header_value(ds, "RescaleIntercept") or 0)
    except (TypeError, ValueError):  # several values, or text: not a rescale we can apply
        return values
    if math.isfinite(slope) and math.isfinite(intercept):
        values = values * slope + intercept
    return values


def _window(values: np.ndarray, ds: Dataset) -> tuple[float, float]:
    """The first VOI window of the header if sane, else the 0.5-99.5 percentile range."""
    try:
        center = float(_first(_header_value(ds, "WindowCenter")))
        width = float(_first(_header_value(ds, "WindowWidth")))
        if math.isfinite(center) and math.isfinite(width) and width >= 1:
            return center - width / 2, center + width / 2
    except (TypeError, ValueError):
        pass
    low, high = np.percentile(values, [0.5, 99.5])
    return float(low), float(high)


def _stretch(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    if not high > low:
        high = low + 1
    scaled = (np.clip(values, low, high) - low) * (255.0 / (high - low))
    return scaled.astype(np.uint8)


# --------------------------------------------------------------------------------------------
# An upload: walking it
# --------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_IGNORED_NAMES: Final = frozenset(
    {
        "autorun.inf",
        "autorun.ico",
        "thumbs.db",
        "desktop.ini",
        ".ds_store",
        "icon\r",
        "readme",
        "license",
        "dicomdir.bak",
    }
)
_IGNORED_EXTENSIONS: Final = frozenset(
    _words(
        ".exe .dll .ini .inf .htm .html .txt .xml .xsl .xslt .css .js .json .jar .class .bat .cmd "
        ".sh .com .msi .sys .ocx .cab .chm .hlp .lnk .url .ico .icns .svg .ttf .otf .woff .woff2 "
        ".rtf .log .cfg .conf .config .manifest .plist .so .dylib .pak .lic .md .csv .nfo .mui .py "
        ".pyd .vbs .ps1 .swf .xap .db .sqlite .lock .tmp .bak .doc .docx .xls .xlsx .part"
    )
)
_OTHER_ARCHIVE_EXTENSIONS: Final = frozenset(
    _words(".rar .7z .tar .gz .tgz .bz2 .xz .iso .dmg .cab")
)
# Viewer programs that hospitals burn next to the images: non-DICOM files in these folders are
# silently ignored (a DICOM file there still counts).
_VIEWER_FOLDERS: Final = frozenset(
    {
        "__macosx",
        "viewer",
        "viewers",
        "dicomviewer",
        "program",
        "programs",
        "bin",
        "lib",
        "jre",
        "java",
        "runtime",
        "plugins",
        "help",
        "html",
        "web",
        "webviewer",
        "autorun",
        "setup",
        "install",
        "tools",
        "osirix",
        "efilm",
        "radiant",
        "microdicom",
        "weasis",
        "ezdicom",
        "idv",
        "dotnet",
        "system volume information",
        "$recycle.bin",
    }
)


def _in_viewer_folder(rel: PurePosixPath) -> bool:
    return any(
        part.lower() in _VIEWER_FOLDERS or part.startswith(".") or part.lower().endswith(".app")
        for part in rel.parts[:-1]
    )


def _ignored_by_name(rel: PurePosixPath) -> bool:
    name = rel.name.lower()
    return (
        name in _IGNORED_NAMES
        or name.startswith(".")  # .DS_Store, ._AppleDouble, editor droppings
        or rel.suffix.lower() in _IGNORED_EXTENSIONS
        or any(part.lower() == "__macosx" for part in rel.parts)
    )


@dataclass(slots=True)
class _Upload:
    """Accumulates the files of one upload while it is walked."""

    scratch: Path
    limits: archives.Limits
    processes: int
    results: list[FileResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    dicomdirs: list[tuple[Path, str]] = field(default_factory=list)
    locations: dict[str, Path] = field(default_factory=dict)
    ignored: int = 0
    rejected: int = 0
    archives_opened: int = 0

    def add_tree(self, root: Path, prefix: str, *, inside_archive: bool) -> None:
        found = [(absolute, _join(prefix, rel)) for absolute, rel in _walk(root, self)]
        to_inspect = [(absolute, rel) for absolute, rel in found if self._worth_inspecting(rel)]
        results = inspect_files(to_inspect, processes=self.processes)
        for (absolute, rel), result in zip(to_inspect, results, strict=True):
            self._sort(absolute, rel, result, inside_archive=inside_archive)

    def add_file(self, absolute: Path, rel: str, *, inside_archive: bool) -> None:
        if self._worth_inspecting(rel):
            result = inspect_file(absolute, rel_path=rel)
            self._sort(absolute, rel, result, inside_archive=inside_archive)

    def _worth_inspecting(self, rel: str) -> bool:
        """Counts what the name alone rules out (viewer files, other archive formats)."""
        pure = PurePosixPath(rel)
        if _ignored_by_name(pure):
            self.ignored += 1
            return False
        if pure.suffix.lower() in _OTHER_ARCHIVE_EXTENSIONS:
            self._not_usable(make("unsupported_archive", rel), _in_viewer_folder(pure))
            return False
        return True

    def _sort(self, absolute: Path, rel: str, result: FileResult, *, inside_archive: bool) -> None:
        # The content decides, not the name: "scan.zip" may be an image and "IM1.pdf" too. A
        # file named .zip that is neither DICOM nor PDF is opened as a zip to say what is wrong.
        pure = PurePosixPath(rel)
        in_viewer = _in_viewer_folder(pure)
        suffix = pure.suffix.lower()
        if any(problem.code == INTERNAL_ERROR for problem in result.problems):
            # Whatever the file turned out to be (in a viewer folder, a zip, an index), nobody
            # has checked it: it is never ignored, and it stops the upload from passing.
            self.rejected += 1
            self.problems.extend(result.problems)
        elif result.kind == "zip" or (suffix == ".zip" and result.kind == "other"):
            if in_viewer:
                self.ignored += 1
            else:
                self._zip(absolute, rel, inside_archive)
        elif result.kind == "dicomdir":
            self.ignored += 1  # an index, not an image
            self.dicomdirs.append((absolute, rel))
        elif result.kind == "pdf":
            self.ignored += 1
            if not in_viewer:
                self.problems.extend(result.problems)
        elif result.kind == "instance":
            self.results.append(result)
            self.locations[rel] = absolute
        else:
            self._not_usable(result.problems[0], in_viewer)

    def _not_usable(self, problem: Problem, in_viewer: bool) -> None:
        if in_viewer:
            self.ignored += 1
        else:
            self.rejected += 1
            self.problems.append(problem)

    def _zip(self, absolute: Path, rel: str, inside_archive: bool) -> None:
        if inside_archive:
            # records.archives already unpacked the one nested level allowed and reported
            # anything deeper (nested_archive_too_deep); never unpack it a second time here.
            self.rejected += 1
            return
        self.archives_opened += 1
        target = self.scratch / f"archive-{self.archives_opened}"
        outcome = archives.extract_zip(absolute, target, limits=self.limits, label=rel)
        # Every zip of one upload draws on the same budget: ten 8 GiB zips are not allowed.
        self.limits = dataclasses.replace(
            self.limits,
            max_total_bytes=max(self.limits.max_total_bytes - outcome.bytes_written, 0),
            max_members=max(self.limits.max_members - len(outcome.files), 0),
        )
        self.problems.extend(outcome.problems)
        if not outcome.ok:
            self.rejected += 1
        if target.is_dir():  # a refused archive may have left nothing at all
            self.add_tree(target, rel, inside_archive=True)


def _join(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


def _walk(root: Path, upload: _Upload) -> Iterator[tuple[Path, str]]:
    """Regular files under ``root`` in a stable order; never follows a symlink, never opens a
    FIFO or device (reading one would hang the worker)."""
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        subdirs = []
        for entry in entries:
            rel = _join(prefix, entry.name)
            if entry.is_symlink():
                upload.rejected += 1
                upload.problems.append(make("unsafe_archive_path", rel))
            elif entry.is_dir(follow_symlinks=False):
                subdirs.append((Path(entry.path), rel))
            elif entry.is_file(follow_symlinks=False):
                yield Path(entry.path), rel
            else:
                upload.ignored += 1
        stack.extend(reversed(subdirs))


# --------------------------------------------------------------------------------------------
# An upload: the study-level checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Options:
    declared_modality: str | None
    declared_region: str | None
    patient: AccountHolder | Mapping[str, Any] | None
    limits: archives.Limits
    check_pixels: bool
    processes: int


def validate_path(
    path: str | os.PathLike[str],
    *,
    declared_modality: str | None = None,
    declared_region: str | None = None,
    patient: AccountHolder | Mapping[str, Any] | None = None,
    limits: archives.Limits = archives.DEFAULT_LIMITS,
    check_pixels: bool = True,
    processes: int | None = None,
) -> Report:
    """Validate a folder, a single file or a zip; temporary extractions are removed on return.

    ``processes``: how many processes inspect a large folder (default: one per core).
    """
    path = Path(path)
    options = _options(declared_modality, declared_region, patient, limits, check_pixels, processes)
    if path.is_dir():
        collect = partial(_Upload.add_tree, root=path, prefix="", inside_archive=False)
    else:
        collect = partial(_Upload.add_file, absolute=path, rel=path.name, inside_archive=False)
    with tempfile.TemporaryDirectory(prefix="secondopinion-upload-") as temporary:
        return _validate(collect, options, Path(temporary))


def validate_tree(
    root: str | os.PathLike[str],
    *,
    declared_modality: str | None = None,
    declared_region: str | None = None,
    patient: AccountHolder | Mapping[str, Any] | None = None,
    limits: archives.Limits = archives.DEFAULT_LIMITS,
    check_pixels: bool = True,
    scratch: str | os.PathLike[str] | None = None,
    processes: int | None = None,
) -> Report:
    """Validate every file under ``root``.

    Zips found in it are unpacked to a temporary folder that is removed on return, or into
    ``scratch`` when given, which the caller then owns (to store the unpacked images).
    ``processes``: how many processes inspect a large folder (default: one per core).
    """
    root = Path(root)
    options = _options(declared_modality, declared_region, patient, limits, check_pixels, processes)
    collect = partial(_Upload.add_tree, root=root, prefix="", inside_archive=False)
    if scratch is not None:
        return _validate(collect, options, Path(scratch))
    with tempfile.TemporaryDirectory(prefix="secondopinion-upload-") as temporary:
        return _validate(collect, options, Path(temporary))


def _options(
    declared_modality: str | None,
    declared_region: str | None,
    patient: AccountHolder | Mapping[str, Any] | None,
    limits: archives.Limits,
    check_pixels: bool,
    processes: int | None,
) -> _Options:
    if processes is None:
        processes = len(os.sched_getaffinity(0))
    return _Options(declared_modality, declared_region, patient, limits, check_pixels, processes)


def _validate(collect: Callable[[_Upload], None], options: _Options, scratch: Path) -> Report:
    upload = _Upload(scratch=scratch, limits=options.limits, processes=options.processes)
    collect(upload)
    report = Report(problems=list(upload.problems), locations=upload.locations)
    for dicomdir, rel in upload.dicomdirs:
        report.problems.extend(check_dicomdir(dicomdir, rel_path=rel))
    kept, duplicates, rejected = _deduplicate(upload.results, report)
    report.instances = kept
    report.files = {
        "dicom": len(kept),
        "ignored": upload.ignored + duplicates,
        "rejected": upload.rejected + rejected,
    }
    if not kept:
        if not any(problem.code == INTERNAL_ERROR for problem in report.problems):
            report.problems.append(make("empty_upload"))  # unknown, if our code failed on some
        return report
    report.studies = _summarise(kept)
    report.problems.extend(_identity_problems(kept, _account_holder(options.patient)))
    report.problems.extend(_declared_problems(kept, options))
    for study in report.studies:
        report.problems.extend(_study_problems(study, kept))
    if options.check_pixels:
        report.problems.extend(_decode_one_frame_per_series(report, kept, upload))
    return report


def _deduplicate(results: list[FileResult], report: Report) -> tuple[list[FileResult], int, int]:
    """Keep one good copy per SOP Instance UID; a damaged copy of a kept image is a duplicate."""
    kept: dict[str, FileResult] = {}
    duplicates: list[FileResult] = []
    for result in results:
        if result.ok:
            if result.sop_instance_uid in kept:
                duplicates.append(result)
            else:
                kept[result.sop_instance_uid] = result
    rejected = 0
    warned: set[tuple[str, str]] = set()
    for result in results:
        if result.ok:
            # A usable file's warnings (missing_file_meta on an old CD) once per folder, not
            # once per image: 500 identical lines tell the patient nothing more than one.
            for problem in result.problems:
                key = (problem.code, PurePosixPath(problem.path).parent.as_posix())
                if key not in warned:
                    warned.add(key)
                    report.problems.append(problem)
            continue
        superseded = result.sop_instance_uid in kept and all(
            p.code == "truncated" for p in result.problems if p.is_error
        )
        if superseded:
            duplicates.append(result)
        else:
            rejected += 1
            report.problems.extend(result.problems)
    if duplicates:
        report.problems.append(
            make("duplicate_instance", duplicates[0].path, count=len(duplicates))
        )
    return list(kept.values()), len(duplicates), rejected


def _summarise(kept: list[FileResult]) -> list[StudySummary]:
    by_study: dict[str, dict[str, list[FileResult]]] = defaultdict(lambda: defaultdict(list))
    for result in kept:
        by_study[result.study_instance_uid][result.series_instance_uid].append(result)
    studies = []
    for study_uid, series_map in by_study.items():
        instances = [result for members in series_map.values() for result in members]
        series = [_series_summary(uid, members) for uid, members in series_map.items()]
        series.sort(
            key=lambda s: (s.series_number is None, s.series_number or 0, s.series_instance_uid)
        )
        body_parts = sorted({r.body_part for r in instances if r.body_part})
        studies.append(
            StudySummary(
                study_instance_uid=study_uid,
                patient_id=_most_common(r.patient_id for r in instances),
                modalities=sorted({s.modality for s in series if s.modality}),
                body_parts=body_parts,
                regions=sorted({region_for_body_part(b) or "" for b in body_parts} - {""}),
                description=_most_common(r.study_description for r in instances),
                study_date=_most_common(r.study_date for r in instances),
                series=series,
            )
        )
    studies.sort(key=lambda s: (s.study_date, s.study_instance_uid))
    return studies


def _series_summary(uid: str, members: list[FileResult]) -> SeriesSummary:
    return SeriesSummary(
        series_instance_uid=uid,
        modality=_most_common(r.modality for r in members),
        body_part=_most_common(r.body_part for r in members),
        description=_most_common(r.series_description for r in members),
        series_number=members[0].series_number,
        instance_count=len(members),
    )


def _most_common(values: Iterable[str]) -> str:
    counts = Counter(value for value in values if value)
    return counts.most_common(1)[0][0] if counts else ""


def _common_folder(paths: Iterable[str]) -> str:
    folders = [PurePosixPath(path).parent.as_posix() for path in paths]
    if not folders:
        return ""
    common = os.path.commonpath(folders) if all(f != "." for f in folders) else ""
    return "" if common == "." else common


# --- identity ---------------------------------------------------------------------------------

_NAME_NOISE: Final = frozenset(
    _words(
        "mr mrs ms miss dr prof jr sr md phd ii iii anonymous anonymized anon unknown patient none "
        "noname"
    )
)


def _account_holder(patient: AccountHolder | Mapping[str, Any] | None) -> AccountHolder | None:
    if patient is None:
        return None
    if isinstance(patient, AccountHolder):
        return patient
    if isinstance(patient, Mapping):
        return AccountHolder(name=patient.get("name") or "", birth_date=patient.get("birth_date"))
    name = getattr(patient, "name", "") or ""
    return AccountHolder(name=str(name), birth_date=getattr(patient, "birth_date", None))


@lru_cache(maxsize=1024)
def name_tokens(value: str) -> frozenset[str]:
    """Comparable words of a DICOM PN ("FAMILY^GIVEN^MIDDLE=ideographic") or a plain name.

    Accents are dropped and case folded; titles, initials and anonymiser words do not count.
    """
    alphabetic = value.split("=")[0]
    decomposed = unicodedata.normalize("NFKD", alphabetic)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return frozenset(
        word for word in re.split(r"[\W\d_]+", plain) if len(word) >= 2 and word not in _NAME_NOISE
    )


def names_match(first: frozenset[str], second: frozenset[str]) -> bool | None:
    """None when either name is unknown; True when they share a word (order, middle names and
    "Ann"/"Anna"-style shortening do not matter); False when clearly different."""
    if not first or not second:
        return None
    return any(_words_match(a, b) for a in first for b in second)


def _words_match(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 3 and (a.startswith(b) or b.startswith(a)))


def parse_birth_date(value: date | str | None) -> date | None:
    """A DICOM DA (YYYYMMDD; vendors also write YYYY.MM.DD) or an ISO date; None if unknown."""
    if value is None:
        return None
    if isinstance(value, date):
        return value
    digits = re.sub(r"\D", "", str(value))
    if len(digits) != 8:
        return None
    try:
        parsed = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
    return parsed if parsed.year > 1900 else None  # 19000101 is a common "unknown"


@dataclass(frozen=True, slots=True)
class _Identity:
    name: frozenset[str]
    birth: date | None
    patient_id: str


def _identities(kept: list[FileResult]) -> set[_Identity]:
    return {
        _Identity(name_tokens(r.patient_name), parse_birth_date(r.patient_birth_date), r.patient_id)
        for r in kept
    }


def _conflict(a: _Identity, b: _Identity) -> bool:
    """Different people, not the same person seen by two hospitals (IDs differ across issuers)."""
    if names_match(a.name, b.name) is False:
        return True
    if a.birth and b.birth and a.birth != b.birth:
        return True
    return (
        not a.name
        and not b.name
        and bool(a.patient_id and b.patient_id)
        and (a.patient_id != b.patient_id)
    )


def _identity_problems(kept: list[FileResult], holder: AccountHolder | None) -> list[Problem]:
    identities = list(_identities(kept))
    problems = []
    if any(_conflict(a, b) for i, a in enumerate(identities) for b in identities[i + 1 :]):
        problems.append(make("multiple_patients"))
    if holder is not None:
        tokens = name_tokens(holder.name)
        birth = parse_birth_date(holder.birth_date)
        if any(
            names_match(identity.name, tokens) is False
            or (identity.birth and birth and identity.birth != birth)
            for identity in identities
        ):
            problems.append(make("patient_mismatch"))
    return problems


# --- what the patient declared ------------------------------------------------------------

DECLARED_MODALITIES: Final[dict[str, frozenset[str]]] = {
    "mri": frozenset({"MR"}),
    "mammogram": frozenset({"MG"}),
    "ct": frozenset({"CT"}),
    "ultrasound": frozenset({"US"}),
    "xray": frozenset({"CR", "DX", "RG", "RF", "XA", "PX", "IO"}),
    "pet": frozenset({"PT", "NM"}),
}
_DECLARED_ALIASES: Final = {
    "mr": "mri",
    "mammography": "mammogram",
    "mammo": "mammogram",
    "us": "ultrasound",
    "x-ray": "xray",
    "x_ray": "xray",
    "radiograph": "xray",
    "pet-ct": "pet",
    "pet_ct": "pet",
    "nuclear": "pet",
}
_FRIENDLY_DECLARED: Final = {
    "mri": "an MRI",
    "mammogram": "a mammogram",
    "ct": "a CT scan",
    "ultrasound": "an ultrasound",
    "xray": "an X-ray",
    "pet": "a PET or nuclear medicine scan",
}
_FRIENDLY_MODALITY: Final = {
    "MR": "an MRI",
    "MG": "a mammogram",
    "CT": "a CT scan",
    "US": "an ultrasound",
    "CR": "an X-ray",
    "DX": "an X-ray",
    "RG": "an X-ray",
    "RF": "an X-ray (fluoroscopy)",
    "XA": "an angiogram",
    "PT": "a PET scan",
    "NM": "a nuclear medicine scan",
    "PX": "a dental X-ray",
    "IO": "a dental X-ray",
}
# Objects that ride along with images and say nothing about the exam type.
_NON_IMAGE_MODALITIES: Final = frozenset({"SR", "PR", "KO", "DOC", "OT", "REG", "SEG", "AU", ""})

_BODY_PART_REGIONS: Final[dict[str, str]] = {
    **dict.fromkeys(
        _words(
            "BRAIN HEAD SKULL ORBIT IAC SELLA PITUITARY SINUS FACE JAW TMJ MANDIBLE MAXILLA NOSE "
            "EAR TEMPORALBONE CEREBRUM CEREBELLUM BRAINSTEM HEADNECK NECK THYROID LARYNX PHARYNX "
            "PAROTID CAROTID CIRCLEOFWILLIS KOPF SCHAEDEL SCHADEL CRANE CABEZA CRANIUM"
        ),
        "head",
    ),
    **dict.fromkeys(
        _words(
            "SPINE CSPINE TSPINE LSPINE SSPINE LSSPINE CTSPINE TLSPINE WHOLESPINE SACRUM COCCYX "
            "SPINALCORD HWS BWS LWS WIRBELSAEULE RACHIS COLUMNA"
        ),
        "spine",
    ),
    **dict.fromkeys(
        _words("CHEST THORAX LUNG LUNGS HEART CARDIAC CORONARY MEDIASTINUM RIB RIBS STERNUM"),
        "chest",
    ),
    **dict.fromkeys(_words("BREAST MAMMA MAMMAE SEIN"), "breast"),
    **dict.fromkeys(
        _words(
            "ABDOMEN PELVIS ABDOMENPELVIS ABDPELVIS LIVER KIDNEY KIDNEYS PANCREAS SPLEEN BLADDER "
            "PROSTATE UTERUS OVARY RECTUM COLON STOMACH BOWEL ADRENAL GALLBLADDER BILIARY BECKEN "
            "BASSIN"
        ),
        "abdomen",
    ),
    **dict.fromkeys(
        _words(
            "SHOULDER ARM HUMERUS ELBOW FOREARM WRIST HAND FINGER THUMB CLAVICLE SCAPULA "
            "UPPEREXTREMITY UPPERLIMB SCHULTER EPAULE HOMBRO"
        ),
        "upper_limb",
    ),
    **dict.fromkeys(
        _words(
            "HIP FEMUR THIGH KNEE LEG TIBIA FIBULA ANKLE FOOT TOE HEEL CALCANEUS LOWEREXTREMITY "
            "LOWERLIMB KNIE GENOU RODILLA"
        ),
        "lower_limb",
    ),
    **dict.fromkeys(_words("WHOLEBODY CHESTABDOMEN CHESTABDPELVIS CAP TAP"), "whole_body"),
    "EXTREMITY": "limb",
}
_DECLARED_REGIONS: Final[dict[str, str]] = {
    **dict.fromkeys(_words("brain head neck head_neck face sinus"), "head"),
    **dict.fromkeys(_words("spine back cervical_spine lumbar_spine thoracic_spine"), "spine"),
    **dict.fromkeys(_words("chest heart lung lungs cardiac thorax"), "chest"),
    "breast": "breast",
    **dict.fromkeys(
        _words("abdomen pelvis liver kidney prostate bladder uterus pancreas bowel"), "abdomen"
    ),
    **dict.fromkeys(_words("shoulder elbow wrist hand arm"), "upper_limb"),
    **dict.fromkeys(_words("knee hip ankle foot leg thigh"), "lower_limb"),
}
_ADJACENT_REGIONS: Final = frozenset(
    frozenset(pair)
    for pair in (
        ("head", "spine"),
        ("spine", "chest"),
        ("spine", "abdomen"),
        ("chest", "abdomen"),
        ("chest", "breast"),
        ("chest", "upper_limb"),
        ("abdomen", "lower_limb"),
        ("limb", "upper_limb"),
        ("limb", "lower_limb"),
    )
)


def region_for_body_part(body_part: str) -> str | None:
    """A coarse region ("head", "spine", "chest", "breast", "abdomen", "upper_limb",
    "lower_limb", "whole_body", "limb") for a BodyPartExamined value, or None if unknown.

    BodyPartExamined is often missing, local ("KOPF") or wrong, so routing should weigh it with
    the descriptions and what the patient said; this module only flags clear contradictions.
    """
    return _BODY_PART_REGIONS.get(re.sub(r"[^A-Z]", "", body_part.upper()))


def _regions_compatible(a: str, b: str) -> bool:
    return a == b or "whole_body" in (a, b) or frozenset((a, b)) in _ADJACENT_REGIONS


def _declared_problems(kept: list[FileResult], options: _Options) -> list[Problem]:
    problems = []
    declared = (options.declared_modality or "").strip().lower()
    declared = _DECLARED_ALIASES.get(declared, declared)
    expected = DECLARED_MODALITIES.get(declared)
    found = {r.modality for r in kept} - _NON_IMAGE_MODALITIES
    if expected is not None and found and not any(_matches(r, declared, expected) for r in kept):
        friendly = sorted({_FRIENDLY_MODALITY.get(m, f"'{m}' images") for m in found})
        problems.append(
            make(
                "modality_mismatch",
                found=" and ".join(friendly),
                declared=_FRIENDLY_DECLARED[declared],
            )
        )
    region = _DECLARED_REGIONS.get((options.declared_region or "").strip().lower())
    if region is not None:
        seen = {region_for_body_part(r.body_part) for r in kept if r.body_part} - {None}
        if seen and not any(_regions_compatible(region, other) for other in seen):  # type: ignore[arg-type]
            problems.append(make("region_mismatch"))
    return problems


def _matches(result: FileResult, declared: str, expected: frozenset[str]) -> bool:
    if result.modality in expected:
        return True
    return declared == "mammogram" and _is_breast_radiograph(result)


def _is_breast_radiograph(result: FileResult) -> bool:
    return result.modality in ("CR", "DX") and region_for_body_part(result.body_part) == "breast"


# --- per study: completeness, mammography ---------------------------------------------------

_MAMMO_VIEWS: Final = {"CC": "CC", "XCCL": "CC", "XCCM": "CC", "MLO": "MLO"}
_EXPECTED_VIEWS: Final = ("RCC", "LCC", "RMLO", "LMLO")
_VIEW_NAMES: Final = {
    "RCC": "right top-down (RCC)",
    "LCC": "left top-down (LCC)",
    "RMLO": "right angled-side (RMLO)",
    "LMLO": "left angled-side (LMLO)",
}


def _study_problems(study: StudySummary, kept: list[FileResult]) -> list[Problem]:
    members = [r for r in kept if r.study_instance_uid == study.study_instance_uid]
    problems = []
    by_series: dict[str, list[FileResult]] = defaultdict(list)
    for result in members:
        by_series[result.series_instance_uid].append(result)
    for series_members in by_series.values():
        missing = _missing_slices(series_members)
        if missing:
            folder = _common_folder(r.path for r in series_members)
            problems.append(make("missing_slices", folder, missing=missing))
    mammo = [r for r in members if r.modality == "MG" or _is_breast_radiograph(r)]
    if mammo:
        problems.extend(_mammography_problems(mammo))
    return problems


def _missing_slices(members: list[FileResult]) -> int:
    return max(_instance_number_gaps(members), _position_gaps(members))


def _instance_number_gaps(members: list[FileResult]) -> int:
    numbers = sorted({r.instance_number for r in members if r.instance_number is not None})
    if len(numbers) < 3 or len(numbers) < len(members) * 0.9:
        return 0
    steps = [b - a for a, b in itertools.pairwise(numbers)]
    step = median(steps)
    if step <= 0:
        return 0
    # Some vendors number in steps of 2 or more: a gap is a step larger than the usual one.
    return sum(round(gap / step) - 1 for gap in steps if gap > step)


def _position_gaps(members: list[FileResult]) -> int:
    """Gaps along the slice normal, per orientation (a localiser mixes three planes)."""
    stacks: dict[tuple[float, ...], list[tuple[float, float, float]]] = defaultdict(list)
    for r in members:
        if r.image_position and r.image_orientation and r.number_of_frames == 1:
            stacks[tuple(round(v, 2) for v in r.image_orientation)].append(r.image_position)
    missing = 0
    for orientation, positions in stacks.items():
        normal = np.cross(orientation[:3], orientation[3:])
        if len(positions) < 3 or not np.linalg.norm(normal) > 0.5:
            continue
        distances = sorted({round(float(np.dot(normal, p)), 2) for p in positions})
        if len(distances) < 3:
            continue
        spacings = [b - a for a, b in itertools.pairwise(distances)]
        usual = median(spacings)
        if usual <= 0:
            continue
        missing += sum(round(s / usual) - 1 for s in spacings if s > 1.5 * usual)
    return missing


def _mammography_problems(mammo: list[FileResult]) -> list[Problem]:
    problems = []
    folder = _common_folder(r.path for r in mammo)
    views = {
        f"{r.image_laterality}{_MAMMO_VIEWS[r.view_position]}"
        for r in mammo
        if r.image_laterality in ("R", "L") and r.view_position in _MAMMO_VIEWS
    }
    labelled = any(r.image_laterality and r.view_position for r in mammo)
    missing = [view for view in _EXPECTED_VIEWS if view not in views]
    if labelled and missing:
        names = ", ".join(_VIEW_NAMES[view] for view in missing)
        problems.append(make("missing_views", folder, views=names))
    if any(
        r.presentation_intent_type == "FOR PROCESSING"
        or r.sop_class_uid in _FOR_PROCESSING_SOP_CLASSES
        for r in mammo
    ):
        problems.append(make("for_processing_mammogram", folder))
    return problems


# --- one decoded frame per series -------------------------------------------------------------


def _decode_one_frame_per_series(
    report: Report, kept: list[FileResult], upload: _Upload
) -> list[Problem]:
    problems = []
    by_series: dict[str, list[FileResult]] = defaultdict(list)
    for result in kept:
        if result.has_pixel_data:
            by_series[result.series_instance_uid].append(result)
    locations = upload.locations
    for study in report.studies:
        for series in study.series:
            members = by_series.get(series.series_instance_uid)
            if not members:
                continue
            members.sort(key=lambda r: (r.instance_number is None, r.instance_number or 0, r.path))
            chosen = members[len(members) // 2]
            preview = make_preview(locations[chosen.path], rel_path=chosen.path)
            series.preview_path = chosen.path
            if isinstance(preview, Problem):
                problems.append(preview)
            else:
                series.preview = preview
    return problems
