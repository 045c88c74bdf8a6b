"""What the study viewer shows: the case's series as stacks of instance URLs.

A mammogram is laid out as the four standard views (RCC, LCC, RMLO, LMLO); anything else is one
large viewport with a list of series to switch between. Laterality and view come from the first
image of each series, read header-only: a handful of small reads, never pixel data.
"""

from collections.abc import Iterable

import pydicom
from django.core.files.storage import default_storage
from django.urls import reverse

from records.models import Instance, Series
from requests_app.models import Case

MAMMO_VIEWS = [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]


def _instance_urls(case: Case, instances: Iterable[Instance]) -> list[str]:
    return [
        reverse("reviewers:instance-file", args=[case.code, instance.file.code])
        for instance in instances
    ]


def _mammo_view(instance: Instance) -> tuple[str, str]:
    """(laterality, view position) from the headers of one image, e.g. ("R", "CC")."""
    with default_storage.open(instance.file.key, "rb") as handle:
        ds = pydicom.dcmread(
            handle,
            stop_before_pixels=True,
            specific_tags=["ImageLaterality", "Laterality", "ViewPosition"],
        )
    side = str(ds.get("ImageLaterality") or ds.get("Laterality") or "").upper()
    return side, str(ds.get("ViewPosition") or "").upper()


def manifest(case: Case) -> dict:
    """Series (label and image URLs) and the panes that show them, for the viewer's script."""
    series_rows = list(
        Series.objects.filter(study__case=case)
        .select_related("study")
        .prefetch_related("instances__file__upload__case")
        .order_by("study__pk", "series_number", "pk")
    )
    series = []
    for row in series_rows:
        instances = list(row.instances.all())
        if not instances:
            continue
        label = " ".join(str(p) for p in (row.series_number, row.description or row.modality) if p)
        series.append(
            {"label": label or "Series", "images": _instance_urls(case, instances), "row": row}
        )
    panes = []
    if case.is_mammogram:
        by_view = {}
        for index, entry in enumerate(series):
            first = entry["row"].instances.all()[0]
            by_view.setdefault(_mammo_view(first), index)
        for side, view in MAMMO_VIEWS:
            if (side, view) in by_view:
                panes.append(
                    {
                        "viewport": f"{side}{view}",
                        "series": by_view[(side, view)],
                        "label": f"{side}{view}",
                    }
                )
    if not panes and series:
        panes = [{"viewport": "main", "series": 0, "label": series[0]["label"]}]
    for entry in series:
        del entry["row"]
    return {"series": series, "panes": panes, "mammo": case.is_mammogram and len(panes) > 1}
