"""Walking an upload: the names that rule a file out, the viewer programs burned beside the images,
symlinks refused, and zips opened within one budget; every other file is inspected."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

from records import archives
from records.dicom.inspect import inspect_file
from records.dicom.parallel import inspect_files
from records.dicom.results import FileResult, words
from records.problems import INTERNAL_ERROR, Problem, make

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
    words(
        ".exe .dll .ini .inf .htm .html .txt .xml .xsl .xslt .css .js .json .jar .class .bat .cmd "
        ".sh .com .msi .sys .ocx .cab .chm .hlp .lnk .url .ico .icns .svg .ttf .otf .woff .woff2 "
        ".rtf .log .cfg .conf .config .manifest .plist .so .dylib .pak .lic .md .csv .nfo .mui .py "
        ".pyd .vbs .ps1 .swf .xap .db .sqlite .lock .tmp .bak .doc .docx .xls .xlsx .part"
    )
)
_OTHER_ARCHIVE_EXTENSIONS: Final = frozenset(
    words(".rar .7z .tar .gz .tgz .bz2 .xz .iso .dmg .cab")
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
class Upload:
    """Accumulates the files of one upload while it is walked."""

    scratch: Path
    limits: archives.Limits
    processes: int
    results: list[FileResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    dicomdirs: list[tuple[Path, str]] = field(default_factory=list)
    locations: dict[str, Path] = field(default_factory=dict)
    # Every regular file's path in the upload (archive members under the archive's path): what a
    # DICOMDIR's references are checked against.
    listing: set[str] = field(default_factory=set)
    ignored: int = 0
    rejected: int = 0
    archives_opened: int = 0

    def add_tree(self, root: Path, prefix: str, *, inside_archive: bool) -> None:
        found = [(absolute, _join(prefix, rel)) for absolute, rel in _walk(root, self)]
        self.add_listing(found, inside_archive=inside_archive)

    def add_listing(self, found: list[tuple[Path, str]], *, inside_archive: bool) -> None:
        """Files named by their upload-relative paths, wherever they are stored (regular files,
        each path once)."""
        self.listing.update(rel for _, rel in found)
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


def _walk(root: Path, upload: Upload) -> Iterator[tuple[Path, str]]:
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
