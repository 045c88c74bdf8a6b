"""A coordinator's search (a patient's name, an e-mail address) never travels in a URL.

URLs end up in access logs, proxies' logs, browser history and Referer headers; the search is
posted, kept in the coordinator's session under an opaque token, and the list's URL carries
only the token.
"""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from requests_app.models import Case
from tests.conftest import make_case, make_user

NAME = "Johanna Quintero-Patel"
EMAIL = "johanna.qp@example.com"
CASES = reverse("admin:requests_app_case_changelist")


@pytest.fixture
def johanna(db):
    patient = make_user(EMAIL, first_name="Johanna", last_name="Quintero-Patel")
    return make_case(patient, complete=True, patient_name=NAME)


@pytest.fixture
def others(alice):
    return [make_case(alice, complete=True) for _ in range(3)]


def _links(page: str) -> list[str]:
    return re.findall(r'(?:href|action)="([^"]*)"', page)


def _shown(response) -> list[Case]:
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize("typed", ["Quintero", EMAIL])
def test_a_posted_search_leaves_no_trace_in_any_url(client, sam, johanna, others, typed):
    client.force_login(sam)

    posted = client.post(CASES, {"q": typed, "status__exact": "draft"})

    assert posted.status_code == 302
    location = posted["Location"]
    assert typed not in location and "Quintero" not in location
    assert parse_qs(urlsplit(location).query)["status__exact"] == ["draft"]
    page = client.get(location)
    assert _shown(page) == [johanna]
    assert page.context["cl"].query == typed  # shown in the search box, not in a URL
    links = _links(page.content.decode())
    assert links and not [link for link in links if "Quintero" in link or "johanna" in link]


def test_a_search_typed_into_a_url_is_taken_out_of_it(client, sam, johanna, others):
    client.force_login(sam)
    response = client.get(CASES, {"q": "Quintero"})
    assert response.status_code == 302 and "Quintero" not in response["Location"]
    assert _shown(client.get(response["Location"])) == [johanna]


def test_a_search_token_means_nothing_to_another_session(client, sam, johanna, others):
    client.force_login(sam)
    location = client.post(CASES, {"q": "Quintero"})["Location"]
    other = Client()
    other.force_login(sam)
    assert len(_shown(other.get(location))) == 4  # the whole list, unfiltered


def test_the_search_form_posts(client, sam, johanna):
    client.force_login(sam)
    page = client.get(CASES).content.decode()
    assert re.search(r'<form id="changelist-search" method="post"', page)
