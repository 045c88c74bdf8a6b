"""Reading a case's stored DICOM files for DICOMweb: as stored, a chunk at a time, or parsed."""

from collections.abc import Iterator

from django.core.files.storage import default_storage

from .. import studyzip
from ..dicom.header import BoundedReads


def open_stored(key: str) -> BoundedReads:
    """A stored file for pydicom's reader, its reads held to the bytes it has."""
    return BoundedReads(default_storage.open(key, "rb"))


def chunks(key: str) -> Iterator[bytes]:
    """The stored bytes of one file, unchanged, a chunk at a time (the study zip's reader)."""
    return studyzip.stored_chunks(key)
