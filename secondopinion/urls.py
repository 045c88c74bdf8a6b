from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from requests_app import dicomweb_token_views, share_views
from requests_app import views as requests_views

from .health import HealthzView

# allauth's rate limits answer with this page (it looks the name up in this module).
handler429 = "requests_app.accounts.too_many_requests"

admin.site.site_header = "SecondOpinion coordination"
admin.site.site_title = "SecondOpinion coordination"
admin.site.index_title = "Triage"
# Coordinators log in through the site's login, with its rate limits and second factor.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", requests_views.landing, name="landing"),
    path("guide/", requests_views.guide, name="guide"),
    path("notifications/", requests_views.notification_list, name="notifications"),
    path("notifications/read/", requests_views.notifications_read, name="notifications-read"),
    path(
        "notifications/<uuid:code>/read/",
        requests_views.notification_read,
        name="notification-read",
    ),
    path("accounts/", include("allauth.urls")),
    path("cases/", include("requests_app.urls")),
    path("cases/", include("records.urls")),
    path("cases/", include("insurance.urls")),
    path("cases/", include("reviewers.patient_urls")),
    path("cases/", include("requests_app.share_urls")),
    path("reviewer/", include("reviewers.urls")),
    # A patient's share of their second opinion, for someone without an account.
    path("s/<str:token>/", share_views.share_open, name="share-open"),
    path(
        "s/<str:token>/opinions/<uuid:opinion>/report.pdf",
        share_views.share_report_pdf,
        name="share-report-pdf",
    ),
    path("s/<str:token>/study.zip", share_views.share_study_zip, name="share-study-zip"),
    path("s/<str:token>/images/", share_views.share_viewer, name="share-viewer"),
    path("s/<str:token>/reply/", share_views.share_reply, name="share-reply"),
    path(
        "s/<str:token>/documents/<uuid:document>.pdf",
        share_views.share_document,
        name="share-document",
    ),
    path(
        "s/<str:token>/dicomweb-token",
        dicomweb_token_views.share_token,
        name="share-dicomweb-token",
    ),
    path(
        "reviewer/cases/<uuid:code>/dicomweb-token",
        dicomweb_token_views.reviewer_token,
        name="reviewer-dicomweb-token",
    ),
    path(
        "reviewer/cases/<uuid:code>/dicomweb-tokens/",
        dicomweb_token_views.reviewer_tokens,
        name="reviewer-dicomweb-tokens",
    ),
    path(
        "reviewer/cases/<uuid:code>/dicomweb-tokens/<uuid:token>/revoke/",
        dicomweb_token_views.reviewer_token_revoke,
        name="reviewer-dicomweb-token-revoke",
    ),
    # Read-only DICOMweb (QIDO-RS, WADO-RS) for a bearer token of one share or assignment.
    path("dicomweb/", include("records.dicomweb.urls")),
    path("admin/", admin.site.urls),
    path("healthz", HealthzView.as_view(), name="healthz"),
    # Browsers ask for /favicon.ico whatever the page says; the icon is the site's SVG.
    path(
        "favicon.ico",
        RedirectView.as_view(url=static("favicon.svg"), permanent=True),
        name="favicon",
    ),
]
