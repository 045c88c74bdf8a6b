"""Series compressed with each codec a scanner or PACS may use: pydicom encodes RLE and (with
pylibjpeg-openjpeg) JPEG 2000; GDCM encodes JPEG Baseline, JPEG Lossless and JPEG-LS."""

from pathlib import Path

import gdcm
import numpy as np
from pydicom import dcmread
from pydicom.encaps import encapsulate, get_frame
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from tests.records.dicom_factory import make_dataset, write_dataset

SYNTAXES = {
    "jpeg-baseline": JPEGBaseline8Bit,
    "jpeg-lossless": JPEGLosslessSV1,
    "jpeg-ls": JPEGLSLossless,
    "jpeg-2000": JPEG2000Lossless,
    "rle-lossless": RLELossless,
}
_GDCM = {
    JPEGBaseline8Bit: gdcm.TransferSyntax.JPEGBaselineProcess1,
    JPEGLosslessSV1: gdcm.TransferSyntax.JPEGLosslessProcess14_1,
    JPEGLSLossless: gdcm.TransferSyntax.JPEGLSLossless,
}


def pattern(rows: int, cols: int, bits: int, seed: int = 0) -> np.ndarray:
    """A ramp steeper across than down (so a transposed or mirrored image differs)."""
    top = 4095 if bits == 16 else 255
    y, x = np.mgrid[0:rows, 0:cols]
    return ((3 * x + y + seed) * top // (3 * cols + rows + seed)).astype(
        np.uint16 if bits == 16 else np.uint8
    )


def _gdcm_encode(source: Path, target: Path, syntax: str) -> None:
    reader = gdcm.ImageReader()
    reader.SetFileName(str(source))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(_GDCM[syntax]))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(target))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()


def write_encoded_series(
    directory: Path, syntax: str, *, n: int = 2, rows: int = 128, cols: int = 128, **fields
) -> list[Path]:
    """`n` slices of one series in `syntax` (8-bit for JPEG Baseline, 12 in 16 otherwise)."""
    bits = 8 if syntax == JPEGBaseline8Bit else 16
    study_uid = fields.pop("study_uid", None) or generate_uid()
    series_uid = generate_uid()
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(n):
        ds = make_dataset(
            rows=rows,
            cols=cols,
            bits=bits,
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=index + 1,
            position=(0.0, 0.0, 5.0 * index),
            **fields,
        )
        ds.PixelData = pattern(rows, cols, bits, seed=index).tobytes()
        path = directory / f"IM{index + 1:04d}"
        if syntax in _GDCM:
            plain = write_dataset(ds, directory / f".plain{index}")
            _gdcm_encode(plain, path, syntax)
            plain.unlink()
        else:
            ds.compress(syntax)
            write_dataset(ds, path)
        paths.append(path)
    return paths


def with_declared_size(frame: bytes, side: int) -> bytes:
    """The frame with the size in its own header (SIZ or SOF) made ``side`` x ``side``."""
    data = bytearray(frame)
    if data.startswith(b"\xff\x4f\xff\x51"):
        data[8:16] = side.to_bytes(4, "big") * 2  # Xsiz, Ysiz
        data[24:32] = side.to_bytes(4, "big") * 2  # one tile, as encoders write it
        return bytes(data)
    at = 2
    while data[at + 1] not in (0xC0, 0xC1, 0xC3, 0xF7):
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    data[at + 5 : at + 9] = side.to_bytes(2, "big") * 2
    return bytes(data)


def write_claiming(source: Path, target: Path, side: int) -> Path:
    """A copy of the one-frame file `source` whose frame declares `side` x `side` pixels."""
    ds = dcmread(source)
    frame = get_frame(ds.PixelData, 0, number_of_frames=1)
    ds.PixelData = encapsulate([with_declared_size(frame, side)])
    return write_dataset(ds, target)
