"""Personas and builders shared by every test.

alice and bob are patients (bob must never see alice's case), rita is a neuroradiologist who
reviews, sam is a coordinator.
"""

import io
import logging
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.base.internal.flows import post_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from allauth.mfa.utils import decrypt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.http import HttpRequest
from django.test import Client
from pypdf import PdfWriter

from insurance.models import CaseInsurance
from requests_app import services
from requests_app.models import Case
from requests_app.roles import COORDINATORS
from reviewers.models import ReviewerProfile, Subspecialty
from secondopinion.second_factor import second_factor_required
from secondopinion.settings import s3_storage
from secondopinion.toolchain import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "a-long-test-password-1"
TOTP_MARGIN_SECONDS = 3


def make_user(email: str, *, first_name: str = "", last_name: str = "", **extra):
    user = get_user_model().objects.create_user(
        username=email,
        email=email,
        password=PASSWORD,
        first_name=first_name,
        last_name=last_name,
        **extra,
    )
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def authenticator_app(user) -> Authenticator:
    """The user's authenticator app (TOTP), set up with a fresh secret if they have none."""
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return existing or TOTP.activate(user, generate_totp_secret()).instance


def totp_code(authenticator: Authenticator) -> str:
    """The code the authenticator app shows now, with a few seconds left to type it.

    A code read in the last seconds of its period may reach the site in the next one (a busy
    machine takes a while between reading and posting): wait for the next period instead.
    """
    period = mfa_settings.TOTP_PERIOD
    left = period - time.time() % period
    if left < TOTP_MARGIN_SECONDS:
        time.sleep(left)
    counter = int(time.time()) // period
    return format_hotp_value(hotp_value(decrypt(authenticator.data["secret"]), counter))


@pytest.fixture(autouse=True)
def force_login_uses_second_factor(monkeypatch):
    """`client.force_login` stands for a whole login, second factor included.

    Reviewers and coordinators must use an authenticator app (secondopinion/second_factor.py):
    they get one, and their session records its use as a TOTP login does.
    """
    force_login = Client.force_login

    def force_login_with_second_factor(client, user, backend=None):
        force_login(client, user, backend)
        if second_factor_required(user):
            request = HttpRequest()
            request.session = client.session
            post_authentication(request, authenticator_app(user))
            request.session.save()

    monkeypatch.setattr(Client, "force_login", force_login_with_second_factor)


@pytest.fixture(autouse=True)
def empty_cache():
    """Rate limits, lockouts and used one-time codes never carry over from one test to the next."""
    cache.clear()
    yield
    cache.clear()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        """Every record as a handler writes it, exception text included, with what Celery
        attaches beside it."""
        return "\n".join(
            f"{self.format(record)} {getattr(record, 'data', '')}" for record in self.records
        )


@pytest.fixture
def every_log_record():
    """Every log record of every logger (root included) at DEBUG, whatever its own level,
    propagation or switch: `every_log_record.text()` is what log files would hold."""
    handler = _Records()
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.propagate, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is not logging.getLogger():
            logger.propagate = True
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level, propagate, disabled in saved:
            logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, disabled


@pytest.fixture
def alice(db):
    return make_user("alice@example.com", first_name="Alice", last_name="Moreau")


@pytest.fixture
def bob(db):
    return make_user("bob@example.com", first_name="Bob", last_name="Tanaka")


@pytest.fixture
def rita(db):
    user = make_user("rita@example.com", first_name="Rita", last_name="Novak")
    profile = ReviewerProfile.objects.create(user=user, display_name="Dr. Rita Novak")
    profile.subspecialties.set([Subspecialty.objects.get(slug="neuroradiology")])
    return user


@pytest.fixture
def sam(db):
    user = make_user("sam@example.com", first_name="Sam", last_name="Okoro", is_staff=True)
    user.groups.add(Group.objects.get(name=COORDINATORS))
    return user


COMPLETE_CASE = {
    "patient_name": "Alice Moreau",
    "patient_birth_date": "1971-04-02",
    "patient_state": "IL",
    "exam_type": "mri",
    "body_region": "brain",
    "exam_date": "2026-10-14",
    "facility_name": "Springfield General Hospital",
    "facility_location": "Springfield, IL",
    "reason": "serious_diagnosis",
    "clinical_question": "Is the lesion a tumour, and does it need surgery?",
    "review_type": "radiology",
    "visit_mode": "remote",
    "opinion_state": "IL",
}


def make_case(patient, *, complete: bool = False, **fields) -> Case:
    """A draft case; `complete=True` fills every required answer, signs and adds insurance.

    A `status` given is set last, as if the case had travelled there.
    """
    status = fields.pop("status", None)
    case = services.create_draft(patient=patient)
    values = {**COMPLETE_CASE, **fields} if complete else fields
    if complete:
        values.setdefault("requested_subspecialty", Subspecialty.objects.get(slug="neuroradiology"))
    if values:
        Case.objects.filter(pk=case.pk).update(**values)
        case.refresh_from_db()
    if complete:
        services.sign_authorization(case, by=patient, signed_name=case.patient_name)
        CaseInsurance.objects.create(
            case=case,
            plan_type="medicare",
            insurer_name="Medicare",
            member_id="1EG4-TE5-MK72",
            has_referral="no",
        )
    if status:
        Case.objects.filter(pk=case.pk).update(status=status)
        case.refresh_from_db()
    return case


def make_pdf(pages: int = 1, *, password: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    if password:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_upload(name: str = "report.pdf", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, make_pdf(**kwargs), content_type="application/pdf")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        pytest.fail(
            "Browser tests need Debian's chromium at /usr/bin/chromium (apt install chromium)."
        )
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path_factory):
    """Every test stores files (and the viewer's decoded images) in its own folders, never in
    the developer's var/."""
    settings.CACHES = {
        **settings.CACHES,
        "viewer": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path_factory.mktemp("viewer-cache")),
            "OPTIONS": {"MAX_ENTRIES": 200},
        },
    }
    settings.MULTIPART_DIR = tmp_path_factory.mktemp("multipart")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path_factory.mktemp("media"), "base_url": None},
        },
    }


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 HTTP API (moto in server mode) on loopback for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(settings, s3_endpoint):
    """Point default storage at a fresh private bucket on the S3 endpoint; yields a client.

    The storage is production's (`s3_storage` in settings, encryption and link expiry
    included); only the bucket, the endpoint and the keys are the test's.
    """
    import boto3

    bucket = f"secondopinion-{uuid.uuid4().hex[:12]}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **credentials)
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket_name=bucket,
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            access_key=credentials["aws_access_key_id"],
            secret_key=credentials["aws_secret_access_key"],
        ),
    }
    client.bucket = bucket
    return client


def upload_folder(case: Case, folder: Path):
    """An upload of every file under `folder`, stored as the patient's browser would send it."""
    from records import services as records_services

    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in paths]
    relative = [p.relative_to(folder).as_posix() for p in paths]
    return records_services.store_upload(
        case, by=case.patient, files=files, relative_paths=relative
    )


def pytest_collection_modifyitems(items):
    """Mark what drives Chromium as `browser`, and make transactional tests restore seeded data.

    A test that uses Playwright's `page` is a browser test whatever its file says (`-m "not
    browser"` must leave it out). A transactional test (real workers, the live server) empties
    every table when it ends; subspecialties and routing rules come from data migrations, so
    without a serialized rollback every later test would find none.
    """
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        marker = item.get_closest_marker("django_db")
        if marker is None or not marker.kwargs.get("transaction"):
            continue
        if not marker.kwargs.get("serialized_rollback"):
            kwargs = {**marker.kwargs, "serialized_rollback": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.fixture(scope="session", autouse=True)
def serialized_data_survives_playwright(django_db_setup):
    """Let serialized_rollback restore the migrations' data after Playwright has started.

    Playwright's sync API runs an asyncio loop on the main thread; from then on Django's
    thread-critical connection storage (asgiref) switches to a context-var store and builds a
    new connection object, which lacks the serialized data the first one was given, so every
    later test would start with no subspecialties. Shared through the class, every connection
    object has it.
    """
    connection = connections["default"]
    contents = getattr(connection, "_test_serialized_contents", None)
    if contents is not None:
        type(connection)._test_serialized_contents = contents


@pytest.fixture(autouse=True)
def live_server_settled(request):
    """A test that used the live server ends once the server has answered every request made of
    it: work left running in its threads (an image still being decoded for a page the test has
    closed) would otherwise run on into the next tests, in their logs and memory counts."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("live_server").thread.httpd
    if not hasattr(server, "in_flight"):
        server.in_flight = 0
        server.in_flight_lock = threading.Lock()
        answer = server.process_request_thread

        def counted(*args):
            try:
                answer(*args)
            finally:
                with server.in_flight_lock:
                    server.in_flight -= 1

        start = server.process_request

        def process_request(*args):
            with server.in_flight_lock:
                server.in_flight += 1
            start(*args)

        server.process_request_thread = counted
        server.process_request = process_request
    yield
    deadline = time.monotonic() + 60
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
