"""The size a compressed frame declares, checked before any codec decodes it.

A codec allocates what the frame's own header (JPEG's SOF, JPEG 2000's SIZ) declares, not what
the DICOM header's Rows and Columns say, and our size limits read the DICOM header. A frame that
declares 60,000 x 60,000 pixels under a header of 300 x 200 would have the codec set aside
gigabytes before it gives up. ``check_frame`` refuses such a frame first, as damaged.
"""

from __future__ import annotations

from typing import Final

from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

from records.dicom.damage import Damaged

_JPEG: Final = frozenset(JPEGTransferSyntaxes) | frozenset(JPEGLSTransferSyntaxes)
_JPEG2000: Final = frozenset(JPEG2000TransferSyntaxes)
CHECKED_SYNTAXES: Final = _JPEG | _JPEG2000

# JPEG start-of-frame markers (ISO/IEC 10918-1 B.1.1.3; 0xF7 is JPEG-LS's SOF55), and the
# markers that stand alone, without a length.
_SOF: Final = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC)}) | frozenset(
    {*range(0xCD, 0xD0), 0xF7}
)
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})
# A tile index (Isot) is 16 bits, 65,534 at most (ISO/IEC 15444-1 A.4.2): more tiles than that
# is no valid codestream, and each tile costs the decoder memory before any pixel.
_MAX_TILES: Final = 65_535
_JP2_SIGNATURE: Final = b"\x00\x00\x00\x0cjP  "


def check_frame(frame: bytes, syntax: str, *, rows: int, columns: int, samples: int) -> None:
    """Raise Damaged unless ``frame`` (one encapsulated frame in ``syntax``) declares at most
    ``rows`` x ``columns`` x ``samples`` values. Other syntaxes decode to the DICOM header's
    size, which the callers have bounded already."""
    if syntax in _JPEG2000:
        height, width, components = _jpeg2000_size(frame)
    elif syntax in _JPEG:
        height, width, components = _jpeg_size(frame)
    else:
        return
    if not height or not width or not components:
        raise Damaged  # a frame of no size, or one that names it only later (DNL)
    if height * width * components > rows * columns * samples:
        raise Damaged


def _jpeg_size(frame: bytes) -> tuple[int, int, int]:
    """Height, width and components from the SOF segment of a JPEG or JPEG-LS frame."""
    if frame[:2] != b"\xff\xd8":
        raise Damaged
    at = 2
    while at + 4 <= len(frame):
        if frame[at] != 0xFF:
            raise Damaged  # lost between segments
        marker = frame[at + 1]
        if marker == 0xFF:  # a fill byte before a marker
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker in _SOF:
            if at + 10 > len(frame):
                break
            height = int.from_bytes(frame[at + 5 : at + 7], "big")
            width = int.from_bytes(frame[at + 7 : at + 9], "big")
            return height, width, frame[at + 9]
        if marker in (0xDA, 0xD9):  # scan data or the end before any frame header
            break
        at += 2 + int.from_bytes(frame[at + 2 : at + 4], "big")
    raise Damaged


def _jpeg2000_size(frame: bytes) -> tuple[int, int, int]:
    """Height, width and components from the SIZ segment of a JPEG 2000 codestream, bare or in
    a JP2 file's contiguous codestream box; refuses more tiles than a codestream can hold."""
    at = _jp2_codestream(frame) if frame.startswith(_JP2_SIGNATURE) else 0
    siz = frame[at : at + 42]
    if len(siz) < 42 or siz[:4] != b"\xff\x4f\xff\x51":
        raise Damaged  # SIZ must follow the start of codestream (A.3)
    x_size, y_size, x_offset, y_offset, x_tile, y_tile, x_tile_offset, y_tile_offset = (
        int.from_bytes(siz[n : n + 4], "big") for n in range(8, 40, 4)
    )
    if not (x_offset < x_size and y_offset < y_size and x_tile and y_tile):
        raise Damaged
    tiles = -(-(x_size - x_tile_offset) // x_tile) * -(-(y_size - y_tile_offset) // y_tile)
    if x_tile_offset > x_offset or y_tile_offset > y_offset or tiles > _MAX_TILES:
        raise Damaged
    return y_size - y_offset, x_size - x_offset, int.from_bytes(siz[40:42], "big")


def _jp2_codestream(frame: bytes) -> int:
    """Where the codestream starts in a JP2 file: the content of its 'jp2c' box."""
    at = 0
    while at + 8 <= len(frame):
        length = int.from_bytes(frame[at : at + 4], "big")
        header = 8
        if length == 1:  # a 64-bit length follows the box type
            length, header = int.from_bytes(frame[at + 8 : at + 16], "big"), 16
        if frame[at + 4 : at + 8] == b"jp2c":
            return at + header
        if length < header:  # 0 (to the end) on any box but the codestream's, or nonsense
            break
        at += length
    raise Damaged
