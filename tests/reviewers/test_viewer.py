"""The study viewer's page and images: scoped to the reader, read over DICOMweb only within the
viewer session its page opened and audited."""

import io

import numpy as np
from django.core.cache import caches
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, generate_uid

from records.models import Instance
from records.viewer import manifest as viewer_manifest
from requests_app.models import AuditEvent
from reviewers import services
from tests.records.codec_factory import write_claiming, write_encoded_series
from tests.records.dicom_factory import (
    BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    make_dataset,
    write_dataset,
    write_mammogram,
    write_series,
    write_undecodable,
)
from tests.records.dicomweb_setup import viewer_frame
from tests.reviewers.conftest import checked_case, validated_case, validated_mammogram


def test_viewer_page_is_audited_and_unlocks_the_images_for_that_session(
    client, alice, rita_profile, tmp_path
):
    case, files = validated_case(alice, tmp_path)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)
    image = viewer_manifest(case)["series"][0]["images"][0]
    assert image.startswith("/dicomweb/studies/") and image.endswith("/frames/1")
    assert viewer_frame(client, image)[0].status_code == 401  # no viewer session yet

    page = client.get(reverse("reviewers:study-viewer", args=[case.code]))
    assert page.status_code == 200
    assert AuditEvent.objects.filter(target_type="study-viewer", actor=rita_profile.user).exists()
    response, frame = viewer_frame(client, image)
    assert response["Content-Type"].startswith('multipart/related; type="application/octet-stream"')
    assert any(frame == dcmread(p).PixelData for p in files)
    # The frame is pixels alone: no name, ID or birth date.
    for value in (PATIENT_NAME, PATIENT_ID, BIRTH_DATE):
        assert value.encode() not in frame


def test_viewer_and_its_images_are_refused_to_anyone_not_holding_the_case(
    client, alice, rita_profile, nils, tmp_path
):
    case, _ = validated_case(alice, tmp_path)
    image = viewer_manifest(case)["series"][0]["images"][0]
    client.force_login(rita_profile.user)  # the case is only queued: no images yet
    assert client.get(reverse("reviewers:study-viewer", args=[case.code])).status_code == 404
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    for user in (nils, alice):
        client.force_login(user)
        assert client.get(reverse("reviewers:study-viewer", args=[case.code])).status_code == 404
        assert viewer_frame(client, image)[0].status_code == 401


def test_a_mammogram_is_laid_out_as_the_four_standard_views(alice, tmp_path):
    case = validated_mammogram(alice, tmp_path)
    manifest = viewer_manifest(case)
    assert manifest["mammo"] is True
    labels = [pane["label"] for pane in manifest["panes"]]
    assert labels == ["RCC", "LCC", "RMLO", "LMLO"]
    by_series = {i: s["label"] for i, s in enumerate(manifest["series"])}
    assert [by_series[p["series"]].split()[-1] for p in manifest["panes"]] == labels


def _viewer_session(client, case, profile):
    services.claim_case(case, reviewer=profile, by=profile.user)
    client.force_login(profile.user)
    assert client.get(reverse("reviewers:study-viewer", args=[case.code])).status_code == 200


def test_each_image_is_decoded_once_and_then_read_from_the_viewer_cache(
    client, alice, rita_profile, tmp_path, settings
):
    folder = tmp_path / "upload"
    files = write_encoded_series(folder / "J2K", JPEG2000Lossless, n=2)
    case = checked_case(alice, folder)
    _viewer_session(client, case, rita_profile)
    first, second = viewer_manifest(case)["series"][0]["images"]
    decoded = viewer_frame(client, first)[1]
    assert any(decoded == dcmread(p).pixel_array.tobytes() for p in files)
    settings.VIEWER_CACHE_ITEM_MAX_BYTES = 1024  # too small to keep the second image
    viewer_frame(client, second)
    for instance in Instance.objects.filter(series__study__case=case).select_related("file"):
        default_storage.delete(instance.file.key)  # the stored originals are gone...
    assert viewer_frame(client, first)[1] == decoded  # ...the cached copy still serves
    assert viewer_frame(client, second)[0].status_code == 404  # not kept, read again: gone


def test_an_image_the_codecs_cannot_read_is_refused_not_an_error(
    client, alice, rita_profile, tmp_path
):
    folder = tmp_path / "upload"
    write_encoded_series(folder / "J2K", JPEG2000Lossless, n=1)
    case = checked_case(alice, folder)
    _viewer_session(client, case, rita_profile)
    image = viewer_manifest(case)["series"][0]["images"][0]
    sop = image.split("/instances/")[1].split("/")[0]
    stored = Instance.objects.select_related("file").get(sop_instance_uid=sop).file
    damaged = tmp_path / "damaged.dcm"
    write_undecodable(damaged)
    default_storage.delete(stored.key)
    default_storage.save(stored.key, ContentFile(damaged.read_bytes()))
    # Nothing this server can decode to what the viewer accepts.
    assert viewer_frame(client, image)[0].status_code == 406


def test_an_image_declaring_more_pixels_than_its_header_is_refused_not_decoded(
    client, alice, rita_profile, tmp_path
):
    folder = tmp_path / "upload"
    original = write_encoded_series(folder / "J2K", JPEG2000Lossless, n=1, rows=200, cols=300)
    case = checked_case(alice, folder)
    _viewer_session(client, case, rita_profile)
    pane = viewer_manifest(case)["panes"][0]
    image = viewer_manifest(case)["series"][0]["images"][0]
    sop = image.split("/instances/")[1].split("/")[0]
    stored = Instance.objects.select_related("file").get(sop_instance_uid=sop).file
    # The same image, its codestream now claiming 16,000 x 16,000 pixels: gigabytes to a codec.
    claiming = write_claiming(original[0], tmp_path / "claiming.dcm", 16_000)
    default_storage.delete(stored.key)
    default_storage.save(stored.key, ContentFile(claiming.read_bytes()))
    assert client.get(pane["first"]).status_code == 406  # the first picture
    assert viewer_frame(client, image)[0].status_code == 406  # the viewer's decoded copy


def _mammo(folder, views: dict, **fields):
    """Images of one series: {file name: dataset fields}."""
    study_uid, series_uid = generate_uid(), generate_uid()
    for number, (name, extra) in enumerate(views.items(), start=1):
        ds = make_dataset(
            modality="MG",
            body_part="BREAST",
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=number,
            presentation_intent="FOR PRESENTATION",
            position=None,
            orientation=None,
            study_description="MAMMOGRAM SCREENING",
            **fields,
        )
        for keyword, value in extra.items():
            if value is None:
                ds.pop(keyword, None)
            else:
                setattr(ds, keyword, value)
        write_dataset(ds, folder / f"{name}.dcm")


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "SCT", meaning
    return item


MAMMO_CASE = {
    "queue": "breast",
    "exam_type": "mammogram",
    "body_region": "breast",
    "birads": "4A",
    "had_biopsy": "no",
}


def test_views_are_placed_per_image_from_view_position_or_view_code(alice, tmp_path):
    folder = tmp_path / "upload"
    cc, mlo = _code("399162004", "cranio-caudal"), _code("399368009", "medio-lateral oblique")
    _mammo(
        folder,
        {
            "a": {"ImageLaterality": "L", "ViewPosition": "MLO", "PatientOrientation": ["P", "F"]},
            "b": {"ImageLaterality": "R", "ViewPosition": None, "ViewCodeSequence": [cc]},
            "c": {"ImageLaterality": "R", "ViewPosition": None, "ViewCodeSequence": [mlo]},
            "d": {"ImageLaterality": "L", "ViewPosition": "CC", "PatientOrientation": ["A", "R"]},
        },
    )
    case = checked_case(alice, folder, **MAMMO_CASE)
    manifest = viewer_manifest(case)
    assert manifest["mammo"] is True
    views = manifest["views"]
    placed = {pane["view"]: views[pane["image"]]["placed"] for pane in manifest["panes"]}
    assert placed == {"RCC": "RCC", "LCC": "LCC", "RMLO": "RMLO", "LMLO": "LMLO"}
    assert [pane["viewport"] for pane in manifest["panes"]] == ["RCC", "LCC", "RMLO", "LMLO"]
    by_view = {view["placed"]: view for view in views}
    # The left breast's columns running to posterior put its chest wall on the right: turned.
    assert by_view["LMLO"]["flip"] is True and by_view["LCC"]["flip"] is False
    assert by_view["RCC"]["flip"] is None  # no orientation: the viewer reads the pixels


def test_a_mammogram_without_view_tags_leaves_each_pane_to_the_reader(alice, tmp_path):
    folder = tmp_path / "upload"
    _mammo(folder, {"x": {}, "y": {}})
    case = checked_case(alice, folder, **MAMMO_CASE)
    manifest = viewer_manifest(case)
    assert manifest["mammo"] is True
    assert [pane["image"] for pane in manifest["panes"]] == [None] * 4
    assert [view["placed"] for view in manifest["views"]] == ["", ""]


def test_the_latest_study_is_current_and_the_prior_sits_beside_it(alice, tmp_path):
    folder = tmp_path / "upload"
    for name, date in (("old", "20220301"), ("new", "20240115"), ("older", "20190705")):
        paths = write_series(folder / name, n=2, study_uid=generate_uid())
        for path in paths:
            ds = dcmread(path)
            ds.StudyDate = date
            ds.save_as(path)
    case = checked_case(alice, folder)
    manifest = viewer_manifest(case)
    labels = [study["label"] for study in manifest["studies"]]
    assert labels == [
        "Current study, 2024-01-15",
        "Prior study, 2022-03-01",
        "Prior study, 2019-07-05",
    ]
    main, prior = manifest["panes"]
    assert (main["viewport"], prior["viewport"], prior["sync"]) == ("main", "prior", "main")
    studies = {study["index"]: study["label"] for study in manifest["studies"]}
    assert studies[main["study"]].endswith("2024-01-15")
    assert studies[prior["study"]].endswith("2022-03-01")


def test_a_prior_mammogram_hangs_beside_the_current_one_view_by_view(alice, tmp_path):
    folder = tmp_path / "upload"
    for name, date in (("then", "20220301"), ("now", "20240115")):
        write_mammogram(folder / name, study_uid=generate_uid())
        for path in (folder / name).iterdir():
            ds = dcmread(path)
            ds.StudyDate = date
            ds.save_as(path)
    case = checked_case(alice, folder, **MAMMO_CASE)
    manifest = viewer_manifest(case)
    panes = manifest["panes"]
    views = ["RCC", "LCC", "RMLO", "LMLO"]
    assert [pane["viewport"] for pane in panes] == views + [f"prior-{v}" for v in views]
    assert [pane.get("sync") for pane in panes[4:]] == views
    current, prior = (study["index"] for study in manifest["studies"])
    for pane in panes:
        image = manifest["views"][pane["image"]]
        assert image["placed"] == pane["view"]
        assert image["study"] == pane["study"] == (prior if pane.get("sync") else current)


def _windowed(ds: Dataset) -> np.ndarray:
    """The image at its first VOI window, as 0-255 greys."""
    low = float(ds.WindowCenter) - float(ds.WindowWidth) / 2
    values = ds.pixel_array.astype(float) * float(ds.get("RescaleSlope", 1))
    values += float(ds.get("RescaleIntercept", 0))
    return np.clip((values - low) / float(ds.WindowWidth), 0, 1) * 255


def test_each_current_pane_names_its_first_image_rendered_and_no_prior_pane_does(alice, tmp_path):
    folder = tmp_path / "upload"
    for name, date in (("old", "20220301"), ("new", "20240115")):
        for path in write_series(folder / name, n=2, study_uid=generate_uid()):
            ds = dcmread(path)
            ds.StudyDate = date
            ds.save_as(path)
    case = checked_case(alice, folder)
    manifest = viewer_manifest(case)
    main, prior = manifest["panes"]
    first = manifest["series"][main["series"]]["images"][0]
    assert main["first"] == first + "/rendered"
    assert "first" not in prior


def test_the_rendered_first_image_is_the_decoded_one_at_its_window_with_no_audit_of_its_own(
    client, alice, rita_profile, tmp_path
):
    folder = tmp_path / "upload"
    files = write_encoded_series(folder / "J2K", JPEG2000Lossless, n=2)
    case = checked_case(alice, folder)
    rendered = viewer_manifest(case)["panes"][0]["first"]
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)
    assert client.get(rendered).status_code == 401  # no viewer session yet

    assert client.get(reverse("reviewers:study-viewer", args=[case.code])).status_code == 200
    audited = AuditEvent.objects.count()
    response = client.get(rendered)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert "no-store" in response["Cache-Control"]
    # The page's one audit row covers it: no row per image.
    assert AuditEvent.objects.count() == audited
    drawn = np.asarray(Image.open(io.BytesIO(response.content)), dtype=float)
    originals = [dcmread(path) for path in files]
    assert any(
        drawn.shape == ds.pixel_array.shape and np.abs(drawn - _windowed(ds)).max() <= 1
        for ds in originals
    )
    for value in (PATIENT_NAME, PATIENT_ID, BIRTH_DATE):
        assert value.encode() not in response.content


def test_the_rendered_first_image_is_refused_to_anyone_not_holding_the_case(
    client, alice, rita_profile, nils, tmp_path
):
    case, _ = validated_case(alice, tmp_path)
    rendered = viewer_manifest(case)["panes"][0]["first"]
    _viewer_session(client, case, rita_profile)
    assert client.get(rendered).status_code == 200
    for user in (nils, alice):
        client.force_login(user)
        client.get(reverse("reviewers:study-viewer", args=[case.code]))
        assert client.get(rendered).status_code == 401


def test_the_rendered_image_is_made_once_and_then_read_from_the_viewer_cache(
    client, alice, rita_profile, tmp_path
):
    case, _ = validated_case(alice, tmp_path)
    _viewer_session(client, case, rita_profile)
    rendered = viewer_manifest(case)["panes"][0]["first"]
    made = client.get(rendered).content
    for instance in Instance.objects.filter(series__study__case=case).select_related("file"):
        default_storage.delete(instance.file.key)
    caches["viewer"].delete_many(
        [f"viewer-image:1:{instance.file.code}" for instance in Instance.objects.all()]
    )
    assert client.get(rendered).content == made


def test_a_jpeg_2000_first_picture_does_not_wait_for_the_whole_decode(
    client, alice, rita_profile, tmp_path
):
    folder = tmp_path / "upload"
    write_encoded_series(folder / "J2K", JPEG2000Lossless, n=2, rows=2400, cols=300)
    case = checked_case(alice, folder)
    _viewer_session(client, case, rita_profile)
    rendered = viewer_manifest(case)["panes"][0]["first"]
    response = client.get(rendered)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (128, 1024)
    decoded = [f"viewer-image:1:{i.file.code}" for i in Instance.objects.select_related("file")]
    assert caches["viewer"].get_many(decoded) == {}  # drawn without the viewer's decoded copy
