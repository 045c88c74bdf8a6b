"""Header-only validation of the DICOM images a patient uploads (a CD folder, a zip, loose files).

Pure pydicom + numpy + Pillow, no Django: a Celery worker, ``manage.py validate_study`` and the
benchmarks call the same functions, imported from this package.

* ``inspect_file(path)`` reads one file's header (never its pixel data) and returns a
  ``FileResult``: the few fields the application stores, or the problems that reject the file.
* ``validate_tree(root)`` / ``validate_path(path)`` / ``validate_files(pairs)`` inspect every
  file of an upload (a folder, a file, or stored files named by their paths), open zips
  with ``records.archives``, and add the study-level checks (duplicates, identity, completeness,
  mammography views, modality and region against what the patient declared, one decoded frame
  per series with a small preview) to a ``Report``.

Its modules, each importing only modules listed above it:

* ``results``: the result dataclasses and the limits the modules share;
* ``damage``: damaged file or a failure of our own code, the rule every reader follows;
* ``header``: the bytes of one file: its kind, its file meta, the fast walk, pydicom's reader;
* ``inspect``: ``inspect_file``, the header fields we keep and the checks on one file;
* ``parallel``: ``inspect_files``, a large folder shared out among forked processes;
* ``dicomdir``: ``check_dicomdir``, a CD's index cross-checked against its folder;
* ``pixels``: ``make_preview`` and the one-frame-per-series decode check;
* ``transcode``: ``for_viewer``, one image decoded for the browser viewer, identifiers left out;
* ``walk``: the walk of an upload: names and viewer folders ruled out, zips opened;
* ``identity`` and ``vocabulary``: who the images show, and what the patient declared;
* ``study``: ``validate_tree`` / ``validate_path`` and the study-level checks.

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
* A damaged file and a failure of our own code are told apart (the rule is in ``damage``):
  only the first gets a verdict on the file; the second is ``internal_error``, which tells the
  patient nothing is wrong with their file and is logged with the exception's type and where it
  was raised in our code.
* Nothing here logs or prints a value read from a file: names, IDs and dates of birth are PHI.
  pydicom's own warnings and log lines (which quote values) are silenced while it reads; that
  uses ``warnings.catch_warnings`` and the "pydicom" logger's ``disabled`` and ``propagate``
  flags, all process-wide, so call these functions from one thread per process (Celery's
  prefork pool, a management command) rather than from a thread pool.
"""

from records.dicom.dicomdir import check_dicomdir
from records.dicom.identity import name_tokens, names_match, parse_birth_date
from records.dicom.inspect import inspect_file
from records.dicom.parallel import inspect_files
from records.dicom.pixels import make_preview
from records.dicom.results import (
    PARALLEL_FROM,
    AccountHolder,
    FileResult,
    Report,
    SeriesSummary,
    StudySummary,
)
from records.dicom.study import validate_files, validate_path, validate_tree
from records.dicom.vocabulary import region_for_body_part

__all__ = [
    "PARALLEL_FROM",
    "AccountHolder",
    "FileResult",
    "Report",
    "SeriesSummary",
    "StudySummary",
    "check_dicomdir",
    "inspect_file",
    "inspect_files",
    "make_preview",
    "name_tokens",
    "names_match",
    "parse_birth_date",
    "region_for_body_part",
    "validate_files",
    "validate_path",
    "validate_tree",
]
