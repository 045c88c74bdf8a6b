"""``check_dicomdir``: a CD's index, cross-checked against the files beside it."""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from typing import Final

from pydicom import dcmread
from pydicom.dataelem import RawDataElement

from records.dicom.damage import (
    INFRASTRUCTURE_ERRNOS,
    Damaged,
    Quiet,
    internal_error,
    third_party,
)
from records.dicom.results import MAX_DICOMDIR_BYTES
from records.problems import Problem, make


def check_dicomdir(
    path: str | os.PathLike[str],
    *,
    rel_path: str | None = None,
    listing: Collection[str] | None = None,
) -> list[Problem]:
    """Cross-check a DICOMDIR against the folder it sits in: on disk, or, with ``listing`` (the
    upload-relative paths of every file of the upload) and ``rel_path``, in that listing.

    We walk the files ourselves rather than trust the index, so this only informs: referenced
    files that are missing give one warning; a reference that leaves the folder is refused.
    pydicom's ``FileSet`` is not used to load it: it raises on the first escaping path, drops
    missing files with a log line that quotes the path (CD folders are often named after the
    patient ID) and matches names case-sensitively, while CDs read on some systems come out in
    lower case.
    """
    path = Path(path)
    shown = os.fspath(path) if rel_path is None else rel_path
    folder: Path | _Listed = path.parent
    if listing is not None and rel_path is not None:
        folder = _Listed(listing, PurePosixPath(rel_path).parent.as_posix())
    try:
        return _check_dicomdir(path, shown, folder)
    except Damaged:  # a damaged index only costs us the cross-check
        return [make("dicomdir_unreadable", shown)]
    except OSError as exc:
        if exc.errno in INFRASTRUCTURE_ERRNOS:
            raise
        return [make("dicomdir_unreadable", shown)]
    except Exception as exc:  # not the index's doing (see Damaged): a failure of our own code
        return [internal_error(exc, shown)]


_DIRECTORY_RECORDS: Final = 0x00041220


class _Listed:
    """The files under one folder of an upload, known from its listing rather than a disk."""

    def __init__(self, listing: Collection[str], folder: str) -> None:
        self.listing = listing
        self.prefix = "" if folder in ("", ".") else f"{folder}/"

    def has(self, relative: PurePosixPath) -> bool:
        return f"{self.prefix}{relative.as_posix()}" in self.listing

    def lowercase(self) -> set[str]:
        n = len(self.prefix)
        return {rel[n:].lower() for rel in self.listing if rel.startswith(self.prefix)}


def _check_dicomdir(path: Path, shown: str, folder: Path | _Listed) -> list[Problem]:
    size = path.stat().st_size
    if size > MAX_DICOMDIR_BYTES or not path.is_file():
        return [make("dicomdir_unreadable", shown)]
    with Quiet(), third_party:
        ds = dcmread(path, force=True, specific_tags=[_DIRECTORY_RECORDS])
        records = ds.get_item(_DIRECTORY_RECORDS, keep_deferred=True)
    if records is None or _cut_short(records, size):
        return [make("dicomdir_unreadable", shown)]
    with Quiet(), third_party:  # pydicom parses the records, and decodes each value, here
        values = [record.get("ReferencedFileID") for record in ds.DirectoryRecordSequence]
    file_ids = [_file_id(value) for value in values]
    return _cross_check(folder, [parts for parts in file_ids if parts], shown)


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


def _cross_check(folder: Path | _Listed, file_ids: list[list[str]], shown: str) -> list[Problem]:
    problems: list[Problem] = []
    lowered: set[str] | None = None
    missing = 0
    for parts in file_ids:
        if _is_unsafe_reference(parts):
            if not any(p.code == "unsafe_archive_path" for p in problems):
                problems.append(make("unsafe_archive_path", shown))
            continue
        relative = PurePosixPath(*[part for part in parts if part not in ("", ".")])
        if isinstance(folder, _Listed):
            if folder.has(relative):
                continue
            if lowered is None:
                lowered = folder.lowercase()
        else:
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
