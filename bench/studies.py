"""Synthetic studies for the benchmarks, written with pydicom: no real patient data.

Sizes follow the issue: an MR of 600 slices of 512x512, a CT of 600 slices of 512x512 and a
four-view mammogram of 3328x4096, all 16-bit and uncompressed (what CDs mostly carry). Headers
carry a scanner-like private block and a 12 kB CSA-like blob, because real headers are that
size and the validator's cost grows with the header, not with the pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

MR_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")
CT_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
MG_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1.2")  # for presentation


@dataclass(frozen=True)
class Sizes:
    """How big the synthetic studies are (``--quick`` makes them small)."""

    mr_slices: int = 600
    mr_side: int = 512
    ct_slices: int = 600
    ct_side: int = 512
    mg_rows: int = 4096
    mg_columns: int = 3328

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            mr_slices=60, mr_side=256, ct_slices=60, ct_side=256, mg_rows=1024, mg_columns=832
        )


@dataclass
class Study:
    """A study written to a folder laid out like a CD (one folder per series)."""

    name: str
    label: str
    root: Path
    files: list[Path] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(path.stat().st_size for path in self.files)

    @property
    def megabytes(self) -> float:
        return self.size / 1e6


def _base(modality: str, sop_class: UID, study_uid: str, rows: int, columns: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.StudyDate = "20240115"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "BENCH0001"
    ds.Modality = modality
    ds.Manufacturer = "SYNTHETIC"
    ds.InstitutionName = "Benchmark General Hospital"
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "BENCH0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid
    ds.StudyID = "1"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    _vendor_header(ds)
    return ds


def _vendor_header(ds: Dataset) -> None:
    """~150 private elements and a 12 kB blob, like a scanner's CSA header."""
    block = ds.private_block(0x0019, "SYNTHETIC VENDOR", create=True)
    for offset in range(0x10, 0xA0):
        block.add_new(offset, "LO", f"parameter {offset}")
    blob = ds.private_block(0x0029, "SYNTHETIC CSA", create=True)
    blob.add_new(0x10, "OB", bytes(range(256)) * 48)


def _frame(rows: int, columns: int) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:columns]
    return ((x + y) * 4095 // (rows + columns)).astype(np.uint16)


def _write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)
    return path


def _volume(
    root: Path,
    *,
    name: str,
    label: str,
    modality: str,
    sop_class: UID,
    slices: int,
    side: int,
    series: int,
    body_part: str,
    description: str,
) -> Study:
    study = Study(name=name, label=label, root=root)
    study_uid = generate_uid()
    frame = _frame(side, side)
    per_series = -(-slices // series)
    written = 0
    for number in range(1, series + 1):
        ds = _base(modality, sop_class, study_uid, side, side)
        ds.SeriesInstanceUID = generate_uid()
        ds.SeriesNumber = number
        ds.SeriesDescription = f"{description} series {number}"
        ds.StudyDescription = description
        ds.BodyPartExamined = body_part
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [0.5, 0.5]
        ds.SliceThickness = 1.0
        if modality == "CT":
            ds.RescaleIntercept = -1024
            ds.RescaleSlope = 1
            ds.KVP = 120
        for index in range(min(per_series, slices - written)):
            uid = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
            ds.SOPInstanceUID = uid
            ds.InstanceNumber = index + 1
            ds.ImagePositionPatient = [0.0, 0.0, float(index)]
            ds.SliceLocation = float(index)
            ds.PixelData = (frame + np.uint16(index)).tobytes()
            path = root / f"SE{number:04d}" / f"IM{index + 1:05d}"
            study.files.append(_write(ds, path))
            written += 1
    return study


def write_mr(root: Path, sizes: Sizes) -> Study:
    return _volume(
        root,
        name="mr",
        label=f"MR {sizes.mr_slices} x {sizes.mr_side}^2",
        modality="MR",
        sop_class=MR_STORAGE,
        slices=sizes.mr_slices,
        side=sizes.mr_side,
        series=4,
        body_part="BRAIN",
        description="MRI BRAIN WITHOUT CONTRAST",
    )


def write_ct(root: Path, sizes: Sizes) -> Study:
    return _volume(
        root,
        name="ct",
        label=f"CT {sizes.ct_slices} x {sizes.ct_side}^2",
        modality="CT",
        sop_class=CT_STORAGE,
        slices=sizes.ct_slices,
        side=sizes.ct_side,
        series=2,
        body_part="CHEST",
        description="CT CHEST WITH CONTRAST",
    )


def write_mammogram(root: Path, sizes: Sizes) -> Study:
    study = Study(
        name="mg",
        label=f"MG 4 x {sizes.mg_columns}x{sizes.mg_rows}",
        root=root,
    )
    study_uid = generate_uid()
    frame = _frame(sizes.mg_rows, sizes.mg_columns)
    for number, view in enumerate(("RCC", "LCC", "RMLO", "LMLO"), start=1):
        ds = _base("MG", MG_STORAGE, study_uid, sizes.mg_rows, sizes.mg_columns)
        uid = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
        ds.SOPInstanceUID = uid
        ds.SeriesInstanceUID = generate_uid()
        ds.SeriesNumber = number
        ds.InstanceNumber = 1
        ds.StudyDescription = "MAMMOGRAM SCREENING"
        ds.SeriesDescription = view
        ds.BodyPartExamined = "BREAST"
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImageLaterality = view[0]
        ds.ViewPosition = view[1:]
        ds.PixelData = (frame + np.uint16(number)).tobytes()
        study.files.append(_write(ds, root / f"SE{number:04d}" / f"{view}.dcm"))
    return study


WRITERS = {"mr": write_mr, "mg": write_mammogram, "ct": write_ct}


def write_studies(
    root: Path, sizes: Sizes, names: tuple[str, ...] = ("mr", "mg", "ct")
) -> list[Study]:
    return [WRITERS[name](root / name, sizes) for name in names]


_written: dict[tuple[Path, Sizes], list[Study]] = {}


def studies_for(workspace, sizes: Sizes) -> list[Study]:
    """The run's studies, written once and shared by the figures that need them."""
    key = (workspace.root, sizes)
    if key not in _written:
        folder = workspace.folder("studies")
        print(f"bench: writing synthetic studies under {folder} ...", flush=True)
        _written[key] = write_studies(folder, sizes)
    return _written[key]
