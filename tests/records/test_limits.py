"""Limits per patient: open drafts, uploads per request, bytes received in all.

Each is a setting, and each refusal is one plain sentence that says what to do.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from records import services as records_services
from records.models import Upload, UploadFile
from requests_app import services
from requests_app.models import Case
from tests.conftest import make_case, pdf_upload

ROOT = Path(__file__).resolve().parents[2]


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_patient_with_too_many_open_drafts_cannot_start_another(client, alice, settings):
    settings.PATIENT_MAX_OPEN_DRAFTS = 2
    make_case(alice, status=Case.Status.SUBMITTED)  # submitted requests do not count
    make_case(alice)
    make_case(alice)
    client.force_login(alice)

    response = client.post(reverse("requests:case-new"))

    assert response.status_code == 302 and response["Location"] == reverse("requests:case-list")
    assert _messages(response) == [
        "You already have 2 requests you have not submitted; finish or delete one of them "
        "before you start another."
    ]
    assert Case.objects.filter(patient=alice).count() == 3


def test_a_draft_deleted_makes_room_for_a_new_one(alice, settings):
    settings.PATIENT_MAX_OPEN_DRAFTS = 1
    first = services.create_draft(patient=alice)
    with pytest.raises(services.CaseError):
        services.create_draft(patient=alice)
    records_services.delete_draft(first, by=alice)
    assert services.create_draft(patient=alice).status == Case.Status.DRAFT


def test_a_request_with_too_many_uploads_takes_no_more(client, alice, settings):
    settings.CASE_MAX_UPLOADS = 2
    case = make_case(alice, complete=True)
    for _ in range(2):
        records_services.start_upload(case, by=alice)
    client.force_login(alice)

    response = client.post(reverse("records:upload-start", args=[case.code]))

    assert response.status_code == 400
    assert response.json()["error"] == (
        "A request can hold up to 2 uploads; remove one you no longer need before you add more."
    )
    plain = client.post(
        reverse("records:images-add", args=[case.code]),
        {"files": [SimpleUploadedFile("IM1", b"\x00" * 128 + b"DICM" + b"\x00" * 64)]},
    )
    assert "A request can hold up to 2 uploads" in _messages(plain)[0]
    assert Upload.objects.filter(case=case).count() == 2


def test_a_patient_past_their_quota_is_refused_across_requests(client, alice, settings):
    settings.PATIENT_QUOTA_BYTES = 1000
    first = make_case(alice, complete=True)
    upload = records_services.start_upload(first, by=alice)
    records_services.start_file(upload, relative_path="IM1", size=600)
    second = make_case(alice, complete=True)
    batch = records_services.start_upload(second, by=alice)
    client.force_login(alice)

    response = client.post(
        reverse("records:upload-files", args=[second.code, batch.code]),
        json.dumps({"relativePath": "IM2", "size": 500}),
        content_type="application/json",
    )

    sentence = (
        "Your account can hold up to 1000\xa0bytes of files in all; remove uploads you no "
        "longer need, or write to your care coordinator."
    )
    assert response.status_code == 400
    assert response.json()["error"] == sentence
    assert not UploadFile.objects.filter(upload=batch).exists()
    with pytest.raises(records_services.RecordError) as refused:
        records_services.add_document(
            second, by=alice, kind="original_report", uploaded=pdf_upload(pages=3)
        )
    assert str(refused.value) == sentence


@pytest.mark.parametrize(
    "name", ["PATIENT_MAX_OPEN_DRAFTS", "CASE_MAX_UPLOADS", "PATIENT_QUOTA_BYTES"]
)
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_limit_set_to_nonsense_stops_the_start(name, value):
    env = {**os.environ, name: value, "DJANGO_SETTINGS_MODULE": "secondopinion.settings"}
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode != 0
    assert name in started.stderr
