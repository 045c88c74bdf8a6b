from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

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
    path("reviewer/", include("reviewers.urls")),
    path("admin/", admin.site.urls),
    path("healthz", HealthzView.as_view(), name="healthz"),
]
