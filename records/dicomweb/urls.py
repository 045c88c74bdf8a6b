"""DICOMweb (PS3.18) under /dicomweb/: QIDO-RS searches and WADO-RS retrieves, read-only."""

from django.urls import path, register_converter

from . import views


class UidConverter:
    regex = r"[0-9][0-9.]{0,63}"  # a UID is at most 64 characters

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class FramesConverter:
    regex = r"[0-9,]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(UidConverter, "uid")
register_converter(FramesConverter, "frames")

app_name = "dicomweb"

study = "studies/<uid:study>"
series = f"{study}/series/<uid:series>"
instance = f"{series}/instances/<uid:instance>"
urlpatterns = [
    path("studies", views.search_studies, name="studies"),
    path("series", views.search_series, name="series"),
    path("instances", views.search_instances, name="instances"),
    path(study, views.retrieve_study, name="study"),
    path(f"{study}/metadata", views.study_metadata, name="study-metadata"),
    path(f"{study}/series", views.study_series, name="study-series"),
    path(f"{study}/instances", views.study_instances, name="study-instances"),
    path(series, views.retrieve_series, name="series-retrieve"),
    path(f"{series}/metadata", views.series_metadata, name="series-metadata"),
    path(f"{series}/instances", views.series_instances, name="series-instances"),
    path(instance, views.retrieve_instance, name="instance"),
    path(f"{instance}/metadata", views.instance_metadata, name="instance-metadata"),
    path(f"{instance}/frames/<frames:frames>", views.frames, name="frames"),
    path(f"{instance}/frames/<frames:frames>/rendered", views.rendered, name="rendered"),
]
