"""Pixel data: ``make_preview`` decodes one frame into a small image, which also proves the
installed codecs can read it; a whole upload has one image per series decoded.

The frame is decoded whole in its own (native) dtype, never copied to floats: a mammogram's
frame is 13.6 million pixels, 27 MB as 16-bit integers, 109 MB as float64. An uncompressed
little-endian frame is read straight from the file into a 16-bit array whose length is checked
(that is all decoding means for it); compressed ones go through pydicom's decoders. Only the
subsampled frame the preview is drawn from (at most twice the preview's side) becomes floats.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.filereader import read_dataset
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
)

from records.dicom.codestream import CHECKED_SYNTAXES, check_frame
from records.dicom.damage import (
    INFRASTRUCTURE_ERRNOS,
    Damaged,
    Quiet,
    Reject,
    internal_error,
    third_party,
)
from records.dicom.header import BoundedReads, inflate_bounded, scan_file_meta
from records.dicom.inspect import first_value, inspect_header
from records.dicom.results import (
    HEAD_BYTES,
    MAX_FRAME_BYTES,
    MAX_FULL_READ_BYTES,
    MAX_INFLATED_BYTES,
    PREVIEW_MAX_SIDE,
    FileResult,
    Report,
)
from records.problems import Problem, make


def make_preview(
    path: str | os.PathLike[str],
    *,
    rel_path: str | None = None,
    frame: int | None = None,
    max_side: int = PREVIEW_MAX_SIDE,
) -> Image.Image | Problem:
    """Decode ONE frame (the middle one by default) and return it as a small 8-bit image.

    Proves the pixel data is readable with the installed codecs; returns ``undecodable_pixels``
    (or the file's own error) when it is not.
    """
    shown = os.fspath(path) if rel_path is None else rel_path
    info, header = inspect_header(path, rel_path=shown)
    errors = [problem for problem in info.problems if problem.is_error]
    if errors:
        return errors[0]
    if info.kind != "instance" or not info.has_pixel_data:
        return make("undecodable_pixels", shown)
    try:
        with Quiet():  # reading the window and photometric values decodes text too
            array, ds = _decode_frame(Path(path), info, header, frame)
            return _to_image(array, ds, max_side)
    except (Reject, Damaged):  # any codec failure means the same to the patient
        return make("undecodable_pixels", shown)
    except OSError as exc:
        if exc.errno in INFRASTRUCTURE_ERRNOS:
            raise
        return make("undecodable_pixels", shown)
    except Exception as exc:  # not the pixels' doing (see Damaged): a failure of our own code
        return internal_error(exc, shown)


def render_first_frame(data: bytes, *, max_side: int) -> Image.Image:
    """Frame 0 of an uncompressed file (the viewer's copy, `records.dicom.transcode`) as an
    8-bit image at its first VOI window, as a preview is drawn, at most ``max_side`` a side."""
    with Quiet(), third_party:
        ds = dcmread(io.BytesIO(data), force=True)
        return _to_image(pixel_array(ds, index=0), ds, max_side)


def render_first_frame_reduced(source: BinaryIO, *, max_side: int) -> Image.Image | None:
    """Frame 0 of a stored grey JPEG 2000 image, drawn as `render_first_frame` draws it, decoded
    only down to the smallest resolution level with at least ``max_side`` pixels a side.

    A JPEG 2000 codestream holds its image at successive halvings: a 3328x4096 mammogram drawn at
    1024 a side decodes about thirty times faster this way than whole. None when the file is not
    such an image (another syntax, colour, signed samples, an unusual codestream): the caller
    then decodes it whole.
    """
    with Quiet(), third_party:
        ds = dcmread(BoundedReads(source), force=True)
        if ds.file_meta.get("TransferSyntaxUID") not in _JPEG2000_SYNTAXES:
            return None
        if "PixelData" not in ds or int(ds.get("SamplesPerPixel") or 1) != 1:
            return None
        frames = int(ds.get("NumberOfFrames") or 1)
        rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        codestream = get_frame(ds.PixelData, 0, number_of_frames=frames)
    check_frame(codestream, ds.file_meta.TransferSyntaxUID, rows=rows, columns=columns, samples=1)
    layout = _codestream_layout(codestream)
    if layout is None:
        return None
    precision, levels = layout
    side = max(rows, columns)
    reduce = 0
    while reduce < levels and -(-side // 2 ** (reduce + 1)) >= max_side:
        reduce += 1
    try:
        image = Image.open(io.BytesIO(codestream))
        image.reduce = reduce
        image.load()
    except (OSError, Image.DecompressionBombError):
        return None  # not Pillow's (unreadable, past its pixel limit): the whole decode decides
    array = np.asarray(image)
    if image.mode == "I;16" and precision < 16:
        array = array >> (16 - precision)  # OpenJPEG's samples scaled up to 16 bits, scaled back
    with Quiet():
        return _to_image(array, ds, max_side)


_JPEG2000_SYNTAXES = frozenset({JPEG2000Lossless, JPEG2000})


def _codestream_layout(codestream: bytes) -> tuple[int, int] | None:
    """The sample precision of a one-component, unsigned JPEG 2000 codestream and its number of
    wavelet decomposition levels (from its SIZ and COD markers), or None."""
    # SOC, then SIZ: Lsiz, Rsiz, eight 32-bit sizes and offsets, Csiz, then Ssiz per component.
    if codestream[:4] != b"\xff\x4f\xff\x51" or len(codestream) < 43:
        return None
    # Cut short (no EOC at its end, before a fragment's even-length padding): a decoder allowed
    # to draw truncated images would draw part of it; the whole decode refuses it instead.
    if not codestream.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return None
    components = int.from_bytes(codestream[40:42], "big")
    sample = codestream[42]
    if components != 1 or sample & 0x80:
        return None
    at = 4 + int.from_bytes(codestream[4:6], "big")
    while at + 4 <= len(codestream) and codestream[at] == 0xFF:
        marker, length = codestream[at + 1], int.from_bytes(codestream[at + 2 : at + 4], "big")
        if marker == 0x90:  # SOT: the main header has ended without a COD
            return None
        if marker == 0x52 and at + 9 < len(codestream):  # COD: Scod, SGcod (4), then levels
            return (sample & 0x7F) + 1, codestream[at + 9]
        at += 2 + length
    return None


def _decode_frame(
    path: Path, info: FileResult, header: Dataset | None, frame: int | None
) -> tuple[np.ndarray, Dataset]:
    frame_bytes = (info.rows or 0) * (info.columns or 0) * info.samples_per_pixel
    frame_bytes *= max((info.bits_allocated or 8) // 8, 1)
    if frame_bytes > MAX_FRAME_BYTES:
        raise Damaged  # too large to decode safely: to the patient, unreadable
    index = info.number_of_frames // 2 if frame is None else frame
    if header is not None and _native_little_endian(info):
        return _read_native_frame(path, info, index), header
    if info.transfer_syntax_uid == DeflatedExplicitVRLittleEndian:
        return _decode_deflated(path, index)
    if info.transfer_syntax_uid in CHECKED_SYNTAXES:
        _check_declared_size(path, info, index)
    ds = Dataset()
    try:
        with third_party:
            array = pixel_array(
                path,
                index=index,
                ds_out=ds,
                transfer_syntax_uid=info.transfer_syntax_uid,
            )
    except Damaged:
        # Vendor quirk: files encoded in implicit VR under an explicit transfer syntax read
        # fine with dcmread (which detects the switch) but not through the frame-only reader.
        if info.file_size > MAX_FULL_READ_BYTES:
            raise
        with third_party, BoundedReads(path.open("rb")) as handle:
            ds = dcmread(handle, force=True)
            if "TransferSyntaxUID" not in ds.file_meta:
                ds.file_meta.TransferSyntaxUID = UID(info.transfer_syntax_uid)
            array = pixel_array(ds, index=index)
    return array, ds


def _check_declared_size(path: Path, info: FileResult, index: int) -> None:
    """Refuse frame ``index`` before a codec sees it if it declares more pixels than the
    header (`records.dicom.codestream`)."""
    if info.pixel_data_at is None:
        raise Damaged
    with third_party, BoundedReads(path.open("rb")) as handle:
        handle.seek(info.pixel_data_at)
        frame = get_frame(handle, index, number_of_frames=info.number_of_frames)
    check_frame(
        frame,
        info.transfer_syntax_uid,
        rows=info.rows or 0,
        columns=info.columns or 0,
        samples=info.samples_per_pixel,
    )


_NATIVE_SYNTAXES = frozenset({str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian)})
_MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})


def _native_little_endian(info: FileResult) -> bool:
    """A grey frame stored as plain 8- or 16-bit little-endian integers, where the file says."""
    return (
        info.transfer_syntax_uid in _NATIVE_SYNTAXES
        and info.pixel_data_at is not None
        and info.samples_per_pixel == 1
        and info.photometric_interpretation in _MONOCHROME
        and info.bits_allocated in (8, 16)
        and info.pixel_representation in (0, 1)
        and bool(info.rows)
        and bool(info.columns)
    )


def _read_native_frame(path: Path, info: FileResult, index: int) -> np.ndarray:
    """Frame ``index`` read from the file into an array of its own dtype, its length checked.

    One copy, from the page cache into the array: no bytes object, no float copy. The bits
    above BitsStored are masked (or the sign extended) on the subsampled frame, in ``_to_image``.
    """
    rows, columns = info.rows or 0, info.columns or 0
    width = (info.bits_allocated or 8) // 8
    kind = "i" if info.pixel_representation == 1 else "u"
    dtype = np.dtype(f"<{kind}{width}")
    frame_bytes = rows * columns * width
    if not 0 <= index < info.number_of_frames:
        raise Damaged
    start = (info.pixel_data_at or 0) + index * frame_bytes
    if (index + 1) * frame_bytes > info.pixel_data_length:
        raise Damaged  # the element is shorter than the frames it announces
    array = np.empty(rows * columns, dtype=dtype)
    view = memoryview(array).cast("B")
    got = 0
    with open(path, "rb", buffering=0) as fp:
        fp.seek(start)
        while got < frame_bytes:
            read = fp.readinto(view[got:])
            if not read:
                raise Damaged  # the file ended inside the frame
            got += read
    return array.reshape(rows, columns)


def _stored_bits(array: np.ndarray, bits_stored: int | None) -> np.ndarray:
    """Keep the low BitsStored bits (old files put overlays above them), sign-extended for
    signed pixels, as pydicom's decoders do."""
    bits = array.dtype.itemsize * 8
    if not bits_stored or not 0 < bits_stored < bits:
        return array
    if array.dtype.kind == "u":
        return array & np.array((1 << bits_stored) - 1, dtype=array.dtype)
    shift = bits - bits_stored
    return (array << shift) >> shift


def _decode_deflated(path: Path, index: int) -> tuple[np.ndarray, Dataset]:
    with open(path, "rb") as fp:
        head = fp.read(HEAD_BYTES)
        start = 132 if head[128:132] == b"DICM" else 0
        _meta, dataset_start = scan_file_meta(head, start)
        fp.seek(dataset_start)
        inflated = inflate_bounded(fp, MAX_INFLATED_BYTES)
    with third_party:
        ds = read_dataset(io.BytesIO(inflated), False, True)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # what it is once inflated
        return pixel_array(ds, index=index), ds


def _header_value(ds: Dataset, keyword: str) -> Any:
    """A value of the file's header as pydicom decodes it; None when absent or malformed."""
    try:
        return ds.get(keyword)
    except Exception:  # only pydicom decoding the file's value: a malformed value is absent
        return None


def _to_image(array: np.ndarray, ds: Dataset, max_side: int) -> Image.Image:
    photometric = str(_header_value(ds, "PhotometricInterpretation") or "").upper()
    if photometric == "PALETTE COLOR":
        # pydicom applying the file's own lookup table: if it cannot, the grey values still show.
        with contextlib.suppress(Exception):
            array = apply_color_lut(array, ds)
    # What a codec may hand back for a strange header (no pixels, two samples per pixel...) is
    # checked here, so that numpy and Pillow below only ever see what they can draw.
    if array.size == 0 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] < 3):
        raise Damaged
    step = max(1, max(array.shape[:2]) // (max_side * 2))
    array = np.ascontiguousarray(array[::step, ::step])
    if array.dtype.kind in "iu":
        array = _stored_bits(array, _bits_stored(ds))
    if array.ndim == 3:
        image = Image.fromarray(_stretch(array[..., :3].astype(np.float64)))  # RGB
    else:
        gray = _rescaled(array, ds)
        low, high = _window(gray, ds)
        eight_bit = _stretch(gray, low, high)
        if photometric == "MONOCHROME1":
            eight_bit = 255 - eight_bit
        image = Image.fromarray(eight_bit)  # L
    image.thumbnail((max_side, max_side))
    return image


def _bits_stored(ds: Dataset) -> int | None:
    value = _header_value(ds, "BitsStored")
    return value if isinstance(value, int) else None


def _rescaled(array: np.ndarray, ds: Dataset) -> np.ndarray:
    values = array.astype(np.float64)
    try:
        slope = float(_header_value(ds, "RescaleSlope") or 1)
        intercept = float(_header_value(ds, "RescaleIntercept") or 0)
    except (TypeError, ValueError):  # several values, or text: not a rescale we can apply
        return values
    if math.isfinite(slope) and math.isfinite(intercept):
        values = values * slope + intercept
    return values


def _window(values: np.ndarray, ds: Dataset) -> tuple[float, float]:
    """The first VOI window of the header if sane, else the 0.5-99.5 percentile range."""
    try:
        center = float(first_value(_header_value(ds, "WindowCenter")))
        width = float(first_value(_header_value(ds, "WindowWidth")))
        if math.isfinite(center) and math.isfinite(width) and width >= 1:
            return center - width / 2, center + width / 2
    except (TypeError, ValueError):
        pass
    low, high = np.percentile(values, [0.5, 99.5])
    return float(low), float(high)


def _stretch(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    if not high > low:
        high = low + 1
    scaled = (np.clip(values, low, high) - low) * (255.0 / (high - low))
    return scaled.astype(np.uint8)


# --- one decoded frame per series -------------------------------------------------------------


def decode_one_frame_per_series(
    report: Report, kept: list[FileResult], locations: dict[str, Path]
) -> list[Problem]:
    problems = []
    by_series: dict[str, list[FileResult]] = defaultdict(list)
    for result in kept:
        if result.has_pixel_data:
            by_series[result.series_instance_uid].append(result)
    for study in report.studies:
        for series in study.series:
            members = by_series.get(series.series_instance_uid)
            if not members:
                continue
            members.sort(key=lambda r: (r.instance_number is None, r.instance_number or 0, r.path))
            chosen = members[len(members) // 2]
            preview = make_preview(locations[chosen.path], rel_path=chosen.path)
            series.preview_path = chosen.path
            if isinstance(preview, Problem):
                problems.append(preview)
            else:
                series.preview = preview
    return problems
