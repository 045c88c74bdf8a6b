"""Access follows the work: a reviewer reaches a case's images from the moment they claim it (or
are assigned it) until they release it, are unassigned, or the case closes."""

import pytest
from django.urls import reverse

from records.models import Series
from records.viewer import manifest as viewer_manifest
from requests_app import triage
from requests_app.models import Case
from reviewers import services
from tests.records.dicomweb_setup import viewer_frame
from tests.reviewers.conftest import make_reviewer, validated_case


def _read(client, url: str) -> int:
    response = client.get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    return response.status_code


def _image_urls(case: Case) -> dict[str, str]:
    series = Series.objects.filter(study__case=case).exclude(preview_key="").first()
    return {
        "case page": reverse("reviewers:case-detail", args=[case.code]),
        "zip": reverse("reviewers:study-zip", args=[case.code]),
        "viewer": reverse("reviewers:study-viewer", args=[case.code]),
        "preview": reverse("reviewers:series-preview", args=[case.code, series.code]),
    }


@pytest.fixture
def claimed(alice, rita_profile, tmp_path):
    """Alice's brain MRI, claimed by Rita, with the viewer open in Rita's session."""
    case, _ = validated_case(alice, tmp_path)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    case.refresh_from_db()
    return case


def test_the_holder_reads_the_images(client, claimed, rita):
    client.force_login(rita)
    urls = _image_urls(claimed)
    assert {name: _read(client, url) for name, url in urls.items()} == dict.fromkeys(urls, 200)
    assert _read(client, reverse("reviewers:study-viewer", args=[claimed.code])) == 200
    image = viewer_manifest(claimed)["series"][0]["images"][0]
    assert viewer_frame(client, image)[0].status_code == 200


def test_reviewer_loses_the_images_when_the_case_closes(client, claimed, rita, sam):
    client.force_login(rita)
    assert _read(client, reverse("reviewers:study-viewer", args=[claimed.code])) == 200
    image = viewer_manifest(claimed)["series"][0]["images"][0]

    assert viewer_frame(client, image)[0].status_code == 200

    triage.close_case(claimed, by=sam, reason="Withdrawn by the patient.")

    urls = _image_urls(claimed)
    assert {name: _read(client, url) for name, url in urls.items()} == dict.fromkeys(urls, 404)
    assert viewer_frame(client, image)[0].status_code == 401
    portal = client.get(reverse("reviewers:portal")).content.decode()
    assert claimed.short_code not in portal


def test_reviewer_loses_the_images_when_they_release_the_case(client, claimed, rita_profile):
    client.force_login(rita_profile.user)
    services.release_case(claimed, reviewer=rita_profile, by=rita_profile.user)
    urls = _image_urls(claimed)
    del urls["case page"]  # back in her queue: its question is still hers to read
    assert {name: _read(client, url) for name, url in urls.items()} == dict.fromkeys(urls, 404)


def test_reviewer_loses_the_images_when_the_case_is_handed_to_another(
    client, claimed, rita, nils, sam
):
    client.force_login(rita)
    assert _read(client, reverse("reviewers:study-viewer", args=[claimed.code])) == 200
    image = viewer_manifest(claimed)["series"][0]["images"][0]
    assert viewer_frame(client, image)[0].status_code == 200
    services.assign_case(claimed, reviewer=nils.reviewer_profile, by=sam)
    urls = _image_urls(claimed)
    assert {name: _read(client, url) for name, url in urls.items()} == dict.fromkeys(urls, 404)
    assert viewer_frame(client, image)[0].status_code == 401


def test_a_reviewer_who_has_not_claimed_a_case_cannot_fetch_its_previews(
    client, alice, rita, tmp_path
):
    make_reviewer(rita.email, "Dr. Rita Novak", user=rita)
    case, _ = validated_case(alice, tmp_path)  # waiting in Rita's queue, unclaimed
    client.force_login(rita)
    urls = _image_urls(case)
    assert _read(client, urls.pop("case page")) == 200  # the question, to decide on a claim
    assert {name: _read(client, url) for name, url in urls.items()} == dict.fromkeys(urls, 404)


def test_a_reviewer_from_another_queue_cannot_fetch_the_previews(client, alice, tmp_path):
    mona = make_reviewer("mona@example.com", "Dr. Mona Perez", subspecialties=("breast",))
    case, _ = validated_case(alice, tmp_path)
    client.force_login(mona.user)
    urls = _image_urls(case)
    assert {name: _read(client, url) for name, url in urls.items()} == dict.fromkeys(urls, 404)
