"""The pages of a share: the patient makes, watches and revokes links; the recipient, with no
account, enters the passcode and reads the second opinion and downloads it, and nothing else."""

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from records.models import Document
from requests_app import messaging, shares
from requests_app.models import AuditEvent, Share
from tests.records.dicom_factory import PATIENT_NAME
from tests.records.dicomweb_setup import viewer_frame
from tests.reviewers.conftest import make_reviewer, validated_case
from tests.reviewers.test_reviewer_desk import _signed

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def reported(alice, rita, tmp_path):
    case, _ = validated_case(alice, tmp_path)
    opinion = _signed(case, make_reviewer(rita.email, "Dr. Rita Novak", user=rita))
    messaging.send_message(case, by=alice, body="Private note about my job", from_care_team=False)
    return case, opinion


def _wrong(passcode: str) -> str:
    return f"{(int(passcode) + 1) % 10**6:06d}"


def _open(client: Client, token: str, passcode: str):
    return client.post(reverse("share-open", args=[token]), {"passcode": passcode})


def test_the_patient_makes_a_link_and_sees_its_passcode_once(client, alice, reported, settings):
    case, _ = reported
    settings.SITE_URL = "https://secondopinion.example"
    client.force_login(alice)
    made = client.post(
        reverse("shares:list", args=[case.code]),
        {"recipient_name": "Dr. Lee", "recipient_email": "", "days": 14, "max_opens": 20},
    )
    # Redirected after the post: reloading the page it lands on makes no second share.
    assert made.status_code == 302 and made["Location"] == reverse("shares:list", args=[case.code])
    page = client.get(made["Location"]).content.decode()
    share = Share.objects.get(case=case)
    assert 'data-testid="share-passcode"' in page
    assert 'value="https://secondopinion.example/s/' in page and "testserver" not in page
    event = AuditEvent.objects.get(target_type="share")
    assert (event.action, event.target_code) == ("add", str(share.code))
    again = client.get(made["Location"]).content.decode()
    assert "Dr. Lee" in again and 'data-testid="share-passcode"' not in again
    assert "/s/" not in again
    assert Share.objects.filter(case=case).count() == 1


def test_one_address_may_enter_only_so_many_wrong_passcodes_whatever_the_share(alice, reported):
    case, _ = reported
    made = [
        shares.create_share(case, by=alice, recipient_name=f"Dr. {n}")
        for n in range(shares.MAX_ATTEMPTS_PER_ADDRESS // shares.MAX_ATTEMPTS)
    ]
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    for new in made:
        for _ in range(shares.MAX_ATTEMPTS):
            _open(guesser, new.token, _wrong(new.passcode))
    fresh = shares.create_share(case, by=alice, recipient_name="Dr. Lee")
    # Even the right passcode of a share never tried is refused from that address now...
    refused = _open(guesser, fresh.token, fresh.passcode)
    assert refused.status_code == 429 and "Try again later" in refused.content.decode()
    fresh.share.refresh_from_db()
    assert fresh.share.failed_attempts == 0 and fresh.share.opens.count() == 0
    # ...and from another address it opens.
    assert _open(Client(REMOTE_ADDR="198.51.100.4"), fresh.token, fresh.passcode).status_code == 302


def test_the_recipient_reads_the_report_and_downloads_it_and_nothing_else(alice, reported):
    case, opinion = reported
    new = shares.create_share(case, by=alice, recipient_name="Dr. Lee")
    recipient = Client()
    form = recipient.get(reverse("share-open", args=[new.token]))
    assert form.status_code == 200 and "Plain words." not in form.content.decode()
    wrong = _open(recipient, new.token, f"{(int(new.passcode) + 1) % 10**6:06d}")
    assert "not right" in wrong.content.decode()
    assert _open(recipient, new.token, new.passcode).status_code == 302

    page = recipient.get(reverse("share-open", args=[new.token]))
    body = page.content.decode()
    assert page["Cache-Control"].count("no-store") == 1
    # Its forms post with their origin; no other site is told the link either way.
    assert page["Referrer-Policy"] == "same-origin"
    for shown in ["Dr. Lee", "logged", "Plain words.", "F.", "I.", "Download the study"]:
        assert shown in body, shown
    for hidden in ["Private note", "Medicare", "1EG4-TE5-MK72", "Springfield", "tumour"]:
        assert hidden not in body, hidden
    assert reverse("requests:case-detail", args=[case.code]) not in body
    assert new.share.opens.count() == 1
    assert alice.notifications.filter(kind="share").count() == 1

    pdf = recipient.get(reverse("share-report-pdf", args=[new.token, opinion.code]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    study = recipient.get(reverse("share-study-zip", args=[new.token]))
    assert study.status_code == 200 and study["Referrer-Policy"] == "no-referrer"
    names = zipfile.ZipFile(io.BytesIO(b"".join(study.streaming_content))).namelist()
    assert len(names) == 10
    kinds = set(
        AuditEvent.objects.filter(case_code=case.code).values_list("target_type", flat=True)
    )
    assert {"share-open", "shared-report", "shared-opinion-report", "shared-study"} <= kinds


def test_the_downloads_need_the_passcode_in_this_session(alice, reported):
    case, opinion = reported
    new = shares.create_share(case, by=alice, recipient_name="Dr. Lee")
    stranger = Client()
    assert stranger.get(reverse("share-study-zip", args=[new.token])).status_code == 404
    pdf = reverse("share-report-pdf", args=[new.token, opinion.code])
    assert stranger.get(pdf).status_code == 404


def test_a_recipient_of_one_share_never_reads_another(alice, reported):
    case, _ = reported
    mine = shares.create_share(case, by=alice, recipient_name="Dr. Lee")
    other = shares.create_share(case, by=alice, recipient_name="Dr. Kim")
    recipient = Client()
    _open(recipient, mine.token, mine.passcode)
    assert recipient.get(reverse("share-study-zip", args=[other.token])).status_code == 404
    assert (
        "Plain words."
        not in recipient.get(reverse("share-open", args=[other.token])).content.decode()
    )
    assert recipient.get(reverse("requests:case-detail", args=[case.code])).status_code == 302


def _dead_links(alice, case) -> list[str]:
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        expired = shares.create_share(case, by=alice, recipient_name="A", days=1).token
    revoked = shares.create_share(case, by=alice, recipient_name="B")
    shares.revoke(revoked.share)
    exhausted = shares.create_share(case, by=alice, recipient_name="C", max_opens=1)
    shares.try_passcode(exhausted.share, exhausted.passcode)
    locked = shares.create_share(case, by=alice, recipient_name="D")
    for _ in range(shares.MAX_ATTEMPTS):
        shares.try_passcode(locked.share, "")
    return [expired, revoked.token, exhausted.token, locked.token, "x" * 43]


def test_every_dead_link_is_the_same_plain_404(alice, reported):
    case, _ = reported
    with time_machine.travel(NOW, tick=False):
        links = _dead_links(alice, case)
        pages = [Client().get(reverse("share-open", args=[token])) for token in links]
    assert [page.status_code for page in pages] == [404] * 5
    assert len({page.content for page in pages}) == 1
    assert b"passcode" not in pages[0].content


def test_the_patient_sees_the_opens_and_revokes_one_or_all(client, alice, reported):
    case, _ = reported
    one = shares.create_share(case, by=alice, recipient_name="Dr. Lee")
    two = shares.create_share(case, by=alice, recipient_name="Dr. Kim")
    recipient = Client()
    _open(recipient, one.token, one.passcode)
    client.force_login(alice)
    page = client.get(reverse("shares:list", args=[case.code])).content.decode()
    assert page.count('data-testid="share-opens"') == 1 and "opened 1 of 20 times" in page
    client.post(reverse("shares:revoke", args=[case.code, one.share.code]))
    assert recipient.get(reverse("share-open", args=[one.token])).status_code == 404
    assert shares.find_share(two.token) is not None
    client.post(reverse("shares:revoke-all", args=[case.code]))
    assert shares.find_share(two.token) is None
    revoked = AuditEvent.objects.filter(target_type="share", action="revoke")
    assert sorted(revoked.values_list("target_code", flat=True)) == sorted(
        [str(one.share.code), str(two.share.code)]
    )


def _opened(alice, case) -> tuple[Client, str]:
    new = shares.create_share(case, by=alice, recipient_name="Dr. Lee")
    recipient = Client()
    assert _open(recipient, new.token, new.passcode).status_code == 302
    return recipient, new.token


def test_the_recipient_downloads_the_original_report_and_none_of_the_other_records(alice, reported):
    case, _ = reported
    original = case.documents.get()
    # Stored with the same bytes: which records are shared is decided by their kind alone.
    other = Document.objects.create(
        case=case,
        kind=Document.Kind.PATHOLOGY_REPORT,
        file=original.file.name,
        original_name="biopsy.pdf",
        size=original.size,
        sha256=original.sha256,
        uploaded_by=alice,
    )
    recipient, token = _opened(alice, case)
    body = recipient.get(reverse("share-open", args=[token])).content.decode()
    assert reverse("share-document", args=[token, original.code]) in body
    assert str(other.code) not in body
    pdf = recipient.get(reverse("share-document", args=[token, original.code]))
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert pdf["Cache-Control"].count("no-store") == 1 and pdf["Referrer-Policy"] == "no-referrer"
    assert recipient.get(reverse("share-document", args=[token, other.code])).status_code == 404
    event = AuditEvent.objects.get(target_type="shared-document")
    assert (event.action, event.target_code) == ("download", str(original.code))


def test_the_recipient_views_the_images_in_an_audited_viewer_session(alice, reported):
    case, _ = reported
    recipient, token = _opened(alice, case)
    body = recipient.get(reverse("share-open", args=[token])).content.decode()
    assert reverse("share-viewer", args=[token]) in body
    before_reads = AuditEvent.objects.count()
    page = recipient.get(reverse("share-viewer", args=[token]))
    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    html = page.content.decode()
    assert "reviewer" not in html.lower().replace("reviewers/viewer", "")
    manifest = json.loads(
        re.search(r'id="viewer-manifest"[^>]*>(.*?)</script>', html, re.S).group(1)
    )
    images = [url for series in manifest["series"] for url in series["images"]]
    assert len(images) == 10
    assert all(url.startswith("/dicomweb/studies/") for url in images)
    viewer_events = AuditEvent.objects.filter(target_type="shared-study-viewer")
    assert viewer_events.count() == 1  # one study, one viewer session
    assert recipient.get(manifest["series"][0]["metadata"]).status_code == 200
    response, frame = viewer_frame(recipient, images[0])
    assert response.status_code == 200 and response["Cache-Control"].count("no-store") == 1
    # Pixels alone, as the reviewer's viewer gets them: no name.
    assert frame and PATIENT_NAME.encode() not in frame
    assert AuditEvent.objects.count() == before_reads + 1  # the viewer's record, none per image
    # Nor without the viewer opened in this session, nor for a stranger.
    fresh, _ = _opened(alice, case)
    assert viewer_frame(fresh, images[0])[0].status_code == 401
    assert viewer_frame(Client(), images[0])[0].status_code == 401
    # Nor once the patient revokes the share, in the very session that opened the viewer.
    shares.revoke(shares.find_share(token))
    assert viewer_frame(recipient, images[0])[0].status_code == 401


def test_the_recipients_first_picture_is_served_in_the_viewer_session_and_not_audited_again(
    alice, reported
):
    case, _ = reported
    recipient, token = _opened(alice, case)
    page = recipient.get(reverse("share-viewer", args=[token]))
    manifest = json.loads(
        re.search(r'id="viewer-manifest"[^>]*>(.*?)</script>', page.content.decode(), re.S).group(1)
    )
    first = manifest["panes"][0]["first"]
    assert first.startswith("/dicomweb/studies/") and first.endswith("/frames/1/rendered")
    assert f"<{first}>; rel=preload; as=image" in page["Link"]
    audited = AuditEvent.objects.count()
    picture = recipient.get(first)
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG") and "no-store" in picture["Cache-Control"]
    assert AuditEvent.objects.count() == audited  # the viewer session's row names the study
    fresh, _ = _opened(alice, case)
    assert fresh.get(first).status_code == 401  # this session opened no viewer
    assert Client().get(first).status_code == 401
    shares.revoke(shares.find_share(token))
    assert recipient.get(first).status_code == 401


def test_a_refused_share_request_is_not_cached_either(db):
    for url in [
        reverse("share-open", args=["x" * 43]),
        reverse("share-viewer", args=["x" * 43]),
        reverse("share-study-zip", args=["x" * 43]),
    ]:
        refused = Client().get(url)
        assert refused.status_code == 404
        assert refused["Cache-Control"].count("no-store") == 1, url
        assert refused["Referrer-Policy"] == "no-referrer", url
