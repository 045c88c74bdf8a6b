"""A request body read into the caller's buffer, straight from the socket under gunicorn.

A study part is 8 MiB. Read through ``request.read()``, each byte is copied several times on its
way from the socket to the part file (gunicorn's reader joins socket reads into a buffer, slices
it, hands the slice to its body buffer, which joins and slices again, then Django's stream).
Under gunicorn (the WSGI environment names the connection's socket), a body of known length is
taken straight from the socket once the bytes gunicorn read ahead with the headers are handed
out: ``write_to`` moves it into a file with ``splice`` (socket to pipe to file, inside the
kernel: the bytes never enter the process), ``readinto`` fills the caller's buffer with
``recv_into``. gunicorn's own count of what is left of the body is kept right, so whatever the
application does not read is still discarded as usual. Anywhere else (the test client, another
server, a chunked body) the body is read through the request as before.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import socket
from typing import Any

SPLICE_STEP = 1024 * 1024  # the most moved per splice; the pipe is made this large
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class RequestBody:
    """``readinto`` over the first `length` bytes of a request's body."""

    def __init__(self, request: Any, length: int) -> None:
        self.remaining = length
        self._request = request
        self._pending = b""  # bytes gunicorn had read ahead, handed out first
        self._socket: socket.socket | None = None
        self._reader: Any = None
        self.direct = self._take_socket(request, length)

    def _take_socket(self, request: Any, length: int) -> bool:
        environ = getattr(request, "META", {})
        sock = environ.get("gunicorn.socket")
        body = environ.get("wsgi.input")
        reader = getattr(body, "reader", None)
        unreader = getattr(reader, "unreader", None)
        if (
            not isinstance(sock, socket.socket)
            or getattr(request, "_read_started", True)  # Django has started on the body
            or type(reader).__name__ != "LengthReader"
            or not hasattr(unreader, "take_buffered")
            or not hasattr(body, "buf")
        ):
            return False
        held = body.buf.getvalue()  # read from the reader, not yet handed out
        body.buf.seek(0)
        body.buf.truncate()
        ahead = unreader.take_buffered()  # read from the socket with the headers
        take = min(reader.length, len(ahead))
        if take < len(ahead):
            unreader.unread(ahead[take:])  # belongs to whatever follows this body
        reader.length -= take
        self._pending = held + ahead[:take]
        self._socket, self._reader = sock, reader
        if len(self._pending) > length:  # the request said more than we will read
            unreader.unread(self._pending[length:])
            reader.length += len(self._pending) - length
            self._pending = self._pending[:length]
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Fill `buffer` as far as the body goes (fewer bytes only at its end); 0 at its end."""
        view = memoryview(buffer).cast("B")
        want = min(len(view), self.remaining)
        filled = 0
        if self._pending and want:
            n = min(want, len(self._pending))
            view[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled = n
        while filled < want:
            n = self._recv_into(view[filled:want])
            if not n:
                break
            filled += n
        self.remaining -= filled
        return filled

    def write_to(self, fd: int, offset: int, count: int) -> int:
        """Write up to `count` bytes of the body at `offset` of file `fd`; how many were written
        (fewer only when the body ends or the client goes away)."""
        done = 0
        if self._pending:
            n = min(count, len(self._pending), self.remaining)
            done = _pwrite_all(fd, memoryview(self._pending)[:n], offset)
            self._pending = self._pending[n:]
            self.remaining -= n
        if self._socket is None or not hasattr(os, "splice"):
            return done + self._copy_through_buffer(fd, offset + done, count - done)
        read_end, write_end = os.pipe()
        try:
            with contextlib.suppress(OSError):  # a smaller pipe only means more steps
                fcntl.fcntl(write_end, F_SETPIPE_SZ, SPLICE_STEP)
            while done < count and self.remaining:
                moved = self._splice_in(write_end, min(SPLICE_STEP, count - done, self.remaining))
                if not moved:
                    break
                self._reader.length -= moved
                self.remaining -= moved
                placed = 0
                while placed < moved:
                    at = offset + done + placed
                    placed += os.splice(read_end, fd, moved - placed, offset_dst=at)
                done += moved
        finally:
            os.close(read_end)
            os.close(write_end)
        return done

    def _splice_in(self, pipe: int, count: int) -> int:
        """Move up to `count` bytes from the socket into the pipe, waiting for them as the
        socket's own timeout says."""
        assert self._socket is not None
        while True:
            try:
                return os.splice(self._socket.fileno(), pipe, count)
            except BlockingIOError:
                timeout = self._socket.gettimeout()
                poller = select.poll()
                poller.register(self._socket.fileno(), select.POLLIN)
                if not poller.poll(None if timeout is None else timeout * 1000):
                    raise TimeoutError(errno.ETIMEDOUT, "timed out") from None

    def _copy_through_buffer(self, fd: int, offset: int, count: int) -> int:
        buffer = memoryview(bytearray(min(count, SPLICE_STEP)))
        done = 0
        while done < count and (n := self.readinto(buffer[: min(len(buffer), count - done)])):
            done += _pwrite_all(fd, buffer[:n], offset + done)
        return done

    def _recv_into(self, view: memoryview) -> int:
        if self._socket is None:
            data = self._request.read(len(view))
            view[: len(data)] = data
            return len(data)
        n = self._socket.recv_into(view, len(view))
        self._reader.length -= n
        return n


def _pwrite_all(fd: int, data: memoryview, offset: int) -> int:
    written = 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], offset + written)
    return written
