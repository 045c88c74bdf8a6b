"""The viewer's first picture of a JPEG 2000 image, decoded from the codestream's smaller levels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.encaps import encapsulate, get_frame
from pydicom.uid import JPEG2000Lossless

from records.dicom import pixels, transcode
from secondopinion.pdf import html_to_pdf
from tests.records.dicom_factory import make_dataset, write_dataset

SIDE = 1024


def _j2k(tmp_path: Path, *, rows: int, cols: int, **header) -> Path:
    """A 12-bit grey image in 16 bits with a bright square and a narrow window, JPEG 2000."""
    ds = make_dataset(modality="MG", rows=rows, cols=cols, body_part="BREAST")
    y, x = np.mgrid[0:rows, 0:cols]
    values = ((3 * x + y) * 4095 // (3 * cols + rows)).astype(np.uint16)
    values[rows // 4 : rows // 2, cols // 4 : cols // 2] = 3900
    ds.WindowCenter, ds.WindowWidth = 2600, 1800  # a window that saturates wrongly scaled values
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    ds.compress(JPEG2000Lossless, values, encoding_plugin="pylibjpeg")
    return write_dataset(ds, tmp_path / "image.dcm")


def _whole(path: Path):
    """The picture as it is drawn from the viewer's fully decoded copy."""
    with path.open("rb") as handle:
        return pixels.render_first_frame(transcode.for_viewer(handle), max_side=SIDE)


def _reduced(path: Path):
    with path.open("rb") as handle:
        return pixels.render_first_frame_reduced(handle, max_side=SIDE)


@pytest.mark.parametrize(
    ("rows", "cols", "photometric"),
    [
        (4096, 512, "MONOCHROME2"),  # two halvings: 1024 a side
        (2600, 700, "MONOCHROME1"),  # one halving (1300), drawn inverted
        (300, 200, "MONOCHROME2"),  # smaller than the picture: decoded whole
    ],
)
def test_the_reduced_picture_shows_what_the_whole_decode_shows(tmp_path, rows, cols, photometric):
    path = _j2k(tmp_path, rows=rows, cols=cols, PhotometricInterpretation=photometric)
    reduced, whole = _reduced(path), _whole(path)
    assert reduced is not None and reduced.mode == whole.mode == "L"
    assert reduced.size == whole.size and max(reduced.size) <= SIDE
    difference = np.abs(np.asarray(reduced, dtype=int) - np.asarray(whole, dtype=int))
    # The smaller levels average where the whole decode samples: equal but at the square's edges.
    assert np.median(difference) <= 1 and np.mean(difference) < 2, difference.mean()
    assert np.percentile(difference, 99) <= 8


def test_the_bright_square_sits_where_the_image_puts_it(tmp_path):
    path = _j2k(tmp_path, rows=4096, cols=512)
    drawn = np.asarray(_reduced(path), dtype=int)
    rows, cols = drawn.shape
    assert drawn[rows * 3 // 8, cols * 3 // 8] == 255  # 3900 is above the window: white
    assert drawn[rows // 8, cols // 8] == 0  # the ramp's dark corner is below it: black


def test_other_images_are_left_to_the_whole_decode(tmp_path):
    plain = write_dataset(make_dataset(rows=64, cols=64), tmp_path / "plain.dcm")
    assert _reduced(plain) is None
    signed = make_dataset(rows=256, cols=256)
    signed.PixelRepresentation = 1
    values = (np.arange(256 * 256).reshape(256, 256) % 4096 - 2048).astype(np.int16)
    signed.compress(JPEG2000Lossless, values, encoding_plugin="pylibjpeg")
    path = write_dataset(signed, tmp_path / "signed.dcm")
    assert _reduced(path) is None
    assert dcmread(path).pixel_array.min() < 0  # the file really holds signed samples
    assert _whole(path) is not None


def test_a_codestream_cut_short_is_refused_even_where_a_pdf_was_made(tmp_path):
    html_to_pdf("<p>A letter.</p>")  # its library would otherwise draw truncated images
    path = _j2k(tmp_path, rows=2048, cols=256)
    ds = dcmread(path)
    ds.PixelData = encapsulate([get_frame(ds.PixelData, 0, number_of_frames=1)[:400]])
    cut = write_dataset(ds, tmp_path / "cut.dcm")
    assert _reduced(cut) is None
    with cut.open("rb") as handle, pytest.raises(transcode.Undecodable):
        transcode.for_viewer(handle)
    assert pixels.make_preview(cut).code == "undecodable_pixels"  # and when it is uploaded
