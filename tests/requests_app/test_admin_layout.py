"""Small things of the coordinators' admin: the favicon, and previews in their own proportions."""

import re

from django.templatetags.static import static
from django.urls import reverse

from tests.reviewers.conftest import validated_case


def test_favicon_ico_leads_to_the_sites_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == static("favicon.svg")


def test_series_previews_keep_their_aspect_ratio(client, sam, alice, tmp_path):
    case, _ = validated_case(alice, tmp_path)
    client.force_login(sam)
    page = client.get(reverse("admin:requests_app_case_change", args=[case.pk])).content.decode()
    previews = re.findall(r"<img [^>]*/preview\.png[^>]*>", page)
    assert previews
    for tag in previews:
        assert 'class="series-preview"' in tag and "width=" not in tag, tag
