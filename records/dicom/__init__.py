"""Header-only validation of the DICOM images a patient uploads; see ``records.dicom.header``."""

from records.dicom.header import (
    PARALLEL_FROM,
    AccountHolder,
    FileResult,
    Report,
    SeriesSummary,
    StudySummary,
    check_dicomdir,
    inspect_file,
    inspect_files,
    make_preview,
    name_tokens,
    names_match,
    parse_birth_date,
    region_for_body_part,
    validate_path,
    validate_tree,
)

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
    "validate_path",
    "validate_tree",
]
