"""DICOMweb through Django's test client: searches, negotiation, refusals, tokens, audit.

The live-server test with a DICOMweb client written elsewhere is test_dicomweb_client.py.
"""

import io
import json
import re

import numpy as np
import pytest
import time_machine
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image
from pydicom import dcmread
from pydicom.encaps import get_frame
from pydicom.uid import RLELossless, generate_uid

from records.dicomweb import tokens
from records.models import DicomWebToken, UploadFile
from requests_app import flow, shares
from requests_app.models import AuditEvent, Case
from requests_app.triage import close_case
from reviewers import services as reviewer_services
from tests.conftest import make_case, upload_folder
from tests.records.dicom_factory import make_dataset, write_dataset
from tests.records.dicomweb_setup import body_of, parts, reported_and_shared
from tests.reviewers.conftest import make_reviewer

pytestmark = pytest.mark.django_db

ROOT = "/dicomweb"


@pytest.fixture
def scoped(alice, tmp_path):
    return reported_and_shared(alice, tmp_path / "a")


def get(client, path, token, accept=None, **params):
    headers = {"Authorization": f"Bearer {token}"}
    if accept is not None:
        headers["Accept"] = accept
    return client.get(f"{ROOT}{path}", params, headers=headers)


def uids(response, tag: str) -> list[str]:
    assert response.status_code == 200, response.content
    return [row[tag]["Value"][0] for row in json.loads(body_of(response))]


# --- QIDO-RS -----------------------------------------------------------------------------------


def test_searches_match_the_usual_ways_within_the_scope(client, scoped):
    study = scoped.study_uid
    token = scoped.share_token
    assert uids(get(client, "/studies", token), "0020000D") == [study]
    answer = get(client, "/studies", token)
    assert answer["Content-Type"] == "application/dicom+json"
    row = json.loads(answer.content)[0]
    assert row["00201206"]["Value"] == [2] and row["00201208"]["Value"] == [10]
    assert row["00100010"]["Value"] == [{"Alphabetic": "DOE^JANE"}]  # read from a header
    # Dates: exact, ranges open or closed; a range that misses finds nothing.
    for value, found in [
        ("20240115", 1),
        ("20240101-20240131", 1),
        ("-20240115", 1),
        ("20240116-", 0),
        ("20230101-20231231", 0),
    ]:
        assert len(uids(get(client, "/studies", token, StudyDate=value), "0020000D")) == found
    # UID lists, wildcards, person names regardless of case.
    assert uids(get(client, "/studies", token, StudyInstanceUID=f"1.2.3,{study}"), "0020000D")
    assert not uids(get(client, "/studies", token, StudyInstanceUID="1.2.3"), "0020000D")
    assert uids(get(client, "/studies", token, PatientName="doe^jane"), "0020000D")
    assert uids(get(client, "/studies", token, PatientName="DOE*"), "0020000D")
    assert not uids(get(client, "/studies", token, PatientName="ROE*"), "0020000D")
    assert len(uids(get(client, "/series", token, Modality="M?"), "0020000E")) == 2
    second = get(client, f"/studies/{study}/series", token, SeriesNumber="2")
    assert len(uids(second, "0020000E")) == 1
    # Instances, with limit and offset, in order.
    every = uids(get(client, f"/studies/{study}/instances", token), "00080018")
    assert len(every) == 10
    page = uids(get(client, "/instances", token, limit="3", offset="8"), "00080018")
    assert page == every[8:10]
    assert uids(get(client, "/instances", token, limit="3"), "00080018") == every[:3]
    # includefield: what is asked for comes back, with its tag or its keyword.
    series_uid = scoped.by_sop()[every[0]][0]
    answer = get(
        client,
        f"/studies/{study}/series/{series_uid}/instances",
        token,
        includefield="00100010,StudyDate",
    )
    rows = json.loads(answer.content)
    assert len(rows) == 6
    assert rows[0]["00080020"]["Value"] == ["20240115"] and "00100010" in rows[0]
    plain = json.loads(get(client, f"/studies/{study}/instances", token).content)
    assert "00100010" not in plain[0]
    everything = json.loads(get(client, "/instances", token, includefield="all").content)[0]
    assert everything["00280010"]["Value"] == [64]
    assert everything["00083002"]["Value"] == ["1.2.840.10008.1.2.1"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"StudyDate": "2024-01-15"}, "StudyDate"),
        ({"StudyDate": "20240201-20240101"}, "ends before"),
        ({"StudyInstanceUID": "1.2.abc"}, "UID"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"NoSuchThing": "1"}, "not a DICOM attribute"),
        ({"includefield": "Bogus"}, "not a DICOM attribute"),
        ({"Rows": "64"}, "cannot be searched"),
        ({"fuzzymatching": "maybe"}, "fuzzymatching"),
    ],
)
def test_a_bad_search_parameter_is_a_400_with_a_short_reason(client, scoped, params, reason):
    response = get(client, "/studies", scoped.share_token, **params)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert len(response.content) < 200


# --- WADO-RS -----------------------------------------------------------------------------------


def test_a_study_goes_out_as_stored_in_a_well_formed_multipart_body(client, scoped):
    response = get(client, f"/studies/{scoped.study_uid}", scoped.reviewer_token)
    assert response.status_code == 200
    assert response.streaming  # sent a file at a time, never loaded whole
    assert response["Content-Type"].startswith('multipart/related; type="application/dicom"')
    body = body_of(response)
    assert int(response["Content-Length"]) == len(body)
    response.streaming_content = [body]
    got = parts(response)
    stored = {
        row.code: default_storage.open(row.key, "rb").read()
        for row in UploadFile.objects.filter(upload__case=scoped.case, status="complete")
    }
    assert len(got) == 10
    assert all(content_type == "application/dicom" for content_type, _ in got)
    assert sorted(payload for _, payload in got) == sorted(stored.values())
    assert sorted(stored.values()) == sorted(path.read_bytes() for path in scoped.files)


@pytest.mark.parametrize(
    ("kind", "accept", "status"),
    [
        ("instance", None, 200),
        ("instance", "*/*", 200),
        ("instance", 'multipart/related; type="application/dicom"', 200),
        ("instance", 'multipart/related; type="application/dicom"; transfer-syntax=*', 200),
        (
            "instance",
            'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
            200,
        ),
        (
            "instance",
            'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
            406,
        ),
        ("instance", "application/json", 406),
        ("instance", "application/zip", 406),
        ("instance", 'multipart/related; type="application/octet-stream"', 406),
        ("metadata", None, 200),
        ("metadata", "application/dicom+json", 200),
        ("metadata", "application/json", 200),
        ("metadata", 'multipart/related; type="application/dicom+xml"', 406),
        ("metadata", "application/dicom", 406),
        ("frames", None, 200),
        ("frames", 'multipart/related; type="application/octet-stream"', 200),
        ("frames", 'multipart/related; type="image/jpeg"', 406),
        ("frames", "application/dicom+json", 406),
        ("search", "text/html", 406),
        ("search", "application/dicom+json, text/html;q=0.5", 200),
    ],
)
def test_accept_is_negotiated_and_what_is_not_offered_is_a_406(
    client, scoped, kind, accept, status
):
    sop, (series, _) = next(iter(scoped.by_sop().items()))
    instance = f"/studies/{scoped.study_uid}/series/{series}/instances/{sop}"
    path = {
        "instance": instance,
        "metadata": f"{instance}/metadata",
        "frames": f"{instance}/frames/1",
        "search": "/studies",
    }[kind]
    response = get(client, path, scoped.share_token, accept=accept)
    assert response.status_code == status, body_of(response)


def test_metadata_is_the_header_without_pixel_data(client, scoped):
    response = get(client, f"/studies/{scoped.study_uid}/metadata", scoped.share_token)
    assert response["Content-Type"] == "application/dicom+json"
    rows = json.loads(body_of(response))
    assert len(rows) == 10
    assert not any("7FE00010" in row for row in rows)
    assert {row["00080018"]["Value"][0] for row in rows} == set(scoped.by_sop())
    assert all(row["00083002"]["Value"] == ["1.2.840.10008.1.2.1"] for row in rows)


def test_frames_of_an_uncompressed_image_are_slices_of_its_pixel_data(client, scoped):
    sop, (series, path) = next(iter(scoped.by_sop().items()))
    url = f"/studies/{scoped.study_uid}/series/{series}/instances/{sop}/frames/1"
    got = parts(get(client, url, scoped.share_token))
    assert got == [("application/octet-stream", dcmread(path).PixelData)]
    assert get(client, url.replace("frames/1", "frames/2"), scoped.share_token).status_code == 404
    assert get(client, url.replace("frames/1", "frames/0"), scoped.share_token).status_code == 400


@pytest.fixture
def rle_case(alice, tmp_path):
    """A case of two 3-frame RLE images, held by a reviewer, with their token."""
    case = make_case(alice, complete=True)
    study, series = generate_uid(), generate_uid()
    files = []
    for number in (1, 2):
        ds = make_dataset(frames=3, study_uid=study, series_uid=series, instance_number=number)
        # Three different frames, so that one frame cannot pass for another.
        frames = [(np.arange(64 * 64) + 100 * f + number) % 4096 for f in range(3)]
        ds.PixelData = np.stack(frames).astype(np.uint16).tobytes()
        ds.compress(RLELossless)
        files.append(write_dataset(ds, tmp_path / "rle" / f"IM{number}"))
    flow.check_upload(upload_folder(case, tmp_path / "rle").pk)
    profile = make_reviewer("rle@example.com", "Dr. Ada Rle")
    Case.objects.filter(pk=case.pk).update(assigned_reviewer=profile, status=Case.Status.IN_REVIEW)
    return files, tokens.issue_for_reviewer(case, profile.user).token


def test_compressed_frames_go_out_encapsulated_or_decoded_as_the_client_accepts(client, rle_case):
    files, token = rle_case
    ds = dcmread(files[1])
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    url = (
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/frames/1,3"
    )
    encapsulated = [get_frame(ds.PixelData, i, number_of_frames=3) for i in (0, 2)]
    assert encapsulated[0] != encapsulated[1]
    for accept in (None, 'multipart/related; type="image/dicom-rle"', "multipart/related"):
        got = parts(get(client, url, token, accept=accept))
        assert got == [("image/dicom-rle", frame) for frame in encapsulated]
    decoded = ds.pixel_array
    octet = 'multipart/related; type="application/octet-stream"'
    got = parts(get(client, url, token, accept=octet))
    assert got == [("application/octet-stream", decoded[i].tobytes()) for i in (0, 2)]
    assert get(client, url, token, accept='multipart/related; type="image/jp2"').status_code == 406


def test_the_first_frame_goes_out_rendered_as_a_png_for_a_token_and_audited(client, rle_case):
    files, token = rle_case
    ds = dcmread(files[1])
    url = (
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/frames/1/rendered"
    )
    before = AuditEvent.objects.filter(target_type="dicomweb-rendered").count()
    response = get(client, url, token, accept="image/png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.size == (ds.Columns, ds.Rows) and picture.mode == "L"
    assert AuditEvent.objects.filter(target_type="dicomweb-rendered").count() == before + 1
    # Only the first frame is rendered, and only as a PNG.
    assert get(client, url.replace("/frames/1/", "/frames/2/"), token).status_code == 404
    assert get(client, url, token, accept="image/jpeg").status_code == 406


# --- Tokens and scopes -------------------------------------------------------------------------


def test_without_a_live_token_nothing_is_served(client, scoped):
    study = f"/studies/{scoped.study_uid}"
    no_token = client.get(f"{ROOT}{study}")
    assert no_token.status_code == 401
    assert no_token["WWW-Authenticate"].startswith("Bearer")
    altered = scoped.share_token[:-1] + ("A" if scoped.share_token[-1] != "A" else "B")
    assert get(client, study, altered).status_code == 401
    assert get(client, study, "").status_code == 401
    # A logged-in session is no token.
    client.force_login(scoped.reviewer.user)
    assert client.get(f"{ROOT}{study}").status_code == 401
    assert get(client, study, scoped.share_token).status_code == 200


def test_the_raw_token_is_nowhere_in_the_database(scoped):
    rows = list(DicomWebToken.objects.values_list("token_hash", flat=True))
    assert len(rows) == 2 and scoped.share_token not in rows
    assert tokens.token_hash(scoped.share_token) in rows


def test_a_share_token_ends_with_the_share(client, scoped, alice):
    study = f"/studies/{scoped.study_uid}"
    assert get(client, study, scoped.share_token).status_code == 200
    with time_machine.travel(scoped.share.expires_at, tick=False):
        assert get(client, study, scoped.share_token).status_code == 401
    shares.revoke(scoped.share)
    assert get(client, study, scoped.share_token).status_code == 401
    assert get(client, study, scoped.reviewer_token).status_code == 200


def test_a_reviewer_token_ends_when_the_case_is_handed_on_or_closed(client, scoped, sam):
    study = f"/studies/{scoped.study_uid}"
    assert get(client, study, scoped.reviewer_token).status_code == 200
    other = make_reviewer("otto@example.com", "Dr. Otto Hahn")
    Case.objects.filter(pk=scoped.case.pk).update(assigned_reviewer=other)
    assert get(client, study, scoped.reviewer_token).status_code == 401
    Case.objects.filter(pk=scoped.case.pk).update(assigned_reviewer=scoped.reviewer)
    assert get(client, study, scoped.reviewer_token).status_code == 200
    close_case(scoped.case, by=sam, reason="Report read.")
    assert get(client, study, scoped.reviewer_token).status_code == 401
    assert get(client, study, scoped.share_token).status_code == 200


def test_a_reviewer_token_ends_with_the_reviewers_release(client, alice, tmp_path):
    from tests.reviewers.conftest import validated_case

    case, files = validated_case(alice, tmp_path)
    profile = make_reviewer("rel@example.com", "Dr. Rel Ease")
    reviewer_services.claim_case(case, reviewer=profile, by=profile.user)
    token = tokens.issue_for_reviewer(case, profile.user).token
    study = dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
    assert get(client, f"/studies/{study}", token).status_code == 200
    reviewer_services.release_case(case, reviewer=profile, by=profile.user)
    assert get(client, f"/studies/{study}", token).status_code == 401


def test_a_token_of_one_scope_never_reads_another(client, scoped, alice, tmp_path):
    other = reported_and_shared(alice, tmp_path / "b", reviewer_email="olga@example.com")
    sop, (series, _) = next(iter(other.by_sop().items()))
    study = other.study_uid
    urls = [
        f"/studies/{study}",
        f"/studies/{study}/metadata",
        f"/studies/{study}/series",
        f"/studies/{study}/instances",
        f"/studies/{study}/series/{series}",
        f"/studies/{study}/series/{series}/metadata",
        f"/studies/{study}/series/{series}/instances",
        f"/studies/{study}/series/{series}/instances/{sop}",
        f"/studies/{study}/series/{series}/instances/{sop}/metadata",
        f"/studies/{study}/series/{series}/instances/{sop}/frames/1",
    ]
    for token in (scoped.share_token, scoped.reviewer_token):
        for url in urls:
            assert get(client, url, token).status_code == 404, url
        assert uids(get(client, "/studies", token), "0020000D") == [scoped.study_uid]
        assert not uids(get(client, "/instances", token, SOPInstanceUID=sop), "00080018")
        # Its own study with another scope's series: still nothing.
        mixed = f"/studies/{scoped.study_uid}/series/{series}"
        assert get(client, mixed, token).status_code == 404
    assert get(client, urls[0], other.share_token).status_code == 200


# --- Audit -------------------------------------------------------------------------------------


def test_each_request_is_one_audit_record_naming_the_scope(client, scoped):
    sop, (series, _) = next(iter(scoped.by_sop().items()))
    study = f"/studies/{scoped.study_uid}"
    instance = f"{study}/series/{series}/instances/{sop}"
    urls = [
        study,
        f"{study}/series/{series}",
        instance,
        f"{study}/metadata",
        f"{study}/series/{series}/metadata",
        f"{instance}/metadata",
        f"{instance}/frames/1",
        "/studies",
        f"{study}/series/{series}/instances",
    ]
    for token, actor, share_code in [
        (scoped.share_token, None, scoped.share.code),
        (scoped.reviewer_token, scoped.reviewer.user, None),
    ]:
        for url in urls:
            before = AuditEvent.objects.count()
            response = get(client, url, token)
            assert response.status_code == 200
            body_of(response)  # read to the end
            assert AuditEvent.objects.count() == before + 1, url
            record = AuditEvent.objects.order_by("-pk").first()
            assert (record.actor, record.share_code, record.case_code) == (
                actor,
                share_code,
                scoped.case.code,
            )
            assert record.target_type.startswith("dicomweb-")
    # A refused read is one denied record; an unknown token none (nobody to name).
    before = AuditEvent.objects.count()
    assert get(client, "/studies/1.2.3", scoped.share_token).status_code == 404
    assert AuditEvent.objects.count() == before + 1
    denied = AuditEvent.objects.order_by("-pk").first()
    assert (denied.action, denied.share_code) == (AuditEvent.Action.DENIED, scoped.share.code)
    assert get(client, study, "nope").status_code == 401
    assert AuditEvent.objects.count() == before + 1


# --- Handing out tokens ------------------------------------------------------------------------


def _shown_token(response) -> str:
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = re.search(rb'id="dicomweb-token" [^>]*value="([^"]+)"', response.content)
    return shown[1].decode()


def test_the_share_page_and_the_reviewers_page_hand_out_a_working_token(client, scoped, alice):
    new = shares.create_share(scoped.case, by=alice, recipient_name="Dr. Roe")
    session = client.session
    session[f"share:{new.share.code}"] = True  # the passcode was entered in this browser
    session.save()
    page = client.get(reverse("share-open", args=[new.token]))
    action = reverse("share-dicomweb-token", args=[new.token])
    assert f'action="{action}"'.encode() in page.content
    token = _shown_token(client.post(action))
    assert uids(get(client, "/studies", token), "0020000D") == [scoped.study_uid]
    record = AuditEvent.objects.filter(target_type="dicomweb-token").get()
    assert (record.share_code, record.action) == (new.share.code, AuditEvent.Action.ADD)
    assert token not in str(list(DicomWebToken.objects.values()))

    reviewer = Client()
    reviewer.force_login(scoped.reviewer.user)
    page = reviewer.get(reverse("reviewers:case-detail", args=[scoped.case.code]))
    action = reverse("reviewer-dicomweb-token", args=[scoped.case.code])
    assert f'action="{action}"'.encode() in page.content
    token = _shown_token(reviewer.post(action))
    assert uids(get(client, "/studies", token), "0020000D") == [scoped.study_uid]
    other = Client()
    other.force_login(make_reviewer("ike@example.com", "Dr. Ike Lee").user)
    assert other.post(action).status_code == 404
