"""One file: ``inspect_file`` reads its header and checks what it says (the fields we keep, its
UIDs, that the pixel data it announces is all there); a failure is judged by the rule in
``damage``."""

from __future__ import annotations

import io
import math
import os
import re
import struct
import sys
from pathlib import Path
from typing import Any, Final

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from records import archives
from records.dicom.damage import (
    INFRASTRUCTURE_ERRNOS,
    Damaged,
    Quiet,
    Reject,
    internal_error,
)
from records.dicom.header import (
    LONG_VRS,
    TAGS,
    Layout,
    Source,
    classify,
    inflate_bounded,
    meta_text,
    read_header,
    syntax_flags,
)
from records.dicom.results import HEAD_BYTES, MAX_INFLATED_BYTES, FileResult
from records.problems import make

_MAX_FRAGMENTS: Final = 1_000_000
_ITEM: Final = 0xFFFEE000
_SEQUENCE_DELIMITER: Final = 0xFFFEE0DD
_UID_SYNTAX: Final = re.compile(r"[0-9]+(\.[0-9]+)*")


def inspect_file(path: str | os.PathLike[str], *, rel_path: str | None = None) -> FileResult:
    """Inspect one file's header. Never raises for anything inside the file, never hangs.

    ``rel_path`` is the name shown in problems (default: ``path`` as given). A failure of our
    own code is reported as ``internal_error``, never as a verdict on the file.
    """
    return inspect_header(path, rel_path=rel_path)[0]


def inspect_header(
    path: str | os.PathLike[str], *, rel_path: str | None = None
) -> tuple[FileResult, Dataset | None]:
    """``inspect_file``, and the header elements it read (None when it read none): the preview
    draws the frame with the window and rescale found there, without reading the header again.
    """
    result = FileResult(path=os.fspath(path) if rel_path is None else rel_path)
    ds = None
    try:
        with Quiet():
            ds = _inspect(path if isinstance(path, Path) else Path(path), result)
    except Reject as reject:
        result.problems.append(make(reject.code, result.path))
    except Damaged:
        result.problems.append(make(_damaged_code(result), result.path))
    except OSError as exc:
        if exc.errno in INFRASTRUCTURE_ERRNOS:
            raise
        result.problems.append(make(_damaged_code(result), result.path))
    except Exception as exc:  # not the file's doing (see Damaged): a failure of our own code
        result.problems.append(internal_error(exc, result.path))
    return result, ds


def _damaged_code(result: FileResult) -> str:
    return "truncated" if result.kind in ("instance", "dicomdir") else "not_dicom"


def _inspect(path: Path, result: FileResult) -> Dataset | None:
    try:
        fp = archives.open_regular_file(path)
    except archives.NotARegularFile:
        raise Reject("not_dicom") from None
    with fp:
        size = os.fstat(fp.fileno()).st_size
        result.file_size = size
        head = fp.read(HEAD_BYTES)
        layout = classify(head, path, result)
        if layout is None:
            return None
        result.transfer_syntax_uid = layout.transfer_syntax
        if result.kind == "dicomdir":
            return None
        if layout.transfer_syntax == DeflatedExplicitVRLittleEndian:
            fp.seek(layout.dataset_start)
            inflated = inflate_bounded(fp, MAX_INFLATED_BYTES)
            source = Source(io.BytesIO(inflated), inflated, len(inflated))
            ds, pixel_at = read_header(source, 0, layout, complete=True)
        else:
            source = Source(fp, head, size)
            ds, pixel_at = read_header(source, layout.dataset_start, layout, complete=False)
        _fill_fields(ds, result, layout)
        _check_uids(result)
        if result.burned_in_annotation:
            result.problems.append(make("burned_in_annotation", result.path))
        _check_completeness(ds, source, pixel_at, result, layout)
        if layout.transfer_syntax == DeflatedExplicitVRLittleEndian:
            result.pixel_data_at = None  # an offset in the inflated bytes, not in the file
        return ds


def _fill_fields(ds: Dataset, result: FileResult, layout: Layout) -> None:
    fields = _Fields(ds)
    t = TAGS
    r = result
    r.sop_instance_uid = fields.uid(t["sop_instance_uid"])
    r.sop_class_uid = fields.uid(t["sop_class_uid"]) or meta_text(layout.meta, 0x0002)
    r.study_instance_uid = fields.uid(t["study_instance_uid"])
    r.series_instance_uid = fields.uid(t["series_instance_uid"])
    r.modality = fields.text(t["modality"]).upper()
    r.body_part = fields.text(t["body_part"]).upper()
    r.study_description = fields.text(t["study_description"])
    r.series_description = fields.text(t["series_description"])
    r.study_date = fields.text(t["study_date"])
    r.patient_id = fields.text(t["patient_id"])
    r.patient_name = fields.text(t["patient_name"])
    r.patient_birth_date = fields.text(t["patient_birth_date"])
    r.series_number = fields.integer(t["series_number"])
    r.instance_number = fields.integer(t["instance_number"])
    r.image_position = fields.floats(t["image_position"], 3)  # type: ignore[assignment]
    r.image_orientation = fields.floats(t["image_orientation"], 6)  # type: ignore[assignment]
    r.view_position = fields.text(t["view_position"]).upper()
    laterality = fields.text(t["image_laterality"]) or fields.text(t["laterality"])
    r.image_laterality = laterality.upper()
    r.presentation_intent_type = fields.text(t["presentation_intent_type"]).upper()
    r.photometric_interpretation = fields.text(t["photometric_interpretation"]).upper()
    r.rows = fields.unsigned_short(t["rows"])
    r.columns = fields.unsigned_short(t["columns"])
    frames_tag = t["number_of_frames"]
    frames = fields.integer(frames_tag)
    if frames is None and frames_tag in fields.raw and fields.text(frames_tag):
        # 1e20 frames read as "absent" would pass as one frame: what the file holds is unknown.
        raise Reject("truncated")
    r.number_of_frames = max(frames or 1, 1)
    r.bits_allocated = fields.unsigned_short(t["bits_allocated"])
    r.bits_stored = fields.unsigned_short(t["bits_stored"])
    r.pixel_representation = fields.unsigned_short(t["pixel_representation"])
    r.samples_per_pixel = max(fields.unsigned_short(t["samples_per_pixel"]) or 1, 1)
    burned_in = t["burned_in_annotation"]
    r.burned_in_annotation = burned_in in fields.raw and fields.text(burned_in).upper() == "YES"
    for name in _SHARED_FIELDS:
        setattr(r, name, _shared(getattr(r, name)))


# Thousands of instances repeat the same study UID, modality, name...: keep one copy of each.
_SHARED_FIELDS: Final = (
    "sop_class_uid",
    "study_instance_uid",
    "series_instance_uid",
    "modality",
    "body_part",
    "study_description",
    "series_description",
    "study_date",
    "patient_id",
    "patient_name",
    "patient_birth_date",
    "view_position",
    "image_laterality",
    "presentation_intent_type",
    "photometric_interpretation",
    "transfer_syntax_uid",
)


def _shared(value: str) -> str:
    return sys.intern(str(value)) if value else ""


class _Fields:
    """Values of the elements we read, decoded from their raw bytes.

    pydicom's own conversion costs ~20 us an element, more than parsing the whole header, so
    the plain-ASCII values (nearly all) are decoded here; anything else (a name in another
    character set, ISO 2022 escapes) goes through pydicom, which knows the character sets.
    """

    __slots__ = ("ds", "raw")

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        # int() keys: BaseTag compares in Python, a plain int lookup stays in C.
        self.raw = {int(tag): elem for tag, elem in ds._dict.items()}

    def _ascii(self, tag: int) -> str | None:
        """The value as text if it is plain ASCII; "" if absent; None to ask pydicom."""
        elem = self.raw.get(tag)
        if elem is None:
            return ""
        if not isinstance(elem, RawDataElement):
            return None
        value = elem.value
        if value is None:
            return ""  # longer than _DEFER_BYTES: not a value we believe
        if value.isascii() and b"\x1b" not in value:
            return value.decode("ascii")
        return None

    def _converted(self, tag: int) -> str:
        """The first value as pydicom decodes it; "" when absent or malformed."""
        try:
            value = self.ds[tag].value
        except Exception:  # only pydicom decoding the file's value: a malformed value is absent
            return ""
        first = first_value(value)
        if first is None:
            return ""
        try:
            return str(first)
        except Exception:  # a PersonName decodes its bytes only now: the same as above
            return ""

    def text(self, tag: int) -> str:
        value = self._ascii(tag)
        if value is None:
            value = self._converted(tag)
        return value.split("\\")[0].strip("\x00 ")[:256]

    def uid(self, tag: int) -> str:
        value = self._ascii(tag)
        if value is None:
            elem = self.raw.get(tag)
            raw = getattr(elem, "value", b"")
            value = raw.decode("latin-1") if isinstance(raw, bytes) else "?"
        return value.strip("\x00 ")  # several values keep their backslash: not a valid UID

    def integer(self, tag: int) -> int | None:
        value = self._ascii(tag)
        if not value:
            return None
        text = value.split("\\")[0].strip()
        try:
            number = int(text)
        except ValueError:
            try:  # vendor quirk: "12.0" in an IS element
                as_float = float(text)
            except ValueError:
                return None
            if not as_float.is_integer():
                return None
            number = int(as_float)
        return number if -(2**31) <= number < 2**32 else None

    def unsigned_short(self, tag: int) -> int | None:
        elem = self.raw.get(tag)
        if not isinstance(elem, RawDataElement) or not elem.value or len(elem.value) != 2:
            return None
        return struct.unpack("<H" if elem.is_little_endian else ">H", elem.value)[0]

    def floats(self, tag: int, count: int) -> tuple[float, ...] | None:
        value = self._ascii(tag)
        if not value:
            return None
        try:
            numbers = tuple(map(float, value.split("\\")))
        except ValueError:
            return None
        if len(numbers) != count or not all(map(math.isfinite, numbers)):
            return None
        return numbers


def first_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _check_uids(result: FileResult) -> None:
    uids = (result.sop_instance_uid, result.study_instance_uid, result.series_instance_uid)
    if not all(uids):
        result.problems.append(make("missing_uid", result.path))
    elif not all(_is_valid_uid(uid) for uid in uids):
        # Digits and dots only, at most 64: a UID ends up in paths and URLs ("../x" must not).
        # Leading zeros in a component are invalid too but common in old vendors' UIDs: accepted.
        result.problems.append(make("invalid_uid", result.path))


def _is_valid_uid(uid: str) -> bool:
    return len(uid) <= 64 and _UID_SYNTAX.fullmatch(uid) is not None


def _check_completeness(
    ds: Dataset, source: Source, pixel_at: int | None, result: FileResult, layout: Layout
) -> None:
    """Truncation: the file must hold the pixel data its header announces."""
    result.has_pixel_data = pixel_at is not None
    if pixel_at is None:
        if result.rows and result.columns:
            raise Reject("truncated")  # an image whose pixel data never comes
        return
    encoding = ds.original_encoding  # pydicom may have switched VR (vendor quirk), follow it
    implicit = bool(encoding[0]) if encoding[0] is not None else layout.implicit_vr
    little = bool(encoding[1]) if encoding[1] is not None else layout.little_endian
    order = "<" if little else ">"
    header = source.read_at(pixel_at, 12)
    if len(header) < 8:
        raise Reject("truncated")
    if implicit:
        (length,) = struct.unpack_from(order + "L", header, 4)
        value_at = pixel_at + 8
    elif header[4:6] in LONG_VRS:
        if len(header) < 12:
            raise Reject("truncated")
        (length,) = struct.unpack_from(order + "L", header, 8)
        value_at = pixel_at + 12
    else:  # a short VR on pixel data is nonsense, but read it as pydicom would
        (length,) = struct.unpack_from(order + "H", header, 6)
        value_at = pixel_at + 8
    if length == 0xFFFFFFFF:
        if not _fragments_complete(source, value_at, order):
            raise Reject("truncated")
        result.pixel_data_at = value_at
        return
    if value_at + length > source.size:
        raise Reject("truncated")
    expected = _native_length(result)
    compressed = syntax_flags(layout.transfer_syntax)[2]
    if expected is not None and not compressed and length < expected:
        raise Reject("truncated")
    result.pixel_data_at, result.pixel_data_length = value_at, length


def _fragments_complete(source: Source, pos: int, order: str) -> bool:
    """Walk the encapsulated items (headers only) to the sequence delimiter."""
    for _ in range(_MAX_FRAGMENTS):
        item = source.read_at(pos, 8)
        if len(item) < 8:
            return False
        group, element, length = struct.unpack(order + "HHL", item)
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER:
            return True
        if tag != _ITEM or length == 0xFFFFFFFF:
            return False
        pos += 8 + length
        if pos > source.size:
            return False
    return True  # absurdly many fragments: the decode check judges the series


def _native_length(result: FileResult) -> int | None:
    rows, columns, bits = result.rows, result.columns, result.bits_allocated
    if not rows or not columns or not bits or rows < 0 or columns < 0:
        return None
    pixels = rows * columns * result.number_of_frames
    samples = result.samples_per_pixel
    if result.photometric_interpretation == "YBR_FULL_422" and samples == 3:
        samples = 2  # 4:2:2 stores two samples per pixel on average
    if bits == 1:
        return (pixels * samples + 7) // 8
    return pixels * samples * (bits // 8)
