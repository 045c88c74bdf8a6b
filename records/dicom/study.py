"""``validate_tree`` / ``validate_path``: an upload walked and its files inspected, then checked as
studies: duplicates, identity, what the patient declared, missing slices, mammography views, and
one decoded frame per series."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from statistics import median
from typing import Any, Final

import numpy as np

from records import archives
from records.dicom.dicomdir import check_dicomdir
from records.dicom.identity import account_holder, identity_problems
from records.dicom.pixels import decode_one_frame_per_series
from records.dicom.results import (
    AccountHolder,
    FileResult,
    Report,
    SeriesSummary,
    StudySummary,
)
from records.dicom.vocabulary import declared_problems, is_breast_radiograph, region_for_body_part
from records.dicom.walk import Upload
from records.problems import INTERNAL_ERROR, Problem, make


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
        collect = partial(Upload.add_tree, root=path, prefix="", inside_archive=False)
    else:
        collect = partial(Upload.add_file, absolute=path, rel=path.name, inside_archive=False)
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
    collect = partial(Upload.add_tree, root=root, prefix="", inside_archive=False)
    if scratch is not None:
        return _validate(collect, options, Path(scratch))
    with tempfile.TemporaryDirectory(prefix="secondopinion-upload-") as temporary:
        return _validate(collect, options, Path(temporary))


def validate_files(
    files: Sequence[tuple[str | os.PathLike[str], str]],
    *,
    declared_modality: str | None = None,
    declared_region: str | None = None,
    patient: AccountHolder | Mapping[str, Any] | None = None,
    limits: archives.Limits = archives.DEFAULT_LIMITS,
    check_pixels: bool = True,
    scratch: str | os.PathLike[str] | None = None,
    processes: int | None = None,
) -> Report:
    """Validate an upload given as ``(where the file is stored, its path in the upload)`` pairs,
    each path once: as ``validate_tree`` over a folder holding those paths, with no folder built.

    The report names files by their paths in the upload; ``report.locations`` says where each
    image is stored.
    """
    options = _options(declared_modality, declared_region, patient, limits, check_pixels, processes)
    found = [(Path(stored), rel) for stored, rel in files]
    collect = partial(Upload.add_listing, found=found, inside_archive=False)
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


def _validate(collect: Callable[[Upload], None], options: _Options, scratch: Path) -> Report:
    upload = Upload(scratch=scratch, limits=options.limits, processes=options.processes)
    collect(upload)
    report = Report(problems=list(upload.problems), locations=upload.locations)
    for dicomdir, rel in upload.dicomdirs:
        report.problems.extend(check_dicomdir(dicomdir, rel_path=rel, listing=upload.listing))
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
    report.problems.extend(identity_problems(kept, account_holder(options.patient)))
    report.problems.extend(
        declared_problems(kept, options.declared_modality, options.declared_region)
    )
    for study in report.studies:
        report.problems.extend(_study_problems(study, kept))
    if options.check_pixels:
        report.problems.extend(decode_one_frame_per_series(report, kept, upload.locations))
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
                patient_name=_most_common(r.patient_name for r in instances),
                patient_birth_date=_most_common(r.patient_birth_date for r in instances),
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


# --- per study: completeness, mammography ---------------------------------------------------

_FOR_PROCESSING_SOP_CLASSES: Final = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray, for processing
        "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography X-Ray, for processing
        "1.2.840.10008.5.1.4.1.1.1.3.1",  # Digital Intra-Oral X-Ray, for processing
    }
)
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
    mammo = [r for r in members if r.modality == "MG" or is_breast_radiograph(r)]
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
