"""The stored zip writer: exact length, entries byte for byte whether their CRC-32 is known or
worked out on the way, zip64 past its limits, and bodies sent by sendfile between the headers."""

import io
import os
import socket
import ssl
import struct
import subprocess
import threading
import zipfile
import zlib
from datetime import datetime

import pytest

from records import storedzip, studyzip
from records.storedzip import Entry, SizeChanged, StoredZip

WHEN = datetime(2031, 7, 8, 9, 10, 12)


def _files(folder, sizes) -> list[tuple[str, bytes]]:
    written = []
    for n, size in enumerate(sizes):
        data = os.urandom(size)
        (folder / f"f{n}").write_bytes(data)
        written.append((str(folder / f"f{n}"), data))
    return written


def _entries(files, *, known=lambda n: True) -> list[Entry]:
    def reader(path):
        def chunks():
            with open(path, "rb") as handle:
                while chunk := handle.read(100_000):
                    yield chunk

        return chunks

    return [
        Entry(
            f"CD/DICOM/IM{n}" if n % 2 else f"CD/Ünïcode {n}",
            len(data),
            reader(path),
            crc32=zlib.crc32(data) if known(n) else None,
            path=path,
        )
        for n, (path, data) in enumerate(files)
    ]


def _check(body: bytes, files, tmp_path) -> None:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [archive.read(info) for info in infos] == [data for _, data in files]
        assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED}
        assert infos[0].date_time == (2031, 7, 8, 9, 10, 12)
    (tmp_path / "out.zip").write_bytes(body)
    tested = subprocess.run(["unzip", "-t", tmp_path / "out.zip"], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("known", [lambda n: True, lambda n: False, lambda n: n % 2 == 0])
def test_entries_come_back_byte_for_byte_in_a_zip_of_the_length_announced(tmp_path, known):
    files = _files(tmp_path, [0, 1, 70_000, 1_500_000, 3])
    zipped = StoredZip(_entries(files, known=known), modified=WHEN)
    body = b"".join(zipped.chunks())
    assert len(body) == len(zipped)
    _check(body, files, tmp_path)


def test_past_the_zip64_limits_entries_offsets_and_counts_take_zip64_records(tmp_path, monkeypatch):
    # The limits are 2 GiB and 65,535 entries; lowered here, the same records are written.
    monkeypatch.setattr(storedzip, "ZIP64_LIMIT", 50_000)
    monkeypatch.setattr(storedzip, "FILECOUNT_LIMIT", 4)
    files = _files(tmp_path, [10, 60_000, 20, 80_000, 5])
    zipped = StoredZip(_entries(files, known=lambda n: n != 3), modified=WHEN)
    body = b"".join(zipped.chunks())
    assert len(body) == len(zipped)
    assert b"PK\x06\x06" in body[-200:] and b"PK\x06\x07" in body[-200:]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        infos = archive.infolist()
    assert infos[-1].header_offset > 50_000
    for info in infos:
        big = info.file_size > 50_000
        assert info.extra.startswith(b"\x01\x00") == (big or info.header_offset > 50_000)
        # the local header's sizes, in its zip64 field past the limit
        local_sizes = struct.unpack_from("<2L", body, info.header_offset + 18)
        assert (local_sizes == (0xFFFFFFFF, 0xFFFFFFFF)) == big
    _check(body, files, tmp_path)


def _serve(zipped: StoredZip, sock: socket.socket) -> int:
    """What a server does with the response: write each piece, then ask for the next."""
    written = 0
    for piece in zipped.chunks(sock):
        sock.sendall(piece)
        written += len(piece)
    return written


def test_given_the_socket_only_the_first_header_goes_through_the_server(tmp_path):
    files = _files(tmp_path, [700_000, 0, 2_500_000, 10])
    # One file whose CRC-32 is not known yet is read through this process.
    zipped = StoredZip(_entries(files, known=lambda n: n != 3), modified=WHEN)
    server, client = socket.socketpair()
    server.settimeout(5)  # as a worker's may be: non-blocking underneath, full buffers waited on
    received = bytearray()

    def read() -> None:
        while chunk := client.recv(1 << 20):
            received.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        through_us = _serve(zipped, server)
    finally:
        server.shutdown(socket.SHUT_WR)
        reader.join()
        server.close()
        client.close()
    assert bytes(received) == b"".join(zipped.chunks()) and len(received) == len(zipped)
    # Only the first header goes through the server (after its own headers); the rest is
    # written to the socket directly, the files on disk by sendfile.
    assert through_us == 30 + len("CD/Ünïcode 0".encode())
    _check(bytes(received), files, tmp_path)


@pytest.mark.parametrize("by_socket", [False, True])
def test_a_stored_file_that_changed_size_fails_the_download_rather_than_lie(tmp_path, by_socket):
    files = _files(tmp_path, [5_000, 5_000])
    zipped = StoredZip(_entries(files), modified=WHEN)
    with open(files[1][0], "ab") as grown:
        grown.truncate(4_000)
    server, client = socket.socketpair()
    drain = threading.Thread(target=lambda: [None for _ in iter(lambda: client.recv(65536), b"")])
    drain.start()
    try:
        with pytest.raises(SizeChanged):
            _serve(zipped, server) if by_socket else b"".join(zipped.chunks())
    finally:
        server.close()
        drain.join()
        client.close()


@pytest.mark.parametrize(
    ("method", "tls", "direct"),
    [("GET", False, True), ("HEAD", False, False), ("GET", True, False)],
)
def test_only_a_get_on_a_plain_gunicorn_connection_is_written_to_directly(
    rf, tmp_path, method, tls, direct
):
    files = _files(tmp_path, [4_000, 6_000])
    zipped = StoredZip(_entries(files), modified=WHEN)
    server, client = socket.socketpair()
    connection = server
    if tls:  # gunicorn's own TLS: the bytes must go through its SSL socket, never around it
        connection = ssl.create_default_context().wrap_socket(
            socket.socket(), server_hostname="localhost", do_handshake_on_connect=False
        )
    request = rf.generic(method, "/study.zip")
    request.META["gunicorn.socket"] = connection
    try:
        pieces = list(studyzip.in_chunks(zipped, request))
        server.shutdown(socket.SHUT_WR)
        on_the_socket = b"".join(iter(lambda: client.recv(1 << 20), b""))
    finally:
        for end in {server, client, connection}:
            end.close()
    assert (len(pieces) == 1 and len(on_the_socket) > 10_000) == direct
    assert b"".join(pieces) + on_the_socket == b"".join(zipped.chunks())
