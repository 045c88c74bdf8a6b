"""What inspecting an upload produces (one file's result, its studies, the report) and the limits
the modules of the package share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

from PIL import Image

from records.problems import Problem, has_errors

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


def words(text: str) -> list[str]:
    """The words of a table written as one string (file names, extensions, body parts)."""
    return text.split()


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
    bits_stored: int | None = None
    pixel_representation: int | None = None
    samples_per_pixel: int = 1
    burned_in_annotation: bool = False
    has_pixel_data: bool = False
    file_size: int = 0
    # Where the value of the pixel data element starts in the file (for encapsulated data, its
    # first item), and the length of an uncompressed (native) one: the preview reads its frame
    # from there. None for deflated data, whose offsets are in the inflated bytes.
    pixel_data_at: int | None = None
    pixel_data_length: int = 0

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
    # Who the images name, as stored in them: shown only to the patient who uploaded them.
    patient_name: str = field(default="", repr=False)
    patient_birth_date: str = field(default="", repr=False)

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
