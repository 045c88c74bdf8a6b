from django.urls import path

from . import api, views

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
