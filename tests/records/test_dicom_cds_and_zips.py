"""records.dicom: DICOMDIR cross-checks, and uploads that are zips, single files or odd trees."""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from pathlib import Path

from pydicom import dcmread

from records import archives
from records.dicom import (
    check_dicomdir,
    validate_path,
    validate_tree,
)
from tests.records import dicom_factory as factory
from tests.records.dicom_samples import codes, image_number, sample

# --- DICOMDIR ------------------------------------------------------------------------------------


def test_pydicoms_dicomdir_test_set_is_complete() -> None:
    dicomdir = sample("DICOMDIR")
    assert check_dicomdir(dicomdir, rel_path="DICOMDIR") == []


def test_a_complete_cd_gives_no_dicomdir_problem(cd: Path) -> None:
    assert check_dicomdir(cd / "DICOMDIR") == []


def test_a_file_missing_from_the_cd_is_a_warning(cd: Path) -> None:
    image_number(cd, 2).unlink()

    found = check_dicomdir(cd / "DICOMDIR", rel_path="DICOMDIR")

    assert codes(found) == ["dicomdir_missing_file"]
    assert found[0].severity == "warning" and "1 image file that is not" in found[0].message


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
