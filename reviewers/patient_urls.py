"""The patient's side of the report, under /cases/<uuid>/ beside the case page."""

from django.urls import path

from . import patient_views

app_name = "opinions"

urlpatterns = [
    path(
        "<uuid:code>/opinions/<uuid:opinion>/report.pdf",
        patient_views.report_pdf,
        name="report-pdf",
    ),
    path(
        "<uuid:code>/opinions/<uuid:opinion>/questions/",
        patient_views.question_ask,
        name="question-ask",
    ),
    path(
        "<uuid:code>/everything.zip",
        patient_views.download_everything,
        name="download-everything",
    ),
    path(
        "<uuid:code>/deidentified/",
        patient_views.deidentified_make,
        name="deidentified-make",
    ),
    path(
        "<uuid:code>/deidentified/<uuid:copy>.zip",
        patient_views.deidentified,
        name="deidentified",
    ),
    path("<uuid:code>/third-opinion/", patient_views.third_opinion, name="third-opinion"),
]
