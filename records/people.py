"""Whose images: when an upload names several people (a hospital CD often holds other people's
studies too), the patient says for each study whether it is of the person the request is for.

A study that is not theirs is left out: its files go from storage and from the upload, the counts
are made right, and the timeline says so. Nothing of that person stays stored: a zip it came in is
replaced by the images of the studies kept (which the check already took out of it; nothing else
in a zip was ever used), and the CD's DICOMDIR, an index naming everyone on the CD, goes too.
Once every study left is answered the upload no longer waits for the patient; a coordinator
confirms any study said to be the person under another name.
"""

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Sum

from requests_app.models import Case
from requests_app.services import add_to_timeline, ensure_editable, locked_editable

from . import problems
from .dicom.identity import name_tokens, names_match, parse_birth_date
from .models import Study, Upload, UploadFile, UploadProblem
from .services import RecordError, delete_upload, remove_checked_files

LEFT_OUT = "left_out"
ANSWERS = (Study.Person.REQUESTED, Study.Person.OTHER_NAME, LEFT_OUT)
EXPLANATION_MAX = 500


def needs_answers(upload: Upload) -> bool:
    """Whether this upload waits for the patient to say whose each study is."""
    return upload.problems.filter(code="multiple_patients").exists()


def answer_study(study: Study, *, by, answer: str, explanation: str = "") -> Upload | None:
    """Record the patient's answer for one study; returns the upload (None if it went)."""
    explanation = " ".join(explanation.split())[:EXPLANATION_MAX]
    if answer not in ANSWERS:
        raise RecordError("Please choose one of the answers for this study.")
    if answer == Study.Person.OTHER_NAME and not explanation:
        raise RecordError(
            "Please tell us in a few words why the images give another name (for example a "
            "maiden name, or a name the hospital spelled differently)."
        )
    upload = study.upload
    ensure_editable(upload.case)
    if not upload.is_checked:
        raise RecordError("These images are still being checked; please wait a moment.")
    if answer == LEFT_OUT:
        return _leave_out(study, by=by)
    with locked_editable(upload.case):
        Study.objects.filter(pk=study.pk).update(
            person=answer,
            person_explanation=explanation if answer == Study.Person.OTHER_NAME else "",
        )
        if answer == Study.Person.OTHER_NAME:
            add_to_timeline(
                upload.case,
                by,
                "You told us a study is of the person this request is for, under another name; "
                "a coordinator will confirm it.",
            )
        _settle(upload)
    return upload


def _leave_out(study: Study, *, by) -> Upload | None:
    upload = study.upload
    others = upload.studies.exclude(pk=study.pk)
    if not others.exists():
        delete_upload(upload, by=by)
        return None
    files = list(UploadFile.objects.filter(instances__series__study=study).distinct())
    archives = {row.extracted_from_id for row in files} - {None}
    remove_checked_files(
        files,
        by=by,
        reason="a study that is not of the person this request is for was left out.",
        who="You",
    )
    with locked_editable(upload.case):
        gone = _drop_what_names_others(upload, archives, by=by)
        _settle(upload)
    for key in gone:
        default_storage.delete(key)
    return upload


def _is_index(relative_path: str) -> bool:
    return relative_path.rsplit("/", 1)[-1].upper() == "DICOMDIR"


def _drop_what_names_others(upload: Upload, archives: set[int], *, by) -> list[str]:
    """Inside the case's lock: the zips that held a study left out give way to the images kept
    from them, and the upload's DICOMDIR files go; the counts are made right. Returns the
    storage keys to delete once the rows are gone."""
    with transaction.atomic():
        rows = upload.files.filter(extracted_from__isnull=True).exclude(instances__isnull=False)
        doomed = [
            row
            for row in rows.select_related("upload__case")
            if row.pk in archives or _is_index(row.relative_path)
        ]
        if not doomed:
            return []
        UploadFile.objects.filter(extracted_from__in=archives).update(extracted_from=None)
        UploadFile.objects.filter(pk__in=[row.pk for row in doomed]).delete()
        kept = upload.files.filter(
            status=UploadFile.Status.COMPLETE, extracted_from__isnull=True
        ).aggregate(n=Count("id"), size=Sum("size"))
        Upload.objects.filter(pk=upload.pk).update(
            file_count=kept["n"], total_bytes=kept["size"] or 0
        )
        if archives:
            add_to_timeline(
                upload.case,
                by,
                "The zip the images came in was replaced by the images kept from it, so that "
                "nothing of the study left out stays stored.",
            )
    return [row.key for row in doomed]


def _settle(upload: Upload) -> None:
    """Inside the case's lock: once every study is answered, the upload stops waiting for the
    patient. Several names left, or one said to be another name, go to a coordinator."""
    studies = list(upload.studies.all())
    if not studies or any(not study.person for study in studies):
        return
    asked = upload.problems.filter(code="multiple_patients")
    if not asked.exists():
        return
    other_names = [s for s in studies if s.person == Study.Person.OTHER_NAME]
    with transaction.atomic():
        asked.delete()
        if all(_matches_the_request(s, upload.case) for s in studies):
            upload.problems.filter(code="patient_mismatch").delete()
        if other_names or _several_people(studies):
            answered = problems.make("people_answered")
            UploadProblem.objects.create(
                upload=upload,
                code=answered.code,
                severity=answered.severity,
                message=answered.message,
            )
            note = (
                f"Upload {str(upload.code)[:8]}: the patient answered whose each study is; "
                f"{len(other_names)} said to be them under another name. See the studies."
            )
            case = Case.objects.get(pk=upload.case_id)
            notes = "\n".join(n for n in (case.coordinator_note, note) if n)
            Case.objects.filter(pk=case.pk).update(needs_coordinator=True, coordinator_note=notes)
        if (
            upload.status == Upload.Status.INVALID
            and not upload.problems.filter(severity=UploadProblem.Severity.ERROR).exists()
        ):
            Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.VALID)
            upload.status = Upload.Status.VALID


def _matches_the_request(study: Study, case: Case) -> bool:
    """The study's images name the person the request is for (what the check found left out
    the studies that named someone else)."""
    born = parse_birth_date(study.patient_birth_date)
    expected = parse_birth_date(case.patient_birth_date)
    same_name = names_match(name_tokens(study.patient_name), name_tokens(case.patient_name))
    return same_name is not False and not (born and expected and born != expected)


def _several_people(studies: list[Study]) -> bool:
    names = [name_tokens(s.patient_name) for s in studies]
    births = {s.patient_birth_date for s in studies if s.patient_birth_date}
    return len(births) > 1 or any(
        names_match(a, b) is False for i, a in enumerate(names) for b in names[i + 1 :]
    )
