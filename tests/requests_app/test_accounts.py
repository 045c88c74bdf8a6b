"""Accounts: sign-up with a confirmed e-mail, password reset, and where each role lands."""

import re

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, make_user


def _link(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/\S+)", body).group(1)


def test_a_new_patient_must_confirm_the_email_before_using_the_site(client, db):
    response = client.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response["Location"] == reverse("account_email_verification_sent")
    assert client.get(reverse("requests:case-list")).status_code == 302  # not logged in yet

    confirm = _link(mail.outbox[0].body)
    response = client.post(confirm)
    assert response.status_code == 302
    assert client.get(reverse("requests:case-list")).status_code == 200
    user = get_user_model().objects.get(email="new@example.com")
    assert user.emailaddress_set.get().verified


def test_an_unconfirmed_account_cannot_log_in(client, db):
    client.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    client.logout()
    response = client.post(
        reverse("account_login"), {"login": "new@example.com", "password": PASSWORD}
    )
    assert response["Location"] == reverse("account_email_verification_sent")
    assert client.get(reverse("requests:case-list")).status_code == 302


def test_password_reset_by_email(client, alice):
    client.post(reverse("account_reset_password"), {"email": alice.email})
    assert len(mail.outbox) == 1
    page = client.get(_link(mail.outbox[0].body), follow=True)
    new = "another-long-password-2"
    client.post(page.redirect_chain[-1][0], {"password1": new, "password2": new})
    assert client.login(username=alice.username, password=new)


def test_an_unknown_email_gets_the_same_answer_as_a_known_one(client, alice):
    known = client.post(reverse("account_reset_password"), {"email": alice.email})
    unknown = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]


def test_each_role_lands_on_its_own_home(client, alice, rita, sam):
    for user, home in [
        (alice, reverse("requests:case-list")),
        (rita, reverse("reviewers:portal")),
        (sam, reverse("admin:index")),
    ]:
        response = client.post(
            reverse("account_login"), {"login": user.email, "password": PASSWORD}
        )
        assert response["Location"] == home, user
        client.logout()


def test_logging_out_ends_the_session(client, alice):
    client.force_login(alice)
    client.post(reverse("account_logout"))
    assert client.get(reverse("requests:case-list")).status_code == 302


def _greeting(client, user) -> list[str]:
    response = client.post(
        reverse("account_login"), {"login": user.email, "password": PASSWORD}, follow=True
    )
    return [str(message) for message in response.context["messages"]]


def test_signing_in_greets_by_first_name_never_by_a_made_up_username(client, db):
    jane = make_user("jane.walker@bc.example", first_name="Jane")
    get_user_model().objects.filter(pk=jane.pk).update(username="jane.walker.bc")
    assert _greeting(client, jane) == ["Welcome, Jane."]


def test_signing_in_without_a_first_name_greets_by_e_mail(client, db):
    jane = make_user("jane.walker@bc.example")
    get_user_model().objects.filter(pk=jane.pk).update(username="jane.walker.bc")
    assert _greeting(client, jane) == ["Welcome, jane.walker@bc.example."]


def test_account_e_mails_name_the_site_and_no_host(client, db, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    client.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    message = mail.outbox[0]
    assert message.subject.startswith("SecondOpinion")
    assert "SecondOpinion" in message.body
    link = re.search(r"http://\S+", message.body).group(0)
    assert "127.0.0.1:8000" not in message.body.replace(link, "")


def test_a_newcomer_gives_a_first_name_at_sign_up_and_is_greeted_by_it(client, db):
    response = client.post(
        reverse("account_signup"),
        {
            "first_name": " Alice ",
            "email": "alice.new@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    alice = get_user_model().objects.get(email="alice.new@example.com")
    assert alice.first_name == "Alice"
    EmailAddress.objects.filter(user=alice).update(verified=True)
    assert _greeting(Client(), alice) == ["Welcome, Alice."]  # another day, another browser


def test_the_first_name_is_optional_at_sign_up(client, db):
    response = client.post(
        reverse("account_signup"),
        {"email": "bo@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert get_user_model().objects.get(email="bo@example.com").first_name == ""
