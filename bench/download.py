"""Figure 4: a reviewer downloads the 600-slice study as a zip streamed through gunicorn.

The download view lives in ``reviewers/``; while no URL of the ``reviewers`` namespace is named
for a study zip or download ("study-zip", "study-download"...), this figure is skipped with a
note. Once one exists, the figure
finds it, stores the MR study as a validated upload of a case assigned to a neuroradiologist,
streams the zip through gunicorn (2 sync workers) to nowhere, and compares the throughput with
building the same zip (zipstream-ng, stored, as the design says) in this process.
"""

from __future__ import annotations

import http.client
import itertools
import time

from . import database
from .measure import Figure, Results, alternate, median
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


def _stream(port: int, path: str, cookie: str) -> tuple[float, int]:
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request("GET", path, headers={"Cookie": cookie})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    size = 0
    while chunk := response.read(CHUNK):
        size += len(chunk)
    connection.close()
    return time.perf_counter() - start, size


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
    from django.conf import settings
    from django.test import Client

    from records import validation
    from requests_app.models import Case

    from . import seed
    from .pipeline import _stored_upload
    from .studies import studies_for

    people = seed.people()
    study_files = next(s for s in studies_for(workspace, options.sizes) if s.name == "mr")
    case, upload = _stored_upload(study_files, people.patient)
    from records.models import Upload
    from records.services import finish_upload

    finish_upload(upload, by=people.patient)
    validation.validate_upload(upload.pk)  # in this process: the rows a worker would write
    profile = people.reviewer.reviewer_profile
    Case.objects.filter(pk=case.pk).update(status=Case.Status.IN_REVIEW, assigned_reviewer=profile)
    study = Upload.objects.get(pk=upload.pk).studies.get()
    url = _reverse(names, case, study)
    if url is None:
        results.skip("download", f"could not build a URL for {names} from case/study codes")
        return
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(people.reviewer)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "secondopinion.wsgi:application"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"]
    argv += ["--no-control-socket"]
    server = workspace.start("gunicorn-download", argv, env=database.python_env())
    sizes: list[int] = []
    try:
        wait_http(server, port, "/healthz")

        def download() -> float:
            seconds, size = _stream(port, url, cookie)
            sizes.append(size)
            return seconds

        samples = alternate(
            options.rounds,
            {"download": download, "zip": lambda: _zip_in_process(sorted(study_files.files))},
        )
    finally:
        workspace.stop(server)
    mb = max(sizes) / 1e6
    rate = lambda key: [mb / s for s in samples[key]]  # noqa: E731
    results.add(
        Figure(
            "download.mr.mb_per_s",
            median(rate("download")),
            "MB/s",
            "zipstream-ng zip of the same files, in process",
            median(rate("zip")),
            (),  # the issue sets no target for downloads yet
            detail=f"GET {url} through gunicorn, {mb:,.0f} MB, {study_files.label}",
            samples=rate("download"),
            baseline_samples=rate("zip"),
        )
    )
