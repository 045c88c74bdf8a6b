"""Downloading a 300 MB study must not grow the web process by 32 MB or more.

The study is served by a real gunicorn worker (one sync worker, as in production) in its own
process, so what is measured is that process's resident memory, sampled from /proc while the
test reads the zip in chunks; nothing of the test's own memory is counted. The files' CRC-32s
are on their rows, as the upload leaves them, so their bytes go out by sendfile; the archive
that arrives is then checked entry by entry.
"""

import os
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from records.models import Instance, Series, Study, Upload, UploadFile
from reviewers import services
from tests.conftest import free_port
from tests.records.dicom_factory import make_dataset
from tests.reviewers.conftest import make_reviewer, queued_case

STUDY_BYTES = 300 * 1024 * 1024
GROWTH_LIMIT = 32 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _write_study(case, media: Path) -> int:
    """An MR study of 2 MB slices, ~300 MB, written straight to storage with its rows."""
    upload = Upload.objects.create(
        case=case, uploaded_by=case.patient, status=Upload.Status.VALID, completed_at=timezone.now()
    )
    study = Study.objects.create(
        case=case, upload=upload, study_instance_uid="1.2.3", modalities="MR", body_parts="BRAIN"
    )
    series = Series.objects.create(study=study, series_instance_uid="1.2.3.1", modality="MR")
    dataset = make_dataset(rows=1024, cols=1024)  # 2 MiB of 16-bit pixels per slice
    total, index = 0, 0
    while total < STUDY_BYTES:
        index += 1
        dataset.SOPInstanceUID = f"1.2.3.1.{index}"
        dataset.InstanceNumber = index
        row = UploadFile(
            upload=upload,
            relative_path=f"CD/DICOM/SER1/IM{index:04d}",
            status=UploadFile.Status.COMPLETE,
        )
        target = media / row.key
        target.parent.mkdir(parents=True, exist_ok=True)
        dataset.save_as(target, enforce_file_format=True)
        data = target.read_bytes()
        row.size, row.crc32 = len(data), zlib.crc32(data)
        row.save()
        Instance.objects.create(series=series, file=row, sop_instance_uid=dataset.SOPInstanceUID)
        total += row.size
    return total


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_zip_of_a_300_mb_study_keeps_the_web_process_flat(client, alice, tmp_path):
    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    reader = make_reviewer("reader@example.com", "Dr. Memory Reader")
    case = queued_case(alice)
    services.claim_case(case, reviewer=reader, by=reader.user)
    study_bytes = _write_study(case, media)
    client.force_login(reader.user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    port = free_port()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "SECRET_KEY": settings.SECRET_KEY,
        "STORAGE_BACKEND": "filesystem",
        "MEDIA_ROOT": str(media),
        "VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "secondopinion.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
            "--worker-class=sync",
            "--timeout=300",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def get(path: str):
        request = urllib.request.Request(base + path, headers={"Cookie": cookie})  # noqa: S310
        return urllib.request.urlopen(request, timeout=120)  # noqa: S310 (loopback only)

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(f"/reviewer/cases/{case.code}/").read()  # also warms up the worker
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        (worker,) = _children(server.pid)
        baseline = _rss(worker)
        peak = baseline
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _rss(worker))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        received, tail = 0, b""
        try:
            with (
                get(f"/reviewer/cases/{case.code}/study.zip") as response,
                (tmp_path / "study.zip").open("wb") as kept,
            ):
                length = int(response.headers["Content-Length"])
                while chunk := response.read(1024 * 1024):
                    received += len(chunk)
                    tail = (tail + chunk)[-22:]
                    kept.write(chunk)
        finally:
            done.set()
            sampler.join()
    finally:
        server.terminate()
        server.wait(timeout=30)

    growth = peak - baseline
    print(
        f"\nzip of {study_bytes / 2**20:.0f} MiB study ({received / 2**20:.0f} MiB sent): "
        f"gunicorn worker RSS {baseline / 2**20:.1f} -> peak {peak / 2**20:.1f} MiB, "
        f"growth {growth / 2**20:.1f} MiB"
    )
    assert study_bytes >= STUDY_BYTES
    assert received == length and length > study_bytes
    assert tail.startswith(b"PK\x05\x06")  # a complete archive: end of central directory
    with zipfile.ZipFile(tmp_path / "study.zip") as archive:
        assert archive.testzip() is None  # every entry's bytes match the CRC-32 announced
        assert len(archive.infolist()) == UploadFile.objects.filter(upload__case=case).count()
    assert growth < GROWTH_LIMIT, f"web process grew by {growth / 2**20:.1f} MiB"
