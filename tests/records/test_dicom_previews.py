"""records.dicom: previews of a series (`make_preview`)."""

from __future__ import annotations

import logging
import struct
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image

from records.dicom import (
    inspect_file,
    make_preview,
    transcode,
)
from records.problems import Problem
from tests.records import dicom_factory as factory
from tests.records.dicom_samples import sample

# --- previews -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small_bigendian.dcm",
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "image_dfl.dcm",
        "examples_palette.dcm",
        "examples_ybr_color.dcm",
        "SC_rgb_jpeg.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ],
)
def test_previews_are_small_8_bit_images(name: str) -> None:
    preview = make_preview(sample(name))

    assert isinstance(preview, Image.Image), preview
    assert preview.mode in ("L", "RGB")
    assert max(preview.size) <= 256


def test_a_preview_is_windowed_not_blank(tmp_path: Path) -> None:
    path = factory.write_instance(tmp_path / "IM0001", rows=512, cols=300)
    preview = make_preview(path)

    assert isinstance(preview, Image.Image)
    assert preview.size == (150, 256)
    low, high = preview.getextrema()
    assert high - low > 100


def test_a_multiframe_preview_decodes_one_frame(tmp_path: Path) -> None:
    path = factory.write_instance(tmp_path / "IM0001", frames=5, rows=16, cols=16)
    assert isinstance(make_preview(path), Image.Image)


def test_undecodable_pixels_are_reported(tmp_path: Path) -> None:
    path = factory.write_undecodable(tmp_path / "IM0001")
    assert inspect_file(path).ok  # the header is fine: only decoding finds out
    preview = make_preview(path, rel_path="DICOM/IM0001")
    assert isinstance(preview, Problem)
    assert preview.code == "undecodable_pixels" and preview.path == "DICOM/IM0001"


def test_a_codec_failure_is_not_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # pydicom's decoders log the codec's exception through loggers of their own.
    path = factory.write_undecodable(tmp_path / "IM0001")
    caplog.set_level(logging.DEBUG)
    preview = make_preview(path)
    assert isinstance(preview, Problem) and preview.code == "undecodable_pixels"
    assert not caplog.records, [record.name for record in caplog.records]


def test_a_truncated_file_gives_its_own_problem_as_preview() -> None:
    preview = make_preview(sample("MR_truncated.dcm"))
    assert isinstance(preview, Problem) and preview.code == "truncated"


def _preview(path: Path) -> None:
    preview = make_preview(path)
    assert isinstance(preview, Problem) and preview.code == "undecodable_pixels"


def _viewer_copy(path: Path) -> None:
    with path.open("rb") as handle:
        transcode.for_viewer(handle)  # native pixels: copied as they are


@pytest.mark.parametrize("read", [_preview, _viewer_copy])
def test_a_value_claiming_more_bytes_than_the_file_has_costs_only_the_file(
    tmp_path: Path, read
) -> None:
    # Bits Allocated 17 sends the preview to pydicom's whole-file reader; an element after the
    # pixel data claims 224 MiB of the file's few hundred bytes.
    path = factory.write_instance(tmp_path / "IM0001", rows=8, cols=8)
    factory.rewrite(path, BitsAllocated=17)
    with path.open("ab") as out:
        out.write(struct.pack("<HH2sHL", 0x0AFF, 0x0BFF, b"UN", 0, 0x0DFF0CFF))
    tracemalloc.start()
    try:
        read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB"
