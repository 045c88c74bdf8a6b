"""Figure 6: time to first image in the reviewer's study viewer, in headless Chromium.

Two cases, each assigned to a reviewer: the synthetic MR (``--mr-slices`` x ``--side``²,
uncompressed) and the four-view mammogram (``--mg-columns`` x ``--mg-rows``) compressed with
JPEG 2000 lossless (pydicom with pylibjpeg-openjpeg). The app is served by gunicorn (2 sync
workers, as in the Dockerfile). Time to first image is measured from ``page.goto`` of the viewer
page to the first moment a canvas of the viewer holds more than one grey level (checked each
animation frame by a script the page runs from its start, ``WATCH``), in a fresh browser context
each time (no HTTP cache). Cold: the viewer's
decoded-image cache (the file cache under the run's VAR_DIR) is emptied first, so the server
decodes the first image; warm: it holds the decoded copy. The page draws each current pane's
first image from a PNG the server renders (WADO-RS ``frames/1/rendered``) before the viewer's
script has started, so that is what the first image usually is. After each timing the page is
left to finish loading (``data-ready``), so no decode of one round spills into the next; the
time from ``page.goto`` to ``data-ready`` (the whole viewer started, its own images drawn) is a
second, informative figure against the same baseline.

Baseline, in the same rounds: one ``curl`` process (or Python's http.client when curl is
missing) fetching with the reviewer's session the viewer page's HTML and then the first image
the page itself requested (the rendered PNG, or else a WADO-RS frame; served from the warm
cache: the bytes the browser needs before its first image, without any decode). Target: at most
2x, cold and warm.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import time
from pathlib import Path

from . import database
from .logins import session_cookie
from .measure import Figure, Results, alternate, at_most, median
from .processes import PYTHON, free_port, wait_http

# Watches, from the page's first script on, each animation frame, for the first moment a canvas of
# the viewer shows a picture (more than one grey level in its pixels), and says so on the console.
# It is added to the context as an init script so that nothing is evaluated in the page while it
# loads: Playwright's own polling (``wait_for_function``) first injects its script, which took 30
# ms of the page's main thread in a trace, time no reader's browser spends.
WATCH = """(() => {
  if (window.top !== window) return;
  const drawn = () => {
    const root = document.querySelector("[data-study-viewer]");
    if (!root) return false;
    if (root.dataset.error) throw new Error("viewer: " + root.dataset.error);
    for (const canvas of root.querySelectorAll("canvas")) {
      if (!canvas.width || !canvas.height) continue;
      const context = canvas.getContext("2d");
      if (!context) continue;
      const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 4 * 37; i < data.length; i += 4 * 37) {
        if (data[i] !== data[0]) return true;
      }
    }
    return false;
  };
  const check = () => {
    try {
      if (drawn()) return console.debug("bench: first image drawn");
    } catch (error) {
      return console.debug("bench: " + error.message);
    }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();"""
DRAWN_MESSAGE = "bench: first image drawn"
TIMEOUT_MS = 180_000
# Where the time went, in ms from the start of the navigation: the page's HTML received, the first
# image requested and received (Resource Timing). The viewer's own script and images are asked for
# only after the first image is drawn, so they are not among them.
MARKS = """() => {
  const [navigation] = performance.getEntriesByType("navigation");
  const resources = performance.getEntriesByType("resource");
  const end = (test) => {
    const entry = resources.find((r) => test(r.name));
    return entry ? entry.responseEnd : null;
  };
  return {
    html: navigation ? navigation.responseEnd : null,
    asked: (resources.find((r) => r.name.includes("/instances/")) || {}).startTime ?? null,
    image: end((url) => url.includes("/instances/")),
  };
}"""


def _mammogram_j2k(workspace, sizes):
    """The bench's four-view mammogram, each view recompressed as JPEG 2000 lossless."""
    from pydicom import dcmread
    from pydicom.uid import JPEG2000Lossless

    from .studies import Study, write_mammogram

    plain = write_mammogram(workspace.folder("viewer-mg-plain") / "mg", sizes)
    root = workspace.folder("viewer-mg") / "mg"
    study = Study(name="mg", label=f"{plain.label} JPEG 2000 lossless", root=root)
    for path in plain.files:
        ds = dcmread(path)
        ds.compress(JPEG2000Lossless, ds.pixel_array, encoding_plugin="pylibjpeg")
        target = root / path.relative_to(plain.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target, enforce_file_format=True)
        study.files.append(target)
    shutil.rmtree(plain.root)
    return study


def _assigned_case(study, patient, reviewer):
    from records.models import Upload
    from records.services import finish_upload
    from requests_app import flow
    from requests_app.models import Case

    from .pipeline import _stored_upload

    case, upload = _stored_upload(study, patient)
    finish_upload(upload, by=patient)
    flow.check_upload(upload.pk)  # in this process: the rows a worker would write
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.IN_REVIEW, assigned_reviewer=reviewer.reviewer_profile
    )
    if not Upload.objects.get(pk=upload.pk).studies.exists():
        raise RuntimeError(f"the {study.name} upload stored no study")
    return case


def _fetch(port: int, paths: list[str], cookie: str) -> tuple[float, int]:
    """Seconds and bytes of GETs of ``paths`` in turn, with curl or else http.client."""
    curl = shutil.which("curl")
    start = time.perf_counter()
    if curl:
        argv = [curl, "-sS", "--fail", "-H", f"Cookie: {cookie}", "-w", "%{size_download}\\n"]
        for path in paths:
            argv += ["-o", "/dev/null", f"http://127.0.0.1:{port}{path}"]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        size = sum(int(line) for line in out.split())
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        size = 0
        for path in paths:
            connection.request("GET", path, headers={"Cookie": cookie})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
            size += len(body)
        connection.close()
    return time.perf_counter() - start, size


def _phases(marks: list[dict]) -> str:
    """The medians of the navigation marks, e.g. "HTML received at 80 ms, ..."."""
    parts = []
    for key, label in (
        ("html", "HTML received"),
        ("asked", "first image requested"),
        ("image", "first image received"),
    ):
        values = [m[key] for m in marks if m.get(key) is not None]
        if values:
            parts.append(f"{label} at {median(values):,.0f} ms")
    return ", ".join(parts) or "no navigation marks"


def run(results: Results, workspace, options) -> None:
    database.setup(workspace)
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    from secondopinion.toolchain import CHROMIUM, CHROMIUM_ARGS

    from . import seed
    from .studies import studies_for

    if not CHROMIUM.exists():
        results.skip("viewer", f"no Chromium at {CHROMIUM} (apt install chromium)")
        return
    people = seed.people()
    mr = next(s for s in studies_for(workspace, options.sizes) if s.name == "mr")
    print("bench: compressing the mammogram with JPEG 2000 ...", flush=True)
    mg = _mammogram_j2k(workspace, options.sizes)
    breast = people.reviewers["breast"][0].user
    readers = {"mr": people.reviewer, "mg": breast}
    cases = {
        "mr": _assigned_case(mr, people.patient, people.reviewer),
        "mg": _assigned_case(mg, people.patient, breast),
    }
    labels = {"mr": f"{mr.label}, uncompressed", "mg": mg.label}
    cookies = {name: session_cookie(user) for name, user in readers.items()}
    pages = {name: f"/reviewer/cases/{case.code}/viewer/" for name, case in cases.items()}
    cache_dir = Path(settings.CACHES["viewer"]["LOCATION"])
    first_image: dict[str, str] = {}
    sizes: dict[str, int] = {}
    phases: dict[str, list[dict]] = {}
    ready: dict[str, list[float]] = {}  # ms from goto to data-ready, the warm-up round first

    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "secondopinion.wsgi:application"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"]
    argv += ["--no-control-socket"]
    server = workspace.start("gunicorn-viewer", argv, env=database.python_env())
    try:
        wait_http(server, port, "/healthz")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:

                def open_viewer(name: str, *, cold: bool) -> float:
                    if cold:
                        shutil.rmtree(cache_dir, ignore_errors=True)
                    elif name in first_image and not cache_dir.is_dir():
                        raise RuntimeError(f"no viewer cache at {cache_dir} to be warm")
                    context = browser.new_context(viewport={"width": 1100, "height": 900})
                    context.add_init_script(WATCH)
                    try:
                        key, value = cookies[name].split("=", 1)
                        context.add_cookies(
                            [{"name": key, "value": value, "url": f"http://127.0.0.1:{port}"}]
                        )
                        page = context.new_page()
                        images: list[str] = []
                        page.on(
                            "request",
                            lambda request: (
                                images.append(request.url) if "/instances/" in request.url else None
                            ),
                        )
                        said = lambda message: message.text.startswith("bench: ")  # noqa: E731
                        with page.expect_console_message(said, timeout=TIMEOUT_MS) as message:
                            start = time.perf_counter()
                            page.goto(f"http://127.0.0.1:{port}{pages[name]}", wait_until="commit")
                        seconds = time.perf_counter() - start
                        if message.value.text != DRAWN_MESSAGE:
                            raise RuntimeError(message.value.text)
                        marks = page.evaluate(MARKS)
                        phases.setdefault(f"{name}.{'cold' if cold else 'warm'}", []).append(marks)
                        page.wait_for_selector(
                            "[data-study-viewer][data-ready=true]",
                            state="attached",
                            timeout=TIMEOUT_MS,
                        )
                        ready.setdefault(f"{name}.{'cold' if cold else 'warm'}", []).append(
                            (time.perf_counter() - start) * 1000
                        )
                        if images and name not in first_image:
                            first_image[name] = images[0].split(str(port), 1)[1]
                        return seconds * 1000
                    finally:
                        context.close()

                def baseline(name: str) -> float:
                    if name not in first_image:
                        raise RuntimeError(f"the {name} viewer requested no image")
                    seconds, size = _fetch(port, [pages[name], first_image[name]], cookies[name])
                    sizes[name] = size
                    return seconds * 1000

                contenders = {}
                for name in cases:
                    contenders[f"{name}.cold"] = lambda n=name: open_viewer(n, cold=True)
                    contenders[f"{name}.warm"] = lambda n=name: open_viewer(n, cold=False)
                    contenders[f"{name}.fetch"] = lambda n=name: baseline(n)
                samples = alternate(options.rounds, contenders)
            finally:
                browser.close()
    finally:
        workspace.stop(server)

    client = "curl" if shutil.which("curl") else "Python http.client (no curl)"
    for name in cases:
        fetched = samples[f"{name}.fetch"]
        for state in ("cold", "warm"):
            mine = samples[f"{name}.{state}"]
            results.add(
                Figure(
                    f"viewer.{name}.{state}.first_image",
                    median(mine),
                    "ms",
                    f"{client}: page HTML + first image",
                    median(fetched),
                    (at_most(2.0),),
                    detail=(
                        f"{labels[name]}: goto to first non-blank canvas, headless Chromium, "
                        f"gunicorn 2 sync workers, viewer cache "
                        f"{'emptied' if state == 'cold' else 'holding the decoded image'}; "
                        f"baseline GET {pages[name]} and {first_image[name]} "
                        f"({sizes.get(name, 0):,} bytes, warm cache); "
                        f"{_phases(phases.get(f'{name}.{state}', []))}"
                    ),
                    samples=mine,
                    baseline_samples=fetched,
                )
            )
            started = ready[f"{name}.{state}"][-len(mine) :]  # not the warm-up round
            results.add(
                Figure(
                    f"viewer.{name}.{state}.viewer_ready",
                    median(started),
                    "ms",
                    f"{client}: page HTML + first image",
                    median(fetched),
                    detail=(
                        f"{labels[name]}: goto to data-ready (the viewer's script started and "
                        f"its own images drawn), same rounds and pages as first_image"
                    ),
                    samples=started,
                    baseline_samples=fetched,
                )
            )
