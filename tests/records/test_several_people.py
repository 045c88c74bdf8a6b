"""A hospital CD that holds several people's studies: the patient says whose each study is.

Each study shows the name and birth date its images give (to the patient who uploaded them only);
a study that is not of the person the request is for is left out without uploading again, and
once every study is answered the upload no longer blocks submission.
"""

import zipfile

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from records import people
from records.models import Study, Upload, UploadFile
from records.services import RecordError
from requests_app import flow, triage, wizard
from requests_app.models import AuditEvent, Case
from tests.conftest import make_case, upload_folder
from tests.records.dicom_factory import write_cd, write_series


def _cd_of_two_people(case: Case, folder) -> Upload:
    write_series(folder / "CD" / "S1", n=3, patient_name="MOREAU^ALICE", birth_date="19710402")
    write_series(
        folder / "CD" / "S2",
        n=2,
        patient_name="KOWALSKI^PIOTR",
        patient_id="OTHER9",
        birth_date="19500612",
        study_description="CT CHEST",
    )
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    return upload


def _study(upload: Upload, family: str) -> Study:
    return upload.studies.get(patient_name__startswith=family)


def _records_missing(case: Case) -> list[str]:
    return [m for m in wizard.missing_for_submission(case) if "images" in m]


@pytest.fixture
def cd_case(alice, tmp_path):
    case = make_case(alice, complete=True)
    return case, _cd_of_two_people(case, tmp_path)


def test_each_study_shows_the_name_and_birth_date_in_its_images(cd_case):
    case, upload = cd_case
    assert upload.status == Upload.Status.INVALID
    assert upload.problems.filter(code="multiple_patients").exists()
    shown = {(s.name_in_images, str(s.birth_date_in_images)) for s in upload.studies.all()}
    assert shown == {("ALICE MOREAU", "1971-04-02"), ("PIOTR KOWALSKI", "1950-06-12")}
    assert _records_missing(case)


def test_names_are_not_kept_when_the_images_name_one_person(alice, tmp_path):
    case = make_case(alice, complete=True)
    write_series(tmp_path / "CD" / "S1", n=3, patient_name="MOREAU^ALICE", birth_date="19710402")
    upload = upload_folder(case, tmp_path)
    flow.check_upload(upload.pk)
    study = Study.objects.get(upload=upload)
    assert (study.patient_name, study.patient_birth_date) == ("", "")


def test_leaving_a_study_out_removes_its_files_and_unblocks_once_all_are_answered(cd_case, alice):
    case, upload = cd_case
    theirs = _study(upload, "KOWALSKI")
    files = list(UploadFile.objects.filter(instances__series__study=theirs).distinct())
    assert len(files) == 2 and all(default_storage.exists(f.key) for f in files)

    people.answer_study(theirs, by=alice, answer=people.LEFT_OUT)

    upload.refresh_from_db()
    assert not Study.objects.filter(pk=theirs.pk).exists()
    assert not UploadFile.objects.filter(pk__in=[f.pk for f in files]).exists()
    assert not any(default_storage.exists(f.key) for f in files)
    assert (upload.file_count, upload.dicom_count) == (3, 3)
    assert upload.status == Upload.Status.INVALID  # the remaining study is not answered yet
    assert _records_missing(case)
    assert case.events.filter(message__startswith="You removed 2 image files").exists()

    people.answer_study(_study(upload, "MOREAU"), by=alice, answer=Study.Person.REQUESTED)

    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID
    assert not upload.problems.exists()  # one person left: nothing for a coordinator
    assert _records_missing(case) == []


def test_another_name_needs_an_explanation_and_goes_to_a_coordinator(cd_case, alice):
    case, upload = cd_case
    with pytest.raises(RecordError):
        people.answer_study(_study(upload, "KOWALSKI"), by=alice, answer=Study.Person.OTHER_NAME)

    people.answer_study(_study(upload, "MOREAU"), by=alice, answer=Study.Person.REQUESTED)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.INVALID  # one study still unanswered
    people.answer_study(
        _study(upload, "KOWALSKI"),
        by=alice,
        answer=Study.Person.OTHER_NAME,
        explanation="Scanned under my late husband's insurance by mistake",
    )

    upload.refresh_from_db()
    case.refresh_from_db()
    assert upload.status == Upload.Status.VALID
    assert set(upload.problems.values_list("code", "severity")) == {
        ("people_answered", "warning"),
        ("patient_mismatch", "warning"),
    }
    assert case.needs_coordinator
    assert "1 said to be them under another name" in case.coordinator_note
    assert _study(upload, "KOWALSKI").person_explanation.startswith("Scanned under")
    assert _records_missing(case) == []


def test_the_patient_answers_on_the_records_page_and_it_is_audited(cd_case, alice, client):
    case, upload = cd_case
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "records"]))
    assert b"PIOTR KOWALSKI" in page.content and b"Jun 12, 1950" in page.content
    theirs = _study(upload, "KOWALSKI")

    response = client.post(
        reverse("records:study-person", args=[case.code, theirs.code]), {"person": "left_out"}
    )

    assert response.status_code == 302
    assert str(theirs.code) not in response.url
    assert not Study.objects.filter(pk=theirs.pk).exists()
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.DELETE, target_type="study", target_code=str(theirs.code)
    ).exists()


def test_another_patient_cannot_answer(cd_case, bob, client):
    case, upload = cd_case
    client.force_login(bob)
    theirs = _study(upload, "KOWALSKI")
    response = client.post(
        reverse("records:study-person", args=[case.code, theirs.code]), {"person": "left_out"}
    )
    assert response.status_code == 404
    assert Study.objects.filter(pk=theirs.pk).exists()


def _stored_under(upload: Upload) -> dict[str, bytes]:
    """Every file storage holds under the upload's prefix, by key."""
    found: dict[str, bytes] = {}
    pending = [upload.prefix]
    while pending:
        folder = pending.pop()
        folders, files = default_storage.listdir(folder)
        pending += [f"{folder}{name}/" for name in folders]
        for name in files:
            with default_storage.open(f"{folder}{name}", "rb") as handle:
                found[f"{folder}{name}"] = handle.read()
    return found


def test_a_study_left_out_of_a_zipped_cd_leaves_no_byte_of_it_stored(alice, tmp_path):
    case = make_case(alice, complete=True)
    mine = write_series(
        tmp_path / "src" / "A", n=3, patient_name="MOREAU^ALICE", birth_date="19710402"
    )
    theirs = write_series(
        tmp_path / "src" / "B",
        n=2,
        patient_name="KOWALSKI^PIOTR",
        patient_id="OTHER9",
        birth_date="19500612",
        study_description="CT CHEST",
    )
    write_cd(tmp_path / "CD", mine + theirs)
    archive = tmp_path / "zip" / "hospital-cd.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((tmp_path / "CD").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tmp_path / "CD").as_posix())
    upload = upload_folder(case, tmp_path / "zip")
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    assert upload.file_count == 1 and upload.dicom_count == 5
    # What identifies the other person: their name, their id, and each of their images.
    traces = [b"KOWALSKI", b"OTHER9"] + [path.read_bytes()[132:] for path in theirs]
    assert any(t in data for t in traces for data in _stored_under(upload).values())

    people.answer_study(_study(upload, "KOWALSKI"), by=alice, answer=people.LEFT_OUT)

    stored = _stored_under(upload)
    for trace in traces:
        assert not any(trace in data for data in stored.values()), trace[:20]
    # Inflated too: a zip deflates what it holds, so look inside anything still zipped.
    for data in stored.values():
        assert not data.startswith(b"PK\x03\x04"), "an archive holding the left-out study stays"
    # The kept study's images are all still stored, and the upload's counts say so.
    kept = {p.read_bytes() for p in mine}
    assert kept <= set(stored.values())
    upload.refresh_from_db()
    assert (upload.file_count, upload.dicom_count) == (3, 3)
    assert upload.total_bytes == sum(len(b) for b in kept)
    rows = UploadFile.objects.filter(upload=upload)
    assert set(rows.values_list("extracted_from", flat=True)) == {None}
    assert case.events.filter(message__startswith="The zip the images came in").exists()


def test_a_study_left_out_of_a_cd_folder_takes_the_cds_index_along(cd_case, alice, tmp_path):
    case, _ = cd_case
    folder = tmp_path / "withindex"
    slices = write_series(
        folder / "src" / "A", n=2, patient_name="MOREAU^ALICE", birth_date="19710402"
    )
    slices += write_series(
        folder / "src" / "B", n=2, patient_name="KOWALSKI^PIOTR", patient_id="OTHER9"
    )
    write_cd(folder / "upload" / "CD", slices)
    upload = upload_folder(case, folder / "upload")
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    assert upload.files.filter(relative_path__endswith="DICOMDIR").exists()

    people.answer_study(_study(upload, "KOWALSKI"), by=alice, answer=people.LEFT_OUT)

    assert not upload.files.filter(relative_path__endswith="DICOMDIR").exists()
    assert not any(b"KOWALSKI" in data for data in _stored_under(upload).values())
    upload.refresh_from_db()
    assert (upload.file_count, upload.dicom_count) == (2, 2)


def test_the_coordinator_sees_the_other_name_and_why_and_clears_the_flag(
    cd_case, alice, sam, client
):
    case, upload = cd_case
    people.answer_study(_study(upload, "MOREAU"), by=alice, answer=Study.Person.REQUESTED)
    people.answer_study(
        _study(upload, "KOWALSKI"),
        by=alice,
        answer=Study.Person.OTHER_NAME,
        explanation="Scanned under my late husband's insurance by mistake",
    )
    client.force_login(sam)
    changelist = client.get(reverse("admin:requests_app_case_changelist") + "?flag=coordinator")
    assert case.short_code in changelist.content.decode()
    page = client.get(reverse("admin:requests_app_case_change", args=[case.pk])).content.decode()
    assert "The person this request is for, under another name" in page
    assert "Scanned under my late husband&#x27;s insurance by mistake" in page

    triage.clear_flag(case, by=sam, note="Checked the marriage certificate.")

    case.refresh_from_db()
    assert not case.needs_coordinator
    assert case.events.filter(actor=sam, message__contains="checked the flagged details").exists()
