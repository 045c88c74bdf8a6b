"""What the study viewer shows: the case's studies as stacks of images, and the images.

The current study (the latest by date) fills the viewer; the patient's earlier studies in the case
(priors) sit beside it, pane by pane, zoomed and panned together. A mammogram hangs in the four
standard views (RCC and LCC above RMLO and LMLO), placed image by image from each image's
laterality and view (ViewPosition, or the code in ViewCodeSequence), whether the views share one
series or not; right-side images are flipped when needed so the chest walls face each other.
What cannot be placed from its tags is left for the reader to place by hand. Anything else is one
large viewport with a list of series to switch between.

The browser reads every image through DICOMweb, with the viewer's session: its series' metadata
and its first frame as uncompressed pixels (`image_bytes`: decoded once on the server with the
installed codecs, kept in the "viewer" cache). The first image of each pane of the current study
also comes rendered, as a PNG at its default window (`rendered_image`), which the page draws at
once, before the viewer's script (megabytes) has loaded and started.
"""

import io

import pydicom
from django.conf import settings
from django.core.cache import caches
from django.core.files.storage import default_storage
from django.http import HttpResponse
from django.urls import reverse

from requests_app.models import Case

from .dicom import pixels, transcode
from .dicom.damage import Damaged
from .dicom.header import BoundedReads
from .models import Instance, Series, Study, UploadFile

MAMMO_VIEWS = [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]
# ViewCodeSequence codes (SNOMED CT and the older SNOMED RT designators) of the two views.
VIEW_CODES = {
    "399162004": "CC",
    "R-10242": "CC",
    "399368009": "MLO",
    "R-10226": "MLO",
}
# The side of the image drawn before the viewer starts: a pane at twice its CSS pixels.
RENDERED_MAX_SIDE = 1024
Undecodable = transcode.Undecodable


def _image_key(file: UploadFile) -> str:
    return f"viewer-image:1:{file.code}"  # a stored file never changes: its code names its bytes


def image_bytes(file: UploadFile) -> bytes:
    """One stored image as the viewer reads it (see `records.dicom.transcode`), cached."""
    cache = caches["viewer"]
    key = _image_key(file)
    data = cache.get(key)
    if data is None:
        with default_storage.open(file.key, "rb") as handle:
            data = transcode.for_viewer(handle)
        if len(data) <= settings.VIEWER_CACHE_ITEM_MAX_BYTES:
            cache.set(key, data, settings.VIEWER_CACHE_SECONDS)
    return data


def _placement(instance: Instance) -> dict:
    """Laterality, view and the flip that puts the chest wall toward the middle, from the
    headers of one image; "" (or None for the flip) where the tags do not say."""
    with BoundedReads(default_storage.open(instance.file.key, "rb")) as handle:
        ds = pydicom.dcmread(
            handle,
            stop_before_pixels=True,
            force=True,
            specific_tags=[
                "ImageLaterality",
                "Laterality",
                "ViewPosition",
                "ViewCodeSequence",
                "PatientOrientation",
            ],
        )
    side = str(ds.get("ImageLaterality") or ds.get("Laterality") or "").upper()
    view = str(ds.get("ViewPosition") or "").upper()
    if view not in ("CC", "MLO"):
        codes = [str(item.get("CodeValue", "")) for item in ds.get("ViewCodeSequence") or []]
        view = next((VIEW_CODES[c] for c in codes if c in VIEW_CODES), view)
    orientation = ds.get("PatientOrientation")
    rows_go = str(orientation[0]).upper() if orientation and len(orientation) == 2 else ""
    # Hanging: the right breast's chest wall on the right of its pane (columns run to posterior),
    # the left breast's on the left (columns run to anterior).
    flip = None
    if side in ("R", "L") and rows_go[:1] in ("A", "P"):
        flip = (rows_go[0] == "A") if side == "R" else (rows_go[0] == "P")
    side = side if side in ("R", "L") else ""
    return {"side": side, "view": view, "flip": flip, "toward": rows_go[:1]}


def _study_label(study: Study, prior: bool) -> str:
    date = study.study_date
    when = f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else "date unknown"
    return f"{'Prior' if prior else 'Current'} study, {when}"


def rendered_image(file: UploadFile) -> bytes:
    """The first frame of one stored image as an 8-bit PNG at its default window, at most
    `RENDERED_MAX_SIDE` a side, cached beside its `image_bytes`.

    Drawn from the decoded copy when the viewer has one; before that, a JPEG 2000 image is
    decoded from its codestream's smaller resolution levels only, so that the first picture does
    not wait for the whole decode.
    """
    cache = caches["viewer"]
    key = f"viewer-rendered:1:{file.code}"
    data = cache.get(key)
    if data is None:
        try:
            image = None
            if not cache.has_key(_image_key(file)):
                with default_storage.open(file.key, "rb") as handle:
                    image = pixels.render_first_frame_reduced(handle, max_side=RENDERED_MAX_SIDE)
            if image is None:
                image = pixels.render_first_frame(image_bytes(file), max_side=RENDERED_MAX_SIDE)
        except Damaged as exc:
            raise Undecodable from exc
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)  # fast: it crosses the network once
        data = buffer.getvalue()
        cache.set(key, data, settings.VIEWER_CACHE_SECONDS)
    return data


def _first_frame(name: str, instance: Instance) -> str:
    return reverse(
        name,
        kwargs={
            "study": instance.series.study.study_instance_uid,
            "series": instance.series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frames": 1,
        },
    )


def frame_url(instance: Instance) -> str:
    """The DICOMweb (WADO-RS) address of the image's first frame."""
    return _first_frame("dicomweb:frames", instance)


def rendered_url(instance: Instance) -> str:
    """The DICOMweb (WADO-RS) address of the image's first frame, rendered."""
    return _first_frame("dicomweb:rendered", instance)


def _metadata_url(row: Series) -> str:
    return reverse(
        "dicomweb:series-metadata",
        kwargs={"study": row.study.study_instance_uid, "series": row.series_instance_uid},
    )


def manifest(case: Case) -> dict:
    """Studies, series (label, the DICOMweb addresses of their metadata and of each image's
    first frame) and the panes that show them, for the viewer's script.

    Keys: "series" (label, images, metadata, study, modality), "studies" (label, prior),
    "panes" (viewport, label, series, study, "sync", the current pane a prior pane moves with,
    and for a pane of the current study "first", the rendered address of its first image),
    "mammo", and for a mammogram "views" (each image with its placement) and each pane's
    "image".
    """
    studies = sorted(
        Study.objects.filter(case=case), key=lambda s: (s.study_date or "", s.pk), reverse=True
    )
    study_index = {study.pk: index for index, study in enumerate(studies)}
    series_rows = list(
        Series.objects.filter(study__case=case)
        .select_related("study")
        .prefetch_related("instances__file__upload__case")
        .order_by("series_number", "pk")
    )
    series_rows.sort(key=lambda row: study_index[row.study_id])
    series = []
    rows = []
    firsts = []  # the rendered address of each entry of `series`'s first image
    for row in series_rows:
        instances = sorted(row.instances.all(), key=lambda i: (i.instance_number or 0, i.pk))
        if not instances:
            continue
        label = " ".join(str(p) for p in (row.series_number, row.description or row.modality) if p)
        series.append(
            {
                "label": label or "Series",
                "images": [frame_url(instance) for instance in instances],
                "metadata": _metadata_url(row),
                "study": study_index[row.study_id],
                "modality": row.modality,
            }
        )
        rows.append((row, instances))
        firsts.append(rendered_url(instances[0]))
    shown_studies = sorted({entry["study"] for entry in series})
    result = {
        "series": series,
        "studies": [
            {"index": i, "label": _study_label(studies[i], prior=n > 0), "prior": n > 0}
            for n, i in enumerate(shown_studies)
        ],
        "panes": [],
        "mammo": False,
    }
    if not series:
        return result
    current = shown_studies[0]
    priors = shown_studies[1:2]  # the latest prior sits beside the current study
    if case.is_mammogram:
        views = _mammo_views(rows, series)
        if views:
            result["mammo"] = True
            result["views"] = views
            result["panes"] = _mammo_panes(views, current) + [
                pane for prior in priors for pane in _mammo_panes(views, prior, prior_label=True)
            ]
            _name_panes(result)
            _first_images(result, firsts)
            return result
    first = next(i for i, entry in enumerate(series) if entry["study"] == current)
    result["panes"] = [
        {"viewport": "main", "series": first, "study": current, "label": series[first]["label"]}
    ]
    for prior in priors:
        match = _matching_series(series, series[first], prior)
        result["panes"].append(
            {
                "viewport": "prior",
                "series": match,
                "study": prior,
                "label": series[match]["label"],
                "sync": "main",
            }
        )
    _name_panes(result)
    _first_images(result, firsts)
    return result


def preload(response: HttpResponse, result: dict) -> None:
    """Preload the first pane's rendered image from `response`'s headers: the browser asks for
    it as they arrive, ahead of the page's styles and scripts. Only that one: with a few server
    processes, decoding the others first would hold up the page's own files."""
    first = result["panes"][0].get("first") if result["panes"] else None
    if first:
        response["Link"] = f"<{first}>; rel=preload; as=image; fetchpriority=high"


def _first_images(result: dict, firsts: list[str]) -> None:
    """The rendered first image of each pane of the current study that shows one."""
    views = result.get("views", [])
    for pane in result["panes"]:
        if pane.get("sync") or pane["series"] is None:
            continue
        pane["first"] = (
            views[pane["image"]]["rendered"] if result["mammo"] else firsts[pane["series"]]
        )


def _name_panes(result: dict) -> None:
    """Each pane's name for its controls, and which studies have panes."""
    for pane in result["panes"]:
        if result["mammo"]:
            pane["name"] = pane["label"]
        else:
            pane["name"] = "prior study" if pane.get("sync") else "current study"
    shown = {pane["study"] for pane in result["panes"]}
    for study in result["studies"]:
        study["shown"] = study["index"] in shown


def _matching_series(series: list[dict], shown: dict, study: int) -> int:
    """The series of `study` most like `shown`: same description, else same modality, else
    the first."""
    candidates = [i for i, entry in enumerate(series) if entry["study"] == study]
    label = shown["label"].split(" ", 1)[-1]
    for test in (
        lambda e: e["label"].split(" ", 1)[-1] == label,
        lambda e: e["modality"] == shown["modality"],
    ):
        found = [i for i in candidates if test(series[i])]
        if found:
            return found[0]
    return candidates[0]


def _mammo_views(rows, series: list[dict]) -> list[dict]:
    """Every image of the mammography series, with where its tags place it ("RCC"... or "")."""
    views = []
    for (row, instances), entry in zip(rows, series, strict=True):
        if row.modality and row.modality != "MG":
            continue
        for number, instance in enumerate(instances, start=1):
            place = _placement(instance)
            known = (place["side"], place["view"]) in MAMMO_VIEWS
            views.append(
                {
                    "url": frame_url(instance),
                    "rendered": rendered_url(instance),
                    "study": entry["study"],
                    "series": series.index(entry),
                    "placed": f"{place['side']}{place['view']}" if known else "",
                    "flip": place["flip"],
                    "toward": place["toward"] if place["toward"] in ("A", "P") else "",
                    "side": place["side"],
                    "label": f"Series {entry['label']}, image {number}"
                    + (f" ({place['side']}{place['view']})" if known else ""),
                }
            )
    return views


def _mammo_panes(views: list[dict], study: int, *, prior_label: bool = False) -> list[dict]:
    panes = []
    for side, view in MAMMO_VIEWS:
        name = f"{side}{view}"
        image = next(
            (i for i, v in enumerate(views) if v["study"] == study and v["placed"] == name), None
        )
        pane = {
            "viewport": f"prior-{name}" if prior_label else name,
            "label": f"Prior {name}" if prior_label else name,
            "view": name,
            "study": study,
            "image": image,
            "series": views[image]["series"] if image is not None else None,
        }
        if prior_label:
            pane["sync"] = name
        panes.append(pane)
    return panes
