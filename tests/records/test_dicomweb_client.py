"""DICOMweb against the live server, through `dicomweb-client` (a client written elsewhere):
search the shared study, retrieve every instance byte for byte, its metadata and a frame."""

import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import Dataset, dcmread

from requests_app.models import AuditEvent
from tests.records.dicomweb_setup import reported_and_shared

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_dicomweb_client_reads_the_shared_study(live_server, alice, tmp_path):
    scoped = reported_and_shared(alice, tmp_path)
    root = f"{live_server.url}/dicomweb"
    client = DICOMwebClient(url=root, headers={"Authorization": f"Bearer {scoped.share_token}"})
    written = scoped.by_sop()
    before = AuditEvent.objects.count()

    studies = client.search_for_studies(search_filters={"StudyDate": "20240101-20240131"})
    assert [s["0020000D"]["Value"][0] for s in studies] == [scoped.study_uid]
    assert client.search_for_studies(search_filters={"StudyDate": "20250101-"}) == []
    series = client.search_for_series(scoped.study_uid)
    assert len(series) == 2
    found = client.search_for_instances(scoped.study_uid, fields=["PatientName"])
    assert {i["00080018"]["Value"][0] for i in found} == set(written)
    requests = 4

    # Every instance, byte for byte as stored (the raw parts), and as datasets.
    for sop, (series_uid, path) in written.items():
        url = f"{root}/studies/{scoped.study_uid}/series/{series_uid}/instances/{sop}"
        assert client.retrieve_bulkdata(url) == [path.read_bytes()]
        dataset = client.retrieve_instance(scoped.study_uid, series_uid, sop)
        assert dataset.SOPInstanceUID == sop
        requests += 2
    study = client.retrieve_study(scoped.study_uid)
    assert sorted(ds.SOPInstanceUID for ds in study) == sorted(written)
    requests += 1

    # Metadata: the headers, no pixel data.
    metadata = client.retrieve_study_metadata(scoped.study_uid)
    assert len(metadata) == len(written)
    assert not any("7FE00010" in item for item in metadata)
    header = Dataset.from_json(metadata[0])
    assert header.SOPInstanceUID in written and header.Rows == 64
    requests += 1

    # One frame, as the image's pixel data.
    sop, (series_uid, path) = next(iter(written.items()))
    frames = client.retrieve_instance_frames(scoped.study_uid, series_uid, sop, frame_numbers=[1])
    assert frames == [dcmread(path).PixelData]
    requests += 1

    # One audit record per request, each naming the share.
    records = AuditEvent.objects.order_by("pk")[before:]
    assert len(records) == requests
    assert {(r.share_code, r.actor_id) for r in records} == {(scoped.share.code, None)}
