"""Property tests over the DICOM and archive inspectors: whatever the bytes, a verdict.

Mutations of valid synthetic files (bit flips, cuts, insertions, lying lengths) and structured
generation (DICOM elements with nested sequences, zip entries with hostile names, methods, flags
and sizes). Every example must end in the validator's own reporting: no exception escapes, the
result is either usable or says why with a known code, memory stays bounded, nothing is logged
and nothing is written outside the destination. 10,000 examples, derandomised so CI runs the
same ones every time; ``fuzz/run.py`` runs the same properties with fresh examples for longer.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
import tracemalloc
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from records.archives import ExtractResult, Limits, extract_zip
from records.dicom import FileResult, inspect_file, make_preview
from records.problems import CODES, INTERNAL_ERROR, Problem
from tests.records import dicom_factory as factory
from tests.records.test_archives import RawEntry, write_raw_zip

MiB = 1024 * 1024
MEMORY_CAP = 64 * MiB
T = TypeVar("T")


# fuzz/run.py sets this to run every property in rounds of fresh random examples.
ROUND_EXAMPLES = int(os.environ.get("FUZZ_ROUND_EXAMPLES", "0"))


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=ROUND_EXAMPLES or examples,
        deadline=None,
        derandomize=not ROUND_EXAMPLES,
        print_blob=bool(ROUND_EXAMPLES),
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def watched() -> Iterator[Callable[[Callable[[], T]], T]]:
    """A runner for one example's call: fails if the call's Python allocations peaked above the
    cap or it logged anything (pydicom quotes values from the file, a name or an ID)."""
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)

    def run(call: Callable[[], T]) -> T:
        # Traced per call, not per test: tracing hypothesis itself would cost ~8x.
        tracemalloc.start()
        try:
            result = call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_CAP
        assert not records.records, [r.getMessage()[:80] for r in records.records]
        return result

    try:
        yield run
    finally:
        root.removeHandler(records)


@pytest.fixture
def bounded() -> Iterator[Callable[[Callable[[], T]], T]]:
    with watched() as run:
        yield run


# --- DICOM ---------------------------------------------------------------------------------------


def encode(ds, **options: object) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True, **options)
    return buffer.getvalue()


def _seeds() -> list[bytes]:
    """Valid files of the shapes a CD holds: explicit, implicit, deflated, encapsulated, bare."""
    explicit = encode(factory.make_dataset(rows=8, cols=8))
    implicit = factory.make_dataset(rows=8, cols=8)
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    with_sequence = factory.make_dataset(rows=8, cols=8, realistic_header=True)
    with_sequence.ReferencedImageSequence = [factory.make_dataset(rows=1, cols=1)]
    del with_sequence.ReferencedImageSequence[0].PixelData
    return [
        explicit,
        encode(implicit),
        encode(factory.make_dataset(rows=8, cols=8, transfer_syntax=RLELossless)),
        encode(
            factory.make_dataset(rows=8, cols=8, transfer_syntax=DeflatedExplicitVRLittleEndian)
        ),
        encode(with_sequence),
        explicit[explicit.index(b"\x08\x00\x05\x00") :],  # a bare dataset, no preamble or meta
    ]


SEEDS = _seeds()
INTERESTING_LENGTHS = [0, 1, 2, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]

edit = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 4095), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 4095), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 4095), st.integers(1, 64)),
    st.tuples(st.just("cut"), st.integers(0, 4095), st.none()),
    st.tuples(st.just("length"), st.integers(0, 4095), st.sampled_from(INTERESTING_LENGTHS)),
)


def mutate(data: bytes, edits: list[tuple]) -> bytes:
    out = bytearray(data)
    for operation, at, value in edits:
        at %= max(len(out), 1)
        if operation == "flip":
            if out:
                out[at] ^= value
        elif operation == "insert":
            out[at:at] = value
        elif operation == "delete":
            del out[at : at + value]
        elif operation == "cut":
            del out[at:]
        else:
            out[at : at + 4] = value.to_bytes(4, "little")
    return bytes(out)


def assert_verdict(result: FileResult) -> None:
    """Usable, or rejected with at least one known code (never an unexplained rejection), and
    never a failure of our own code passed off as one."""
    found = [problem.code for problem in result.problems]
    assert all(code in CODES for code in found)
    assert result.ok or result.problems
    assert INTERNAL_ERROR not in found, "our own code failed on these bytes"


def inspect_bytes(path: Path, data: bytes) -> FileResult:
    """The file's verdict; for a usable file, also that of decoding one frame as the preview."""
    path.write_bytes(data)
    result = inspect_file(path)
    assert_verdict(result)
    if result.ok and result.has_pixel_data:
        preview = make_preview(path)
        if isinstance(preview, Problem):
            assert preview.code in CODES and preview.code != INTERNAL_ERROR, preview.code
    return result


@fuzz_settings(3500)
@given(seed=st.sampled_from(range(len(SEEDS))), edits=st.lists(edit, min_size=1, max_size=6))
def test_mutated_dicom_files_always_get_a_verdict(
    tmp_path: Path, bounded, seed: int, edits: list[tuple]
) -> None:
    data = mutate(SEEDS[seed], edits)
    bounded(lambda: inspect_bytes(tmp_path / "IM0001", data))


def explicit_element(tag: int, vr: bytes, value: bytes, length: int | None) -> bytes:
    group, element = divmod(tag, 0x10000)
    declared = len(value) if length is None else length
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"):
        return struct.pack("<HH2sHL", group, element, vr, 0, declared & 0xFFFFFFFF) + value
    return struct.pack("<HH2sH", group, element, vr, declared & 0xFFFF) + value


TAGS = st.one_of(
    st.sampled_from(
        [
            0x00080016,
            0x00080018,
            0x00080060,
            0x00100010,
            0x0020000D,
            0x0020000E,
            0x00280008,
            0x00280010,
            0x00280011,
            0x00280100,
            0x00280301,
            0x00081115,
            0x7FE00010,
        ]
    ),
    st.integers(0, 0xFFFFFFFF),
)
VRS = st.one_of(
    st.sampled_from([b"UI", b"CS", b"IS", b"US", b"PN", b"LO", b"SQ", b"OB", b"OW", b"UN", b"UT"]),
    st.binary(min_size=2, max_size=2),
)
LENGTHS = st.one_of(st.none(), st.sampled_from(INTERESTING_LENGTHS), st.integers(0, 2**32 - 1))
ITEM = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
SEQUENCE_END = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)

leaf = st.builds(explicit_element, TAGS, VRS, st.binary(max_size=48), LENGTHS)


def _nest(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """An undefined-length sequence of items, each closed or not (a crafted file may not)."""
    body = st.lists(children, max_size=4).map(b"".join)
    return st.builds(
        lambda inner, close_item, close_sequence: (
            explicit_element(0x00081115, b"SQ", b"", 0xFFFFFFFF)
            + ITEM
            + inner
            + (ITEM_END if close_item else b"")
            + (SEQUENCE_END if close_sequence else b"")
        ),
        body,
        st.booleans(),
        st.booleans(),
    )


elements = st.recursive(leaf, _nest, max_leaves=24)
PART10_HEAD = SEEDS[0][: SEEDS[0].index(b"\x08\x00\x05\x00")]


@fuzz_settings(2000)
@given(body=st.lists(elements, max_size=12).map(b"".join), part10=st.booleans())
def test_generated_datasets_always_get_a_verdict(
    tmp_path: Path, bounded, body: bytes, part10: bool
) -> None:
    data = (PART10_HEAD if part10 else b"") + body
    bounded(lambda: inspect_bytes(tmp_path / "IM0001", data))


@fuzz_settings(1500)
@given(tail=st.binary(max_size=1024))
def test_anything_after_a_dicm_marker_gets_a_verdict(tmp_path: Path, bounded, tail: bytes) -> None:
    bounded(lambda: inspect_bytes(tmp_path / "IM0001", bytes(128) + b"DICM" + tail))


# --- archives ------------------------------------------------------------------------------------


LIMITS = Limits(max_members=50, max_total_bytes=4 * MiB, ratio_floor_bytes=64 * 1024)


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


VALID_ZIP = zip_of(
    {
        "DICOMDIR": b"index" * 8,
        "DICOM/ST1/IM0001": SEEDS[0],
        "DICOM/ST1/IM0002": SEEDS[1],
        "images.zip": zip_of({"DICOM/IM0003": SEEDS[2]}),
    }
)


def files_under(directory: Path) -> set[str]:
    if not directory.exists():
        return set()
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def extract_and_check(work: Path, data: bytes) -> ExtractResult:
    """Extract into a fresh folder; the result must match the disk and nothing may escape."""
    for old in work.iterdir():
        _remove(old)
    archive = work / "upload.zip"
    archive.write_bytes(data)
    out = work / "out"
    result = extract_zip(archive, out, limits=LIMITS)
    assert all(problem.code in CODES for problem in result.problems)
    assert result.ok or result.problems
    assert {p.name for p in work.iterdir()} <= {"upload.zip", "out"}
    assert files_under(out) == set(result.files)
    for outside in (work.parent, work.parent.parent, Path("/etc"), Path("/tmp")):
        assert not (outside / ESCAPE).exists()
    return result


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove(child)
        path.rmdir()
    else:
        path.unlink()


@fuzz_settings(1500)
@given(edits=st.lists(edit, min_size=1, max_size=6))
def test_mutated_zips_always_get_a_verdict_and_never_escape(
    tmp_path: Path, bounded, edits: list[tuple]
) -> None:
    data = mutate(VALID_ZIP, edits)
    bounded(lambda: extract_and_check(tmp_path, data))


ESCAPE = "so-fuzz-escaped"
NAMES = st.one_of(
    st.sampled_from(
        [
            "DICOM/IM0001",
            f"../{ESCAPE}",
            f"../../{ESCAPE}",
            f"/etc/{ESCAPE}",
            f"/tmp/{ESCAPE}",
            f"C:\\{ESCAPE}",
            f"a\\..\\..\\{ESCAPE}",
            "DICOM/",
            "./a",
            "a/./b",
            "a//b",
            "DICOM\\IM0002",
            "x\x00y",
            "IM\x1b[2J\r\n",
            "IM\u202egpj.exe",
            ".",
            "DICOM/IM0001/child",
            "CON",
            "a" * 300,
        ]
    ),
    st.text(max_size=24),
)


@st.composite
def raw_entries(draw: st.DrawFn) -> RawEntry:
    content = draw(st.one_of(st.binary(max_size=256), st.sampled_from(SEEDS[:2])))
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, 12, 14, 99]))
    if method == zipfile.ZIP_DEFLATED:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = compressor.compress(content) + compressor.flush()
    else:
        data = content
    name = draw(NAMES)
    return RawEntry(
        name=name.encode("utf-8", "surrogatepass"),
        data=draw(st.one_of(st.just(data), st.binary(max_size=64))),
        file_size=len(content) + draw(st.sampled_from([0, 0, 0, 1, -1, 10**6, 2**31])),
        crc=zlib.crc32(content) if draw(st.booleans()) else draw(st.integers(0, 2**32 - 1)),
        method=method,
        flags=draw(st.sampled_from([0, 0, 0x1, 0x8, 0x800])),
        external_attr=draw(st.sampled_from([0, 0, 0o100644 << 16, 0o120777 << 16, 0x10])),
    )


@fuzz_settings(1500)
@given(entries=st.lists(raw_entries(), max_size=6))
def test_generated_zip_entries_always_get_a_verdict_and_never_escape(
    tmp_path: Path, bounded, entries: list[RawEntry]
) -> None:
    for entry in entries:
        entry.file_size = max(0, min(entry.file_size, 2**32 - 1))
    buffer = write_raw_zip(tmp_path / "built.zip", entries).read_bytes()
    bounded(lambda: extract_and_check(tmp_path, buffer))
