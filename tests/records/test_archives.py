"""records.archives: safe zip extraction (paths, bombs, lies, encryption, nesting)."""

from __future__ import annotations

import io
import stat
import struct
import time
import tracemalloc
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from records.archives import Limits, extract_zip, is_zip_magic
from tests.records import dicom_factory

GiB = 1024**3
MiB = 1024**2


# --- a raw zip writer: zipfile refuses to write most of what an attacker sends -----------------


@dataclass
class RawEntry:
    name: bytes
    data: bytes
    file_size: int
    crc: int
    method: int = zipfile.ZIP_DEFLATED
    flags: int = 0
    external_attr: int = 0


def deflated_entry(name: str | bytes, content: bytes, **overrides: object) -> RawEntry:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(content) + compressor.flush()
    entry = RawEntry(
        name=name.encode() if isinstance(name, str) else name,
        data=data,
        file_size=len(content),
        crc=zlib.crc32(content),
    )
    for key, value in overrides.items():
        setattr(entry, key, value)
    return entry


def write_raw_zip(
    path: Path, entries: list[RawEntry], *, declared_count: int | None = None
) -> Path:
    """Local headers, data, central directory, end record; zip64 end when counts need it."""
    out = bytearray()
    offsets = []
    for e in entries:
        offsets.append(len(out))
        out += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, e.flags, e.method, 0, 0x21,
            e.crc, len(e.data), e.file_size, len(e.name), 0,
        )  # fmt: skip
        out += e.name + e.data
    cd_start = len(out)
    for e, offset in zip(entries, offsets, strict=True):
        out += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", (3 << 8) | 20, 20, e.flags, e.method, 0, 0x21,
            e.crc, len(e.data), e.file_size, len(e.name), 0, 0, 0, 0, e.external_attr, offset,
        )  # fmt: skip
        out += e.name
    cd_size = len(out) - cd_start
    count = len(entries) if declared_count is None else declared_count
    if count >= 0xFFFF:
        zip64_at = len(out)
        out += struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_start
        )
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_at, 1)
        out += struct.pack(
            "<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0
        )
    else:
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_start, 0)
    path.write_bytes(bytes(out))
    return path


def files_under(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def codes(result) -> list[str]:
    return [problem.code for problem in result.problems]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


# --- the ordinary case ---------------------------------------------------------------------------


def test_cd_layout_is_extracted_with_its_relative_paths(tmp_path: Path) -> None:
    series = dicom_factory.write_series(tmp_path / "src", 3)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DICOMDIR", b"index")
        for path in series:
            zf.write(path, f"DICOM/PAT1/{path.name}")
        zf.writestr("empty folder/", b"")

    result = extract_zip(archive, tmp_path / "out")

    assert result.ok and result.problems == []
    expected = ["DICOM/PAT1/IM0001", "DICOM/PAT1/IM0002", "DICOM/PAT1/IM0003", "DICOMDIR"]
    assert files_under(tmp_path / "out") == expected
    assert sorted(result.files) == expected
    assert (tmp_path / "out/DICOM/PAT1/IM0002").read_bytes() == series[1].read_bytes()
    assert (tmp_path / "out/empty folder").is_dir()
    assert result.bytes_written == sum(p.stat().st_size for p in series) + len(b"index")


def test_windows_backslash_paths_become_folders(tmp_path: Path) -> None:
    archive = write_raw_zip(tmp_path / "w.zip", [deflated_entry("DICOM\\IM0001", b"x" * 100)])

    result = extract_zip(archive, tmp_path / "out")

    assert result.ok
    assert files_under(tmp_path / "out") == ["DICOM/IM0001"]


# --- path escapes: the whole archive is refused, nothing is written ----------------------------


@pytest.mark.parametrize(
    "evil",
    [
        "../evil.dcm",
        "DICOM/../../evil.dcm",
        "/etc/evil.dcm",
        "C:\\Windows\\evil.dcm",
        "c:evil.dcm",
        "..\\..\\evil.dcm",
        "DICOM\\..\\..\\evil.dcm",
        "\\\\server\\share\\evil.dcm",
        "DICOM/\x00evil.dcm",
    ],
)
def test_path_escapes_are_left_out_and_the_good_members_kept(tmp_path: Path, evil: str) -> None:
    archive = write_raw_zip(
        tmp_path / "slip.zip",
        [deflated_entry("DICOM/IM0001", b"good" * 10), deflated_entry(evil, b"evil")],
    )

    result = extract_zip(archive, tmp_path / "out", label="slip.zip")

    assert codes(result) == ["archive_unsafe_members"]
    assert result.ok  # a warning: the good image is kept
    assert result.problems[0].path == "slip.zip"  # never the member's own (hostile) path
    assert "evil" not in result.problems[0].message
    assert result.problems[0].message.startswith("We left 1 file of this zip out for safety")
    assert files_under(tmp_path / "out") == ["DICOM/IM0001"]
    assert not (tmp_path / "evil.dcm").exists()
    assert not list(tmp_path.rglob("evil.dcm"))


def test_symlink_entry_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("DICOM/IM0001", b"image")
        link = zipfile.ZipInfo("DICOM/IM0002")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")

    result = extract_zip(archive, tmp_path / "out")

    assert codes(result) == ["archive_unsafe_members"]
    assert files_under(tmp_path / "out") == ["DICOM/IM0001"]


def test_regular_file_with_unix_mode_is_not_mistaken_for_a_symlink(tmp_path: Path) -> None:
    archive = tmp_path / "modes.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("DICOM/IM0001")
        info.create_system = 3
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        zf.writestr(info, b"image")

    assert extract_zip(archive, tmp_path / "out").ok


# --- bombs and lies ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gib_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, valid zip: one member of 1 GiB of zeros deflated to ~1 MB (1000:1)."""
    chunk = bytes(16 * MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    # After a full flush the block decodes on its own, so 64 copies are 64 x 16 MiB of zeros.
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = block * 64 + compressor.flush()
    crc = 0
    for _ in range(64):
        crc = zlib.crc32(chunk, crc)
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    return write_raw_zip(path, [RawEntry(b"IM0001", data, file_size=GiB, crc=crc)])


def test_the_bomb_fixture_is_a_real_1_gib_member(gib_bomb: Path) -> None:
    with zipfile.ZipFile(gib_bomb) as zf:
        (info,) = zf.infolist()
        assert info.file_size == GiB
        with zf.open(info) as member:
            assert member.read(1 * MiB) == bytes(1 * MiB)  # it really inflates to zeros
    assert gib_bomb.stat().st_size < 2 * MiB


def test_a_1_gib_zip_bomb_is_refused_within_a_second_without_extracting(
    gib_bomb: Path, tmp_path: Path
) -> None:
    started = time.perf_counter()
    result = extract_zip(gib_bomb, tmp_path / "out")
    elapsed = time.perf_counter() - started

    assert codes(result) == ["archive_too_large"]
    assert elapsed < 1.0
    assert files_under(tmp_path / "out") == []
    assert result.bytes_written == 0


def test_total_size_limit_is_configurable(tmp_path: Path) -> None:
    archive = write_raw_zip(
        tmp_path / "two.zip",
        [deflated_entry("a", b"1" * 600), deflated_entry("b", b"2" * 600)],
    )

    assert extract_zip(archive, tmp_path / "ok").ok
    refused = extract_zip(archive, tmp_path / "small", limits=Limits(max_total_bytes=1000))
    assert codes(refused) == ["archive_too_large"]
    assert files_under(tmp_path / "small") == []


def test_central_directory_claiming_a_huge_member_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    entry = deflated_entry("IM0001", b"tiny" * 100)
    entry.file_size = GiB  # the directory lies upward: 400 bytes "expand" to 1 GiB
    archive = write_raw_zip(tmp_path / "lie.zip", [entry])

    result = extract_zip(archive, tmp_path / "out")

    assert codes(result) == ["archive_too_large"]
    assert files_under(tmp_path / "out") == []


def test_member_larger_than_declared_is_left_out_and_the_good_one_kept(tmp_path: Path) -> None:
    content = bytes(range(256)) * 4096  # 1 MiB that really comes out of the stream
    good = deflated_entry("DICOM/IM0001", b"fine" * 50)
    liar = deflated_entry("DICOM/IM0002", content, file_size=1000)  # declared 1000 bytes

    result = extract_zip(write_raw_zip(tmp_path / "lie.zip", [good, liar]), tmp_path / "out")

    assert codes(result) == ["archive_damaged_members"]
    assert files_under(tmp_path / "out") == ["DICOM/IM0001"]


def test_members_are_streamed_not_read_into_memory(tmp_path: Path) -> None:
    archive = tmp_path / "big.zip"
    with (
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("IM0001", "w") as member,
    ):
        for _ in range(8):
            member.write(bytes(8 * MiB))

    tracemalloc.start()
    try:
        result = extract_zip(archive, tmp_path / "out", limits=Limits(max_ratio=5000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.ok
    assert (tmp_path / "out/IM0001").stat().st_size == 64 * MiB
    assert peak < 16 * MiB


def test_one_bomb_member_is_refused_even_when_the_archive_ratio_looks_normal(
    tmp_path: Path,
) -> None:
    noise = bytes((i * 7919 + i // 251) % 256 for i in range(2 * MiB))  # deflates ~1:1
    archive = write_raw_zip(
        tmp_path / "mixed.zip",
        [deflated_entry("IM0001", noise), deflated_entry("IM0002", bytes(20 * MiB))],
    )

    result = extract_zip(archive, tmp_path / "out")

    assert codes(result) == ["archive_too_large"]
    assert result.problems[0].path == "mixed.zip/IM0002"


def test_high_ratio_small_members_are_allowed(tmp_path: Path) -> None:
    # A blank 512x512 slice deflates ~1000:1 and is legitimate; the ratio rule has a floor.
    archive = tmp_path / "blank.zip"
    archive.write_bytes(zip_bytes({"IM0001": bytes(512 * 1024)}))

    assert extract_zip(archive, tmp_path / "out").ok


def test_200000_tiny_entries_are_refused_by_count_without_extracting(tmp_path: Path) -> None:
    entry = deflated_entry("x", b"")
    entries = [RawEntry(f"f{i}".encode(), entry.data, 0, entry.crc) for i in range(200_000)]
    archive = write_raw_zip(tmp_path / "many.zip", entries)

    started = time.perf_counter()
    result = extract_zip(archive, tmp_path / "out")
    elapsed = time.perf_counter() - started

    assert codes(result) == ["archive_too_large"]
    assert files_under(tmp_path / "out") == []
    assert elapsed < 1.0


def test_end_record_understating_the_count_does_not_hide_the_entries(tmp_path: Path) -> None:
    entry = deflated_entry("x", b"")
    entries = [RawEntry(f"f{i}".encode(), entry.data, 0, entry.crc) for i in range(30_000)]
    archive = write_raw_zip(tmp_path / "many.zip", entries, declared_count=10)

    result = extract_zip(archive, tmp_path / "out")

    assert codes(result) == ["archive_too_large"]
    assert files_under(tmp_path / "out") == []


def test_member_count_limit_is_configurable(tmp_path: Path) -> None:
    archive = tmp_path / "six.zip"
    archive.write_bytes(zip_bytes({f"IM{i}": b"x" for i in range(6)}))

    assert extract_zip(archive, tmp_path / "a", limits=Limits(max_members=6)).ok
    refused = extract_zip(archive, tmp_path / "b", limits=Limits(max_members=5))
    assert codes(refused) == ["archive_too_large"]


# --- encryption, damage, methods ---------------------------------------------------------------


def test_encrypted_member_is_refused(tmp_path: Path) -> None:
    archive = write_raw_zip(
        tmp_path / "secret.zip",
        [deflated_entry("DICOM/IM0001", b"image"), deflated_entry("DICOM/IM0002", b"x", flags=1)],
    )

    result = extract_zip(archive, tmp_path / "out")

    assert codes(result) == ["encrypted_archive"]
    assert files_under(tmp_path / "out") == []


def test_encryption_flag_patched_into_a_zipfile_archive_is_refused(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"IM0001": b"image" * 20}))
    data[6] |= 0x1  # local header general purpose flags
    data[data.index(b"PK\x01\x02") + 8] |= 0x1  # central directory flags
    archive = tmp_path / "secret.zip"
    archive.write_bytes(bytes(data))

    assert codes(extract_zip(archive, tmp_path / "out")) == ["encrypted_archive"]


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip at all", b"PK\x03\x04" + bytes(100), bytes(range(256)) * 10],
    ids=["empty", "text", "local-header-only", "noise"],
)
def test_not_a_zip_is_corrupt(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(content)

    assert codes(extract_zip(archive, tmp_path / "out")) == ["corrupt_archive"]


def test_truncated_zip_is_corrupt(tmp_path: Path) -> None:
    data = zip_bytes({f"DICOM/IM{i}": bytes(range(256)) * 40 for i in range(5)})
    archive = tmp_path / "cut.zip"
    archive.write_bytes(data[: len(data) // 2])

    assert codes(extract_zip(archive, tmp_path / "out")) == ["corrupt_archive"]
    assert files_under(tmp_path / "out") == []


def test_a_member_with_a_bad_crc_is_left_out_and_counted(tmp_path: Path) -> None:
    good = deflated_entry("DICOM/IM0001", b"first image" * 30)
    bad = deflated_entry("DICOM/IM0002", b"second image" * 30)
    bad.crc ^= 0xFFFF

    result = extract_zip(
        write_raw_zip(tmp_path / "crc.zip", [good, bad]), tmp_path / "out", label="crc.zip"
    )

    assert codes(result) == ["archive_damaged_members"]
    assert result.problems[0].path == "crc.zip"
    assert result.problems[0].message.startswith("1 file in this zip was damaged, so we left it")
    assert files_under(tmp_path / "out") == ["DICOM/IM0001"]


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_methods_that_zipfile_cannot_bound_are_refused(tmp_path: Path, method: int) -> None:
    archive = tmp_path / "method.zip"
    with zipfile.ZipFile(archive, "w", method) as zf:
        zf.writestr("IM0001", b"image" * 100)

    assert codes(extract_zip(archive, tmp_path / "out")) == ["archive_damaged_members"]
    assert files_under(tmp_path / "out") == []


def test_unknown_method_deflate64_is_refused(tmp_path: Path) -> None:
    entry = deflated_entry("IM0001", b"image" * 10, method=9)

    result = extract_zip(write_raw_zip(tmp_path / "d64.zip", [entry]), tmp_path / "out")

    assert codes(result) == ["archive_damaged_members"]


def test_two_members_with_one_name_are_refused(tmp_path: Path) -> None:
    archive = write_raw_zip(
        tmp_path / "dup.zip", [deflated_entry("IM0001", b"a"), deflated_entry("IM0001", b"b")]
    )

    assert codes(extract_zip(archive, tmp_path / "out")) == ["corrupt_archive"]


# --- nesting -------------------------------------------------------------------------------------


def test_a_zip_inside_the_zip_is_unpacked_once_into_its_own_folder(tmp_path: Path) -> None:
    inner = zip_bytes({"DICOM/IM0001": b"inner image"})
    archive = tmp_path / "outer.zip"
    archive.write_bytes(zip_bytes({"images.zip": inner, "notes/IM0009": b"outer image"}))

    result = extract_zip(archive, tmp_path / "out")

    assert result.ok and result.problems == []
    assert files_under(tmp_path / "out") == ["images.zip/DICOM/IM0001", "notes/IM0009"]
    assert sorted(result.files) == ["images.zip/DICOM/IM0001", "notes/IM0009"]


def test_a_nested_zip_is_found_by_its_content_too(tmp_path: Path) -> None:
    archive = tmp_path / "outer.zip"
    archive.write_bytes(zip_bytes({"EXPORT": zip_bytes({"IM0001": b"inner image"})}))

    result = extract_zip(archive, tmp_path / "out")

    assert files_under(tmp_path / "out") == ["EXPORT/IM0001"]
    assert result.ok


def test_a_zip_two_levels_down_is_left_unopened_with_a_warning(tmp_path: Path) -> None:
    deep = zip_bytes({"IM0001": b"deep image"})
    middle = zip_bytes({"deep.zip": deep, "IM0002": b"middle image"})
    archive = tmp_path / "outer.zip"
    archive.write_bytes(zip_bytes({"middle.zip": middle}))

    result = extract_zip(archive, tmp_path / "out")

    assert codes(result) == ["nested_archive_too_deep"]
    assert result.problems[0].severity == "warning"
    assert result.problems[0].path == "outer.zip/middle.zip/deep.zip"
    assert result.unopened_archives == ["middle.zip/deep.zip"]
    assert files_under(tmp_path / "out") == ["middle.zip/IM0002", "middle.zip/deep.zip"]
    assert (tmp_path / "out/middle.zip/deep.zip").is_file()


def test_a_broken_nested_zip_is_reported_and_the_rest_kept(tmp_path: Path) -> None:
    archive = tmp_path / "outer.zip"
    archive.write_bytes(zip_bytes({"bad.zip": b"PK\x03\x04 broken", "IM0001": b"image"}))

    result = extract_zip(archive, tmp_path / "out")

    assert codes(result) == ["corrupt_archive"]
    assert result.problems[0].path == "outer.zip/bad.zip"
    assert files_under(tmp_path / "out") == ["IM0001"]


def test_nested_archives_share_the_size_budget(tmp_path: Path) -> None:
    inner = zip_bytes({"IM0001": b"i" * 700})
    archive = tmp_path / "outer.zip"
    archive.write_bytes(zip_bytes({"inner.zip": inner, "IM0002": b"o" * 200}))

    result = extract_zip(archive, tmp_path / "out", limits=Limits(max_total_bytes=800))

    assert "archive_too_large" in codes(result)
    assert not (tmp_path / "out/inner.zip/IM0001").exists()


def test_dicom_with_zip_bytes_in_its_preamble_is_not_a_zip() -> None:
    polyglot = b"PK\x03\x04" + bytes(124) + b"DICM"
    assert not is_zip_magic(polyglot)
    assert is_zip_magic(b"PK\x03\x04" + bytes(200))


# --- properties: nothing an attacker sends makes extract_zip raise ----------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_raise(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    work = tmp_path_factory.mktemp("random")
    archive = work / "random.zip"
    archive.write_bytes(data)

    result = extract_zip(archive, work / "out")

    assert result.ok or any(problem.is_error for problem in result.problems)
    assert sorted(result.files) == files_under(work / "out")


_VALID = zip_bytes(
    {"DICOMDIR": b"index" * 10, "DICOM/IM0001": bytes(range(256)) * 4, "x.zip": zip_bytes({})}
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8
    )
)
def test_mutated_zips_never_raise_and_never_escape(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(_VALID)
    for offset, value in edits:
        data[offset] = value
    work = tmp_path_factory.mktemp("mutated")
    archive = work / "mutated.zip"
    archive.write_bytes(bytes(data))

    result = extract_zip(archive, work / "out")

    written = [p for p in work.rglob("*") if p.is_file() and p != archive]
    assert all(p.is_relative_to(work / "out") for p in written)
    if not result.ok:
        assert result.problems
