"""Safe extraction of the zip files patients upload, with the standard library's ``zipfile``.

Pure Python (no Django), so a Celery worker, ``validate_study`` and the benchmarks share it.

Policy, and why:

* Everything that can be judged from the central directory is judged BEFORE a byte is written:
  member count (read from the end record and by counting central-directory signatures, before
  ``zipfile`` builds one object per member), declared total size, per-member compression ratio
  (above a small floor: a blank 512x512 slice legitimately deflates 1000:1) and the whole
  archive's ratio (catches "overlapping member" bombs whose members each look modest).
* A member that cannot be written safely or soundly is left out and the rest is kept: a path
  escape or a symlink (``archive_unsafe_members``), a method we cannot read, a stored member whose
  sizes disagree, or a bad CRC or short data while writing (``archive_damaged_members``). The
  patient reads how many files were left out and why, never the members' names (an attack string
  is not something to show). What cannot be judged member by member refuses the WHOLE archive
  (nothing is extracted): a password, two members with one path, and anything over the size
  budget; what this call wrote is then removed again.
* Only "stored" and "deflated" members are read. ``zipfile`` bounds the output of one read only
  for deflate (it passes ``max_length`` to zlib); its bzip2 and LZMA readers expand a whole input
  block at once, which a crafted member turns into gigabytes in memory. Windows and macOS write
  deflate, so patients are not affected.
* While writing, a streaming counter checks the bytes really produced against the declared size
  and the remaining budget (the central directory can lie); members are copied in bounded chunks,
  never read whole into memory.
* One nested level: a zip found inside the zip is unpacked once, into a folder with its own name
  (``outer.zip`` holding ``images.zip`` gives ``images.zip/DICOM/...``), sharing the size and
  member budget of the outer archive. A zip nested deeper is left unopened with the WARNING
  ``nested_archive_too_deep``: it is the classic recursive-bomb shape, and nothing in it counts as
  study data, so if the images were only there the upload also gets ``empty_upload`` (an error).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import struct
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Final

from records.problems import Problem, has_errors, make

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# Errors of the machine, not of the patient's archive: the task must fail and retry, never tell
# the patient their zip is damaged because our disk is full.
_INFRASTRUCTURE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM}
)
_READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_FLAG_ENCRYPTED = 0x1
_DRIVE = re.compile(r"^[A-Za-z]:")
_END_RECORD = struct.Struct("<4s4H2LH")
# Problem codes of the members left out of an archive whose other members are kept.
_UNSAFE_MEMBERS: Final = "archive_unsafe_members"
_DAMAGED_MEMBERS: Final = "archive_damaged_members"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one upload's archives may unpack to; nested archives share these budgets."""

    max_members: int = 20_000
    max_total_bytes: int = 8 * GiB
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 10 * MiB
    max_depth: int = 1
    max_central_directory_bytes: int = 32 * MiB
    chunk_bytes: int = 1 * MiB


DEFAULT_LIMITS: Final = Limits()


@dataclass(slots=True)
class ExtractResult:
    """What ``extract_zip`` wrote (relative POSIX paths under ``dest_dir``) and what it found."""

    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unopened_archives: list[str] = field(default_factory=list)
    bytes_written: int = 0

    @property
    def ok(self) -> bool:
        return not has_errors(self.problems)


class _Refused(Exception):
    """Stops an extraction; carries the Problem the patient sees."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.code)
        self.problem = problem


@dataclass(slots=True)
class _Budget:
    bytes_left: int
    members_left: int


@dataclass(slots=True)
class _Written:
    """Everything one archive's extraction created, so a refusal can remove it again."""

    files: list[Path] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    def remove(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)
        for directory in reversed(self.dirs):
            # A folder that is not empty holds something we did not write: leave it.
            with contextlib.suppress(OSError):
                directory.rmdir()


def extract_zip(
    zip_path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    limits: Limits = DEFAULT_LIMITS,
    label: str | None = None,
) -> ExtractResult:
    """Extract ``zip_path`` into ``dest_dir`` (created if needed) safely, or refuse it whole.

    ``label`` prefixes the paths in problems (default: the zip's file name) so they read relative
    to what the patient uploaded, e.g. ``study.zip/DICOM/IM0001``. Never raises for anything in
    the archive; raises OSError only for trouble of our own machine (disk full, permissions).
    """
    zip_path = Path(zip_path)
    label = zip_path.name if label is None else label
    budget = _Budget(bytes_left=limits.max_total_bytes, members_left=limits.max_members)
    return _extract(zip_path, Path(dest_dir), limits, label, depth=0, budget=budget)


class NotARegularFile(OSError):
    """A FIFO, device or socket where a file was expected."""


def open_regular_file(path: str | os.PathLike[str]) -> BinaryIO:
    """Open for reading without ever blocking: a plain ``open()`` of a FIFO waits forever for a
    writer, which would hang the worker. Raises NotARegularFile for anything but a file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFile(errno.EINVAL, "not a regular file", os.fspath(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def is_zip_magic(head: bytes) -> bool:
    """True for bytes that open a zip (a DICOM file may carry them in its preamble: not a zip)."""
    return head[:4] in _ZIP_MAGICS and head[128:132] != b"DICM"


def _extract(
    zip_path: Path, dest: Path, limits: Limits, label: str, *, depth: int, budget: _Budget
) -> ExtractResult:
    result = ExtractResult()
    written = _Written()
    try:
        with open_regular_file(zip_path) as fp:
            zf, members, left_out = _open_checked(fp, limits, label, budget)
            with zf:
                dest.mkdir(parents=True, exist_ok=True)
                nested = _write_members(
                    zf, members, dest, limits, label, budget, written, result, left_out
                )
    except _Refused as refused:
        _undo(written, result, budget)
        result.problems.append(refused.problem)
        return result
    except OSError as exc:
        _undo(written, result, budget)
        if exc.errno in _INFRASTRUCTURE_ERRNOS:
            raise
        result.problems.append(make("corrupt_archive", label))
        return result
    for code, count in left_out.items():
        if count:
            result.problems.append(make(code, label, count=count))
    for rel in nested:
        _extract_nested(dest, rel, limits, label, depth, budget, result)
    return result


def _undo(written: _Written, result: ExtractResult, budget: _Budget) -> None:
    """Remove what a refused extraction wrote and give its bytes back to the budget."""
    written.remove()
    budget.bytes_left += result.bytes_written
    result.bytes_written = 0
    result.files.clear()


def _open_checked(
    fp: BinaryIO, limits: Limits, label: str, budget: _Budget
) -> tuple[zipfile.ZipFile, list[tuple[zipfile.ZipInfo, PurePosixPath]], dict[str, int]]:
    """Judge the archive on its end record and central directory; return it open with the
    members to write and how many were left out (by problem code), or refuse."""
    size = os.fstat(fp.fileno()).st_size
    directory = _read_central_directory(fp, size, limits, label)
    # Counting signatures is an upper bound on the members and costs one C loop: it refuses
    # 200,000 tiny entries before zipfile spends seconds and hundreds of MB building ZipInfos.
    if max(directory.entries, directory.raw.count(b"PK\x01\x02")) > budget.members_left:
        raise _Refused(make("archive_too_large", label))
    try:
        zf = zipfile.ZipFile(fp)
        infos = zf.infolist()
    except Exception as exc:  # zipfile raises many types on crafted input
        raise _Refused(make("corrupt_archive", label)) from exc
    left_out = {_UNSAFE_MEMBERS: 0, _DAMAGED_MEMBERS: 0}
    try:
        members = _check_members(infos, size, limits, label, budget, left_out)
    except BaseException:
        zf.close()
        raise
    budget.members_left -= len(infos)
    return zf, members, left_out


@dataclass(frozen=True, slots=True)
class _CentralDirectory:
    entries: int
    raw: bytes


def _read_central_directory(
    fp: BinaryIO, size: int, limits: Limits, label: str
) -> _CentralDirectory:
    """Locate the end record (zip64 too) and read the central directory, refusing huge ones."""
    read, seek = fp.read, fp.seek
    tail_len = min(size, _END_RECORD.size + 0xFFFF)
    seek(size - tail_len)
    tail = read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _END_RECORD.size > len(tail):
        raise _Refused(make("corrupt_archive", label))
    _, _, _, _, entries, cd_size, cd_offset, _ = _END_RECORD.unpack_from(tail, at)
    end_of_directory = size - tail_len + at
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        end_of_directory, entries, cd_size = _read_zip64_end(fp, end_of_directory, label)
    if cd_size > limits.max_central_directory_bytes:
        raise _Refused(make("archive_too_large", label))
    start = end_of_directory - cd_size
    if start < 0:
        raise _Refused(make("corrupt_archive", label))
    seek(start)
    return _CentralDirectory(entries=entries, raw=read(cd_size))


def _read_zip64_end(fp: BinaryIO, end_record_at: int, label: str) -> tuple[int, int, int]:
    read, seek = fp.read, fp.seek
    locator_at = end_record_at - _ZIP64_LOCATOR.size
    record_at = locator_at - _ZIP64_END_RECORD.size
    if record_at < 0:
        raise _Refused(make("corrupt_archive", label))
    seek(record_at)
    raw = read(_ZIP64_END_RECORD.size + _ZIP64_LOCATOR.size)
    if raw[:4] != b"PK\x06\x06" or raw[_ZIP64_END_RECORD.size :][:4] != b"PK\x06\x07":
        raise _Refused(make("corrupt_archive", label))
    fields = _ZIP64_END_RECORD.unpack_from(raw)
    entries, cd_size = fields[7], fields[8]
    return record_at, entries, cd_size


def _check_members(
    infos: list[zipfile.ZipInfo],
    archive_size: int,
    limits: Limits,
    label: str,
    budget: _Budget,
    left_out: dict[str, int],
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    if len(infos) > budget.members_left:
        raise _Refused(make("archive_too_large", label))
    members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    total = 0
    for info in infos:
        where = _join(label, info.filename)
        if info.flag_bits & _FLAG_ENCRYPTED:
            raise _Refused(make("encrypted_archive", label))
        rel = _safe_member_path(info)
        if rel is None:
            left_out[_UNSAFE_MEMBERS] += 1
            continue
        # A stored member cannot shrink.
        if info.compress_type not in _READABLE_METHODS or (
            info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size
        ):
            left_out[_DAMAGED_MEMBERS] += 1
            continue
        if _ratio_too_high(info.file_size, info.compress_size, limits):
            raise _Refused(make("archive_too_large", where))
        total += info.file_size
        members.append((info, rel))
    if total > budget.bytes_left or _ratio_too_high(total, archive_size, limits):
        raise _Refused(make("archive_too_large", label))
    _check_layout(members, label)
    return members


def _join(label: str, rel: str) -> str:
    return f"{label}/{rel}" if label else rel


def _ratio_too_high(expanded: int, packed: int, limits: Limits) -> bool:
    return expanded > limits.ratio_floor_bytes and expanded > limits.max_ratio * max(packed, 1)


def _safe_member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's path relative to the destination, or None if it may land anywhere else.

    Windows tools write backslashes, so they separate folders here too; a drive letter, a leading
    slash, a ``..`` component, a NUL (zipfile silently cuts the name there) or a symlink entry
    (its target is arbitrary) make the member unsafe.
    """
    if "\x00" in info.orig_filename:
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        return None
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


def _check_layout(members: list[tuple[zipfile.ZipInfo, PurePosixPath]], label: str) -> None:
    """Two members with one path, or a file where a folder must be: not an export, refuse."""
    files: set[PurePosixPath] = set()
    dirs: set[PurePosixPath] = set()
    for info, rel in members:
        if info.is_dir():
            dirs.add(rel)
            continue
        if rel in files:
            raise _Refused(make("corrupt_archive", _join(label, rel.as_posix())))
        files.add(rel)
        dirs.update(rel.parents)
    if files & dirs:
        raise _Refused(make("corrupt_archive", label))


def _write_members(
    zf: zipfile.ZipFile,
    members: list[tuple[zipfile.ZipInfo, PurePosixPath]],
    dest: Path,
    limits: Limits,
    label: str,
    budget: _Budget,
    written: _Written,
    result: ExtractResult,
    left_out: dict[str, int],
) -> list[str]:
    """Write every member; return the relative paths of the ones that are themselves zips.

    A member found damaged while it is written (bad CRC, short data) is removed and counted in
    ``left_out``; the others are kept."""
    root = Path(os.path.realpath(dest))
    checked_dirs: set[Path] = set()
    nested: list[str] = []
    for info, rel in members:
        target = root.joinpath(*rel.parts)
        if info.is_dir():
            _make_dirs(target, root, checked_dirs, written, label)
            continue
        _make_dirs(target.parent, root, checked_dirs, written, label)
        where = _join(label, rel.as_posix())
        try:
            produced, looks_like_zip = _copy_member(
                zf, info, target, limits, where, budget, written
            )
        except _Refused as refused:
            if refused.problem.code != "corrupt_archive":
                raise
            target.unlink(missing_ok=True)
            left_out[_DAMAGED_MEMBERS] += 1
            continue
        result.bytes_written += produced
        result.files.append(rel.as_posix())
        if looks_like_zip or rel.suffix.lower() == ".zip":
            nested.append(rel.as_posix())
    return nested


def _make_dirs(
    directory: Path, root: Path, checked: set[Path], written: _Written, label: str
) -> None:
    if directory in checked:
        return
    missing = []
    probe = directory
    while probe != root and not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir()
        written.dirs.append(path)
    # Belt and braces: after normalising names nothing can escape, unless a folder on the way is
    # a symlink that someone else put into dest_dir.
    if not Path(os.path.realpath(directory)).is_relative_to(root):
        raise _Refused(make("unsafe_archive_path", label))
    checked.add(directory)


def _copy_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    limits: Limits,
    where: str,
    budget: _Budget,
    written: _Written,
) -> tuple[int, bool]:
    """Stream one member to ``target`` counting real bytes; return them and "is it a zip?"."""
    produced = 0
    head = b""
    try:
        with zf.open(info) as src, open(target, "xb") as dst:
            written.files.append(target)
            while chunk := src.read(limits.chunk_bytes):
                produced += len(chunk)
                # zipfile already stops at the declared size; the counter is the second lock
                # in case a reader (or a future Python) does not.
                if produced > info.file_size or len(chunk) > budget.bytes_left:
                    raise _Refused(make("archive_too_large", where))
                budget.bytes_left -= len(chunk)
                if len(head) < 132:
                    head += chunk[: 132 - len(head)]
                dst.write(chunk)
    except _Refused:
        raise
    except OSError as exc:
        if exc.errno in _INFRASTRUCTURE_ERRNOS:
            raise
        raise _Refused(make("corrupt_archive", where)) from exc
    except Exception as exc:  # BadZipFile (bad CRC), zlib.error, EOFError on truncated data
        raise _Refused(make("corrupt_archive", where)) from exc
    if produced != info.file_size:
        # zipfile checks the CRC of what the member holds, not its declared size: a central
        # directory announcing more than there is was not written by an export tool.
        raise _Refused(make("corrupt_archive", where))
    return produced, is_zip_magic(head)


def _extract_nested(
    dest: Path,
    rel: str,
    limits: Limits,
    label: str,
    depth: int,
    budget: _Budget,
    result: ExtractResult,
) -> None:
    """Unpack ``dest/rel`` (a zip) into a folder of the same name, or leave it if too deep."""
    where = _join(label, rel)
    if depth + 1 > limits.max_depth:
        result.problems.append(make("nested_archive_too_deep", where))
        result.unopened_archives.append(rel)
        return
    archive = dest / rel
    parked = archive.with_name(f".{archive.name}.{uuid.uuid4().hex}.unpacking")
    archive.rename(parked)
    result.files.remove(rel)
    try:
        inner = _extract(parked, archive, limits, where, depth=depth + 1, budget=budget)
    finally:
        parked.unlink(missing_ok=True)
    result.problems.extend(inner.problems)
    result.files.extend(f"{rel}/{name}" for name in inner.files)
    result.unopened_archives.extend(f"{rel}/{name}" for name in inner.unopened_archives)
    result.bytes_written += inner.bytes_written
    if not inner.files and archive.is_dir():
        shutil.rmtree(archive, ignore_errors=True)
