"""records.dicom: whole uploads (`validate_tree`): reports, duplicates, patients, missing slices
and views, declared modality and region, and what the messages never say."""

from __future__ import annotations

import errno
import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from pydicom.uid import generate_uid

from records import archives, problems
from records.dicom import (
    PARALLEL_FROM,
    AccountHolder,
    name_tokens,
    names_match,
    parse_birth_date,
    region_for_body_part,
    validate_tree,
)
from tests.records import dicom_factory as factory
from tests.records.dicom_samples import codes, image_number

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
        "photo",
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
            "code": "photo",
            "severity": "warning",
            "message": problems.CODES["photo"][1],
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
    assert "4 duplicate files" in report.problems[0].message
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
    assert "about 2 images" in report.problems[0].message
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
    assert "about 2 images" in report.problems[0].message


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
