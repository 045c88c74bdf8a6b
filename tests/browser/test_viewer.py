"""The study viewer in Chromium: every codec opens, mammograms hang, priors follow, tools work."""

from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from pydicom import dcmread
from pydicom.uid import generate_uid

from records.models import Instance
from requests_app.models import AuditEvent
from reviewers import services
from tests.browser.test_review_journey import _log_in, migrated_data  # noqa: F401
from tests.records.codec_factory import SYNTAXES, write_encoded_series
from tests.records.dicom_factory import make_dataset, write_dataset
from tests.reviewers.conftest import checked_case, make_reviewer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("migrated_data"),
]


def _open_viewer(page: Page, base: str, case, user):
    _log_in(page, base, user.email)
    page.goto(f"{base}/reviewer/cases/{case.code}/viewer/")
    viewer = page.get_by_test_id("viewer")
    expect(viewer).to_have_attribute("data-ready", "true", timeout=20_000)
    return viewer


def _neuro_reader(rita):
    return make_reviewer(rita.email, "Dr. Rita Novak", user=rita)


def _probe(page: Page, viewport: str) -> dict:
    return page.evaluate("(id) => window.soViewer.probe(id)", viewport)


@pytest.mark.parametrize("codec", sorted(SYNTAXES))
def test_each_compression_opens_and_its_centre_shows_what_the_server_decodes(
    codec,
    page: Page,
    live_server,
    alice,
    rita,
    tmp_path,
):
    folder = tmp_path / "upload"
    files = write_encoded_series(folder / "SER1", SYNTAXES[codec])
    assert dcmread(files[0]).file_meta.TransferSyntaxUID == SYNTAXES[codec]
    case = checked_case(alice, folder)
    services.claim_case(case, reviewer=_neuro_reader(rita), by=rita)
    viewer = _open_viewer(page, live_server.url, case, rita)
    expect(viewer.locator("[data-status]")).to_contain_text("Image 1 of 2")

    decoded = dcmread(files[0]).pixel_array.astype(float)
    # The centre, and two points off it (a mirrored or turned image has the same centre).
    for at in ([0.5, 0.5], [0.5, 0.3], [0.4, 0.5]):
        seen = page.evaluate("([id, at]) => window.soViewer.probe(id, at)", ["main", at])
        assert seen["levels"] > 20, seen  # a picture, not a blank canvas
        # What the server's own codecs (pydicom with GDCM and pylibjpeg) read at that spot,
        # through the window the viewer applied.
        column, row = round(seen["column"]), round(seen["row"])
        around = decoded[row - 1 : row + 2, column - 1 : column + 2]
        lower, upper = seen["lower"], seen["upper"]
        span = np.clip((around.min(), around.max()), lower, upper)
        low, high = (span - lower) / (upper - lower) * 255
        grey = seen["rgb"][0]
        assert low - 6 <= grey <= high + 6, (at, grey, low, high, seen)


def _mammo_image(view: str, orientation: list[str] | None, series_uid: str, study_uid: str):
    """One view of a four-view mammogram sharing one series; the breast against the left edge
    (the chest wall on the left) as stored."""
    rows, cols = 160, 128
    ds = make_dataset(
        modality="MG",
        rows=rows,
        cols=cols,
        body_part="BREAST",
        study_uid=study_uid,
        series_uid=series_uid,
        series_number=1,
        instance_number={"LMLO": 1, "RCC": 2, "RMLO": 3, "LCC": 4}[view],
        view_position=view[1:],
        laterality=view[0],
        presentation_intent="FOR PRESENTATION",
        position=None,
        orientation=None,
        study_description="MAMMOGRAM SCREENING",
        series_description="SCREENING",
    )
    y, x = np.mgrid[0:rows, 0:cols]
    reach = cols * 0.7 * np.sqrt(np.clip(1 - ((y - rows / 2) / (rows / 2)) ** 2, 0, 1))
    ds.PixelData = np.where(x < reach, 3000, 100).astype(np.uint16).tobytes()
    if orientation:
        ds.PatientOrientation = orientation
    return ds


def _four_views_in_one_series(alice, tmp_path):
    """A checked mammogram whose four views share one series. Two views say how their columns
    run (toward anterior: the chest wall on the left); the other two do not, and are turned from
    their pixels."""
    folder = tmp_path / "upload"
    series_uid, study_uid = generate_uid(), generate_uid()
    orientations = {"RCC": ["A", "R"], "LMLO": ["A", "FL"], "RMLO": None, "LCC": None}
    for view, orientation in orientations.items():
        ds = _mammo_image(view, orientation, series_uid, study_uid)
        write_dataset(ds, folder / "MG" / f"{view}.dcm")
    return checked_case(
        alice,
        folder,
        queue="breast",
        exam_type="mammogram",
        body_region="breast",
        birads="4A",
        had_biopsy="no",
    )


def test_a_four_view_mammogram_in_one_series_hangs_with_the_chest_walls_facing(
    page: Page,
    live_server,
    alice,
    tmp_path,
    check_accessibility,
):
    case = _four_views_in_one_series(alice, tmp_path)
    uid_of = {
        Path(instance.file.relative_path).stem: instance.sop_instance_uid
        for instance in Instance.objects.filter(series__study__case=case).select_related("file")
    }
    imager = make_reviewer(
        "bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True
    )
    services.claim_case(case, reviewer=imager, by=imager.user)
    viewer = _open_viewer(page, live_server.url, case, imager.user)

    panes = viewer.locator("figure")
    expect(panes).to_have_count(4)
    for index, view in enumerate(["RCC", "LCC", "RMLO", "LMLO"]):
        pane = panes.nth(index)
        expect(pane).to_contain_text(view)
        expect(pane.locator("[data-status]")).to_contain_text("Image 1 of 1")
        shown = pane.locator(".viewport").get_attribute("data-image")
        assert shown.endswith(f"/instances/{uid_of[view]}/frames/1"), (view, shown)
        left, right = _probe(page, view)["halves"]
        # Right breast: chest wall on the right of its pane; left breast: on the left.
        assert (right > left) if view.startswith("R") else (left > right), (view, left, right)
    # RCC sits left of LCC, and both above the MLO views.
    boxes = {
        view: panes.nth(i).bounding_box() for i, view in enumerate(["RCC", "LCC", "RMLO", "LMLO"])
    }
    assert boxes["RCC"]["x"] < boxes["LCC"]["x"] and boxes["RMLO"]["x"] < boxes["LMLO"]["x"]
    assert boxes["RCC"]["y"] < boxes["RMLO"]["y"] and boxes["LCC"]["y"] < boxes["LMLO"]["y"]
    check_accessibility(page)


def _write_study(
    folder: Path,
    *,
    date: str,
    modality: str = "MR",
    n: int = 3,
    extra=None,
    study_uid=None,
    series: tuple[int, str] = (1, "AX T2"),
):
    """One series of `n` slices, dated `date`, in a study of its own unless `study_uid` says;
    `extra`: more elements."""
    study_uid, series_uid = study_uid or generate_uid(), generate_uid()
    for index in range(n):
        ds = make_dataset(
            series_number=series[0],
            series_description=series[1],
            modality=modality,
            rows=96,
            cols=96,
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=index + 1,
            position=(0.0, 0.0, 5.0 * index),
            seed=index * 7,
        )
        ds.StudyDate = date
        for keyword, value in (extra or {}).items():
            setattr(ds, keyword, value)
        write_dataset(ds, folder / f"IM{index + 1:04d}")


def test_a_prior_study_sits_beside_the_current_one_and_follows_its_zoom_and_pan(
    page: Page, live_server, alice, rita, tmp_path, check_accessibility
):
    folder = tmp_path / "upload"
    now, then = generate_uid(), generate_uid()
    _write_study(folder / "NOW", date="20240115", n=3, study_uid=now)
    _write_study(folder / "NOW2", date="20240115", n=4, study_uid=now, series=(2, "SAG T1"))
    _write_study(folder / "THEN2", date="20220301", n=5, study_uid=then, series=(7, "SAG T1"))
    _write_study(folder / "THEN", date="20220301", n=2, study_uid=then, series=(3, "AX T2"))
    case = checked_case(alice, folder)
    services.claim_case(case, reviewer=_neuro_reader(rita), by=rita)
    viewer = _open_viewer(page, live_server.url, case, rita)

    current = viewer.get_by_role("region", name="Current study, 2024-01-15")
    prior = viewer.get_by_role("region", name="Prior study, 2022-03-01")
    expect(current.locator("[data-status]")).to_contain_text("Image 1 of 3")
    expect(prior.locator("[data-status]")).to_contain_text("Image 1 of 2")
    assert _probe(page, "main")["levels"] > 20 and _probe(page, "prior")["levels"] > 20
    box_now, box_then = current.bounding_box(), prior.bounding_box()
    assert box_now["x"] < box_then["x"] and abs(box_now["y"] - box_then["y"]) < 5  # beside

    zoom = "(id) => window.soViewer.viewports[id].viewport.getZoom()"
    camera = "(id) => window.soViewer.viewports[id].viewport.getCamera().parallelScale"
    before = page.evaluate(camera, "prior")
    viewer.get_by_role("button", name="Zoom in, current study").click()
    page.wait_for_function(f"() => ({camera})('prior') < {before} - 1e-6")
    assert page.evaluate(zoom, "prior") == pytest.approx(page.evaluate(zoom, "main"))
    # And the other way round: zooming the prior moves the current study too.
    main_before = page.evaluate(camera, "main")
    viewer.get_by_role("button", name="Zoom in, prior study").click()
    page.wait_for_function(f"() => ({camera})('main') < {main_before} - 1e-6")
    # Choosing another current series brings the prior's series most like it.
    viewer.get_by_role("button", name="2 SAG T1 (4)").click()
    expect(current.locator("[data-status]")).to_contain_text("Image 1 of 4")
    expect(prior.locator("[data-status]")).to_contain_text("Image 1 of 5")
    expect(prior.get_by_label("Series of the prior study")).to_have_value(
        str(next(i for i, s in enumerate(manifest_series(page)) if s["label"] == "7 SAG T1"))
    )
    check_accessibility(page)


def manifest_series(page: Page) -> list[dict]:
    return page.evaluate(
        "() => JSON.parse(document.getElementById('viewer-manifest').textContent).series"
    )


@pytest.mark.parametrize(
    ("modality", "spacing", "expected"),
    [
        ("CT", {"PixelSpacing": [0.5, 0.5]}, "Length: 40.0 mm"),
        ("DX", {"ImagerPixelSpacing": [0.2, 0.2]}, "Length: 16.0 mm at detector"),
    ],
)
def test_a_length_reads_millimetres_from_the_pixel_spacing(
    modality, spacing, expected, page: Page, live_server, alice, rita, tmp_path
):
    folder = tmp_path / "upload"
    _write_study(folder / "S", date="20240115", modality=modality, n=1, extra=spacing)
    case = checked_case(alice, folder)
    services.claim_case(case, reviewer=_neuro_reader(rita), by=rita)
    viewer = _open_viewer(page, live_server.url, case, rita)
    expect(viewer.locator("[data-status]")).to_contain_text("Image 1 of 1")

    measure = viewer.get_by_role("button", name="Measure length")
    measure.click()
    expect(measure).to_have_attribute("aria-pressed", "true")
    # 80 pixels along a row of the image.
    start = page.evaluate("(p) => window.soViewer.imageToPage('main', p)", [8, 48])
    end = page.evaluate("(p) => window.soViewer.imageToPage('main', p)", [88, 48])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, start[1], steps=4)
    page.mouse.move(*end, steps=4)
    page.mouse.up()
    expect(viewer.locator("[data-measurement]")).to_have_text(expected)


def test_ct_presets_invert_cine_and_keys_work_from_the_keyboard(
    page: Page, live_server, alice, rita, tmp_path, check_accessibility
):
    folder = tmp_path / "upload"
    _write_study(folder / "CT", date="20240115", modality="CT", n=4)
    case = checked_case(alice, folder)
    services.claim_case(case, reviewer=_neuro_reader(rita), by=rita)
    viewer = _open_viewer(page, live_server.url, case, rita)
    status = viewer.locator("[data-status]")
    expect(status).to_contain_text("Image 1 of 4")

    preset = viewer.get_by_label("Window preset")
    labels = preset.locator("option").all_inner_texts()
    for name in ("Brain", "Lung", "Bone", "Abdomen"):
        assert any(label.startswith(name) for label in labels), labels
    preset.focus()
    preset.select_option("lung")
    expect(status).to_contain_text("window 1500 / level -600")
    preset.select_option("brain")
    expect(status).to_contain_text("window 80 / level 40")
    preset.select_option("default")
    expect(status).to_contain_text("/ level 2048")  # the file's own window again

    before = _probe(page, "main")["rgb"][0]
    invert = viewer.get_by_role("button", name="Invert")
    invert.press("Enter")
    expect(invert).to_have_attribute("aria-pressed", "true")
    page.wait_for_function("() => window.soViewer.probe('main').invert")
    page.wait_for_function(
        f"() => Math.abs(window.soViewer.probe('main').rgb[0] - {255 - before}) <= 3"
    )

    play = viewer.get_by_role("button", name="Play slices")
    play.press("Enter")
    expect(viewer.get_by_role("button", name="Pause slices")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(status).not_to_contain_text("Image 1 of 4", timeout=5_000)
    viewer.get_by_role("button", name="Pause slices").press("Enter")
    expect(play).to_have_attribute("aria-pressed", "false")
    page.wait_for_timeout(300)  # a frame already on its way when paused may still land
    paused = status.inner_text()
    page.wait_for_timeout(600)  # eight frames a second would have moved on by now
    assert status.inner_text() == paused

    image = viewer.get_by_role("img", name="Selected series")
    image.focus()
    page.keyboard.press("Home")  # not a key of ours: nothing moves
    shown = int(paused.split()[1])
    page.keyboard.press("ArrowDown" if shown < 4 else "ArrowUp")
    expect(status).to_contain_text(f"Image {shown + 1 if shown < 4 else shown - 1} of 4")
    check_accessibility(page)


def test_a_mammogram_without_view_tags_is_placed_by_hand(page: Page, live_server, alice, tmp_path):
    folder = tmp_path / "upload"
    series_uid, study_uid = generate_uid(), generate_uid()
    for view in ("RCC", "LCC"):
        ds = _mammo_image(view, None, series_uid, study_uid)
        del ds.ImageLaterality, ds.ViewPosition
        write_dataset(ds, folder / "MG" / f"{view}.dcm")
    case = checked_case(
        alice,
        folder,
        queue="breast",
        exam_type="mammogram",
        body_region="breast",
        birads="4A",
        had_biopsy="no",
    )
    imager = make_reviewer(
        "bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True
    )
    services.claim_case(case, reviewer=imager, by=imager.user)
    viewer = _open_viewer(page, live_server.url, case, imager.user)
    rcc = viewer.locator('[data-pane="RCC"]')
    expect(rcc.locator("[data-status]")).to_contain_text("No image here")
    choice = viewer.get_by_label("Image in the RCC view")
    options = choice.locator("option").all_inner_texts()
    assert options[0] == "None placed" and len(options) == 3
    choice.select_option(label=options[1])
    expect(rcc.locator("[data-status]")).to_contain_text("Image 1 of 1")
    # Placed in a right-side pane, the image is turned to put its chest wall on the right.
    left, right = _probe(page, "RCC")["halves"]
    assert right > left


def test_the_viewer_reads_its_images_over_dicomweb_with_the_pixels_the_server_decodes(
    page: Page, live_server, alice, rita, tmp_path
):
    folder = tmp_path / "upload"
    files = write_encoded_series(folder / "J2K", SYNTAXES["jpeg-2000"], n=3)
    by_sop = {dcmread(path).SOPInstanceUID: path for path in files}
    case = checked_case(alice, folder)
    services.claim_case(case, reviewer=_neuro_reader(rita), by=rita)
    _log_in(page, live_server.url, rita.email)
    page.wait_for_load_state("load")  # the landing page's own styles are not the viewer's
    asked: list[tuple[str, str]] = []
    page.on("request", lambda request: asked.append((request.url, request.headers["accept"])))
    viewer_page = f"/reviewer/cases/{case.code}/viewer/"
    page.goto(f"{live_server.url}{viewer_page}")
    viewer = page.get_by_test_id("viewer")
    expect(viewer).to_have_attribute("data-ready", "true", timeout=20_000)
    status = viewer.locator("[data-status]")

    seen = {}
    for number in (1, 2, 3):
        expect(status).to_contain_text(f"Image {number} of 3")
        shown = page.evaluate(
            """() => {
              const { viewport } = window.soViewer.viewports.main;
              const pixels = viewport.getCornerstoneImage().getPixelData();
              return { id: viewport.getCurrentImageId(), pixels: Array.from(pixels) };
            }"""
        )
        seen[shown["id"]] = shown["pixels"]
        if number < 3:
            viewer.get_by_role("img", name="Selected series").press("ArrowDown")

    # Each image is its first frame from WADO-RS, holding what pydicom's codecs decode here.
    assert len(seen) == 3
    for image_id, pixels in seen.items():
        assert image_id.startswith("wadors:/dicomweb/studies/") and image_id.endswith("/frames/1")
        sop = image_id.split("/instances/")[1].split("/")[0]
        decoded = dcmread(by_sop[sop]).pixel_array
        assert np.array_equal(np.array(pixels).reshape(decoded.shape), decoded), sop
    # Every request after the page is a script or style of ours or a DICOMweb read; the frames
    # ask for uncompressed pixels, the series' metadata for DICOM JSON.
    paths = [(urlsplit(url).path, accept) for url, accept in asked]
    paths = paths[[path for path, _ in paths].index(viewer_page) :]
    reads = [(path, accept) for path, accept in paths[1:] if not path.startswith("/static/")]
    assert reads and all(path.startswith("/dicomweb/studies/") for path, _ in reads), reads
    frames = {path for path, accept in reads if path.endswith("/frames/1")}
    assert {f"/dicomweb{i.removeprefix('wadors:/dicomweb')}" for i in seen} <= frames
    for path, accept in reads:
        if path.endswith("/frames/1"):
            assert accept.startswith('multipart/related; type="application/octet-stream"'), accept
        elif path.endswith("/frames/1/rendered"):
            assert accept.startswith("image/"), accept  # the first picture, drawn before the rest
        else:
            assert path.endswith("/metadata") and accept == "application/dicom+json", path
    # One audit record for the viewer's opening, none for its reads.
    assert list(AuditEvent.objects.values_list("target_type", flat=True)) == ["study-viewer"]


# What the page's first picture of a pane holds: its size, the grey at points given as fractions
# of its width and height, the sums of its left and right halves, and how many greys it has.
FIRST_PICTURE = """([pane, points]) => {
  const canvas = document.querySelector(`[data-pane="${pane}"] canvas[data-first-image]`);
  const all = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const levels = new Set();
  const halves = [0, 0];
  for (let i = 0; i < all.length; i += 4) {
    levels.add(all[i]);
    halves[(i / 4) % canvas.width < canvas.width / 2 ? 0 : 1] += all[i];
  }
  const greys = points.map(([x, y]) => {
    const at = Math.floor(canvas.height * y) * canvas.width + Math.floor(canvas.width * x);
    return all[4 * at];
  });
  return { width: canvas.width, height: canvas.height, greys, levels: levels.size, halves };
}"""


# When the page's first picture of a pane appeared (ms from the navigation's start).
PICTURE_CLOCK = """new MutationObserver((records, observer) => {
  if (!document.querySelector("canvas[data-first-image]")) return;
  window.firstPictureAt = performance.now();
  observer.disconnect();
}).observe(document, { childList: true, subtree: true });"""


def _without_the_viewer_script(page: Page) -> list[str]:
    """The viewer's script (megabytes) replaced by an empty one for this page; the URLs of the
    requests for it."""
    asked = []

    def empty(route):
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="text/javascript", body="")

    page.route("**/vendor/cornerstone/viewer.js", empty)
    return asked


def test_the_first_image_is_drawn_from_the_server_rendering_before_the_viewer_script_runs(
    page: Page, live_server, alice, rita, tmp_path
):
    folder = tmp_path / "upload"
    files = write_encoded_series(folder / "SER1", SYNTAXES["jpeg-2000"])
    case = checked_case(alice, folder)
    services.claim_case(case, reviewer=_neuro_reader(rita), by=rita)
    _log_in(page, live_server.url, rita.email)
    refused = _without_the_viewer_script(page)
    page.add_init_script(PICTURE_CLOCK)
    rendered = []
    page.on("request", lambda r: rendered.append(r.url) if r.url.endswith("/rendered") else None)
    with page.expect_request("**/vendor/cornerstone/viewer.js"):
        page.goto(f"{live_server.url}/reviewer/cases/{case.code}/viewer/")

    first = page.locator('[data-pane="main"] canvas[data-first-image]')
    expect(first).to_have_count(1)
    assert refused and page.get_by_test_id("viewer").get_attribute("data-ready") is None
    assert len(rendered) == 1  # the preloaded image, fetched once
    # The viewer's script (megabytes) is asked for once the first picture is drawn, so that it
    # does not compete with it.
    drawn_at, script_asked_at = page.evaluate(
        """() => [
          window.firstPictureAt,
          performance.getEntriesByType("resource")
            .find((entry) => entry.name.endsWith("/cornerstone/viewer.js")).startTime,
        ]"""
    )
    assert drawn_at <= script_asked_at, (drawn_at, script_asked_at)
    points = [[0.5, 0.5], [0.5, 0.3], [0.4, 0.5]]
    seen = page.evaluate(FIRST_PICTURE, ["main", points])
    assert seen["levels"] > 20, seen  # a picture, not a blank canvas
    # What the server's own codecs read at each point, through the file's own window; the
    # picture is fitted and centred in its pane, as the viewer shows it.
    ds = dcmread(files[0])
    decoded = ds.pixel_array.astype(float)
    rows, columns = decoded.shape
    scale = min(seen["width"] / columns, seen["height"] / rows)
    lower, width = float(ds.WindowCenter) - float(ds.WindowWidth) / 2, float(ds.WindowWidth)
    for (x, y), grey in zip(points, seen["greys"], strict=True):
        column = round((seen["width"] * x - (seen["width"] - columns * scale) / 2) / scale)
        row = round((seen["height"] * y - (seen["height"] - rows * scale) / 2) / scale)
        around = decoded[row - 1 : row + 2, column - 1 : column + 2]
        low, high = (np.clip((around.min(), around.max()), lower, lower + width) - lower) / width
        assert low * 255 - 6 <= grey <= high * 255 + 6, ((x, y), grey, low * 255, high * 255)


@pytest.mark.parametrize("fault", ["fails", "never comes"])
def test_the_viewer_starts_when_its_first_picture_fails_or_never_comes(
    fault, page: Page, live_server, alice, rita, tmp_path, browser_problems
):
    folder = tmp_path / "upload"
    write_encoded_series(folder / "SER1", SYNTAXES["rle-lossless"], n=2)
    case = checked_case(alice, folder)
    services.claim_case(case, reviewer=_neuro_reader(rita), by=rita)
    held = []
    if fault == "fails":
        page.route("**/frames/1/rendered", lambda route: route.abort())
        browser_problems.expect(r"ERR_FAILED \(http://\S+/frames/1/rendered\)$")
    else:
        page.route("**/frames/1/rendered", lambda route: held.append(route))  # never answered

    _log_in(page, live_server.url, rita.email)
    # A picture that never comes holds the page's load event: the reader sees the page anyway.
    page.goto(f"{live_server.url}/reviewer/cases/{case.code}/viewer/", wait_until="commit")
    viewer = page.get_by_test_id("viewer")
    expect(viewer).to_have_attribute("data-ready", "true", timeout=20_000)

    assert page.locator("canvas[data-first-image]").count() == 0
    expect(viewer.locator("[data-status]")).to_contain_text("Image 1 of 2")
    assert _probe(page, "main")["levels"] > 20  # the viewer's own picture
    assert (len(held) == 1) == (fault == "never comes")


def test_the_first_pictures_of_a_mammogram_face_their_chest_walls_before_the_viewer_runs(
    page: Page, live_server, alice, tmp_path
):
    case = _four_views_in_one_series(alice, tmp_path)
    imager = make_reviewer(
        "bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True
    )
    services.claim_case(case, reviewer=imager, by=imager.user)
    _log_in(page, live_server.url, imager.user.email)
    _without_the_viewer_script(page)
    page.goto(f"{live_server.url}/reviewer/cases/{case.code}/viewer/")

    expect(page.locator("canvas[data-first-image]")).to_have_count(4)
    for view in ["RCC", "LCC", "RMLO", "LMLO"]:
        left, right = page.evaluate(FIRST_PICTURE, [view, []])["halves"]
        # Right breast: chest wall on the right of its pane; left breast: on the left.
        assert (right > left) if view.startswith("R") else (left > right), (view, left, right)
