"""records.dicom.validate_files: an upload read where storage keeps its files, under opaque
names, named by their paths in the upload; no folder is laid out to check it."""

from __future__ import annotations

import shutil
from pathlib import Path

from records.dicom import validate_files, validate_tree
from tests.records.dicom_samples import codes, image_number


def _stored(cd: Path, store: Path) -> list[tuple[Path, str]]:
    """The CD's files as storage keeps them: flat, opaque names; with their upload paths."""
    store.mkdir()
    pairs = []
    for n, path in enumerate(sorted(p for p in cd.rglob("*") if p.is_file())):
        target = store / f"{n:08x}"
        shutil.copyfile(path, target)
        pairs.append((target, f"CD/{path.relative_to(cd).as_posix()}"))
    return pairs


def test_stored_files_give_the_report_of_the_same_folder(cd: Path, tmp_path: Path) -> None:
    pairs = _stored(cd, tmp_path / "store")
    folder = tmp_path / "upload"
    shutil.copytree(cd, folder / "CD")

    listed, walked = validate_files(pairs, processes=1), validate_tree(folder, processes=1)

    assert codes(listed.problems) == codes(walked.problems)
    assert listed.files == walked.files == {"dicom": 5, "ignored": 1, "rejected": 0}
    assert sorted(r.path for r in listed.instances) == sorted(r.path for r in walked.instances)
    stored = {str(path) for path, _ in pairs}
    assert {str(path) for path in listed.locations.values()} <= stored


def test_the_dicomdir_is_checked_against_the_upload_paths_not_the_stored_names(
    cd: Path, tmp_path: Path
) -> None:
    pairs = _stored(cd, tmp_path / "store")
    assert "dicomdir_missing_file" not in codes(validate_files(pairs, processes=1).problems)

    gone = f"CD/{image_number(cd, 2).relative_to(cd).as_posix()}"
    without_one = [pair for pair in pairs if pair[1] != gone]
    assert len(without_one) == len(pairs) - 1
    found = validate_files(without_one, processes=1).problems
    (missing,) = [p for p in found if p.code == "dicomdir_missing_file"]
    assert "1 image file that is not" in missing.message


def test_lower_case_upload_paths_are_tolerated(cd: Path, tmp_path: Path) -> None:
    pairs = [
        (path, rel if rel.endswith("DICOMDIR") else "CD/" + rel[3:].lower())
        for path, rel in _stored(cd, tmp_path / "store")
    ]
    assert "dicomdir_missing_file" not in codes(validate_files(pairs, processes=1).problems)
