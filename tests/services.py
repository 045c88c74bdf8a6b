"""Real processes for integration tests: Celery workers on the test's database, broker and storage.

Loaded as a pytest plugin (`pytest_plugins = ["tests.services"]` in tests/conftest.py). A worker
is a separate process, so it only sees committed rows: tests that start one use
`@pytest.mark.django_db(transaction=True, serialized_rollback=True)` (the flush after each such
test would otherwise take the seeded subspecialties and routing rules with it).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest

from secondopinion.processes import child_pids, group_members, stop_group

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
LOG_TAIL = 60

T = TypeVar("T")


class Worker:
    """One `celery worker` process (and its pool children), logging to a file."""

    def __init__(self, *, env: dict[str, str], log_path: Path, concurrency: int) -> None:
        self.env, self.log_path, self.concurrency = env, log_path, concurrency
        self.name = f"test-{uuid.uuid4().hex[:10]}@%h"
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int:
        assert self.process is not None, "the worker was never started"
        return self.process.pid

    def start(self) -> "Worker":
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "secondopinion",
                    "worker",
                    "--loglevel=INFO",
                    f"--concurrency={self.concurrency}",
                    "--pool=prefork",
                    # Workers of other tests must not sync state with this one, and startup
                    # should not wait for their replies.
                    "--without-mingle",
                    "--without-gossip",
                    "-n",
                    self.name,
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group, so teardown can reach pool children a kill orphaned.
                start_new_session=True,
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if "ready." in self.log(since_start=True):
                return
            if self.process.poll() is not None:
                pytest.fail(f"The Celery worker exited at start-up:\n{self.tail()}")
            time.sleep(0.1)
        pytest.fail(f"The Celery worker was not ready within {READY_TIMEOUT:.0f} s:\n{self.tail()}")

    def log(self, *, since_start: bool = False) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset if since_start else 0)
            return log.read().decode("utf-8", "replace")

    def tail(self, lines: int = LOG_TAIL) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def child_pids(self) -> list[int]:
        """The pool processes: those whose parent is the worker's main process."""
        return child_pids(self.pid)

    def group_pids(self) -> list[int]:
        """Every process left of this worker: the main one and its pool, orphaned or not."""
        return group_members(self.pid)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the main process (SIGKILL: and wait until it is gone)."""
        os.kill(self.pid, sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout=STOP_TIMEOUT)

    def kill_child(self, pid: int, sig: int = signal.SIGKILL) -> None:
        """Signal one pool process of this worker (and only one of this worker's)."""
        assert pid in self.child_pids(), f"{pid} is not a pool process of worker {self.pid}"
        os.kill(pid, sig)

    def restart(self) -> "Worker":
        """Stop this worker if it still runs, and start a new process like it."""
        self.stop()
        with self.log_path.open("a") as log:
            log.write("\n--- restarted by the test ---\n")
        return self.start()

    def stop(self) -> None:
        """SIGTERM (warm shutdown), then SIGKILL for the whole group; waits until all are gone.

        What is left of the group must go: the test database is dropped later, and PostgreSQL
        refuses while a pool child still holds a connection.
        """
        if self.process is None:
            return
        survivors = stop_group(self.process, within=STOP_TIMEOUT)
        if survivors:
            raise RuntimeError(f"worker processes {survivors} survived SIGKILL")
        self.process.wait(timeout=STOP_TIMEOUT)


def database_url(database: dict) -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    if database["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("Tests with a real worker need PostgreSQL: set DATABASE_URL=postgres://...")
    user = quote(database.get("USER") or "", safe="")
    password = quote(database.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(database['NAME'], safe='')}"


def storage_environment(storage: dict) -> dict[str, str]:
    """STORAGE_BACKEND and friends that give the worker the test's default storage."""
    options = storage["OPTIONS"]
    if storage["BACKEND"] == "django.core.files.storage.FileSystemStorage":
        return {"STORAGE_BACKEND": "filesystem", "MEDIA_ROOT": str(options["location"])}
    if storage["BACKEND"] == "storages.backends.s3.S3Storage":
        return {
            "STORAGE_BACKEND": "s3",
            "AWS_STORAGE_BUCKET_NAME": options["bucket_name"],
            "AWS_S3_ENDPOINT_URL": options.get("endpoint_url") or "",
            "AWS_S3_REGION_NAME": options.get("region_name") or "us-east-1",
            "AWS_ACCESS_KEY_ID": options.get("access_key") or "",
            "AWS_SECRET_ACCESS_KEY": options.get("secret_key") or "",
            # Whatever the developer's shell or .env says: test buckets encrypt, as production's.
            "AWS_S3_ENCRYPTION": "true",
        }
    pytest.fail(f"No worker environment for storage {storage['BACKEND']}")


def real_clock_environment() -> dict[str, str]:
    """This process's environment without libfaketime (`manage.py test --clock=...`).

    Servers a test starts itself (Redis) keep the real clock, as they would in production, and
    some refuse to start under the preload; so does the whole app when a test starts it as a
    person would (`manage.py up`), to check how it starts and stops. Our own processes that work
    for a test (Celery workers) share the test's clock.
    """
    env = {name: value for name, value in os.environ.items() if name != "FAKETIME"}
    preload = [lib for lib in env.pop("LD_PRELOAD", "").split() if "faketime" not in lib]
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    return env


def broker_client(url: str):
    import redis

    if not url.startswith(("redis://", "rediss://")):
        pytest.fail("Tests with a real worker need Redis: set CELERY_BROKER_URL=redis://...")
    return redis.Redis.from_url(url)


def purge_broker(url: str) -> None:
    """Drop every waiting and unacknowledged task message in this Redis database.

    Transactional tests elsewhere send tasks on commit with no worker running; their messages
    name primary keys that later tests may reuse.
    """
    client = broker_client(url)
    keys = [b"celery", b"unacked", b"unacked_index", b"unacked_mutex"]
    keys += list(client.scan_iter(match="celery\x06\x16*"))  # kombu's priority sub-queues
    client.delete(*keys)
    client.close()


def wait_for(
    condition: Callable[[], T],
    *,
    what: str,
    timeout: float = 30.0,
    interval: float = 0.2,
    workers: Iterable[Worker] = (),
) -> T:
    """Poll `condition` until it returns something truthy; fail with the workers' logs if not."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n\n".join(f"--- worker {w.pid} log ---\n{w.tail()}" for w in workers)
            pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.\n{logs}")
        time.sleep(interval)


class Workers:
    """What the `celery_worker` fixture yields: call it to start a worker."""

    def __init__(self, settings, folder: Path) -> None:
        self.settings, self.folder = settings, folder
        self.started: list[Worker] = []

    def __call__(
        self,
        *,
        concurrency: int = 1,
        visibility_timeout: int | None = None,
        env: dict[str, str] | None = None,
    ) -> Worker:
        """A ready worker on the test's database, broker and default storage (read now, so
        fixtures like `s3_bucket` that change the storage are seen).

        Other settings the test changes do not reach the worker: pass them as environment
        variables in `env` (e.g. `{"VALIDATION_MAX_ATTEMPTS": "2"}`).
        """
        n = len(self.started) + 1
        worker = Worker(
            env=self.environment(visibility_timeout=visibility_timeout, extra=env or {}),
            log_path=self.folder / f"worker-{n}.log",
            concurrency=concurrency,
        )
        self.started.append(worker)
        return worker.start()

    def environment(self, *, visibility_timeout: int | None, extra: dict[str, str]) -> dict:
        settings = self.settings
        work = self.folder / "work"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "secondopinion.settings",
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "VAR_DIR": str(self.folder / "var"),
            "MULTIPART_DIR": str(settings.MULTIPART_DIR),
            # Beside the test's media folder (both under pytest's basetemp): hard links work.
            "VALIDATION_WORK_DIR": str(work),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **storage_environment(settings.STORAGES["default"]),
        }
        if visibility_timeout is not None:
            env["CELERY_VISIBILITY_TIMEOUT"] = str(visibility_timeout)
        env.update(extra)
        return env

    def wait_for(self, condition: Callable[[], T], *, what: str, **kwargs) -> T:
        return wait_for(condition, what=what, workers=self.started, **kwargs)

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()
            # Captured by pytest and shown only when the test failed.
            print(f"--- worker {worker.pid} log (last {LOG_TAIL} lines) ---\n{worker.tail()}")


@pytest.fixture
def celery_worker(transactional_db, django_db_serialized_rollback, settings, tmp_path_factory):
    """Start real Celery workers for this test: `worker = celery_worker(concurrency=2, ...)`.

    The broker's queue is purged when this fixture is set up (so request it before anything
    that sends tasks in its own setup), and every worker is stopped at teardown, before the
    test's data is flushed.
    """
    purge_broker(settings.CELERY_BROKER_URL)
    workers = Workers(settings, tmp_path_factory.mktemp("celery"))
    try:
        yield workers
    finally:
        workers.stop_all()
        purge_broker(settings.CELERY_BROKER_URL)
