"""Faults around the check of an upload: no upload lost, nothing done twice.

Workers that die mid-check, tasks delivered twice, checks over their time limit, a broker that
restarts with tasks queued, database connections cut mid-check and storage that goes away in the
middle of an upload. The study is one zip of many slices, so a check takes a few seconds on a
real worker and spends most of them storing the unpacked images one by one: a kill lands after
the first attempt has already stored some of its results, which the next attempt must clear away.
"""

import contextlib
import hashlib
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from records import validation
from records.models import Instance, Series, Study, Upload, UploadFile
from requests_app import flow, services
from requests_app.models import Case, CaseEvent
from requests_app.tasks import sweep_uploads_task, validate_upload_task
from tests.conftest import free_port, make_case, upload_folder
from tests.records.dicom_factory import write_series
from tests.records.test_multipart import PART
from tests.services import broker_client, purge_broker, real_clock_environment

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SLICES = 800
SMALL = 40
VISIBILITY = 5  # seconds before Redis hands an unacknowledged task to another worker
# The broker must look drained this long, over several looks, to count as idle.
IDLE_FOR = 1.0
DONE_IN = 45


def _zipped_study(tmp_path_factory, *, slices: int, compression: int) -> Path:
    """A folder holding one zip of 128x128 MR slices."""
    loose = tmp_path_factory.mktemp("study-slices")
    folder = tmp_path_factory.mktemp("study")
    with zipfile.ZipFile(folder / "study.zip", "w", compression) as archive:
        for path in write_series(loose, n=slices, rows=128, cols=128):
            archive.write(path, f"DICOM/{path.name}")
            path.unlink()
    return folder


@pytest.fixture(scope="session")
def big_study(tmp_path_factory) -> Path:
    """A folder holding one deflated zip of 800 slices (2-6 s to check)."""
    return _zipped_study(tmp_path_factory, slices=SLICES, compression=zipfile.ZIP_DEFLATED)


@pytest.fixture(scope="session")
def small_study(tmp_path_factory) -> Path:
    """A folder holding one zip of 40 slices (well under a second to check)."""
    return _zipped_study(tmp_path_factory, slices=SMALL, compression=zipfile.ZIP_DEFLATED)


def _submit(case: Case, folder: Path) -> Upload:
    """Upload the folder and submit the request: both tasks are sent to the broker on commit."""
    upload = upload_folder(case, folder)
    services.submit_case(case, by=case.patient, missing=[])
    return upload


def _unpacked(upload: Upload):
    return UploadFile.objects.filter(upload=upload, extracted_from__isnull=False)


def _wait_until_storing_results(celery_worker, upload: Upload, *, attempt: int) -> None:
    """Poll until the given attempt is half-way: its first unpacked images are stored."""
    seen = set(_unpacked(upload).values_list("pk", flat=True))

    def storing() -> bool:
        row = Upload.objects.get(pk=upload.pk)
        assert row.status in (Upload.Status.RECEIVED, Upload.Status.VALIDATING), (
            f"attempt {attempt} finished before the test could interrupt it ({row.status}); "
            "make the study bigger"
        )
        fresh = _unpacked(upload).exclude(pk__in=seen).exists()
        return row.validation_attempts == attempt and fresh

    celery_worker.wait_for(storing, what=f"attempt {attempt} to store results", interval=0.05)


def _assert_still_unfinished(upload: Upload) -> None:
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALIDATING, "the kill came too late to interrupt"


def _drained(client) -> bool:
    """No task waiting in the queue and none taken but unacknowledged."""
    return client.llen("celery") == 0 and client.zcard("unacked_index") == 0


def _wait_until_idle(celery_worker, settings, *, broker: str | None = None) -> None:
    """Wait until the broker has stayed drained for a while.

    A worker takes a message off the queue a moment before it records it as unacknowledged, so
    one look at an empty queue and an empty unacked set can fall in between.
    """
    client = broker_client(broker or settings.CELERY_BROKER_URL)
    drained_since: float | None = None

    def idle() -> bool:
        nonlocal drained_since
        if not _drained(client):
            drained_since = None
            return False
        drained_since = drained_since or time.monotonic()
        return time.monotonic() - drained_since >= IDLE_FOR

    try:
        celery_worker.wait_for(idle, what="every task to be acknowledged", timeout=DONE_IN)
    finally:
        client.close()


def _assert_checked_once_and_routed_once(
    upload: Upload, case: Case, *, attempts: int | None, images: int = SLICES
) -> None:
    """One set of results (what an interrupted attempt stored was cleared), one routing."""
    upload.refresh_from_db()
    case.refresh_from_db()
    unpacked = _unpacked(upload)
    observed = {
        "upload status": upload.status,
        "attempts": upload.validation_attempts if attempts is not None else None,
        "images counted": upload.dicom_count,
        "studies": Study.objects.filter(case=case).count(),
        "instances": Instance.objects.filter(series__study__upload=upload).count(),
        "unpacked files": unpacked.count(),
        "unpacked files no image uses": unpacked.filter(instances__isnull=True).count(),
        "case status": case.status,
        "queue": case.queue_id,
        "routing events": CaseEvent.objects.filter(
            case=case, from_status=Case.Status.SUBMITTED
        ).count(),
    }
    assert observed == {
        "upload status": Upload.Status.VALID,
        "attempts": attempts,
        "images counted": images,
        "studies": 1,
        "instances": images,
        "unpacked files": images,
        "unpacked files no image uses": 0,
        "case status": Case.Status.AWAITING_INSURANCE,
        "queue": "neuroradiology",
        "routing events": 1,
    }


def test_pool_process_killed_mid_check_is_redelivered_and_finished_once(
    celery_worker, case, big_study, settings
):
    upload = _submit(case, big_study)
    worker = celery_worker(concurrency=1)
    _wait_until_storing_results(celery_worker, upload, attempt=1)
    (child,) = worker.child_pids()
    worker.kill_child(child)
    _assert_still_unfinished(upload)

    _wait_until_idle(celery_worker, settings)
    _assert_checked_once_and_routed_once(upload, case, attempts=2)
    assert "WorkerLostError" in worker.log(), worker.tail()
    assert worker.process.poll() is None  # the main process replaced its child and went on


def test_worker_killed_mid_check_is_redone_by_the_next_worker(
    celery_worker, case, big_study, settings
):
    upload = _submit(case, big_study)
    worker = celery_worker(concurrency=1, visibility_timeout=VISIBILITY)
    _wait_until_storing_results(celery_worker, upload, attempt=1)
    worker.kill(signal.SIGKILL)  # the main process; its pool child dies with it (PDEATHSIG)
    celery_worker.wait_for(lambda: not worker.group_pids(), what="the pool child to die")
    _assert_still_unfinished(upload)

    # A worker re-delivers an abandoned task when it starts (and then only every ~100 s),
    # and only once the task has waited out the visibility timeout: start the next one then.
    client = broker_client(settings.CELERY_BROKER_URL)
    ((_tag, taken_at),) = client.zrange("unacked_index", 0, -1, withscores=True)
    client.close()
    time.sleep(max(0.0, taken_at + VISIBILITY + 0.5 - time.time()))
    worker.restart()

    _wait_until_idle(celery_worker, settings)
    _assert_checked_once_and_routed_once(upload, case, attempts=2)


def test_task_delivered_twice_gives_one_result(celery_worker, case, big_study, settings):
    upload = _submit(case, big_study)
    validate_upload_task.delay(upload.pk)  # a duplicate, as a redelivery or a retry makes one
    worker = celery_worker(concurrency=2)  # both deliveries run at once

    _wait_until_idle(celery_worker, settings)
    # How many deliveries counted as attempts is the app's business; the results are not.
    _assert_checked_once_and_routed_once(upload, case, attempts=None)
    assert Series.objects.filter(study__upload=upload).count() == 1
    log = worker.log()
    assert log.count(f"upload {upload.code} checked") == 1, worker.tail()
    assert log.count("validate_upload_task[") >= 4, worker.tail()  # both received, both done


def test_poison_upload_fails_after_the_attempt_cap_and_waits_for_a_coordinator(
    celery_worker, case, big_study, settings
):
    # Celery does not re-deliver a task killed by its time limit (see the test below), so a
    # file that crashes the checker is played by killing the pool process on every attempt.
    upload = _submit(case, big_study)
    worker = celery_worker(concurrency=1, env={"VALIDATION_MAX_ATTEMPTS": "2"})
    for attempt in (1, 2):
        _wait_until_storing_results(celery_worker, upload, attempt=attempt)
        (child,) = worker.child_pids()
        worker.kill_child(child)
        _assert_still_unfinished(upload)

    _wait_until_idle(celery_worker, settings)  # nothing left to deliver: no loop
    upload.refresh_from_db()
    assert upload.status == Upload.Status.FAILED
    assert upload.validation_attempts == 3  # two crashes, and the delivery that gave up
    assert list(upload.problems.values_list("code", flat=True)) == ["validation_failed"]
    assert not Study.objects.filter(upload=upload).exists()
    case.refresh_from_db()
    assert case.status == Case.Status.SUBMITTED
    assert case.needs_coordinator and str(upload.code)[:8] in case.coordinator_note
    assert not CaseEvent.objects.filter(case=case, from_status=Case.Status.SUBMITTED).exists()


def _limits_scaled_to(task, hard: float) -> dict:
    """The task's own time limits (hard, and soft as a share of it), scaled down to `hard` s."""
    soft = task.soft_time_limit and hard * task.soft_time_limit / task.time_limit
    return {"time_limit": hard, "soft_time_limit": soft or None}


def test_check_over_its_time_limits_is_given_up_and_not_blamed_on_the_files(
    celery_worker, case, big_study, settings
):
    upload = _submit(case, big_study)
    # A study too big to check in time, played by limits of a quarter of a second (well under
    # what the study takes even on a quiet machine with a warm cache): they travel in the
    # message, set by the sender (a worker's own only fill in what a message leaves out), so the
    # tasks just sent are dropped and the check sent again with them.
    purge_broker(settings.CELERY_BROKER_URL)
    validate_upload_task.apply_async([upload.pk], **_limits_scaled_to(validate_upload_task, 0.25))
    worker = celery_worker(
        concurrency=1, env={"VALIDATION_MAX_ATTEMPTS": "2", "CELERY_TASK_TIME_LIMIT": "1"}
    )

    _wait_until_idle(celery_worker, settings)
    assert re.search(r"time limit \([\d.]+s\) exceeded", worker.log()), worker.tail()
    upload.refresh_from_db()
    case.refresh_from_db()
    observed = {
        "upload status": upload.status,
        "problems": sorted(upload.problems.values_list("code", flat=True)),
        "case status": case.status,
        "needs coordinator": case.needs_coordinator,
    }
    assert observed == {
        "upload status": Upload.Status.FAILED,
        "problems": ["validation_failed"],
        "case status": Case.Status.SUBMITTED,
        "needs coordinator": True,
    }


# One check at a time ---------------------------------------------------------------------------


def _hold_upload_lock(upload: Upload):
    """A session of another worker that holds the upload's lock, as a live check does."""
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s::bigint)", [validation.lock_key(upload.pk)])
    return holder


def test_a_delivery_beside_a_live_check_leaves_it_alone_and_one_after_it_takes_over(
    case, small_study, settings, tmp_path
):
    settings.VALIDATION_WORK_DIR = tmp_path
    upload = upload_folder(case, small_study)
    holder = _hold_upload_lock(upload)
    try:
        flow.check_upload(upload.pk)
        upload.refresh_from_db()
        assert (upload.status, upload.validation_attempts) == (Upload.Status.RECEIVED, 0)
    finally:
        holder.close()  # the holder's process died: its session, and the lock, are gone

    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    assert (upload.status, upload.validation_attempts) == (Upload.Status.VALID, 1)
    assert Instance.objects.filter(series__study__upload=upload).count() == SMALL


# The sweeper -------------------------------------------------------------------------------------


def _set(upload: Upload, **fields) -> Upload:
    """Put an upload in the state a lost or crashed task leaves behind."""
    Upload.objects.filter(pk=upload.pk).update(**fields)
    return upload


def test_beat_runs_the_sweeper(settings):
    assert settings.CELERY_BEAT_SCHEDULE["sweep-uploads"]["task"] == sweep_uploads_task.name


def test_sweeper_finds_checks_whose_task_was_lost_and_cases_left_behind(alice, settings):
    settings.VALIDATION_REQUEUE_AFTER_MINUTES = 15
    settings.VALIDATION_STALLED_MARGIN_MINUTES = 5
    settings.CELERY_TASK_TIME_LIMIT = 30 * 60
    now = timezone.now()
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    case = make_case(alice, complete=True)
    received = Upload.Status.RECEIVED
    validating = Upload.Status.VALIDATING

    def upload(**fields) -> Upload:
        return _set(Upload.objects.create(case=case, uploaded_by=alice), **fields)

    waited_long = upload(status=received, completed_at=ago(16))
    upload(status=received, completed_at=ago(14))  # its task is still in the queue
    stuck = upload(status=validating, completed_at=ago(60), validation_started_at=ago(36))
    upload(status=validating, completed_at=ago(60), validation_started_at=ago(34))  # may still run
    upload(status=Upload.Status.RECEIVING, created_at=ago(30 * 24 * 60))  # the patient's to finish

    def submitted_case(*statuses: str, changed: int = 20, checked: int = 20) -> Case:
        other = make_case(alice, complete=True)
        Case.objects.filter(pk=other.pk).update(
            status=Case.Status.SUBMITTED, status_changed_at=ago(changed)
        )
        for status in statuses:
            _set(
                Upload.objects.create(case=other, uploaded_by=alice),
                status=status,
                validated_at=ago(checked),
            )
        return other

    left_behind = submitted_case(Upload.Status.VALID, Upload.Status.INVALID)
    with_nothing = submitted_case()  # its own task, which asks for the images, was lost
    partly_failed = submitted_case(Upload.Status.VALID, Upload.Status.FAILED)
    submitted_case(Upload.Status.VALID, received)  # still being checked
    submitted_case(Upload.Status.FAILED)  # only a coordinator can help
    submitted_case(Upload.Status.VALID, checked=5)  # the worker moves it on now
    submitted_case(Upload.Status.VALID, changed=5)  # just submitted again

    found = validation.find_stalled(now=now)
    assert found.uploads == sorted([waited_long.pk, stuck.pk])
    assert found.cases == sorted([left_behind.pk, with_nothing.pk, partly_failed.pk])


# The broker restarts -----------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own on a free loopback port, which the test can restart."""

    def __init__(self, folder: Path, *, appendonly: bool) -> None:
        self.folder, self.appendonly = folder, appendonly
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--dir",
                    str(self.folder),
                    "--save",
                    "",  # no snapshots: what survives a restart is the append-only file's
                    "--appendonly",
                    "yes" if self.appendonly else "no",
                    "--appendfsync",
                    "everysec",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=real_clock_environment(),
            )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(Exception), broker_client(self.url) as client:
                if client.ping():
                    return self
            assert self.process.poll() is None, (self.folder / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as a container restart sends: Redis flushes its append-only file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def redis_server(request, tmp_path):
    server = RedisServer(tmp_path / "redis", appendonly=request.param).start()
    try:
        yield server
    finally:
        server.stop()


def _send(task, url: str, *args) -> None:
    """Send a task to the broker at `url` (this process's own app talks to the test's Redis)."""
    with task.app.connection_for_write(url) as broker:
        task.apply_async(args, connection=broker)


@pytest.mark.parametrize(
    "redis_server", [True, False], ids=["appendonly", "no-persistence"], indirect=True
)
def test_broker_restarted_with_a_check_queued_loses_no_upload(
    celery_worker, redis_server, case, small_study, settings
):
    upload = _submit(case, small_study)  # the test's own broker: no worker reads it here
    _send(validate_upload_task, redis_server.url, upload.pk)
    with broker_client(redis_server.url) as client:
        assert client.llen("celery") == 1
        redis_server.restart()
        assert client.llen("celery") == (1 if redis_server.appendonly else 0)

    celery_worker(
        env={"CELERY_BROKER_URL": redis_server.url, "VALIDATION_REQUEUE_AFTER_MINUTES": "0"}
    )
    _send(sweep_uploads_task, redis_server.url)  # as beat does every few minutes
    _wait_until_idle(celery_worker, settings, broker=redis_server.url)
    _assert_checked_once_and_routed_once(upload, case, attempts=1, images=SMALL)


# The database drops the worker's connections ---------------------------------------------------


def _terminate_other_sessions() -> int:
    """Cut every other session on the test database, as a PostgreSQL restart or failover does."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_database_connections_cut_mid_check_are_retried_and_not_counted(
    celery_worker, case, big_study, settings
):
    upload = _submit(case, big_study)
    worker = celery_worker(concurrency=1)
    _wait_until_storing_results(celery_worker, upload, attempt=1)
    assert _terminate_other_sessions() >= 2  # the check's connection and its lock's
    _assert_still_unfinished(upload)

    _wait_until_idle(celery_worker, settings)
    # The retry cleared what the cut-off attempt stored; the cut was not the files' doing.
    _assert_checked_once_and_routed_once(upload, case, attempts=1)
    assert "Retry in" in worker.log(), worker.tail()


# Storage goes away in the middle of an upload ----------------------------------------------------


class Relay:
    """A TCP relay on loopback in front of the S3 endpoint: `down()` is an outage, `up()` the end
    of it (the endpoint itself, and what it stores, stay as they were)."""

    def __init__(self, target: str) -> None:
        self.target = (urlsplit(target).hostname, urlsplit(target).port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> "Relay":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._listener is not None:
            # shutdown() first: close() alone leaves the socket listening until the thread
            # blocked in accept() on it returns.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: the outage began
            server = socket.create_connection(self.target)
            with self._lock:
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def storage_behind_relay(s3_bucket, s3_endpoint, settings):
    """The test's bucket, reached (by this process and its workers) through a relay."""
    relay = Relay(s3_endpoint).up()
    default = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**default, "OPTIONS": {**default["OPTIONS"], "endpoint_url": relay.url}},
    }
    try:
        yield relay
    finally:
        relay.down()


@pytest.fixture(scope="session")
def study_zip_of_two_parts(tmp_path_factory) -> bytes:
    """A stored (uncompressed) zip of 200 slices: over one 5 MiB part, so two parts."""
    folder = _zipped_study(tmp_path_factory, slices=200, compression=zipfile.ZIP_STORED)
    data = (folder / "study.zip").read_bytes()
    assert PART < len(data) < 2 * PART
    return data


def test_storage_down_mid_upload_then_back_the_upload_resumes_and_no_byte_is_lost(
    celery_worker, storage_behind_relay, patient, case, study_zip_of_two_parts, s3_bucket, settings
):
    relay, data = storage_behind_relay, study_zip_of_two_parts
    celery_worker()  # running all along, on the same storage (through the relay)
    batch = patient.start()
    key = patient.create_file(batch, "JANE_DOE_CD/study.zip", len(data))["key"]
    first = patient.put_part(batch, key, 1, data[:PART])

    relay.down()
    with pytest.raises(urllib.error.URLError):
        patient.put_part(batch, key, 2, data[PART:])
    relay.up()

    # The browser's uploader resumes: it asks what arrived and sends only the rest.
    assert [p["PartNumber"] for p in patient.list_parts(batch, key)] == [1]
    second = patient.put_part(batch, key, 2, data[PART:])
    parts = [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]
    assert patient.complete(batch, key, parts).status_code == 200
    assert patient.finish(batch).status_code == 200
    services.submit_case(case, by=case.patient, missing=[])

    upload = Upload.objects.get(code=batch["upload"])
    _wait_until_idle(celery_worker, settings)
    _assert_checked_once_and_routed_once(upload, case, attempts=1, images=200)
    digest = hashlib.sha256(data).hexdigest()
    row = upload.files.get(extracted_from__isnull=True)
    stored = s3_bucket.get_object(Bucket=s3_bucket.bucket, Key=row.key)["Body"].read()
    assert (row.size, row.sha256, hashlib.sha256(stored).hexdigest()) == (len(data), digest, digest)
