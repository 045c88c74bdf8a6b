"""The site's own viewer reads DICOMweb with its session, in exactly the scope it opened."""

import pytest
from django.test import Client
from django.urls import reverse

from records.viewer import manifest
from requests_app import shares
from requests_app.models import AuditEvent
from requests_app.share_views import session_key
from requests_app.triage import close_case
from tests.records.dicomweb_setup import body_of, reported_and_shared, viewer_frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(alice, tmp_path):
    """Two reported and shared cases of alice's, each read by its own reviewer."""
    return (
        reported_and_shared(alice, tmp_path / "a"),
        reported_and_shared(alice, tmp_path / "b", reviewer_email="olga@example.com"),
    )


def _reviewer(scoped) -> Client:
    client = Client()
    client.force_login(scoped.reviewer.user)
    assert client.get(reverse("reviewers:study-viewer", args=[scoped.case.code])).status_code == 200
    return client


def _recipient(scoped, alice) -> Client:
    new = shares.create_share(scoped.case, by=alice, recipient_name="Dr. Roe")
    client = Client()
    session = client.session
    session[session_key(new.share)] = True  # the passcode was entered in this browser
    session.save()
    assert client.get(reverse("share-viewer", args=[new.token])).status_code == 200
    client.share = new.share
    return client


def _reads(client, scoped) -> dict[str, int]:
    """What the viewer reads of this case: each series' metadata and each image's frame."""
    shown = manifest(scoped.case)
    found = {}
    for series in shown["series"]:
        response = client.get(series["metadata"], headers={"Accept": "application/dicom+json"})
        body_of(response)
        found[series["metadata"]] = response.status_code
        for image in series["images"]:
            found[image] = viewer_frame(client, image)[0].status_code
    return found


def test_a_viewer_session_reads_its_scope_and_never_another(two, alice):
    mine, other = two
    for client in (_reviewer(mine), _recipient(mine, alice)):
        reads = _reads(client, mine)
        assert set(reads.values()) == {200}, reads
        reads = _reads(client, other)
        assert set(reads.values()) == {401}, reads
        # Only what the viewer reads: no search, no whole study, no file as stored.
        study = f"/dicomweb/studies/{mine.study_uid}"
        for url in ("/dicomweb/studies", study, f"{study}/metadata", f"{study}/series"):
            assert client.get(url).status_code == 401, url


def test_the_viewer_writes_one_record_per_opening_not_one_per_image(two, alice):
    mine, _ = two
    for open_viewer, target in (
        (lambda: _reviewer(mine), "study-viewer"),
        (lambda: _recipient(mine, alice), "shared-study-viewer"),
    ):
        client = open_viewer()
        opened = AuditEvent.objects.order_by("-pk").first()
        assert opened.target_type == target
        before = AuditEvent.objects.count()
        reads = _reads(client, mine)
        assert len(reads) > 10 and set(reads.values()) == {200}
        assert AuditEvent.objects.count() == before


def test_the_session_ends_with_the_scope(two, alice, sam):
    mine, _ = two
    reviewer, recipient = _reviewer(mine), _recipient(mine, alice)
    image = manifest(mine.case)["series"][0]["images"][0]
    assert viewer_frame(recipient, image)[0].status_code == 200
    shares.revoke(recipient.share)
    assert viewer_frame(recipient, image)[0].status_code == 401
    assert viewer_frame(reviewer, image)[0].status_code == 200
    close_case(mine.case, by=sam, reason="Report read.")
    assert viewer_frame(reviewer, image)[0].status_code == 401
