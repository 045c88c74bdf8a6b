"""Who may open what: every URL of the project, for every kind of user, in every state of a case.

`ROWS` (tests/security/access_rows.py) has one line per URL pattern: how to fill its arguments
from one shared world of cases (access_world.py), and what each role gets. The pattern list comes
from the URL resolver, so a new view without a row fails `test_every_url_pattern_has_a_row`:
nothing ships unchecked. Outcomes:

- allow: 2xx, or 3xx to a page that is not a login,
- 404 / 403,
- login: a redirect to the site's or the admin's login,
- mfa: a redirect to the second-factor pages (set one up, or use it for the admin),
- any other status by its number: 400 (the empty POST is not a valid form), 409 (the object is
  not in a state for it)... The request got past every access check, and its row says so.

Admin pages are grouped per ModelAdmin: its list and the change page of one sample object.

Two more dimensions, where access holes hide:
- `STATE_ROWS` (access_states.py): every reviewer-portal URL of a case, and the patient's reads
  of her records, in every status of the case (draft to closed) and every assignment state
  (unclaimed, claimed, released, reassigned), with the outcome computed from the rule "access
  follows the work";
- ownership: each role posts every admin form and every patient and reviewer form with the
  owner changed (another patient, another account, another case); no owner ever changes.
"""

import re
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from records.models import Series
from requests_app import share_views
from requests_app.admin import CaseAdmin
from requests_app.admin_audit import owner_links
from requests_app.models import Case, Share
from reviewers.forms import FIRST_AVAILABLE
from reviewers.models import ReviewerProfile
from tests.admin_pages import page_form_data
from tests.conftest import PASSWORD, make_case, pdf_upload
from tests.reviewers.conftest import make_reviewer
from tests.security.access_rows import ROLES, ROWS, Row, admin_page
from tests.security.access_states import STATE_ROLES, STATE_ROWS, STATES
from tests.security.access_world import World, build_world


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield prefix + str(entry.pattern), name


def _admin_models() -> dict[str, str]:
    """URL prefix of each registered ModelAdmin -> its row key."""
    return {
        f"admin/{m._meta.app_label}/{m._meta.model_name}/": (
            f"admin:{m._meta.app_label}.{m._meta.model_name}"
        )
        for m in admin.site._registry
    }


def row_key(route: str, name: str | None) -> str:
    if name in ROWS:
        return name
    for prefix, key in _admin_models().items():
        if route.startswith(prefix):
            return key
    return name or route


def resolver_keys() -> set[str]:
    return {row_key(route, name) for route, name in _walk(get_resolver().url_patterns)}


def test_every_url_pattern_has_a_row():
    missing = sorted(resolver_keys() - set(ROWS))
    assert not missing, f"URL patterns without a row in ROWS: {missing}"


def test_every_row_is_a_url_pattern():
    assert not sorted(set(ROWS) - resolver_keys())


# --- The world ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def storage_dirs(tmp_path_factory):
    return {
        "media": tmp_path_factory.mktemp("matrix-media"),
        "multipart": tmp_path_factory.mktemp("matrix-multipart"),
        "dicom": tmp_path_factory.mktemp("matrix-dicom"),
    }


def _storage_settings(dirs) -> dict:
    from django.conf import settings

    return {
        "MULTIPART_DIR": dirs["multipart"],
        "STORAGES": {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": dirs["media"], "base_url": None},
            },
        },
    }


@pytest.fixture(autouse=True)
def private_storage(settings, storage_dirs):
    """The world's files live for the whole module, like its rows."""
    for name, value in _storage_settings(storage_dirs).items():
        setattr(settings, name, value)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, storage_dirs):
    """Built once for the module and rolled back at its end; each test runs in a savepoint."""
    with (
        django_db_blocker.unblock(),
        override_settings(**_storage_settings(storage_dirs)),
        transaction.atomic(),
    ):
        built = build_world(storage_dirs["dicom"])
        yield built
        transaction.set_rollback(True)


# --- Probing -----------------------------------------------------------------------------------


def log_in(role: str, world: World) -> Client:
    """A client logged in as the role; `force_login` includes the second factor (conftest)."""
    client = Client()
    if role == "coordinator_no_mfa":
        # A password login through the site's form: no authenticator, so no second factor.
        user = world.users[role]
        client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    elif role == "share_recipient":
        # As the passcode page leaves the session once the right passcode is entered (each
        # entry counts as one of the share's opens, so the matrix does not spend them).
        session = client.session
        session[share_views.session_key(Share.objects.get(code=world.values["share"]))] = True
        session.save()
    elif role == "dicomweb_token":
        client = Client(HTTP_AUTHORIZATION=f"Bearer {world.values['dicomweb_token']}")
    elif role != "anonymous":
        client.force_login(world.users[role])
    return client


LOGIN_PATHS = ("/accounts/login/", "/admin/login/")
MFA_PREFIX = "/accounts/2fa/"


def outcome(response) -> str:
    status = response.status_code
    if status in (403, 404):
        return str(status)
    if 300 <= status < 400:
        path = urlsplit(response["Location"]).path
        if path.startswith(MFA_PREFIX):
            return "mfa"
        if path in LOGIN_PATHS:
            return "login"
        return "allow"
    if 200 <= status < 300:
        return "allow"
    return str(status)  # 400, 405, 409...: the request got past the access checks and was refused


def _urls(key: str, row: Row, world: World) -> list[str]:
    values = {name: world.values[value] for name, value in row.kwargs.items()}
    if key.startswith("admin:") and "." in key:
        app_label, model_name = key.removeprefix("admin:").split(".")
        urls = [reverse(f"admin:{app_label}_{model_name}_changelist")]
        if "sample" in values:
            urls.append(reverse(f"admin:{app_label}_{model_name}_change", args=[values["sample"]]))
        return urls
    if not re.match(r"^[\w:-]+$", key):  # an unnamed pattern: the admin's catch-all
        return [f"/admin/{values['url']}"]
    return [reverse(key, kwargs=values)]


def _request(client: Client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, data=b"", content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("key", sorted(ROWS))
def test_access(key, world, db):
    row = ROWS[key]
    wrong = []
    for role in ROLES:
        client = log_in(role, world)
        if row.before is not None:
            row.before(client, world)
        for url in _urls(key, row, world):
            with transaction.atomic():
                got = outcome(_request(client, row.method, url))
                transaction.set_rollback(True)  # what one role did is not there for the next
            if got != row.expect[role]:
                wrong.append(f"{role}: {row.method} {url} -> {got}, expected {row.expect[role]}")
    assert not wrong, "\n".join(wrong)


# --- Admin actions ------------------------------------------------------------------------------

# Every action of the coordinators' case list, posted for one case as the list page posts it.
# An action that asks for details first shows its form (allow); one that runs at once redirects
# back to the list (allow); anyone who is not a coordinator is sent to log in.
CASE_ACTIONS: dict[str, Row] = {
    name: admin_page({"sample": "reported_pk"})
    for name in (
        "ask_for_records_action",
        "message_patient_action",
        "reroute_action",
        "assign_action",
        "set_priority_action",
        "mark_urgent_action",
        "hold_action",
        "release_hold_action",
        "clear_flag_action",
        "record_contact_action",
        "close_action",
    )
}


def test_every_case_action_has_a_row():
    assert sorted(CaseAdmin.actions) == sorted(CASE_ACTIONS)


@pytest.mark.parametrize("action", sorted(CASE_ACTIONS))
def test_case_action_access(action, world, db):
    row = CASE_ACTIONS[action]
    url = reverse("admin:requests_app_case_changelist")
    data = {"action": action, "_selected_action": [world.values["reported_pk"]], "index": 0}
    wrong = []
    for role in ROLES:
        client = log_in(role, world)
        with transaction.atomic():
            got = outcome(client.post(url, data))
            transaction.set_rollback(True)
        if got != row.expect[role]:
            wrong.append(f"{role}: {action} -> {got}, expected {row.expect[role]}")
    assert not wrong, "\n".join(wrong)


# Admin actions post to their model's list: who may run each (a form first, then the service).
# Key: (model, action, world value of a selected row, a field of the action's form).
ADMIN_ACTIONS = {
    (
        "requests_app.authorization",
        "record_written_revocation",
        "authorization_pk",
        "received_on",
    ): dict.fromkeys(ROLES, "login")
    | {"coordinator": "allow", "superuser": "allow", "coordinator_no_mfa": "mfa"},
}


@pytest.mark.parametrize("key", sorted(ADMIN_ACTIONS))
def test_admin_action_access(key, world, db):
    model, action, sample, field_name = key
    app_label, model_name = model.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    data = {"action": action, "_selected_action": [world.values[sample]]}
    wrong = []
    for role, expected in ADMIN_ACTIONS[key].items():
        client = log_in(role, world)
        with transaction.atomic():
            response = client.post(url, data)
            # Allowed means the action's own form is shown; the admin refuses an action it does
            # not offer with a redirect back to the list.
            form_shown = response.status_code == 200 and f'name="{field_name}"' in (
                response.content.decode()
            )
            got = "allow" if form_shown else outcome(response)
            if got == "allow" and not form_shown:
                got = "refused"
            transaction.set_rollback(True)
        if got != expected:
            wrong.append(f"{role}: {action} -> {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


# --- Fields a patient does not own -------------------------------------------------------------

# Posted with every patient form: none of them may reach the case.
NOT_THE_PATIENTS = {
    "status": Case.Status.CLOSED,
    "assigned_reviewer": "",  # a real reviewer's id, and another patient's, in the test
    "queue": "breast",
    "priority": "2",
    "needs_coordinator": "on",
    "patient": "",
}
WIZARD = [
    (
        "patient",
        {"patient_name": "Alice Moreau", "patient_birth_date": "1971-04-02", "patient_state": "IL"},
    ),
    (
        "scan",
        {
            "exam_type": "mammogram",
            "body_region": "breast",
            "exam_date": "2026-10-14",
            "facility_name": "Springfield General Hospital",
        },
    ),
    ("question", {"reason": "treatment", "clinical_question": "Is surgery needed?"}),
    ("records", {"birads": "4A", "had_biopsy": "no"}),
    ("authorization", {"signed_name": "Alice Moreau", "agree": "on"}),
    (
        "insurance",
        {
            "plan_type": "medicare",
            "insurer_name": "Medicare",
            "member_id": "1EG4",
            "has_referral": "no",
        },
    ),
    (
        "specialist",
        {
            "requested_subspecialty": "breast",
            "review_type": "radiology",
            "visit_mode": "remote",
            "opinion_state": "IL",
            "reviewer": FIRST_AVAILABLE,
        },
    ),
    ("review", {}),
]


def _owned_fields(case: Case) -> dict:
    case.refresh_from_db()
    return {
        name: getattr(
            case, f"{name}_id" if name in ("assigned_reviewer", "queue", "patient") else name
        )
        for name in NOT_THE_PATIENTS
    }


def test_patient_forms_cannot_set_fields_the_patient_does_not_own(client, world, db):
    alice, bob = world.users["alice"], world.users["bob"]
    priya = make_reviewer("priya@example.com", "Dr. Priya Raman", subspecialties=("breast",))
    case = make_case(alice, complete=True)
    forbidden = {**NOT_THE_PATIENTS, "assigned_reviewer": str(priya.pk), "patient": str(bob.pk)}
    owned = _owned_fields(case)
    client.force_login(alice)

    for step, data in WIZARD:
        response = client.post(
            reverse("requests:case-step", args=[case.code, step]), {**data, **forbidden}
        )
        assert response.status_code == 302, (
            step,
            response.context and response.context["form"].errors,
        )
        assert _owned_fields(case) == owned, step

    assert (case.birads, case.requested_subspecialty_id) == ("4A", "breast")  # the steps saved

    documents = {"kind": "original_report", "file": pdf_upload()}
    others = [
        (reverse("records:document-add", args=[case.code]), documents),
        (reverse("records:images-add", args=[case.code]), {}),
        (reverse("insurance:coverage-preview", args=[case.code]), {"plan_type": "medicare"}),
        (
            reverse("insurance:referral", args=[case.code]),
            {"physician_name": "Dr. Lee", "physician_phone": "217-555-0100"},
        ),
        (reverse("insurance:network-gap-request", args=[case.code]), {}),
        # Original Medicare: paying oneself is signing the Advance Beneficiary Notice.
        (
            reverse("insurance:self-pay", args=[case.code]),
            {"option": "2", "signed_name": "Alice Moreau", "agree": "on"},
        ),
        (
            reverse("records:records-request-new", args=[case.code]),
            {
                "facility_name": "Springfield General Hospital",
                "exam_description": "Mammogram",
                "wants_report": "on",
                "delivery": "cd",
                "send_to": "12 Elm Street, Springfield, IL",
            },
        ),
        (reverse("requests:case-message", args=[case.code]), {"body": "A question."}),
    ]
    for url, data in others:
        response = client.post(url, {**data, **forbidden})
        assert response.status_code < 400, url
        assert _owned_fields(case) == owned, url


# --- Every status and assignment state ---------------------------------------------------------


def test_every_case_url_of_the_reviewer_portal_has_a_state_row():
    """A new reviewer view of a case fails here until its rule for every state is written."""
    case_urls = {
        name
        for route, name in _walk(get_resolver().url_patterns)
        if name and name.startswith("reviewers:") and "<uuid:code>" in route
    }
    assert not sorted(case_urls - set(STATE_ROWS))
    assert not sorted(set(STATE_ROWS) - {name for _, name in _walk(get_resolver().url_patterns)})


def _state_values(case: Case) -> dict[str, object]:
    opinion = case.opinions.filter(signed_at__isnull=False).first()
    question = opinion.questions.first() if opinion else None
    missing = "00000000-0000-4000-8000-000000000000"  # none yet: the URL names nothing
    return {
        "doc": case.documents.get().code,
        "series": Series.objects.filter(study__case=case).exclude(preview_key="").first().code,
        "opinion": opinion.code if opinion else missing,
        "question": question.code if question else missing,
    }


@pytest.mark.parametrize("state_name", list(STATES))
def test_access_in_every_state(state_name, world, db):
    move, state = STATES[state_name]
    case = Case.objects.get(code=world.values["states"])
    move(case, world)
    case.refresh_from_db()
    assert case.status == state.status, "the state's setup went somewhere else"
    values = _state_values(case)
    wrong = []
    for role in STATE_ROLES:
        for name, row in STATE_ROWS.items():
            client = log_in(role, world)
            if row.before:
                client.get(reverse(row.before, args=[case.code]))
            kwargs = {"code": case.code} | {k: values[v] for k, v in row.kwargs.items()}
            url = reverse(name, kwargs=kwargs)
            with transaction.atomic():
                got = outcome(_request(client, row.method, url))
                transaction.set_rollback(True)
            expected = row.granted if row.may(role, state) else "404"
            if got != expected:
                wrong.append(f"{role}: {row.method} {name} -> {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


# --- Ownership never changes -------------------------------------------------------------------


def _owner_snapshot(world: World) -> dict[tuple[str, str, str], object]:
    """Every owner link of every admin sample row, and of the case's own patient."""
    found = {}
    for key, row in ROWS.items():
        if not (key.startswith("admin:") and "." in key and "sample" in row.kwargs):
            continue
        model = _admin_model(key)
        obj = model._default_manager.get(pk=world.values[row.kwargs["sample"]])
        for name in owner_links(model):
            found[(key, str(obj.pk), name)] = getattr(obj, model._meta.get_field(name).attname)
    return found


def _admin_model(key: str):
    app_label, model_name = key.removeprefix("admin:").split(".")
    return next(
        m
        for m in admin.site._registry
        if (m._meta.app_label, m._meta.model_name) == (app_label, model_name)
    )


def _someone_else(model, name: str, current, world: World) -> str:
    """Another owner for the link: Bob for a person, another row for a case, an upload..."""
    target = model._meta.get_field(name).related_model
    if target is get_user_model():
        return str(world.users["bob"].pk)
    other = target._default_manager.exclude(pk=current).order_by("pk").first()
    return str(other.pk) if other else ""


def _admin_forms(world: World) -> list[tuple[str, dict]]:
    """Every admin change form with an owner link, as posted back with each owner changed."""
    root = log_in("superuser", world)
    posts = []
    for key, row in ROWS.items():
        if not (key.startswith("admin:") and "." in key and "sample" in row.kwargs):
            continue
        model = _admin_model(key)
        links = owner_links(model)
        if not links:
            continue
        obj = model._default_manager.get(pk=world.values[row.kwargs["sample"]])
        url = _urls(key, row, world)[1]
        changes = {
            name: _someone_else(
                model, name, getattr(obj, model._meta.get_field(name).attname), world
            )
            for name in links
        }
        posts.append((url, page_form_data(root, url, **changes)))
    add = reverse("admin:reviewers_reviewerprofile_add")
    posts.append(
        (
            add,
            page_form_data(
                root,
                add,
                user=str(world.users["bob"].pk),
                email="new-reviewer@example.com",
                display_name="Dr. New",
                subspecialties=["neuroradiology"],
            ),
        )
    )
    return posts


def _patient_and_reviewer_forms(world: World) -> list[tuple[str, dict]]:
    """Alice's and Nils's own forms, each posted with owner fields the form must not take."""
    bob, mona = world.users["bob"], world.users["other_reviewer"]
    owners = {
        "patient": str(bob.pk),
        "user": str(bob.pk),
        "assigned_reviewer": str(mona.reviewer_profile.pk),
        "reviewer": str(mona.reviewer_profile.pk),
        "case": world.values["queued_pk"],
    }
    draft, reported = world.values["draft"], world.values["reported"]
    posts = [
        (reverse("requests:case-step", args=[draft, step]), {**data, **owners})
        for step, data in WIZARD
    ]
    posts += [
        (reverse(name, args=[reported]), {"body": "Hello.", "findings": "F.", **owners})
        for name in (
            "requests:case-message",
            "opinions:third-opinion",
            "reviewers:read-file",
            "reviewers:read-grade",
            "reviewers:read-sign",
            "reviewers:case-claim",
        )
    ]
    posts.append(
        (
            reverse("opinions:question-ask", args=[reported, world.values["opinion"]]),
            {"question": "Why?", **owners},
        )
    )
    posts.append(
        (
            reverse("reviewers:question-answer", args=[reported, world.values["question"]]),
            {"answer": "Because.", **owners},
        )
    )
    return posts


@pytest.mark.parametrize("role", ROLES)
def test_no_role_changes_an_owner_through_any_form(role, world, db):
    before = _owner_snapshot(world)
    patient_of = dict(Case.objects.values_list("pk", "patient_id"))
    profiles = dict(ReviewerProfile.objects.values_list("pk", "user_id"))
    posts = _admin_forms(world) + _patient_and_reviewer_forms(world)
    client = log_in(role, world)
    for url, data in posts:
        client.post(url, data)
    assert _owner_snapshot(world) == before
    assert dict(Case.objects.values_list("pk", "patient_id")) == patient_of
    after = dict(ReviewerProfile.objects.values_list("pk", "user_id"))
    assert {pk: after.get(pk) for pk in profiles} == profiles
    bob = world.users["bob"]
    assert not ReviewerProfile.objects.filter(user=bob).exists()
