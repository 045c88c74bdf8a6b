"""Stable problem codes for what a patient uploads, with the sentence the patient reads.

Pure Python (no Django): used by ``records.archives`` and ``records.dicom`` in a Celery worker,
a management command or a benchmark alike.

The codes are a public contract: the case page, the coordinator's admin and the JSON of
``validate_study`` show them, so a code is never renamed; a new situation gets a new code.
Messages are written for a patient, say what happened and what to do, and never contain a
patient's name, ID or any other value read from a file (PHI): anything that locates the problem
goes into ``Problem.path`` instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final

ERROR: Final = "error"
"""Blocks the upload: the study cannot go to a reviewer until the patient fixes it."""

WARNING: Final = "warning"
"""Informs the patient and the coordinator; the study can still go ahead."""

SEVERITIES: Final = (ERROR, WARNING)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth knowing) about an upload, a file in it or a study."""

    code: str
    severity: str
    message: str
    path: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


_AGAIN = "Please copy the files again from the CD or the hospital's portal and re-upload them."

INTERNAL_ERROR: Final = "internal_error"
"""Our own checking code failed on a file: no verdict on the file, and nothing for the patient to
do. The worker tries again and, past its attempts, hands the upload to a coordinator."""

CODES: Final[dict[str, tuple[str, str]]] = {
    # --- single files -----------------------------------------------------------------------
    "not_dicom": (
        WARNING,
        "This file is not a scan file (DICOM), so we did not add it to your images. The scan "
        "files are on the CD or the hospital's portal, often in a folder named DICOM; please "
        "upload that folder. If this file is your report, add it under 'Original report'.",
    ),
    "photo": (
        WARNING,
        "This file is a photo or a screenshot (a JPEG or PNG picture), not the scan files "
        "themselves, so we did not add it to your images. On a hospital CD the scan files are in "
        "a folder named DICOM (or beside a file named DICOMDIR); please upload that folder.",
    ),
    "pdf_document": (
        WARNING,
        "This is a PDF document, not an image, so we did not add it to your images. If it is "
        "your report, please add it under 'Original report'.",
    ),
    "unsupported_archive": (
        WARNING,
        "This file is a packed archive of a kind we cannot open (we open .zip files only). "
        "Please upload the folder itself, or make a .zip of it ('Compress' or 'Send to > "
        "Compressed folder').",
    ),
    "truncated": (
        ERROR,
        "This image file is incomplete or damaged (it may have been cut off while copying). "
        + _AGAIN,
    ),
    "unsupported_transfer_syntax": (
        ERROR,
        "This image is stored in a format we cannot open. Please ask the imaging centre for a "
        "standard DICOM copy of your images.",
    ),
    "deflated_too_large": (
        ERROR,
        "This image is packed in an unusual compressed format and is too large for us to open "
        "safely. Please ask the imaging centre for a standard DICOM copy of your images.",
    ),
    "missing_file_meta": (
        WARNING,
        "This image file lacks the standard DICOM file header. We could read it, but if the "
        "specialist cannot open it we may ask you for a fresh copy from the imaging centre.",
    ),
    "missing_uid": (
        ERROR,
        "This image file is missing identifiers that every DICOM image must have, so we cannot "
        "place it in your study. Please ask the imaging centre for a standard copy.",
    ),
    "invalid_uid": (
        ERROR,
        "This image file contains malformed identifiers, so we cannot place it in your study. "
        "Please ask the imaging centre for a standard copy.",
    ),
    "executable_preamble": (
        ERROR,
        "We could not accept this file for safety. Please ask the imaging centre for a new copy "
        "of your images.",
    ),
    "burned_in_annotation": (
        WARNING,
        "Some images have writing burned into the picture itself (often a name or a date of "
        "birth). This is common and the review can go ahead; the specialist will see that text.",
    ),
    "undecodable_pixels": (
        ERROR,
        "We could not open the picture inside one of the images of this series. " + _AGAIN,
    ),
    # ERROR, although the patient has nothing to fix: an unchecked file must block exactly as a
    # damaged one does (the file is not kept, the report is not valid, validate_study exits 1),
    # or it would reach a reviewer with nobody having looked at it. WARNING would let the upload
    # go ahead. The patient is never asked to act on it: the sentence says so, the worker never
    # stores such a check as "invalid" (which would ask the patient for new records) but tries
    # again and then hands the upload to a coordinator, and the case page does not label it as
    # something to fix.
    INTERNAL_ERROR: (
        ERROR,
        "We could not check this file yet; our team has been told.",
    ),
    # --- archives ---------------------------------------------------------------------------
    "unsafe_archive_path": (
        ERROR,
        "We could not accept this file for safety. Please upload the folder from the CD itself, "
        "or ask the imaging centre for a new copy.",
    ),
    "archive_unsafe_members": (
        WARNING,
        "We left {count} file{count_s} of this zip out for safety and kept its other images. If "
        "images seem to be missing, please upload the folder from the CD itself, or ask the "
        "imaging centre for a new copy.",
    ),
    "archive_damaged_members": (
        WARNING,
        "{count} file{count_s} in this zip {count_were} damaged, so we left {count_them} out and "
        "kept its other images. If images seem to be missing, please make the zip again from "
        "the original files, or upload the folder itself.",
    ),
    "archive_too_large": (
        ERROR,
        "This zip file unpacks to far more data than a medical study holds (or more files than "
        "we accept), so we did not open it. Please upload the folder itself or a smaller zip.",
    ),
    "corrupt_archive": (
        ERROR,
        "This zip file is damaged or packed in a way we cannot open. Please make the zip again "
        "('Compress' on a Mac, 'Send to > Compressed folder' on Windows), or upload the folder "
        "itself.",
    ),
    "encrypted_archive": (
        ERROR,
        "This zip file is password-protected, so we cannot open it. Please make a zip without a "
        "password, or upload the folder itself.",
    ),
    "nested_archive_too_deep": (
        WARNING,
        "This zip file sits inside a zip that is itself inside another zip, so we did not open "
        "it. If it holds images, please unpack it and upload its contents directly.",
    ),
    # --- DICOMDIR (the CD's index) ----------------------------------------------------------
    "dicomdir_missing_file": (
        WARNING,
        "The CD's index (DICOMDIR) lists {count} image file{count_s} that {count_are} not in "
        "your upload. If you left part of the CD out, please add the missing folders.",
    ),
    "dicomdir_unreadable": (
        WARNING,
        "We could not read the CD's index file (DICOMDIR). This is usually harmless because we "
        "check every image directly.",
    ),
    # --- the upload and its studies ---------------------------------------------------------
    "empty_upload": (
        ERROR,
        "We found no DICOM images in this upload. Please upload the images from the CD or the "
        "hospital's portal (often a folder named DICOM, or a DICOMDIR file with folders beside "
        "it).",
    ),
    "duplicate_instance": (
        WARNING,
        "We left out {count} duplicate file{count_s} (the same image twice); your upload keeps "
        "one copy of each image.",
    ),
    "multiple_patients": (
        ERROR,
        "These images name more than one person (CDs often hold other people's scans too). "
        "For each study below, tell us whether it is of the person this request is for.",
    ),
    # multiple_patients once every study is answered, and one of them is said to be the person
    # this request is for under another name (or several names remain): a coordinator confirms.
    "people_answered": (
        WARNING,
        "You told us whose each study is. A coordinator will confirm this with you before the "
        "review.",
    ),
    "study_in_other_case": (
        WARNING,
        "You have already sent this study with another of your requests. If that is on purpose "
        "(for example a new question about the same scan), you can go ahead; a coordinator will "
        "check it.",
    ),
    "patient_mismatch": (
        WARNING,
        "The name or date of birth stored in these images does not match the person this "
        "request is for. A coordinator will check this with you before the review.",
    ),
    "missing_slices": (
        WARNING,
        "A series of images seems to be missing about {missing} image{missing_s}. If your CD "
        "or download has more files, please add them; otherwise a coordinator will check.",
    ),
    "missing_views": (
        WARNING,
        "A standard mammogram has four views; we did not find: {views}. If you had only one side "
        "imaged (for example after surgery), you can ignore this; otherwise please add them.",
    ),
    "for_processing_mammogram": (
        WARNING,
        "These mammogram images are the raw 'for processing' version, which specialists do not "
        "read. Please ask the imaging centre for the 'for presentation' images.",
    ),
    "modality_mismatch": (
        WARNING,
        "These images look like {found}, but you told us the exam was {declared}. Please check "
        "that you uploaded the right study; a coordinator will also check.",
    ),
    "region_mismatch": (
        WARNING,
        "These images seem to show a different part of the body than the one you told us about. "
        "A coordinator will check this.",
    ),
}


def make(code: str, path: str = "", **fmt: object) -> Problem:
    """Return the Problem for a stable ``code``; ``fmt`` fills the placeholders of its message.

    Raises KeyError for an unknown code: a typo must fail in tests, not reach a patient.
    """
    severity, template = CODES[code]
    message = template.format_map(_Placeholders(_with_plurals(fmt)))
    return Problem(code=code, severity=severity, message=message, path=path)


def _with_plurals(fmt: dict[str, object]) -> dict[str, object]:
    """Each number ``n`` also fills ``{n_s}``, ``{n_are}``, ``{n_were}`` and ``{n_them}``, so a
    message reads "1 file was" and "2 files were", never "1 files" or "file(s)"."""
    words = dict(fmt)
    for key, value in fmt.items():
        if isinstance(value, int) and not isinstance(value, bool):
            one = value == 1
            words.setdefault(f"{key}_s", "" if one else "s")
            words.setdefault(f"{key}_are", "is" if one else "are")
            words.setdefault(f"{key}_were", "was" if one else "were")
            words.setdefault(f"{key}_them", "it" if one else "them")
    return words


class _Placeholders(dict[str, object]):
    """A placeholder nobody filled reads as "some": a vaguer sentence beats a crash or braces."""

    def __missing__(self, key: str) -> str:
        for ending, plural in _PLURALS.items():
            if key.endswith(ending):
                return plural  # "some files were", as "some" is plural
        return "some"


_PLURALS: Final = {"_s": "s", "_are": "are", "_were": "were", "_them": "them"}


def has_errors(problems: list[Problem] | tuple[Problem, ...]) -> bool:
    return any(problem.severity == ERROR for problem in problems)
