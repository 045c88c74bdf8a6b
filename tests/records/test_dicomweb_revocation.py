"""The patient and the reviewer see their live DICOMweb tokens and revoke one at once."""

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from records.dicomweb import tokens
from records.models import DicomWebToken
from requests_app.models import AuditEvent
from tests.records.dicomweb_setup import body_of, reported_and_shared

pytestmark = pytest.mark.django_db


@pytest.fixture
def scoped(alice, tmp_path):
    return reported_and_shared(alice, tmp_path / "a")


def _urls(scoped) -> list[str]:
    sop, (series, _) = next(iter(scoped.by_sop().items()))
    study = f"/dicomweb/studies/{scoped.study_uid}"
    instance = f"{study}/series/{series}/instances/{sop}"
    return [
        "/dicomweb/studies",
        "/dicomweb/series",
        "/dicomweb/instances",
        study,
        f"{study}/metadata",
        f"{study}/series",
        f"{study}/instances",
        f"{study}/series/{series}",
        f"{study}/series/{series}/metadata",
        f"{study}/series/{series}/instances",
        instance,
        f"{instance}/metadata",
        f"{instance}/frames/1",
    ]


def _status(token: str, url: str) -> int:
    response = Client().get(url, headers={"Authorization": f"Bearer {token}"})
    body_of(response)
    return response.status_code


def _row(token: str) -> DicomWebToken:
    return DicomWebToken.objects.get(token_hash=tokens.token_hash(token))


def test_the_patient_sees_a_shares_token_and_revokes_it_on_every_url(client, scoped, alice):
    urls = _urls(scoped)
    assert {_status(scoped.share_token, url) for url in urls} == {200}
    row = _row(scoped.share_token)
    client.force_login(alice)
    page = client.get(reverse("shares:list", args=[scoped.case.code])).content.decode()
    revoke = reverse(
        "shares:dicomweb-token-revoke", args=[scoped.case.code, scoped.share.code, row.code]
    )
    assert revoke in page and "last used" in page  # it was used just now

    assert client.post(revoke).status_code == 302
    assert {_status(scoped.share_token, url) for url in urls} == {401}
    assert _status(scoped.reviewer_token, urls[0]) == 200  # the reviewer's is another token
    assert (
        revoke not in client.get(reverse("shares:list", args=[scoped.case.code])).content.decode()
    )
    record = AuditEvent.objects.get(action=AuditEvent.Action.REVOKE, target_type="dicomweb-token")
    assert (record.actor, record.target_code, record.share_code) == (
        alice,
        str(row.code),
        scoped.share.code,
    )
    # Revoked once: a second post finds nothing to revoke.
    assert client.post(revoke).status_code == 404


def test_the_reviewer_sees_their_token_and_revokes_it_on_every_url(client, scoped, bob):
    urls = _urls(scoped)
    row = _row(scoped.reviewer_token)
    page_url = reverse("reviewer-dicomweb-tokens", args=[scoped.case.code])
    revoke = reverse("reviewer-dicomweb-token-revoke", args=[scoped.case.code, row.code])
    client.force_login(scoped.reviewer.user)
    page = client.get(page_url).content.decode()
    assert revoke in page and "never used" in page
    assert {_status(scoped.reviewer_token, url) for url in urls} == {200}
    assert "last used" in client.get(page_url).content.decode()

    # Nobody else revokes it: the patient, another patient, the share's token row by this URL.
    for other in (scoped.case.patient, bob):
        stranger = Client()
        stranger.force_login(other)
        assert stranger.post(revoke).status_code == 404
    share_row = _row(scoped.share_token)
    wrong = reverse("reviewer-dicomweb-token-revoke", args=[scoped.case.code, share_row.code])
    assert client.post(wrong).status_code == 404
    assert _status(scoped.reviewer_token, urls[0]) == 200

    assert client.post(revoke).status_code == 302
    assert {_status(scoped.reviewer_token, url) for url in urls} == {401}
    assert _status(scoped.share_token, urls[0]) == 200
    assert revoke not in client.get(page_url).content.decode()
    record = AuditEvent.objects.get(action=AuditEvent.Action.REVOKE, target_type="dicomweb-token")
    assert (record.actor, record.target_code) == (scoped.reviewer.user, str(row.code))


def test_last_used_is_written_once_a_minute_not_on_every_request(scoped):
    row = _row(scoped.share_token)
    assert row.last_used_at is None
    url = _urls(scoped)[0]
    with time_machine.travel(row.created_at, tick=False) as clock:
        _status(scoped.share_token, url)
        first = _row(scoped.share_token).last_used_at
        clock.shift(30)
        _status(scoped.share_token, url)
        assert _row(scoped.share_token).last_used_at == first
        clock.shift(31)
        _status(scoped.share_token, url)
        assert _row(scoped.share_token).last_used_at > first


def test_an_ended_token_is_no_longer_listed(client, scoped, alice):
    row = _row(scoped.share_token)
    client.force_login(alice)
    revoke = reverse(
        "shares:dicomweb-token-revoke", args=[scoped.case.code, scoped.share.code, row.code]
    )
    assert revoke in client.get(reverse("shares:list", args=[scoped.case.code])).content.decode()
    with time_machine.travel(row.expires_at, tick=False):
        page = client.get(reverse("shares:list", args=[scoped.case.code])).content.decode()
        assert revoke not in page
