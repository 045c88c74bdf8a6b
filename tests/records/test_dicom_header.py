"""records.dicom: the problem table, and header inspection of one file (`inspect_file`): what
it reads from good files, and one test per way a file fails."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image
from pydicom.uid import RLELossless, generate_uid

from records import problems
from records.archives import extract_zip
from records.dicom import (
    FileResult,
    inspect_file,
    make_preview,
)
from tests.records import dicom_factory as factory
from tests.records.dicom_samples import codes, sample

MiB = 1024 * 1024


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
    assert "about 3 images." in problems.make("missing_slices", missing=3).message
    assert "about 1 image." in problems.make("missing_slices", missing=1).message
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

    assert codes(inspect_file(photo)) == ["photo"]  # a picture is told apart from the rest
    for path in (text, sample("no_meta.dcm"), sample("crayons.icc")):
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
