"""Series compressed with each codec a scanner or PACS may use: pydicom encodes RLE and (with
pylibjpeg-openjpeg) JPEG 2000; GDCM encodes JPEG Baseline, JPEG Lossless and JPEG-LS."""

from pathlib import Path

import gdcm
import numpy as np
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
