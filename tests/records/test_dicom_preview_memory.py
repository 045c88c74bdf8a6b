"""records.dicom: the one-frame decode check reads the whole frame in its own dtype, never as
floats, and draws the preview from a subsampled frame, as pydicom's decoders would draw it."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.pixels import pixel_array

from records.dicom import make_preview
from records.dicom.pixels import _to_image
from tests.records import dicom_factory as factory

MiB = 1024 * 1024
ROWS, COLUMNS = 4096, 3328  # one view of a screening mammogram
FRAME_BYTES = ROWS * COLUMNS * 2  # 27 MB as 16-bit integers; 109 MB as float64


def _mammogram(path: Path) -> Path:
    ds = factory.make_dataset(modality="MG", rows=ROWS, cols=COLUMNS, body_part="BREAST")
    return factory.write_dataset(ds, path)


def test_a_mammogram_frame_is_decoded_whole_in_its_own_dtype_and_never_copied_to_floats(
    tmp_path: Path,
) -> None:
    path = _mammogram(tmp_path / "RCC.dcm")
    make_preview(path)  # imports and codec lookups happen once, outside the measurement

    tracemalloc.start()
    try:
        preview = make_preview(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert isinstance(preview, Image.Image), preview
    # The whole frame was read (not only the rows the preview shows)...
    assert peak >= FRAME_BYTES
    # ...and held once, as 16-bit integers: a float32 copy of it alone would add 54 MB.
    assert peak < FRAME_BYTES + 12 * MiB, f"peak {peak / MiB:.1f} MiB"


def _pydicom_preview(path: Path) -> Image.Image:
    """The same frame decoded by pydicom's own decoder, drawn the same way."""
    return _to_image(pixel_array(path), dcmread(path), 256)


def _with_pixels(path: Path, pixels: np.ndarray, **fields: object) -> Path:
    ds = factory.make_dataset(rows=pixels.shape[0], cols=pixels.shape[1])
    for keyword, value in fields.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.tobytes()
    return factory.write_dataset(ds, path)


def _gradient(rows: int, columns: int) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:columns]
    return (x * 7 + y * 3).astype(np.int64)


@pytest.mark.parametrize(
    ("name", "pixels", "fields"),
    [
        # 12 bits stored in 16, an overlay's bits above them: they are not part of the image
        (
            "overlay_bits",
            ((_gradient(600, 520) % 4096) | 0xF000).astype("<u2"),
            {},
        ),
        # signed 16-bit values below zero, with a rescale and a window of their own
        (
            "signed",
            (_gradient(600, 520) - 2000).astype("<i2"),
            {
                "PixelRepresentation": 1,
                "BitsStored": 16,
                "HighBit": 15,
                "RescaleIntercept": -1024,
                "RescaleSlope": 1,
                "WindowCenter": 40,
                "WindowWidth": 400,
            },
        ),
        # signed 12 bits in 16: the sign is bit 11
        (
            "signed_12_bits",
            ((_gradient(300, 260) % 4096) - 2048).astype("<i2") & 0x0FFF,
            {"PixelRepresentation": 1, "BitsStored": 12, "HighBit": 11, "WindowCenter": 0},
        ),
        (
            "eight_bits",
            (_gradient(300, 260) % 256).astype("u1"),
            {
                "BitsAllocated": 8,
                "BitsStored": 8,
                "HighBit": 7,
                "WindowCenter": 128,
                "WindowWidth": 256,
            },
        ),
    ],
)
def test_the_preview_of_a_frame_read_from_the_file_matches_pydicoms_decode(
    tmp_path: Path, name: str, pixels: np.ndarray, fields: dict
) -> None:
    path = _with_pixels(tmp_path / f"{name}.dcm", pixels, **fields)

    preview = make_preview(path)

    assert isinstance(preview, Image.Image), preview
    expected = _pydicom_preview(path)
    assert preview.size == expected.size
    assert np.array_equal(np.asarray(preview), np.asarray(expected))
    assert np.asarray(preview).std() > 0  # a real picture, not a flat one both sides agree on
