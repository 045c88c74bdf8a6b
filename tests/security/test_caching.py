"""Pages and files of a signed-in user are never kept by a browser's or a proxy's cache.

A shared computer's browser cache (or a proxy's) must not hold a patient's pages, images or
reports after they log out; static files are the same for everyone and stay cacheable.
"""

import pytest
from django.urls import reverse

from reviewers import services
from tests.reviewers.conftest import make_reviewer, validated_case


def _never_stored(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return {"no-store", "private"} <= directives and not any(
        d.startswith("max-age=") and d != "max-age=0" for d in directives
    )


@pytest.fixture
def reader(db):
    return make_reviewer("nils@example.com", "Dr. Nils Berg")


@pytest.fixture
def reviewed(alice, reader, tmp_path):
    case, _ = validated_case(alice, tmp_path)
    services.claim_case(case, reviewer=reader, by=reader.user)
    return case


def test_a_patients_pages_and_files_are_never_stored(client, alice, reviewed):
    case = reviewed
    series = case.studies.first().series.exclude(preview_key="").first()
    upload = case.uploads.first()
    client.force_login(alice)
    urls = [
        reverse("requests:case-list"),
        reverse("requests:case-detail", args=[case.code]),
        reverse("records:document-download", args=[case.code, case.documents.get().code]),
        reverse("records:series-preview", args=[case.code, series.code]),
        reverse("records:upload-detail", args=[case.code, upload.code]),
        reverse("notifications"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert _never_stored(response), (url, response.get("Cache-Control"))


def test_a_reviewers_and_a_coordinators_pages_and_files_are_never_stored(
    client, reviewed, reader, sam
):
    case = reviewed
    series = case.studies.first().series.exclude(preview_key="").first()
    client.force_login(reader.user)
    for url in [
        reverse("reviewers:case-detail", args=[case.code]),
        reverse("reviewers:study-zip", args=[case.code]),
        reverse("reviewers:series-preview", args=[case.code, series.code]),
    ]:
        response = client.get(url)
        assert response.status_code == 200 and _never_stored(response), url
    client.force_login(sam)
    response = client.get(reverse("admin:requests_app_case_change", args=[case.pk]))
    assert response.status_code == 200 and _never_stored(response)


def test_static_files_stay_cacheable(client, alice):
    client.force_login(alice)
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
