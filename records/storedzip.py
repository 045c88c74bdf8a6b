"""A stored (uncompressed) zip written as it is sent, its exact length known before the first byte.

Each entry's CRC-32 goes in the headers before its bytes when it is known already (kept on the
file's row since the upload was received): the bytes themselves then need no reading by us, and
on a plain connection under gunicorn they go from the stored file to the socket by the OS's
sendfile, between the headers written here. An entry whose CRC-32 is not known is read through
this process, which works it out on the way and writes it after the bytes, in a data descriptor
(the central directory has it too). Sizes are always known, so the length is exact either way.
Entries and offsets past 2 GiB and more than 65,535 entries take the zip64 records.

No Django here: the caller says where each entry's bytes come from.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import NamedTuple

CHUNK = 1024 * 1024
# As Python's zipfile: past these, an entry or the archive takes its zip64 fields.
ZIP64_LIMIT = zipfile.ZIP64_LIMIT
FILECOUNT_LIMIT = zipfile.ZIP_FILECOUNT_LIMIT

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")
_UTF8_NAME = 0x800
_DESCRIPTOR_FOLLOWS = 0x8
_UNIX = 3
_REGULAR_FILE = 0o100644 << 16


class SizeChanged(OSError):
    """A stored file no longer has the size its row says: the announced length would be wrong."""


class Entry(NamedTuple):
    """One file of the zip: its name, size and bytes, and what is known of them."""

    name: str
    size: int
    chunks: Callable[[], Iterable[bytes]]  # opened only when the zip reaches the entry
    crc32: int | None = None
    path: str | None = None  # where the bytes lie on this machine's disk, if they do

    @classmethod
    def of_bytes(cls, name: str, data: bytes) -> Entry:
        return cls(name, len(data), lambda: (data,), zlib.crc32(data))


def _dos_time(when: datetime) -> tuple[int, int]:
    year = min(max(when.year, 1980), 2107)
    date = (year - 1980) << 9 | when.month << 5 | when.day
    return when.hour << 11 | when.minute << 5 | when.second // 2, date


class StoredZip:
    """The entries, in order, as one stored zip; `len()` is its length in bytes."""

    def __init__(self, entries: Iterable[Entry], *, modified: datetime) -> None:
        self.entries = list(entries)
        self._time, self._date = _dos_time(modified)
        self._offsets: list[int] = []
        self._locals = [self._local(entry) for entry in self.entries]
        offset = 0
        for entry, local in zip(self.entries, self._locals, strict=True):
            self._offsets.append(offset)
            offset += len(local) + entry.size + len(self._descriptor(entry, 0))
        self._central_at = offset
        # Final for every entry whose CRC-32 is known; the others' are written again once it is.
        self._centrals = [
            self._central(e, e.crc32 or 0, at)
            for e, at in zip(self.entries, self._offsets, strict=True)
        ]
        central = sum(map(len, self._centrals))
        self._length = offset + central + len(self._end(offset, central))

    def __len__(self) -> int:
        return self._length

    def chunks(self, sock: socket.socket | None = None) -> Iterator[bytes]:
        """The zip's bytes in pieces of at least CHUNK (but the last): one socket write each.

        Given the client's socket, only the first piece is yielded: once the server has sent it
        (after the response's headers), the rest is written to the socket here, each entry whose
        bytes lie on disk and whose CRC-32 is known by sendfile, the headers before it with
        MSG_MORE so that the kernel sends them in the same packets as the file's first bytes.
        """
        parts = self._parts(direct=sock is not None)
        if sock is None:
            yield from parts  # bytes only: nothing goes direct
            return
        first = next(parts)
        assert isinstance(first, bytes)  # an entry's header comes before its bytes
        yield first
        held = b""
        for part in parts:
            if isinstance(part, Entry):
                if held:
                    sock.sendall(held, socket.MSG_MORE)
                    held = b""
                _sendfile(sock, part)
            else:
                if held:
                    sock.sendall(held)
                held = part
        if held:
            sock.sendall(held)

    def _parts(self, *, direct: bool) -> Iterator[bytes | Entry]:
        """Pieces of bytes of at least CHUNK, and (when `direct`) the entries whose bytes are to
        be sent from their files, each right after the bytes before it."""
        pending: list[bytes] = []
        held = 0
        central: list[bytes] = []
        for n, entry in enumerate(self.entries):
            pending.append(self._locals[n])
            held += len(pending[-1])
            if direct and entry.path and entry.crc32 is not None and entry.size:
                yield b"".join(pending)
                pending, held = [], 0
                yield entry
                central.append(self._centrals[n])
                continue
            crc, read = 0, 0
            for chunk in entry.chunks():
                if entry.crc32 is None:
                    crc = zlib.crc32(chunk, crc)
                read += len(chunk)
                pending.append(chunk)
                held += len(chunk)
                if held >= CHUNK:
                    yield pending[0] if len(pending) == 1 else b"".join(pending)
                    pending, held = [], 0
            if read != entry.size:
                raise SizeChanged(f"{read} bytes read of an entry of {entry.size}")
            if entry.crc32 is None:
                pending.append(self._descriptor(entry, crc))
                held += len(pending[-1])
                central.append(self._central(entry, crc, self._offsets[n]))
            else:
                central.append(self._centrals[n])
        pending += central
        pending.append(self._end(self._central_at, sum(map(len, central))))
        yield b"".join(pending)

    # --- The records, as PKWARE's APPNOTE lays them out --------------------------------------

    @staticmethod
    def _name(entry: Entry) -> tuple[bytes, int]:
        try:
            return entry.name.encode("ascii"), 0
        except UnicodeEncodeError:
            return entry.name.encode("utf-8"), _UTF8_NAME

    @staticmethod
    def _is_zip64(entry: Entry) -> bool:
        return entry.size > ZIP64_LIMIT

    def _local(self, entry: Entry) -> bytes:
        name, flags = self._name(entry)
        size, extra, version = entry.size, b"", 20
        if self._is_zip64(entry):
            size, version = 0xFFFFFFFF, 45
            extra = struct.pack("<HHQQ", 1, 16, entry.size, entry.size)
        if entry.crc32 is None:
            flags |= _DESCRIPTOR_FOLLOWS
        crc = entry.crc32 or 0
        header = _LOCAL.pack(
            b"PK\x03\x04", version, 0, flags, zipfile.ZIP_STORED, self._time, self._date,
            crc, size, size, len(name), len(extra),
        )  # fmt: skip
        return header + name + extra

    def _descriptor(self, entry: Entry, crc: int) -> bytes:
        if entry.crc32 is not None:
            return b""
        sizes = "QQ" if self._is_zip64(entry) else "LL"
        return struct.pack(f"<4sL{sizes}", b"PK\x07\x08", crc, entry.size, entry.size)

    def _central(self, entry: Entry, crc: int, offset: int) -> bytes:
        name, flags = self._name(entry)
        if entry.crc32 is None:
            flags |= _DESCRIPTOR_FOLLOWS
        size, big = entry.size, []
        if self._is_zip64(entry):
            size = 0xFFFFFFFF
            big += [entry.size, entry.size]
        if offset > ZIP64_LIMIT:
            big.append(offset)
            offset = 0xFFFFFFFF
        extra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big) if big else b""
        version = 45 if big else 20
        header = _CENTRAL.pack(
            b"PK\x01\x02", version, _UNIX, version, 0, flags, zipfile.ZIP_STORED, self._time,
            self._date, crc, size, size, len(name), len(extra), 0, 0, 0, _REGULAR_FILE, offset,
        )  # fmt: skip
        return header + name + extra

    def _end(self, start: int, size: int) -> bytes:
        """The end of central directory record, after the zip64 ones when it needs them."""
        count = len(self.entries)
        end = b""
        if count >= FILECOUNT_LIMIT or start > ZIP64_LIMIT or size > ZIP64_LIMIT:
            end64_at = start + size
            end = _END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start)
            end += _LOCATOR64.pack(b"PK\x06\x07", 0, end64_at, 1)
            count, start, size = min(count, 0xFFFF), min(start, 0xFFFFFFFF), min(size, 0xFFFFFFFF)
        return end + _END.pack(b"PK\x05\x06", 0, 0, count, count, size, start, 0)


def _sendfile(sock: socket.socket, entry: Entry) -> None:
    """Write the entry's file to the socket by sendfile, waiting as the socket's timeout says
    when its buffer is full (a socket with a timeout is non-blocking underneath)."""
    assert entry.path is not None
    fd = os.open(entry.path, os.O_RDONLY)
    try:
        sent = 0
        while sent < entry.size:
            try:
                n = os.sendfile(sock.fileno(), fd, sent, entry.size - sent)
            except BlockingIOError:
                _wait_writable(sock)
                continue
            if not n:
                raise SizeChanged(f"{sent} bytes sent of an entry of {entry.size}")
            sent += n
    finally:
        os.close(fd)


def _wait_writable(sock: socket.socket) -> None:
    timeout = sock.gettimeout()
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLOUT)
    if not poller.poll(None if timeout is None else timeout * 1000):
        raise TimeoutError(errno.ETIMEDOUT, "timed out")
