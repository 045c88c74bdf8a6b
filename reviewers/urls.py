from django.urls import path

from . import views

app_name = "reviewers"

urlpatterns = [
    path("", views.portal, name="portal"),
]
