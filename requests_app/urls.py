from django.urls import path

from . import views

app_name = "requests"

urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("new/", views.case_new, name="case-new"),
    path("<uuid:code>/", views.case_detail, name="case-detail"),
    path("<uuid:code>/seen/", views.case_seen, name="case-seen"),
    path("<uuid:code>/steps/<slug:step>/", views.case_step, name="case-step"),
    path("<uuid:code>/submit/", views.case_submit, name="case-submit"),
    path("<uuid:code>/messages/", views.case_message, name="case-message"),
    path("<uuid:code>/delete/", views.case_delete, name="case-delete"),
    path("<uuid:code>/authorization/", views.authorization, name="authorization"),
    path(
        "<uuid:code>/authorizations/<uuid:authorization>/authorization.pdf",
        views.authorization_pdf,
        name="authorization-pdf",
    ),
    path(
        "<uuid:code>/authorizations/<uuid:authorization>/revoke/",
        views.authorization_revoke,
        name="authorization-revoke",
    ),
]
