"""The S3 multipart upload protocol, on S3 itself or on our own disk.

The browser (Uppy) always speaks the same five steps: create, sign a part, list parts, complete,
abort. With S3 storage the parts go straight to the bucket on presigned URLs, so study bytes never
pass through the web process. On the embedded default the same steps hand out URLs of our own
(`records:part-put`) that write the parts into their places in one file under var/, and
completion links that file into storage: the bytes go to disk once, not twice, and are read
back (hashed) only by the worker that checks the upload.
"""

import fcntl
import io
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import boto3
from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.urls import reverse

from .digests import Digests

PART_URL_MAX_AGE = 6 * 3600
PART_SIGNING_SALT = "records.multipart.part"
COPY_CHUNK = 1024 * 1024
# A part is read from the request into a buffer this large, one per thread and reused for every
# part: few system calls per part, no allocation per read, and the buffer stays in the CPU's
# cache between the read from the socket and the write to the file.
PART_READ_CHUNK = 256 * 1024
_buffers = threading.local()
DATA = "data"  # the file being received, in the upload's folder under MULTIPART_DIR
UNPLACED = -1  # a part kept in a file of its own until completion puts it in place


class MultipartError(Exception):
    """The upload cannot go on (unknown upload, missing part); the message is safe to show."""


class SizeMismatch(MultipartError):
    """The parts named on completion do not add up to the size the file was announced with."""

    def __init__(self, received: int) -> None:
        super().__init__("This file did not arrive with the size it was announced with.")
        self.received = received


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str

    def to_uppy(self) -> dict:
        return {"PartNumber": self.number, "Size": self.size, "ETag": self.etag}


@dataclass(frozen=True)
class Completed:
    size: int
    sha256: str  # empty when nothing read the bytes on their way (S3, a linked file): the worker
    # that checks the upload fills it in, and the CRC-32 with it
    crc32: int | None = None


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def _read_buffer() -> memoryview:
    view = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(bytearray(PART_READ_CHUNK))
    return view


def _receive(stream: Readable, fd: int, start: int, length: int) -> int:
    """Write the part from `stream` at `start` of file `fd`; the bytes it held (at most
    `length`: more is refused)."""
    write_to = getattr(stream, "write_to", None)
    if write_to is not None:  # a request body that never yields more than its length
        return write_to(fd, start, length)
    size = 0
    buffer = _read_buffer()
    # One byte more than announced is asked for, so a body longer than it said shows.
    while count := stream.readinto(buffer[: min(len(buffer), length + 1 - size)]):
        if size + count > length:
            raise MultipartError("This part is larger than it said.")
        written = 0
        while written < count:
            written += os.pwrite(fd, buffer[written:count], start + size + written)
        size += count
    return size


class Backend(Protocol):
    def create(self, key: str) -> str: ...
    def sign_part(
        self, key: str, upload_id: str, number: int, *, file_id: int, user_id: int
    ) -> str: ...
    def list_parts(self, key: str, upload_id: str) -> list[Part]: ...
    def complete(self, key: str, upload_id: str, parts: list[Part], *, size: int) -> Completed: ...
    def abort(self, key: str, upload_id: str) -> None: ...


class S3Backend:
    """Multipart uploads straight into the bucket of django-storages' S3 storage."""

    def __init__(self, storage, public_endpoint: str = "") -> None:
        self.storage = storage
        self.client = storage.connection.meta.client
        self.bucket = storage.bucket_name
        self.signer = self.client
        if public_endpoint and public_endpoint != self.client.meta.endpoint_url:
            self.signer = boto3.client(
                "s3",
                endpoint_url=public_endpoint,
                region_name=self.client.meta.region_name,
                aws_access_key_id=storage.access_key,
                aws_secret_access_key=storage.secret_key,
                config=self.client.meta.config,  # signed as the storage signs (version 4)
            )

    def create(self, key: str) -> str:
        extra = {
            name: value
            for name, value in self.storage.get_object_parameters(key).items()
            if name in ("ServerSideEncryption", "SSEKMSKeyId", "StorageClass")
        }
        response = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=self.storage._normalize_name(key),
            ContentType="application/octet-stream",
            **extra,
        )
        return response["UploadId"]

    def sign_part(
        self, key: str, upload_id: str, number: int, *, file_id: int, user_id: int
    ) -> str:
        return self.signer.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": self.storage._normalize_name(key),
                "UploadId": upload_id,
                "PartNumber": number,
            },
            ExpiresIn=PART_URL_MAX_AGE,
        )

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        parts: list[Part] = []
        paginator = self.client.get_paginator("list_parts")
        for page in paginator.paginate(
            Bucket=self.bucket, Key=self.storage._normalize_name(key), UploadId=upload_id
        ):
            parts += [
                Part(number=p["PartNumber"], size=p["Size"], etag=p["ETag"])
                for p in page.get("Parts", [])
            ]
        return parts

    def complete(self, key: str, upload_id: str, parts: list[Part], *, size: int) -> Completed:
        """Join the parts in the bucket, once they add up to the announced `size`.

        Presigned part URLs cannot bound what the browser sends, so the parts S3 holds are
        counted before S3 is asked to join them.
        """
        name = self.storage._normalize_name(key)
        held = {part.number: part.size for part in self.list_parts(key, upload_id)}
        received = sum(held.get(part.number, 0) for part in parts)
        if received != size:
            raise SizeMismatch(received)
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=name,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": p.number, "ETag": p.etag}
                    for p in sorted(parts, key=lambda p: p.number)
                ]
            },
        )
        stored = self.client.head_object(Bucket=self.bucket, Key=name)["ContentLength"]
        return Completed(size=stored, sha256="")

    def abort(self, key: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(
            Bucket=self.bucket, Key=self.storage._normalize_name(key), UploadId=upload_id
        )


class JoinedParts(io.RawIOBase):
    """The parts of one upload read back to back as one stream, hashed on the way through."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = iter(paths)
        self._current: IO[bytes] | None = None
        self.digests = Digests()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._current is None:
                path = next(self._paths, None)
                if path is None:
                    return 0
                self._current = path.open("rb")
            count = self._current.readinto(buffer)
            if count:
                self.digests.update(memoryview(buffer)[:count])
                return count
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        super().close()


class LocalBackend:
    """The same protocol for storage on disk: parts are PUT to our own URLs."""

    def __init__(self, storage, parts_root: Path) -> None:
        self.storage = storage
        self.parts_root = parts_root

    def _folder(self, upload_id: str) -> Path:
        # upload ids are ours (uuid4 hex), checked before any path is built from them
        if len(upload_id) != 32 or not all(c in "0123456789abcdef" for c in upload_id):
            raise MultipartError("This upload is unknown. Please start it again.")
        return self.parts_root / upload_id

    def create(self, key: str) -> str:
        upload_id = uuid.uuid4().hex
        self._folder(upload_id).mkdir(parents=True)
        return upload_id

    def sign_part(
        self, key: str, upload_id: str, number: int, *, file_id: int, user_id: int
    ) -> str:
        self._folder(upload_id)
        token = signing.dumps(
            {"f": file_id, "u": user_id, "i": upload_id, "n": number}, salt=PART_SIGNING_SALT
        )
        return reverse("records:part-put", args=[token])

    def write_part(
        self,
        upload_id: str,
        number: int,
        stream: Readable,
        *,
        length: int,
        max_bytes: int,
        file_size: int,
    ) -> Part:
        """Stream one part from the request body to disk, straight into its place in the file
        when that place is known; return its ETag.

        The browser cuts a file into parts of one length, the last one shorter: once part 1 is
        in, a part's place follows from its number, its length and the file's declared size,
        and it is written there, so completion has nothing to join. A part that comes before
        part 1, or does not fit that shape, waits in a file of its own until completion.

        The ETag only has to tell this receipt of the part from any other (the browser sends it
        back on completion; S3 clients never look inside), so it is not a digest of the bytes:
        the whole file is hashed once, by the worker that checks the upload.
        """
        folder = self._folder(upload_id)
        if not folder.is_dir():
            raise MultipartError("This upload was cancelled or has already finished.")
        if length > max_bytes:
            raise MultipartError("This part is larger than allowed.")
        self._reserve(folder, number, length, file_size)
        standard = length if number == 1 else self._part_length(folder)
        offset = UNPLACED
        if standard is not None:
            start = (number - 1) * standard
            if start + length <= file_size and (length == standard or start + length == file_size):
                offset = start
        if offset == UNPLACED:
            fd = os.open(folder / f"{number:05d}.bytes", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        else:
            fd = os.open(folder / DATA, os.O_WRONLY | os.O_CREAT, 0o666)
        try:
            size = _receive(stream, fd, max(offset, 0), length)
        finally:
            os.close(fd)
        if size != length:
            raise MultipartError("This part arrived incomplete. The upload will retry.")
        if offset != UNPLACED:
            # An earlier receipt of this part that waited on its own is replaced by this one.
            (folder / f"{number:05d}.bytes").unlink(missing_ok=True)
        part = Part(number=number, size=size, etag=f'"{size:x}-{uuid.uuid4().hex}"')
        # The marker is written last, whole: a part that is listed is a part that was received.
        marker = folder / f"{number:05d}.part"
        temporary = marker.with_suffix(".partial")
        temporary.write_text(f"{offset} {part.size} {part.etag}")
        temporary.rename(marker)
        return part

    @staticmethod
    @contextmanager
    def _locked(folder: Path) -> Iterator[None]:
        with (folder / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _reserve(self, folder: Path, number: int, length: int, file_size: int) -> None:
        """Claim room for a part, or refuse it: every part received or on its way counts, so the
        parts of one file never hold more than the size it was announced with (and the quota
        was checked against), however many arrive at once.

        A claim stays for the upload's life and never shrinks; a part sent again takes no
        more room than its largest receipt.
        """
        with self._locked(folder):
            standard = self._part_length(folder)
            if number > 1 and standard and (number - 1) * standard >= file_size:
                raise MultipartError(f"This file has no part {number}.")
            if length == 0 and (file_size > 0 or number > 1):
                raise MultipartError("This part is empty. The upload will retry.")
            claims = self._claims(folder)
            for held_number, (_, part) in self._received(folder).items():
                claims[held_number] = max(claims.get(held_number, 0), part.size)
            taken = sum(size for held, size in claims.items() if held != number)
            if taken + length > file_size:
                raise MultipartError("This part goes beyond the size announced for the file.")
            claim = folder / f"{number:05d}.claim"
            claim.write_text(str(max(claims.get(number, 0), length)))

    @staticmethod
    def _claims(folder: Path) -> dict[int, int]:
        return {int(path.stem): int(path.read_text() or 0) for path in folder.glob("*.claim")}

    @staticmethod
    def _marker(path: Path) -> tuple[int, Part]:
        offset, size, etag = path.read_text().split(" ", 2)
        return int(offset), Part(number=int(path.stem), size=int(size), etag=etag)

    def _part_length(self, folder: Path) -> int | None:
        """The length of the file's parts, once part 1 is in."""
        try:
            return self._marker(folder / "00001.part")[1].size
        except FileNotFoundError:
            return None

    def _received(self, folder: Path) -> dict[int, tuple[int, Part]]:
        """The parts received so far: number -> (place in the file or UNPLACED, part)."""
        return {int(path.stem): self._marker(path) for path in folder.glob("*.part")}

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        folder = self._folder(upload_id)
        if not folder.is_dir():
            raise MultipartError("This upload was cancelled or has already finished.")
        return [part for _, (_, part) in sorted(self._received(folder).items())]

    def complete(self, key: str, upload_id: str, parts: list[Part], *, size: int) -> Completed:
        folder = self._folder(upload_id)
        if not folder.is_dir():
            raise MultipartError("This upload was cancelled or has already finished.")
        stored = self._received(folder)
        unplaced, end = [], 0  # each part must start where the one before it ends
        for expected, part in enumerate(sorted(parts, key=lambda p: p.number), start=1):
            offset, held = stored.get(part.number, (UNPLACED, None))
            if part.number != expected or held is None or held.etag != part.etag:
                raise MultipartError("A part of this file is missing. Please upload it again.")
            if offset == UNPLACED:
                unplaced.append((end, folder / f"{part.number:05d}.bytes"))
            elif offset != end:
                raise MultipartError("The parts of this file do not fit. Please add it again.")
            end += held.size
        if end != size:
            raise SizeMismatch(end)
        data = folder / DATA
        fd = os.open(data, os.O_WRONLY | os.O_CREAT, 0o666)
        try:
            for offset, path in unplaced:  # a few parts at most: those that came before part 1
                with path.open("rb", buffering=0) as source:
                    while chunk := source.read(PART_READ_CHUNK):
                        offset += os.pwrite(fd, chunk, offset)
            os.ftruncate(fd, end)  # a longer part replaced by a shorter one leaves no tail
        finally:
            os.close(fd)
        completed = self._link_in_place(key, data) or self._save_copy(key, data)
        shutil.rmtree(folder, ignore_errors=True)
        return completed

    def _link_in_place(self, key: str, data: Path) -> Completed | None:
        """Give the received file its storage name without copying it; None when storage is
        not on this disk (nothing is stored then)."""
        try:
            target = Path(self.storage.path(key))
        except NotImplementedError:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.storage.file_permissions_mode is not None:
            os.chmod(data, self.storage.file_permissions_mode)  # as storage's own files
        try:
            os.link(data, target)  # fails rather than replaces: a repeat cannot overwrite
        except FileExistsError as exc:
            raise MultipartError("This file was already completed.") from exc
        except OSError:
            return None  # another disk: storage copies the file in
        # Not hashed here: that would read the whole file again while the browser waits. The
        # worker that checks the upload hashes it (as it does what came through S3).
        return Completed(size=target.stat().st_size, sha256="")

    def _save_copy(self, key: str, data: Path) -> Completed:
        copied = JoinedParts([data])
        with io.BufferedReader(copied, buffer_size=COPY_CHUNK) as stream:
            saved = self.storage.save(key, File(stream, name=key))
        if saved != key:
            raise MultipartError("This file was already completed.")
        taken = copied.digests
        return Completed(size=taken.size, sha256=taken.sha256, crc32=taken.crc32)

    def abort(self, key: str, upload_id: str) -> None:
        shutil.rmtree(self._folder(upload_id), ignore_errors=True)


def backend() -> Backend:
    """The backend that matches the configured default storage."""
    storage = default_storage
    if hasattr(storage, "bucket_name") and hasattr(storage, "connection"):
        return S3Backend(storage, getattr(settings, "AWS_S3_PUBLIC_ENDPOINT_URL", ""))
    return LocalBackend(storage, Path(settings.MULTIPART_DIR))


def read_part_token(token: str) -> dict:
    try:
        return signing.loads(token, salt=PART_SIGNING_SALT, max_age=PART_URL_MAX_AGE)
    except signing.BadSignature as exc:
        raise MultipartError("This upload link has expired. The upload will retry.") from exc
