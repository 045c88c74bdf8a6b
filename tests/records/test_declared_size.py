"""A compressed frame that declares more pixels than its header is refused before any codec
allocates them: by the upload's decode check, the viewer's decoded copy and its first picture."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.encaps import get_frame
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit

from records.dicom import pixels, transcode
from records.dicom.codestream import check_frame
from records.dicom.damage import Damaged
from tests.records.codec_factory import (
    SYNTAXES,
    with_declared_size,
    write_claiming,
    write_encoded_series,
)

ROOT = Path(__file__).resolve().parents[2]
ROWS, COLS = 200, 300
CLAIMED = 16_000  # a side: 256 million pixels, gigabytes once a codec sets them aside
COMPRESSED = [name for name in SYNTAXES if name != "rle-lossless"]


def _frame(path: Path) -> tuple[bytes, str]:
    ds = dcmread(path)
    return get_frame(ds.PixelData, 0, number_of_frames=1), ds.file_meta.TransferSyntaxUID


def _encoded(tmp_path: Path, name: str) -> Path:
    return write_encoded_series(tmp_path / name, SYNTAXES[name], n=1, rows=ROWS, cols=COLS)[0]


def _bomb(tmp_path: Path, name: str) -> Path:
    return write_claiming(_encoded(tmp_path, name), tmp_path / f"{name}-bomb.dcm", CLAIMED)


# Run in a process of its own: a codec's allocations are C memory, which only the process's
# peak resident size sees. The address space is capped so a regression fails rather than
# taking the machine down.
_MEASURE = """
import json, resource, sys
from records.dicom import pixels, transcode
from records.dicom.damage import Damaged

resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
path = sys.argv[1]

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

pixels.make_preview(sys.argv[2])  # codecs loaded before the baseline is taken
start, out = peak(), {}
out["preview"] = pixels.make_preview(path).code
out["preview_mib"] = peak() - start
try:
    with open(path, "rb") as handle:
        transcode.for_viewer(handle)
    out["viewer"] = "decoded"
except transcode.Undecodable:
    out["viewer"] = "undecodable"
out["viewer_mib"] = peak() - start
try:
    with open(path, "rb") as handle:
        out["picture"] = repr(pixels.render_first_frame_reduced(handle, max_side=1024))
except Damaged:
    out["picture"] = "damaged"
out["picture_mib"] = peak() - start
print(json.dumps(out))
"""


@pytest.mark.parametrize("name", COMPRESSED)
def test_a_frame_declaring_more_than_its_header_is_refused_at_no_cost(tmp_path, name):
    bomb, plain = _bomb(tmp_path, name), _encoded(tmp_path / "plain", name)
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(bomb), str(plain)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(run.stdout)
    assert seen["preview"] == "undecodable_pixels"  # the patient's upload check
    assert seen["viewer"] == "undecodable"  # the viewer's decoded copy
    if SYNTAXES[name] == JPEG2000Lossless:
        assert seen["picture"] == "damaged"  # the first picture from the reduced levels
    assert max(seen["preview_mib"], seen["viewer_mib"], seen["picture_mib"]) < 64, seen


@pytest.mark.parametrize("name", COMPRESSED)
def test_frames_that_declare_their_header_size_still_decode(tmp_path, name):
    path = _encoded(tmp_path, name)
    frame, syntax = _frame(path)
    check_frame(frame, syntax, rows=ROWS, columns=COLS, samples=1)
    assert max(pixels.make_preview(path).size) == 256
    with path.open("rb") as handle:
        assert dcmread(io.BytesIO(transcode.for_viewer(handle))).pixel_array.shape == (ROWS, COLS)


def _j2k_frame(tmp_path: Path) -> bytes:
    return _frame(_encoded(tmp_path, "jpeg-2000"))[0]


def _box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def test_a_codestream_inside_a_jp2_file_is_read_where_its_box_puts_it(tmp_path):
    codestream = _j2k_frame(tmp_path)
    head = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + _box(b"ftyp", b"jp2 \x00\x00\x00\x00jp2 ")
    check_frame(
        head + _box(b"jp2c", codestream), JPEG2000Lossless, rows=ROWS, columns=COLS, samples=1
    )
    claiming = head + _box(b"jp2c", with_declared_size(codestream, CLAIMED))
    with pytest.raises(Damaged):
        check_frame(claiming, JPEG2000Lossless, rows=ROWS, columns=COLS, samples=1)
    with pytest.raises(Damaged):  # a JP2 file with no codestream box
        check_frame(head, JPEG2000Lossless, rows=ROWS, columns=COLS, samples=1)


def test_more_tiles_than_a_codestream_can_number_is_refused(tmp_path):
    data = bytearray(_j2k_frame(tmp_path))
    data[24:32] = (1).to_bytes(4, "big") * 2  # 1x1 tiles: 60,000 tiles for 300 x 200 is allowed
    check_frame(bytes(data), JPEG2000Lossless, rows=ROWS, columns=COLS, samples=1)
    data[8:16] = (512).to_bytes(4, "big") * 2
    with pytest.raises(Damaged):  # 262,144 one-pixel tiles: no codestream numbers that many
        check_frame(bytes(data), JPEG2000Lossless, rows=512, columns=512, samples=1)


def test_fill_bytes_before_a_jpeg_marker_are_skipped_and_a_missing_size_is_refused(tmp_path):
    frame, syntax = _frame(_encoded(tmp_path, "jpeg-baseline"))
    assert syntax == JPEGBaseline8Bit
    fill = b"\xff\xff\xff"
    check_frame(frame[:2] + fill + frame[2:], syntax, rows=ROWS, columns=COLS, samples=1)
    claiming = with_declared_size(frame, CLAIMED)
    with pytest.raises(Damaged):
        check_frame(claiming[:2] + fill + claiming[2:], syntax, rows=ROWS, columns=COLS, samples=1)
    with pytest.raises(Damaged):  # height 0: the size named only later, by a DNL marker
        check_frame(with_declared_size(frame, 0), syntax, rows=ROWS, columns=COLS, samples=1)
    with pytest.raises(Damaged):  # no frame header before the end
        check_frame(b"\xff\xd8\xff\xd9", syntax, rows=ROWS, columns=COLS, samples=1)
