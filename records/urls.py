from django.urls import path

from . import api, request_views, views

app_name = "records"

urlpatterns = [
    path("<uuid:code>/documents/", views.document_add, name="document-add"),
    path(
        "<uuid:code>/documents/<uuid:document>/",
        views.document_download,
        name="document-download",
    ),
    path(
        "<uuid:code>/documents/<uuid:document>/delete/",
        views.document_delete,
        name="document-delete",
    ),
    path("<uuid:code>/images/", views.images_add, name="images-add"),
    path("<uuid:code>/images/<uuid:upload>/delete/", views.upload_delete, name="upload-delete"),
    path("<uuid:code>/studies/<uuid:study>/person/", views.study_person, name="study-person"),
]

# The study upload (Uppy, S3 multipart protocol); see records/api.py.
upload = "<uuid:code>/uploads/<uuid:upload>"
file = f"{upload}/files/<uuid:file>"
urlpatterns += [
    path("<uuid:code>/uploads/", api.upload_start, name="upload-start"),
    path(f"{upload}/", views.upload_detail, name="upload-detail"),
    path(f"{upload}/files/", api.file_create, name="upload-files"),
    path(f"{upload}/finish/", api.upload_finish, name="upload-finish"),
    path(f"{file}/parts/", api.file_parts, name="file-parts"),
    path(f"{file}/parts/<int:number>/", api.file_part_sign, name="file-part-sign"),
    path(f"{file}/complete/", api.file_complete, name="file-complete"),
    path(f"{file}/", api.file_abort, name="file-abort"),
    path("parts/<str:token>/", api.part_put, name="part-put"),
    path(
        "<uuid:code>/series/<uuid:series>/preview.png", views.series_preview, name="series-preview"
    ),
]

# Asking the facility that did the scan for the records (HIPAA right of access, 30-day clock).
rr = "<uuid:code>/records-requests/<uuid:records_request>"
urlpatterns += [
    path(
        "<uuid:code>/records-requests/new/",
        request_views.records_request_new,
        name="records-request-new",
    ),
    path(f"{rr}/", request_views.records_request_detail, name="records-request-detail"),
    path(f"{rr}/edit/", request_views.records_request_edit, name="records-request-edit"),
    path(f"{rr}/sign/", request_views.records_request_sign, name="records-request-sign"),
    path(f"{rr}/sent/", request_views.records_request_sent, name="records-request-sent"),
    path(f"{rr}/receipt/", request_views.records_request_receipt, name="records-request-receipt"),
    path(
        f"{rr}/extension/",
        request_views.records_request_extension,
        name="records-request-extension",
    ),
    path(
        f"{rr}/received/",
        request_views.records_request_received,
        name="records-request-received",
    ),
    path(
        f"{rr}/letter.pdf",
        request_views.records_request_letter,
        name="records-request-letter",
    ),
    path(
        f"{rr}/second-letter.pdf",
        request_views.records_request_escalation,
        name="records-request-escalation",
    ),
]
