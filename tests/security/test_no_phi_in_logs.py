"""Nothing reaches a log line but codes and ids.

One patient's request, from upload to the signed report, with every log record of every logger
captured at DEBUG: her name, her e-mail address, the name of the folder her CD came in (which
carries both her name and her birth date) and the name of her report appear in none of them,
neither in a message nor in an exception's text. The upload holds a file and a folder of the
same name, the way two folders merged on a patient's computer look.
"""

import io

import pytest
from django.contrib.admin import helpers
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from records.models import Upload
from requests_app.models import Case
from requests_app.tasks import validate_upload_task
from reviewers.models import Opinion
from tests.conftest import make_case, make_pdf, make_user
from tests.records.dicom_factory import write_series
from tests.records.test_multipart import Patient
from tests.reviewers.conftest import make_reviewer

NAME = "Johanna Quintero-Patel"
EMAIL = "johanna.qp@example.com"
FOLDER = "JOHANNA_QUINTERO_DOB_1961-07-04"
REPORT = "Johanna_Quintero-Patel_MRI_report.pdf"
SECRETS = (NAME, "Johanna", "Quintero", EMAIL, FOLDER, REPORT, "QUINTERO-PATEL^JOHANNA")


@pytest.fixture
def johanna(db):
    return make_user(EMAIL, first_name="Johanna", last_name="Quintero-Patel")


def _upload(patient: Patient, tmp_path) -> Upload:
    """Her CD's folder through the upload endpoints; one part is refused on the way."""
    images = write_series(
        tmp_path, n=2, patient_name="QUINTERO-PATEL^JOHANNA", birth_date="19610704"
    )
    batch = patient.start()
    for image, path in zip(images, [f"{FOLDER}/IM1", f"{FOLDER}/IM1/IM2"], strict=True):
        patient.send(batch, path, image.read_bytes())
    too_big = patient.create_file(batch, f"{FOLDER}/IM3", 10)["key"]
    signed = patient.client.get(patient.file_url(batch, too_big, "parts", "1")).json()["url"]
    assert patient.client.put(signed, b"x" * 64, "application/octet-stream").status_code == 409
    assert patient.finish(batch).status_code == 200
    return Upload.objects.get(code=batch["upload"])


def test_no_name_email_or_folder_reaches_a_log_line(
    client, johanna, sam, tmp_path, every_log_record
):
    case = make_case(johanna, complete=True, patient_name=NAME, patient_birth_date="1961-07-04")
    case.insurance.plan_type = "none"  # self-pay: straight to the queue once checked
    case.insurance.save()
    client.force_login(johanna)
    patient = Patient(client, case)

    # Upload: the images, and her report under its own name.
    upload = _upload(patient, tmp_path)
    client.post(
        reverse("records:document-add", args=[case.code]),
        {"kind": "original_report", "file": SimpleUploadedFile(REPORT, make_pdf())},
    )
    assert (
        client.post(
            reverse("requests:case-submit", args=[case.code]), {"confirm": "on"}
        ).status_code
        == 302
    )

    # Validation, as the worker runs the task (in this process).
    validate_upload_task.apply(args=[upload.pk])
    _assert_nothing_leaked(every_log_record)  # whatever came of the check
    upload.refresh_from_db()
    case.refresh_from_db()
    assert upload.status == Upload.Status.VALID
    assert case.status == Case.Status.QUEUED

    # Triage: a coordinator finds her by name and by e-mail, opens the case, assigns it.
    reader = make_reviewer("nils@example.com", "Dr. Nils Berg")
    desk = Client()
    desk.force_login(sam)
    cases = reverse("admin:requests_app_case_changelist")
    for term in ("Quintero", EMAIL):
        assert list(desk.post(cases, {"q": term}, follow=True).context["cl"].result_list) == [case]
    desk.get(reverse("admin:requests_app_case_change", args=[case.pk]))
    desk.post(
        cases,
        {
            "action": "assign_action",
            helpers.ACTION_CHECKBOX_NAME: [case.pk],
            "reviewer": reader.pk,
            "apply": "1",
        },
    )
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW

    # Review: the images, the reading, the signed report; then the patient reads it.
    review = Client()
    review.force_login(reader.user)
    review.get(reverse("reviewers:case-detail", args=[case.code]))
    zipped = review.get(reverse("reviewers:study-zip", args=[case.code]))
    assert len(b"".join(zipped.streaming_content)) > 0
    review.get(reverse("reviewers:study-viewer", args=[case.code]))
    review.post(
        reverse("reviewers:read-file", args=[case.code]),
        {"findings": "No acute finding.", "impression": "Normal study."},
    )
    review.post(
        reverse("reviewers:read-grade", args=[case.code]),
        {
            "radpeer": "1",
            "recommendation_change": "same",
            "concordance_comment": "Agrees with the original.",
            "recommendations": "None.",
            "patient_summary": "Your scan looks normal.",
        },
    )
    review.post(
        reverse("reviewers:read-sign", args=[case.code]),
        {"signed_name": "Dr. Nils Berg", "attest": "on"},
    )
    opinion = Opinion.objects.get(case=case)
    assert opinion.signed_at is not None
    report = client.get(reverse("opinions:report-pdf", args=[case.code, opinion.code]))
    assert b"".join(report.streaming_content)[:5] == b"%PDF-"

    assert every_log_record.records  # the flows did log (codes and ids)
    _assert_nothing_leaked(every_log_record)


def _assert_nothing_leaked(captured) -> None:
    text = captured.text()
    leaked = [secret for secret in SECRETS if secret.lower() in text.lower()]
    lines = [line for line in io.StringIO(text) if any(s.lower() in line.lower() for s in leaked)]
    assert not leaked, "".join(lines)
