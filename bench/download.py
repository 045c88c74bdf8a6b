"""Figure 4: a reviewer downloads the 600-slice study as a zip streamed through gunicorn.

The download view lives in ``reviewers/``; while no URL of the ``reviewers`` namespace is named
for a study zip or download ("study-zip", "study-download"...), this figure is skipped with a
note. Once one exists, the figure
finds it, stores the MR study as a validated upload of a case assigned to a neuroradiologist,
streams the zip through gunicorn (2 sync workers) to nowhere, and compares the throughput with
``cat`` of the same stored files read through a pipe by this process (what streaming the bytes
costs with no zip and no web server), and with the same zip built beforehand and served as a
file by the same server (``bench/urls.py``: gunicorn sends it with sendfile). Also measured:
that the Content-Length announced before the first byte is exactly what arrives, and how far
the serving worker's memory grows (VmHWM over its RSS before the download). Building the same
zip in this process (zipstream-ng, stored) is informational. The stored files arrive as files
our part endpoints link into storage do: unread, so the worker that checks them takes their
SHA-256 and CRC-32, which the zip's headers announce before each file's bytes.
"""

from __future__ import annotations

import http.client
import itertools
import subprocess
import time

from . import database
from .logins import session_cookie
from .measure import (
    Figure,
    Results,
    alternate,
    at_least,
    at_most,
    equal,
    median,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
)
from .processes import PYTHON, free_port, wait_http

CHUNK = 1024 * 1024


def download_url_names() -> list[str]:
    """Names of the reviewers' URLs that look like a study download, e.g. "reviewers:study-zip"."""
    from django.urls import get_resolver

    resolver = get_resolver()
    names = []
    for namespace, (_prefix, sub) in resolver.namespace_dict.items():
        if namespace != "reviewers":
            continue
        for name in sub.reverse_dict:
            if isinstance(name, str) and "study" in name and ("zip" in name or "download" in name):
                names.append(f"reviewers:{name}")
    return sorted(names)


def _reverse(names: list[str], case, study) -> str | None:
    """The first of the download URLs that takes some of (case code, study code)."""
    from django.urls import NoReverseMatch, reverse

    candidates = [(case.code,), (case.code, study.code), (study.code,)]
    for name, args in itertools.product(names, candidates):
        try:
            return reverse(name, args=args)
        except NoReverseMatch:
            continue
    return None


def _zip_in_process(paths) -> float:
    from zipstream import ZIP_STORED, ZipStream

    start = time.perf_counter()
    stream = ZipStream(compress_type=ZIP_STORED, sized=True)
    for path in paths:
        stream.add_path(str(path), arcname=path.name)
    for _chunk in stream:
        pass
    return time.perf_counter() - start


def _cat(paths) -> float:
    """``cat`` of the files into a pipe this process reads, as the HTTP client reads."""
    start = time.perf_counter()
    with subprocess.Popen(["cat", *map(str, paths)], stdout=subprocess.PIPE) as cat:
        while cat.stdout.read(CHUNK):
            pass
    if cat.returncode:
        raise RuntimeError(f"cat failed ({cat.returncode})")
    return time.perf_counter() - start


def _stream(port: int, path: str, cookie: str, keep=None) -> tuple[float, int, int]:
    """Seconds, bytes received and the Content-Length announced; the bytes go to ``keep``."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request("GET", path, headers={"Cookie": cookie})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    announced = int(response.getheader("Content-Length") or -1)
    size = 0
    # read1: whatever arrived, so a wrong Content-Length shows as a difference, not a hang
    while chunk := response.fp.read1(CHUNK):
        size += len(chunk)
        if keep is not None:
            keep.write(chunk)
    connection.close()
    return time.perf_counter() - start, size, announced


def run(results: Results, workspace, options) -> None:
    database.setup(workspace)
    names = download_url_names()
    if not names:
        results.skip(
            "download",
            "reviewers has no study download view yet (no URL named like 'study-zip' or "
            "'study-download' in the reviewers namespace); the figure runs once it exists",
        )
        return
    from django.core.files.storage import default_storage

    from records import studyzip
    from requests_app import flow
    from requests_app.models import Case

    from . import seed
    from .pipeline import _stored_upload
    from .studies import studies_for

    people = seed.people()
    study_files = next(s for s in studies_for(workspace, options.sizes) if s.name == "mr")
    case, upload = _stored_upload(study_files, people.patient)
    from records.models import Upload, UploadFile

    # As files our part endpoints link into storage arrive: unread, so the worker that checks
    # them takes their digests (the SHA-256, and the CRC-32 the zip's headers announce).
    UploadFile.objects.filter(upload=upload).update(sha256="")
    from records.services import finish_upload

    finish_upload(upload, by=people.patient)
    flow.check_upload(upload.pk)  # in this process: the rows a worker would write
    profile = people.reviewer.reviewer_profile
    Case.objects.filter(pk=case.pk).update(status=Case.Status.IN_REVIEW, assigned_reviewer=profile)
    study = Upload.objects.get(pk=upload.pk).studies.get()
    url = _reverse(names, case, study)
    if url is None:
        results.skip("download", f"could not build a URL for {names} from case/study codes")
        return
    cookie = session_cookie(people.reviewer)
    stored = [default_storage.path(row.key) for row in studyzip.study_files(case)]
    prebuilt = workspace.folder("prebuilt") / "study.zip"  # the first download, kept

    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "secondopinion.wsgi:application"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"]
    argv += ["--no-control-socket"]
    env = database.python_env({"BENCH_PREBUILT_ZIP": str(prebuilt)})
    server = workspace.start("gunicorn-download", argv, env=env)
    sizes: list[int] = []
    mismatches: list[int] = []
    growth: list[float] = []
    try:
        wait_http(server, port, "/healthz")
        with prebuilt.open("wb") as keep:
            _stream(port, url, cookie, keep)

        def download() -> float:
            workers = server.children()
            before = {pid: rss_mb(pid) for pid in workers}
            for pid in workers:
                reset_peak_rss(pid)
            seconds, size, announced = _stream(port, url, cookie)
            growth.append(max(peak_rss_mb(pid) - before[pid] for pid in workers))
            sizes.append(size)
            mismatches.append(abs(size - announced))
            return seconds

        samples = alternate(
            options.rounds,
            {
                "download": download,
                "cat": lambda: _cat(stored),
                "prebuilt": lambda: _stream(port, "/bench/prebuilt/", "")[0],
                "zip": lambda: _zip_in_process(sorted(study_files.files)),
            },
        )
    finally:
        workspace.stop(server)
    mb = max(sizes) / 1e6
    rate = lambda key: [mb / s for s in samples[key]]  # noqa: E731
    detail = f"GET {url} through gunicorn (2 sync workers), {mb:,.0f} MB, {study_files.label}"
    results.add(
        Figure(
            "download.mr.mb_per_s",
            median(rate("download")),
            "MB/s",
            "cat of the stored files into a pipe",
            median(rate("cat")),
            (at_least(0.6),),
            detail=detail,
            samples=rate("download"),
            baseline_samples=rate("cat"),
        )
    )
    results.add(
        Figure(
            "download.mr.vs_prebuilt",
            median(rate("download")),
            "MB/s",
            "the same zip prebuilt, served as a file (sendfile)",
            median(rate("prebuilt")),
            (at_least(1.0),),
            detail=detail,
            samples=rate("download"),
            baseline_samples=rate("prebuilt"),
        )
    )
    results.add(
        Figure(
            "download.mr.zip_in_process_mb_per_s",
            median(rate("zip")),
            "MB/s",
            "cat of the stored files into a pipe",
            median(rate("cat")),
            (),
            detail="zipstream-ng, stored, in this process; informational",
            samples=rate("zip"),
            baseline_samples=rate("cat"),
        )
    )
    results.add(
        Figure(
            "download.mr.content_length_error",
            max(mismatches),
            "bytes",
            "",
            None,
            (equal(0, ratio=False),),
            detail="largest difference between the Content-Length sent and the bytes received",
        )
    )
    results.add(
        Figure(
            "download.mr.web_memory_growth",
            max(growth),
            "MB",
            "",
            None,
            (at_most(32, ratio=False, unit="MB"),),
            detail="VmHWM of the gunicorn workers over their RSS before each download, largest",
            samples=growth,
        )
    )
