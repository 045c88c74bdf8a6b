"""WADO-RS (PS3.18 10.4): a scope's instances as stored, their metadata, and their frames.

Instances go out byte for byte as the patient's files were stored, one file at a time, a chunk
at a time; the body's exact length is known before the first byte. Metadata is each file's
header (pixel data and other bulk image data left out). Frames of an uncompressed image are
slices of its pixel data; a compressed image's frame goes out as the encapsulated picture
(image/jpeg, image/jls, image/jp2...) or, for a client that takes only octet-stream, decoded
(colour as RGB, as the site's viewer reads it).
"""

import json
from collections.abc import Iterator
from io import BytesIO

from pydicom import Dataset, dcmread
from pydicom.encaps import get_frame
from pydicom.pixels import pixel_array
from pydicom.tag import Tag
from pydicom.uid import UID

from .. import viewer
from ..models import Instance
from . import media
from .read import chunks, open_stored

# What no metadata carries: the pixel data's kin and other bulk image data.
_BULK = {Tag(0x7FE0, 0x0008), Tag(0x7FE0, 0x0009), Tag(0x7FE0, 0x0010), Tag(0x5400, 0x1010)}


def instances(case, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None):
    """The case's instances under these UIDs, one per SOP instance, in order; [] if none."""
    found = Instance.objects.filter(
        series__study__case=case, series__study__study_instance_uid=study_uid
    )
    if series_uid is not None:
        found = found.filter(series__series_instance_uid=series_uid)
    if sop_uid is not None:
        found = found.filter(sop_instance_uid=sop_uid)
    found = found.select_related("file__upload", "series__study").order_by(
        "series__study__pk", "series__series_number", "series__pk", "instance_number", "pk"
    )
    seen: set[str] = set()
    unique = []
    for instance in found:
        if instance.sop_instance_uid not in seen:
            seen.add(instance.sop_instance_uid)
            unique.append(instance)
    return unique


# --- Instances ---------------------------------------------------------------------------------


def instances_body(found: list[Instance], ranges: list[media.MediaRange]):
    """(content type, body iterator, length) of the instances as multipart/related DICOM."""
    syntaxes = {i.transfer_syntax_uid for i in found}
    for media_range in ranges:
        if not media_range.matches("multipart/related"):
            continue
        if not media.MediaRange(media_range.params.get("type", media.DICOM)).matches(media.DICOM):
            continue
        if all(media.syntax_ok(media_range.params.get("transfer-syntax"), s) for s in syntaxes):
            break
    else:
        raise media.NotAcceptable
    boundary = media.new_boundary()
    heads = [
        media.part_head(boundary, f"{media.DICOM}; transfer-syntax={i.transfer_syntax_uid}")
        for i in found
    ]
    length = sum(len(h) + i.file.size + 2 for h, i in zip(heads, found, strict=True))
    length += len(media.closing(boundary))

    def body() -> Iterator[bytes]:
        for head, instance in zip(heads, found, strict=True):
            yield head
            yield from chunks(instance.file.key)
            yield b"\r\n"
        yield media.closing(boundary)

    return media.multipart_type(boundary, media.DICOM), body, length


# --- Metadata ----------------------------------------------------------------------------------


def _is_bulk(tag) -> bool:
    return tag in _BULK or (tag.group & 0xFF00 == 0x6000 and tag.element == 0x3000)


def instance_metadata(instance: Instance) -> dict:
    with open_stored(instance.file.key) as handle:
        ds = dcmread(handle, stop_before_pixels=True)
    for tag in [element.tag for element in ds if _is_bulk(element.tag)]:
        del ds[tag]
    found = ds.to_json_dict()
    syntax = instance.transfer_syntax_uid or str(ds.file_meta.get("TransferSyntaxUID", ""))
    if syntax:
        found["00083002"] = {"vr": "UI", "Value": [syntax]}
    return found


def metadata_body(found: list[Instance]) -> Iterator[bytes]:
    """A JSON array of each instance's header, read one file at a time as it is sent."""
    yield b"["
    for index, instance in enumerate(found):
        if index:
            yield b","
        yield json.dumps(instance_metadata(instance), separators=(",", ":")).encode()
    yield b"]"


# --- Frames ------------------------------------------------------------------------------------


class BadFrames(ValueError):
    pass


def frame_numbers(text: str, count: int) -> list[int] | None:
    """The frame numbers asked for (1-based); BadFrames if unreadable, None if one is beyond
    the image's frames."""
    try:
        numbers = [int(n) for n in text.split(",")]
    except ValueError:
        raise BadFrames("Frames are numbers separated by commas.") from None
    if not numbers or min(numbers) < 1:
        raise BadFrames("Frames are numbered from 1.")
    return None if max(numbers) > count else numbers


def frame_offers(syntax: str) -> list[tuple[str, str]]:
    """What a frame of this transfer syntax can go out as, ours first."""
    if syntax in media.NATIVE:
        return [(media.OCTET, media.EXPLICIT_LE)]
    offers = (
        [(media.FRAME_MEDIA_TYPES[syntax], syntax)] if syntax in media.FRAME_MEDIA_TYPES else []
    )
    if syntax in media.FRAME_MEDIA_TYPES or syntax == "1.2.840.10008.1.2.2":
        offers.append((media.OCTET, media.EXPLICIT_LE))  # decoded here
    return offers


# Stored syntaxes the viewer's decoded copy is made from: the compressed ones, and the two
# plain ones (their copy's pixels are the stored bytes, read from the cache, not from storage).
_PLAIN = {"1.2.840.10008.1.2", media.EXPLICIT_LE}


def _from_viewer_copy(instance: Instance) -> Dataset | None:
    """The image's decoded copy (`records.viewer.image_bytes`, kept in the viewer cache), if it
    is made from this syntax and can be; None to read the stored file instead."""
    stored = instance.transfer_syntax_uid
    if stored not in _PLAIN and not UID(stored).is_compressed:
        return None
    try:
        return dcmread(BytesIO(viewer.image_bytes(instance.file)))
    except viewer.Undecodable:
        if stored in _PLAIN:
            return None  # too large to keep a copy of: sliced from the stored file
        raise media.NotAcceptable from None


def frames_body(instance: Instance, numbers: list[int], part: tuple[str, str]):
    """(content type, body iterator) of the frames as multipart/related parts of `part`.

    The frames are read before the answer starts, so an image the codecs here cannot decode is
    a 406, not a broken body. Frames sent as octet-stream come from the image's decoded copy
    the site's viewer reads, when there is one: every client gets the same pixels, decoded
    once."""
    part_type, syntax = part
    boundary = media.new_boundary()
    content_type = f"{part_type}; transfer-syntax={syntax}"
    ds = _from_viewer_copy(instance) if part_type == media.OCTET else None
    native = ds is not None or instance.transfer_syntax_uid in media.NATIVE
    if ds is None:
        with open_stored(instance.file.key) as handle:
            ds = dcmread(handle)
    if part_type != media.OCTET:
        found = [get_frame(ds.PixelData, n - 1, number_of_frames=instance.frames) for n in numbers]
    elif native:
        size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
        size = size * int(ds.BitsAllocated) // 8
        found = [bytes(ds.PixelData[(n - 1) * size : n * size]) for n in numbers]
    else:  # big endian, turned little
        found = []
        for n in numbers:
            array = pixel_array(ds, index=n - 1)
            found.append(array.astype(array.dtype.newbyteorder("<")).tobytes())
    body = media.multipart(boundary, ((content_type, [frame]) for frame in found))
    return media.multipart_type(boundary, part_type), body
