"""Figure 3: a large upload through the part endpoints, on the embedded default and on S3.

The client speaks the protocol of ``static/js/upload.js`` (Uppy's S3 multipart: 8 MiB parts,
four at a time): create the file, then for each part sign it and PUT it, then complete, then
finish. On the embedded default (SQLite, files on disk) the parts go to our own URLs under
gunicorn (2 sync workers, as in the Dockerfile); on S3 (moto in server mode on loopback) they go
straight to the bucket on presigned URLs. The baseline is a raw copy of the same bytes (read and
write in 8 MiB blocks, no hashing) from the source file into the web app's media folder.

Web memory is the peak resident set (VmHWM) of gunicorn's workers over the whole figure.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from .embedded import environment
from .measure import Figure, Results, alternate, at_least, at_most, median, peak_rss_mb, rss_mb
from .processes import ORIGINAL_ENV, PYTHON, ROOT, free_port, wait_http
from .studies import studies_for

PART = 8 * 1024 * 1024  # static/js/upload.js: getChunkSize
PARALLEL = 4  # static/js/upload.js: limit
MiB = 1024 * 1024
MOTO_SECRET = "testing"  # noqa: S105 (moto on loopback accepts any key)


class Client:
    """The browser's uploader, on loopback, with a keep-alive connection per thread."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port = port
        token = secrets.token_hex(16)  # Django accepts a 32-character secret as both halves
        self.headers = {"Cookie": f"{cookie}; csrftoken={token}", "X-CSRFToken": token}
        self.local = threading.local()
        self.phases: list[dict[str, float]] = []

    def _connection(self, host: str, port: int) -> http.client.HTTPConnection:
        pool = self.local.__dict__.setdefault("pool", {})
        if (host, port) not in pool:
            pool[host, port] = http.client.HTTPConnection(host, port, timeout=300)
        return pool[host, port]

    def request(self, method: str, url: str, body: bytes | None = None, *, app=True, json_=True):
        parts = urlsplit(url)
        host, port = (parts.hostname or "127.0.0.1"), (parts.port or self.port)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(self.headers) if app else {}
        if body is not None:
            headers["Content-Length"] = str(len(body))
            headers["Content-Type"] = "application/json" if json_ else "application/octet-stream"
        connection = self._connection(host, port)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()  # a server that closed the kept-alive connection: once more
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:300]!r}")
        return response, data

    def post(self, url: str, payload: dict | None = None) -> dict:
        body = json.dumps(payload or {}).encode()
        return json.loads(self.request("POST", url, body)[1])

    def upload(self, case: str, source: Path, size: int) -> float:
        """Send ``source`` as one file of a new upload to ``case``; return the seconds taken."""
        batch = self.post(f"/cases/{case}/uploads/")
        start = time.perf_counter()
        created = self.post(batch["files"], {"relativePath": "CD/STUDY.ZIP", "size": size})
        key = created["key"]
        count = -(-size // PART)
        fd = os.open(source, os.O_RDONLY)

        def send(number: int) -> dict:
            signed = json.loads(self.request("GET", f"{batch['files']}{key}/parts/{number}/")[1])
            data = os.pread(fd, PART, (number - 1) * PART)
            ours = urlsplit(signed["url"]).port == self.port  # our URL needs the session; S3 not
            response, _ = self.request("PUT", signed["url"], data, app=ours, json_=False)
            return {"PartNumber": number, "ETag": response.getheader("ETag")}

        try:
            with ThreadPoolExecutor(PARALLEL) as pool:
                parts = list(pool.map(send, range(1, count + 1)))
        finally:
            os.close(fd)
        sent = time.perf_counter()
        self.post(f"{batch['files']}{key}/complete/", {"parts": parts})
        completed = time.perf_counter()
        self.post(batch["finish"])
        done = time.perf_counter()
        self.phases.append(
            {"parts": sent - start, "complete": completed - sent, "finish": done - completed}
        )
        return done - start

    def upload_folder(self, case: str, root: Path, files: list[Path]) -> float:
        """Send a CD's folder as the browser does: each file created, its part(s) signed and
        PUT, completed; four requests in flight at a time; then the batch finished."""
        batch = self.post(f"/cases/{case}/uploads/")
        start = time.perf_counter()

        def send(path: Path) -> None:
            data = path.read_bytes()
            relative = path.relative_to(root).as_posix()
            key = self.post(batch["files"], {"relativePath": relative, "size": len(data)})["key"]
            parts = []
            for number, offset in enumerate(range(0, max(len(data), 1), PART), start=1):
                url = f"{batch['files']}{key}/parts/{number}/"
                signed = json.loads(self.request("GET", url)[1])["url"]
                ours = urlsplit(signed).port == self.port
                chunk = data[offset : offset + PART]
                response, _ = self.request("PUT", signed, chunk, app=ours, json_=False)
                parts.append({"PartNumber": number, "ETag": response.getheader("ETag")})
            self.post(f"{batch['files']}{key}/complete/", {"parts": parts})

        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(send, files))
        self.post(batch["finish"])
        return time.perf_counter() - start


def raw_copy_files(files: list[Path], folder: Path) -> float:
    target = folder / f"raw-copy-{secrets.token_hex(4)}"
    target.mkdir()
    start = time.perf_counter()
    for n, path in enumerate(files):
        with open(path, "rb", buffering=0) as src, open(target / str(n), "wb") as out:
            out.write(src.read())
    seconds = time.perf_counter() - start
    shutil.rmtree(target)
    return seconds


def raw_copy(source: Path, folder: Path) -> float:
    target = folder / f"raw-copy-{secrets.token_hex(4)}"
    buffer = bytearray(PART)
    view = memoryview(buffer)
    start = time.perf_counter()
    with open(source, "rb", buffering=0) as src, open(target, "wb", buffering=0) as out:
        while n := src.readinto(buffer):
            out.write(view[:n])
    seconds = time.perf_counter() - start
    target.unlink()
    return seconds


def _source(folder: Path, size: int) -> Path:
    """``size`` bytes that do not compress (a zip of a CD), from a repeated random block."""
    path = folder / "upload-source.bin"
    block = os.urandom(PART)
    with open(path, "wb") as out:
        for offset in range(0, size, PART):
            out.write(block[: min(PART, size - offset)])
    return path


def _phases(phases: list[dict[str, float]]) -> str:
    if not phases:
        return ""
    medians = {key: median([p[key] for p in phases]) for key in phases[0]}
    return "medians: " + ", ".join(f"{key} {seconds:.2f} s" for key, seconds in medians.items())


def _web_memory(server) -> tuple[float, float]:
    """Peak and current RSS (MB) of the largest gunicorn worker."""
    workers = server.children()
    peaks = [peak_rss_mb(pid) for pid in workers]
    now = [rss_mb(pid) for pid in workers]
    return max(peaks, default=0.0), max(now, default=0.0)


def _start_web(workspace, name: str, env: dict[str, str], cases: int):
    setup = subprocess.run(
        [PYTHON, "-m", "bench.embedded", str(cases)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if setup.returncode != 0:
        raise RuntimeError(f"setting up the embedded default failed:\n{setup.stderr[-2000:]}")
    fixture = json.loads(setup.stdout.strip().splitlines()[-1])
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "secondopinion.wsgi:application"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"]
    argv += ["--no-control-socket"]  # gunicorn's default socket is one per user, shared
    server = workspace.start(name, argv, env=env)
    wait_http(server, port, "/healthz")
    return server, port, fixture


def run(results: Results, workspace, options) -> None:
    size = options.upload_mb * MiB
    folder = workspace.folder("upload")
    source = _source(folder, size)
    rounds = options.rounds
    _local(results, workspace, options, source, size, rounds)
    # moto keeps parts in Python and joins them itself: slow, and informational only
    _s3(results, workspace, options, source, size, min(rounds, 3))


def _local(results: Results, workspace, options, source: Path, size: int, rounds: int) -> None:
    var = workspace.folder("embedded-var")
    env = environment(ORIGINAL_ENV, str(var), PYTHONPATH=str(ROOT))
    server, port, fixture = _start_web(workspace, "gunicorn-embedded", env, 2 * rounds + 4)
    media = var / "media"
    study = next(s for s in studies_for(workspace, options.sizes) if s.name == "mr")
    try:
        client = Client(port, fixture["cookie"])
        cases = iter(fixture["cases"])
        start_rss = _web_memory(server)[1]

        def upload() -> float:
            seconds = client.upload(next(cases), source, size)
            shutil.rmtree(media / "cases", ignore_errors=True)  # room for the next round
            return seconds

        def folder() -> float:
            seconds = client.upload_folder(next(cases), study.root.parent, study.files)
            shutil.rmtree(media / "cases", ignore_errors=True)
            return seconds

        client.upload(next(cases), source, min(size, 64 * MiB))  # warm both workers
        samples = alternate(
            rounds, {"upload": upload, "copy": lambda: raw_copy(source, media)}, warmup=False
        )
        samples.update(
            alternate(
                rounds,
                {"folder": folder, "copy_files": lambda: raw_copy_files(study.files, media)},
                warmup=False,
            )
        )
        peak, _ = _web_memory(server)
    finally:
        workspace.stop(server)
    mb = size / 1e6
    rate = lambda key: [mb / s for s in samples[key]]  # noqa: E731
    phases = _phases(client.phases[1:])  # not the warm-up upload
    detail = (
        f"{size / MiB:,.0f} MiB in {PART // MiB} MiB parts, {PARALLEL} at a time, "
        f"gunicorn 2 sync workers, SQLite + disk; {phases}"
    )
    results.note(f"upload.local: {phases}")
    results.add(
        Figure(
            "upload.local.mb_per_s",
            median(rate("upload")),
            "MB/s",
            "raw copy of the same bytes (8 MiB read/write)",
            median(rate("copy")),
            (at_least(0.5),),
            detail=detail,
            samples=rate("upload"),
            baseline_samples=rate("copy"),
        )
    )
    study_mb = study.megabytes
    per_file = lambda key: [study_mb / s for s in samples[key]]  # noqa: E731
    files_per_s = median([len(study.files) / s for s in samples["folder"]])
    results.add(
        Figure(
            "upload.local.folder_mb_per_s",
            median(per_file("folder")),
            "MB/s",
            "raw copy of the same files",
            median(per_file("copy_files")),
            (),
            detail=f"the {study.label} study as a CD folder: {len(study.files)} files, "
            f"{files_per_s:.0f} files/s, each create + sign + PUT + complete, "
            f"{PARALLEL} at a time; informational",
            samples=per_file("folder"),
            baseline_samples=per_file("copy_files"),
        )
    )
    results.add(
        Figure(
            "upload.local.web_peak_rss",
            peak,
            "MB",
            "gunicorn worker RSS before the upload",
            start_rss,
            (at_most(200, ratio=False, unit="MB"),),
            detail="VmHWM of the largest gunicorn worker over all rounds",
        )
    )


def _s3(results: Results, workspace, options, source: Path, size: int, rounds: int) -> None:
    import boto3

    moto_port = free_port()
    moto_env = {**ORIGINAL_ENV, "PYTHONPATH": str(ROOT)}
    moto = workspace.start(
        "moto",
        [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        env=moto_env,
    )
    endpoint = f"http://127.0.0.1:{moto_port}"
    try:
        wait_http(moto, moto_port, "/")
        bucket = "so-bench"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key=MOTO_SECRET,
        )
        s3.create_bucket(Bucket=bucket)
        var = workspace.folder("embedded-s3-var")
        env = environment(
            ORIGINAL_ENV,
            str(var),
            PYTHONPATH=str(ROOT),
            STORAGE_BACKEND="s3",
            AWS_STORAGE_BUCKET_NAME=bucket,
            AWS_S3_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY=MOTO_SECRET,
            AWS_S3_ENCRYPTION="false",
        )
        server, port, fixture = _start_web(workspace, "gunicorn-s3", env, rounds + 2)
        try:
            client = Client(port, fixture["cookie"])
            cases = iter(fixture["cases"])
            start_rss = _web_memory(server)[1]

            def empty_bucket() -> None:
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                    for item in page.get("Contents", []):
                        s3.delete_object(Bucket=bucket, Key=item["Key"])

            def upload() -> float:
                seconds = client.upload(next(cases), source, size)
                empty_bucket()
                return seconds

            client.upload(next(cases), source, min(size, 64 * MiB))
            empty_bucket()
            samples = alternate(
                rounds, {"upload": upload, "copy": lambda: raw_copy(source, var)}, warmup=False
            )
            peak, _ = _web_memory(server)
        finally:
            workspace.stop(server)
    finally:
        with contextlib.suppress(Exception):
            workspace.stop(moto)
    mb = size / 1e6
    rate = lambda key: [mb / s for s in samples[key]]  # noqa: E731
    results.note(f"upload.s3: {_phases(client.phases[1:])}")
    results.add(
        Figure(
            "upload.s3.mb_per_s",
            median(rate("upload")),
            "MB/s",
            "raw copy of the same bytes (8 MiB read/write)",
            median(rate("copy")),
            (),
            detail=f"{size / MiB:,.0f} MiB to moto server on loopback; informational (moto is "
            "not S3: it keeps parts in Python and joins them on completion)",
            samples=rate("upload"),
            baseline_samples=rate("copy"),
        )
    )
    results.add(
        Figure(
            "upload.s3.web_peak_rss",
            peak,
            "MB",
            "gunicorn worker RSS before the upload",
            start_rss,
            (at_most(200, ratio=False, unit="MB"),),
            detail="VmHWM of the largest gunicorn worker: the bytes never pass through it",
        )
    )
