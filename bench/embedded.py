"""The embedded default (SQLite, files on disk, no server) as the upload benchmark's web app.

``python -m bench.embedded N`` runs inside that configuration (the environment says where its
var/ folder is): it migrates, creates a patient with N draft cases, logs the patient in and
prints the session cookie and the case codes as JSON for the benchmark process.
"""

from __future__ import annotations

import json
import sys

APP_VARIABLES = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "STORAGE_BACKEND",
    "MEDIA_ROOT",
    "MULTIPART_DIR",
    "VALIDATION_WORK_DIR",
    "SECRET_KEY",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_PUBLIC_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_ENCRYPTION",
    "ALLOWED_HOSTS",
    "DEBUG",
    "PATIENT_MAX_OPEN_DRAFTS",
    "PATIENT_QUOTA_BYTES",
)


def environment(base: dict[str, str], var_dir: str, **extra: str) -> dict[str, str]:
    """``base`` without any of the application's variables: what a fresh clone runs with."""
    env = {k: v for k, v in base.items() if k not in APP_VARIABLES}
    env.update({"VAR_DIR": var_dir, "DJANGO_SETTINGS_MODULE": "secondopinion.settings"})
    # One patient opens a request per round and sends far more than a patient would.
    env.update({"PATIENT_MAX_OPEN_DRAFTS": "100000", "PATIENT_QUOTA_BYTES": str(2**60)})
    env.update({"LOG_LEVEL": "WARNING", **extra})
    return env


def main(cases: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from requests_app.services import create_draft

    from .logins import session_cookie

    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="bench-uploader@example.com", defaults={"email": "bench-uploader@example.com"}
    )
    codes = [str(create_draft(patient=user).code) for _ in range(cases)]
    print(json.dumps({"cookie": session_cookie(user), "cases": codes}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
