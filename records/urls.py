from django.urls import path

from . import views

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
