"""/healthz: the state of the database, the task broker and file storage, as JSON."""

import asyncio
import dataclasses
import errno
import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import storages
from django.http import JsonResponse
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from .celery import app as celery_app


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection (Redis, or the embedded file broker)."""

    def run(self) -> None:
        try:
            with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
                connection.ensure_connection(max_retries=1, timeout=3)
        except Exception as exc:  # kombu raises transport-specific errors
            raise ServiceUnavailable("Broker unreachable.") from exc


@dataclasses.dataclass
class Storage(HealthCheck):
    """File storage answers a read: a HEAD on the bucket, or a look at the folder on disk.

    Nothing is written: the probe runs every few seconds, and a file written and deleted each
    time churns the bucket (its versions, its access log) and fails where the probe may read
    but not write.
    """

    def run(self) -> None:
        storage = storages["default"]
        try:
            if hasattr(storage, "bucket_name"):
                storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
            else:
                _check_folder(Path(storage.location))
        except Exception as exc:  # boto3 and the file system raise their own errors
            raise ServiceUnavailable("Storage unreachable.") from exc


def _check_folder(location: Path) -> None:
    """The media folder can be listed; before the first file is stored (storage makes the
    folder then), the nearest folder above it must let storage make it."""
    if location.exists():
        os.listdir(location)
        return
    parent = next(folder for folder in location.parents if folder.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise NotADirectoryError(errno.ENOTDIR, "storage's folder cannot be made")


class HealthzView(HealthCheckView):
    checks = (Database, Broker, Storage)

    async def get(self, request, *args, **kwargs):
        with self.get_executor() as executor:
            self.results = await asyncio.gather(
                *(check.get_result(executor) for check in self.get_checks())
            )
        return self.render_to_response_json(503)

    def render_to_response_json(self, status):
        results = {
            repr(result.check).split("(")[0].lower(): "ok" if result.error is None else "error"
            for result in self.results
        }
        healthy = all(state == "ok" for state in results.values())
        return JsonResponse(
            {"status": "ok" if healthy else "error", "checks": results},
            status=200 if healthy else status,
        )
