"""What the browser viewer reads: one image as uncompressed Explicit VR Little Endian.

Whatever the file's transfer syntax (JPEG Baseline, JPEG Lossless, JPEG-LS, JPEG 2000, RLE...),
the codecs installed here (pydicom's own, pylibjpeg, GDCM) decode it once on the server, and the
browser receives raw pixels it reads without codecs of its own; windowing stays in the browser.

The copy keeps only what drawing, placing and measuring the image needs: no name, no ID, no
birth date, no study or series identifiers, no private tags. What it cannot decode, or what would
decode to more than ``MAX_DECODED_BYTES``, raises ``Undecodable``.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Final

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.uid import (
    JPEG2000,
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
    generate_uid,
)

from records.dicom.codestream import CHECKED_SYNTAXES, check_frame
from records.dicom.damage import Damaged, Quiet, third_party
from records.dicom.header import BoundedReads

MAX_DECODED_BYTES: Final = 512 * 2**20

# What the viewer uses; every other element (names, IDs, dates, UIDs, private tags) stays out.
KEPT: Final = (
    "SOPClassUID",
    "Modality",
    "ImageType",
    "InstanceNumber",
    "FrameOfReferenceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PatientOrientation",
    "SliceThickness",
    "SliceLocation",
    "SpacingBetweenSlices",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "EstimatedRadiographicMagnificationFactor",
    "PixelAspectRatio",
    "ImageLaterality",
    "Laterality",
    "ViewPosition",
    "ViewCodeSequence",
    "PresentationIntentType",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "FrameTime",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelPaddingValue",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "PresentationLUTShape",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
)
_UNCOMPRESSED: Final = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}
_LOSSY: Final = {JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless, JPEG2000}


class Undecodable(Exception):
    """The installed codecs cannot read this image, or it is too large to decode here."""


def for_viewer(source: BinaryIO) -> bytes:
    """The image in ``source`` as an Explicit VR Little Endian file of the ``KEPT`` elements."""
    try:
        with Quiet(), third_party:
            ds = dcmread(BoundedReads(source), force=True)
    except Damaged as exc:
        raise Undecodable from exc
    syntax = UID(ds.file_meta.get("TransferSyntaxUID", ImplicitVRLittleEndian))
    if "PixelData" not in ds:
        raise Undecodable("no pixel data")
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = int(ds.get("NumberOfFrames") or 1)
    samples = int(ds.get("SamplesPerPixel") or 1)
    allocated = max(int(ds.get("BitsAllocated") or 8) // 8, 1)
    if rows * columns * frames * samples * allocated > MAX_DECODED_BYTES:
        raise Undecodable("too large")
    if syntax in CHECKED_SYNTAXES:
        try:
            with Quiet(), third_party:
                codestreams = list(generate_frames(ds.PixelData, number_of_frames=frames))
            for codestream in codestreams:
                check_frame(codestream, syntax, rows=rows, columns=columns, samples=samples)
        except Damaged as exc:
            raise Undecodable from exc
    out = Dataset()
    for keyword in KEPT:
        if keyword in ds:
            out[keyword] = ds[keyword]
    try:
        with Quiet(), third_party:
            if syntax.is_compressed or syntax not in _UNCOMPRESSED:
                # Decoded to native pixels (colour as RGB, planar configuration 0).
                ds.decompress(as_rgb=True)
                for keyword in ("PhotometricInterpretation", "SamplesPerPixel", "BitsStored"):
                    out[keyword] = ds[keyword]
            out.PixelData = ds.PixelData
            out["PixelData"].VR = "OW" if int(ds.get("BitsAllocated") or 8) > 8 else "OB"
            if int(out.get("SamplesPerPixel") or 1) > 1:
                out.PlanarConfiguration = ds.get("PlanarConfiguration", 0)
    except Damaged as exc:
        raise Undecodable from exc
    if syntax in _LOSSY:
        out.LossyImageCompression = "01"  # what the reader sees was compressed with loss
    sop_class = UID(ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID") or "")
    out.file_meta = FileMetaDataset()
    out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out.file_meta.MediaStorageSOPClassUID = sop_class
    # A stable stand-in: the copy is another object, and names no identifier of the original.
    original = str(ds.get("SOPInstanceUID") or "")
    out.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["viewer", original])
    out.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    out.SOPInstanceUID = out.file_meta.MediaStorageSOPInstanceUID
    buffer = io.BytesIO()
    try:
        with Quiet(), third_party:
            out.save_as(buffer, enforce_file_format=True)
    except Damaged as exc:  # an element's value pydicom cannot write back
        raise Undecodable from exc
    return buffer.getvalue()
