"""Synthetic DICOM studies for the tests: built with pydicom, no real patient data.

Every UID comes from ``pydicom.uid.generate_uid()``; names, IDs and dates are made up.
"""

from __future__ import annotations

import shutil
import warnings
import zlib
from collections.abc import Iterable, Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.fileset import FileSet
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    DigitalMammographyXRayImageStorageForPresentation,
    DigitalMammographyXRayImageStorageForProcessing,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

PATIENT_NAME = "DOE^JANE"
PATIENT_ID = "SYN0001"
BIRTH_DATE = "19700101"

_SOP_CLASSES = {
    "MR": MRImageStorage,
    "CT": UID("1.2.840.10008.5.1.4.1.1.2"),
    "US": UID("1.2.840.10008.5.1.4.1.1.6.1"),
    "CR": UID("1.2.840.10008.5.1.4.1.1.1"),
    "DX": UID("1.2.840.10008.5.1.4.1.1.1.1"),
    "PT": UID("1.2.840.10008.5.1.4.1.1.128"),
    "NM": UID("1.2.840.10008.5.1.4.1.1.20"),
    "MG": DigitalMammographyXRayImageStorageForPresentation,
}


def make_dataset(
    *,
    modality: str = "MR",
    rows: int = 64,
    cols: int = 64,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    sop_class_uid: str | None = None,
    instance_number: int | None = 1,
    series_number: int = 1,
    patient_name: str = PATIENT_NAME,
    patient_id: str = PATIENT_ID,
    birth_date: str = BIRTH_DATE,
    body_part: str | None = "BRAIN",
    study_description: str = "MRI BRAIN WITHOUT CONTRAST",
    series_description: str = "AX T2",
    position: Sequence[float] | None = (0.0, 0.0, 0.0),
    orientation: Sequence[float] | None = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    frames: int = 1,
    bits: int = 16,
    view_position: str | None = None,
    laterality: str | None = None,
    presentation_intent: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    seed: int = 0,
    realistic_header: bool = False,
) -> Dataset:
    """One image with plausible tags and a gradient (not random: previews stay meaningful)."""
    sop_uid = sop_uid or generate_uid()
    sop_class = UID(sop_class_uid or _SOP_CLASSES.get(modality, MRImageStorage))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    native = transfer_syntax if transfer_syntax != RLELossless else ExplicitVRLittleEndian
    ds.file_meta.TransferSyntaxUID = UID(native)
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = "20240115"
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.AccessionNumber = "SYNACC1"
    ds.Modality = modality
    if presentation_intent:
        ds.PresentationIntentType = presentation_intent
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = "F"
    if body_part:
        ds.BodyPartExamined = body_part
    if view_position:
        ds.ViewPosition = view_position
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesNumber = series_number
    if instance_number is not None:
        ds.InstanceNumber = instance_number
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    if laterality:
        ds.ImageLaterality = laterality
    if realistic_header:
        _add_vendor_noise(ds)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = 2048 if bits == 16 else 128
    ds.WindowWidth = 4096 if bits == 16 else 256
    ds.PixelData = _pixels(rows, cols, frames, bits, seed).tobytes()
    if transfer_syntax == RLELossless:
        ds.compress(RLELossless)
    return ds


def _pixels(rows: int, cols: int, frames: int, bits: int, seed: int) -> np.ndarray:
    dtype = np.uint16 if bits == 16 else np.uint8
    top = 4095 if bits == 16 else 255
    y, x = np.mgrid[0:rows, 0:cols]
    frame = ((x + y + seed) * top // max(rows + cols, 1)).astype(dtype)
    return np.stack([frame] * frames) if frames > 1 else frame


def _add_vendor_noise(ds: Dataset) -> None:
    """Private tags like a real scanner's (~150 elements and a 12 kB CSA-like blob)."""
    block = ds.private_block(0x0019, "SYNTHETIC VENDOR", create=True)
    for offset in range(0x10, 0xA0):
        block.add_new(offset, "LO", f"parameter {offset}")
    blob = ds.private_block(0x0029, "SYNTHETIC CSA", create=True)
    blob.add_new(0x10, "OB", bytes(range(256)) * 48)


def write_dataset(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid values are the point of some tests
        ds.save_as(path, enforce_file_format=True)
    return path


def write_instance(path: Path, **fields: object) -> Path:
    return write_dataset(make_dataset(**fields), path)  # type: ignore[arg-type]


def write_series(
    directory: Path,
    n: int = 10,
    *,
    modality: str = "MR",
    rows: int = 64,
    cols: int = 64,
    body_part: str | None = "BRAIN",
    patient_name: str = PATIENT_NAME,
    patient_id: str = PATIENT_ID,
    birth_date: str = BIRTH_DATE,
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    spacing: float = 5.0,
    positions: bool = True,
    skip: Iterable[int] = (),
    prefix: str = "IM",
    **fields: object,
) -> list[Path]:
    """``n`` slices 1..n along z; indexes in ``skip`` are left out (a gap a CD copy may have)."""
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    skipped = set(skip)
    paths = []
    for index in range(n):
        if index in skipped:
            continue
        ds = make_dataset(
            modality=modality,
            rows=rows,
            cols=cols,
            body_part=body_part,
            patient_name=patient_name,
            patient_id=patient_id,
            birth_date=birth_date,
            study_uid=study_uid,
            series_uid=series_uid,
            series_number=series_number,
            instance_number=index + 1,
            position=(0.0, 0.0, index * spacing) if positions else None,
            seed=index,
            **fields,  # type: ignore[arg-type]
        )
        paths.append(write_dataset(ds, directory / f"{prefix}{index + 1:04d}"))
    return paths


MAMMO_VIEWS = ("RCC", "LCC", "RMLO", "LMLO")


def write_mammogram(
    directory: Path,
    views: Iterable[str] = MAMMO_VIEWS,
    *,
    presentation_intent: str = "FOR PRESENTATION",
    study_uid: str | None = None,
    modality: str = "MG",
    **fields: object,
) -> list[Path]:
    """One image per view ("RCC" = right craniocaudal...), each in its own series."""
    study_uid = study_uid or generate_uid()
    sop_class = (
        DigitalMammographyXRayImageStorageForProcessing
        if presentation_intent == "FOR PROCESSING"
        else None
    )
    paths = []
    for number, view in enumerate(views, start=1):
        ds = make_dataset(
            modality=modality,
            body_part="BREAST",
            study_uid=study_uid,
            series_number=number,
            view_position=view[1:],
            laterality=view[0],
            presentation_intent=presentation_intent,
            sop_class_uid=sop_class,
            position=None,
            orientation=None,
            study_description="MAMMOGRAM SCREENING",
            series_description=view,
            **fields,  # type: ignore[arg-type]
        )
        paths.append(write_dataset(ds, directory / f"{view}.dcm"))
    return paths


def write_cd(directory: Path, sources: Iterable[Path]) -> Path:
    """A CD layout: DICOMDIR plus PT000000/ST000000/SE000000/IM000000... written by pydicom."""
    fileset = FileSet()
    for source in sources:
        fileset.add(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fileset.write(directory)
    return directory / "DICOMDIR"


def write_undecodable(path: Path, syntax: str = JPEGBaseline8Bit, **fields: object) -> Path:
    """A complete, well-formed file whose JPEG fragment is garbage: only decoding can tell."""
    ds = make_dataset(**fields)  # type: ignore[arg-type]
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = encapsulate([b"\xff\xd8 this is not a JPEG stream " * 8])
    ds["PixelData"].VR = "OB"
    return write_dataset(ds, path)


# --- mutations -----------------------------------------------------------------------------


def truncate(path: Path, drop: int) -> Path:
    """Cut the last ``drop`` bytes, like an interrupted copy."""
    data = path.read_bytes()
    path.write_bytes(data[:-drop])
    return path


def cut_before_pixel_data(path: Path) -> Path:
    """Keep everything before the (7FE0,0010) tag: a header without its image."""
    data = path.read_bytes()
    at = data.rfind(b"\xe0\x7f\x10\x00")
    path.write_bytes(data[:at])
    return path


def set_preamble(path: Path, prefix: bytes) -> Path:
    """Overwrite the start of the 128-byte preamble (CVE-2019-11687 polyglots live there)."""
    data = bytearray(path.read_bytes())
    data[: len(prefix)] = prefix
    path.write_bytes(bytes(data))
    return path


def replace_bytes(path: Path, old: bytes, new: bytes) -> Path:
    """Patch bytes in place; same length, so every declared length stays right."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    return path


def rewrite(path: Path, **changes: object) -> Path:
    """Re-save with tags changed (a value of None deletes the tag)."""
    from pydicom import dcmread

    ds = dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values we set
        for keyword, value in changes.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
    return write_dataset(ds, path)


def strip_file_meta(path: Path) -> Path:
    """Drop the preamble and file meta: a bare dataset, as pre-2000 CDs hold them."""
    data = path.read_bytes()
    path.write_bytes(data[_file_meta_end(data) :])
    return path


def write_deflated(path: Path, **fields: object) -> Path:
    ds = make_dataset(transfer_syntax=DeflatedExplicitVRLittleEndian, **fields)  # type: ignore[arg-type]
    return write_dataset(ds, path)


def write_deflate_bomb(path: Path, inflated_mib: int = 256) -> Path:
    """A few hundred kB that inflate to ``inflated_mib`` MiB: a valid Deflated Explicit VR
    file whose pixel data is zeros, written as one stream without ever holding it whole."""
    side = 8192
    frames = inflated_mib * 1024 * 1024 // (side * side * 2)
    ds = make_dataset(rows=1, cols=1)
    ds.Rows, ds.Columns, ds.NumberOfFrames = side, side, frames
    del ds.PixelData
    buffer = BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    encoded = buffer.getvalue()
    meta_end = _file_meta_end(encoded)
    meta = encoded[:meta_end].replace(
        ExplicitVRLittleEndian.encode() + b"\x00", DeflatedExplicitVRLittleEndian.encode()
    )
    meta = _fix_meta_group_length(meta)
    pixel_length = side * side * 2 * frames
    header = b"\xe0\x7f\x10\x00OW\x00\x00" + pixel_length.to_bytes(4, "little")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(16 * 1024 * 1024)
    with open(path, "wb") as out:
        out.write(meta)
        out.write(compressor.compress(encoded[meta_end:] + header))
        block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
        out.write(block)
        # After a full flush the block decodes on its own, so repeating it is a valid stream.
        for _ in range(pixel_length // len(chunk) - 1):
            out.write(block)
        out.write(compressor.flush())
    return path


def _file_meta_end(encoded: bytes) -> int:
    group_length = int.from_bytes(encoded[140:144], "little")  # (0002,0000) UL at 132
    return 144 + group_length


def _fix_meta_group_length(meta: bytes) -> bytes:
    # "1.2.840.10008.1.2.1\0" (20 bytes) became "1.2.840.10008.1.2.1.99" (22): fix both lengths.
    at = meta.index(DeflatedExplicitVRLittleEndian.encode())
    length_at = at - 2
    fixed = bytearray(meta)
    fixed[length_at : length_at + 2] = (22).to_bytes(2, "little")
    group_length = len(meta) - 144
    fixed[140:144] = group_length.to_bytes(4, "little")
    return bytes(fixed)


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
