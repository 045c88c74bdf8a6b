"""The S3 multipart upload protocol, on S3 itself or on our own disk.

The browser (Uppy) always speaks the same five steps: create, sign a part, list parts, complete,
abort. With S3 storage the parts go straight to the bucket on presigned URLs, so study bytes never
pass through the web process. On the embedded default the same steps hand out URLs of our own
(`records:part-put`) that stream each part to a folder under var/, and completion joins the parts
into the storage file while hashing it.
"""

import hashlib
import io
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import boto3
from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.urls import reverse

PART_URL_MAX_AGE = 6 * 3600
PART_SIGNING_SALT = "records.multipart.part"
COPY_CHUNK = 1024 * 1024


class MultipartError(Exception):
    """The upload cannot go on (unknown upload, missing part); the message is safe to show."""


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
    sha256: str  # empty when the bytes never passed through us (S3); the worker fills it in


class Backend(Protocol):
    def create(self, key: str) -> str: ...
    def sign_part(
        self, key: str, upload_id: str, number: int, *, file_id: int, user_id: int
    ) -> str: ...
    def list_parts(self, key: str, upload_id: str) -> list[Part]: ...
    def complete(self, key: str, upload_id: str, parts: list[Part]) -> Completed: ...
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

    def complete(self, key: str, upload_id: str, parts: list[Part]) -> Completed:
        name = self.storage._normalize_name(key)
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
        size = self.client.head_object(Bucket=self.bucket, Key=name)["ContentLength"]
        return Completed(size=size, sha256="")

    def abort(self, key: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(
            Bucket=self.bucket, Key=self.storage._normalize_name(key), UploadId=upload_id
        )


class JoinedParts(io.RawIOBase):
    """The parts of one upload read back to back as one stream, hashed on the way through."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = iter(paths)
        self._current: IO[bytes] | None = None
        self.sha256 = hashlib.sha256()
        self.size = 0

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
                self.sha256.update(memoryview(buffer)[:count])
                self.size += count
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

    def write_part(self, upload_id: str, number: int, stream: IO[bytes], max_bytes: int) -> Part:
        """Stream one part from the request body to disk; return its ETag (MD5, as S3 does)."""
        folder = self._folder(upload_id)
        if not folder.is_dir():
            raise MultipartError("This upload was cancelled or has already finished.")
        digest, size = hashlib.md5(usedforsecurity=False), 0
        temporary = folder / f"{number:05d}.partial"
        with temporary.open("wb") as out:
            while chunk := stream.read(COPY_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise MultipartError("This part is larger than allowed.")
                digest.update(chunk)
                out.write(chunk)
        etag = f'"{digest.hexdigest()}"'
        # Rename last: a part that is listed is a part that was fully received.
        temporary.rename(folder / f"{number:05d}.part")
        (folder / f"{number:05d}.etag").write_text(etag)
        return Part(number=number, size=size, etag=etag)

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        folder = self._folder(upload_id)
        if not folder.is_dir():
            raise MultipartError("This upload was cancelled or has already finished.")
        return [
            Part(
                number=int(path.stem),
                size=path.stat().st_size,
                etag=path.with_suffix(".etag").read_text(),
            )
            for path in sorted(folder.glob("*.part"))
        ]

    def complete(self, key: str, upload_id: str, parts: list[Part]) -> Completed:
        folder = self._folder(upload_id)
        stored = {p.number: p for p in self.list_parts(key, upload_id)}
        ordered = sorted(parts, key=lambda p: p.number)
        for part in ordered:
            if part.number not in stored or stored[part.number].etag != part.etag:
                raise MultipartError("A part of this file is missing. Please upload it again.")
        joined = JoinedParts(folder / f"{p.number:05d}.part" for p in ordered)
        with io.BufferedReader(joined, buffer_size=COPY_CHUNK) as stream:
            saved = self.storage.save(key, File(stream, name=key))
        if saved != key:
            raise MultipartError("This file was already completed.")
        shutil.rmtree(folder, ignore_errors=True)
        return Completed(size=joined.size, sha256=joined.sha256.hexdigest())

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
