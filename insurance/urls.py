from django.urls import path

from . import views

app_name = "insurance"

urlpatterns = [
    path("<uuid:code>/insurance/preview/", views.coverage_preview, name="coverage-preview"),
    path("<uuid:code>/insurance/self-pay/", views.self_pay, name="self-pay"),
    path("<uuid:code>/insurance/referral/", views.referral, name="referral"),
    path(
        "<uuid:code>/insurance/network-gap/", views.network_gap_request, name="network-gap-request"
    ),
    path(
        "<uuid:code>/insurance/network-gap/<uuid:letter>/letter.pdf",
        views.network_gap_letter,
        name="network-gap-letter",
    ),
    path("<uuid:code>/insurance/cost-summary.pdf", views.cost_summary, name="cost-summary"),
    path(
        "<uuid:code>/insurance/good-faith-estimate.pdf",
        views.good_faith_estimate,
        name="good-faith-estimate",
    ),
    path(
        "<uuid:code>/insurance/itemized-statement.pdf",
        views.itemized_statement,
        name="itemized-statement",
    ),
    path("<uuid:code>/insurance/third-opinion/", views.third_opinion, name="third-opinion"),
]
