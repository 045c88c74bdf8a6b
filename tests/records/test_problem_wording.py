"""The exact sentence a patient reads for each problem code: the specific reason first, in plain
words, then the next step. A change of wording shows here, on purpose."""

import pytest

from records import problems

GOLDEN = {
    "not_dicom": (
        {},
        "This file is not a scan file (DICOM), so we did not add it to your images. The "
        "scan files are on the CD or the hospital's portal, often in a folder named "
        "DICOM; please upload that folder. If this file is your report, add it under "
        "'Original report'.",
    ),
    "photo": (
        {},
        "This file is a photo or a screenshot (a JPEG or PNG picture), not the scan "
        "files themselves, so we did not add it to your images. On a hospital CD the "
        "scan files are in a folder named DICOM (or beside a file named DICOMDIR); "
        "please upload that folder.",
    ),
    "pdf_document": (
        {},
        "This is a PDF document, not an image, so we did not add it to your images. If "
        "it is your report, please add it under 'Original report'.",
    ),
    "unsupported_archive": (
        {},
        "This file is a packed archive of a kind we cannot open (we open .zip files "
        "only). Please upload the folder itself, or make a .zip of it ('Compress' or "
        "'Send to > Compressed folder').",
    ),
    "truncated": (
        {},
        "This image file is incomplete or damaged (it may have been cut off while "
        "copying). Please copy the files again from the CD or the hospital's portal and "
        "re-upload them.",
    ),
    "unsupported_transfer_syntax": (
        {},
        "This image is stored in a format we cannot open. Please ask the imaging centre "
        "for a standard DICOM copy of your images.",
    ),
    "deflated_too_large": (
        {},
        "This image is packed in an unusual compressed format and is too large for us "
        "to open safely. Please ask the imaging centre for a standard DICOM copy of "
        "your images.",
    ),
    "missing_file_meta": (
        {},
        "This image file lacks the standard DICOM file header. We could read it, but if "
        "the specialist cannot open it we may ask you for a fresh copy from the imaging "
        "centre.",
    ),
    "missing_uid": (
        {},
        "This image file is missing identifiers that every DICOM image must have, so we "
        "cannot place it in your study. Please ask the imaging centre for a standard "
        "copy.",
    ),
    "invalid_uid": (
        {},
        "This image file contains malformed identifiers, so we cannot place it in your "
        "study. Please ask the imaging centre for a standard copy.",
    ),
    "executable_preamble": (
        {},
        "We could not accept this file for safety. Please ask the imaging centre for a "
        "new copy of your images.",
    ),
    "burned_in_annotation": (
        {},
        "Some images have writing burned into the picture itself (often a name or a "
        "date of birth). This is common and the review can go ahead; the specialist "
        "will see that text.",
    ),
    "undecodable_pixels": (
        {},
        "We could not open the picture inside one of the images of this series. Please "
        "copy the files again from the CD or the hospital's portal and re-upload them.",
    ),
    "internal_error": ({}, "We could not check this file yet; our team has been told."),
    "unsafe_archive_path": (
        {},
        "We could not accept this file for safety. Please upload the folder from the CD "
        "itself, or ask the imaging centre for a new copy.",
    ),
    "archive_unsafe_members": (
        {"count": 2},
        "We left 2 files of this zip out for safety and kept its other images. If "
        "images seem to be missing, please upload the folder from the CD itself, or ask "
        "the imaging centre for a new copy.",
    ),
    "archive_damaged_members": (
        {"count": 1},
        "1 file in this zip was damaged, so we left it out and kept its other images. "
        "If images seem to be missing, please make the zip again from the original "
        "files, or upload the folder itself.",
    ),
    "archive_too_large": (
        {},
        "This zip file unpacks to far more data than a medical study holds (or more "
        "files than we accept), so we did not open it. Please upload the folder itself "
        "or a smaller zip.",
    ),
    "corrupt_archive": (
        {},
        "This zip file is damaged or packed in a way we cannot open. Please make the "
        "zip again ('Compress' on a Mac, 'Send to > Compressed folder' on Windows), or "
        "upload the folder itself.",
    ),
    "encrypted_archive": (
        {},
        "This zip file is password-protected, so we cannot open it. Please make a zip "
        "without a password, or upload the folder itself.",
    ),
    "nested_archive_too_deep": (
        {},
        "This zip file sits inside a zip that is itself inside another zip, so we did "
        "not open it. If it holds images, please unpack it and upload its contents "
        "directly.",
    ),
    "dicomdir_missing_file": (
        {"count": 1},
        "The CD's index (DICOMDIR) lists 1 image file that is not in your upload. If "
        "you left part of the CD out, please add the missing folders.",
    ),
    "dicomdir_unreadable": (
        {},
        "We could not read the CD's index file (DICOMDIR). This is usually harmless "
        "because we check every image directly.",
    ),
    "empty_upload": (
        {},
        "We found no DICOM images in this upload. Please upload the images from the CD "
        "or the hospital's portal (often a folder named DICOM, or a DICOMDIR file with "
        "folders beside it).",
    ),
    "duplicate_instance": (
        {"count": 2},
        "We left out 2 duplicate files (the same image twice); your upload keeps one copy "
        "of each image.",
    ),
    "multiple_patients": (
        {},
        "These images name more than one person (CDs often hold other people's scans "
        "too). For each study below, tell us whether it is of the person this request "
        "is for.",
    ),
    "people_answered": (
        {},
        "You told us whose each study is. A coordinator will confirm this with you "
        "before the review.",
    ),
    "study_in_other_case": (
        {},
        "You have already sent this study with another of your requests. If that is on "
        "purpose (for example a new question about the same scan), you can go ahead; a "
        "coordinator will check it.",
    ),
    "patient_mismatch": (
        {},
        "The name or date of birth stored in these images does not match the person "
        "this request is for. A coordinator will check this with you before the review.",
    ),
    "missing_slices": (
        {"missing": 1},
        "A series of images seems to be missing about 1 image. If your CD or download "
        "has more files, please add them; otherwise a coordinator will check.",
    ),
    "missing_views": (
        {"views": "left top-down (LCC)"},
        "A standard mammogram has four views; we did not find: left top-down (LCC). If "
        "you had only one side imaged (for example after surgery), you can ignore this; "
        "otherwise please add them.",
    ),
    "for_processing_mammogram": (
        {},
        "These mammogram images are the raw 'for processing' version, which specialists "
        "do not read. Please ask the imaging centre for the 'for presentation' images.",
    ),
    "modality_mismatch": (
        {"found": "a CT", "declared": "an MRI"},
        "These images look like a CT, but you told us the exam was an MRI. Please check "
        "that you uploaded the right study; a coordinator will also check.",
    ),
    "region_mismatch": (
        {},
        "These images seem to show a different part of the body than the one you told "
        "us about. A coordinator will check this.",
    ),
}
PLURALS = [
    ("duplicate_instance", {"count": 1}, "We left out 1 duplicate file (the same"),
    ("archive_unsafe_members", {"count": 1}, "We left 1 file of this zip out"),
    ("archive_damaged_members", {"count": 3}, "3 files in this zip were damaged, so we left them"),
    ("dicomdir_missing_file", {"count": 2}, "lists 2 image files that are not in"),
    ("missing_slices", {"missing": 2}, "about 2 images."),
]


def test_every_code_has_a_golden_sentence():
    assert set(GOLDEN) == set(problems.CODES)


@pytest.mark.parametrize("code", list(GOLDEN))
def test_the_sentence_for_each_code(code):
    fmt, expected = GOLDEN[code]
    assert problems.make(code, **fmt).message == expected


@pytest.mark.parametrize(("code", "fmt", "expected"), PLURALS)
def test_numbers_read_with_their_plural(code, fmt, expected):
    assert expected in problems.make(code, **fmt).message


def test_no_sentence_reads_file_s_or_frightens():
    for code, (fmt, _) in GOLDEN.items():
        for count in (1, 2):
            numbers = {key: count for key, value in fmt.items() if isinstance(value, int)}
            message = problems.make(code, **{**fmt, **numbers}).message
            assert "(s)" not in message and " 1 files" not in message, code
            assert "hidden program" not in message and "attack" not in message, code
