"""Media types of PS3.18: the Accept header, multipart/related bodies, and what each transfer
syntax's frames are as a picture of their own."""

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
OCTET = "application/octet-stream"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
# Transfer syntaxes whose pixel data is stored as is: a frame is a slice of bytes.
NATIVE = {"1.2.840.10008.1.2", EXPLICIT_LE, "1.2.840.10008.1.2.1.99"}
# The media type of one encapsulated frame of each compressed transfer syntax (PS3.18 8.7.3.5).
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
# Older names some clients still ask for.
ALIASES = {"image/x-jls": "image/jls", "image/x-dicom-rle": "image/dicom-rle"}


class NotAcceptable(Exception):
    """Nothing the client accepts is offered (406)."""


class BadAccept(ValueError):
    """The Accept header cannot be read (400)."""


@dataclass(frozen=True)
class MediaRange:
    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def matches(self, media_type: str) -> bool:
        if self.type in ("*/*", media_type):
            return True
        major, _, minor = self.type.partition("/")
        return minor == "*" and media_type.startswith(major + "/")


def _params(pieces: Iterable[str]) -> dict[str, str]:
    found = {}
    for piece in pieces:
        name, sep, value = piece.strip().partition("=")
        if not sep:
            if piece.strip():
                raise BadAccept(f"A media type parameter has no value: {piece.strip()!r}.")
            continue
        found[name.strip().lower()] = value.strip().strip('"')
    return found


def parse_accept(header: str | None) -> list[MediaRange]:
    """The ranges of an Accept header, best first (an absent header accepts anything)."""
    if not header or not header.strip():
        return [MediaRange("*/*")]
    ranges = []
    for item in _split(header):
        media_type, *rest = item.split(";")
        media_type = media_type.strip().lower()
        if media_type.count("/") != 1:
            raise BadAccept(f"Not a media type: {media_type!r}.")
        params = _params(rest)
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            raise BadAccept("A quality value is not a number.") from None
        if "type" in params:
            params["type"] = ALIASES.get(params["type"].lower(), params["type"].lower())
        ranges.append(MediaRange(ALIASES.get(media_type, media_type), params, q))
    return sorted((r for r in ranges if r.q > 0), key=lambda r: -r.q)


def _split(header: str) -> Iterator[str]:
    """Comma-separated items, commas inside quoted values kept."""
    item, quoted = [], False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            yield "".join(item)
            item = []
        else:
            item.append(char)
    if "".join(item).strip():
        yield "".join(item)


def syntax_ok(wanted: str | None, syntax: str) -> bool:
    return wanted in (None, "", "*") or wanted == syntax


def multipart_part(ranges: list[MediaRange], offers: list[tuple[str, str]]) -> tuple[str, str]:
    """The (part media type, transfer syntax) to send in a multipart/related body: the first of
    `offers` the best range accepts, e.g. `multipart/related; type="image/jpeg"`. */* and
    multipart/related without a type take our first offer."""
    for media_range in ranges:
        if not (media_range.matches("multipart/related")):
            continue
        wanted_type = media_range.params.get("type", "*/*")
        part_range = MediaRange(wanted_type)
        for part_type, syntax in offers:
            if part_range.matches(part_type) and syntax_ok(
                media_range.params.get("transfer-syntax"), syntax
            ):
                return part_type, syntax
    raise NotAcceptable


def single(ranges: list[MediaRange], offers: list[str]) -> str:
    """The media type of a single-part answer the client accepts, from `offers`."""
    for media_range in ranges:
        for offer in offers:
            if media_range.matches(offer):
                return offer
    raise NotAcceptable


def new_boundary() -> str:
    return secrets.token_hex(16)


def part_head(boundary: str, content_type: str) -> bytes:
    return f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode()


def multipart_type(boundary: str, part_type: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'


def multipart(boundary: str, parts: Iterable[tuple[str, Iterable[bytes]]]) -> Iterator[bytes]:
    """A multipart/related body of parts, each a content type and its bytes in chunks."""
    for content_type, chunks in parts:
        yield part_head(boundary, content_type)
        yield from chunks
        yield b"\r\n"
    yield closing(boundary)
