"""The run's own PostgreSQL database and Redis database, and Django configured on them.

Figures that need the application (pipeline, upload over S3, download, pages) share one
configuration: PostgreSQL ``so_bench_<pid>`` on 127.0.0.1:5432 (created, migrated and dropped by
the run), Redis database 9 as the broker, files under the run's temporary folder. Other people
run the test suite on the same servers at the same time: nothing here touches their databases.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
SECRET_KEY = "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105

_environment: dict[str, str] | None = None


def _admin_connection():
    import psycopg2

    connection = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    connection.autocommit = True
    return connection


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop(cursor, name: str) -> None:
    cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(suffix: str = "") -> str:
    """A fresh database for this run (``suffix`` names another of its own); leftovers of crashed
    runs (their pid is gone) go too."""
    name = f"so_bench_{os.getpid()}{suffix}"
    with contextlib.closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'so\\_bench\\_%%'")
        for (existing,) in cursor.fetchall():
            match = re.fullmatch(r"so_bench_(\d+)(_\w+)?", existing)
            if match and not _pid_alive(int(match.group(1))):
                _drop(cursor, existing)
        _drop(cursor, name)
        cursor.execute(f'CREATE DATABASE "{name}"')
    return name


def database_url(name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def drop_database(name: str) -> None:
    with contextlib.closing(_admin_connection()) as connection, connection.cursor() as cursor:
        _drop(cursor, name)


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def environment() -> dict[str, str]:
    """The environment of every application process of this run (web, worker, this one)."""
    if _environment is None:
        raise RuntimeError("call bench.database.setup() first")
    return dict(_environment)


def setup(workspace) -> dict[str, str]:
    """Create the database, configure Django in this process on it, migrate; once per run."""
    global _environment
    if _environment is not None:
        return environment()
    name = create_database()
    var = workspace.folder("var")
    media = workspace.folder("media")
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(name),
        "CONN_MAX_AGE": "60",
        "CELERY_BROKER_URL": REDIS_URL,
        "SECRET_KEY": SECRET_KEY,
        "VAR_DIR": str(var),
        "MEDIA_ROOT": str(media),
        "MULTIPART_DIR": str(workspace.folder("multipart")),
        "VALIDATION_WORK_DIR": str(workspace.folder("work")),  # same disk as media: hard links
        "STORAGE_BACKEND": "filesystem",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "HTTPS": "false",  # plain HTTP on loopback, as behind a TLS proxy
        "BEHIND_PROXY": "no",  # the load generator connects to the app directly
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    _environment = {**os.environ}

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        drop_database(name)
        flush_redis()

    workspace.on_close(drop)
    flush_redis()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    return environment()


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process, with the project importable."""
    env = environment()
    root = str(Path(__file__).absolute().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env
