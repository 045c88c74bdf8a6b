"""A part's body taken straight from gunicorn's socket: every byte once, in order, and nothing of
the request that follows it on the connection."""

import os
import socket
import threading

import pytest
from django.core.handlers.wsgi import WSGIRequest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from records.request_body import RequestBody

# More than one splice step, not a round number; and one short enough that gunicorn's first read
# takes all of it, with the start of the next request, along with the headers.
SIZES = [3 * 1024 * 1024 + 123, 1500]
BODY = os.urandom(max(SIZES))


@pytest.fixture(params=SIZES, ids=["3MiB", "1500B"])
def connection(request):
    """A loopback connection whose client has sent a PUT with a body and then another request;
    yields the server's socket, the client's address and the body."""
    body = BODY[: request.param]
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, peer = listener.accept()
    listener.close()
    # As a worker's socket may be: reads that find nothing wait (and end in an error, not a hang)
    server.settimeout(5)
    head = f"PUT /part HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    following = b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n"
    sender = threading.Thread(target=client.sendall, args=(head + body + following,))
    sender.start()
    yield server, peer, body
    sender.join()
    client.close()
    server.close()


def _request(server, peer, body):
    """The first request as gunicorn parses it and Django wraps it."""
    cfg = Config()
    parser = RequestParser(cfg, server, peer)
    req = next(parser)
    _, environ = wsgi.create(req, server, peer, ("127.0.0.1", 8000), cfg)
    return parser, WSGIRequest(environ)


def _next_path(parser) -> str:
    return next(parser).path


def test_the_body_goes_into_the_file_from_the_socket_and_the_next_request_is_intact(
    connection, tmp_path
):
    parser, request = _request(*connection)
    sent = connection[2]
    body = RequestBody(request, len(sent))
    assert body.direct  # the bytes come from the socket, not through gunicorn's reader
    fd = os.open(tmp_path / "data", os.O_RDWR | os.O_CREAT)
    try:
        assert body.write_to(fd, 100, len(sent)) == len(sent)
    finally:
        os.close(fd)
    assert (tmp_path / "data").read_bytes() == bytes(100) + sent
    assert _next_path(parser) == "/next"


def test_a_body_read_into_a_buffer_is_the_same_bytes(connection):
    parser, request = _request(*connection)
    sent = connection[2]
    body = RequestBody(request, len(sent))
    buffer = bytearray(1024 * 1024 - 7)
    received = bytearray()
    while n := body.readinto(buffer):
        received += buffer[:n]
    assert bytes(received) == sent
    assert _next_path(parser) == "/next"


def test_what_the_view_leaves_unread_is_discarded_by_gunicorn_as_before(connection, tmp_path):
    parser, request = _request(*connection)
    sent = connection[2]
    body = RequestBody(request, len(sent))
    fd = os.open(tmp_path / "data", os.O_RDWR | os.O_CREAT)
    try:
        assert body.write_to(fd, 0, 1000) == 1000  # the view refuses the part after 1000 bytes
    finally:
        os.close(fd)
    assert (tmp_path / "data").read_bytes() == sent[:1000]
    assert _next_path(parser) == "/next"
