"""The bytes of one file: what kind of file it is, its file meta, and its header up to the pixel
data, read by a fast walk over the bytes already in memory or else by pydicom's reader."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Final

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.pixels import get_decoder
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from records import archives
from records.dicom.damage import Damaged, Reject, third_party
from records.dicom.results import FileResult, KiB, MiB
from records.problems import make

_DEFER_BYTES: Final = 4 * KiB  # every value we read is tiny; a huge one is a lie, not data
_INFLATE_STEP: Final = 1 * MiB

DICOMDIR_SOP_CLASS: Final = "1.2.840.10008.1.3.10"
_PIXEL_TAGS: Final = frozenset({0x7FE00010, 0x7FE00009, 0x7FE00008})
LONG_VRS: Final = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)

# (0008,0005) Specific Character Set is always added by pydicom to decode the strings below.
TAGS: Final = {
    "sop_class_uid": 0x00080016,
    "sop_instance_uid": 0x00080018,
    "study_date": 0x00080020,
    "modality": 0x00080060,
    "presentation_intent_type": 0x00080068,
    "study_description": 0x00081030,
    "series_description": 0x0008103E,
    "patient_name": 0x00100010,
    "patient_id": 0x00100020,
    "patient_birth_date": 0x00100030,
    "body_part": 0x00180015,
    "view_position": 0x00185101,
    "study_instance_uid": 0x0020000D,
    "series_instance_uid": 0x0020000E,
    "series_number": 0x00200011,
    "instance_number": 0x00200013,
    "image_position": 0x00200032,
    "image_orientation": 0x00200037,
    "laterality": 0x00200060,
    "image_laterality": 0x00200062,
    "samples_per_pixel": 0x00280002,
    "photometric_interpretation": 0x00280004,
    "number_of_frames": 0x00280008,
    "rows": 0x00280010,
    "columns": 0x00280011,
    "bits_allocated": 0x00280100,
    "bits_stored": 0x00280101,
    "pixel_representation": 0x00280103,
    "burned_in_annotation": 0x00280301,
    # Read by the preview only (a window and a rescale to draw the frame with).
    "window_center": 0x00281050,
    "window_width": 0x00281051,
    "rescale_intercept": 0x00281052,
    "rescale_slope": 0x00281053,
}
_TAG_LIST: Final = list(TAGS.values())
_WANTED: Final = frozenset({*_TAG_LIST, 0x00080005})
_VRS: Final = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN"
    b" UR US UT UV".split()
)
_EXPLICIT_HEADER: Final = struct.Struct("<HH2sH")
_IMPLICIT_HEADER: Final = struct.Struct("<HHL")
_LONG_LENGTH: Final = struct.Struct("<L")


@dataclass(slots=True)
class Layout:
    """Where a file's parts are and how its dataset is encoded."""

    meta: dict[int, bytes]
    dataset_start: int
    transfer_syntax: str
    implicit_vr: bool
    little_endian: bool


def classify(head: bytes, path: Path, result: FileResult) -> Layout | None:
    """Sort DICOM from everything else; return the file's layout, or None when not DICOM."""
    if head[128:132] == b"DICM":
        result.kind = "instance"
        # CVE-2019-11687: the 128-byte preamble is free-form, so a file can be a valid DICOM
        # image and a Windows/Linux/macOS program at once. We never store such a polyglot.
        if _is_executable(head):
            raise Reject("executable_preamble")
        return _layout(head, 132, path, result, part10=True)
    if _looks_like_raw_dataset(head):
        # Pre-2000 CDs and some exports hold bare datasets, no preamble and no file meta.
        result.kind = "instance"
        return _layout(head, 0, path, result, part10=False)
    if not head:
        result.kind = "instance"  # a zero-byte file in a CD folder is a failed copy
        raise Reject("truncated")
    if head.startswith(_PICTURE_MAGICS):
        raise Reject("photo")  # a JPEG or PNG, whatever its name (".dcm" included)
    result.kind = _sniff_format(head)
    if result.kind == "pdf":
        raise Reject("pdf_document")
    if result.kind == "archive":
        raise Reject("unsupported_archive")
    raise Reject("not_dicom")


_EXECUTABLE_MAGICS: Final = (
    b"MZ",  # Windows PE
    b"\x7fELF",  # Linux
    b"\xfe\xed\xfa\xce",  # Mach-O 32 / 64, both byte orders, and fat binaries
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",  # a script
)


def _is_executable(head: bytes) -> bool:
    return head.startswith(_EXECUTABLE_MAGICS)


_PICTURE_MAGICS: Final = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def _sniff_format(head: bytes) -> str:
    if archives.is_zip_magic(head):
        return "zip"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"Rar!", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        return "archive"
    return "other"


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A bare dataset starts with a group 0002 or 0008 element, explicit or implicit VR.

    Strict on purpose: pydicom's ``force=True`` reads any bytes as "a dataset", so a photo or a
    text file would otherwise become a DICOM file full of garbage.
    """
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack_from(order + "HH", head)
        if group not in (0x0002, 0x0008) or element > 0x1FFF:
            continue
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            return True
        if order == "<":
            (length,) = struct.unpack_from("<L", head, 4)
            if length < 1024 and (element == 0 or length > 0):  # implicit VR: a sane length
                return True
    return False


def _layout(head: bytes, start: int, path: Path, result: FileResult, *, part10: bool) -> Layout:
    meta, dataset_start = scan_file_meta(head, start)
    media_class = meta_text(meta, 0x0002)
    if media_class == DICOMDIR_SOP_CLASS or (not media_class and path.name.upper() == "DICOMDIR"):
        result.kind = "dicomdir"
    syntax = meta_text(meta, 0x0010)
    if not part10 or not syntax:
        result.problems.append(make("missing_file_meta", result.path))
        implicit, little = _guess_encoding(head, dataset_start)
        syntax = _syntax_for(implicit, little)
        return Layout(meta, dataset_start, syntax, implicit, little)
    if not _is_decodable(syntax):
        raise Reject("unsupported_transfer_syntax")
    implicit, little, _ = syntax_flags(syntax)
    return Layout(meta, dataset_start, syntax, implicit, little)


@lru_cache(maxsize=256)
def syntax_flags(syntax: str) -> tuple[bool, bool, bool]:
    """(implicit VR, little endian, compressed) of a transfer syntax; pydicom's UID checks its
    value with a regex each time, and every file of an upload names the same one or two."""
    uid = UID(syntax)
    return uid.is_implicit_VR, uid.is_little_endian, uid.is_compressed


def scan_file_meta(head: bytes, start: int) -> tuple[dict[int, bytes], int]:
    """Read the group 0002 elements ourselves: we must know the transfer syntax BEFORE pydicom
    reads the dataset, because pydicom inflates a deflated dataset whole, without a limit."""
    meta: dict[int, bytes] = {}
    pos = start
    while pos + 8 <= len(head):
        group, element = struct.unpack_from("<HH", head, pos)
        if group != 0x0002:
            break
        vr = head[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            if pos + 12 > len(head):
                raise Reject("truncated")  # a long VR's 4-byte length cut off
            (length,) = struct.unpack_from("<L", head, pos + 8)
            value_at = pos + 12
        elif vr.isalpha() and vr.isupper():
            (length,) = struct.unpack_from("<H", head, pos + 6)
            value_at = pos + 8
        else:  # vendor quirk: file meta written in implicit VR
            (length,) = struct.unpack_from("<L", head, pos + 4)
            value_at = pos + 8
        if length == 0xFFFFFFFF or value_at + length > len(head):
            raise Reject("truncated")
        meta[element] = head[value_at : value_at + length]
        pos = value_at + length
    return meta, pos


def meta_text(meta: dict[int, bytes], element: int) -> str:
    return meta.get(element, b"").decode("ascii", "replace").strip("\x00 ")


def _guess_encoding(head: bytes, at: int) -> tuple[bool, bool]:
    """Implicit/explicit and byte order of a dataset without a transfer syntax (as pydicom)."""
    if at + 6 > len(head):
        return True, True
    group = struct.unpack_from("<H", head, at)[0]
    vr = head[at + 4 : at + 6]
    explicit = vr.isalpha() and vr.isupper()
    return (not explicit), not (explicit and group >= 0x0100)


def _syntax_for(implicit: bool, little: bool) -> str:
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


@lru_cache(maxsize=256)
def _is_decodable(syntax: str) -> bool:
    """Known to pydicom and decodable with the codecs installed here (gdcm, pylibjpeg...)."""
    try:
        return bool(get_decoder(syntax).is_available)
    except Exception:  # only pydicom runs here, on the file's own UID: unknown or malformed
        return False


def inflate_bounded(fp: BinaryIO, limit: int) -> bytes:
    """Inflate a Deflated Explicit VR dataset, refusing to produce more than ``limit`` bytes.

    A deflate stream expands up to ~1000:1, so a 300 kB file can ask for 300 MB; pydicom's own
    reader inflates without a limit, so we do it here with ``max_length``.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    parts: list[bytes] = []
    produced = 0
    while not inflater.eof:
        chunk = inflater.unconsumed_tail or fp.read(256 * KiB)
        # One call inflates at most one step: zlib builds its output in blocks and joins them,
        # so a single call allowed the whole limit would briefly hold it twice.
        with third_party:  # zlib.error: a damaged deflate stream
            data = inflater.decompress(chunk, min(limit + 1 - produced, _INFLATE_STEP))
        if not chunk and not data:
            raise Reject("truncated")
        produced += len(data)
        if produced > limit:
            raise Reject("deflated_too_large")
        parts.append(data)
    return b"".join(parts)


class Source:
    """A file seen through the bytes already read from its start (no seek for most reads)."""

    __slots__ = ("fp", "head", "size")

    def __init__(self, fp: BinaryIO, head: bytes, size: int) -> None:
        self.fp = fp
        self.head = head
        self.size = size

    def read_at(self, pos: int, length: int) -> bytes:
        if pos + length <= len(self.head):
            return self.head[pos : pos + length]
        self.fp.seek(pos)
        return self.fp.read(length)


class BoundedReads:
    """A file whose reads never ask for more than it has left, for pydicom's reader.

    pydicom asks for a value's declared length, and a buffered file sets that much memory aside
    before it reads: one flipped byte of a length field made a file of 822 bytes cost 234 MB.
    """

    __slots__ = ("_fp", "_size")

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        here = fp.tell()
        self._size = fp.seek(0, io.SEEK_END)
        fp.seek(here)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._fp.read()
        return self._fp.read(min(size, max(self._size - self._fp.tell(), 0)))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fp.seek(offset, whence)

    def tell(self) -> int:
        return self._fp.tell()

    def close(self) -> None:
        self._fp.close()

    def __enter__(self) -> BoundedReads:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._fp.close()


def _at_pixel_data(tag: int, vr: str | None, length: int) -> bool:
    return tag in _PIXEL_TAGS


def read_header(
    source: Source, start: int, layout: Layout, *, complete: bool
) -> tuple[Dataset, int | None]:
    """Parse the elements we need up to the pixel data; return them and where pixel data starts.

    Parsing the 64 KiB already in memory is fast (a file object's tell() is a system call and
    pydicom calls it for every element). If the header does not end inside that prefix, the
    prefix cannot be trusted (a value may be cut at its edge) and we parse the file itself.
    """
    if layout.little_endian:
        walked = _walk_little_endian(source.head, start, implicit=layout.implicit_vr)
        if walked is not None:
            return _dataset(walked[0], implicit=layout.implicit_vr), walked[1]
    whole = complete or len(source.head) >= source.size
    stream: BinaryIO = io.BytesIO(source.head)
    try:
        ds = _parse(stream, start, layout)
    except Damaged:
        if whole:
            raise
        stopped = False  # e.g. a sequence cut at the prefix's edge: read the real file
    else:
        pos = stream.tell()
        stopped = _pixel_tag_at(source.head, pos, layout.little_endian)
    if not (stopped or whole):
        stream = source.fp
        ds = _parse(stream, start, layout)
        pos = stream.tell()
        stopped = _pixel_tag_at(source.read_at(pos, 4), 0, layout.little_endian)
    # Everything before the pixel data tag is whole; otherwise an element may claim bytes the
    # file does not have (pydicom silently returns a short value or seeks past the end).
    if pos > source.size or (not stopped and _value_beyond_end(ds, source.size)):
        raise Reject("truncated")
    return ds, (pos if stopped else None)


def _walk_little_endian(
    head: bytes, start: int, *, implicit: bool
) -> tuple[dict[BaseTag, RawDataElement], int] | None:
    """The elements we need and where the pixel data starts, found by stepping over lengths.

    The same elements pydicom's reader returns (``read_dataset`` with our ``specific_tags``,
    ``stop_when`` and ``defer_size``), at a fraction of its cost per element, for the common
    case only: a little-endian header with every length defined, ending inside ``head``.
    Anything else (an undefined length, an unknown VR, a value running past ``head``, an
    encoding that contradicts the transfer syntax, no pixel data) returns None, and pydicom
    reads the file.
    """
    found: dict[BaseTag, RawDataElement] = {}
    pos, end = start, len(head)
    if implicit and head[start + 4 : start + 6] in _VRS:
        return None  # explicit VR under an implicit syntax: pydicom switches, with a warning
    # Local names: this loop runs for every element of every file of an upload.
    explicit_header, implicit_header = _EXPLICIT_HEADER.unpack_from, _IMPLICIT_HEADER.unpack_from
    long_length, long_vrs, vrs = _LONG_LENGTH.unpack_from, LONG_VRS, _VRS
    pixel_tags, wanted = _PIXEL_TAGS, _WANTED
    raw_vr = b""
    while pos + 8 <= end:
        if implicit:
            group, element, length = implicit_header(head, pos)
            value_at = pos + 8
        else:
            group, element, raw_vr, length = explicit_header(head, pos)
            if raw_vr in long_vrs:
                if pos + 12 > end:
                    return None
                (length,) = long_length(head, pos + 8)
                value_at = pos + 12
            elif raw_vr in vrs:
                value_at = pos + 8
            else:
                return None
        tag = group << 16 | element
        if tag in pixel_tags:
            return found, pos
        after = value_at + length
        if length == 0xFFFFFFFF or group == 0xFFFE or after > end:
            return None
        if tag in wanted:
            vr = None if implicit else raw_vr.decode("ascii")
            if not length:
                value = empty_value_for_VR(vr, raw=True)
            elif length <= _DEFER_BYTES or tag == 0x00080005:  # the charset is never deferred
                value = head[value_at:after]
            else:
                value = None
            key = BaseTag(tag)
            found[key] = RawDataElement(key, vr, length, value, value_at, implicit, True)
        pos = after
    return None


def _dataset(elements: dict[BaseTag, RawDataElement], *, implicit: bool) -> Dataset:
    """A dataset of walked elements, with the encoding pydicom's reader would record."""
    ds = Dataset(elements)
    encoding: str | list[str] = default_encoding
    charset = elements.get(BaseTag(0x00080005))
    if charset is not None:
        encoding = _encodings(charset.value, charset.VR, charset.length, implicit)
        if isinstance(encoding, list):
            encoding = list(encoding)  # the cached list is shared: the dataset gets a copy
    ds.set_original_encoding(implicit, True, encoding)
    return ds


@lru_cache(maxsize=64)
def _encodings(value: bytes | None, vr: str | None, length: int, implicit: bool) -> str | list:
    """The Python encodings of a Specific Character Set value, as pydicom converts them.

    Every file of an upload repeats the same value, and pydicom's conversion (a regex check of
    the value, then the lookups) costs more than walking the rest of the header: once per value.
    """
    charset = RawDataElement(BaseTag(0x00080005), vr, length, value, 0, implicit, True)
    with third_party:
        return convert_encodings(convert_raw_data_element(charset).value)


def _parse(stream: BinaryIO, start: int, layout: Layout) -> Dataset:
    stream.seek(start)
    with third_party:
        return read_dataset(
            stream,
            layout.implicit_vr,
            layout.little_endian,
            stop_when=_at_pixel_data,
            defer_size=_DEFER_BYTES,
            specific_tags=_TAG_LIST,
        )


def _pixel_tag_at(buf: bytes, pos: int, little: bool) -> bool:
    if pos + 4 > len(buf):
        return False
    group, element = struct.unpack_from("<HH" if little else ">HH", buf, pos)
    return (group << 16 | element) in _PIXEL_TAGS


def _value_beyond_end(ds: Dataset, size: int) -> bool:
    return any(
        isinstance(elem, RawDataElement)
        and elem.length != 0xFFFFFFFF
        and elem.value_tell + elem.length > size
        for elem in ds.values()
    )
