from django.urls import path

from . import views

app_name = "reviewers"

case = "cases/<uuid:code>"
urlpatterns = [
    path("", views.portal, name="portal"),
    path(f"{case}/", views.case_detail, name="case-detail"),
    path(f"{case}/seen/", views.case_seen, name="case-seen"),
    path(f"{case}/claim/", views.case_claim, name="case-claim"),
    path(f"{case}/release/", views.case_release, name="case-release"),
    path(f"{case}/study.zip", views.study_zip, name="study-zip"),
    path(f"{case}/viewer/", views.study_viewer, name="study-viewer"),
    path(f"{case}/series/<uuid:series>/preview.png", views.series_preview, name="series-preview"),
    path(f"{case}/documents/<uuid:document>/", views.document_download, name="document-download"),
    path(f"{case}/read/", views.read_file, name="read-file"),
    path(f"{case}/grade/", views.read_grade, name="read-grade"),
    path(f"{case}/consultation/", views.consult_file, name="consult-file"),
    path(f"{case}/sign/", views.read_sign, name="read-sign"),
    path(f"{case}/opinions/<uuid:opinion>/report.pdf", views.opinion_pdf, name="opinion-pdf"),
    path(
        f"{case}/questions/<uuid:question>/answer/",
        views.question_answer,
        name="question-answer",
    ),
]
