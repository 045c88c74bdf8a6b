"""What the patient sees of a checked upload, and who may see it."""

from django.urls import reverse

from records.models import Series
from requests_app import flow
from requests_app.models import AuditEvent
from tests.conftest import make_case, upload_folder
from tests.records.dicom_factory import write_series


def _checked_upload(case, folder):
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    return upload


def test_the_records_page_shows_studies_previews_and_problems(client, alice, tmp_path):
    case = make_case(alice, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01")
    write_series(tmp_path, n=6, skip=[3])
    upload = _checked_upload(case, tmp_path)
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "records"])).content.decode()
    assert "Checked: readable images" in page
    assert "MRI BRAIN WITHOUT CONTRAST" in page
    series = Series.objects.get(study__upload=upload)
    assert reverse("records:series-preview", args=[case.code, series.code]) in page
    assert "Good to know:" in page  # the gap where slice 4 is missing
    assert "hx-trigger" not in page  # checked: the fragment stops polling


def test_an_unchecked_upload_polls_for_its_result(client, alice, tmp_path):
    case = make_case(alice)
    write_series(tmp_path, n=2)
    upload = upload_folder(case, tmp_path)
    client.force_login(alice)
    fragment = client.get(reverse("records:upload-detail", args=[case.code, upload.code]))
    assert 'hx-trigger="every 2s"' in fragment.content.decode()
    assert "We're checking your images" in fragment.content.decode()


def test_preview_is_an_audited_png_for_alice_and_a_404_for_bob(client, alice, bob, tmp_path):
    case = make_case(alice)
    write_series(tmp_path, n=2)
    upload = _checked_upload(case, tmp_path)
    series = Series.objects.get(study__upload=upload)
    url = reverse("records:series-preview", args=[case.code, series.code])
    client.force_login(bob)
    assert client.get(url).status_code == 404
    detail = reverse("records:upload-detail", args=[case.code, upload.code])
    assert client.get(detail).status_code == 404
    client.force_login(alice)
    assert client.get(url).status_code == 404  # only inside the page that shows it
    assert client.get(detail).status_code == 200
    response = client.get(url)
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    refused = AuditEvent.objects.get(target_type="series-preview")
    assert (refused.actor, refused.case_code, refused.action) == (bob, case.code, "denied")
    seen = AuditEvent.objects.get(action="view")  # the page's, naming the preview
    assert (seen.actor, seen.case_code, seen.shown) == (
        alice,
        case.code,
        [f"series-preview:{series.code}"],
    )
