"""records.dicom: header inspection of one file, DICOMDIR, previews, and whole uploads."""

from __future__ import annotations

import errno
import importlib
import inspect
import io
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.filereader import read_dataset
from pydicom.uid import RLELossless, generate_uid

from records import archives, problems
from records.archives import extract_zip
from records.dicom import (
    PARALLEL_FROM,
    AccountHolder,
    FileResult,
    Report,
    check_dicomdir,
    inspect_file,
    make_preview,
    name_tokens,
    names_match,
    parse_birth_date,
    region_for_body_part,
    validate_path,
    validate_tree,
)
from records.dicom.header import (
    _DEFER_BYTES,
    _TAG_LIST,
    _at_pixel_data,
    _walk_little_endian,
    scan_file_meta,
)
from records.problems import Problem
from tests.records import dicom_factory as factory

MiB = 1024 * 1024


def codes(result: FileResult | Report | list[Problem]) -> list[str]:
    found = result if isinstance(result, list) else result.problems
    return [problem.code for problem in found]


def sample(name: str) -> Path:
    return Path(get_testdata_file(name))


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return factory.write_instance(tmp_path / "IM0001")


# --- the problem table -------------------------------------------------------------------------

REQUIRED_CODES = [
    "not_dicom",
    "truncated",
    "unsupported_transfer_syntax",
    "missing_uid",
    "executable_preamble",
    "unsafe_archive_path",
    "archive_too_large",
    "corrupt_archive",
    "encrypted_archive",
    "empty_upload",
    "duplicate_instance",
    "multiple_patients",
    "patient_mismatch",
    "missing_slices",
    "missing_views",
    "modality_mismatch",
    "undecodable_pixels",
    "for_processing_mammogram",
    "dicomdir_missing_file",
    "nested_archive_too_deep",
    "internal_error",
]


def test_every_required_code_has_a_severity_and_a_patient_sentence() -> None:
    for code in REQUIRED_CODES:
        problem = problems.make(code, "DICOM/IM0001", count=2, missing=3, views="RCC")
        assert problem.severity in ("error", "warning")
        assert problem.path == "DICOM/IM0001"
        assert problem.message.endswith(".") and "{" not in problem.message
        assert problem.to_dict() == {
            "code": code,
            "severity": problem.severity,
            "message": problem.message,
            "path": "DICOM/IM0001",
        }


def test_errors_block_and_warnings_inform() -> None:
    assert problems.make("truncated").is_error
    assert problems.make("executable_preamble").is_error
    assert not problems.make("duplicate_instance").is_error
    assert not problems.make("patient_mismatch").is_error


def test_an_internal_error_blocks_but_asks_nothing_of_the_patient() -> None:
    problem = problems.make(problems.INTERNAL_ERROR, "DICOM/IM0001")
    assert problem.is_error  # an unchecked file must not reach a reviewer
    assert problem.message == "We could not check this file yet; our team has been told."


def test_placeholders_are_filled_or_read_naturally() -> None:
    assert "3 image(s)" in problems.make("missing_slices", missing=3).message
    assert "{" not in problems.make("missing_slices").message


def test_unknown_codes_fail_loudly() -> None:
    with pytest.raises(KeyError):
        problems.make("no_such_code")


def test_the_pdf_message_sends_the_patient_to_original_report() -> None:
    assert "'Original report'" in problems.make("not_dicom").message
    assert "'Original report'" in problems.make("pdf_document").message


# --- inspect_file: good files ---------------------------------------------------------------------


def test_a_synthetic_mr_slice_gives_its_metadata(tmp_path: Path) -> None:
    study, series = generate_uid(), generate_uid()
    path = factory.write_instance(
        tmp_path / "IM0007",
        study_uid=study,
        series_uid=series,
        instance_number=7,
        position=(1.5, -2.0, 35.0),
        rows=32,
        cols=48,
    )

    result = inspect_file(path, rel_path="DICOM/IM0007")

    assert result.ok and result.problems == []
    assert result.kind == "instance"
    assert result.path == "DICOM/IM0007"
    assert result.study_instance_uid == study and result.series_instance_uid == series
    assert result.sop_class_uid == "1.2.840.10008.5.1.4.1.1.4"
    assert (result.modality, result.body_part) == ("MR", "BRAIN")
    assert result.patient_name == "DOE^JANE" and result.patient_birth_date == "19700101"
    assert result.instance_number == 7
    assert result.image_position == (1.5, -2.0, 35.0)
    assert result.image_orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert (result.rows, result.columns, result.bits_allocated) == (32, 48, 16)
    assert result.number_of_frames == 1 and result.samples_per_pixel == 1
    assert result.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert result.has_pixel_data
    assert result.file_size == path.stat().st_size


def test_repr_of_a_result_leaves_out_the_patients_identity(instance: Path) -> None:
    text = repr(inspect_file(instance))
    assert "DOE" not in text and "SYN0001" not in text and "19700101" not in text


@pytest.mark.parametrize(
    ("name", "syntax", "modality"),
    [
        ("CT_small.dcm", "1.2.840.10008.1.2.1", "CT"),
        ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2", "MR"),
        ("MR_small_implicit.dcm", "1.2.840.10008.1.2", "MR"),
        ("JPEG2000.dcm", "1.2.840.10008.1.2.4.91", "NM"),
        ("MR_small_RLE.dcm", "1.2.840.10008.1.2.5", "MR"),
        ("image_dfl.dcm", "1.2.840.10008.1.2.1.99", "OT"),
        ("SC_rgb_jpeg.dcm", "1.2.840.10008.1.2.4.50", "OT"),  # implicit VR under JPEG: quirk
        ("examples_ybr_color.dcm", "1.2.840.10008.1.2.4.50", "US"),
    ],
)
def test_pydicom_sample_files_are_read(name: str, syntax: str, modality: str) -> None:
    result = inspect_file(sample(name))

    assert result.ok, result.problems
    assert result.transfer_syntax_uid == syntax
    assert result.modality == modality
    assert result.has_pixel_data and result.rows and result.columns


def test_non_image_objects_are_instances_without_pixels() -> None:
    result = inspect_file(sample("rtplan.dcm"))
    assert result.ok and not result.has_pixel_data and result.rows is None


def test_a_header_longer_than_the_first_read_is_still_parsed(tmp_path: Path) -> None:
    ds = factory.make_dataset()
    ds.add_new(0x00091010, "LO", "SYNTHETIC")  # private creator
    ds.add_new(0x00091011, "OB", bytes(200_000))  # 200 kB before the pixel data
    path = factory.write_dataset(ds, tmp_path / "IM0001")

    result = inspect_file(path)
    assert result.ok and result.has_pixel_data
    factory.truncate(path, 10)
    assert codes(inspect_file(path)) == ["truncated"]


def inspect_measuring_memory(path: Path) -> tuple[FileResult, int]:
    """inspect_file and the peak of Python allocations it made, in bytes."""
    tracemalloc.start()
    try:
        result = inspect_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_header_only_reading_never_loads_pixel_data(tmp_path: Path) -> None:
    path = factory.write_instance(tmp_path / "IM0001", rows=2048, cols=2048)  # 8 MiB of pixels
    result, peak = inspect_measuring_memory(path)
    assert result.ok
    assert peak < 1 * MiB


# --- inspect_file: one test per way a file fails ----------------------------------------------


def test_not_dicom_files_are_recognised(tmp_path: Path, instance: Path) -> None:
    text = tmp_path / "notes"
    text.write_text("my scan was on tuesday")
    photo = tmp_path / "IMG_0001"
    Image.new("RGB", (20, 20), "white").save(photo, format="PNG")

    for path in (text, photo, sample("no_meta.dcm"), sample("crayons.icc")):
        result = inspect_file(path)
        assert codes(result) == ["not_dicom"], path
        assert result.problems[0].severity == "warning"
        assert not result.ok
    assert "not_dicom" not in codes(inspect_file(instance))


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "IM0001"
    os.mkfifo(fifo)  # open() would block until a writer appears: the worker would hang
    assert codes(inspect_file(fifo)) == ["not_dicom"]
    assert codes(extract_zip(fifo, tmp_path / "out")) == ["corrupt_archive"]


def test_a_pdf_without_extension_is_recognised_as_a_document(tmp_path: Path) -> None:
    pdf = tmp_path / "REPORT"
    pdf.write_bytes(b"%PDF-1.7\n% synthetic\n")
    result = inspect_file(pdf)
    assert result.kind == "pdf" and codes(result) == ["pdf_document"]


def test_a_bare_dataset_without_file_meta_is_read_with_a_warning() -> None:
    result = inspect_file(sample("ExplVR_LitEndNoMeta.dcm"))

    assert result.kind == "instance" and result.ok
    assert codes(result) == ["missing_file_meta"]
    assert result.sop_instance_uid and result.modality == "RTPLAN"
    assert "missing_file_meta" not in codes(inspect_file(sample("rtplan.dcm")))


def test_a_stripped_synthetic_dataset_keeps_its_metadata(instance: Path) -> None:
    factory.strip_file_meta(instance)
    result = inspect_file(instance)
    assert result.ok and codes(result) == ["missing_file_meta"]
    assert result.modality == "MR" and result.rows == 64 and result.has_pixel_data
    assert isinstance(make_preview(instance), Image.Image)


def test_missing_transfer_syntax_is_guessed_with_a_warning(tmp_path: Path, instance: Path) -> None:
    data = instance.read_bytes()
    # Rename (0002,0010) to (0002,0011), a tag nobody reads: the transfer syntax is "missing".
    tag = data.index(b"\x02\x00\x10\x00UI")
    patched = tmp_path / "IM0002"
    patched.write_bytes(data[:tag] + b"\x02\x00\x11\x00" + data[tag + 4 :])

    result = inspect_file(patched)
    assert codes(result) == ["missing_file_meta"] and result.ok


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_pydicom_truncated_samples_are_reported_not_crashed(name: str) -> None:
    result = inspect_file(sample(name))
    assert codes(result) == ["truncated"]
    assert result.problems[0].is_error


def test_truncated_native_pixel_data_is_reported(instance: Path) -> None:
    assert "truncated" not in codes(inspect_file(instance))
    factory.truncate(instance, 100)
    assert codes(inspect_file(instance)) == ["truncated"]


def test_pixel_data_shorter_than_the_image_is_truncated(tmp_path: Path) -> None:
    ds = factory.make_dataset(rows=64, cols=64)
    ds.PixelData = ds.PixelData[: 64 * 64]  # half the 16-bit image, in a well-formed file
    path = factory.write_dataset(ds, tmp_path / "IM0001")

    assert codes(inspect_file(path)) == ["truncated"]


def test_truncated_encapsulated_pixel_data_is_reported(tmp_path: Path) -> None:
    path = factory.write_instance(tmp_path / "IM0001", transfer_syntax=RLELossless)
    assert inspect_file(path).ok
    factory.truncate(path, 30)
    assert codes(inspect_file(path)) == ["truncated"]


def test_an_image_cut_before_its_pixel_data_is_truncated(instance: Path) -> None:
    factory.cut_before_pixel_data(instance)
    result = inspect_file(instance)
    assert codes(result) == ["truncated"] and not result.has_pixel_data


def test_a_zero_byte_file_is_a_failed_copy(tmp_path: Path) -> None:
    empty = tmp_path / "IM0001"
    empty.touch()
    assert codes(inspect_file(empty)) == ["truncated"]


@pytest.mark.parametrize(
    "preamble",
    [b"MZ\x90\x00\x03", b"\x7fELF\x02\x01", b"\xcf\xfa\xed\xfe", b"#!/bin/sh\n"],
    ids=["windows-pe", "linux-elf", "macho", "script"],
)
def test_an_executable_preamble_is_refused(instance: Path, preamble: bytes) -> None:
    factory.set_preamble(instance, preamble)
    result = inspect_file(instance)
    assert codes(result) == ["executable_preamble"] and result.problems[0].is_error


def test_a_tiff_preamble_is_allowed(instance: Path) -> None:
    factory.set_preamble(instance, b"II*\x00\x08\x00\x00\x00")  # dual TIFF/DICOM is legitimate
    assert inspect_file(instance).ok


@pytest.mark.parametrize(
    "syntax",
    [b"1.2.3.4.5.6.7.8.9.10", b"1.2.840.113619.5.2\x00\x00"],
    ids=["unknown", "ge-private-big-endian"],
)
def test_an_unknown_transfer_syntax_is_unsupported(instance: Path, syntax: bytes) -> None:
    factory.replace_bytes(instance, b"1.2.840.10008.1.2.1\x00", syntax)
    result = inspect_file(instance)
    assert codes(result) == ["unsupported_transfer_syntax"]


def test_a_registered_syntax_without_a_decoder_is_unsupported(tmp_path: Path) -> None:
    # MPEG-2 video is a registered transfer syntax; no decoder for it is installed here.
    path = factory.write_undecodable(tmp_path / "IM0001", syntax="1.2.840.10008.1.2.4.100")
    assert codes(inspect_file(path)) == ["unsupported_transfer_syntax"]


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"])
def test_a_missing_uid_is_reported(instance: Path, keyword: str) -> None:
    assert "missing_uid" not in codes(inspect_file(instance))
    factory.rewrite(instance, **{keyword: None})
    assert codes(inspect_file(instance)) == ["missing_uid"]


@pytest.mark.parametrize(
    "bad_uid", ["../x", "1." + "2" * 198, "1.2.840.abc", "1..2", "1.2\\3.4"], ids=str.__len__
)
def test_a_malformed_uid_is_reported(instance: Path, bad_uid: str) -> None:
    factory.rewrite(instance, SOPInstanceUID=bad_uid)
    assert codes(inspect_file(instance)) == ["invalid_uid"]


def test_uids_with_leading_zero_components_are_tolerated(instance: Path) -> None:
    factory.rewrite(instance, SeriesInstanceUID="1.2.840.113619.2.55.3.0604.1")  # vendor quirk
    assert inspect_file(instance).ok


def test_a_deflated_file_is_read_within_bounds(tmp_path: Path) -> None:
    result = inspect_file(factory.write_deflated(tmp_path / "IM0001"))
    assert result.ok and result.has_pixel_data
    assert result.transfer_syntax_uid == "1.2.840.10008.1.2.1.99"


def test_a_deflate_bomb_is_refused_without_a_big_allocation(tmp_path: Path) -> None:
    bomb = factory.write_deflate_bomb(tmp_path / "IM0001", inflated_mib=256)
    assert bomb.stat().st_size < 1 * MiB

    result, peak = inspect_measuring_memory(bomb)

    assert codes(result) == ["deflated_too_large"]
    assert peak < 100 * MiB


def test_a_deflated_file_cut_short_is_truncated(tmp_path: Path) -> None:
    path = factory.truncate(factory.write_deflated(tmp_path / "IM0001"), 40)
    assert codes(inspect_file(path)) == ["truncated"]


def test_a_dicomdir_is_an_index_not_an_instance() -> None:
    result = inspect_file(sample("DICOMDIR"))
    assert result.kind == "dicomdir" and not result.ok


# --- inspect_file never raises --------------------------------------------------------------------


def _valid_file_bytes() -> bytes:
    buffer = io.BytesIO()
    factory.make_dataset(rows=8, cols=8).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


VALID_BYTES = _valid_file_bytes()
_HYPOTHESIS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _inspect_bytes(tmp_path: Path, data: bytes) -> FileResult:
    path = tmp_path / "fuzzed"
    path.write_bytes(data)
    result = inspect_file(path)
    assert result.ok or result.problems, "a rejected file must say why"
    assert problems.INTERNAL_ERROR not in codes(result), "our own code failed on these bytes"
    return result


HEADER_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 1023), st.integers(0, 255)
    ),
    min_size=1,
    max_size=10,
)


def _edited(original: bytes, edits: list[tuple[str, int, int]], *, start: int = 0) -> bytes:
    """``original`` with bytes flipped, inserted or deleted at ``start`` + offset (clamped)."""
    data = bytearray(original)
    for operation, offset, value in edits:
        at = min(start + offset, len(data) - 1)
        if operation == "flip":
            data[at] ^= value or 1
        elif operation == "insert":
            data[at:at] = bytes([value])
        else:
            del data[at]
    return bytes(data)


@_HYPOTHESIS
@given(data=st.binary(max_size=4096))
# Random bytes are almost never a dataset: without these the property never reaches the header
# reader, and a bug there that rejects every image would pass it.
@example(data=VALID_BYTES)
@example(data=VALID_BYTES[VALID_BYTES.index(b"\x08\x00\x05\x00") :])  # a bare dataset
def test_random_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    _inspect_bytes(tmp_path, data)


@_HYPOTHESIS
@given(tail=st.binary(max_size=2048))
def test_random_bytes_after_a_dicm_marker_never_raise(tmp_path: Path, tail: bytes) -> None:
    _inspect_bytes(tmp_path, bytes(128) + b"DICM" + tail)


@_HYPOTHESIS
@given(edits=HEADER_EDITS)
def test_mutated_headers_never_raise(tmp_path: Path, edits: list[tuple[str, int, int]]) -> None:
    _inspect_bytes(tmp_path, _edited(VALID_BYTES, edits))


def _walked_and_read(data: bytes, *, implicit: bool = False):
    """The fast walk's elements and pydicom's reader's, as comparable tuples."""
    _, start = scan_file_meta(data, 132)
    walked = _walk_little_endian(data, start, implicit=implicit)
    if walked is None:
        return None, None
    stream = io.BytesIO(data)
    stream.seek(start)
    ds = read_dataset(
        stream,
        implicit,
        True,
        stop_when=_at_pixel_data,
        defer_size=_DEFER_BYTES,
        specific_tags=_TAG_LIST,
    )
    as_tuples = lambda elements: {  # noqa: E731
        int(tag): (e.VR, e.length, e.value, e.value_tell) for tag, e in elements.items()
    }
    return (as_tuples(walked[0]), walked[1]), (as_tuples(ds), stream.tell())


def test_the_fast_walk_reads_what_pydicom_reads() -> None:
    fast, pydicoms = _walked_and_read(VALID_BYTES)
    assert fast is not None, "the common case must take the fast walk"
    assert fast == pydicoms
    assert len(fast[0]) > 15


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_padded.dcm",
        "MR_small_implicit.dcm",
        "rtdose.dcm",
        "nested_priv_SQ.dcm",
        "liver_1frame.dcm",
        "JPEG2000.dcm",
    ],
)
def test_the_fast_walk_agrees_with_pydicom_on_its_samples(name: str) -> None:
    path = get_testdata_file(name)
    syntax = dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    fast, pydicoms = _walked_and_read(Path(path).read_bytes(), implicit=syntax.is_implicit_VR)
    assert fast == pydicoms  # None for both when the walk hands over to pydicom


@_HYPOTHESIS
@given(edits=HEADER_EDITS)
def test_the_fast_walk_never_reads_a_mutated_header_differently(
    edits: list[tuple[str, int, int]],
) -> None:
    _, start = scan_file_meta(VALID_BYTES, 132)
    data = _edited(VALID_BYTES, edits, start=start)  # the file meta is parsed before the walk
    fast, pydicoms = _walked_and_read(data)
    if fast is not None:
        assert fast == pydicoms


def _length_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every explicit-VR length field in the file, found by walking it."""
    fields = []
    pos = 132
    while pos + 8 <= len(data):
        vr = data[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
            fields.append((pos + 8, 4))
            pos += 12 + struct.unpack_from("<L", data, pos + 8)[0]
        else:
            fields.append((pos + 6, 2))
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return fields


LENGTH_FIELDS = _length_fields(VALID_BYTES)


@_HYPOTHESIS
@given(
    field=st.sampled_from(LENGTH_FIELDS),
    value=st.one_of(
        st.sampled_from([0, 1, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF]),
        st.integers(0, 2**32 - 1),
    ),
)
def test_changed_declared_lengths_never_raise(
    tmp_path: Path, field: tuple[int, int], value: int
) -> None:
    offset, size = field
    data = bytearray(VALID_BYTES)
    data[offset : offset + size] = (value % (1 << (8 * size))).to_bytes(size, "little")
    _inspect_bytes(tmp_path, bytes(data))


def test_the_length_walker_found_the_pixel_data_length() -> None:
    assert len(LENGTH_FIELDS) > 20
    assert any(VALID_BYTES[o - 8 : o - 4] == b"\xe0\x7f\x10\x00" for o, _ in LENGTH_FIELDS)


def test_deeply_nested_sequences_do_not_crash(tmp_path: Path) -> None:
    # 20,000 nested undefined-length sequences: pydicom recurses once per level.
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    sequence = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff"
    body = (sequence + item) * 20_000
    path = tmp_path / "nested"
    path.write_bytes(VALID_BYTES[: VALID_BYTES.index(b"\x08\x00\x05\x00")] + body)
    assert codes(inspect_file(path)) == ["truncated"]


# --- a failure of our own code is not a damaged file ---------------------------------------------

PHI_FOLDER = "DOE_JANE_19700101"  # CD folders are often named after the patient
CALM = "We could not check this file yet; our team has been told."


def _bug(exception: type[Exception]):
    """Stands in for one of our functions with a bug in it; the message quotes a header value,
    as pydicom's and Python's own messages do."""

    def broken(*args: object, **kwargs: object) -> None:
        raise exception(f"unexpected value {factory.PATIENT_NAME}")

    return broken


def _line_calling(module: str, caller: str, callee: str) -> int:
    """The line of ``<module>.<caller>`` that calls ``callee``."""
    lines, first = inspect.getsourcelines(getattr(importlib.import_module(module), caller))
    [offset] = [i for i, line in enumerate(lines) if f"{callee}(" in line]
    return first + offset


def _logged_internal_error(caplog: pytest.LogCaptureFixture) -> str:
    [record] = [r for r in caplog.records if r.name == "records.dicom"]
    assert record.levelno == logging.ERROR
    logged = record.getMessage()
    for secret in (PHI_FOLDER, "IM0001", factory.PATIENT_NAME, "unexpected value"):
        assert secret not in logged and secret not in caplog.text
    return logged


@pytest.mark.parametrize(
    ("module", "function", "exception", "caller"),
    [
        ("records.dicom.inspect", "_fill_fields", TypeError, "_inspect"),
        ("records.dicom.header", "_walk_little_endian", IndexError, "read_header"),
        ("records.dicom.header", "scan_file_meta", struct.error, "_layout"),
        ("records.dicom.inspect", "_check_completeness", KeyError, "_inspect"),
    ],
)
def test_a_bug_in_our_code_is_an_internal_error_not_a_damaged_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    module: str,
    function: str,
    exception: type[Exception],
    caller: str,
) -> None:
    path = factory.write_instance(tmp_path / PHI_FOLDER / "IM0001")
    monkeypatch.setattr(f"{module}.{function}", _bug(exception))
    caplog.set_level(logging.DEBUG)

    result = inspect_file(path, rel_path=f"{PHI_FOLDER}/IM0001")

    assert codes(result) == ["internal_error"] and not result.ok
    assert result.problems[0].message == CALM
    assert result.problems[0].path == f"{PHI_FOLDER}/IM0001"  # the patient's own name for it
    logged = _logged_internal_error(caplog)
    name = "struct.error" if exception is struct.error else exception.__name__
    assert f"{name} at {module}:{caller}:{_line_calling(module, caller, function)}" in logged


def test_a_file_meta_cut_inside_a_long_length_is_truncated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # (0002,0001) OB: tag, VR and two reserved bytes, then the file ends before the length.
    path = tmp_path / "IM0001"
    path.write_bytes(bytes(128) + b"DICM" + struct.pack("<HH2sH", 0x0002, 0x0001, b"OB", 0))
    assert codes(inspect_file(path)) == ["truncated"]
    assert not caplog.records


def test_a_corrupt_deflate_stream_is_damage_not_a_failure_of_ours(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = factory.write_deflated(tmp_path / "IM0001")
    data = bytearray(path.read_bytes())
    _, start = scan_file_meta(bytes(data), 132)
    data[start] = 0b111  # the last block, of the reserved type 3: zlib refuses it
    path.write_bytes(bytes(data))
    assert codes(inspect_file(path)) == ["truncated"]
    assert not caplog.records


def test_a_bug_in_the_preview_is_an_internal_error_not_undecodable_pixels(
    instance: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("records.dicom.pixels._rescaled", _bug(ZeroDivisionError))
    caplog.set_level(logging.DEBUG)

    preview = make_preview(instance, rel_path=f"{PHI_FOLDER}/IM0001")

    assert isinstance(preview, Problem)
    assert (preview.code, preview.message) == ("internal_error", CALM)
    logged = _logged_internal_error(caplog)
    assert (
        "ZeroDivisionError at records.dicom.pixels:_to_image:"
        f"{_line_calling('records.dicom.pixels', '_to_image', '_rescaled')}" in logged
    )


def test_a_bug_in_the_dicomdir_cross_check_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sources = factory.write_series(tmp_path / "src", 2)
    dicomdir = factory.write_cd(tmp_path / PHI_FOLDER, sources)
    monkeypatch.setattr("records.dicom.dicomdir._cross_check", _bug(TypeError))
    caplog.set_level(logging.DEBUG)

    found = check_dicomdir(dicomdir, rel_path=f"{PHI_FOLDER}/DICOMDIR")

    assert codes(found) == ["internal_error"]  # not "dicomdir_unreadable", a harmless warning
    assert "TypeError at records.dicom.dicomdir:_check_dicomdir:" in _logged_internal_error(caplog)


def test_a_file_our_code_failed_on_blocks_the_upload_even_among_viewer_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory.write_series(tmp_path / "DICOM", 3)
    (tmp_path / "Viewer").mkdir()
    (tmp_path / "Viewer" / "viewer.dat").write_bytes(b"vendor data, not an image")
    # A bug met only on files that are not DICOM, found in a folder whose junk is ignored.
    monkeypatch.setattr("records.dicom.header._sniff_format", _bug(TypeError))

    report = validate_tree(tmp_path)

    assert not report.valid
    assert [(p.code, p.path) for p in report.problems] == [("internal_error", "Viewer/viewer.dat")]
    assert report.files == {"dicom": 3, "ignored": 0, "rejected": 1}
    assert report.to_dict()["problems"] == [
        {
            "path": "Viewer/viewer.dat",
            "code": "internal_error",
            "severity": "error",
            "message": CALM,
        }
    ]


# --- DICOMDIR ------------------------------------------------------------------------------------


@pytest.fixture
def cd(tmp_path: Path) -> Path:
    """A CD written by pydicom's FileSet: DICOMDIR + PT000000/ST000000/SE000000/IM00000n."""
    sources = factory.write_series(tmp_path / "src", 5)
    root = tmp_path / "cd"
    factory.write_cd(root, sources)
    shutil.rmtree(tmp_path / "src")
    return root


def image_number(cd: Path, number: int) -> Path:
    """The CD file holding InstanceNumber ``number`` (FileSet picks its own file names)."""
    for path in cd.rglob("IM*"):
        if dcmread(path, stop_before_pixels=True).InstanceNumber == number:
            return path
    raise LookupError(number)


def test_pydicoms_dicomdir_test_set_is_complete() -> None:
    dicomdir = sample("DICOMDIR")
    assert check_dicomdir(dicomdir, rel_path="DICOMDIR") == []


def test_a_complete_cd_gives_no_dicomdir_problem(cd: Path) -> None:
    assert check_dicomdir(cd / "DICOMDIR") == []


def test_a_file_missing_from_the_cd_is_a_warning(cd: Path) -> None:
    image_number(cd, 2).unlink()

    found = check_dicomdir(cd / "DICOMDIR", rel_path="DICOMDIR")

    assert codes(found) == ["dicomdir_missing_file"]
    assert found[0].severity == "warning" and "1 image file(s)" in found[0].message


def test_lower_case_names_from_some_cd_drives_are_tolerated(cd: Path) -> None:
    for path in sorted(cd.rglob("*"), key=lambda p: -len(p.parts)):
        if path.name != "DICOMDIR":
            path.rename(path.with_name(path.name.lower()))
    assert check_dicomdir(cd / "DICOMDIR") == []


def test_a_dicomdir_pointing_outside_its_folder_is_refused(cd: Path) -> None:
    ds = dcmread(cd / "DICOMDIR")
    images = [r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ".." is not a valid CS value: that is the point
        images[0].ReferencedFileID = ["..", "..", "ETC", "PASSWD"]
    ds.save_as(cd / "DICOMDIR")

    assert codes(check_dicomdir(cd / "DICOMDIR")) == ["unsafe_archive_path"]


def test_an_unreadable_dicomdir_only_costs_the_cross_check(tmp_path: Path) -> None:
    original = sample("DICOMDIR").read_bytes()
    cut = tmp_path / "cut/DICOMDIR"
    cut.parent.mkdir()
    cut.write_bytes(original[: len(original) // 2])
    image = tmp_path / "image/DICOMDIR"
    factory.write_instance(image)  # an image named DICOMDIR: no index inside

    for broken in (cut, image):
        found = check_dicomdir(broken)
        assert codes(found) == ["dicomdir_unreadable"], broken
        assert found[0].severity == "warning"


# --- previews -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small_bigendian.dcm",
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "image_dfl.dcm",
        "examples_palette.dcm",
        "examples_ybr_color.dcm",
        "SC_rgb_jpeg.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ],
)
def test_previews_are_small_8_bit_images(name: str) -> None:
    preview = make_preview(sample(name))

    assert isinstance(preview, Image.Image), preview
    assert preview.mode in ("L", "RGB")
    assert max(preview.size) <= 256


def test_a_preview_is_windowed_not_blank(tmp_path: Path) -> None:
    path = factory.write_instance(tmp_path / "IM0001", rows=512, cols=300)
    preview = make_preview(path)

    assert isinstance(preview, Image.Image)
    assert preview.size == (150, 256)
    low, high = preview.getextrema()
    assert high - low > 100


def test_a_multiframe_preview_decodes_one_frame(tmp_path: Path) -> None:
    path = factory.write_instance(tmp_path / "IM0001", frames=5, rows=16, cols=16)
    assert isinstance(make_preview(path), Image.Image)


def test_undecodable_pixels_are_reported(tmp_path: Path) -> None:
    path = factory.write_undecodable(tmp_path / "IM0001")
    assert inspect_file(path).ok  # the header is fine: only decoding finds out
    preview = make_preview(path, rel_path="DICOM/IM0001")
    assert isinstance(preview, Problem)
    assert preview.code == "undecodable_pixels" and preview.path == "DICOM/IM0001"


def test_a_codec_failure_is_not_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # pydicom's decoders log the codec's exception through loggers of their own.
    path = factory.write_undecodable(tmp_path / "IM0001")
    caplog.set_level(logging.DEBUG)
    preview = make_preview(path)
    assert isinstance(preview, Problem) and preview.code == "undecodable_pixels"
    assert not caplog.records, [record.name for record in caplog.records]


def test_a_truncated_file_gives_its_own_problem_as_preview() -> None:
    preview = make_preview(sample("MR_truncated.dcm"))
    assert isinstance(preview, Problem) and preview.code == "truncated"


# --- whole uploads -------------------------------------------------------------------------------


def test_a_complete_mr_study_is_valid(tmp_path: Path) -> None:
    study = generate_uid()
    factory.write_series(tmp_path / "DICOM/S1", 12, study_uid=study, series_number=1)
    factory.write_series(tmp_path / "DICOM/S2", 8, study_uid=study, series_number=2)

    report = validate_tree(tmp_path, declared_modality="mri", declared_region="brain")

    assert report.valid and report.problems == []
    assert report.files == {"dicom": 20, "ignored": 0, "rejected": 0}
    (summary,) = report.studies
    assert summary.study_instance_uid == study
    assert summary.modalities == ["MR"] and summary.body_parts == ["BRAIN"]
    assert summary.regions == ["head"]
    assert [s.instance_count for s in summary.series] == [12, 8]
    assert all(isinstance(s.preview, Image.Image) for s in summary.series)
    assert summary.series[0].preview_path.startswith("DICOM/S1/")
    assert len(report.instances) == 20
    assert {r.path for r in report.instances} >= {"DICOM/S1/IM0001", "DICOM/S2/IM0008"}


def test_a_large_folder_checked_by_several_processes_gives_the_same_report(
    tmp_path: Path,
) -> None:
    paths = factory.write_series(tmp_path / "DICOM/S1", PARALLEL_FROM + 6, rows=16, cols=16)
    factory.truncate(paths[7], 100)
    factory.set_preamble(paths[30], b"MZ\x90\x00\x03")
    (tmp_path / "DICOM/README.TXT").write_text("read me")
    (tmp_path / "DICOM/images.rar").write_bytes(b"Rar!")
    (tmp_path / "DICOM/PHOTO").write_bytes(b"\xff\xd8\xff\xe0 not dicom")

    one = validate_tree(tmp_path, processes=1)
    two = validate_tree(tmp_path, processes=2)

    assert one.files == two.files == {"dicom": PARALLEL_FROM + 4, "ignored": 1, "rejected": 4}
    assert two.to_dict() == one.to_dict()
    assert [r.path for r in two.instances] == [r.path for r in one.instances]
    assert sorted(codes(two)) == [
        "executable_preamble",
        "missing_slices",
        "not_dicom",
        "truncated",
        "unsupported_archive",
    ]


@pytest.mark.parametrize("failing", [0, 1], ids=["own-share", "helper-share"])
def test_a_disk_error_in_any_share_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    paths = factory.write_series(tmp_path, PARALLEL_FROM, rows=8, cols=8)
    broken = paths[failing]  # shares are every other file: 0 is read here, 1 by the helper
    real_open = archives.open_regular_file

    def open_or_fail(path):
        if Path(path) == broken:
            raise OSError(errno.EIO, "Input/output error")
        return real_open(path)

    monkeypatch.setattr(archives, "open_regular_file", open_or_fail)
    with pytest.raises(OSError) as raised:
        validate_tree(tmp_path, processes=2)
    assert raised.value.errno == errno.EIO


def test_report_json_has_the_agreed_shape(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "s", 3)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "PHOTO").write_bytes(b"\xff\xd8\xff\xe0 not dicom")

    data = validate_tree(tmp_path).to_dict()

    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"valid", "studies", "files", "problems"}
    assert data["valid"] is True
    assert set(data["studies"][0]) == {
        "study_instance_uid",
        "patient_id",
        "modalities",
        "body_parts",
        "description",
        "series_count",
        "instance_count",
    }
    assert data["studies"][0]["instance_count"] == 3
    assert data["files"] == {"dicom": 3, "ignored": 1, "rejected": 1}
    assert data["problems"] == [
        {
            "path": "PHOTO",
            "code": "not_dicom",
            "severity": "warning",
            "message": problems.CODES["not_dicom"][1],
        }
    ]


def test_cd_junk_is_ignored_and_never_counted(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "DICOM", 3)
    junk = {
        "AUTORUN.INF": b"[autorun]",
        "Setup.exe": b"MZ program",
        "viewer/Viewer.exe": b"MZ",
        "viewer/lib/core.dll": b"MZ",
        "viewer/bin/viewer": b"\x7fELF binary without extension",
        "viewer/config": b"no extension, not dicom",
        "README.TXT": b"read me",
        "index.htm": b"<html>",
        "viewer/help/Manual.pdf": b"%PDF-1.4 the viewer's manual",
        "Viewer.app/Contents/MacOS/Viewer": b"\xcf\xfa\xed\xfe",
        ".DS_Store": b"\x00\x00\x00\x01Bud1",
        "__MACOSX/DICOM/._IM0001": b"apple double",
        "Thumbs.db": b"thumbs",
        "desktop.ini": b"[.ShellClassInfo]",
    }
    for rel, content in junk.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(content)

    report = validate_tree(tmp_path)

    assert report.valid and report.problems == []
    assert report.files == {"dicom": 3, "ignored": len(junk), "rejected": 0}


def test_a_pdf_is_ignored_with_a_pointer_to_original_report(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "DICOM", 3)
    (tmp_path / "Report.pdf").write_bytes(b"%PDF-1.4 synthetic")

    report = validate_tree(tmp_path)

    assert codes(report) == ["pdf_document"] and report.valid
    assert report.problems[0].path == "Report.pdf"
    assert report.files["ignored"] == 1


def test_a_dicomdir_counts_as_ignored_and_is_cross_checked(cd: Path) -> None:
    report = validate_tree(cd)
    assert report.valid and report.files == {"dicom": 5, "ignored": 1, "rejected": 0}

    image_number(cd, 3).unlink()
    report = validate_tree(cd)
    assert codes(report) == ["dicomdir_missing_file", "missing_slices"]
    assert report.valid  # warnings only


def test_a_warning_shared_by_a_whole_folder_is_reported_once(tmp_path: Path) -> None:
    for path in factory.write_series(tmp_path / "OLD_CD", 4):
        factory.strip_file_meta(path)

    report = validate_tree(tmp_path)

    assert codes(report) == ["missing_file_meta"] and report.valid
    assert report.files["dicom"] == 4


def test_an_upload_without_images_is_empty(tmp_path: Path) -> None:
    (tmp_path / "AUTORUN.INF").write_text("[autorun]")
    (tmp_path / "Report.pdf").write_bytes(b"%PDF-1.4")

    report = validate_tree(tmp_path)

    assert "empty_upload" in codes(report) and not report.valid
    assert report.studies == [] and report.instances == []
    factory.write_series(tmp_path / "DICOM", 1)
    assert "empty_upload" not in codes(validate_tree(tmp_path))


def test_duplicates_are_kept_once(tmp_path: Path) -> None:
    paths = factory.write_series(tmp_path / "CD1", 4)
    shutil.copytree(tmp_path / "CD1", tmp_path / "CD2")

    report = validate_tree(tmp_path)

    assert codes(report) == ["duplicate_instance"]
    assert "4 file(s)" in report.problems[0].message
    assert report.files == {"dicom": 4, "ignored": 4, "rejected": 0}
    assert sorted(r.path for r in report.instances) == [f"CD1/{p.name}" for p in paths]
    assert "duplicate_instance" not in codes(validate_tree(tmp_path / "CD1"))


def test_a_damaged_copy_of_a_kept_image_is_only_a_duplicate(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "CD1", 3)
    shutil.copytree(tmp_path / "CD1", tmp_path / "CD2")
    factory.truncate(tmp_path / "CD2/IM0002", 50)

    report = validate_tree(tmp_path)

    assert codes(report) == ["duplicate_instance"] and report.valid


def test_a_damaged_file_without_a_good_copy_blocks(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "CD1", 3)
    factory.truncate(tmp_path / "CD1/IM0002", 50)

    report = validate_tree(tmp_path)

    assert "truncated" in codes(report) and not report.valid
    assert report.files["rejected"] == 1 and report.files["dicom"] == 2


def test_two_people_in_one_upload_block(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "A", 3)
    factory.write_series(tmp_path / "B", 3, patient_name="ROE^RICHARD", patient_id="SYN0002")

    report = validate_tree(tmp_path)

    assert "multiple_patients" in codes(report) and not report.valid


def test_the_same_person_seen_by_two_hospitals_is_one_patient(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "A", 3, patient_name="DOE^JANE", patient_id="H1-0042")
    factory.write_series(tmp_path / "B", 3, patient_name="Doe^Jane^Q", patient_id="77-991")

    assert "multiple_patients" not in codes(validate_tree(tmp_path))


def test_one_name_with_two_birth_dates_is_two_patients(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "A", 3)
    factory.write_series(tmp_path / "B", 3, birth_date="19800202")
    assert "multiple_patients" in codes(validate_tree(tmp_path))


@pytest.mark.parametrize(
    ("holder", "mismatch"),
    [
        (AccountHolder("Jane Doe", date(1970, 1, 1)), False),
        (AccountHolder("jane q. doe", "1970-01-01"), False),
        ({"name": "Doe, Jane", "birth_date": None}, False),
        (AccountHolder("Jane Doé-Smith", date(1970, 1, 1)), False),
        (AccountHolder("Alice Moreau", date(1980, 2, 3)), True),
        (AccountHolder("Jane Doe", date(1971, 1, 1)), True),
        (AccountHolder("", None), False),
    ],
)
def test_the_account_holder_is_compared_loosely(
    tmp_path: Path, holder: AccountHolder | dict, mismatch: bool
) -> None:
    factory.write_series(tmp_path / "DICOM", 3)

    report = validate_tree(tmp_path, patient=holder)

    assert ("patient_mismatch" in codes(report)) is mismatch
    assert report.valid  # a coordinator checks; the patient is not blocked


def test_name_matching_rules() -> None:
    assert names_match(name_tokens("DOE^JANE^MARIE"), name_tokens("Marie Doe")) is True
    assert names_match(name_tokens("MÜLLER^ANNA"), name_tokens("anna mueller")) is True  # "anna"
    assert names_match(name_tokens("SMITH^JOHN"), name_tokens("Jane Doe")) is False
    assert names_match(name_tokens("ANONYMOUS"), name_tokens("Jane Doe")) is None
    assert names_match(name_tokens("ИВАНОВА^ОЛЬГА"), name_tokens("Ольга Иванова")) is True
    assert parse_birth_date("19700101") == date(1970, 1, 1)
    assert parse_birth_date("1970.01.01") == date(1970, 1, 1)
    assert parse_birth_date("19000101") is None and parse_birth_date("") is None


def test_missing_slices_found_by_numbers_and_positions(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "complete", 10)
    factory.write_series(tmp_path / "gappy", 10, skip=[4, 5], spacing=3.0)

    report = validate_tree(tmp_path)

    assert codes(report) == ["missing_slices"]
    assert report.problems[0].path == "gappy"
    assert "about 2 image(s)" in report.problems[0].message
    assert report.valid


def test_missing_slices_by_position_alone(tmp_path: Path) -> None:
    # Renumbered after export: the numbers run 1..8 without a gap, the positions do not.
    uids = {"study_uid": generate_uid(), "series_uid": generate_uid()}
    for number, z in enumerate((0, 4, 8, 12, 24, 28, 32, 36), start=1):
        factory.write_instance(
            tmp_path / f"IM{number}", instance_number=number, position=(0, 0, z), **uids
        )

    report = validate_tree(tmp_path)

    assert codes(report) == ["missing_slices"]
    assert "about 2 image(s)" in report.problems[0].message


def test_missing_slices_by_instance_number(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "s", 8, skip=[3], positions=False, orientation=None)
    assert codes(validate_tree(tmp_path)) == ["missing_slices"]


def test_regular_instance_number_steps_and_localisers_are_not_gaps(tmp_path: Path) -> None:
    study, series = generate_uid(), generate_uid()
    for index, number in enumerate((2, 4, 6, 8, 10)):
        factory.write_instance(
            tmp_path / f"s/IM{index}",
            study_uid=study,
            series_uid=series,
            instance_number=number,
            position=None,
        )
    localiser = generate_uid()
    planes = [(1, 0, 0, 0, 1, 0), (0, 1, 0, 0, 0, -1), (1, 0, 0, 0, 0, -1)]
    for index, orientation in enumerate(planes):
        factory.write_instance(
            tmp_path / f"loc/IM{index}",
            study_uid=study,
            series_uid=localiser,
            instance_number=index + 1,
            orientation=orientation,
            position=(0, 0, index * 40),
        )
    assert "missing_slices" not in codes(validate_tree(tmp_path))


def test_a_screening_mammogram_has_four_views(tmp_path: Path) -> None:
    factory.write_mammogram(tmp_path / "full")
    assert validate_tree(tmp_path / "full", declared_modality="mammogram").problems == []

    factory.write_mammogram(tmp_path / "partial", views=("RCC", "LCC", "RMLO"))
    report = validate_tree(tmp_path / "partial")
    assert codes(report) == ["missing_views"]
    assert "LMLO" in report.problems[0].message and "RCC" not in report.problems[0].message


def test_for_processing_mammograms_are_flagged(tmp_path: Path) -> None:
    factory.write_mammogram(tmp_path, presentation_intent="FOR PROCESSING")
    report = validate_tree(tmp_path)
    assert codes(report) == ["for_processing_mammogram"] and report.valid


def test_declared_modality_is_compared(tmp_path: Path) -> None:
    factory.write_series(tmp_path, 3)

    mismatch = validate_tree(tmp_path, declared_modality="ct")
    assert codes(mismatch) == ["modality_mismatch"]
    assert "an MRI" in mismatch.problems[0].message
    assert "a CT scan" in mismatch.problems[0].message
    for declared in ("mri", "MRI", "other", None, "something new"):
        assert codes(validate_tree(tmp_path, declared_modality=declared)) == []


def test_a_breast_radiograph_counts_as_a_mammogram(tmp_path: Path) -> None:
    factory.write_mammogram(tmp_path, modality="DX")
    assert codes(validate_tree(tmp_path, declared_modality="mammogram")) == []
    assert codes(validate_tree(tmp_path, declared_modality="xray")) == []
    assert codes(validate_tree(tmp_path, declared_modality="mri")) == ["modality_mismatch"]


def test_a_pet_ct_matches_either_declaration(tmp_path: Path) -> None:
    study = generate_uid()
    factory.write_series(tmp_path / "pt", 3, modality="PT", study_uid=study, body_part="CHEST")
    factory.write_series(tmp_path / "ct", 3, modality="CT", study_uid=study, body_part="CHEST")
    for declared in ("pet", "ct"):
        assert codes(validate_tree(tmp_path, declared_modality=declared)) == []


def test_declared_region_is_flagged_only_when_clearly_contradicted(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "brain", 3, body_part="HEAD")
    factory.write_series(tmp_path / "unknown", 3, body_part=None)

    assert codes(validate_tree(tmp_path / "brain", declared_region="knee")) == ["region_mismatch"]
    for region in ("brain", "spine", "neck", "some-new-slug", None):
        assert codes(validate_tree(tmp_path / "brain", declared_region=region)) == []
    assert codes(validate_tree(tmp_path / "unknown", declared_region="knee")) == []


def test_body_parts_map_to_coarse_regions() -> None:
    assert region_for_body_part("BRAIN") == "head"
    assert region_for_body_part("L-SPINE") == "spine"
    assert region_for_body_part("knee") == "lower_limb"
    assert region_for_body_part("Kopf") == "head"
    assert region_for_body_part("SOMETHING") is None


def test_one_undecodable_series_blocks(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "good", 3)
    factory.write_undecodable(tmp_path / "bad/IM0001")

    report = validate_tree(tmp_path)

    assert codes(report) == ["undecodable_pixels"]
    assert report.problems[0].path == "bad/IM0001"
    assert not report.valid
    assert "undecodable_pixels" not in codes(validate_tree(tmp_path / "good"))


def test_pixel_checks_can_be_skipped(tmp_path: Path) -> None:
    factory.write_undecodable(tmp_path / "IM0001")
    report = validate_tree(tmp_path, check_pixels=False)
    assert report.valid and report.studies[0].series[0].preview is None


def test_messages_never_contain_patient_identity(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "A", 6, skip=[2])
    factory.write_series(tmp_path / "B", 3, patient_name="ROE^RICHARD", patient_id="SYN0002")
    factory.write_mammogram(tmp_path / "C", views=("RCC",), presentation_intent="FOR PROCESSING")

    report = validate_tree(
        tmp_path,
        declared_modality="ct",
        declared_region="knee",
        patient=AccountHolder("Alice Moreau", date(1980, 2, 3)),
    )

    assert {"multiple_patients", "patient_mismatch", "missing_slices", "missing_views"} <= set(
        codes(report)
    )
    secrets = ("DOE", "JANE", "ROE", "RICHARD", "SYN0001", "SYN0002", "1970", "Alice", "Moreau")
    for problem in report.problems:
        for secret in secrets:
            assert not re.search(rf"\b{secret}\b", problem.message, re.IGNORECASE), problem


# --- zips, single files, odd trees ---------------------------------------------------------


def test_a_zipped_cd_is_validated_and_cleaned_up(tmp_path: Path, cd: Path) -> None:
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in cd.rglob("*"):
            zf.write(path, path.relative_to(cd).as_posix())
    scratch = Path(tempfile.gettempdir())
    before = set(scratch.glob("secondopinion-upload-*"))

    report = validate_path(archive)

    assert report.valid, report.problems
    assert report.files == {"dicom": 5, "ignored": 1, "rejected": 0}
    assert all(r.path.startswith("study.zip/PT000000/") for r in report.instances)
    after = set(scratch.glob("secondopinion-upload-*"))
    assert after == before


def test_a_bad_zip_in_a_folder_upload_is_reported_with_its_path(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "DICOM", 2)
    (tmp_path / "more.zip").write_bytes(b"PK\x03\x04 damaged")

    report = validate_tree(tmp_path)

    assert codes(report) == ["corrupt_archive"]
    assert report.problems[0].path == "more.zip"
    assert report.files == {"dicom": 2, "ignored": 0, "rejected": 1}


def test_a_zip_inside_an_uploaded_zip_is_opened_once(tmp_path: Path) -> None:
    series = factory.write_series(tmp_path / "src", 2)
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        for path in series:
            zf.write(path, f"DICOM/{path.name}")
    deep = tmp_path / "deep.zip"
    with zipfile.ZipFile(deep, "w") as zf:
        zf.write(inner, "inner.zip")
    outer = tmp_path / "upload.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, "images.zip")
        zf.write(deep, "old/deep.zip")

    report = validate_path(outer)

    assert codes(report) == ["nested_archive_too_deep"]
    assert report.problems[0].path == "upload.zip/old/deep.zip/inner.zip"
    assert sorted(r.path for r in report.instances) == [
        "upload.zip/images.zip/DICOM/IM0001",
        "upload.zip/images.zip/DICOM/IM0002",
    ]
    assert report.files["rejected"] == 1


def test_all_zips_of_an_upload_share_one_size_budget(tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    upload.mkdir()
    for name in ("a", "b"):
        (image,) = factory.write_series(tmp_path / name, 1, rows=16, cols=16)
        with zipfile.ZipFile(upload / f"{name}.zip", "w") as zf:
            zf.write(image, "IM0001")
    one_image = image.stat().st_size
    limits = archives.Limits(max_total_bytes=int(one_image * 1.5))

    report = validate_tree(upload, limits=limits)

    assert codes(report) == ["archive_too_large"]
    assert report.problems[0].path == "b.zip"
    assert report.files["dicom"] == 1
    assert validate_tree(upload).valid


def test_a_single_file_can_be_validated(tmp_path: Path, instance: Path) -> None:
    report = validate_path(instance)
    assert report.valid and report.files["dicom"] == 1
    assert report.instances[0].path == "IM0001"

    assert codes(validate_path(sample("MR_truncated.dcm"))) == ["truncated", "empty_upload"]


def test_a_symlink_in_the_tree_is_not_followed(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "DICOM", 2)
    outside = factory.write_instance(tmp_path.parent / f"{tmp_path.name}-outside")
    (tmp_path / "DICOM/LINK").symlink_to(outside)

    report = validate_tree(tmp_path)

    assert codes(report) == ["unsafe_archive_path"]
    assert report.files["dicom"] == 2


def test_a_fifo_in_the_tree_is_never_opened(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "DICOM", 2)
    os.mkfifo(tmp_path / "DICOM/PIPE")  # reading it would block the worker forever

    report = validate_tree(tmp_path)

    assert report.valid and report.files == {"dicom": 2, "ignored": 1, "rejected": 0}


def test_an_unsupported_archive_format_is_named(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "DICOM", 2)
    (tmp_path / "images.rar").write_bytes(b"Rar!\x1a\x07\x00")

    report = validate_tree(tmp_path)

    assert codes(report) == ["unsupported_archive"] and report.valid
