"""The patient's shares of a case's second opinion, under /cases/<uuid>/shares/."""

from django.urls import path

from . import dicomweb_token_views, share_views

app_name = "shares"

urlpatterns = [
    path("<uuid:code>/shares/", share_views.share_list, name="list"),
    path(
        "<uuid:code>/shares/doctor/",
        share_views.share_send_to_doctor,
        name="send-to-doctor",
    ),
    path("<uuid:code>/shares/revoke/", share_views.share_revoke_all, name="revoke-all"),
    path(
        "<uuid:code>/shares/<uuid:share>/revoke/",
        share_views.share_revoke,
        name="revoke",
    ),
    path(
        "<uuid:code>/shares/<uuid:share>/dicomweb-tokens/<uuid:token>/revoke/",
        dicomweb_token_views.share_token_revoke,
        name="dicomweb-token-revoke",
    ),
]
