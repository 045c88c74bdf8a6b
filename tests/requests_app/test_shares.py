"""The patient's shares of their second opinion: how long and how often a link opens, the
passcode's lockout, revoking, and what is kept of the link and passcode (hashes only)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from requests_app import shares
from requests_app.models import Notification, Share
from tests.reviewers.conftest import make_reviewer, queued_case
from tests.reviewers.test_reviewer_desk import _signed

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def reported(alice, rita):
    case = queued_case(alice)
    _signed(case, make_reviewer(rita.email, "Dr. Rita Novak", user=rita))
    return case


def _wrong(passcode: str) -> str:
    return f"{(int(passcode) + 1) % 10**6:06d}"


def test_only_a_case_with_a_signed_report_is_shared_and_only_by_its_patient(alice, bob, reported):
    with pytest.raises(shares.ShareError):
        shares.create_share(queued_case(alice), by=alice, recipient_name="Dr. Lee")
    with pytest.raises(shares.ShareError):
        shares.create_share(reported, by=bob, recipient_name="Dr. Lee")
    for days in (0, 91):
        with pytest.raises(shares.ShareError):
            shares.create_share(reported, by=alice, recipient_name="Dr. Lee", days=days)
    assert not Share.objects.exists()


def test_the_raw_token_and_passcode_are_nowhere_in_the_database(alice, reported):
    new = shares.create_share(reported, by=alice, recipient_name="Dr. Lee")
    assert len(new.token) >= 43 and len(new.passcode) == 6 and new.passcode.isdigit()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM requests_app_share")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert new.token not in stored
    assert new.passcode not in new.share.passcode_hash
    assert shares.find_share(new.token) == new.share
    altered = new.token[:-1] + ("B" if new.token.endswith("A") else "A")
    assert shares.find_share(altered) is None


def test_expiry(alice, reported):
    with time_machine.travel(NOW, tick=False) as clock:
        new = shares.create_share(reported, by=alice, recipient_name="Dr. Lee")
        assert new.share.expires_at == NOW + timedelta(days=14)
        clock.move_to(NOW + timedelta(days=14, seconds=-1))
        assert shares.find_share(new.token) is not None
        clock.move_to(NOW + timedelta(days=14))
        assert shares.find_share(new.token) is None
        week = shares.create_share(reported, by=alice, recipient_name="Dr. Lee", days=7)
        assert week.share.expires_at == NOW + timedelta(days=21)


def test_each_right_passcode_is_one_open_until_the_limit(alice, reported):
    new = shares.create_share(reported, by=alice, recipient_name="Dr. Lee", max_opens=2)
    assert shares.try_passcode(new.share, new.passcode)
    assert shares.try_passcode(new.share, new.passcode)
    assert not shares.try_passcode(new.share, new.passcode)
    assert new.share.opens.count() == 2
    told = alice.notifications.filter(kind=Notification.Kind.SHARE)
    assert told.count() == 2 and "Lee" not in told[0].title + told[0].body


def test_five_wrong_passcodes_lock_the_share_and_tell_the_patient(alice, reported):
    new = shares.create_share(reported, by=alice, recipient_name="Dr. Lee")
    for _ in range(shares.MAX_ATTEMPTS - 1):
        assert not shares.try_passcode(new.share, _wrong(new.passcode))
    assert not alice.notifications.filter(kind=Notification.Kind.SHARE).exists()
    assert not shares.try_passcode(new.share, _wrong(new.passcode))
    # Locked: the right passcode no longer opens it, and the link finds nothing.
    assert not shares.try_passcode(new.share, new.passcode)
    assert shares.find_share(new.token) is None
    assert new.share.opens.count() == 0
    told = alice.notifications.get(kind=Notification.Kind.SHARE)
    assert told.title == "A shared report was locked"


def test_revoking_one_or_all(alice, reported):
    one = shares.create_share(reported, by=alice, recipient_name="Dr. Lee")
    two = shares.create_share(reported, by=alice, recipient_name="Dr. Kim")
    three = shares.create_share(reported, by=alice, recipient_name="Sam")
    assert shares.revoke(one.share)
    assert not shares.revoke(one.share)
    assert shares.find_share(one.token) is None
    assert shares.find_share(two.token) is not None
    assert {s.pk for s in shares.revoke_all(reported)} == {two.share.pk, three.share.pk}
    assert shares.find_share(two.token) is None and shares.find_share(three.token) is None
    assert not shares.try_passcode(two.share, two.passcode)
