"""A catalogue of hostile inputs: every way a patient's files (or an attacker's) can be wrong.

Each case builds its input here (pydicom, zipfile or raw bytes; no real patient data), runs it
through the validator and, for image uploads, through the real upload endpoints and the
worker's check, and states the problem code the patient must see. Whatever the input: nothing
raises, the upload ends valid or invalid (never stuck), memory and time stay bounded, nothing is
written outside the upload's own folders, and no name that could identify the patient reaches
the logs.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import tempfile
import time
import tracemalloc
import uuid
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom import dcmread
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from records import problems
from records.dicom import AccountHolder, Report, validate_path
from records.models import Upload
from requests_app import flow
from tests.conftest import make_case, make_pdf
from tests.records import dicom_factory as factory
from tests.records.test_archives import RawEntry, deflated_entry, write_raw_zip, zip_bytes
from tests.records.test_multipart import PART, Patient

MiB = 1024 * 1024
GiB = 1024 * MiB
MEMORY_CAP = 64 * MiB

# A CD folder named after the patient, as some hospitals burn them: it must never reach a log.
PHI_FOLDER = "DOE_JANE_19700101"
PHI = (PHI_FOLDER, factory.PATIENT_NAME, factory.PATIENT_ID, factory.BIRTH_DATE, "Jane Doe")
ACCOUNT_HOLDER = AccountHolder(name="Jane Doe", birth_date="1970-01-01")
# Every path escape aims at a file of this name; finding it anywhere means something escaped.
ESCAPED = f"so-escaped-{uuid.uuid4().hex}"

Files = dict[str, bytes]


@dataclass(frozen=True)
class Hostile:
    """One hostile upload: its files (relative path -> bytes) and what the patient is told.

    ``code`` None means the input looks hostile but is harmless: the upload must be valid.
    """

    build: Callable[[Path], Files]
    code: str | None
    on_disk: bool = True  # False: names no file system holds, only the upload protocol sees
    through_upload: bool = True
    max_seconds: float = 10.0
    trace_memory: bool = True  # tracemalloc slows Python ~5x: off where thousands of files run


def codes_of(report: Report) -> list[str]:
    return [problem.code for problem in report.problems]


def is_error(code: str) -> bool:
    return problems.CODES[code][0] == problems.ERROR


# --- DICOM builders ------------------------------------------------------------------------------


def dicom_bytes(**fields: object) -> bytes:
    """A small synthetic image as the bytes of a Part-10 file."""
    return encode(factory.make_dataset(rows=8, cols=8, **fields))  # type: ignore[arg-type]


def encode(ds) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid values are the point of some cases
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def one_image(data: bytes) -> Files:
    return {f"{PHI_FOLDER}/DICOM/IM0001": data}


def patched(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value) :]


def first_dataset_element(data: bytes) -> int:
    return data.index(b"\x08\x00\x05\x00")  # (0008,0005), the first element after the meta


def pixel_length_at(data: bytes) -> int:
    return data.rindex(b"\xe0\x7f\x10\x00") + 8  # OW: tag, VR, 2 reserved bytes, length


def with_header(**changes: object) -> Callable[[Path], Files]:
    """An image whose header was changed after its pixel data was written."""

    def build(tmp: Path) -> Files:
        ds = factory.make_dataset(rows=8, cols=8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for keyword, value in changes.items():
                setattr(ds, keyword, value)
        return one_image(encode(ds))

    return build


ITEM = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"  # (FFFE,E000) item of undefined length
SEQUENCE = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff"  # (0008,1115) SQ, undefined length


def nested_sequences(depth: int) -> Callable[[Path], Files]:
    def build(tmp: Path) -> Files:
        data = dicom_bytes()
        at = first_dataset_element(data)
        return one_image(data[:at] + (SEQUENCE + ITEM) * depth)

    return build


def sequence_without_delimiter(tmp: Path) -> Files:
    data = dicom_bytes()
    at = first_dataset_element(data)
    tail = b"\x08\x00\x16\x00UI\x04\x001.2\x00"  # an element inside the item, then nothing
    return one_image(data[:at] + SEQUENCE + ITEM + tail)


def absurd_declared_length(tmp: Path) -> Files:
    data = dicom_bytes()
    at = first_dataset_element(data)
    huge_text = b"\x08\x00\x19\x01UT\x00\x00" + (0x7FFFFFF0).to_bytes(4, "little") + b"abc"
    return one_image(data[:at] + huge_text)


def pixel_length(value: int) -> Callable[[Path], Files]:
    def build(tmp: Path) -> Files:
        data = dicom_bytes()
        return one_image(patched(data, pixel_length_at(data), value.to_bytes(4, "little")))

    return build


def bad_vr(tmp: Path) -> Files:
    data = dicom_bytes()
    return one_image(patched(data, data.index(b"\x08\x00\x60\x00CS") + 4, b"\x00\x00"))


def odd_length(tmp: Path) -> Files:
    data = dicom_bytes()
    at = data.index(b"\x20\x00\x0d\x00UI") + 6  # Study Instance UID's 16-bit length
    (length,) = struct.unpack_from("<H", data, at)
    return one_image(patched(data, at, struct.pack("<H", length - 1)))


def preamble(magic: bytes) -> Callable[[Path], Files]:
    def build(tmp: Path) -> Files:
        return one_image(magic + dicom_bytes()[len(magic) :])

    return build


def raw_dataset(tmp: Path) -> Files:
    data = dicom_bytes()
    return one_image(data[first_dataset_element(data) :])


def truncated_header(tmp: Path) -> Files:
    return one_image(dicom_bytes()[:300])


def unknown_transfer_syntax(tmp: Path) -> Files:
    data = dicom_bytes()
    explicit = b"1.2.840.10008.1.2.1\x00"
    return one_image(data.replace(explicit, b"1.2.999.4.5.6.7.8.9\x00", 1))


def deflate_bomb(tmp: Path) -> Files:
    path = factory.write_deflate_bomb(tmp / "bomb", inflated_mib=256)
    return one_image(path.read_bytes())


def uid(value: str) -> Callable[[Path], Files]:
    return with_header(SOPInstanceUID=value)


def other_person(tmp: Path) -> Files:
    return one_image(dicom_bytes(patient_name="SMITH^ROBERT", birth_date="19450607"))


DICOM_CASES = {
    "not_dicom": Hostile(lambda tmp: one_image(b"my scan was on tuesday\n" * 10), "not_dicom"),
    "raw_dataset_no_preamble": Hostile(raw_dataset, "missing_file_meta"),
    "mz_preamble_cve_2019_11687": Hostile(preamble(b"MZ\x90\x00"), "executable_preamble"),
    "elf_preamble_cve_2019_11687": Hostile(preamble(b"\x7fELF"), "executable_preamble"),
    "truncated_header": Hostile(truncated_header, "truncated"),
    "truncated_pixel_data": Hostile(
        with_header(Rows=64, Columns=64, NumberOfFrames=4), "truncated"
    ),
    "absurd_declared_length": Hostile(absurd_declared_length, "truncated"),
    "length_wrap_0xfffffffe": Hostile(pixel_length(0xFFFFFFFE), "truncated"),
    "length_wrap_0x7fffffff": Hostile(pixel_length(0x7FFFFFFF), "truncated"),
    "deflate_bomb": Hostile(deflate_bomb, "deflated_too_large"),
    "nested_sequences_3000": Hostile(nested_sequences(3_000), "truncated"),
    "nested_sequences_100000": Hostile(nested_sequences(100_000), "truncated"),
    "sequence_without_delimiter": Hostile(sequence_without_delimiter, "truncated"),
    "bad_vr": Hostile(bad_vr, "truncated"),
    "odd_length": Hostile(odd_length, "truncated"),
    # A damaged character set holding the name: pydicom would quote it in its log.
    "value_pydicom_would_log": Hostile(
        with_header(
            SpecificCharacterSet=f"ISO_IR 100\\{factory.PATIENT_NAME}", PatientName="DÖE^JANE"
        ),
        None,
    ),
    "unknown_transfer_syntax": Hostile(unknown_transfer_syntax, "unsupported_transfer_syntax"),
    "rows_columns_frames_overflow": Hostile(
        with_header(Rows=65535, Columns=65535, NumberOfFrames=2**32 - 1), "truncated"
    ),
    "frames_beyond_any_integer": Hostile(with_header(NumberOfFrames="9" * 20), "truncated"),
    "uid_path_traversal": Hostile(uid("../x"), "invalid_uid"),
    "uid_200_characters": Hostile(uid("1." + "2" * 198), "invalid_uid"),
    "patient_mismatch": Hostile(other_person, "patient_mismatch"),
    "burned_in_annotation": Hostile(with_header(BurnedInAnnotation="YES"), "burned_in_annotation"),
}


# --- archive builders ----------------------------------------------------------------------------


def in_zip(entries: Callable[[], list[RawEntry]]) -> Callable[[Path], Files]:
    """An upload holding one zip, written entry by entry (zipfile refuses to write most lies)."""

    def build(tmp: Path) -> Files:
        path = write_raw_zip(tmp / "study.zip", entries())
        return {f"{PHI_FOLDER}/study.zip": path.read_bytes()}

    return build


def good_entry(name: str = "DICOM/IM0001") -> RawEntry:
    return deflated_entry(name, dicom_bytes())


def escape(name: str) -> Callable[[Path], Files]:
    return in_zip(lambda: [good_entry(), deflated_entry(name, dicom_bytes())])


def zeros(name: str, size: int, *, declared: int | None = None) -> RawEntry:
    """``size`` bytes of zeros deflated ~1000:1, written without ever holding them whole."""
    chunk = bytes(16 * MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    # After a full flush the block decodes on its own, so repeating it repeats the zeros.
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = block * (size // len(chunk)) + compressor.flush()
    crc = 0
    for _ in range(size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    return RawEntry(name.encode(), data, file_size=size if declared is None else declared, crc=crc)


def nested_bomb(tmp: Path) -> Files:
    inner = write_raw_zip(tmp / "inner.zip", [zeros("IM0001", 1 * GiB)]).read_bytes()
    entry = RawEntry(b"images.zip", inner, len(inner), zlib.crc32(inner), method=0)
    return in_zip(lambda: [good_entry(), entry])(tmp)


def overlapping(tmp: Path) -> Files:
    """Two central-directory records pointing at one local entry (the overlap bomb's shape)."""
    data = write_raw_zip(tmp / "one.zip", [good_entry("DICOM/IM0001")]).read_bytes()
    start, end = data.index(b"PK\x01\x02"), data.index(b"PK\x05\x06")
    record = data[start:end]
    twin = record.replace(b"DICOM/IM0001", b"DICOM/IM0002")
    directory = record + twin
    end_record = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, len(directory), start, 0)
    return {f"{PHI_FOLDER}/study.zip": data[:start] + directory + end_record}


def lying_size(tmp: Path) -> Files:
    entry = good_entry()
    entry.file_size += 100  # the member holds less than its record announces
    return in_zip(lambda: [entry])(tmp)


def tiny_entries(tmp: Path) -> Files:
    empty = deflated_entry("x", b"")
    return in_zip(
        lambda: [RawEntry(f"f{i}".encode(), empty.data, 0, empty.crc) for i in range(200_000)]
    )(tmp)


def duplicate_names(tmp: Path) -> Files:
    return in_zip(lambda: [good_entry("DICOM/IM0001"), good_entry("DICOM/IM0001")])(tmp)


def truncated_zip(tmp: Path) -> Files:
    data = zip_bytes({"DICOM/IM0001": dicom_bytes(), "DICOM/IM0002": dicom_bytes()})
    return {f"{PHI_FOLDER}/study.zip": data[: len(data) // 2]}


def control_characters_in_zip(tmp: Path) -> Files:
    return in_zip(lambda: [good_entry("DICOM/IM\x01\x1b[2J\r\n0001")])(tmp)


def cd_with_index(tmp: Path, *, damage: Callable[[Path], None]) -> Files:
    sources = factory.write_series(tmp / "src", 3)
    root = tmp / "cd"
    factory.write_cd(root, sources)
    damage(root)
    return {
        f"{PHI_FOLDER}/{p.relative_to(root).as_posix()}": p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def index_points_outside(root: Path) -> None:
    ds = dcmread(root / "DICOMDIR")
    images = [r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ".." is not a valid CS value: that is the point
        images[0].ReferencedFileID = ["..", "..", PHI_FOLDER, ESCAPED]
    ds.save_as(root / "DICOMDIR")


def index_lists_missing_files(root: Path) -> None:
    next(p for p in sorted(root.rglob("IM*")) if p.is_file()).unlink()


ARCHIVE_CASES = {
    "zip_slip_dotdot": Hostile(escape(f"../../{ESCAPED}"), "archive_unsafe_members"),
    "zip_slip_absolute": Hostile(escape(f"/tmp/{ESCAPED}"), "archive_unsafe_members"),
    "zip_slip_drive_letter": Hostile(escape(f"C:\\{ESCAPED}"), "archive_unsafe_members"),
    "zip_slip_backslashes": Hostile(escape(f"DICOM\\..\\..\\{ESCAPED}"), "archive_unsafe_members"),
    "symlink_entry": Hostile(
        in_zip(
            lambda: [
                good_entry(),
                deflated_entry("DICOM/LINK", b"/etc/passwd", external_attr=0o120777 << 16),
            ]
        ),
        "archive_unsafe_members",
    ),
    "bomb_declared_in_central_directory": Hostile(
        in_zip(lambda: [good_entry(), zeros("DICOM/IM0002", 1 * GiB)]), "archive_too_large"
    ),
    "bomb_lying_central_directory": Hostile(
        # Announces 1 KiB, inflates to 1 GiB: reading stops at the announced size.
        in_zip(lambda: [good_entry(), zeros("DICOM/IM0002", 1 * GiB, declared=1024)]),
        "archive_damaged_members",
    ),
    "nested_bomb": Hostile(nested_bomb, "archive_too_large"),
    "overlapping_entries": Hostile(overlapping, "archive_damaged_members"),
    "lying_sizes": Hostile(lying_size, "archive_damaged_members"),
    "tiny_entries_200000": Hostile(tiny_entries, "archive_too_large"),
    "encrypted_entry": Hostile(
        in_zip(lambda: [deflated_entry("DICOM/IM0001", dicom_bytes(), flags=0x1)]),
        "encrypted_archive",
    ),
    "compression_bzip2": Hostile(
        in_zip(lambda: [deflated_entry("DICOM/IM0001", dicom_bytes(), method=12)]),
        "archive_damaged_members",
    ),
    "compression_unknown_method": Hostile(
        in_zip(lambda: [deflated_entry("DICOM/IM0001", dicom_bytes(), method=99)]),
        "archive_damaged_members",
    ),
    "duplicate_names": Hostile(duplicate_names, "corrupt_archive"),
    "control_character_names": Hostile(control_characters_in_zip, None),
    "truncated_zip": Hostile(truncated_zip, "corrupt_archive"),
    "bad_crc": Hostile(
        in_zip(lambda: [deflated_entry("DICOM/IM0001", dicom_bytes(), crc=0)]),
        "archive_damaged_members",
    ),
    "dicomdir_points_outside": Hostile(
        lambda tmp: cd_with_index(tmp, damage=index_points_outside), "unsafe_archive_path"
    ),
    "dicomdir_lists_missing_files": Hostile(
        lambda tmp: cd_with_index(tmp, damage=index_lists_missing_files), "dicomdir_missing_file"
    ),
}


# --- everything else -----------------------------------------------------------------------------


def many_files(tmp: Path) -> Files:
    """10,000 tiny images of one series: each differs only in its SOP Instance UID."""
    template = "1.2.826.0.1.3680043.8.498.1{:05d}"
    data = dicom_bytes(sop_uid=template.format(0), instance_number=None, position=None)
    old = template.format(0).encode()
    return {
        f"{PHI_FOLDER}/DICOM/IM{n:05d}": data.replace(old, template.format(n).encode())
        for n in range(10_000)
    }


def cut_to_absolute(tmp: Path) -> Files:
    """A path whose last 400 characters (all a path may keep) start with a slash."""
    target = f"/tmp/{ESCAPED}/{'I' * 190}/"
    tail = target + "J" * (400 - len(target))
    return {f"{PHI_FOLDER}/{tail}": dicom_bytes()}


def renamed(name: str, data: Callable[[], bytes]) -> Callable[[Path], Files]:
    return lambda tmp: {f"{PHI_FOLDER}/{name}": data()}


OTHER_CASES = {
    "dicom_named_zip": Hostile(renamed("scan.zip", dicom_bytes), None),
    "dicom_named_pdf": Hostile(renamed("IM0001.pdf", dicom_bytes), None),
    "pdf_named_dicom": Hostile(renamed("IM0001.dcm", make_pdf), "pdf_document"),
    "empty_file": Hostile(renamed("IM0001", bytes), "truncated"),
    "folder_of_10000_files": Hostile(
        many_files, None, through_upload=False, max_seconds=60.0, trace_memory=False
    ),
    "name_with_control_characters": Hostile(
        renamed("DICOM/IM\x07\x1b[31m\r\n0001", dicom_bytes), None
    ),
    "name_with_dotdot": Hostile(
        lambda tmp: {f"../../{ESCAPED}/{PHI_FOLDER}/IM0001": dicom_bytes()}, None, on_disk=False
    ),
    "name_very_long": Hostile(
        lambda tmp: {f"{PHI_FOLDER}/{'A' * 300}/{'B' * 300}": dicom_bytes()}, None, on_disk=False
    ),
    "name_with_rtl_override": Hostile(renamed("DICOM/IM\u202e0001gpj.dcm", dicom_bytes), None),
    "name_with_nul_and_lone_surrogate": Hostile(
        lambda tmp: {f"{PHI_FOLDER}/IM\x00\ud8000001": dicom_bytes()}, None, on_disk=False
    ),
    "name_cut_to_an_absolute_path": Hostile(cut_to_absolute, None, on_disk=False),
}

CATALOGUE = {**DICOM_CASES, **ARCHIVE_CASES, **OTHER_CASES}
ON_DISK = [pytest.param(case, id=name) for name, case in CATALOGUE.items() if case.on_disk]
UPLOADED = [pytest.param(case, id=name) for name, case in CATALOGUE.items() if case.through_upload]


# --- what every case must satisfy ----------------------------------------------------------------


def built(case: Hostile, tmp_path: Path) -> Files:
    workshop = tmp_path / "build"
    workshop.mkdir()
    return case.build(workshop)


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def assert_nothing_escaped(root: Path, before: set[str]) -> None:
    assert tree(root) == before, "something was written outside the upload's folders"
    assert not (Path(tempfile.gettempdir()) / ESCAPED).exists()
    assert not (Path("/tmp") / ESCAPED).exists()


def assert_no_phi_logged(caplog: pytest.LogCaptureFixture, files: Files) -> None:
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for secret in (*PHI, *files):
        assert secret not in logged


def assert_expected(case: Hostile, found: list[str], valid: bool) -> None:
    assert problems.INTERNAL_ERROR not in found, "our own code failed on this input"
    if case.code is None:
        assert valid, found
        assert not any(is_error(code) for code in found), found
    else:
        assert case.code in found, found
        if is_error(case.code):
            assert not valid


def watch_temporary_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """From now on temporary folders go under the test's own folder, so leftovers show."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def run_measured(case: Hostile, call: Callable[[], Report]) -> tuple[Report, float, int]:
    """The call's result, its seconds and its peak of Python allocations (0 if not traced)."""
    if case.trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        report = call()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if case.trace_memory else 0
    finally:
        tracemalloc.stop()
    return report, elapsed, peak


@pytest.mark.parametrize("case", ON_DISK)
def test_the_validator_reports_it_without_crashing_or_leaking(
    case: Hostile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = built(case, tmp_path)
    upload = tmp_path / "upload"
    for rel, data in files.items():
        (upload / rel).parent.mkdir(parents=True, exist_ok=True)
        (upload / rel).write_bytes(data)
    scratch = watch_temporary_folders(tmp_path, monkeypatch)
    before = tree(tmp_path)
    caplog.clear()
    caplog.set_level(logging.DEBUG)

    report, elapsed, peak = run_measured(
        case, lambda: validate_path(upload, patient=ACCOUNT_HOLDER, declared_modality="mri")
    )

    assert_expected(case, codes_of(report), report.valid)
    assert all(problem.code in problems.CODES for problem in report.problems)
    assert peak < MEMORY_CAP
    assert elapsed < case.max_seconds
    assert_nothing_escaped(tmp_path, before)
    assert not any(scratch.iterdir())
    assert_no_phi_logged(caplog, files)


# --- the same inputs through the upload endpoints and the worker ---------------------------------


@pytest.fixture
def jane(client, alice, settings, tmp_path: Path):
    """Alice's request for Jane Doe's brain MRI, driven as the browser's uploader does."""
    settings.VALIDATION_WORK_DIR = tmp_path / "work"
    client.force_login(alice)
    case = make_case(alice, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01")
    return Patient(client, case)


def send(patient: Patient, batch: dict, rel: str, data: bytes) -> str:
    key = patient.create_file(batch, rel, len(data))["key"]
    parts = []
    for number, start in enumerate(range(0, max(len(data), 1), PART), start=1):
        etag = patient.put_part(batch, key, number, data[start : start + PART])
        parts.append({"PartNumber": number, "ETag": etag})
    assert patient.complete(batch, key, parts).status_code == 200
    return key


def finish_and_check(patient: Patient, batch: dict) -> Upload:
    assert patient.finish(batch).status_code == 200
    upload = Upload.objects.get(code=batch["upload"])
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    assert upload.status in (Upload.Status.VALID, Upload.Status.INVALID)  # a final verdict
    return upload


def assert_stored_under_prefix(upload: Upload, settings) -> None:
    storage_root = Path(default_storage.location)
    stored = [
        p.relative_to(storage_root).as_posix() for p in storage_root.rglob("*") if p.is_file()
    ]
    assert stored and all(key.startswith(upload.prefix) for key in stored), stored
    assert not any(Path(settings.MULTIPART_DIR).iterdir())
    assert not any(Path(settings.VALIDATION_WORK_DIR).iterdir())


@pytest.mark.parametrize("case", UPLOADED)
def test_the_upload_ends_checked_with_the_code_and_nothing_leaks(
    case: Hostile,
    jane: Patient,
    settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = built(case, tmp_path)
    scratch = watch_temporary_folders(tmp_path, monkeypatch)
    before = tree(tmp_path)
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    batch = jane.start()
    for rel, data in files.items():
        send(jane, batch, rel, data)

    upload = finish_and_check(jane, batch)

    found = list(upload.problems.values_list("code", flat=True))
    assert_expected(case, found, upload.status == Upload.Status.VALID)
    assert upload.files.filter(extracted_from__isnull=True).count() == len(files)
    assert_stored_under_prefix(upload, settings)
    assert tree(tmp_path) - before <= {"work"}
    assert not any(scratch.iterdir())
    assert not (Path("/tmp") / ESCAPED).exists()
    assert_no_phi_logged(caplog, files)


# --- refusals of the upload protocol itself ------------------------------------------------------


def over_quota_bytes(patient: Patient, batch: dict, settings) -> object:
    settings.UPLOAD_CASE_QUOTA_BYTES = 100_000
    return post_file(patient, batch, f"{PHI_FOLDER}/IM0001", 200_000)


def over_quota_files(patient: Patient, batch: dict, settings) -> object:
    settings.UPLOAD_MAX_FILES = 1
    send(patient, batch, f"{PHI_FOLDER}/IM0000", dicom_bytes())
    return post_file(patient, batch, f"{PHI_FOLDER}/IM0001", 1000)


def file_above_size_limit(patient: Patient, batch: dict, settings) -> object:
    settings.UPLOAD_FILE_MAX_BYTES = 100_000
    return post_file(patient, batch, f"{PHI_FOLDER}/IM0001", 200_000)


def part_above_size_limit(patient: Patient, batch: dict, settings) -> object:
    settings.UPLOAD_PART_MAX_BYTES = 1000
    key = patient.create_file(batch, f"{PHI_FOLDER}/IM0001", 2000)["key"]
    signed = patient.client.get(patient.file_url(batch, key, "parts", "1")).json()["url"]
    return patient.client.put(signed, bytes(2000), content_type="application/octet-stream")


def checksum_mismatch(patient: Patient, batch: dict, settings) -> object:
    """Completion names the checksum (ETag) of other bytes than the part that arrived."""
    key = patient.create_file(batch, f"{PHI_FOLDER}/IM0001", 10)["key"]
    patient.put_part(batch, key, 1, b"0123456789")
    other = '"' + zlib.crc32(b"other").to_bytes(16, "big").hex() + '"'
    return patient.complete(batch, key, [{"PartNumber": 1, "ETag": other}])


def post_file(patient: Patient, batch: dict, rel: str, size: int) -> object:
    body = json.dumps({"relativePath": rel, "size": size})
    return patient.client.post(batch["files"], body, content_type="application/json")


@pytest.mark.parametrize(
    ("refuse", "status", "message"),
    [
        pytest.param(over_quota_bytes, 400, "can hold up to", id="over_quota_bytes"),
        pytest.param(over_quota_files, 400, "can hold up to 1 image", id="over_quota_files"),
        pytest.param(file_above_size_limit, 400, "a single file can be up to", id="file_too_big"),
        pytest.param(part_above_size_limit, 409, "larger than allowed", id="part_too_big"),
        pytest.param(checksum_mismatch, 409, "Please upload it again", id="checksum_mismatch"),
    ],
)
def test_a_refused_file_leaves_the_upload_usable_and_nothing_behind(
    refuse, status: int, message: str, jane: Patient, settings, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    batch = jane.start()

    response = refuse(jane, batch, settings)

    assert response.status_code == status
    assert message in response.json()["error"]
    settings.UPLOAD_MAX_FILES, settings.UPLOAD_PART_MAX_BYTES = 20_000, 64 * MiB
    send(jane, batch, f"{PHI_FOLDER}/DICOM/IM0002", dicom_bytes())
    upload = finish_and_check(jane, batch)
    assert upload.status == Upload.Status.VALID
    assert_stored_under_prefix(upload, settings)
    assert_no_phi_logged(caplog, {})


# --- written records (PDF) -----------------------------------------------------------------------


def pdf_with(build: Callable[[PdfWriter], None]) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    build(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def action(kind: str, **entries: str) -> DictionaryObject:
    action = DictionaryObject({NameObject("/S"): NameObject(kind)})
    for key, value in entries.items():
        action[NameObject(f"/{key}")] = TextStringObject(value)
    return action


def javascript_in_a_page_action(writer: PdfWriter) -> None:
    page = writer.pages[0]
    page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): action("/JavaScript", JS="1")})


def launch_on_open(writer: PdfWriter) -> None:
    writer.root_object[NameObject("/OpenAction")] = action("/Launch", F="calc.exe")


# The name written #-escaped (as PDF allows) and the byte offsets left wrong by the change.
LAUNCH_ESCAPED = pdf_with(launch_on_open).replace(b"/Launch", b"/L#61unch")
HTML = b"<!DOCTYPE html><html><body><script>fetch('/cases/')</script></body></html>\n"
DAMAGED = "seems to be damaged"
NOT_A_PDF = "This file is not a PDF."
ACTIVE = "We could not accept this file for safety"

PDF_CASES = [
    pytest.param(pdf_with(javascript_in_a_page_action), ACTIVE, id="pdf_javascript"),
    pytest.param(LAUNCH_ESCAPED, ACTIVE, id="pdf_launch_action_escaped"),
    pytest.param(make_pdf(password="secret"), "protected by a password", id="pdf_encrypted"),
    pytest.param(HTML + b"<!--\n" + make_pdf() + b"-->", NOT_A_PDF, id="pdf_html_polyglot"),
    pytest.param(HTML, NOT_A_PDF, id="html_disguised_as_pdf"),
    pytest.param(b"%PDF-1.7\n1 0 obj\n" + b"[" * 100_000 + b"\nendobj\n", DAMAGED, id="pdf_nested"),
    pytest.param(make_pdf()[:-200], DAMAGED, id="pdf_truncated"),
    pytest.param(make_pdf() + b"%" * 300_000, "we accept up to", id="pdf_above_size_limit"),
]


@pytest.mark.parametrize(("content", "message"), PDF_CASES)
def test_a_hostile_pdf_is_refused_and_nothing_is_stored(
    content: bytes, message: str, client, alice, settings, caplog
) -> None:
    settings.DOCUMENT_MAX_BYTES = 256 * 1024
    caplog.set_level(logging.DEBUG)
    client.force_login(alice)
    case = make_case(alice, complete=True)
    name = f"{PHI_FOLDER}_report.pdf"

    response = client.post(
        reverse("records:document-add", args=[case.code]),
        {"kind": "original_report", "file": SimpleUploadedFile(name, content)},
        follow=True,
    )

    page = response.content.decode()
    assert message in page and "was not added" in page
    assert not case.documents.exists()
    assert not [p for p in Path(default_storage.location).rglob("*") if p.is_file()]
    assert_no_phi_logged(caplog, {name: b""})
