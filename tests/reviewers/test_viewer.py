"""The study viewer's page and files: scoped to the reader, served only in an audited session."""

from django.urls import reverse

from requests_app.models import AuditEvent
from reviewers import services, viewer
from tests.reviewers.conftest import validated_case, validated_mammogram


def test_viewer_page_is_audited_and_unlocks_the_images_for_that_session(
    client, alice, rita_profile, tmp_path
):
    case, files = validated_case(alice, tmp_path)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)
    image = viewer.manifest(case)["series"][0]["images"][0]
    assert client.get(image).status_code == 404  # no viewer session yet

    page = client.get(reverse("reviewers:study-viewer", args=[case.code]))
    assert page.status_code == 200
    assert AuditEvent.objects.filter(target_type="study-viewer", actor=rita_profile.user).exists()
    response = client.get(image)
    assert response.status_code == 200 and response["Content-Type"] == "application/dicom"
    assert b"".join(response.streaming_content) in {p.read_bytes() for p in files}


def test_viewer_and_its_images_are_404_for_anyone_not_holding_the_case(
    client, alice, rita_profile, nils, tmp_path
):
    case, _ = validated_case(alice, tmp_path)
    image = viewer.manifest(case)["series"][0]["images"][0]
    client.force_login(rita_profile.user)  # the case is only queued: no images yet
    assert client.get(reverse("reviewers:study-viewer", args=[case.code])).status_code == 404
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    for user in (nils, alice):
        client.force_login(user)
        assert client.get(reverse("reviewers:study-viewer", args=[case.code])).status_code == 404
        assert client.get(image).status_code == 404


def test_a_mammogram_is_laid_out_as_the_four_standard_views(alice, tmp_path):
    case = validated_mammogram(alice, tmp_path)
    manifest = viewer.manifest(case)
    assert manifest["mammo"] is True
    labels = [pane["label"] for pane in manifest["panes"]]
    assert labels == ["RCC", "LCC", "RMLO", "LMLO"]
    by_series = {i: s["label"] for i, s in enumerate(manifest["series"])}
    assert [by_series[p["series"]].split()[-1] for p in manifest["panes"]] == labels
